//! What pseudonymising and scrubbing cost on one core.
//!
//! `cargo bench -p scrim-redaction --bench redaction`
use std::{hint::black_box, sync::Arc, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrim_redaction::{MasterKey, Pseudonymizer, Scrubber};

/// A typical command line with nothing to scrub (100 bytes).
const CLEAN: &str = "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /srv/www/static/assets 8080 -v -v -v -q";
/// The same size, with a password in it.
const WITH_SECRET: &str = "/usr/bin/psql --host db.internal --username app --password=hunter2-Xq7 --dbname orders -c 'select 1'";

fn pseudonymize(criterion: &mut Criterion) {
    let master = Arc::new(MasterKey::from_bytes(vec![7; 32]).expect("32-byte key"));
    let mut pseudonymizer = Pseudonymizer::new(master, "bench", Duration::from_secs(30 * 86_400));
    let at = 1_795_633_169_000_000_000;
    let values: Vec<String> = (0..1024)
        .map(|n| format!("user-{n:06}@example.org"))
        .collect();
    let mut group = criterion.benchmark_group("pseudonymize");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("short values (22 bytes)", |bencher| {
        bencher.iter(|| {
            for value in &values {
                black_box(pseudonymizer.pseudonymize(
                    "process.real_user.id",
                    black_box(value.as_bytes()),
                    at,
                ));
            }
        })
    });
    group.bench_function("integers", |bencher| {
        bencher.iter(|| {
            for uid in 0..1024 {
                black_box(pseudonymizer.pseudonymize_int(
                    "process.real_user.id",
                    black_box(uid),
                    at,
                ));
            }
        })
    });
    group.finish();
}

fn scrub(criterion: &mut Criterion) {
    assert_eq!(CLEAN.len(), 100);
    assert_eq!(WITH_SECRET.len(), 100);
    let scrubber = Scrubber::new();
    let mut group = criterion.benchmark_group("scrub");
    group.throughput(Throughput::Elements(1));
    group.bench_function("100-byte line, nothing to scrub", |bencher| {
        bencher.iter(|| black_box(scrubber.scrub(black_box(CLEAN))))
    });
    group.bench_function("100-byte line with a password", |bencher| {
        bencher.iter(|| black_box(scrubber.scrub(black_box(WITH_SECRET))))
    });
    group.finish();
}

criterion_group!(benches, pseudonymize, scrub);
criterion_main!(benches);
