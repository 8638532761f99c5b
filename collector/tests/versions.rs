//! Erasure over every policy version and every key that wrote an archive:
//! a real `scrim run` keeps a uid as captured, then pseudonymises it (a
//! reload), then does so under a replaced master key (another reload);
//! `scrim archive erase` then finds the subject's rows in all three
//! shapes, and leaves every other subject's rows as they were.
mod common;

use std::{
    collections::BTreeSet,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::Path,
    process::Command,
    sync::Arc,
    thread,
    time::Duration,
};

use common::{SCRIM, policy_file, start_with_policy_and};
use scrim_redaction::{MasterKey, Pseudonymizer};
use scrim_testkit::{
    archive::{Row, duckdb_or_skip, duckdb_query, parquet_rows},
    cgroup::TestCgroup,
};

const UID: &str = "process.real_user.id";
const NOBODY: i64 = 65534;

fn policy(glob: &str, uid_rule: &str) -> String {
    format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[keys]
master_key_file = "master.key"
rotation = "30d"
[[tenant]]
name = "e2e"
purpose = "testing scrim"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["{glob}"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ parquet = {{ path = "unused" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"{UID}" = "{uid_rule}"
"#
    )
}

/// A process of root's and one of nobody's in `tenant`'s cgroup.
fn workloads(tenant: &TestCgroup) {
    thread::sleep(Duration::from_millis(300));
    let (_, code) = tenant.run(&["/bin/true"]).expect("run as root");
    assert_eq!(code, Some(0));
    let (_, code) = tenant
        .run(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/true",
        ])
        .expect("run as nobody");
    assert_eq!(code, Some(0));
    thread::sleep(Duration::from_millis(300));
}

/// The pseudonym `uid` has for tenant `e2e` now under the key of `byte`s.
fn pseudonym(byte: u8, uid: i64) -> String {
    let key = Arc::new(MasterKey::from_bytes(vec![byte; 32]).expect("key"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i64;
    Pseudonymizer::new(key, "e2e", Duration::from_secs(30 * 86_400))
        .pseudonymize_int(UID, uid, now)
        .as_str()
        .to_owned()
}

fn write_key(directory: &Path, byte: u8) {
    let key = directory.join("master.key");
    std::fs::write(&key, [byte; 32]).expect("write the key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Rows whose uid is one of `values`.
fn with_uid<'a>(rows: &'a [Row], values: &[String]) -> Vec<&'a Row> {
    rows.iter()
        .filter(|row| row.get(UID).is_some_and(|uid| values.contains(uid)))
        .collect()
}

fn reload(collector: &mut common::Collector, until: &str) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(collector.child.id() as i32, libc::SIGHUP) };
    collector
        .wait_for(until)
        .unwrap_or_else(|seen| panic!("no reload reported:\n{seen}"));
    thread::sleep(Duration::from_millis(500));
}

#[test]
fn erasure_finds_rows_of_every_policy_version_and_every_key_and_keeps_the_rest() {
    let test = "erasure_finds_rows_of_every_policy_version_and_every_key_and_keeps_the_rest";
    let glob = format!("/scrim-test-e2e-versions-{}-*", std::process::id());
    let policies = policy_file(&policy(&glob, "keep"));
    let policy_path = policies.path().join("policy.toml");
    let output = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("state directory");
    let state_arg = state.path().to_str().expect("utf-8 path");
    let Some(mut collector) = start_with_policy_and(
        test,
        &policies,
        Some(output.path()),
        &["--state-dir", state_arg],
    ) else {
        return;
    };
    let tenant = TestCgroup::create("e2e-versions").expect("create a cgroup");
    // Version 1: uids as captured, under key 7.
    workloads(&tenant);
    // Version 2: uids pseudonymised, still under key 7.
    std::fs::write(&policy_path, policy(&glob, "pseudonymize")).expect("policy v2");
    reload(&mut collector, "scrim: policy ");
    workloads(&tenant);
    // Version 3: the same text, the key replaced by key 8.
    write_key(policies.path(), 8);
    reload(&mut collector, "kept wrapped under the new key");
    workloads(&tenant);
    let (status, summary) = collector.stop();
    assert!(status.success(), "{summary}");

    let rows = parquet_rows(output.path()).expect("read the archive");
    let hashes: BTreeSet<&String> = rows.iter().map(|row| &row["scrim.policy.hash"]).collect();
    assert_eq!(
        hashes.len(),
        3,
        "a hash per version, the key's too: {hashes:?}"
    );
    let root = ["0".to_owned(), pseudonym(7, 0), pseudonym(8, 0)];
    let nobody = [
        NOBODY.to_string(),
        pseudonym(7, NOBODY),
        pseudonym(8, NOBODY),
    ];
    for (shape, name) in root
        .iter()
        .zip(["as captured", "under key 7", "under key 8"])
    {
        assert!(
            !with_uid(&rows, std::slice::from_ref(shape)).is_empty(),
            "root's rows {name}: {rows:#?}"
        );
    }
    let theirs = with_uid(&rows, &root).len();
    let others: Vec<Row> = rows
        .iter()
        .filter(|row| row.get(UID).is_none_or(|uid| !root.contains(uid)))
        .cloned()
        .collect();
    assert!(!with_uid(&others, &nobody).is_empty());

    // The key change is in the audit log, as a change of key alone.
    let log = std::fs::read_to_string(state.path().join("audit.jsonl")).expect("audit log");
    let loads: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("an entry"))
        .filter(|entry| entry["action"] == "policy.load")
        .collect();
    assert_eq!(loads.len(), 3, "{log}");
    let fingerprint = |entry: &serde_json::Value| {
        entry["details"]["master_key_fingerprint"]
            .as_str()
            .expect("a fingerprint")
            .to_owned()
    };
    let (old, new) = (fingerprint(&loads[1]), fingerprint(&loads[2]));
    assert_eq!(fingerprint(&loads[0]), old);
    assert_ne!(old, new);
    assert_eq!(loads[1]["details"]["change"], "policy", "{log}");
    assert_eq!(loads[2]["details"]["change"], "master key only", "{log}");
    assert_eq!(
        loads[2]["details"]["replaced_master_key"]["fingerprint"],
        old
    );
    assert_eq!(loads[2]["details"]["replaced_master_key"]["kept"], true);

    // Each version is kept; no key material in any; the replaced key is
    // kept private, wrapped.
    let versions = std::fs::read_dir(state.path().join("policies"))
        .expect("kept versions")
        .count();
    assert_eq!(versions, 3);
    let kept = state.path().join("keys").join(&old);
    assert_eq!(
        std::fs::metadata(&kept).expect("kept key").mode() & 0o077,
        0
    );
    for file in std::fs::read_dir(state.path().join("policies"))
        .expect("versions")
        .map(|entry| entry.expect("entry").path())
        .chain([kept])
    {
        let bytes = std::fs::read(&file).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        for byte in [7u8, 8] {
            assert!(!bytes.windows(32).any(|window| window == [byte; 32]));
            assert!(!text.contains(&format!("{byte:02x}").repeat(32)), "{text}");
        }
    }

    // Erasure under the current policy finds all three shapes.
    let erase = Command::new(SCRIM)
        .args(["archive", "erase", "--policy"])
        .arg(&policy_path)
        .arg("--output")
        .arg(output.path())
        .args([
            "--state-dir",
            state_arg,
            "--tenant",
            "e2e",
            "--subject",
            "uid=0",
            "--reference",
            "DSR-1",
        ])
        .output()
        .expect("run scrim archive erase");
    let said = String::from_utf8_lossy(&erase.stderr);
    assert!(erase.status.success(), "{said}");
    assert!(said.contains(&format!("erased {theirs} rows")), "{said}");
    let after = parquet_rows(output.path()).expect("every file still reads");
    assert!(with_uid(&after, &root).is_empty(), "{after:#?}");
    assert_eq!(after.len(), others.len());
    for row in &after {
        assert!(others.contains(row), "{row:?} changed");
    }
    if duckdb_or_skip(test) {
        let counted = duckdb_query(&format!(
            "SELECT count(*) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true, \
             union_by_name = true)",
            output.path().display()
        ))
        .expect("DuckDB query");
        assert_eq!(counted, [vec![serde_json::json!(others.len())]]);
    }
}
