//! A policy decides what the kernel reads: compiled into the kernel filter,
//! a policy with no rule for the arguments leaves them unread, and one that
//! names them gets them. Needs root; see `scrim_testkit::gate`.
use std::{path::Path, time::Duration};

use scrim_event::{Event, ProcessEventKind};
use scrim_policies::CapturePlan;
use scrim_probes::{CaptureFields, ProbeOptions, Probes, SyscallSet, TenantFilter};
use scrim_testkit::gate;

mod common;

/// The kernel filter of the only tenant of `policy`.
fn compile(policy: &str) -> TenantFilter {
    let policy = scrim_policies::parse(policy, Path::new(".")).expect("a valid policy");
    let plan = CapturePlan::of(&policy.tenants[0]);
    let syscalls = SyscallSet::from_numbers(plan.syscalls.iter().copied()).expect("syscalls");
    TenantFilter::for_fields(plan.kinds, plan.fields.iter().copied(), syscalls)
}

/// The arguments of the exec of a child started with a marker argument,
/// under `filter`.
async fn exec_arguments(test: &str, filter: TenantFilter) -> Option<Option<Vec<String>>> {
    if !gate::root_or_skip(test) {
        return None;
    }
    let options = ProbeOptions {
        default_tenant: filter,
        ..ProbeOptions::default()
    };
    let mut probes = gate::or_skip(test, Probes::load(&options))?;
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "exit 0", "sh", "--password=hunter2"])
        .spawn()
        .expect("spawn /bin/sh");
    let pid = child.id();
    child.wait().expect("wait");
    let exec = common::read_for(&mut probes, Duration::from_millis(300))
        .await
        .into_iter()
        .find_map(|captured| match captured.event {
            Event::Process(event)
                if event.process.pid == pid && event.kind == ProcessEventKind::Exec =>
            {
                Some(event)
            }
            _ => None,
        })
        .expect("the exec event");
    assert_eq!(exec.executable_path.as_deref(), Some("/bin/sh"));
    Some(exec.command_args)
}

const DEFAULT_POLICY: &str = include_str!("../../policies/examples/default.toml");

#[tokio::test(flavor = "current_thread")]
async fn a_policy_without_an_argument_rule_never_reads_arguments() {
    let filter = compile(DEFAULT_POLICY);
    assert!(!filter.fields.contains(CaptureFields::COMMAND_ARGS));
    assert!(filter.fields.contains(CaptureFields::EXEC_PATH));
    let test = "a_policy_without_an_argument_rule_never_reads_arguments";
    if let Some(arguments) = exec_arguments(test, filter).await {
        assert_eq!(arguments, None, "arguments were read in the kernel");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_rule_for_the_arguments_makes_the_kernel_read_them() {
    let policy = DEFAULT_POLICY.replace(
        "\"process.exit.code\" = \"keep\"",
        "\"process.exit.code\" = \"keep\"\n\"process.command_args\" = \"scrub_secrets\"",
    );
    let filter = compile(&policy);
    assert!(filter.fields.contains(CaptureFields::COMMAND_ARGS));
    let test = "a_rule_for_the_arguments_makes_the_kernel_read_them";
    if let Some(arguments) = exec_arguments(test, filter).await {
        let arguments = arguments.expect("arguments read");
        assert_eq!(
            arguments.last().map(String::as_str),
            Some("--password=hunter2")
        );
    }
}

#[test]
fn the_built_in_default_is_the_shipped_default_policy() {
    assert_eq!(compile(DEFAULT_POLICY), TenantFilter::DEFAULT);
}
