//! Archives in object storage, end to end: real probes, a real cgroup as
//! the tenant, moto's S3 server on loopback, and boto3 and DuckDB as
//! independent readers. The bucket is unreachable for the whole first
//! run: its files wait in staging and the failure is counted; the next
//! run uploads them with its own.
mod common;

use std::{ffi::OsString, path::Path, thread, time::Duration};

use common::{policy_file, start_capturing_with_env, summary_numbers};
use scrim_testkit::{
    archive::{duckdb_or_skip, duckdb_query, files_with_suffix, python_module_or_skip},
    cgroup::TestCgroup,
    gate,
    s3_server::{S3Server, environment_for, free_port},
};

const BUCKET: &str = "scrim-e2e";

fn policy() -> String {
    format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[[tenant]]
name = "acme"
purpose = "testing archives in object storage"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/scrim-test-s3-{me}-*"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ parquet = {{ path = "s3://{BUCKET}/archive" }} }}]
[tenant.fields]
"time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"process.executable.name" = "keep"
"#,
        me = std::process::id()
    )
}

/// Runs scrim until `programs` have run in a fresh test cgroup; returns
/// the summary and what scrim said after it.
fn capture_run(
    test: &str,
    policy: &Path,
    state: &Path,
    port: u16,
    programs: usize,
) -> Option<(String, Vec<String>)> {
    let environment: Vec<(&str, OsString)> = environment_for(port)
        .into_iter()
        .map(|(name, value)| (name, OsString::from(value)))
        .collect();
    let environment: Vec<(&str, &std::ffi::OsStr)> = environment
        .iter()
        .map(|(name, value)| (*name, value.as_os_str()))
        .collect();
    let args = [
        "--policy",
        policy.to_str().expect("utf-8 path"),
        "--state-dir",
        state.to_str().expect("utf-8 path"),
    ];
    let collector = start_capturing_with_env(test, None, &args, &environment)?;
    let group = TestCgroup::create("s3").expect("cgroup");
    thread::sleep(Duration::from_millis(200));
    for _ in 0..programs {
        let (_, code) = group.run(&["/bin/true"]).expect("run");
        assert_eq!(code, Some(0));
    }
    thread::sleep(Duration::from_millis(300));
    let (status, summary, after) = collector.stop_with_log();
    assert!(status.success(), "{summary}");
    Some((summary, after))
}

/// The numbers of the tenant's uploads line: files, bytes, failed attempts.
fn uploads(after: &[String]) -> [u64; 3] {
    let line = after
        .iter()
        .find(|line| line.contains("tenant `acme` uploads:"))
        .unwrap_or_else(|| panic!("no uploads line in {after:#?}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|numbers| panic!("unexpected uploads line {line:?}: {numbers:?}"))
}

#[test]
fn archives_reach_object_storage_and_an_unreachable_bucket_loses_nothing() {
    let test = "archives_reach_object_storage_and_an_unreachable_bucket_loses_nothing";
    if !gate::root_or_skip(test)
        || !python_module_or_skip(test, "moto.server")
        || !duckdb_or_skip(test)
    {
        return;
    }
    let policy = policy_file(&policy());
    let policy = policy.path().join("policy.toml");
    let state = tempfile::tempdir().expect("state");
    let port = free_port().expect("a free port");

    // Nothing listens on the port: every file stays staged, and says so.
    let Some((summary, after)) = capture_run(test, &policy, state.path(), port, 3) else {
        return;
    };
    let first = summary_numbers(&summary);
    assert!(first.written >= 6, "{summary}");
    assert_eq!(first.lost, 0, "{summary}");
    let [files, _, failed] = uploads(&after);
    assert_eq!(files, 0, "{after:#?}");
    assert!(failed >= 1, "the failure is counted: {after:#?}");
    assert!(
        after.iter().any(|line| line.contains("upload failed")),
        "and reported: {after:#?}"
    );
    let staged = files_with_suffix(&state.path().join("uploads"), ".parquet").expect("staging");
    assert!(!staged.is_empty(), "the files wait in staging");

    // The bucket answers: the next run uploads what waited, and its own.
    let server = S3Server::start_on(port).expect("moto's S3 server");
    server.create_bucket(BUCKET).expect("bucket");
    let Some((summary, after)) = capture_run(test, &policy, state.path(), port, 3) else {
        return;
    };
    let second = summary_numbers(&summary);
    let [files, bytes, failed] = uploads(&after);
    assert_eq!(failed, 0, "{after:#?}");
    assert!(files > staged.len() as u64 && bytes > 0, "{after:#?}");
    assert!(
        files_with_suffix(&state.path().join("uploads"), ".parquet")
            .expect("staging")
            .is_empty(),
        "nothing is left in staging"
    );

    // boto3 fetches every object; DuckDB reads every row of both runs.
    let keys = server.list(BUCKET).expect("list");
    assert_eq!(keys.len() as u64, files, "{keys:?}");
    assert!(
        keys.iter().all(
            |(key, _)| key.starts_with("archive/tenant=acme/kind=process/date=")
                && key.ends_with(".parquet")
        ),
        "{keys:?}"
    );
    let fetched = tempfile::tempdir().expect("tempdir");
    server
        .download_all(BUCKET, fetched.path())
        .expect("download");
    let rows = duckdb_query(&format!(
        "SELECT count(*), count(*) FILTER (WHERE \"event.name\" = 'process.exec') \
         FROM read_parquet('{}/**/*.parquet', hive_partitioning = true) WHERE tenant = 'acme'",
        fetched.path().display()
    ))
    .expect("DuckDB reads the bucket's files");
    assert_eq!(
        rows[0][0],
        serde_json::json!(first.written + second.written),
        "every row of both runs: {rows:?}"
    );
    assert!(
        rows[0][1].as_u64().is_some_and(|execs| execs >= 6),
        "{rows:?}"
    );
}
