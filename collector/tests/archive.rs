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
use scrim_testkit::{
    archive::{files_with_suffix, parquet_rows, python_module_or_skip},
    s3_server::S3Server,
};

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

/// `acme`'s policy: its archive under `archive`, `keys` and `fields` as
/// given, thirty days of process events.
fn acme_policy(archive: &Path, keys: &str, fields: &str) -> String {
    format!(
        r#"version = 1
{keys}
[[tenant]]
name = "acme"
purpose = "testing the archive's lifecycle"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/acme/**"] }}
capture = ["process"]
retention = {{ process = "30d" }}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
{fields}
"#,
        archive.display()
    )
}

/// `scrim audit verify` finds `entries` entries and an intact chain.
fn assert_audit_log_verifies(state: &Path, entries: usize) {
    let (ok, said) = scrim(&[
        "audit",
        "verify",
        "--state-dir",
        state.to_str().expect("utf-8"),
    ]);
    assert!(
        ok && said.contains(&format!("{entries} entries, chain intact")),
        "{said}"
    );
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
        acme_policy(&archive, "", r#""event.name" = "keep""#),
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
    assert_audit_log_verifies(&state, 2);

    // An edited entry is caught, by line.
    std::fs::write(&log, entries.replacen("\"files\":1", "\"files\":0", 1)).expect("edit");
    let (ok, said) = scrim(&["audit", "verify", log.to_str().expect("utf-8")]);
    assert!(!ok, "{said}");
    assert!(said.contains("line 1: this entry was changed"), "{said}");
}

/// `acme`'s archive as `scrim run` writes it, through the policy's own
/// plan (uids pseudonymised with a one-day key rotation): six exits of uid
/// 1000 and six of uid 1001, over three days, so three key epochs.
fn archive_of_two_subjects(directory: &Path) -> (std::path::PathBuf, Vec<String>, Vec<String>) {
    let archive = directory.join("archive");
    let policy = directory.join("policy.toml");
    std::fs::write(
        &policy,
        acme_policy(
            &archive,
            "[keys]\nmaster_key_file = \"master.key\"\nrotation = \"1d\"",
            r#""time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"process.real_user.id" = "pseudonymize""#,
        ),
    )
    .expect("policy");
    let compiled = scrim_policies::compile(&policy).expect("valid policy");
    let mut plan = compiled.record_plans().remove(0);
    let mut sink =
        Archive::create(ArchiveOptions::new(&archive, Format::Parquet)).expect("archive");
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (index, age) in [2, 2, 1, 1, 0, 0].into_iter().enumerate() {
        for (uid, pids) in [(1000, &mut first), (1001, &mut second)] {
            let pid = 5000 + uid * 10 + index as i64;
            let event = event_from_fields(
                "process.exit",
                [
                    ("time", FixtureValue::Int(now() - age * DAY)),
                    ("process.pid", FixtureValue::Int(pid)),
                    ("process.real_user.id", FixtureValue::Int(uid)),
                ],
            )
            .expect("event");
            let mut record = plan.apply(&event).expect("a record");
            sink.write("acme", &mut record).expect("write");
            pids.push(pid.to_string());
        }
    }
    let (_, closed) = sink.close();
    closed.expect("close");
    (policy, first, second)
}

#[test]
fn a_subjects_rows_are_exported_then_erased_across_key_epochs_and_every_other_row_stays() {
    let directory = scrim_testkit::keys::directory_with_master_key();
    let (policy, subject_pids, other_pids) = archive_of_two_subjects(directory.path());
    let archive = directory.path().join("archive");
    let state = directory.path().join("state");
    let request = |command: &str| {
        vec![
            "archive".to_owned(),
            command.to_owned(),
            "--policy".into(),
            policy.display().to_string(),
            "--state-dir".into(),
            state.display().to_string(),
            "--tenant".into(),
            "acme".into(),
            "--subject".into(),
            "uid=1000".into(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scrim(&args)
    };

    // Access: the subject's six rows, under three different pseudonyms.
    let exported = directory.path().join("subject.jsonl");
    let mut export = request("export");
    export.extend(["--to".into(), exported.display().to_string()]);
    let (ok, said) = run(export);
    assert!(ok, "{said}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&exported)
        .expect("export")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let mut pids: Vec<String> = lines
        .iter()
        .map(|row| row["process.pid"].to_string())
        .collect();
    pids.sort();
    assert_eq!(pids, subject_pids, "{said}");
    let mut pseudonyms: Vec<&str> = lines
        .iter()
        .map(|row| row["process.real_user.id"].as_str().expect("a pseudonym"))
        .collect();
    pseudonyms.sort();
    pseudonyms.dedup();
    assert_eq!(pseudonyms.len(), 3, "one per key epoch: {pseudonyms:?}");

    // Erasure: none of the subject's rows is left; every other row is.
    let before = parquet_rows(&archive).expect("archive");
    let (ok, said) = run(request("erase"));
    assert!(ok, "{said}");
    assert!(said.contains("erased 6 rows"), "{said}");
    assert!(said.contains("erasing ["), "a progress bar: {said}");
    let after = parquet_rows(&archive).expect("every file still reads");
    let mut left: Vec<String> = after.iter().map(|row| row["process.pid"].clone()).collect();
    left.sort();
    assert_eq!(left, other_pids);
    // The other rows are untouched, field for field.
    for row in &after {
        assert!(before.contains(row), "{row:?} changed");
    }
    assert!(
        files_with_suffix(&archive, ".tmp")
            .expect("list")
            .is_empty()
    );
    // Export and erasure are in the audit log, and it verifies.
    assert_audit_log_verifies(&state, 2);
    let log = std::fs::read_to_string(state.join("audit.jsonl")).expect("log");
    assert!(log.contains("\"archive.export\"") && log.contains("\"archive.erase\""));
    // What an entry says, without its time and hashes (whose digits may spell 1000).
    for line in log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("an entry");
        let said = format!("{} {}", entry["action"], entry["details"]);
        assert!(
            !said.contains("1000"),
            "the subject's uid is not in the audit log: {line}"
        );
    }
}

/// Runs scrim with `environment` added.
fn scrim_with(environment: &[(&'static str, String)], args: &[&str]) -> (bool, String) {
    let output = Command::new(SCRIM)
        .args(args)
        .envs(environment.iter().map(|(name, value)| (*name, value)))
        .output()
        .expect("run scrim");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn retention_export_and_erasure_work_on_an_archive_in_object_storage() {
    let test = "retention_export_and_erasure_work_on_an_archive_in_object_storage";
    if !python_module_or_skip(test, "moto.server") {
        return;
    }
    let server = S3Server::start().expect("moto's S3 server");
    server.create_bucket("scrim-archive").expect("bucket");
    // Two subjects over three key epochs, and one partition 45 days old,
    // written as `scrim run` writes them, then put in the bucket by boto3.
    let directory = scrim_testkit::keys::directory_with_master_key();
    let (policy, subject_pids, other_pids) = archive_of_two_subjects(directory.path());
    let archive = directory.path().join("archive");
    write_archive(&archive, &[45]);
    let local_files = files_with_suffix(&archive, ".parquet").expect("list");
    for file in &local_files {
        let key = file.strip_prefix(&archive).expect("under the archive");
        server
            .put("scrim-archive", &format!("archive/{}", key.display()), file)
            .expect("put");
    }
    std::fs::remove_dir_all(&archive).expect("only the bucket holds the archive now");
    let text = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        text.replace(&archive.display().to_string(), "s3://scrim-archive/archive"),
    )
    .expect("policy in the bucket");
    let state = directory.path().join("state");
    // A file of the same age still waiting in staging for its upload
    // (`uploads/<hash of the URL>` under the state directory).
    let staging = state
        .join("uploads")
        .join(&blake3::hash(b"s3://scrim-archive/archive").to_hex()[..16]);
    write_archive(&staging, &[45]);
    let environment = server.environment();
    let location = [
        "--policy",
        policy.to_str().expect("utf-8"),
        "--state-dir",
        state.to_str().expect("utf-8"),
    ];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(location);
        scrim_with(&environment, &all)
    };

    // Retention lists, then removes, the old partition: its object, and
    // its file still in staging.
    let (ok, said) = run(&["archive", "retention", "--dry-run"]);
    assert!(ok, "{said}");
    assert_eq!(
        said.matches("would remove s3://scrim-archive/archive/tenant=acme/kind=process/date=")
            .count(),
        1,
        "{said}"
    );
    assert_eq!(
        said.matches(&format!("would remove {}", staging.display()))
            .count(),
        1,
        "{said}"
    );
    assert_eq!(
        server.list("scrim-archive").expect("list").len(),
        local_files.len()
    );
    let (ok, said) = run(&["archive", "retention"]);
    assert!(ok && said.matches("removed ").count() == 2, "{said}");
    assert_eq!(
        server.list("scrim-archive").expect("list").len(),
        local_files.len() - 1
    );
    assert!(
        files_with_suffix(&staging, ".parquet")
            .expect("staging")
            .is_empty()
    );

    // Access and erasure, through local copies of the objects.
    let exported = directory.path().join("subject.jsonl");
    let subject = ["--tenant", "acme", "--subject", "uid=1000"];
    let mut export = vec![
        "archive",
        "export",
        "--to",
        exported.to_str().expect("utf-8"),
    ];
    export.extend(subject);
    let (ok, said) = run(&export);
    assert!(ok && said.contains("exported 6 rows"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&exported)
            .expect("export")
            .lines()
            .count(),
        6
    );
    let mut erase = vec!["archive", "erase"];
    erase.extend(subject);
    let (ok, said) = run(&erase);
    assert!(ok && said.contains("erased 6 rows"), "{said}");

    // boto3 fetches what is left: every other row, none of the subject's.
    let fetched = tempfile::tempdir().expect("tempdir");
    server
        .download_all("scrim-archive", fetched.path())
        .expect("download");
    let rows = parquet_rows(fetched.path()).expect("every object reads");
    let mut left: Vec<String> = rows.iter().map(|row| row["process.pid"].clone()).collect();
    left.sort();
    assert_eq!(left, other_pids);
    assert!(subject_pids.iter().all(|pid| !left.contains(pid)));
    assert_audit_log_verifies(&state, 4);
}
