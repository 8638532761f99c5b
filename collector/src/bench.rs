//! `scrim bench probes`: what the probes cost a syscall-heavy workload.
//!
//! One loop of `openat("/dev/null")` + `close` pairs runs four ways: with
//! the probes detached; with the syscall hooks attached but no tenant wanting
//! these syscalls; with another tenant wanting them and the loop's own tenant
//! not (dropped at the tenant check in the kernel); and with every event
//! captured while a reader drains the ring buffer on the other core. Each
//! runs `--rounds` times and the fastest round counts, which damps the noise
//! of a shared 2-core machine. It prints the slowdown of each, and the
//! reader's throughput and losses.
use std::{
    ffi::CStr,
    path::Path,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use scrim_probes::{
    CaptureFields, CaptureKinds, KernelCounter, ProbeOptions, Probes, SyscallSet, TenantFilter,
    TenantSlot, cgroup2_root, list_cgroups,
};

use crate::{
    outputs::{PolicyOutputs, SinkSettings},
    tenancy::Tenancy,
    workloads::Workloads,
};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Subcommand, Debug)]
enum BenchTarget {
    /// Probe overhead on an openat+close loop, and reader throughput.
    Probes {
        /// openat+close pairs per round.
        #[arg(long, default_value_t = 1_000_000)]
        pairs: u64,
        /// Rounds per configuration; the fastest counts.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Ring-buffer size in MiB for the captured runs.
        #[arg(long, default_value_t = 64)]
        ring_buffer_mib: u32,
    },
    /// Erasing one subject from an archive the pipeline wrote.
    Erase {
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
    },
    /// The userspace pipeline without the kernel: a synthetic source through
    /// tenant resolution, plans and the Parquet sink, on one thread.
    Pipeline {
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        #[arg(long, default_value_t = 10)]
        tenants: u32,
    },
    /// Time to check a policy with many tenants, compile it into kernel
    /// filters and write them into the running probes.
    Policy {
        #[arg(long, default_value_t = 100)]
        tenants: u32,
        /// Repetitions; the fastest counts.
        #[arg(long, default_value_t = 10)]
        rounds: u32,
    },
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Probes {
            pairs,
            rounds,
            ring_buffer_mib,
        } => probes(pairs, rounds.max(1), ring_buffer_mib).await,
        BenchTarget::Policy { tenants, rounds } => policy(tenants, rounds.max(1)),
        BenchTarget::Pipeline { events, tenants } => crate::pipeline_bench::run(events, tenants),
        BenchTarget::Erase { events } => crate::erase_bench::run(events),
    }
}

/// A policy with `tenants` tenants, each capturing every kind with a few
/// field rules.
fn generated_policy(tenants: u32) -> String {
    let mut policy = String::from("version = 1\n");
    for index in 0..tenants {
        policy.push_str(&format!(
            r#"
[[tenant]]
name = "tenant-{index}"
purpose = "security monitoring"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["/tenants/{index}/**"], k8s_namespace = ["team-{index}"] }}
capture = ["process", "network", "syscall:openat,connect,execve"]
retention = {{ process = "30d", network = "7d", syscall = "7d" }}
sinks = [{{ parquet = {{ path = "/var/lib/scrim/{index}" }} }}]

[tenant.fields]
"time" = {{ coarsen = "1m" }}
"process.executable.path" = "keep"
"process.command_args" = "scrub_secrets"
"network.peer.address" = {{ truncate = {{ ipv4 = 24, ipv6 = 48 }} }}
"file.path" = {{ generalize = {{ depth = 3 }} }}
"#
        ));
    }
    policy
}

/// The fastest of `rounds` runs of `work`.
fn fastest_of<T>(rounds: u32, mut work: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..rounds {
        let started = Instant::now();
        let output = work();
        let elapsed = started.elapsed();
        if best.as_ref().is_none_or(|(fastest, _)| elapsed < *fastest) {
            best = Some((elapsed, output));
        }
    }
    best.expect("at least one round")
}

fn policy(tenants: u32, rounds: u32) -> anyhow::Result<()> {
    let source = generated_policy(tenants);
    println!(
        "scrim bench policy: {tenants} tenants ({} KiB of TOML), fastest of {rounds} rounds",
        source.len() / 1024
    );
    let (compiling, policy) = fastest_of(rounds, || {
        scrim_policies::compile_source(&source, Path::new("."))
    });
    let policy =
        Arc::new(policy.map_err(|errors| anyhow::anyhow!("generated policy invalid: {errors:?}"))?);
    println!(
        "  parse, check, compile  {:>8.2} ms  (kernel capture plans, record plans)",
        compiling.as_secs_f64() * 1e3
    );
    let mut total = compiling;
    let probes = Probes::load(&ProbeOptions {
        default_tenant: TenantFilter::NOTHING,
        ..ProbeOptions::default()
    });
    match probes {
        Ok(mut probes) => {
            let cgroups = list_cgroups(&cgroup2_root()?)?;
            let settings = SinkSettings {
                root_override: None,
                format_override: None,
                roll_interval: Duration::from_secs(60),
                roll_bytes: scrim_sinks::ArchiveOptions::DEFAULT_MAX_BYTES_PER_FILE,
                spool_root: std::env::temp_dir(),
                staging_root: std::env::temp_dir(),
                spool_max_bytes: 0,
            };
            let (swapping, swapped) = fastest_of(rounds, || -> anyhow::Result<usize> {
                let mut tenancy = Tenancy::new(Workloads::new("bench"));
                tenancy.apply(Arc::clone(&policy), &mut probes, &cgroups)?;
                let outputs = PolicyOutputs::new(&policy, tenancy.tenant_of_slot(), &settings);
                Ok(outputs.archive_roots().len())
            });
            swapped?;
            println!(
                "  swap in                {:>8.2} ms  ({} kernel filters written, {} cgroups placed, plans built)",
                swapping.as_secs_f64() * 1e3,
                tenants + 1,
                cgroups.len()
            );
            total += swapping;
        }
        Err(error) => println!("  swap in                skipped: {error}"),
    }
    println!(
        "  total                  {:>8.2} ms",
        total.as_secs_f64() * 1e3
    );
    Ok(())
}

const DEV_NULL: &CStr = c"/dev/null";

/// The workload: `pairs` openat+close pairs, timed.
fn open_close_loop(pairs: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..pairs {
        // SAFETY: a valid C string; the descriptor is closed at once.
        unsafe {
            let fd = libc::openat(
                libc::AT_FDCWD,
                DEV_NULL.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            libc::close(fd);
        }
    }
    started.elapsed()
}

/// The fastest of `rounds` runs of the loop.
fn fastest(rounds: u32, pairs: u64) -> Duration {
    (0..rounds)
        .map(|_| open_close_loop(pairs))
        .min()
        .unwrap_or_default()
}

fn syscalls(names: &[&str]) -> anyhow::Result<SyscallSet> {
    let numbers = names
        .iter()
        .map(|name| scrim_event::syscall_number(name).with_context(|| format!("syscall {name}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(SyscallSet::from_numbers(numbers)?)
}

/// Totals of the captured rounds.
#[derive(Default)]
struct Captured {
    fastest: Option<Duration>,
    delivered: u64,
    lost: u64,
    reading: Duration,
}

async fn probes(pairs: u64, rounds: u32, ring_buffer_mib: u32) -> anyhow::Result<()> {
    let capture = TenantFilter {
        kinds: CaptureKinds::SYSCALL,
        fields: CaptureFields::COMM | CaptureFields::SYSCALL_ARGS | CaptureFields::SYSCALL_STRINGS,
        syscalls: syscalls(&["openat", "close"])?,
        rate_limit: None,
    };
    println!("scrim bench probes: {pairs} openat+close pairs, fastest of {rounds} rounds");
    open_close_loop(pairs / 10); // warm caches
    let detached = fastest(rounds, pairs);
    report("detached", detached, detached, "");

    // The workload is this process: it must not be excluded.
    let mut probes = Probes::load(&ProbeOptions {
        excluded_tgid: None,
        ring_buffer_bytes: ring_buffer_mib
            .checked_mul(1 << 20)
            .context("--ring-buffer-mib is too large")?,
        ..ProbeOptions::default()
    })?;
    // The hooks run, but no tenant wants these syscall numbers: each stops
    // at one array lookup.
    let unrelated = TenantFilter {
        syscalls: syscalls(&["mount"])?,
        ..capture
    };
    let other_tenant = TenantSlot::new(1)?;
    probes.set_tenant_filter(other_tenant, &unrelated)?;
    let unwanted = fastest(rounds, pairs);
    report(
        "attached, not wanted",
        unwanted,
        detached,
        "no tenant wants openat or close",
    );

    // Another tenant wants them; this process's tenant (the default) does
    // not, so each event stops at the tenant check.
    probes.set_tenant_filter(other_tenant, &capture)?;
    let before = probes.kernel_counters()?.get(KernelCounter::FilteredKind);
    let filtered = fastest(rounds, pairs);
    let dropped = probes.kernel_counters()?.get(KernelCounter::FilteredKind) - before;
    report(
        "attached, filtered",
        filtered,
        detached,
        &format!("{dropped} events dropped in the kernel"),
    );

    probes.set_tenant_filter(TenantSlot::DEFAULT, &capture)?;
    let mut captured = Captured::default();
    for _ in 0..rounds {
        capture_round(&mut probes, pairs, &mut captured).await?;
    }
    report(
        "attached, captured",
        captured.fastest.unwrap_or_default(),
        detached,
        &format!(
            "{} events read, {} lost; reader {:.2} M events/s",
            captured.delivered,
            captured.lost,
            captured.delivered as f64 / captured.reading.as_secs_f64() / 1e6
        ),
    );
    Ok(())
}

/// One captured round: the loop on its own thread, this one reading.
async fn capture_round(
    probes: &mut Probes,
    pairs: u64,
    totals: &mut Captured,
) -> anyhow::Result<()> {
    let lost_before = probes.kernel_counters()?.get(KernelCounter::RingBufferFull);
    let workload = thread::spawn(move || open_close_loop(pairs));
    let mut batch = Vec::new();
    let reading = Instant::now();
    while !workload.is_finished() {
        probes.read(&mut batch).await?;
        totals.delivered += batch.len() as u64;
        batch.clear();
    }
    let elapsed = workload
        .join()
        .map_err(|_| anyhow::anyhow!("the workload thread panicked"))?;
    probes.drain(&mut batch);
    totals.delivered += batch.len() as u64;
    totals.reading += reading.elapsed();
    totals.lost += probes.kernel_counters()?.get(KernelCounter::RingBufferFull) - lost_before;
    totals.fastest = Some(totals.fastest.map_or(elapsed, |best| best.min(elapsed)));
    Ok(())
}

fn report(label: &str, elapsed: Duration, baseline: Duration, note: &str) {
    println!(
        "  {label:<20} {:>8.3} s  {:>5.2}x  {note}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
}
