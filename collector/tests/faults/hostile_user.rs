//! An unprivileged local user against scrim, for real (the user `nobody`).
//! A directory anyone but scrim's user can write lets its writers plant
//! names where scrim will create files: scrim refuses such archive and
//! state directories at start, whatever the sticky bit, and names the fix.
//! Below a directory it trusts scrim never follows a symlink. What it
//! creates is 0640 and 0750 whatever the umask.
use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::Path,
    process::Command,
};

use scrim_testkit::gate;

use crate::common::{Collector, policy_file, run_to_end};

const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `scrim run` with `args`, for at most 10 s: whether it succeeded, and
/// its stderr.
fn refused_run(args: &[&str]) -> (bool, String) {
    let mut all = vec!["--duration", "10s"];
    all.extend_from_slice(args);
    let (status, stderr) = run_to_end(&[], &all);
    (status.success(), stderr)
}

#[test]
fn archive_and_state_directories_others_can_write_are_refused_at_start() {
    let test = "archive_and_state_directories_others_can_write_are_refused_at_start";
    if !gate::root_or_skip(test) {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let open = scratch.path().join("open");
    std::fs::create_dir(&open).expect("dir");
    let private = scratch.path().join("private");
    std::fs::create_dir(&private).expect("dir");
    let owned_by_nobody = scratch.path().join("nobodys");
    std::fs::create_dir(&owned_by_nobody).expect("dir");
    std::os::unix::fs::chown(&owned_by_nobody, Some(NOBODY), Some(NOBODY)).expect("chown");
    let cases: [(u32, &Path, &str); 4] = [
        (0o777, &open, "writable by every user"),
        (0o1777, &open, "sticky or not"),
        (0o770, &open, "writable by group"),
        (0o750, &owned_by_nobody, "owned by uid 65534"),
    ];
    for (mode, directory, says) in cases {
        chmod(directory, mode);
        for flag in ["--output", "--state-dir"] {
            let mut args = vec![flag, directory.to_str().expect("utf-8")];
            let state = private.join("state");
            if flag == "--state-dir" {
                args.extend(["--output", private.to_str().expect("utf-8")]);
            } else {
                args.extend(["--state-dir", state.to_str().expect("utf-8")]);
            }
            let (succeeded, stderr) = refused_run(&args);
            assert!(
                !succeeded,
                "{flag} {} mode {mode:o} was used:\n{stderr}",
                directory.display()
            );
            assert!(
                stderr.contains(&directory.display().to_string()) && stderr.contains(says),
                "{flag} mode {mode:o}: {stderr}"
            );
            assert!(stderr.contains("chmod 0750"), "no fix given: {stderr}");
            assert!(!stderr.contains("capturing"), "{stderr}");
            // A start that failed put no policy in force: none is recorded.
            let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap_or_default();
            assert!(!audit.contains("policy.load"), "{audit}");
        }
    }
    // Nothing was written into any of them.
    for directory in [&open, &owned_by_nobody] {
        let names: Vec<_> = std::fs::read_dir(directory).expect("list").collect();
        assert!(names.is_empty(), "{}: {names:?}", directory.display());
    }
}

#[test]
fn a_symlink_planted_in_an_archive_the_tenants_group_may_write_is_never_followed() {
    let test = "a_symlink_planted_in_an_archive_the_tenants_group_may_write_is_never_followed";
    if !gate::root_or_skip(test) {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let victim = scratch.path().join("victim");
    std::fs::create_dir(&victim).expect("victim");
    chmod(&victim, 0o700);
    // The archive is the tenant's group's to write too (archive_group).
    let archive = scratch.path().join("archive");
    std::fs::create_dir(&archive).expect("archive");
    std::os::unix::fs::chown(&archive, None, Some(NOBODY)).expect("chgrp");
    chmod(&archive, 0o770);
    // A member of that group plants the tenant's directory as a symlink.
    let planted = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "ln",
            "-s",
        ])
        .arg(&victim)
        .arg(archive.join("tenant=acme"))
        .status()
        .expect("setpriv");
    assert!(planted.success());
    let policy = policy_file(&format!(
        r#"version = 1
[[tenant]]
name = "acme"
purpose = "testing"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/**"] }}
capture = ["process"]
retention = {{ process = "1d" }}
archive_group = {NOBODY}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"#,
        archive.display()
    ));
    let policy_path = policy.path().join("policy.toml");
    let state = scratch.path().join("state");
    let (succeeded, stderr) = refused_run(&[
        "--policy",
        policy_path.to_str().expect("utf-8"),
        "--state-dir",
        state.to_str().expect("utf-8"),
    ]);
    assert!(!succeeded, "started through a planted symlink:\n{stderr}");
    assert!(
        stderr.contains("symbolic link") && stderr.contains("tenant=acme"),
        "{stderr}"
    );
    // Nothing was written, chowned or chmodded through it.
    let victim_metadata = std::fs::metadata(&victim).expect("victim");
    assert_eq!(
        (victim_metadata.mode() & 0o7777, victim_metadata.gid()),
        (0o700, 0)
    );
    assert_eq!(std::fs::read_dir(&victim).expect("list").count(), 0);
}

#[test]
fn what_scrim_creates_is_0640_and_0750_whatever_the_umask() {
    let test = "what_scrim_creates_is_0640_and_0750_whatever_the_umask";
    if !gate::root_or_skip(test) {
        return;
    }
    let archive = tempfile::tempdir().expect("archive");
    let state = tempfile::tempdir().expect("state");
    let root = archive.path().join("new");
    let state_dir = state.path().join("new");
    let mut collector = Collector::start_wrapped(
        &["/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\""],
        Some(&root),
        &[
            "--roll-interval",
            "1s",
            "--state-dir",
            state_dir.to_str().expect("utf-8"),
        ],
        &[],
    );
    if gate::or_skip(test, collector.wait_for("capturing")).is_none() {
        let _ = collector.child.kill();
        return;
    }
    for _ in 0..5 {
        Command::new("/bin/true").status().expect("run");
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (status, _) = collector.stop();
    assert!(status.success());
    let mut seen = (0, 0);
    for top in [&root, &state_dir] {
        let mut stack = vec![top.to_path_buf()];
        while let Some(path) = stack.pop() {
            let metadata = std::fs::symlink_metadata(&path).expect("metadata");
            let mode = metadata.mode() & 0o7777;
            if metadata.is_dir() {
                assert_eq!(mode, 0o750, "{}", path.display());
                seen.0 += 1;
                stack.extend(
                    std::fs::read_dir(&path)
                        .expect("list")
                        .map(|entry| entry.expect("entry").path()),
                );
            } else {
                // The audit log holds what was done to whom, the kept
                // policies and keys what pseudonyms are made with: owner
                // only.
                let owner_only = path.ends_with("audit.jsonl")
                    || path.parent().is_some_and(|parent| {
                        parent.ends_with("keys") || parent.ends_with("policies")
                    });
                let expected = if owner_only { 0o600 } else { 0o640 };
                assert_eq!(mode, expected, "{}", path.display());
                seen.1 += 1;
            }
        }
    }
    assert!(seen.0 >= 6 && seen.1 >= 3, "{seen:?}");
}
