//! Second collectors, for real. Two on one state directory would write
//! every row twice: the second is refused, naming the first, in this PID
//! namespace or another. One in another PID namespace sharing the archive
//! (with a state directory of its own) must not take the first one's open
//! files for a crash's leftovers: before the fix it removed them, since
//! their writer's pid was not in its `/proc`, and the first then counted
//! 601 rows exported of which none reached the disk.
use std::{
    thread,
    time::{Duration, Instant},
};

use scrim_testkit::{
    archive::{duckdb_or_skip, duckdb_query, files_with_suffix},
    cgroup::TestCgroup,
    gate,
};

use crate::common::{Collector, run_to_end, start_capturing};

const NEW_PID_NAMESPACE: [&str; 4] = ["unshare", "--pid", "--fork", "--mount-proc"];

#[test]
fn a_second_collector_on_the_same_state_directory_is_refused_naming_the_first() {
    let test = "a_second_collector_on_the_same_state_directory_is_refused_naming_the_first";
    let output = tempfile::tempdir().expect("archive");
    let Some(first) = start_capturing(test, Some(output.path()), &[]) else {
        return;
    };
    let state = first.state.path().to_str().expect("utf-8").to_owned();
    let pid = first.child.id().to_string();
    for wrapper in [&[][..], &NEW_PID_NAMESPACE[..]] {
        let second_output = tempfile::tempdir().expect("archive");
        let started = Instant::now();
        let (status, stderr) = run_to_end(
            wrapper,
            &[
                "--state-dir",
                &state,
                "--duration",
                "20s",
                "--output",
                second_output.path().to_str().expect("utf-8"),
            ],
        );
        assert!(
            !status.success(),
            "{wrapper:?}: a second collector ran:\n{stderr}"
        );
        assert!(
            stderr.contains("in use by another scrim") && stderr.contains(&pid),
            "{wrapper:?}: {stderr}"
        );
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(15),
            "{wrapper:?}: refused only after {took:?}"
        );
        assert!(
            files_with_suffix(second_output.path(), ".parquet")
                .expect("list")
                .is_empty()
        );
    }
    let (status, _) = first.stop();
    assert!(status.success());
}

#[test]
fn a_second_collector_in_another_pid_namespace_never_removes_the_first_ones_open_files() {
    let test =
        "a_second_collector_in_another_pid_namespace_never_removes_the_first_ones_open_files";
    if !gate::root_or_skip(test) || !duckdb_or_skip(test) {
        return;
    }
    let archive = tempfile::tempdir().expect("archive");
    // Files stay open (and hidden) for the whole run.
    let Some(mut first) = start_capturing(test, Some(archive.path()), &["--roll-interval", "10m"])
    else {
        return;
    };
    let workload = TestCgroup::create("second").expect("cgroup");
    for _ in 0..100 {
        workload.run(&["/bin/true"]).expect("run");
    }
    thread::sleep(Duration::from_millis(500));
    let open = files_with_suffix(archive.path(), ".tmp").expect("list");
    assert!(!open.is_empty(), "the first collector has no open file");

    // The second starts (its start-up clean-up runs) and captures a while.
    let mut second = Collector::start_wrapped(
        &NEW_PID_NAMESPACE,
        Some(archive.path()),
        &["--duration", "3s"],
        &[],
    );
    second
        .wait_for("capturing")
        .unwrap_or_else(|seen| panic!("the second collector did not start:\n{seen}"));
    for path in &open {
        assert!(
            path.exists(),
            "the second collector removed {}",
            path.display()
        );
    }
    let status = second.child.wait().expect("second collector");
    assert!(status.success());
    first.wait_for("events in").expect("still running");
    for _ in 0..50 {
        workload.run(&["/bin/true"]).expect("run");
    }
    let first_pid = first.child.id();
    let (status, _summary, tenants) = first.stop_with_tenants();
    assert!(status.success());
    let [received, exported, dropped, lost, _] = tenants["default"];
    assert_eq!(received, exported + dropped + lost);
    assert_eq!(lost, 0);
    // Every row the first counted exported is in its published files.
    let rows = duckdb_query(&format!(
        "SELECT count(*) FROM read_parquet('{}/**/part-*-{first_pid}-*.parquet')",
        archive.path().display()
    ))
    .expect("DuckDB");
    assert_eq!(rows[0][0].as_u64(), Some(exported));
    assert!(exported >= 450, "{exported}");
}
