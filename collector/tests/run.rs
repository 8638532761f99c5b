//! `scrim run` end to end: the real binary, real probes, a child process in a
//! fresh cgroup, and the archive read back by the `parquet` crate and DuckDB.
mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use common::{
    SCRIM, entry_names, policy_file, policy_hash, start_capturing, start_capturing_with_env,
    start_with_policy, start_with_policy_and, summary_numbers, two_sinks,
};

use scrim_testkit::{
    archive::{Row, duckdb_or_skip, duckdb_query, files_with_suffix, json_lines, parquet_rows},
    cgroup::TestCgroup,
    gate,
};

fn rows_of(rows: &[Row], pid: u32, event_name: &str) -> Vec<Row> {
    rows.iter()
        .filter(|row| row["process.pid"] == pid.to_string() && row["event.name"] == event_name)
        .cloned()
        .collect()
}

#[test]
fn archives_fork_exec_and_exit_of_a_process_in_a_fresh_cgroup_and_flushes_on_sigterm() {
    let test = "archives_fork_exec_and_exit_of_a_process_in_a_fresh_cgroup_and_flushes_on_sigterm";
    let output = tempfile::tempdir().expect("tempdir");
    let Some(collector) = start_capturing(test, Some(output.path()), &[]) else {
        return;
    };
    let tenant = TestCgroup::create("e2e").expect("create a cgroup");
    let marker = format!("scrim-e2e-password={}", std::process::id());
    let (pid, code) = tenant
        .run(&["/bin/sh", "-c", "exit 5", "sh", &marker])
        .expect("run the workload");
    assert_eq!(code, Some(5));
    // Let the ring buffer be read before stopping.
    thread::sleep(Duration::from_millis(500));

    let (status, summary) = collector.stop();
    assert!(status.success(), "scrim exited with {status}");
    let numbers = summary_numbers(&summary);
    assert_eq!(numbers.lost, 0, "{summary}");
    assert!(numbers.events_in >= 3, "{summary}");
    assert_eq!(
        numbers.events_in,
        numbers.exported + numbers.dropped_by_policy + numbers.sink_errors,
        "{summary}"
    );
    assert_eq!(numbers.written, numbers.exported, "one archive: {summary}");

    assert!(
        files_with_suffix(output.path(), ".tmp")
            .expect("list")
            .is_empty()
    );
    let rows = parquet_rows(output.path()).expect("read the archive");
    let fork = rows_of(&rows, pid, "process.fork");
    let exec = rows_of(&rows, pid, "process.exec");
    let exit = rows_of(&rows, pid, "process.exit");
    assert_eq!((fork.len(), exec.len(), exit.len()), (1, 1, 1), "{rows:#?}");
    let me = std::process::id().to_string();
    assert_eq!(fork[0]["process.parent_pid"], me);
    assert_eq!(exec[0]["process.parent_pid"], me);
    assert_eq!(exec[0]["process.executable.path"], "/bin/sh");
    assert_eq!(exec[0]["scrim.cgroup.id"], tenant.id().to_string());
    assert_eq!(exit[0]["scrim.cgroup.id"], tenant.id().to_string());
    assert_eq!(exit[0]["process.exit.code"], "5");
    // The built-in default keeps arguments in the kernel: no rule names
    // them, so there is no column, and every row names the policy.
    assert!(!exec[0].contains_key("process.command_args"), "{exec:?}");
    let default_hash = blake3::hash(scrim_policies::DEFAULT_POLICY.as_bytes())
        .to_hex()
        .to_string();
    assert!(
        rows.iter()
            .all(|row| row["scrim.policy.hash"] == default_hash)
    );
    assert!(
        rows.iter()
            .all(|row| row.values().all(|value| !value.contains(&marker))),
        "an argument reached the archive"
    );

    if duckdb_or_skip(test) {
        let found = duckdb_query(&format!(
            "SELECT \"event.name\", \"process.exit.code\", \"scrim.cgroup.id\" \
             FROM read_parquet('{}/**/*.parquet', hive_partitioning = true) \
             WHERE \"process.pid\" = {pid} AND tenant = 'default' AND kind = 'process' \
             ORDER BY time",
            output.path().display()
        ))
        .expect("DuckDB query");
        let id = serde_json::json!(tenant.id());
        assert_eq!(
            found,
            [
                vec![
                    "process.fork".into(),
                    serde_json::Value::Null,
                    found[0][2].clone()
                ],
                vec!["process.exec".into(), serde_json::Value::Null, id.clone()],
                vec!["process.exit".into(), serde_json::json!(5), id],
            ]
        );
    }
}

#[test]
fn writes_json_lines_when_asked() {
    let test = "writes_json_lines_when_asked";
    let output = tempfile::tempdir().expect("tempdir");
    let Some(collector) = start_capturing(test, Some(output.path()), &["--format", "jsonl"]) else {
        return;
    };
    let mut workload = Command::new("/bin/true").spawn().expect("spawn /bin/true");
    let pid = workload.id();
    workload.wait().expect("wait");
    thread::sleep(Duration::from_millis(500));
    let (status, _) = collector.stop();
    assert!(status.success());

    let lines = json_lines(output.path()).expect("one JSON object per line");
    let exec = lines
        .iter()
        .find(|line| line["process.pid"] == pid && line["event.name"] == "process.exec")
        .unwrap_or_else(|| panic!("no exec line for {pid}"));
    assert_eq!(exec["process.executable.path"], "/bin/true");
}

#[test]
fn says_what_to_do_without_privileges() {
    let test = "says_what_to_do_without_privileges";
    if !gate::root_or_skip(test) {
        return;
    }
    let output = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        output.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("let nobody write the archive");
    // As `nobody`, with no capabilities at all.
    let result = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg("--")
        .arg(SCRIM)
        .args(["run", "--duration", "1s", "--output"])
        .arg(output.path().join("archive"))
        .output();
    let Some(result) = gate::or_skip(test, result.map_err(|error| format!("setpriv: {error}")))
    else {
        return;
    };
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("run scrim as root"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line, got: {stderr}");
}

/// One tenant for the test's own cgroups (placed as they are created),
/// everything else dropped in the kernel.
fn test_tenant_policy(cgroup_glob: &str, capture: &str, rules: &str) -> String {
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
match = {{ cgroup_path = ["{cgroup_glob}"] }}
capture = [{capture}]
retention = {{ process = "1d", network = "1d", syscall = "1d" }}
sinks = [{{ parquet = {{ path = "unused" }} }}]
[tenant.fields]
{rules}
"#
    )
}

#[test]
fn a_policy_selects_its_tenant_captures_syscalls_and_connections_and_transforms_fields() {
    let test =
        "a_policy_selects_its_tenant_captures_syscalls_and_connections_and_transforms_fields";
    let output = tempfile::tempdir().expect("tempdir");
    let policy = policy_file(&test_tenant_policy(
        &format!("/scrim-test-e2e-kinds-{}-*", std::process::id()),
        r#""process", "network", "syscall:openat""#,
        r#""time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"process.real_user.id" = "pseudonymize"
"scrim.cgroup.id" = "keep"
"scrim.syscall.name" = "keep"
"scrim.syscall.return_value" = "keep"
"file.path" = "keep"
"network.peer.address" = { truncate = { ipv4 = 24, ipv6 = 48 } }
"network.peer.port" = "keep"
"scrim.network.bytes_sent" = "keep""#,
    ));
    let policy_path = policy.path().join("policy.toml");
    let Some(collector) = start_capturing(
        test,
        Some(output.path()),
        &["--policy", policy_path.to_str().expect("utf-8 path")],
    ) else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let port = listener.local_addr().expect("address").port();
    let serving = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        std::io::copy(&mut stream, &mut std::io::sink()).expect("read until closed")
    });
    let tenant = TestCgroup::create("e2e-kinds").expect("create a cgroup");
    // The kernel announces the new cgroup at once; give scrim a moment to
    // place it (the README's "gap").
    thread::sleep(Duration::from_millis(200));
    let marker = format!("/nonexistent-scrim-e2e-{}", std::process::id());
    // bash opens the missing marker, then sends 5 bytes to the loopback
    // server over /dev/tcp.
    let script = format!(
        "exec 3<{marker} 2>/dev/null; exec 4<>/dev/tcp/127.0.0.1/{port} && printf hello >&4; exec 4>&-; true"
    );
    let (pid, code) = tenant
        .run(&["/bin/bash", "-c", &script])
        .expect("run the workload");
    assert_eq!(code, Some(0));
    assert_eq!(serving.join().expect("server"), 5);
    thread::sleep(Duration::from_millis(300));
    let (status, summary) = collector.stop();
    assert!(status.success());
    let common::SummaryNumbers {
        opted_out,
        unknown_cgroup,
        ..
    } = summary_numbers(&summary);
    assert_eq!(opted_out, 0, "{summary}");
    assert!(
        unknown_cgroup > 0,
        "the rest of the node is dropped in the kernel: {summary}"
    );

    // Only this tenant's directory: unclaimed cgroups never left the kernel.
    assert_eq!(entry_names(output.path()), ["tenant=e2e"]);
    let rows = parquet_rows(output.path()).expect("read the archive");
    assert!(
        rows.iter()
            .all(|row| row["scrim.cgroup.id"] == tenant.id().to_string())
    );
    // `scrim keys pseudonym` finds the pseudonym of this test's uid (the
    // rotation is 30 days: the run and the lookup share an epoch).
    let lookup = Command::new(SCRIM)
        .args(["keys", "pseudonym", "--policy"])
        .arg(&policy_path)
        .args([
            "--tenant",
            "e2e",
            "--field",
            "process.real_user.id",
            "--value",
        ])
        // SAFETY: getuid(2) cannot fail.
        .arg(unsafe { libc::getuid() }.to_string())
        .output()
        .expect("run scrim keys pseudonym");
    let pseudonym = String::from_utf8_lossy(&lookup.stdout).trim().to_owned();
    assert!(pseudonym.starts_with("p1_"), "{lookup:?}");
    assert!(
        rows.iter()
            .all(|row| row["process.real_user.id"] == pseudonym),
        "{pseudonym} vs {rows:#?}"
    );
    assert!(
        rows.iter()
            .all(|row| !row.contains_key("process.executable.name"))
    );

    if !duckdb_or_skip(test) {
        return;
    }
    let root = output.path().display();
    let opens = duckdb_query(&format!(
        "SELECT \"scrim.syscall.name\", \"scrim.syscall.return_value\" \
         FROM read_parquet('{root}/tenant=e2e/kind=syscall/*/*/*.parquet') \
         WHERE \"process.pid\" = {pid} AND \"file.path\" = '{marker}'"
    ))
    .expect("DuckDB query");
    assert_eq!(
        opens,
        [vec![
            serde_json::json!("openat"),
            serde_json::json!(-i64::from(libc::ENOENT)),
        ]]
    );
    let connections = duckdb_query(&format!(
        "SELECT \"event.name\", \"network.peer.address\", \"network.peer.port\", \
         \"scrim.network.bytes_sent\" \
         FROM read_parquet('{root}/tenant=e2e/kind=network/*/*/*.parquet') \
         WHERE \"process.pid\" = {pid} ORDER BY time"
    ))
    .expect("DuckDB query");
    assert_eq!(
        connections,
        [
            vec![
                serde_json::json!("network.connect"),
                serde_json::json!("127.0.0.0"),
                serde_json::json!(port),
                serde_json::Value::Null
            ],
            vec![
                serde_json::json!("network.close"),
                serde_json::json!("127.0.0.0"),
                serde_json::json!(port),
                serde_json::json!(5)
            ],
        ]
    );
}

#[test]
fn a_bad_policy_never_starts_a_collector() {
    let output = tempfile::tempdir().expect("tempdir");
    let policy = policy_file("version = 1\n[[tenant]]\nname = \"x\"\npurpse = \"typo\"\n");
    let path = policy.path().join("policy.toml");
    let result = Command::new(SCRIM)
        .args(["run", "--duration", "1s", "--policy"])
        .arg(&path)
        .arg("--output")
        .arg(output.path())
        .output()
        .expect("run scrim");
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains(&format!("{}:4:1:", path.display()))
            && stderr.contains("did you mean `purpose`?"),
        "{stderr}"
    );
    assert!(!stderr.contains("capturing"), "{stderr}");
}

#[test]
fn reloads_a_changed_policy_and_keeps_the_running_one_when_the_new_one_is_bad() {
    let test = "reloads_a_changed_policy_and_keeps_the_running_one_when_the_new_one_is_bad";
    let output = tempfile::tempdir().expect("tempdir");
    let glob = format!("/scrim-test-e2e-reload-{}-*", std::process::id());
    let first = test_tenant_policy(&glob, r#""process""#, r#""event.name" = "keep""#);
    let policy = policy_file(&first);
    let policy_path = policy.path().join("policy.toml");
    let state = tempfile::tempdir().expect("state directory");
    let Some(mut collector) = start_with_policy_and(
        test,
        &policy,
        Some(output.path()),
        &["--state-dir", state.path().to_str().expect("utf-8 path")],
    ) else {
        return;
    };
    // A broken file is refused and reported; the running policy stays.
    std::fs::write(&policy_path, first.replace("version = 1", "version = 7"))
        .expect("break the policy");
    collector
        .wait_for("policy reload failed")
        .unwrap_or_else(|seen| panic!("no reload failure reported:\n{seen}"));
    let tenant = TestCgroup::create("e2e-reload").expect("create a cgroup");
    thread::sleep(Duration::from_millis(200));
    tenant.run(&["/bin/true"]).expect("run");
    // Capabilities: only what attaching syscall hooks needs is left.
    let status = std::fs::read_to_string(format!("/proc/{}/status", collector.child.id()))
        .expect("scrim's status");
    let mask = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    };
    const CAP_PERFMON: u64 = 1 << 38;
    const CAP_BPF: u64 = 1 << 39;
    for field in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(mask(field), CAP_BPF | CAP_PERFMON, "{field} in {status}");
    }
    // A good one is put in force on SIGHUP (and on the file change). It
    // captures syscalls too, so the syscall hooks attach now, with the
    // capabilities left.
    let second = test_tenant_policy(
        &glob,
        r#""process", "syscall:openat""#,
        r#""event.name" = "keep"
"process.pid" = "keep""#,
    );
    std::fs::write(&policy_path, &second).expect("fix the policy");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(collector.child.id() as i32, libc::SIGHUP) };
    collector
        .wait_for("scrim: policy ")
        .unwrap_or_else(|seen| panic!("no reload reported:\n{seen}"));
    thread::sleep(Duration::from_millis(1500));
    let (after, _) = tenant.run(&["/bin/true"]).expect("run");
    thread::sleep(Duration::from_millis(300));
    let (status, summary) = collector.stop();
    assert!(status.success());
    let numbers = summary_numbers(&summary);
    assert_eq!(numbers.failed_reloads, 1, "one failed reload: {summary}");

    let second_hash = policy_hash(policy.path(), &second);
    let first_hash = policy_hash(policy.path(), &first);
    let rows = parquet_rows(output.path()).expect("read the archive");
    let under = |hash: &str| -> Vec<&scrim_testkit::archive::Row> {
        rows.iter()
            .filter(|row| row["scrim.policy.hash"] == hash)
            .collect()
    };
    // Before the reload: no pid column, under the first policy.
    assert!(!under(&first_hash).is_empty(), "{rows:#?}");
    assert!(
        under(&first_hash)
            .iter()
            .all(|row| !row.contains_key("process.pid"))
    );
    // After: the pid is kept, under the second policy's hash, and the
    // newly wanted syscalls arrive.
    assert!(
        under(&second_hash)
            .iter()
            .any(|row| row["event.name"] == "syscall"
                && row.get("process.pid") == Some(&after.to_string())),
        "no openat of {after} after the reload: {rows:#?}"
    );
    assert!(
        under(&second_hash)
            .iter()
            .any(|row| row.get("process.pid") == Some(&after.to_string())),
        "{rows:#?}"
    );
    // Each policy put in force is in the audit log, whose chain verifies;
    // the refused one is not.
    let log = std::fs::read_to_string(state.path().join("audit.jsonl")).expect("audit log");
    let loads: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("\"policy.load\""))
        .collect();
    assert_eq!(loads.len(), 2, "{log}");
    assert!(loads[0].contains(&first_hash) && loads[1].contains(&second_hash));
    // Keyed under the policy's master key: verified with it.
    let verified = Command::new(SCRIM)
        .args(["audit", "verify", "--policy"])
        .arg(&policy_path)
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .expect("run scrim audit verify");
    let said = String::from_utf8_lossy(&verified.stdout).into_owned()
        + &String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(said.contains("chain intact"), "{said}");
}

#[test]
fn tenants_are_isolated_and_an_opted_out_cgroup_never_leaves_the_kernel() {
    let test = "tenants_are_isolated_and_an_opted_out_cgroup_never_leaves_the_kernel";
    let (sinks, sink_a, sink_b) = two_sinks("a", "b");
    // Others may look in: the tenants' own directories are what keeps them out.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(sinks.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let me = std::process::id();
    let tenant = |name: &str, sink: &Path| {
        let group = if name == "a" { GROUP_A } else { GROUP_B };
        format!(
            r#"[[tenant]]
name = "{name}"
purpose = "testing isolation"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["/scrim-test-iso-{name}-{me}-*"] }}
capture = ["process"]
retention = {{ process = "1d" }}
archive_group = {group}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"scrim.cgroup.id" = "keep"
"process.real_user.id" = "pseudonymize"
"#,
            sink.display()
        )
    };
    let policy = policy_file(&format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[keys]
master_key_file = "master.key"
rotation = "30d"
[[opt_out]]
cgroup_path = ["/scrim-test-iso-out-{me}-*"]
{}
{}"#,
        tenant("a", &sink_a),
        tenant("b", &sink_b)
    ));
    let Some(collector) = start_with_policy(test, &policy) else {
        return;
    };
    let groups = [
        TestCgroup::create("iso-a").expect("cgroup a"),
        TestCgroup::create("iso-b").expect("cgroup b"),
        TestCgroup::create("iso-out").expect("opted-out cgroup"),
    ];
    thread::sleep(Duration::from_millis(200));
    // The same workload, by the same user, in each.
    let mut pids = Vec::new();
    for group in &groups {
        for _ in 0..5 {
            pids.push(group.run(&["/bin/true"]).expect("run").0);
        }
    }
    thread::sleep(Duration::from_millis(300));
    // The metrics endpoint shows the same, by tenant and reason.
    let metrics = collector.scrape_metrics();
    let value = |series: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    assert!(value(r#"scrim_tenant_events_total{tenant="a",outcome="received"}"#) >= 10);
    // Exported only once their file is published (at stop, here).
    assert!(value(r#"scrim_tenant_events_total{tenant="b",outcome="received"}"#) >= 10);
    assert!(value(r#"scrim_kernel_filtered_total{reason="opted_out"}"#) >= 10);
    assert_eq!(value("scrim_cgroup_placements_failed_total"), 0);
    let policy_text = std::fs::read_to_string(policy.path().join("policy.toml")).expect("policy");
    let hash = policy_hash(policy.path(), &policy_text);
    assert_eq!(value(&format!(r#"scrim_policy_info{{hash="{hash}"}}"#)), 1);
    let (status, summary, tenants) = collector.stop_with_tenants();
    assert!(status.success());
    // Every event a tenant received was exported, dropped or lost.
    for (name, [received, exported, dropped, lost, _]) in &tenants {
        assert_eq!(*received, exported + dropped + lost, "tenant {name}");
        assert_eq!(*lost, 0, "tenant {name}");
    }
    assert_eq!(tenants.keys().collect::<Vec<_>>(), ["a", "b"]);
    let numbers = summary_numbers(&summary);
    let opted_out = numbers.opted_out;
    assert!(
        opted_out >= 10,
        "the opted-out cgroup's execs and exits are dropped in the kernel and counted: {summary}"
    );

    let rows_a = parquet_rows(&sink_a).expect("tenant a's archive");
    let rows_b = parquet_rows(&sink_b).expect("tenant b's archive");
    let ids = groups.each_ref().map(|group| group.id().to_string());
    for (rows, own, other) in [(&rows_a, &ids[0], &ids[1]), (&rows_b, &ids[1], &ids[0])] {
        assert!(rows.len() >= 10, "5 execs and 5 exits each: {rows:#?}");
        assert!(
            rows.iter().all(|row| row["scrim.cgroup.id"] == *own),
            "{rows:#?}"
        );
        assert!(rows.iter().all(|row| row["scrim.cgroup.id"] != *other));
        assert!(rows.iter().all(|row| row["scrim.cgroup.id"] != ids[2]));
    }
    // Each sink holds its own tenant's partition only.
    for (sink, name) in [(&sink_a, "tenant=a"), (&sink_b, "tenant=b")] {
        assert_eq!(entry_names(sink), [name]);
    }
    // One uid, two tenants: two unrelated pseudonyms, stable within each.
    let pseudonyms = |rows: &[scrim_testkit::archive::Row]| {
        let mut seen: Vec<String> = rows
            .iter()
            .map(|row| row["process.real_user.id"].clone())
            .collect();
        seen.sort();
        seen.dedup();
        seen
    };
    let (in_a, in_b) = (pseudonyms(&rows_a), pseudonyms(&rows_b));
    assert_eq!((in_a.len(), in_b.len()), (1, 1), "{in_a:?} {in_b:?}");
    assert_ne!(in_a, in_b);
    assert!(in_a[0].starts_with("p1_") && in_b[0].starts_with("p1_"));

    // Each tenant's directory is its group's alone: a member of b's group
    // cannot even list a's, a member of a's group reads a's files.
    use std::os::unix::{fs::MetadataExt as _, process::CommandExt as _};
    let tenant_a = sink_a.join("tenant=a");
    let metadata = std::fs::metadata(&tenant_a).expect("tenant a's directory");
    assert_eq!(
        (metadata.gid(), metadata.mode() & 0o7777),
        (GROUP_A, 0o2750)
    );
    let file_of_a = files_with_suffix(&sink_a, ".parquet").expect("list")[0].clone();
    let reads_as = |group: u32| {
        Command::new("/bin/cat")
            .arg(&file_of_a)
            .uid(OUTSIDER_UID)
            .gid(group)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run cat as another user")
            .success()
    };
    assert!(
        !reads_as(GROUP_B),
        "tenant b's group read tenant a's archive"
    );
    assert!(
        reads_as(GROUP_A),
        "tenant a's group cannot read its archive"
    );
}

/// Groups and a user no real account has, for the archive-owner checks.
const GROUP_A: u32 = 52_001;
const GROUP_B: u32 = 52_002;
const OUTSIDER_UID: u32 = 52_100;

#[test]
fn a_tenant_flooding_at_ten_times_its_quota_costs_the_others_nothing() {
    let test = "a_tenant_flooding_at_ten_times_its_quota_costs_the_others_nothing";
    let output = tempfile::tempdir().expect("tempdir");
    let me = std::process::id();
    let tenant = |name: &str, quota: &str| {
        format!(
            r#"[[tenant]]
name = "{name}"
purpose = "testing quotas"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["/scrim-test-quota-{name}-{me}-*"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ parquet = {{ path = "unused" }} }}]
{quota}
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"#
        )
    };
    let policy = policy_file(&format!(
        "version = 1\n[defaults]\nunknown_tenant = \"drop\"\n{}\n{}",
        tenant("noisy", "quota = { events_per_second = 50, burst = 50 }"),
        tenant("quiet", "")
    ));
    let policy_path = policy.path().join("policy.toml");
    let Some(collector) = start_capturing(
        test,
        Some(output.path()),
        &["--policy", policy_path.to_str().expect("utf-8 path")],
    ) else {
        return;
    };
    let noisy = TestCgroup::create("quota-noisy").expect("cgroup");
    let quiet = TestCgroup::create("quota-quiet").expect("cgroup");
    thread::sleep(Duration::from_millis(200));
    // The noisy tenant: about 1000 records in about two seconds, ten times
    // its quota; meanwhile the quiet one runs 20 programs.
    let flood = {
        let mut command = noisy.command("/bin/sh").expect("command");
        command
            .args(["-c", "for i in $(seq 500); do /bin/true; done"])
            .spawn()
            .expect("start the flood")
    };
    let mut quiet_pids = Vec::new();
    for _ in 0..20 {
        quiet_pids.push(quiet.run(&["/bin/true"]).expect("run").0);
    }
    let mut flood = flood;
    assert!(flood.wait().expect("flood").success());
    thread::sleep(Duration::from_millis(300));
    let (status, summary, tenants) = collector.stop_with_tenants();
    assert!(status.success());
    let numbers = summary_numbers(&summary);
    assert_eq!(numbers.lost, 0, "nothing lost: {summary}");

    let [received, exported, dropped, lost, over_quota] = tenants["noisy"];
    assert_eq!(received, exported + dropped + lost);
    assert!(
        over_quota >= 500,
        "the excess is dropped in the kernel and counted: {tenants:?}"
    );
    let [received, exported, dropped, lost, over_quota] = tenants["quiet"];
    assert_eq!((lost, over_quota, dropped), (0, 0, 0), "{tenants:?}");
    assert_eq!(received, exported);
    // Every exec and exit of the quiet tenant's programs is archived.
    let rows = parquet_rows(output.path()).expect("read the archive");
    for pid in quiet_pids {
        assert_eq!(
            rows_of(&rows, pid, "process.exec").len(),
            1,
            "exec of {pid}"
        );
        assert_eq!(
            rows_of(&rows, pid, "process.exit").len(),
            1,
            "exit of {pid}"
        );
    }
}

#[test]
fn logs_json_objects_with_the_counts_as_fields_when_asked() {
    let test = "logs_json_objects_with_the_counts_as_fields_when_asked";
    let output = tempfile::tempdir().expect("tempdir");
    let Some(collector) = start_capturing(test, Some(output.path()), &["--log-format", "json"])
    else {
        return;
    };
    let tenant = TestCgroup::create("json-logs").expect("cgroup");
    tenant.run(&["/bin/true"]).expect("run");
    thread::sleep(Duration::from_millis(300));
    let seen_at_start = collector.seen.clone();
    let (status, last) = collector.stop();
    assert!(status.success());
    for line in seen_at_start.iter().chain([&last]) {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert_eq!(object["level"], "INFO", "{line}");
        assert!(object["timestamp"].is_string(), "{line}");
    }
    let last: serde_json::Value = serde_json::from_str(&last).expect("JSON summary");
    assert_eq!(last["last"], true);
    assert!(
        last["events_in"].as_u64().expect("events_in") >= 2,
        "{last}"
    );
    assert_eq!(last["lost"], 0, "{last}");
    assert!(
        last["message"]
            .as_str()
            .expect("message")
            .ends_with("(final)")
    );
}

#[test]
fn after_a_kill_9_mid_write_every_visible_file_reads_and_the_next_start_cleans_up() {
    let test = "after_a_kill_9_mid_write_every_visible_file_reads_and_the_next_start_cleans_up";
    let output = tempfile::tempdir().expect("tempdir");
    // Files complete every second, so some are published and some open
    // when the collector dies.
    let Some(mut collector) =
        start_capturing(test, Some(output.path()), &["--roll-interval", "1s"])
    else {
        return;
    };
    let busy = TestCgroup::create("crash").expect("cgroup");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        busy.run(&["/bin/true"]).expect("run");
    }
    collector.child.kill().expect("SIGKILL");
    collector.child.wait().expect("reap");

    let visible = files_with_suffix(output.path(), ".parquet").expect("list");
    let unfinished = files_with_suffix(output.path(), ".tmp").expect("list");
    assert!(!visible.is_empty(), "nothing was published in 2.5 s");
    assert!(!unfinished.is_empty(), "no file was open at the kill");
    // Every visible file is whole, for the parquet crate and for DuckDB.
    let rows = parquet_rows(output.path()).expect("every published file reads");
    assert!(!rows.is_empty());
    if duckdb_or_skip(test) {
        let counted = duckdb_query(&format!(
            "SELECT count(*) FROM read_parquet('{}/**/*.parquet')",
            output.path().display()
        ))
        .expect("DuckDB reads every published file");
        assert_eq!(counted, [vec![serde_json::json!(rows.len())]]);
    }

    // The next start removes what the dead run left, and nothing else.
    let mut next = common::Collector::start(Some(output.path()), &[], &[]);
    let cleaned = next
        .wait_for("unfinished files an interrupted run left")
        .unwrap_or_else(|seen| panic!("no clean-up reported:\n{seen}"));
    assert!(
        cleaned.contains(&format!("removed {} unfinished files", unfinished.len())),
        "{cleaned}"
    );
    // Signals are handled once it captures; stopping earlier would kill it.
    next.wait_for("capturing")
        .unwrap_or_else(|seen| panic!("the second run did not start:\n{seen}"));
    let (status, _) = next.stop();
    assert!(status.success());
    assert!(unfinished.iter().all(|file| !file.exists()));
    assert!(visible.iter().all(|file| file.exists()));
    assert!(
        files_with_suffix(output.path(), ".tmp")
            .expect("list")
            .is_empty()
    );
}

/// The record of processing states what runs: made with the same
/// `SCRIM_POLICY_*` overrides as a collector, its hash is the one the
/// collector stamps on every row, and its recipient is the overridden
/// archive, where the rows are. Without the override, the policy's
/// relative archive path is relative to the policy file.
#[test]
fn the_record_of_processing_states_the_hash_a_run_with_overrides_stamps() {
    let test = "the_record_of_processing_states_the_hash_a_run_with_overrides_stamps";
    let policy = policy_file(&test_tenant_policy(
        &format!("/scrim-test-e2e-report-{}-*", std::process::id()),
        r#""process""#,
        r#""time" = "keep"
"event.name" = "keep"
"process.pid" = "keep""#,
    ));
    let policy_path = policy.path().join("policy.toml");
    let sinks = tempfile::tempdir().expect("tempdir");
    let archive = sinks.path().join("overridden");
    let variable = "SCRIM_POLICY_SINKS__E2E__PARQUET";
    let report = |env: Option<&Path>| {
        let mut command = Command::new(SCRIM);
        command
            .args(["policy", "report", "--with-keys", "--format", "md"])
            .arg(&policy_path);
        if let Some(value) = env {
            command.env(variable, value);
        }
        let output = command.output().expect("run scrim policy report");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    // As written, `path = "unused"` is relative to the policy file.
    let as_written = report(None);
    let relative = policy.path().join("unused");
    assert!(
        as_written.contains(&format!("| Parquet archive | `{}` |", relative.display())),
        "{as_written}"
    );
    let record = report(Some(&archive));
    let stated = |record: &str| {
        record
            .lines()
            .find_map(|line| line.strip_prefix("- **Policy hash (BLAKE3):** `"))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no hash in:\n{record}"))
    };
    let hash = stated(&record);
    assert_ne!(hash, stated(&as_written), "the hash covers the overrides");
    assert!(
        record.contains(&format!("| Parquet archive | `{}` |", archive.display())),
        "{record}"
    );

    let Some(collector) = start_capturing_with_env(
        test,
        None,
        &["--policy", policy_path.to_str().expect("utf-8 path")],
        &[(variable, archive.as_os_str())],
    ) else {
        return;
    };
    let tenant = TestCgroup::create("e2e-report").expect("create a cgroup");
    thread::sleep(Duration::from_millis(200));
    let (pid, code) = tenant.run(&["/bin/true"]).expect("run the workload");
    assert_eq!(code, Some(0));
    thread::sleep(Duration::from_millis(300));
    let (status, summary) = collector.stop();
    assert!(status.success(), "{summary}");
    let rows = parquet_rows(&archive).expect("read the overridden archive");
    assert!(!rows_of(&rows, pid, "process.exec").is_empty(), "{rows:#?}");
    assert!(
        rows.iter().all(|row| row["scrim.policy.hash"] == hash),
        "the report says {hash}; the rows carry {:?}",
        rows.first().map(|row| &row["scrim.policy.hash"])
    );
    assert!(!relative.exists(), "nothing went to the policy's own path");
}
