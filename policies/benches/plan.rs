//! What applying a tenant's plan costs per event, and that fixed-size fields
//! cost no allocation.
//!
//! `cargo bench -p scrim-policies --bench plan`
use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    net::{IpAddr, Ipv4Addr},
    sync::atomic::{AtomicU64, Ordering},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrim_event::{
    Direction, Event, FieldValue, NetworkEvent, NetworkEventKind, ProcessContext, SocketAddress,
    record::Record,
};
use scrim_policies::{RecordPlan, compile_source};

/// Counts allocations, to show that fixed-size fields need none.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A realistic plan over fixed-size fields only: two pseudonyms, a
/// truncated address, a coarsened time, kept integers.
const POLICY: &str = r#"version = 1
[keys]
master_key_file = "master.key"
rotation = "30d"
[[tenant]]
name = "bench"
purpose = "benchmark"
legal_basis = "legitimate_interests"
match = { cgroup_path = ["/**"] }
capture = ["network"]
retention = { network = "1d" }
sinks = [{ parquet = { path = "unused" } }]
[tenant.fields]
"time" = { coarsen = "1m" }
"event.name" = "keep"
"process.pid" = "pseudonymize"
"process.real_user.id" = "pseudonymize"
"network.peer.address" = { truncate = { ipv4 = 24, ipv6 = 48 } }
"network.peer.port" = "keep"
"scrim.network.bytes_sent" = "keep"
"scrim.network.bytes_received" = "keep"
"#;

fn plan() -> (tempfile::TempDir, RecordPlan) {
    let directory = scrim_testkit::keys::directory_with_master_key();
    let policy = compile_source(POLICY, directory.path()).expect("benchmark policy compiles");
    let plan = policy.record_plans().remove(0);
    (directory, plan)
}

fn event(index: u32) -> Event {
    Event::Network(NetworkEvent {
        kind: NetworkEventKind::Close,
        time: 1_795_633_169_000_000_000 + i64::from(index),
        process: ProcessContext {
            pid: 4000 + index % 64,
            parent_pid: 1,
            real_user_id: 1000 + index % 16,
            real_group_id: 1000,
            cgroup_id: 7,
            executable_name: Some("curl".into()),
            creation_time: 1_795_633_168_000_000_000,
        },
        direction: Direction::Outbound,
        local: None,
        peer: Some(SocketAddress {
            address: IpAddr::V4(Ipv4Addr::new(203, 0, 113, (index % 250) as u8)),
            port: 443,
        }),
        bytes_sent: Some(512),
        bytes_received: Some(4096),
        duration_ns: Some(1_000_000),
    })
}

/// Applies the plan and touches every value, as a sink would.
fn apply(plan: &mut RecordPlan, event: &Event) -> usize {
    let mut touched = 0;
    if let Some(mut record) = plan.apply(event) {
        record.visit_columns(&mut |value| {
            touched += match value {
                FieldValue::String(text) => text.len(),
                _ => 1,
            };
        });
    }
    touched
}

fn bench(criterion: &mut Criterion) {
    let (_keys, mut plan) = plan();
    let events: Vec<Event> = (0..1024).map(event).collect();
    // Warm the pseudonymiser's epoch key, then count.
    apply(&mut plan, &events[0]);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for event in &events {
        black_box(apply(&mut plan, event));
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!(
        "plan: {allocations} allocations for {} events (fixed-size fields only)",
        events.len()
    );
    assert_eq!(allocations, 0, "applying a fixed-size plan allocated");

    let mut group = criterion.benchmark_group("plan");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(
        "network close: 2 pseudonyms, truncate, coarsen, 4 kept",
        |bencher| {
            bencher.iter(|| {
                for event in &events {
                    black_box(apply(&mut plan, black_box(event)));
                }
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
