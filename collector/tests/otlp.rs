//! OTLP end to end: real probes, real cgroups, and a receiver built on the
//! official OTLP protobufs on loopback. Two tenants, one over gRPC and one
//! over HTTP/protobuf, each with its own header.
mod common;

use std::{path::Path, thread, time::Duration};

use common::{policy_file, start_with_policy_and, summary_numbers};
use scrim_testkit::{
    cgroup::TestCgroup,
    otlp_receiver::{OtlpReceiver, ReceivedSpan},
};

fn tenant(name: &str, group: &str, endpoint: &str, protocol: &str) -> String {
    format!(
        r#"
[[tenant]]
name = "{name}"
purpose = "testing OTLP export"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/scrim-test-{group}-{me}-*"] }}
capture = ["process", "network"]
retention = {{ process = "1d", network = "1d" }}
sinks = [{{ otlp = {{ endpoint = "{endpoint}", protocol = "{protocol}", headers = {{ "X-Scope-OrgID" = "{name}" }} }} }}]
[tenant.fields]
"time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"process.executable.name" = "keep"
"process.exit.code" = "keep"
"network.peer.port" = "keep"
"scrim.network.duration" = "keep"
"#,
        me = std::process::id()
    )
}

fn named<'a>(spans: &[&'a ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|span| span.span.name == name)
        .copied()
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

fn duration_ms(span: &ReceivedSpan) -> u64 {
    (span.span.end_time_unix_nano - span.span.start_time_unix_nano) / 1_000_000
}

#[test]
fn processes_and_connections_reach_each_tenants_backend_as_linked_spans() {
    let test = "processes_and_connections_reach_each_tenants_backend_as_linked_spans";
    let receiver = OtlpReceiver::start().expect("OTLP receiver");
    let policy = policy_file(&format!(
        "version = 1\n[defaults]\nunknown_tenant = \"drop\"\n{}{}",
        tenant("grpc-team", "otlp-grpc", &receiver.grpc_endpoint(), "grpc"),
        tenant(
            "http-team",
            "otlp-http",
            &receiver.http_endpoint(),
            "http/protobuf"
        ),
    ));
    let state = tempfile::tempdir().expect("tempdir");
    let Some(collector) = start_with_policy_and(
        test,
        &policy,
        None,
        &["--state-dir", state.path().to_str().expect("utf-8 path")],
    ) else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let port = listener.local_addr().expect("address").port();
    let serving = thread::spawn(move || {
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().expect("accept");
            std::io::copy(&mut stream, &mut std::io::sink()).expect("read until closed");
        }
    });
    let groups = [
        TestCgroup::create("otlp-grpc").expect("cgroup"),
        TestCgroup::create("otlp-http").expect("cgroup"),
    ];
    thread::sleep(Duration::from_millis(200));
    // A shell that runs a child, then holds a connection open for 200 ms.
    let script = format!(
        "/bin/true; exec 4<>/dev/tcp/127.0.0.1/{port} && printf hello >&4; sleep 0.2; exec 4>&-; true"
    );
    let mut shells = Vec::new();
    for group in &groups {
        let (pid, code) = group.run(&["/bin/bash", "-c", &script]).expect("run");
        assert_eq!(code, Some(0));
        shells.push(pid.to_string());
    }
    serving.join().expect("server");
    thread::sleep(Duration::from_millis(300));
    let (status, summary) = collector.stop();
    assert!(status.success());
    let numbers = summary_numbers(&summary);
    assert!(numbers.spans_sent >= 8, "{summary}");
    assert_eq!(numbers.lost, 0, "{summary}");

    let spans = receiver.spans();
    for ((team, transport), shell_pid) in [("grpc-team", "grpc"), ("http-team", "http")]
        .into_iter()
        .zip(&shells)
    {
        let mine: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|span| span.headers.get("x-scope-orgid").map(String::as_str) == Some(team))
            .collect();
        assert!(
            mine.iter().all(|span| span.transport == transport),
            "{team}: {mine:#?}"
        );
        let shell = mine
            .iter()
            .find(|span| span.span.name == "bash" && span.attributes()["process.pid"] == *shell_pid)
            .unwrap_or_else(|| panic!("{team}: no span of bash {shell_pid} in {mine:#?}"));
        let child = named(&mine, "true");
        let connection = named(&mine, "tcp.connect");
        // Real durations: the shell slept 200 ms with the connection open.
        assert!(duration_ms(shell) >= 200, "{shell:#?}");
        assert!(duration_ms(connection) >= 150, "{connection:#?}");
        // Opened during the shell's life; its close is the kernel's and
        // may come after the shell has exited (the peer's FIN).
        assert!(
            (shell.span.start_time_unix_nano..=shell.span.end_time_unix_nano)
                .contains(&connection.span.start_time_unix_nano),
            "{shell:#?}\n{connection:#?}"
        );
        // The child under the shell, the connection under the shell.
        assert_eq!(child.span.parent_span_id, shell.span.span_id);
        assert_eq!(connection.span.parent_span_id, shell.span.span_id);
        assert_eq!(child.span.trace_id, shell.span.trace_id);
        assert_eq!(connection.span.kind, 3, "a client span");
        assert_eq!(shell.attributes()["process.exit.code"], "0");
        assert_eq!(
            connection.attributes()["network.peer.port"],
            port.to_string()
        );
        // Resources follow the semantic conventions.
        for span in &mine {
            assert!(span.resource.contains_key("host.name"), "{span:#?}");
            assert!(span.resource.contains_key("service.name"));
        }
    }
    // Nothing but the two tenants' spans, and nothing else left behind.
    assert!(
        spans
            .iter()
            .all(|span| span.headers.contains_key("x-scope-orgid"))
    );
    assert_spool_empty(state.path());
}

/// No span waits: every file left is a sink's record of when its backend
/// took spans (what a subject request names as out of its reach).
fn assert_spool_empty(state: &Path) {
    let leftovers: Vec<_> = walk(&state.join("spool"))
        .into_iter()
        .filter(|path| path.is_file() && !path.ends_with("sent.json"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(directory: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|entry| {
            let path = entry.path();
            let mut below = walk(&path);
            below.push(path);
            below
        })
        .collect()
}

#[test]
fn a_backend_down_for_sixty_seconds_under_load_gets_every_span_once() {
    let test = "a_backend_down_for_sixty_seconds_under_load_gets_every_span_once";
    let mut receiver = OtlpReceiver::start().expect("OTLP receiver");
    let policy = policy_file(&format!(
        "version = 1\n[defaults]\nunknown_tenant = \"drop\"\n{}",
        tenant("steady", "otlp-outage", &receiver.grpc_endpoint(), "grpc"),
    ));
    let Some(collector) = start_with_policy_and(test, &policy, None, &["--duration", "150s"])
    else {
        return;
    };
    let group = TestCgroup::create("otlp-outage").expect("cgroup");
    thread::sleep(Duration::from_millis(200));
    // About 20 short processes a second, before, during and after an outage.
    let mut pids = Vec::new();
    let run_for = |how_long: Duration, pids: &mut Vec<String>| {
        let started = std::time::Instant::now();
        while started.elapsed() < how_long {
            pids.push(group.run(&["/bin/true"]).expect("run").0.to_string());
            thread::sleep(Duration::from_millis(50));
        }
    };
    run_for(Duration::from_secs(2), &mut pids);
    receiver.pause();
    run_for(Duration::from_secs(60), &mut pids);
    let spooled = metric(&collector, r#"scrim_otlp_spool_spans{tenant="steady"}"#);
    assert!(spooled > 0, "spans wait in the spool during the outage");
    receiver.resume().expect("the backend comes back");
    run_for(Duration::from_secs(3), &mut pids);
    // Until the spool has drained.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while metric(&collector, r#"scrim_otlp_spool_spans{tenant="steady"}"#) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the spool never drained"
        );
        thread::sleep(Duration::from_millis(200));
    }
    let failed = metric(
        &collector,
        r#"scrim_otlp_failed_requests_total{tenant="steady"}"#,
    );
    let (status, _, log) = collector.stop_with_log();
    assert!(status.success());
    assert!(failed >= 1);
    // The outage is said once as it starts and once as it ends, not at
    // every retry.
    let said = |what: &str| log.iter().filter(|line| line.contains(what)).count();
    assert_eq!(
        (
            said("failed; spooling until it answers"),
            said("answers again")
        ),
        (1, 1),
        "{log:#?}"
    );

    let spans = receiver.spans();
    let mut ids: Vec<&[u8]> = spans
        .iter()
        .map(|span| span.span.span_id.as_slice())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), spans.len(), "a span arrived twice");
    for pid in &pids {
        let of_pid = spans
            .iter()
            .filter(|span| span.span.name == "true" && span.attributes()["process.pid"] == *pid)
            .count();
        assert_eq!(of_pid, 1, "process {pid}: {of_pid} spans");
    }
    assert!(pids.len() > 1000, "{} processes", pids.len());
}

/// One series of the collector's metrics.
fn metric(collector: &common::Collector, series: &str) -> u64 {
    let metrics = collector.scrape_metrics();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}
