//! The probes against the real kernel: children run in fresh cgroups, and
//! what comes back (or is filtered out in the kernel, and counted) is checked.
//! Needs root; see `scrim_testkit::gate`.
use std::time::{Duration, Instant};

use scrim_event::{Event, ProcessEvent, ProcessEventKind};
use scrim_probes::{
    CaptureFields, CaptureKinds, CgroupChange, KernelCounter, ProbeOptions, Probes, RateLimit,
    SyscallSet, TenantFilter, TenantSlot, UnknownCgroups,
};
use scrim_testkit::{cgroup, cgroup::TestCgroup, gate};

mod common;

/// Every process event delivered within `wait`, with its tenant.
async fn read_for(probes: &mut Probes, wait: Duration) -> Vec<(TenantSlot, ProcessEvent)> {
    common::read_for(probes, wait)
        .await
        .into_iter()
        .filter_map(|captured| match captured.event {
            Event::Process(process) => Some((captured.tenant, process)),
            _ => None,
        })
        .collect()
}

/// Reads until the exit of `pid` arrives (or 10 s pass) and returns that
/// process's events with their tenant.
async fn events_of(probes: &mut Probes, pid: u32) -> Vec<(TenantSlot, ProcessEvent)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut mine = Vec::new();
    let mut batch = Vec::new();
    while Instant::now() < deadline {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Ok(result) = tokio::time::timeout(remaining, probes.read(&mut batch)).await {
            result.expect("ring buffer read");
        }
        for captured in batch.drain(..) {
            let Event::Process(event) = captured.event else {
                continue;
            };
            if event.process.pid == pid {
                let is_exit = event.kind == ProcessEventKind::Exit;
                mine.push((captured.tenant, event));
                if is_exit {
                    return mine;
                }
            }
        }
    }
    mine
}

fn one(events: &[(TenantSlot, ProcessEvent)], kind: ProcessEventKind) -> &ProcessEvent {
    let matching: Vec<_> = events
        .iter()
        .filter(|(_, event)| event.kind == kind)
        .collect();
    assert_eq!(matching.len(), 1, "expected one {kind:?} in {events:#?}");
    &matching[0].1
}

fn load(test: &str, options: ProbeOptions) -> Option<Probes> {
    if !gate::root_or_skip(test) {
        return None;
    }
    gate::or_skip(test, Probes::load(&options))
}

fn counter(probes: &Probes, counter: KernelCounter) -> u64 {
    probes
        .kernel_counters()
        .expect("kernel counters")
        .get(counter)
}

const EVERYTHING: TenantFilter = TenantFilter {
    kinds: CaptureKinds::ALL_PROCESS,
    fields: CaptureFields::COMM
        .union(CaptureFields::EXEC_PATH)
        .union(CaptureFields::COMMAND_ARGS),
    syscalls: SyscallSet::EMPTY,
    rate_limit: None,
};

fn slot(index: u32) -> TenantSlot {
    TenantSlot::new(index).expect("valid slot")
}

#[tokio::test(flavor = "current_thread")]
async fn reports_fork_exec_and_exit_of_a_child_in_a_fresh_cgroup() {
    let test = "reports_fork_exec_and_exit_of_a_child_in_a_fresh_cgroup";
    let options = ProbeOptions {
        default_tenant: EVERYTHING,
        excluded_tgid: None,
        ..ProbeOptions::default()
    };
    let Some(mut probes) = load(test, options) else {
        return;
    };
    let tenant = TestCgroup::create("capture").expect("create a cgroup");
    probes
        .set_tenant_filter(slot(1), &EVERYTHING)
        .expect("tenant filter");
    probes
        .assign_cgroup(tenant.id(), slot(1))
        .expect("assign cgroup");
    let marker = format!("scrim-marker-{}", std::process::id());
    let (pid, code) = tenant
        .run(&["/bin/sh", "-c", "exit 7", "sh", &marker])
        .expect("run /bin/sh");
    assert_eq!(code, Some(7));

    let events = events_of(&mut probes, pid).await;
    let fork = one(&events, ProcessEventKind::Fork);
    let exec = one(&events, ProcessEventKind::Exec);
    let exit = one(&events, ProcessEventKind::Exit);

    // Fork happens in this process's cgroup (the default tenant), before
    // the child moves itself into the test cgroup; exec and exit inside it.
    let tenants: Vec<u32> = events.iter().map(|(slot, _)| slot.index()).collect();
    assert_eq!(tenants, [0, 1, 1], "{events:#?}");
    assert_eq!(fork.process.parent_pid, std::process::id());
    assert_eq!(
        fork.process.cgroup_id,
        cgroup::current_cgroup_id().expect("own cgroup")
    );
    assert_eq!(exec.process.parent_pid, std::process::id());
    assert_eq!(exec.process.cgroup_id, tenant.id());
    assert_eq!(exec.executable_path.as_deref(), Some("/bin/sh"));
    assert_eq!(exec.process.executable_name.as_deref(), Some("sh"));
    assert_eq!(
        exec.command_args.as_deref(),
        Some(&["/bin/sh", "-c", "exit 7", "sh", marker.as_str()].map(String::from)[..])
    );
    assert!(!exec.command_args_truncated);
    assert_eq!(exit.process.cgroup_id, tenant.id());
    assert_eq!(exit.exit.map(|status| status.code), Some(7));
    assert_eq!(exit.exit.and_then(|status| status.signal), None);
    // One process: every record names the same creation time.
    assert_eq!(fork.process.creation_time, exec.process.creation_time);
    assert_eq!(exec.process.creation_time, exit.process.creation_time);
    assert!(fork.time <= exec.time && exec.time <= exit.time);
    // SAFETY: geteuid cannot fail.
    assert_eq!(exec.process.real_user_id, unsafe { libc::geteuid() });

    assert_eq!(probes.undecodable(), 0);
    assert_eq!(counter(&probes, KernelCounter::RingBufferFull), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn truncates_long_arguments_and_counts_it() {
    let test = "truncates_long_arguments_and_counts_it";
    let options = ProbeOptions {
        default_tenant: EVERYTHING,
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
    assert!(counter(&probes, KernelCounter::StringTruncated) >= 1);
}

#[tokio::test(flavor = "current_thread")]
async fn by_default_leaves_arguments_in_the_kernel_and_excludes_its_own_process() {
    let test = "by_default_leaves_arguments_in_the_kernel_and_excludes_its_own_process";
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
    assert_eq!(exec.executable_path.as_deref(), Some("/bin/sh"));
    assert_eq!(
        one(&events, ProcessEventKind::Exit).exit.map(|s| s.code),
        Some(3)
    );
    // The fork ran in this (excluded) process, so the kernel dropped it.
    assert!(
        events
            .iter()
            .all(|(_, event)| event.kind != ProcessEventKind::Fork),
        "fork of an excluded process leaked: {events:#?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn drops_an_opted_out_cgroup_in_the_kernel_and_counts_it() {
    let test = "drops_an_opted_out_cgroup_in_the_kernel_and_counts_it";
    let Some(mut probes) = load(test, ProbeOptions::default()) else {
        return;
    };
    let opted_out = TestCgroup::create("opt-out").expect("create a cgroup");
    probes.opt_out_cgroup(opted_out.id()).expect("opt out");
    let before = counter(&probes, KernelCounter::OptedOutCgroup);
    let (pid, _) = opted_out.run(&["/bin/true"]).expect("run /bin/true");

    let events = read_for(&mut probes, Duration::from_millis(500)).await;
    assert!(
        events
            .iter()
            .all(|(_, event)| event.process.cgroup_id != opted_out.id() && event.process.pid != pid),
        "an opted-out cgroup's event reached userspace: {events:#?}"
    );
    // Its exec and exit were dropped in the kernel.
    assert!(counter(&probes, KernelCounter::OptedOutCgroup) >= before + 2);
}

#[tokio::test(flavor = "current_thread")]
async fn masks_fields_and_kinds_per_tenant() {
    let test = "masks_fields_and_kinds_per_tenant";
    let Some(mut probes) = load(test, ProbeOptions::default()) else {
        return;
    };
    let tenant = TestCgroup::create("masked").expect("create a cgroup");
    let exit_only_no_fields = TenantFilter {
        kinds: CaptureKinds::PROCESS_EXIT,
        fields: CaptureFields::NONE,
        syscalls: SyscallSet::EMPTY,
        rate_limit: None,
    };
    probes
        .set_tenant_filter(slot(2), &exit_only_no_fields)
        .expect("tenant filter");
    probes.assign_cgroup(tenant.id(), slot(2)).expect("assign");
    let filtered_before = counter(&probes, KernelCounter::FilteredKind);
    let (pid, _) = tenant
        .run(&["/bin/sh", "-c", "exit 4"])
        .expect("run /bin/sh");

    let events = events_of(&mut probes, pid).await;
    assert_eq!(events.len(), 1, "only the exit: {events:#?}");
    let exit = one(&events, ProcessEventKind::Exit);
    assert_eq!(exit.exit.map(|status| status.code), Some(4));
    assert_eq!(exit.process.executable_name, None, "comm was masked");
    assert!(counter(&probes, KernelCounter::FilteredKind) > filtered_before);

    // Filters change at run time: the same cgroup, now with paths.
    let with_paths = TenantFilter {
        kinds: CaptureKinds::ALL_PROCESS,
        fields: CaptureFields::EXEC_PATH,
        syscalls: SyscallSet::EMPTY,
        rate_limit: None,
    };
    probes
        .set_tenant_filter(slot(2), &with_paths)
        .expect("tenant filter");
    let (pid, _) = tenant.run(&["/bin/true"]).expect("run /bin/true");
    let events = events_of(&mut probes, pid).await;
    let exec = one(&events, ProcessEventKind::Exec);
    assert_eq!(exec.executable_path.as_deref(), Some("/bin/true"));
    assert_eq!(exec.process.executable_name, None);
    assert_eq!(exec.command_args, None);
}

#[tokio::test(flavor = "current_thread")]
async fn drops_unknown_cgroups_when_told_to() {
    let test = "drops_unknown_cgroups_when_told_to";
    let options = ProbeOptions {
        unknown_cgroups: UnknownCgroups::Drop,
        ..ProbeOptions::default()
    };
    let Some(mut probes) = load(test, options) else {
        return;
    };
    let unknown = TestCgroup::create("unknown").expect("create a cgroup");
    let before = counter(&probes, KernelCounter::UnknownCgroup);
    let (pid, _) = unknown.run(&["/bin/true"]).expect("run /bin/true");
    let events = read_for(&mut probes, Duration::from_millis(500)).await;
    assert!(events.iter().all(|(_, event)| event.process.pid != pid));
    assert!(counter(&probes, KernelCounter::UnknownCgroup) >= before + 2);
}

#[tokio::test(flavor = "current_thread")]
async fn rate_limit_caps_a_fork_storm_and_counts_the_excess() {
    let test = "rate_limit_caps_a_fork_storm_and_counts_the_excess";
    let Some(mut probes) = load(test, ProbeOptions::default()) else {
        return;
    };
    let tenant = TestCgroup::create("storm").expect("create a cgroup");
    let limited = TenantFilter {
        rate_limit: Some(RateLimit {
            per_second: 1,
            burst: 10,
        }),
        ..TenantFilter::DEFAULT
    };
    probes.set_tenant_filter(slot(3), &limited).expect("filter");
    probes.assign_cgroup(tenant.id(), slot(3)).expect("assign");
    // A shell in the cgroup forks 100 children: 300 records without a limit.
    tenant
        .run(&["/bin/sh", "-c", "for i in $(seq 100); do /bin/true; done"])
        .expect("run the storm");

    let events = read_for(&mut probes, Duration::from_millis(500)).await;
    let from_storm = events
        .iter()
        .filter(|(tenant_slot, _)| *tenant_slot == slot(3))
        .count();
    assert!(
        (10..=13).contains(&from_storm),
        "{from_storm} records passed a burst of 10 at 1/s"
    );
    assert!(counter(&probes, KernelCounter::RateLimited) >= 290 - from_storm as u64);
    // The same excess, counted for this tenant alone.
    let by_slot = probes.rate_limited_by_slot().expect("read the counts");
    assert_eq!(
        by_slot,
        [(slot(3), counter(&probes, KernelCounter::RateLimited))]
    );
}

/// Reads until `wanted` picks something out of the cgroup changes, or 5 s pass.
async fn await_change<T>(
    probes: &mut Probes,
    mut wanted: impl FnMut(CgroupChange) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut batch = Vec::new();
    while Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), probes.read(&mut batch)).await;
        if let Some(found) = probes
            .take_cgroup_changes()
            .into_iter()
            .find_map(&mut wanted)
        {
            return Some(found);
        }
    }
    None
}

#[tokio::test(flavor = "current_thread")]
async fn announces_cgroups_as_they_come_and_go_and_forgets_removed_ones_in_the_kernel() {
    let test = "announces_cgroups_as_they_come_and_go_and_forgets_removed_ones_in_the_kernel";
    let Some(mut probes) = load(test, ProbeOptions::default()) else {
        return;
    };
    let created = TestCgroup::create("announced").expect("create a cgroup");
    let id = created.id();
    let announced = await_change(&mut probes, |change| match change {
        CgroupChange::Created(cgroup) if cgroup.id == id => Some(cgroup),
        _ => None,
    })
    .await
    .unwrap_or_else(|| panic!("no announcement of {id}"));
    let root = cgroup::cgroup2_root().expect("cgroup2 root");
    let relative = created.path().strip_prefix(&root).expect("under the root");
    assert_eq!(announced.path, format!("/{}", relative.display()));

    probes.assign_cgroup(id, slot(5)).expect("assign");
    assert_eq!(
        probes.assigned_slot(id).expect("read the map"),
        Some(slot(5))
    );
    drop(created); // removes the directory
    let removed = await_change(&mut probes, |change| {
        (change == CgroupChange::Removed(id)).then_some(())
    })
    .await;
    assert!(removed.is_some(), "no removal of {id} announced");
    assert_eq!(
        probes.assigned_slot(id).expect("read the map"),
        None,
        "the kernel forgets a removed cgroup itself"
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
    let lost = counter(&probes, KernelCounter::RingBufferFull);
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
