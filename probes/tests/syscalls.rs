//! Syscall events against the real kernel. A child in a fresh cgroup issues
//! each decoded syscall between fork and exec (every buffer it needs is made
//! before the fork), and each must come back with its arguments and return
//! value. Sockets stay on loopback. Needs root; see `scrim_testkit::gate`.
use std::{ffi::CString, os::unix::process::CommandExt as _, time::Duration};

use scrim_event::{Event, SocketAddress, SyscallEvent, syscall_number};
use scrim_probes::{
    CaptureFields, CaptureKinds, KernelCounter, ProbeOptions, Probes, SyscallSet, TenantFilter,
    TenantSlot,
};
use scrim_testkit::{cgroup::TestCgroup, gate};

mod common;

const DECODED: &[&str] = &[
    "openat",
    "openat2",
    "execve",
    "execveat",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "unlinkat",
    "renameat2",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "ptrace",
    "mount",
    "init_module",
    "finit_module",
    "bpf",
];

const ENOENT: i64 = -(libc::ENOENT as i64);
const PTRACE_SEIZE: i64 = 0x4206;
const NO_SUCH_PID: i64 = 0x7fff_fff0;
const INVALID_BPF_COMMAND: i64 = 999;
const BACKLOG: i64 = 7;

fn syscalls(names: &[&str]) -> SyscallSet {
    SyscallSet::from_numbers(
        names
            .iter()
            .map(|name| syscall_number(name).unwrap_or_else(|| panic!("unknown {name}"))),
    )
    .expect("syscall set")
}

fn slot(index: u32) -> TenantSlot {
    TenantSlot::new(index).expect("valid slot")
}

fn filter(names: &[&str], fields: CaptureFields) -> TenantFilter {
    TenantFilter {
        kinds: CaptureKinds::SYSCALL,
        fields,
        syscalls: syscalls(names),
        rate_limit: None,
    }
}

const ALL_FIELDS: CaptureFields = CaptureFields::COMM
    .union(CaptureFields::SYSCALL_ARGS)
    .union(CaptureFields::SYSCALL_STRINGS)
    .union(CaptureFields::SOCKET_ADDRESSES);

fn load(test: &str) -> Option<Probes> {
    if !gate::root_or_skip(test) {
        return None;
    }
    gate::or_skip(test, Probes::load(&ProbeOptions::default()))
}

/// Paths and strings the child passes to syscalls; none of the paths exist.
struct Workload {
    missing: CString,
    dev_null: CString,
    rename_to: CString,
    tmpfs: CString,
    none: CString,
    init_params: CString,
    finit_params: CString,
}

impl Workload {
    fn new() -> Self {
        let c = |text: &str| CString::new(text).expect("no NUL");
        Workload {
            missing: c(&format!("/nonexistent-scrim-{}/file", std::process::id())),
            dev_null: c("/dev/null"),
            rename_to: c("/nonexistent-scrim/renamed"),
            tmpfs: c("tmpfs"),
            none: c("none"),
            init_params: c("scrim_test=1"),
            finit_params: c("scrim_test=2"),
        }
    }

    /// Runs in the child between fork and exec: raw syscalls only, no
    /// allocation.
    fn issue(&self) {
        use libc::{AT_FDCWD, O_CLOEXEC, O_RDONLY, O_WRONLY, SYS_openat, c_long, syscall};
        let null = std::ptr::null::<u8>();
        // SAFETY: every pointer is to a live CString or local, or null where
        // the kernel accepts null; failures are what some calls are for.
        unsafe {
            syscall(SYS_openat, AT_FDCWD, self.missing.as_ptr(), O_RDONLY);
            let fd = syscall(
                SYS_openat,
                AT_FDCWD,
                self.dev_null.as_ptr(),
                O_WRONLY | O_CLOEXEC,
                0o600,
            );
            libc::close(fd as i32);
            let how: [u64; 3] = [(O_RDONLY | O_CLOEXEC) as u64, 0, 0];
            let fd = syscall(
                libc::SYS_openat2,
                AT_FDCWD,
                self.dev_null.as_ptr(),
                &how,
                24,
            );
            libc::close(fd as i32);
            syscall(libc::SYS_unlinkat, AT_FDCWD, self.missing.as_ptr(), 0);
            syscall(
                libc::SYS_renameat2,
                AT_FDCWD,
                self.missing.as_ptr(),
                AT_FDCWD,
                self.rename_to.as_ptr(),
                0,
            );
            syscall(libc::SYS_setuid, 0);
            syscall(libc::SYS_setgid, 0);
            syscall(libc::SYS_setreuid, -1, -1);
            syscall(libc::SYS_setregid, -1, -1);
            syscall(libc::SYS_setresuid, -1, -1, -1);
            syscall(libc::SYS_setresgid, -1, -1, -1);
            syscall(libc::SYS_setfsuid, 0);
            syscall(libc::SYS_setfsgid, 0);
            syscall(
                libc::SYS_ptrace,
                PTRACE_SEIZE as c_long,
                NO_SUCH_PID as c_long,
                0,
                0,
            );
            syscall(
                libc::SYS_mount,
                self.none.as_ptr(),
                self.missing.as_ptr(),
                self.tmpfs.as_ptr(),
                libc::MS_NOSUID,
                null,
            );
            syscall(libc::SYS_init_module, null, 0, self.init_params.as_ptr());
            syscall(libc::SYS_finit_module, -1, self.finit_params.as_ptr(), 0);
            syscall(libc::SYS_bpf, INVALID_BPF_COMMAND as c_long, null, 0);
            syscall(
                libc::SYS_execveat,
                AT_FDCWD,
                self.missing.as_ptr(),
                null,
                null,
                0,
            );
            self.loopback_connections();
            // Not in the tenant's set: must not be delivered.
            syscall(libc::SYS_getpid);
        }
    }

    /// bind, listen, two connects, accept4 and accept, all on 127.0.0.1.
    unsafe fn loopback_connections(&self) {
        use libc::{AF_INET, SOCK_CLOEXEC, SOCK_STREAM, sockaddr, sockaddr_in, socklen_t, syscall};
        let size = size_of::<sockaddr_in>() as socklen_t;
        let mut address = sockaddr_in {
            sin_family: AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let as_sockaddr = |address: *mut sockaddr_in| address.cast::<sockaddr>();
        // SAFETY: all pointers are to locals that outlive the calls.
        unsafe {
            let listener = libc::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            syscall(libc::SYS_bind, listener, as_sockaddr(&mut address), size);
            syscall(libc::SYS_listen, listener, BACKLOG);
            let mut bound_len = size;
            libc::getsockname(listener, as_sockaddr(&mut address), &mut bound_len);
            for accept4 in [true, false] {
                let client = libc::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                syscall(libc::SYS_connect, client, as_sockaddr(&mut address), size);
                let mut peer = address;
                let mut peer_len = size;
                let accepted = if accept4 {
                    syscall(
                        libc::SYS_accept4,
                        listener,
                        as_sockaddr(&mut peer),
                        &mut peer_len,
                        SOCK_CLOEXEC,
                    )
                } else {
                    syscall(
                        libc::SYS_accept,
                        listener,
                        as_sockaddr(&mut peer),
                        &mut peer_len,
                    )
                };
                libc::close(accepted as i32);
                libc::close(client);
            }
            libc::close(listener);
        }
    }
}

/// Runs the workload in `tenant`, then execs /bin/true; returns its pid.
fn run_workload(tenant: &TestCgroup) -> u32 {
    let workload = Workload::new();
    let mut command = tenant.command("/bin/true").expect("open cgroup.procs");
    // SAFETY: `issue` makes raw syscalls only; it neither allocates nor locks.
    unsafe {
        command.pre_exec(move || {
            workload.issue();
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn the workload");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());
    pid
}

/// The syscall events of `pid` delivered within `wait`.
async fn syscalls_of(probes: &mut Probes, pid: u32, wait: Duration) -> Vec<SyscallEvent> {
    common::read_for(probes, wait)
        .await
        .into_iter()
        .filter_map(|captured| match captured.event {
            Event::Syscall(event) if event.process.pid == pid => Some(event),
            _ => None,
        })
        .collect()
}

fn named<'a>(events: &'a [SyscallEvent], name: &str) -> Vec<&'a SyscallEvent> {
    let number = syscall_number(name).expect("known syscall");
    events
        .iter()
        .filter(|event| event.number == number)
        .collect()
}

fn only<'a>(events: &'a [SyscallEvent], name: &str) -> &'a SyscallEvent {
    let matching = named(events, name);
    assert_eq!(matching.len(), 1, "expected one {name} in {events:#?}");
    matching[0]
}

fn loopback(port: u16) -> SocketAddress {
    SocketAddress {
        address: [127, 0, 0, 1].into(),
        port,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn decodes_each_security_relevant_syscall() {
    let test = "decodes_each_security_relevant_syscall";
    let Some(mut probes) = load(test) else {
        return;
    };
    let tenant = TestCgroup::create("syscalls").expect("create a cgroup");
    probes
        .set_tenant_filter(slot(1), &filter(DECODED, ALL_FIELDS))
        .expect("tenant filter");
    probes.assign_cgroup(tenant.id(), slot(1)).expect("assign");
    let workload = Workload::new();
    let missing = workload.missing.to_str().expect("UTF-8").to_owned();
    let pid = run_workload(&tenant);
    let mut events = syscalls_of(&mut probes, pid, Duration::from_secs(1)).await;
    // What /bin/true does after the exec is not the workload's.
    let exec_time = only(&events, "execve").time;
    events.retain(|event| event.time <= exec_time);

    for event in &events {
        assert_eq!(event.process.cgroup_id, tenant.id());
        assert_eq!(event.process.pid, pid);
        assert!(event.duration_ns > 0, "{event:#?}");
    }
    // openat: a missing file, then /dev/null.
    let opens = named(&events, "openat");
    assert_eq!(opens.len(), 2, "{opens:#?}");
    assert_eq!(opens[0].path.as_deref(), Some(missing.as_str()));
    assert_eq!(opens[0].return_value, ENOENT);
    assert_eq!(opens[0].fd, Some(i64::from(libc::AT_FDCWD)));
    assert_eq!(opens[0].flags, Some(libc::O_RDONLY as u64));
    assert_eq!(opens[1].path.as_deref(), Some("/dev/null"));
    assert!(opens[1].return_value >= 0);
    assert_eq!(
        opens[1].flags,
        Some((libc::O_WRONLY | libc::O_CLOEXEC) as u64)
    );
    assert_eq!(opens[1].mode, Some(0o600));
    let openat2 = only(&events, "openat2");
    assert_eq!(openat2.path.as_deref(), Some("/dev/null"));
    assert!(openat2.return_value >= 0);
    assert_eq!(
        openat2.flags,
        Some((libc::O_RDONLY | libc::O_CLOEXEC) as u64)
    );

    let unlink = only(&events, "unlinkat");
    assert_eq!(
        (unlink.path.as_deref(), unlink.return_value),
        (Some(missing.as_str()), ENOENT)
    );
    let rename = only(&events, "renameat2");
    assert_eq!(rename.path.as_deref(), Some(missing.as_str()));
    assert_eq!(
        rename.second_path.as_deref(),
        Some("/nonexistent-scrim/renamed")
    );
    assert_eq!(rename.return_value, ENOENT);

    for (name, ids) in [
        ("setuid", vec![0]),
        ("setgid", vec![0]),
        ("setreuid", vec![-1, -1]),
        ("setregid", vec![-1, -1]),
        ("setresuid", vec![-1, -1, -1]),
        ("setresgid", vec![-1, -1, -1]),
        ("setfsuid", vec![0]),
        ("setfsgid", vec![0]),
    ] {
        let event = only(&events, name);
        assert_eq!(event.ids.as_deref(), Some(&ids[..]), "{name}");
        assert_eq!(event.return_value, 0, "{name}");
    }
    let ptrace = only(&events, "ptrace");
    assert_eq!(ptrace.request, Some(PTRACE_SEIZE));
    assert_eq!(ptrace.target, Some(NO_SUCH_PID));
    assert_eq!(ptrace.return_value, -i64::from(libc::ESRCH));
    let mount = only(&events, "mount");
    assert_eq!(mount.path.as_deref(), Some("none"));
    assert_eq!(mount.second_path.as_deref(), Some(missing.as_str()));
    assert_eq!(mount.text.as_deref(), Some("tmpfs"));
    assert_eq!(mount.flags, Some(libc::MS_NOSUID));
    assert_eq!(mount.return_value, ENOENT);
    let init = only(&events, "init_module");
    assert_eq!(init.text.as_deref(), Some("scrim_test=1"));
    assert!(init.return_value < 0);
    let finit = only(&events, "finit_module");
    assert_eq!(finit.text.as_deref(), Some("scrim_test=2"));
    assert_eq!(finit.fd, Some(-1));
    // EBADF, or ENOSYS on kernels built without module support.
    assert!(finit.return_value < 0);
    let bpf = only(&events, "bpf");
    assert_eq!(bpf.request, Some(INVALID_BPF_COMMAND));
    assert_eq!(bpf.return_value, -i64::from(libc::EINVAL));
    let execveat = only(&events, "execveat");
    assert_eq!(execveat.path.as_deref(), Some(missing.as_str()));
    assert_eq!(execveat.return_value, ENOENT);
    // A successful exec replaced the memory its path was in: the path is in
    // the process.exec event of the same pid, not here.
    let execve = only(&events, "execve");
    assert_eq!(execve.path, None);
    assert_eq!(execve.return_value, 0);

    let bind = only(&events, "bind");
    assert_eq!(bind.local, Some(loopback(0)));
    assert_eq!(bind.return_value, 0);
    let listen = only(&events, "listen");
    assert_eq!(listen.fd, bind.fd);
    assert_eq!(listen.target, Some(BACKLOG));
    let connects = named(&events, "connect");
    assert_eq!(connects.len(), 2, "{connects:#?}");
    let server = connects[0].peer.expect("connect's destination");
    assert_eq!(server.address, loopback(0).address);
    assert_ne!(server.port, 0);
    assert!(
        connects
            .iter()
            .all(|event| event.peer == Some(server) && event.return_value == 0)
    );
    for (name, flags) in [
        ("accept4", Some(libc::SOCK_CLOEXEC as u64)),
        ("accept", None),
    ] {
        let accept = only(&events, name);
        assert!(accept.return_value >= 0, "{name}");
        assert_eq!(accept.fd, bind.fd, "{name}");
        assert_eq!(accept.flags, flags, "{name}");
        let peer = accept.peer.expect("accept's peer");
        assert_eq!(peer.address, server.address, "{name}");
        assert!(
            peer.port != 0 && peer.port != server.port,
            "{name}: {peer:?}"
        );
    }
    assert!(
        named(&events, "getpid").is_empty(),
        "getpid is not in the set"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn filters_syscalls_per_tenant_and_masks_their_fields() {
    let test = "filters_syscalls_per_tenant_and_masks_their_fields";
    let Some(mut probes) = load(test) else {
        return;
    };
    // Tenant 1 wants openat without any field; tenant 2 wants only connect.
    let masked = TestCgroup::create("masked-syscalls").expect("create a cgroup");
    let connect_only = TestCgroup::create("connect-only").expect("create a cgroup");
    probes
        .set_tenant_filter(slot(1), &filter(&["openat"], CaptureFields::NONE))
        .expect("tenant filter");
    probes
        .set_tenant_filter(slot(2), &filter(&["connect"], ALL_FIELDS))
        .expect("tenant filter");
    probes.assign_cgroup(masked.id(), slot(1)).expect("assign");
    probes
        .assign_cgroup(connect_only.id(), slot(2))
        .expect("assign");

    let masked_pid = run_workload(&masked);
    let masked_events = syscalls_of(&mut probes, masked_pid, Duration::from_millis(500)).await;
    let opens = named(&masked_events, "openat");
    assert_eq!(
        opens.len(),
        masked_events.len(),
        "only openat: {masked_events:#?}"
    );
    // The workload's two opens come first; /bin/true's loader's follow.
    assert!(opens.len() >= 2, "{masked_events:#?}");
    assert_eq!(opens[0].return_value, ENOENT);
    assert!(opens[1].return_value >= 0);
    for open in opens {
        assert_eq!(open.path, None, "paths were masked");
        assert_eq!(open.fd, None, "integer arguments were masked");
        assert_eq!(open.process.executable_name, None, "comm was masked");
    }

    let before = probes
        .kernel_counters()
        .expect("counters")
        .get(KernelCounter::FilteredSyscall);
    let pid = run_workload(&connect_only);
    let events = syscalls_of(&mut probes, pid, Duration::from_millis(500)).await;
    assert!(
        events
            .iter()
            .all(|event| event.number == syscall_number("connect").unwrap_or(0))
    );
    assert_eq!(events.len(), 2, "two connects: {events:#?}");
    let after = probes
        .kernel_counters()
        .expect("counters")
        .get(KernelCounter::FilteredSyscall);
    // Its two openat calls were wanted by tenant 1, so they reached the
    // tenant check and were dropped there, counted.
    assert!(after >= before + 2, "{before} -> {after}");
}

#[tokio::test(flavor = "current_thread")]
async fn names_the_process_not_the_thread_in_every_thread() {
    let test = "names_the_process_not_the_thread_in_every_thread";
    if !gate::root_or_skip(test) {
        return;
    }
    let options = ProbeOptions {
        excluded_tgid: None,
        default_tenant: filter(&["openat"], ALL_FIELDS),
        ..ProbeOptions::default()
    };
    let Some(mut probes) = gate::or_skip(test, Probes::load(&options)) else {
        return;
    };
    let marker = |who: &str| format!("/nonexistent-scrim-{}-{who}", std::process::id());
    let (main_path, thread_path) = (marker("main"), marker("thread"));
    assert!(std::fs::File::open(&main_path).is_err());
    let opened_elsewhere = thread_path.clone();
    std::thread::spawn(move || assert!(std::fs::File::open(opened_elsewhere).is_err()))
        .join()
        .expect("thread");

    let me = std::process::id();
    let events = syscalls_of(&mut probes, me, Duration::from_millis(300)).await;
    let by_path = |path: &str| {
        events
            .iter()
            .find(|event| event.path.as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no openat of {path} in {events:#?}"))
    };
    let (main, thread) = (by_path(&main_path), by_path(&thread_path));
    assert_eq!((main.process.pid, thread.process.pid), (me, me));
    assert_ne!(main.thread_id, thread.thread_id);
    assert_eq!(main.process.creation_time, thread.process.creation_time);
}
