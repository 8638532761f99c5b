//! The OTLP sink against a receiver built on the official protobufs, on
//! loopback: spans, their parents, durations, attributes and headers over
//! gRPC and HTTP/protobuf, an outage that loses nothing, and a backend that
//! hangs without holding anything up.
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::KeyValue;
use scrim_event::{
    Event,
    fixture::{FixtureValue, event_from_fields},
    record::UnfilteredEvent,
};
use scrim_otlp::{OtlpSink, OtlpStats, OtlpTarget, Protocol, Resources};
use scrim_testkit::otlp_receiver::{OtlpReceiver, ReceivedSpan};

struct TestResources;

impl Resources for TestResources {
    fn of(&self, cgroup_id: u64) -> Vec<KeyValue> {
        vec![
            KeyValue::new("service.name", "test"),
            KeyValue::new("scrim.cgroup.id", cgroup_id.to_string()),
        ]
    }
}

const SECOND: i64 = 1_000_000_000;
const START: i64 = 1_795_633_169 * SECOND;

fn event(name: &str, at: i64, pid: i64, more: &[(&str, FixtureValue)]) -> Event {
    let mut fields = vec![
        ("time", FixtureValue::Int(START + at)),
        ("process.pid", FixtureValue::Int(pid)),
        ("process.parent_pid", FixtureValue::Int(1)),
        ("scrim.cgroup.id", FixtureValue::Int(42)),
    ];
    fields.extend(more.iter().cloned());
    event_from_fields(name, fields).expect("fixture event")
}

/// A shell that runs curl: two processes, a syscall, a connection.
fn workload(pid: i64) -> Vec<Event> {
    workload_of(pid, None)
}

/// One event of a workload: its name, when (after the start), its pid, and
/// its other fields.
type Step<'a> = (&'a str, i64, i64, Vec<(&'a str, FixtureValue)>);

/// [`workload`], each event carrying `uid` if given.
fn workload_of(pid: i64, uid: Option<i64>) -> Vec<Event> {
    let text = |value: &str| FixtureValue::Text(value.into());
    let child = pid + 1;
    let events: [Step; 6] = [
        (
            "process.exec",
            0,
            pid,
            vec![("process.executable.name", text("sh"))],
        ),
        (
            "process.exec",
            SECOND / 10,
            child,
            vec![
                ("process.parent_pid", FixtureValue::Int(pid)),
                ("process.executable.name", text("curl")),
            ],
        ),
        (
            "syscall",
            SECOND / 5,
            child,
            vec![
                ("scrim.syscall.name", text("openat")),
                ("file.path", text("/etc/hosts")),
            ],
        ),
        (
            "network.close",
            SECOND,
            child,
            vec![
                ("network.peer.address", text("203.0.113.7")),
                ("network.peer.port", FixtureValue::Int(443)),
                ("scrim.network.duration", FixtureValue::Int(SECOND / 2)),
            ],
        ),
        (
            "process.exit",
            2 * SECOND,
            child,
            vec![("process.exit.code", FixtureValue::Int(0))],
        ),
        (
            "process.exit",
            3 * SECOND,
            pid,
            vec![("process.exit.code", FixtureValue::Int(0))],
        ),
    ];
    events
        .into_iter()
        .map(|(name, at, pid, mut more)| {
            if let Some(uid) = uid {
                more.push(("process.real_user.id", FixtureValue::Int(uid)));
            }
            event(name, at, pid, &more)
        })
        .collect()
}

fn sink(receiver_endpoint: String, protocol: Protocol, spool: &std::path::Path) -> OtlpSink {
    sink_with_timeout(receiver_endpoint, protocol, spool, Duration::from_secs(10))
}

fn sink_with_timeout(
    receiver_endpoint: String,
    protocol: Protocol,
    spool: &std::path::Path,
    timeout: Duration,
) -> OtlpSink {
    let target = OtlpTarget {
        endpoint: receiver_endpoint,
        protocol,
        headers: BTreeMap::from([("x-scope-orgid".to_owned(), "payments".to_owned())]),
        timeout,
    };
    OtlpSink::new(&target, spool, 1 << 20, Arc::new(TestResources)).expect("sink")
}

/// A receiver that accepts connections and never answers, and a sink
/// sending to it with `timeout`, spooling in the returned directory.
fn sink_of_a_backend_that_hangs(timeout: Duration) -> (OtlpReceiver, tempfile::TempDir, OtlpSink) {
    let mut receiver = OtlpReceiver::start().expect("receiver");
    receiver.stall().expect("stall");
    let spool = tempfile::tempdir().expect("tempdir");
    let sink = sink_with_timeout(
        receiver.grpc_endpoint(),
        Protocol::Grpc,
        spool.path(),
        timeout,
    );
    (receiver, spool, sink)
}

/// Ticks, the sink's clock moving two seconds a time so that backoffs
/// pass, until `done` holds; requests are answered on the sink's own
/// thread, so their outcomes take real time to come back.
fn tick_until(sink: &mut OtlpSink, now: &mut Instant, done: impl Fn(&OtlpStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        *now += Duration::from_secs(2);
        sink.tick(*now).expect("tick");
        let stats = sink.stats();
        if done(&stats) {
            return;
        }
        assert!(Instant::now() < deadline, "never done: {stats:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn feed(sink: &mut OtlpSink, events: &[Event]) {
    for event in events {
        sink.write(event, &mut UnfilteredEvent(event))
            .expect("write");
    }
}

/// Closes the sink: all `spans` were sent, and the receiver has each once.
fn close_and_check_every_span_arrived_once(sink: OtlpSink, receiver: &OtlpReceiver, spans: u64) {
    let (stats, outcome) = sink.close();
    outcome.expect("close");
    assert_eq!(
        (stats.exported, stats.spooled, stats.dropped),
        (spans, 0, 0)
    );
    let mut ids: Vec<Vec<u8>> = receiver
        .spans()
        .into_iter()
        .map(|span| span.span.span_id)
        .collect();
    assert_eq!(ids.len() as u64, spans, "every span");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, spans, "no span twice");
}

fn by_name<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|span| span.span.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

#[test]
fn processes_and_connections_arrive_as_linked_spans_over_grpc_and_http() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let receiver = OtlpReceiver::start().expect("receiver");
        let spool = tempfile::tempdir().expect("tempdir");
        let endpoint = match protocol {
            Protocol::Grpc => receiver.grpc_endpoint(),
            Protocol::HttpProtobuf => receiver.http_endpoint(),
        };
        let mut sink = sink(endpoint, protocol, spool.path());
        feed(&mut sink, &workload(100));
        let (stats, outcome) = sink.close();
        outcome.expect("close");
        assert_eq!((stats.exported, stats.spooled, stats.dropped), (3, 0, 0));

        let spans = receiver.spans();
        assert_eq!(spans.len(), 3, "{spans:#?}");
        let (shell, curl, connection) = (
            by_name(&spans, "sh"),
            by_name(&spans, "curl"),
            by_name(&spans, "tcp.connect"),
        );
        // Real durations, from the records' times.
        let duration =
            |span: &ReceivedSpan| span.span.end_time_unix_nano - span.span.start_time_unix_nano;
        assert_eq!(duration(shell), 3 * SECOND as u64);
        assert_eq!(duration(curl), 19 * SECOND as u64 / 10);
        assert_eq!(duration(connection), SECOND as u64 / 2);
        // The child process under its parent, the connection under its
        // process, all in one trace.
        assert!(shell.span.parent_span_id.is_empty());
        assert_eq!(curl.span.parent_span_id, shell.span.span_id);
        assert_eq!(connection.span.parent_span_id, curl.span.span_id);
        assert!(
            spans
                .iter()
                .all(|span| span.span.trace_id == shell.span.trace_id)
        );
        // Syscalls are events of their process's span.
        assert_eq!(curl.span.events.len(), 1);
        assert_eq!(curl.span.events[0].name, "syscall");
        let attributes = curl.attributes();
        assert_eq!(attributes["process.executable.name"], "curl");
        assert_eq!(attributes["process.exit.code"], "0");
        assert_eq!(
            connection.attributes()["network.peer.address"],
            "203.0.113.7"
        );
        // The connection is a client span (kind 3), processes internal (1).
        assert_eq!((connection.span.kind, curl.span.kind), (3, 1));
        for span in &spans {
            assert_eq!(span.headers["x-scope-orgid"], "payments", "{protocol:?}");
            assert_eq!(span.resource["scrim.cgroup.id"], "42");
        }
    }
}

#[test]
fn a_process_still_running_at_shutdown_is_exported_as_incomplete() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let spool = tempfile::tempdir().expect("tempdir");
    let mut sink = sink(receiver.grpc_endpoint(), Protocol::Grpc, spool.path());
    feed(&mut sink, &workload(200)[..3]);
    let (stats, outcome) = sink.close();
    outcome.expect("close");
    assert_eq!(stats.exported, 2);
    let spans = receiver.spans();
    for span in &spans {
        assert_eq!(
            span.attributes()[scrim_otlp::INCOMPLETE],
            "true",
            "{span:#?}"
        );
    }
    // What is known: each process ran at least until its last event.
    let curl = by_name(&spans, "curl");
    assert_eq!(
        curl.span.end_time_unix_nano - curl.span.start_time_unix_nano,
        SECOND as u64 / 10
    );
}

#[test]
fn a_backend_outage_loses_nothing_and_sends_every_span_once() {
    let mut receiver = OtlpReceiver::start().expect("receiver");
    let spool = tempfile::tempdir().expect("tempdir");
    let mut sink = sink(receiver.grpc_endpoint(), Protocol::Grpc, spool.path());
    let mut now = Instant::now();
    feed(&mut sink, &workload(300));
    tick_until(&mut sink, &mut now, |stats| stats.exported == 3);

    // The backend goes away; spans keep coming and wait in the spool.
    receiver.pause();
    for round in 0..5 {
        feed(&mut sink, &workload(400 + round * 10));
        tick_until(&mut sink, &mut now, |stats| stats.in_flight == 0);
    }
    let during = sink.stats();
    assert_eq!(
        (during.exported, during.spooled, during.dropped),
        (3, 15, 0)
    );
    assert!(during.failed_requests >= 1);

    // Back: the spool goes, then new spans.
    receiver.resume().expect("resume");
    tick_until(&mut sink, &mut now, |stats| stats.spooled == 0);
    feed(&mut sink, &workload(500));
    close_and_check_every_span_arrived_once(sink, &receiver, 21);
}

#[test]
fn a_backend_that_hangs_holds_up_no_span_and_loses_none() {
    // A deadline far longer than this test takes: every request made while
    // the backend hangs is still waiting when the rounds below are done.
    let (mut receiver, _spool, mut sink) = sink_of_a_backend_that_hangs(Duration::from_secs(300));
    let mut now = Instant::now();
    for round in 0..12 {
        feed(&mut sink, &workload(600 + round * 10));
        now += Duration::from_secs(2);
        sink.tick(now).expect("tick");
    }
    // The first request hangs; three more batches wait behind it, in
    // memory, and the rest went to disk: nothing waited for the backend.
    let during = sink.stats();
    assert_eq!(
        (
            during.exported,
            during.in_flight,
            during.spooled,
            during.failed_requests
        ),
        (0, 12, 24, 0),
        "{during:?}"
    );

    // The backend comes back (the hung connection is reset): every span
    // arrives, once.
    receiver.resume().expect("resume");
    tick_until(&mut sink, &mut now, |stats| stats.exported == 36);
    close_and_check_every_span_arrived_once(sink, &receiver, 36);
}

#[test]
fn closing_on_a_backend_that_hangs_waits_once_and_keeps_the_spans_for_the_next_run() {
    let (mut receiver, spool, mut closing) = sink_of_a_backend_that_hangs(Duration::from_secs(1));
    feed(&mut closing, &workload(700));
    closing
        .tick(Instant::now() + Duration::from_secs(2))
        .expect("tick");
    // The request in flight times out; no second attempt follows it.
    let (stats, outcome) = closing.close();
    outcome.expect("close");
    assert_eq!(
        (
            stats.exported,
            stats.spooled,
            stats.dropped,
            stats.failed_requests
        ),
        (0, 3, 0, 1)
    );

    // The next run sends what waited.
    receiver.resume().expect("resume");
    let next_run = sink(receiver.grpc_endpoint(), Protocol::Grpc, spool.path());
    close_and_check_every_span_arrived_once(next_run, &receiver, 3);
}

/// Whether a received span carries `uid` as `process.real_user.id`.
fn of_uid(span: &ReceivedSpan, uid: i64) -> bool {
    span.attributes().get("process.real_user.id") == Some(&uid.to_string())
}

#[test]
fn a_subjects_erasure_reaches_the_spool_the_batches_away_and_the_open_spans() {
    const SUBJECT: i64 = 1000;
    let (mut receiver, spool, mut sink) = sink_of_a_backend_that_hangs(Duration::from_secs(300));
    let mut now = Instant::now();
    // Twelve rounds, every other one the subject's: the first four
    // batches hang on their way, the rest wait in the spool.
    for round in 0..12 {
        let uid = if round % 2 == 0 { SUBJECT } else { 2000 };
        feed(&mut sink, &workload_of(800 + round * 10, Some(uid)));
        now += Duration::from_secs(2);
        sink.tick(now).expect("tick");
    }
    // And a process of theirs still running.
    feed(&mut sink, &workload_of(990, Some(SUBJECT))[..1]);
    let before = sink.stats();
    assert_eq!((before.in_flight, before.spooled, before.open), (12, 24, 1));

    let subject = |span: &scrim_otlp::Span| {
        span.attributes.iter().any(|attribute| {
            attribute.key == "process.real_user.id"
                && attribute.value == scrim_otlp::AttributeValue::Int(SUBJECT)
        })
    };
    let found = sink.matching(&subject).expect("matching");
    // Spooled: rounds 4, 6, 8, 10; open: one. Away in memory: not found.
    assert_eq!(found.len(), 13);
    let erased = sink.erase(Arc::new(subject)).expect("erase");
    assert_eq!(erased, 13);
    let after = sink.stats();
    assert_eq!((after.spooled, after.open, after.erased), (12, 0, 13));
    // No spooled byte holds the subject any more.
    let mut spooled_text = String::new();
    for entry in std::fs::read_dir(spool.path()).expect("spool") {
        let path = entry.expect("entry").path();
        if path
            .extension()
            .is_some_and(|extension| extension == "spans")
        {
            spooled_text += &std::fs::read_to_string(&path).expect("batch");
        }
    }
    assert!(
        spooled_text.contains(r#"{"Int":2000}"#),
        "the others' spans stay"
    );
    assert!(
        !spooled_text.contains(&format!(r#"{{"Int":{SUBJECT}}}"#)),
        "{spooled_text}"
    );

    // The hung requests fail when the backend comes back: the subject's
    // spans among them are not spooled again, everyone else's arrive once.
    receiver.resume().expect("resume");
    tick_until(&mut sink, &mut now, |stats| {
        stats.in_flight == 0 && stats.spooled == 0
    });
    let (stats, outcome) = sink.close();
    outcome.expect("close");
    assert_eq!((stats.exported, stats.erased, stats.dropped), (18, 19, 0));
    let received = receiver.spans();
    assert_eq!(received.len(), 18);
    assert!(received.iter().all(|span| of_uid(span, 2000)));
    assert!(!received.iter().any(|span| of_uid(span, SUBJECT)));

    // What the backend took, it holds: the sink says when.
    let sent = scrim_otlp::SentRecord::read(spool.path())
        .expect("sent record")
        .expect("the backend took spans");
    assert_eq!(sent.endpoint, receiver.grpc_endpoint());
    assert!(sent.first <= sent.last && sent.first > START, "{sent:?}");
}
