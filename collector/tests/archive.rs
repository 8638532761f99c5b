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

/// `scrim audit verify` finds `entries` entries and an intact chain,
/// authenticated with `policy`'s key if given.
fn assert_audit_log_verifies(state: &Path, policy: Option<&Path>, entries: usize) {
    let mut args = vec![
        "audit",
        "verify",
        "--state-dir",
        state.to_str().expect("utf-8"),
    ];
    if let Some(policy) = policy {
        args.extend(["--policy", policy.to_str().expect("utf-8")]);
    }
    let (ok, said) = scrim(&args);
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
    assert_audit_log_verifies(&state, None, 2);

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
            "--reference".into(),
            "DSR-2026-0042".into(),
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
    assert_audit_log_verifies(&state, Some(&policy), 2);
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
    let subject = [
        "--tenant",
        "acme",
        "--subject",
        "uid=1000",
        "--reference",
        "DSR-2026-0042",
    ];
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
    assert_audit_log_verifies(&state, Some(&policy), 4);
}

/// The entries of an audit log, parsed.
fn audit_entries(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .expect("audit log")
        .lines()
        .map(|line| serde_json::from_str(line).expect("an entry"))
        .collect()
}

/// Runs scrim as if `sudo` had been run by `sudo_user` (`None`: not
/// through sudo).
fn scrim_as(sudo_user: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut command = Command::new(SCRIM);
    command.args(args).env_remove("SUDO_USER");
    if let Some(user) = sudo_user {
        command.env("SUDO_USER", user);
    }
    let output = command.output().expect("run scrim");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The last hash `scrim audit verify` printed.
fn last_hash(said: &str) -> String {
    said.split("last hash ")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("no last hash: {said}"))
        .to_owned()
}

#[test]
fn the_audit_log_is_keyed_names_who_asked_and_shows_a_rebuilt_log_and_a_cut_off_tail() {
    let directory = scrim_testkit::keys::directory_with_master_key();
    let (policy, _, _) = archive_of_two_subjects(directory.path());
    let archive = directory.path().join("archive");
    write_archive(&archive, &[45]);
    let state = directory.path().join("state");
    let log = state.join("audit.jsonl");
    let policy_arg = policy.to_str().expect("utf-8");
    let state_arg = state.to_str().expect("utf-8");
    let exported = directory.path().join("subject.jsonl");
    let export = |requested_by: &[&'static str]| {
        let mut args = vec![
            "archive",
            "export",
            "--policy",
            policy_arg,
            "--state-dir",
            state_arg,
            "--tenant",
            "acme",
            "--subject",
            "uid=1000",
            "--to",
            exported.to_str().expect("utf-8"),
            "--reference",
            "DSR-2026-0042",
        ];
        args.extend(requested_by);
        args
    };

    // Who asked and under which request go into each entry: as given, or
    // the user sudo ran scrim for, or the user scrim runs as.
    let (ok, said) = scrim_as(
        None,
        &[
            "archive",
            "retention",
            "--policy",
            policy_arg,
            "--state-dir",
            state_arg,
            "--reference",
            "CHG-7",
        ],
    );
    assert!(ok && said.contains("removed "), "{said}");
    let (ok, said) = scrim_as(Some("root-for-alice"), &export(&["--requested-by", "Dana"]));
    assert!(ok, "{said}");
    let (ok, said) = scrim_as(
        Some("alice"),
        &[
            "archive",
            "erase",
            "--policy",
            policy_arg,
            "--state-dir",
            state_arg,
            "--tenant",
            "acme",
            "--subject",
            "uid=1000",
            "--reference",
            "DSR-2026-0042",
        ],
    );
    assert!(ok && said.contains("erased 6 rows"), "{said}");
    let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
        .expect("utf-8");
    let entries = audit_entries(&log);
    let asked: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default(),
                entry["details"]["requested_by"]
                    .as_str()
                    .unwrap_or_default(),
                entry["details"]["reference"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            ("retention.delete", user.trim(), "CHG-7"),
            ("archive.export", "Dana", "DSR-2026-0042"),
            ("archive.erase", "alice", "DSR-2026-0042"),
        ]
    );
    // An access or erasure request without its reference is refused, and
    // nothing is recorded.
    let mut unreferenced = export(&[]);
    unreferenced.truncate(unreferenced.len() - 2);
    let (ok, said) = scrim(&unreferenced);
    assert!(!ok && said.contains("--reference"), "{said}");
    assert_eq!(audit_entries(&log).len(), 3);

    // Every entry names the key that authenticates it, never the key.
    let master = std::fs::read(directory.path().join("master.key")).expect("key");
    let master_hex: String = master.iter().map(|byte| format!("{byte:02x}")).collect();
    for entry in &entries {
        assert_eq!(entry["key"].as_str().map(str::len), Some(16), "{entry}");
        assert_eq!(entry["mac"].as_str().map(str::len), Some(64), "{entry}");
    }
    assert!(
        !std::fs::read_to_string(&log)
            .expect("log")
            .contains(&master_hex)
    );

    // Verifying needs the key: the policy's, or the master key file.
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--state-dir", state_arg];
        args.extend(extra);
        scrim(&args)
    };
    let (ok, said) = verify(&[]);
    assert!(
        !ok && said.contains("line 1: authenticated by audit key"),
        "{said}"
    );
    assert!(said.contains("not among the keys given (none)"), "{said}");
    let key_file = directory.path().join("master.key");
    let key_arg = key_file.to_str().expect("utf-8");
    let (ok, said) = verify(&["--key", key_arg]);
    assert!(
        ok && said.contains("3 entries authenticated (lines 1 to 3)"),
        "{said}"
    );
    let (ok, said) = verify(&["--policy", policy_arg]);
    assert!(ok && said.contains("3 entries, chain intact"), "{said}");
    assert!(!said.contains("not authenticated"), "{said}");
    let kept = last_hash(&said);

    // A kept head: found with what came after it, or missing from a log
    // whose tail was cut off.
    let (ok, said) = scrim_as(Some("alice"), &export(&[]));
    assert!(ok, "{said}");
    let (ok, said) = verify(&["--policy", policy_arg, "--expect-head", &kept]);
    assert!(
        ok && said.contains(&format!(
            "the kept head {kept} is in the log, with 1 entry appended after it"
        )),
        "{said}"
    );
    let (_, said) = verify(&["--policy", policy_arg]);
    let head = last_hash(&said);
    let (ok, said) = verify(&["--policy", policy_arg, "--expect-head", &head]);
    assert!(ok && said.contains("is the last entry"), "{said}");
    let full = std::fs::read_to_string(&log).expect("log");
    let cut: String = full
        .lines()
        .take(3)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&log, &cut).expect("cut off the tail");
    let (ok, said) = verify(&["--policy", policy_arg]);
    assert!(ok, "a cut-off tail alone verifies: {said}");
    let (ok, said) = verify(&["--policy", policy_arg, "--expect-head", &head]);
    assert!(
        !ok && said.contains("is not in the log: entries were cut off"),
        "{said}"
    );
    std::fs::write(&log, &full).expect("restore");

    // Whoever can write the log but lacks the key rebuilds it from line 2
    // with scrim and a key of their own: verify fails at line 2.
    let forger = scrim_testkit::keys::directory_with_master_key();
    std::fs::write(forger.path().join("master.key"), [9u8; 32]).expect("another key");
    let (forged_policy, _, _) = archive_of_two_subjects(forger.path());
    std::fs::write(&log, full.lines().next().expect("line 1").to_owned() + "\n").expect("cut");
    let mut forged = vec![
        "archive",
        "export",
        "--policy",
        forged_policy.to_str().expect("utf-8"),
        "--state-dir",
        state_arg,
        "--tenant",
        "acme",
        "--subject",
        "uid=1000",
        "--reference",
        "DSR-2026-0042",
    ];
    let (ok, said) = scrim(&forged);
    assert!(ok, "{said}");
    let (ok, said) = verify(&["--policy", policy_arg]);
    assert!(
        !ok && said.contains("line 2: authenticated by audit key"),
        "a rebuilt log verified: {said}"
    );
    // Nor can it go on without a key (a policy without [keys]): refused,
    // the log untouched.
    let before = std::fs::read(&log).expect("log");
    let keyless = directory.path().join("keyless.toml");
    std::fs::write(
        &keyless,
        acme_policy(&archive, "", r#""event.name" = "keep""#),
    )
    .expect("policy");
    forged[3] = keyless.to_str().expect("utf-8");
    let (ok, said) = scrim(&forged);
    assert!(!ok && said.contains("is keyed"), "{said}");
    assert_eq!(std::fs::read(&log).expect("log"), before);
}

#[test]
fn a_log_from_before_keying_verifies_unauthenticated_and_goes_on_keyed() {
    let directory = scrim_testkit::keys::directory_with_master_key();
    let (policy, _, _) = archive_of_two_subjects(directory.path());
    let state = directory.path().join("state");
    std::fs::create_dir(&state).expect("state");
    let log = state.join("audit.jsonl");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../audit/testdata/before-keying.jsonl"),
        &log,
    )
    .expect("an old log");
    let state_arg = state.to_str().expect("utf-8");
    let policy_arg = policy.to_str().expect("utf-8");
    let (ok, said) = scrim(&["audit", "verify", "--state-dir", state_arg]);
    assert!(ok && said.contains("3 entries, chain intact"), "{said}");
    assert!(
        said.contains(
            "3 entries not authenticated (lines 1 to 3): written before the log was keyed"
        ),
        "{said}"
    );
    let (ok, said) = scrim(&[
        "archive",
        "erase",
        "--policy",
        policy_arg,
        "--state-dir",
        state_arg,
        "--tenant",
        "acme",
        "--subject",
        "uid=1000",
        "--reference",
        "DSR-2026-0042",
    ]);
    assert!(ok, "{said}");
    let (ok, said) = scrim(&[
        "audit",
        "verify",
        "--state-dir",
        state_arg,
        "--policy",
        policy_arg,
    ]);
    assert!(ok && said.contains("4 entries, chain intact"), "{said}");
    assert!(said.contains("1 entry authenticated (line 4)"), "{said}");
    assert!(
        said.contains("3 entries not authenticated (lines 1 to 3)"),
        "{said}"
    );
}
