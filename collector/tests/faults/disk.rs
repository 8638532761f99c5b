//! A full archive disk, for real: a tmpfs of 4 MiB filled but for a few
//! KiB while a process storm runs, then freed again. What the collector
//! counts as exported must be exactly what an independent reader (DuckDB)
//! finds in published files; every other row is lost and counted as a sink
//! error; `received = exported + dropped + lost` holds exactly; once space
//! is back the collector publishes again without a restart; and the run
//! says it lost data (a non-zero exit), never an exit 0.
use std::{fs, path::Path, thread, time::Duration};

use scrim_testkit::{
    archive::{duckdb_or_skip, duckdb_query},
    cgroup::TestCgroup,
    gate,
    tmpfs::Tmpfs,
};

use crate::common::{policy_file, start_with_policy_and, summary_numbers};

/// One tenant, the test's storm cgroups, every row as wide as a long
/// command line makes it.
fn storm_policy(archive: &Path, sink: &str) -> String {
    // Each test's own cgroups: the two tests run side by side.
    format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[[tenant]]
name = "storm"
purpose = "testing a full disk"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["/scrim-test-storm-{sink}-{}-*"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ {sink} = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"process.executable.path" = "keep"
"process.command_args" = "keep"
"#,
        std::process::id(),
        archive.display()
    )
}

/// `sql`'s single number.
fn count(sql: &str) -> u64 {
    let rows = duckdb_query(sql).unwrap_or_else(|error| panic!("{error}"));
    rows[0][0]
        .as_u64()
        .unwrap_or_else(|| panic!("not a count: {rows:?}"))
}

fn full_disk(test: &str, sink: &str, reader: &str) {
    if !gate::root_or_skip(test) || !duckdb_or_skip(test) {
        return;
    }
    let disk = Tmpfs::mount(4 << 20).expect("mount a tmpfs");
    let archive = disk.path().join("archive");
    let policy = policy_file(&storm_policy(&archive, sink));
    let Some(collector) = start_with_policy_and(test, &policy, None, &["--roll-interval", "1s"])
    else {
        return;
    };
    let filler = disk.fill_leaving(8 << 10).expect("fill the disk");
    let storm = TestCgroup::create(&format!("storm-{sink}")).expect("cgroup");
    let wide = "w".repeat(400);
    storm
        .run(&[
            "/bin/sh",
            "-c",
            &format!("for i in $(seq 1500); do /bin/true {wide} $i; done"),
        ])
        .expect("storm");
    // Files roll every second: let some fail on the full disk.
    thread::sleep(Duration::from_millis(2500));
    // Space again: what comes next is published, with no restart.
    fs::remove_file(&filler).expect("free the disk");
    storm
        .run(&[
            "/bin/sh",
            "-c",
            "for i in $(seq 200); do /bin/sleep 0; done",
        ])
        .expect("after the storm");
    thread::sleep(Duration::from_millis(2500));
    let (status, summary, tenants, log) = collector.stop_with_everything();

    let [received, exported, dropped, lost, _] = tenants["storm"];
    eprintln!(
        "{sink} on a full disk: {received} received = {exported} exported + {dropped} dropped + \
         {lost} lost"
    );
    assert_eq!(received, exported + dropped + lost, "{summary}");
    assert!(lost > 0, "the full disk lost nothing? {summary}");
    let numbers = summary_numbers(&summary);
    assert!(numbers.sink_errors > 0, "{summary}");
    assert_eq!(numbers.exported, exported, "{summary}");
    // Exactly the rows counted exported are in published files.
    let glob = format!("{}/**/*.{}", archive.display(), sink_extension(sink));
    assert_eq!(
        count(&format!("SELECT count(*) FROM {reader}('{glob}')")),
        exported,
        "{summary}"
    );
    // After the space came back, every process of the second wave is there.
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM {reader}('{glob}') WHERE \"event.name\" = 'process.exec' \
             AND \"process.executable.path\" LIKE '%sleep'"
        )),
        200,
        "{summary}"
    );
    // No unfinished file is left, and the log did not flood.
    let leftovers = scrim_testkit::archive::files_with_suffix(&archive, ".tmp").expect("list");
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let errors = log.iter().filter(|line| line.contains("error:")).count();
    assert!(errors < 30, "{errors} error lines:\n{}", log.join("\n"));
    // Data was lost: the run says so in its exit status.
    assert!(!status.success(), "exit 0 after losing {lost} events");
}

fn sink_extension(sink: &str) -> &'static str {
    if sink == "jsonl" { "jsonl" } else { "parquet" }
}

/// JSON lines are flushed as they are written: the disk fills mid-file.
#[test]
fn a_disk_full_mid_file_loses_the_file_counted_and_recovers_without_a_restart() {
    full_disk(
        "a_disk_full_mid_file_loses_the_file_counted_and_recovers_without_a_restart",
        "jsonl",
        "read_json_auto",
    );
}

/// Parquet holds a row group in memory: the disk fills when the file is
/// completed and published.
#[test]
fn a_disk_full_at_publish_loses_the_file_counted_and_recovers_without_a_restart() {
    full_disk(
        "a_disk_full_at_publish_loses_the_file_counted_and_recovers_without_a_restart",
        "parquet",
        "read_parquet",
    );
}
