//! `scrim archive retention` and `scrim audit verify`, on a real archive
//! written by the Parquet sink: what is past retention goes, what is not
//! stays readable, every removal is in the audit log, and an edited audit
//! log is caught.
use std::{path::Path, process::Command};

use scrim_event::{
    fixture::{FixtureValue, event_from_fields},
    record::UnfilteredEvent,
};
use scrim_sinks::{Archive, ArchiveOptions, Format};
use scrim_testkit::archive::{files_with_suffix, parquet_rows};

const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");
const DAY: i64 = 86_400_000_000_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i64
}

/// Five exits of `acme` at each age, written by the archive as `scrim
/// run` writes them.
fn write_archive(root: &Path, ages_in_days: &[i64]) {
    let mut archive = Archive::create(ArchiveOptions::new(root, Format::Parquet)).expect("archive");
    for age in ages_in_days {
        for pid in 0..5 {
            let event = event_from_fields(
                "process.exit",
                [
                    ("time", FixtureValue::Int(now() - age * DAY)),
                    ("process.pid", FixtureValue::Int(100 + pid)),
                ],
            )
            .expect("event");
            archive
                .write("acme", &mut UnfilteredEvent(&event))
                .expect("write");
        }
    }
    let (_, closed) = archive.close();
    closed.expect("close");
}

fn scrim(args: &[&str]) -> (bool, String) {
    let output = Command::new(SCRIM).args(args).output().expect("run scrim");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn retention_removes_what_is_past_it_records_each_removal_and_the_audit_log_catches_edits() {
    let directory = tempfile::tempdir().expect("tempdir");
    let archive = directory.path().join("archive");
    let state = directory.path().join("state");
    write_archive(&archive, &[45, 40, 2, 0]);
    let policy = directory.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            r#"version = 1
[[tenant]]
name = "acme"
purpose = "testing retention"
legal_basis = "testing"
match = {{ cgroup_path = ["/acme/**"] }}
capture = ["process"]
retention = {{ process = "30d" }}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"#,
            archive.display()
        ),
    )
    .expect("policy");
    let location = [
        "--policy",
        policy.to_str().expect("utf-8"),
        "--state-dir",
        state.to_str().expect("utf-8"),
    ];
    assert_eq!(
        files_with_suffix(&archive, ".parquet").expect("list").len(),
        4
    );

    // A dry run lists the two old hours and touches nothing.
    let mut dry = vec!["archive", "retention", "--dry-run"];
    dry.extend(location);
    let (ok, said) = scrim(&dry);
    assert!(ok, "{said}");
    assert_eq!(said.matches("would remove").count(), 2, "{said}");
    assert_eq!(
        files_with_suffix(&archive, ".parquet").expect("list").len(),
        4
    );
    assert!(!state.join("audit.jsonl").exists());

    let mut enforce = vec!["archive", "retention"];
    enforce.extend(location);
    let (ok, said) = scrim(&enforce);
    assert!(ok, "{said}");
    assert_eq!(said.matches("removed ").count(), 2, "{said}");
    // What is within retention stays, readable.
    let rows = parquet_rows(&archive).expect("the rest of the archive");
    assert_eq!(rows.len(), 10);
    for row in &rows {
        assert_eq!(row["event.name"], "process.exit");
    }
    // A second pass finds nothing more.
    let (ok, said) = scrim(&enforce);
    assert!(ok && said.contains("0 hour partitions"), "{said}");

    // Each removal is an audit entry, and the chain verifies.
    let log = state.join("audit.jsonl");
    let entries = std::fs::read_to_string(&log).expect("audit log");
    assert_eq!(entries.lines().count(), 2);
    assert!(
        entries
            .lines()
            .all(|line| line.contains("\"retention.delete\""))
    );
    let (ok, said) = scrim(&[
        "audit",
        "verify",
        "--state-dir",
        state.to_str().expect("utf-8"),
    ]);
    assert!(ok && said.contains("2 entries, chain intact"), "{said}");

    // An edited entry is caught, by line.
    std::fs::write(&log, entries.replacen("\"files\":1", "\"files\":0", 1)).expect("edit");
    let (ok, said) = scrim(&["audit", "verify", log.to_str().expect("utf-8")]);
    assert!(!ok, "{said}");
    assert!(said.contains("line 1: this entry was changed"), "{said}");
}
