//! A data subject's erasure while a collector writes their rows: real
//! probes, real cgroups, processes run under the subject's uid and another
//! one, a Parquet archive whose files are still open, and an OTLP backend
//! (a receiver on the official protobufs, on loopback) that took some of
//! the spans and then went down, so the rest wait in the spool. After the
//! erasure nothing of the subject is left anywhere scrim holds (DuckDB over
//! the archive, a byte search over the state directory), everyone else's
//! rows are, and the audit log says what was erased and what scrim cannot
//! reach.
mod common;

use std::{
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

fn policy(archive: &Path, endpoint: &str) -> String {
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
"process.real_user.id" = "pseudonymize"
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
        "SELECT count(*) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true) \
         WHERE \"process.real_user.id\" = '{pseudonym}'",
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
    std::fs::write(&policy_path, policy(&archive, &receiver.grpc_endpoint())).expect("policy");
    let state = tempfile::tempdir().expect("state");
    let state_dir = state.path().to_str().expect("utf-8").to_owned();
    // Files stay open for the whole test: the erasure must reach them.
    let Some(collector) = start_with_policy_and(
        test,
        &directory,
        None,
        &["--state-dir", &state_dir, "--roll-interval", "1h"],
    ) else {
        return;
    };
    let group = TestCgroup::create("erasure").expect("cgroup");
    thread::sleep(Duration::from_millis(200));

    // The backend takes the first spans...
    for _ in 0..3 {
        run_as(&group, SUBJECT);
        run_as(&group, OTHER);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.spans().len() < 6 {
        assert!(Instant::now() < deadline, "spans never arrived");
        thread::sleep(Duration::from_millis(100));
    }
    // ...then goes down: the next ones wait in the spool.
    receiver.pause();
    for _ in 0..3 {
        run_as(&group, SUBJECT);
        run_as(&group, OTHER);
    }
    let spool = state.path().join("spool");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !files_under(&spool).iter().any(|path| {
        path.extension()
            .is_some_and(|extension| extension == "spans")
    }) {
        assert!(Instant::now() < deadline, "nothing was spooled");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        files_under(&archive).iter().all(|path| path
            .extension()
            .is_none_or(|extension| extension != "parquet")),
        "no file is complete yet"
    );

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

    // Nothing of the subject in the archive, everyone else's rows there.
    let (subject, other) = (
        pseudonym(&policy_path, SUBJECT),
        pseudonym(&policy_path, OTHER),
    );
    assert_eq!(rows_of(&archive, &subject), 0);
    assert!(rows_of(&archive, &other) >= 12, "exec and exit of six runs");
    // Nor in any byte scrim keeps in its state directory (spools, the
    // audit log, the sent records), the archive's JSON-free files aside.
    for path in files_under(state.path()) {
        let bytes = std::fs::read(&path).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&subject),
            "{} holds the subject",
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
        spooled.contains(&other),
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
