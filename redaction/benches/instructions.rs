//! The scrubber's cost in instructions, for valgrind's callgrind, which
//! counts them the same way on a busy machine as on an idle one (the
//! wall-clock benches vary by a third under load). Each workload runs in a
//! function of its own, so its inclusive cost divided by the lines it
//! scrubbed is the cost of one line:
//!
//! ```text
//! cargo bench -p scrim-redaction --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/deps/instructions-HASH --bench
//! callgrind_annotate --inclusive=yes cg.out | grep workload_
//! ```
//!
//! Run plainly (`cargo bench -p scrim-redaction --bench instructions`) it
//! prints the same workloads' lines per second on this thread.
use std::{hint::black_box, path::PathBuf, time::Instant};

use scrim_redaction::Scrubber;
use serde::Deserialize;

/// The two fixed 100-byte lines of the `redaction` bench.
const CLEAN: &str = "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /srv/www/static/assets 8080 -v -v -v -q";
const WITH_SECRET: &str = "/usr/bin/psql --host db.internal --username app --password=hunter2-Xq7 --dbname orders -c 'select 1'";
/// Times each fixed line is scrubbed: enough to dwarf compiling the rules.
const REPEAT: usize = 20_000;

#[derive(Deserialize)]
struct Entry {
    line: String,
}

#[inline(never)]
fn workload_clean(scrubber: &Scrubber) -> usize {
    (0..REPEAT)
        .filter(|_| matches!(scrubber.scrub(black_box(CLEAN)), std::borrow::Cow::Owned(_)))
        .count()
}

#[inline(never)]
fn workload_secret(scrubber: &Scrubber) -> usize {
    (0..REPEAT)
        .filter(|_| {
            matches!(
                scrubber.scrub(black_box(WITH_SECRET)),
                std::borrow::Cow::Owned(_)
            )
        })
        .count()
}

/// The train corpus once (the rules' own lines; held-out stays unread).
#[inline(never)]
fn workload_train(scrubber: &Scrubber, lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|line| matches!(scrubber.scrub(black_box(line)), std::borrow::Cow::Owned(_)))
        .count()
}

fn main() {
    assert_eq!(CLEAN.len(), 100);
    assert_eq!(WITH_SECRET.len(), 100);
    // `cargo test --benches` passes no `--bench`: it only checks the bench starts.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "instructions bench: run with `cargo bench -p scrim-redaction --bench instructions`"
        );
        return;
    }
    let corpus: PathBuf = [env!("CARGO_MANIFEST_DIR"), "corpus", "train.jsonl"]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&corpus)
        .unwrap_or_else(|error| panic!("corpus file {}: {error}", corpus.display()));
    let lines: Vec<String> = text
        .lines()
        .map(|row| {
            serde_json::from_str::<Entry>(row)
                .expect("train corpus row is JSON")
                .line
        })
        .collect();
    let scrubber = Scrubber::new();
    let timed = |name: &str, count: usize, run: &dyn Fn() -> usize| {
        let started = Instant::now();
        let changed = run();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name}: {count} lines, {changed} changed, {:.0} lines/s",
            count as f64 / seconds
        );
    };
    timed("clean 100-byte line", REPEAT, &|| workload_clean(&scrubber));
    timed("100-byte line with a password", REPEAT, &|| {
        workload_secret(&scrubber)
    });
    timed("train corpus", lines.len(), &|| {
        workload_train(&scrubber, &lines)
    });
}
