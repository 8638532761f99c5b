//! A burst, for real: one tenant's loop of 150k `read`/`write` pairs paced
//! at 300k events a second, while a busy process holds the other core. The kernel's ring buffer had room
//! for it, so nothing may be lost downstream of it with the default
//! settings: before each tenant's queue was bounded in ring-buffer bytes
//! (8,192 events then), 43,145 of 300,081 such events were lost as
//! `queue full`.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use scrim_testkit::cgroup::TestCgroup;

use crate::common::{policy_file, start_with_policy_and, summary_numbers};

const PAIRS: u64 = 150_000;

/// `read` and `write` pairs at `PAIRS` a second, for a second; pacing in
/// slices of a millisecond or so.
const PACED_LOOP: &str = "
import os, sys, time
pairs, rate = int(sys.argv[1]), int(sys.argv[2])
source, sink = os.open('/dev/zero', os.O_RDONLY), os.open('/dev/null', os.O_WRONLY)
start, done = time.perf_counter(), 0
while done < pairs:
    due = min(pairs, int((time.perf_counter() - start) * rate) + 200)
    while done < due:
        os.read(source, 1)
        os.write(sink, b'x')
        done += 1
";

#[test]
fn a_burst_the_ring_buffer_could_hold_is_not_lost_downstream() {
    let test = "a_burst_the_ring_buffer_could_hold_is_not_lost_downstream";
    let archive = tempfile::tempdir().expect("archive");
    let policy = policy_file(&format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[[tenant]]
name = "burst"
purpose = "testing a burst"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/scrim-test-burst-{}-*"] }}
capture = ["syscall:read,write"]
retention = {{ syscall = "1d" }}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"#,
        std::process::id(),
        archive.path().display()
    ));
    let Some(collector) = start_with_policy_and(test, &policy, None, &[]) else {
        return;
    };
    // The other core is busy the whole time.
    let mut busy = Command::new("/bin/sh")
        .args(["-c", "while :; do :; done"])
        .stdout(Stdio::null())
        .spawn()
        .expect("busy loop");
    let tenant = TestCgroup::create("burst").expect("cgroup");
    let started = Instant::now();
    let (_, code) = tenant
        .run(&[
            "python3",
            "-c",
            PACED_LOOP,
            &PAIRS.to_string(),
            &PAIRS.to_string(),
        ])
        .expect("paced loop");
    let took = started.elapsed();
    assert_eq!(code, Some(0));
    let _ = busy.kill();
    let _ = busy.wait();
    std::thread::sleep(Duration::from_millis(500));
    let (status, summary, tenants) = collector.stop_with_tenants();
    assert!(status.success(), "{summary}");
    let [received, exported, dropped, lost, _] = tenants["burst"];
    eprintln!(
        "burst: {received} events in {took:?} ({:.0} events/s)",
        received as f64 / took.as_secs_f64()
    );
    assert!(received >= 2 * PAIRS, "{summary}");
    assert_eq!((lost, dropped), (0, 0), "{summary}");
    assert_eq!(exported, received);
    let numbers = summary_numbers(&summary);
    assert_eq!((numbers.lost, numbers.queue_full), (0, 0), "{summary}");
}
