//! OTLP export throughput: process spans (exec and exit records, every
//! catalogued field as attributes) assembled and sent over gRPC and over
//! HTTP/protobuf to a receiver on loopback. Prints spans per second of wall
//! time and per second of CPU time of the sink's two threads, the one
//! assembling and the one sending (the receiver runs on other threads).
//! Figures only: `cargo bench -p scrim-otlp --bench export`.
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
use scrim_otlp::{OtlpSink, OtlpTarget, Protocol, Resources};
use scrim_testkit::otlp_receiver::OtlpReceiver;

/// The allocator the `scrim` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: i64 = 200_000;
const START: i64 = 1_795_633_169_000_000_000;

struct Host;

impl Resources for Host {
    fn of(&self, _cgroup_id: u64) -> Vec<KeyValue> {
        vec![
            KeyValue::new("host.name", "bench"),
            KeyValue::new("service.name", "bench"),
        ]
    }
}

fn process_events(pid: i64) -> [Event; 2] {
    let common = |at: i64| {
        vec![
            ("time", FixtureValue::Int(START + pid * 1000 + at)),
            ("process.pid", FixtureValue::Int(pid)),
            ("process.parent_pid", FixtureValue::Int(1)),
            ("process.real_user.id", FixtureValue::Int(1000)),
            ("scrim.cgroup.id", FixtureValue::Int(pid % 16)),
            (
                "process.executable.name",
                FixtureValue::Text("python3".into()),
            ),
        ]
    };
    let mut exec = common(0);
    exec.push((
        "process.executable.path",
        FixtureValue::Text("/usr/bin/python3".into()),
    ));
    exec.push((
        "process.command_args",
        FixtureValue::Texts(["python3", "-m", "http.server"].map(String::from).to_vec()),
    ));
    let mut exit = common(500);
    exit.push(("process.exit.code", FixtureValue::Int(0)));
    [
        event_from_fields("process.exec", exec).expect("exec"),
        event_from_fields("process.exit", exit).expect("exit"),
    ]
}

/// CPU time of the calling thread.
fn thread_cpu_seconds() -> f64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// CPU time of this process's threads named `name` (from the scheduler's
/// statistics, in nanoseconds).
fn cpu_seconds_of_threads(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum::<f64>()
        / 1e9
}

/// Spans the paced run lets be on their way at once: below the sink's own
/// bound, so that it measures sending rather than spooling.
const PACE: u64 = 3 * 2048;

fn main() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let events: Vec<[Event; 2]> = (0..SPANS).map(|pid| process_events(pid + 100)).collect();
    run(&receiver, &events, Protocol::Grpc, Some(PACE));
    run(&receiver, &events, Protocol::HttpProtobuf, Some(PACE));
    // Spans coming faster than the backend takes them: the excess goes
    // through the spool and nothing is lost.
    run(&receiver, &events, Protocol::Grpc, None);
}

fn run(receiver: &OtlpReceiver, events: &[[Event; 2]], protocol: Protocol, pace: Option<u64>) {
    let spool = tempfile::tempdir().expect("tempdir");
    let target = OtlpTarget {
        endpoint: match protocol {
            Protocol::Grpc => receiver.grpc_endpoint(),
            Protocol::HttpProtobuf => receiver.http_endpoint(),
        },
        protocol,
        headers: BTreeMap::new(),
        timeout: Duration::from_secs(10),
    };
    let mut sink = OtlpSink::new(&target, spool.path(), 1 << 30, Arc::new(Host)).expect("sink");
    let shipper_cpu = cpu_seconds_of_threads("scrim-otlp");
    let (wall, cpu) = (Instant::now(), thread_cpu_seconds());
    let mut spooled = 0;
    for pair in events {
        for event in pair {
            sink.write(event, &mut UnfilteredEvent(event))
                .expect("write");
        }
        while pace.is_some_and(|pace| sink.stats().in_flight >= pace) {
            sink.tick(Instant::now()).expect("tick");
            std::thread::sleep(Duration::from_micros(200));
        }
        spooled = spooled.max(sink.stats().spooled);
    }
    // Sent before the sink closes, so that the shipper thread is still
    // there to be measured.
    sink.tick(Instant::now() + Duration::from_secs(2))
        .expect("flush");
    while sink.stats().exported < SPANS as u64 {
        std::thread::sleep(Duration::from_millis(1));
        sink.tick(Instant::now()).expect("tick");
    }
    let cpu = thread_cpu_seconds() - cpu + cpu_seconds_of_threads("scrim-otlp") - shipper_cpu;
    let wall = wall.elapsed().as_secs_f64();
    let (stats, outcome) = sink.close();
    outcome.expect("close");
    assert_eq!((stats.exported, stats.dropped), (SPANS as u64, 0));
    println!(
        "otlp export ({}, loopback, {}): {SPANS} process spans (9 attributes each) in \
         {wall:.2} s: {:.0} k spans/s wall, {:.0} k spans/s per core of the sink's two threads \
         ({cpu:.2} s CPU); at most {spooled} spans spooled on the way",
        match protocol {
            Protocol::Grpc => "gRPC",
            Protocol::HttpProtobuf => "HTTP/protobuf",
        },
        if pace.is_some() { "paced" } else { "unpaced" },
        SPANS as f64 / wall / 1e3,
        SPANS as f64 / cpu / 1e3,
    );
}
