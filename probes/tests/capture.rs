//! The probes against the real kernel: a child runs in a fresh cgroup and its
//! fork, exec and exit must come back with the right ids, path, arguments and
//! exit code. Needs root; see `scrim_testkit::gate`.
use std::time::{Duration, Instant};

use scrim_event::{Event, ProcessEvent, ProcessEventKind};
use scrim_probes::{ProbeOptions, Probes};
use scrim_testkit::{cgroup, cgroup::TestCgroup, gate};

/// Reads events until the exit of `pid` arrives (or 10 s pass) and returns
/// that process's events.
async fn events_of(probes: &mut Probes, pid: u32) -> Vec<ProcessEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut mine = Vec::new();
    let mut batch = Vec::new();
    while Instant::now() < deadline {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Ok(result) = tokio::time::timeout(remaining, probes.read(&mut batch)).await {
            result.expect("ring buffer read");
        }
        for event in batch.drain(..) {
            let Event::Process(process) = event;
            if process.pid == pid {
                let is_exit = process.kind == ProcessEventKind::Exit;
                mine.push(process);
                if is_exit {
                    return mine;
                }
            }
        }
    }
    mine
}

fn one(events: &[ProcessEvent], kind: ProcessEventKind) -> &ProcessEvent {
    let matching: Vec<_> = events.iter().filter(|event| event.kind == kind).collect();
    assert_eq!(matching.len(), 1, "expected one {kind:?} in {events:#?}");
    matching[0]
}

fn load(test: &str, options: ProbeOptions) -> Option<Probes> {
    if !gate::root_or_skip(test) {
        return None;
    }
    gate::or_skip(test, Probes::load(&options))
}

#[tokio::test(flavor = "current_thread")]
async fn reports_fork_exec_and_exit_of_a_child_in_a_fresh_cgroup() {
    let test = "reports_fork_exec_and_exit_of_a_child_in_a_fresh_cgroup";
    let options = ProbeOptions {
        capture_command_args: true,
        excluded_tgid: None,
        ..ProbeOptions::default()
    };
    let Some(mut probes) = load(test, options) else {
        return;
    };
    let tenant = TestCgroup::create("capture").expect("create a cgroup");
    let marker = format!("scrim-marker-{}", std::process::id());
    let (pid, code) = tenant
        .run(&["/bin/sh", "-c", "exit 7", "sh", &marker])
        .expect("run /bin/sh");
    assert_eq!(code, Some(7));

    let events = events_of(&mut probes, pid).await;
    let fork = one(&events, ProcessEventKind::Fork);
    let exec = one(&events, ProcessEventKind::Exec);
    let exit = one(&events, ProcessEventKind::Exit);

    assert_eq!(fork.parent_pid, std::process::id());
    // Fork happens before the child moves itself into the test cgroup.
    assert_eq!(
        fork.cgroup_id,
        cgroup::current_cgroup_id().expect("own cgroup")
    );
    assert_eq!(exec.parent_pid, std::process::id());
    assert_eq!(exec.cgroup_id, tenant.id());
    assert_eq!(exec.executable_path.as_deref(), Some("/bin/sh"));
    assert_eq!(exec.executable_name, "sh");
    assert_eq!(
        exec.command_args.as_deref(),
        Some(&["/bin/sh", "-c", "exit 7", "sh", marker.as_str()].map(String::from)[..])
    );
    assert!(!exec.command_args_truncated);
    assert_eq!(exit.cgroup_id, tenant.id());
    assert_eq!(exit.exit.map(|status| status.code), Some(7));
    assert_eq!(exit.exit.and_then(|status| status.signal), None);
    // One process: every record names the same creation time.
    assert_eq!(fork.creation_time, exec.creation_time);
    assert_eq!(exec.creation_time, exit.creation_time);
    assert!(fork.time <= exec.time && exec.time <= exit.time);
    // SAFETY: geteuid cannot fail.
    assert_eq!(exec.real_user_id, unsafe { libc::geteuid() });

    assert_eq!(probes.undecodable(), 0);
    assert_eq!(probes.kernel_losses().expect("loss counters").total(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn truncates_long_arguments_and_flags_it() {
    let test = "truncates_long_arguments_and_flags_it";
    let options = ProbeOptions {
        capture_command_args: true,
        ..ProbeOptions::default()
    };
    let Some(mut probes) = load(test, options) else {
        return;
    };
    let long_argument = "x".repeat(3000);
    let mut child = std::process::Command::new("/bin/true")
        .arg(&long_argument)
        .spawn()
        .expect("spawn /bin/true");
    let pid = child.id();
    child.wait().expect("wait");

    let events = events_of(&mut probes, pid).await;
    let exec = one(&events, ProcessEventKind::Exec);
    let args = exec.command_args.as_ref().expect("arguments captured");
    assert!(exec.command_args_truncated);
    assert_eq!(args[0], "/bin/true");
    let captured: usize = args.iter().map(|arg| arg.len() + 1).sum::<usize>() - 1;
    assert_eq!(captured, scrim_abi::EXEC_ARGS_CAPACITY);
    assert!(long_argument.starts_with(&args[1]));
}

#[tokio::test(flavor = "current_thread")]
async fn leaves_arguments_in_the_kernel_and_excludes_its_own_process_by_default() {
    let test = "leaves_arguments_in_the_kernel_and_excludes_its_own_process_by_default";
    let Some(mut probes) = load(test, ProbeOptions::default()) else {
        return;
    };
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "exit 3", "secret-looking-argument"])
        .spawn()
        .expect("spawn /bin/sh");
    let pid = child.id();
    child.wait().expect("wait");

    let events = events_of(&mut probes, pid).await;
    let exec = one(&events, ProcessEventKind::Exec);
    assert_eq!(exec.command_args, None);
    assert!(!exec.command_args_truncated);
    assert_eq!(
        one(&events, ProcessEventKind::Exit).exit.map(|s| s.code),
        Some(3)
    );
    // The fork ran in this (excluded) process, so the kernel dropped it.
    assert!(
        events
            .iter()
            .all(|event| event.kind != ProcessEventKind::Fork),
        "fork of an excluded process leaked: {events:#?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn counts_records_lost_to_a_full_ring_buffer() {
    let test = "counts_records_lost_to_a_full_ring_buffer";
    // One page holds two exec records; nothing is read while processes run.
    let options = ProbeOptions {
        ring_buffer_bytes: 4096,
        ..ProbeOptions::default()
    };
    let Some(mut probes) = load(test, options) else {
        return;
    };
    const PROCESSES: usize = 20;
    for _ in 0..PROCESSES {
        let status = std::process::Command::new("/bin/true")
            .status()
            .expect("run /bin/true");
        assert!(status.success());
    }
    let mut delivered = Vec::new();
    probes.drain(&mut delivered);
    let lost = probes
        .kernel_losses()
        .expect("loss counters")
        .get(scrim_probes::LossReason::RingBufferFull);
    // Each process makes an exec and an exit record (its fork ran in this,
    // excluded, process): at most a page's worth can have been delivered.
    assert!(delivered.len() < PROCESSES, "{} delivered", delivered.len());
    assert!(
        lost as usize >= 2 * PROCESSES - delivered.len(),
        "{lost} counted lost, {} delivered of at least {}",
        delivered.len(),
        2 * PROCESSES
    );
}
