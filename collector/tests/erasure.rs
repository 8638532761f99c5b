//! A data subject's erasure while a collector writes their rows: real
//! probes, real cgroups, processes run under the subject's uid and another
//! one, across a policy change (the uid kept, then pseudonymised) and a
//! key change (both reloads of the running collector), into a Parquet
//! archive whose last file is still open and an OTLP backend (a receiver on
//! the official protobufs, on loopback) that took some of the spans and
//! then went down, so the rest wait in the spool. After the erasure nothing
//! of the subject is left anywhere scrim holds (DuckDB over the archive, a
//! byte search over the state directory), everyone else's rows are, in
//! every shape, and the audit log says what was erased and what scrim
//! cannot reach.
mod common;

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{policy_file, start_with_policy_and};
use scrim_testkit::{
    archive::{duckdb_or_skip, duckdb_query},
    cgroup::TestCgroup,
    otlp_receiver::OtlpReceiver,
};

const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");
const SUBJECT: u32 = 1000;
const OTHER: u32 = 1001;

fn policy(archive: &Path, endpoint: &str, uid_rule: &str) -> String {
    format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[keys]
master_key_file = "master.key"
rotation = "1d"
[[tenant]]
name = "acme"
purpose = "testing erasure while capturing"
legal_basis = "legitimate_interests"
lia = "LIA-7"
match = {{ cgroup_path = ["/scrim-test-erasure-{me}-*"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ parquet = {{ path = "{archive}" }} }}, {{ otlp = {{ endpoint = "{endpoint}", protocol = "grpc" }} }}]
[tenant.fields]
"time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"process.executable.name" = "keep"
"process.real_user.id" = "{uid_rule}"
"#,
        me = std::process::id(),
        archive = archive.display()
    )
}

fn scrim(args: &[&str]) -> (bool, String) {
    let output = Command::new(SCRIM).args(args).output().expect("run scrim");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// Runs `/bin/true` in `group` as `uid`: its exec and exit carry the uid.
fn run_as(group: &TestCgroup, uid: u32) {
    let status = group
        .command("setpriv")
        .expect("command in the group")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "/bin/true",
        ])
        .status()
        .expect("setpriv");
    assert!(status.success());
}

/// Has the running collector put the policy file in force again.
fn reload(collector: &mut common::Collector, until: &str) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(collector.child.id() as i32, libc::SIGHUP) };
    collector
        .wait_for(until)
        .unwrap_or_else(|seen| panic!("no reload reported:\n{seen}"));
    thread::sleep(Duration::from_millis(300));
}

/// Runs the subject's and the other user's processes `times` times.
fn both(group: &TestCgroup, times: usize) {
    for _ in 0..times {
        run_as(group, SUBJECT);
        run_as(group, OTHER);
    }
}

/// The pseudonym of `uid` today, as `scrim keys pseudonym` gives it.
fn pseudonym(policy: &Path, uid: u32) -> String {
    let (ok, said) = scrim(&[
        "keys",
        "pseudonym",
        "--policy",
        policy.to_str().expect("utf-8"),
        "--tenant",
        "acme",
        "--field",
        "process.real_user.id",
        "--value",
        &uid.to_string(),
    ]);
    assert!(ok, "{said}");
    said.trim().to_owned()
}

fn files_under(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(directory) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => files.extend(files_under(&path)),
            Ok(kind) if kind.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

/// Rows of `archive` whose uid column holds `pseudonym`.
fn rows_of(archive: &Path, pseudonym: &str) -> u64 {
    let rows = duckdb_query(&format!(
        "SELECT count(*) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true, \
         union_by_name = true) WHERE CAST(\"process.real_user.id\" AS VARCHAR) = '{pseudonym}'",
        archive.display()
    ))
    .expect("DuckDB reads the archive");
    rows[0][0].as_u64().expect("a count")
}

#[test]
fn a_subject_erased_while_a_collector_writes_their_rows_leaves_nothing_scrim_holds() {
    let test = "a_subject_erased_while_a_collector_writes_their_rows_leaves_nothing_scrim_holds";
    if !duckdb_or_skip(test) {
        return;
    }
    let mut receiver = OtlpReceiver::start().expect("OTLP receiver");
    let directory = policy_file("");
    let archive = directory.path().join("archive");
    let policy_path = directory.path().join("policy.toml");
    let endpoint = receiver.grpc_endpoint();
    std::fs::write(&policy_path, policy(&archive, &endpoint, "keep")).expect("policy");
    let state = tempfile::tempdir().expect("state");
    let state_dir = state.path().to_str().expect("utf-8").to_owned();
    // Files roll only when a reload changes their schema: the last one is
    // still open when the erasure comes.
    let Some(mut collector) = start_with_policy_and(
        test,
        &directory,
        None,
        &["--state-dir", &state_dir, "--roll-interval", "1h"],
    ) else {
        return;
    };
    let group = TestCgroup::create("erasure").expect("cgroup");
    thread::sleep(Duration::from_millis(200));

    // Version 1, the uid as captured: the backend takes the spans.
    both(&group, 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.spans().len() < 4 {
        assert!(Instant::now() < deadline, "spans never arrived");
        thread::sleep(Duration::from_millis(100));
    }
    // Version 2: the uid pseudonymised.
    std::fs::write(&policy_path, policy(&archive, &endpoint, "pseudonymize")).expect("v2");
    reload(&mut collector, "scrim: policy ");
    both(&group, 2);
    let first_key = (
        pseudonym(&policy_path, SUBJECT),
        pseudonym(&policy_path, OTHER),
    );
    // Version 3: the same text under a new master key.
    let key = directory.path().join("master.key");
    std::fs::write(&key, [0x5a; 32]).expect("a new key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    reload(&mut collector, "kept wrapped under the new key");
    both(&group, 2);
    // The backend goes down: what comes next waits in the spool.
    receiver.pause();
    both(&group, 2);
    let spool = state.path().join("spool");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !files_under(&spool).iter().any(|path| {
        path.extension()
            .is_some_and(|extension| extension == "spans")
    }) {
        assert!(Instant::now() < deadline, "nothing was spooled");
        thread::sleep(Duration::from_millis(100));
    }

    let (ok, said) = scrim(&[
        "archive",
        "erase",
        "--policy",
        policy_path.to_str().expect("utf-8"),
        "--state-dir",
        &state_dir,
        "--tenant",
        "acme",
        "--subject",
        &format!("uid={SUBJECT}"),
        "--reference",
        "DSR-2026-0042",
    ]);
    assert!(ok, "{said}");
    assert!(said.contains("the running collector completed"), "{said}");
    assert!(!said.contains("erased 0 rows"), "{said}");
    assert!(
        said.contains(&format!(
            "were sent to {} between ",
            receiver.grpc_endpoint()
        )),
        "{said}"
    );
    let (status, summary) = collector.stop();
    assert!(status.success(), "{summary}");

    // Nothing of the subject in the archive, in any shape; everyone
    // else's rows there, in every shape.
    let second_key = (
        pseudonym(&policy_path, SUBJECT),
        pseudonym(&policy_path, OTHER),
    );
    assert_ne!(first_key, second_key, "the key changed the pseudonyms");
    let subject_marks = [SUBJECT.to_string(), first_key.0, second_key.0];
    for mark in &subject_marks {
        assert_eq!(rows_of(&archive, mark), 0, "{mark}");
    }
    assert!(rows_of(&archive, &OTHER.to_string()) >= 4, "version 1 rows");
    assert!(rows_of(&archive, &first_key.1) >= 4, "version 2 rows");
    assert!(rows_of(&archive, &second_key.1) >= 8, "version 3 rows");
    // Nor in any byte scrim keeps in its state directory (spools, the
    // audit log, the kept policies and keys, the sent records).
    for path in files_under(state.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        for mark in &subject_marks[1..] {
            assert!(
                !text.contains(mark.as_str()),
                "{} holds {mark}",
                path.display()
            );
        }
        let as_captured = format!(r#"{{"Int":{SUBJECT}}}"#);
        assert!(
            !text.contains(&as_captured),
            "{} holds the uid",
            path.display()
        );
    }
    let spooled: String = files_under(&spool)
        .iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "spans")
        })
        .map(|path| std::fs::read_to_string(path).expect("batch"))
        .collect();
    assert!(
        spooled.contains(&second_key.1),
        "the other user's spans wait: {spooled}"
    );

    // The record: what was erased, and where the rest must be erased.
    let log = std::fs::read_to_string(state.path().join("audit.jsonl")).expect("audit log");
    let erase: serde_json::Value = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("an entry"))
        .find(|entry| entry["action"] == "archive.erase")
        .expect("an erase entry");
    let details = &erase["details"];
    assert_eq!(details["collector_running"], true, "{erase}");
    assert!(details["rows_removed"].as_u64() >= Some(6), "{erase}");
    assert!(details["spans_erased"].as_u64() >= Some(1), "{erase}");
    assert_eq!(
        details["not_reached"][0]["backend"],
        receiver.grpc_endpoint(),
        "{erase}"
    );
}
