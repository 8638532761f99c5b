//! `scrim bench probes`: what the probes cost a syscall-heavy workload.
//!
//! One loop of `openat("/dev/null")` + `close` pairs runs three ways:
//! with the probes detached; with the syscall hooks attached but every event
//! filtered out in the kernel (another tenant wants these syscalls, the
//! workload's does not); and with every event captured, a reader draining the
//! ring buffer on the other core. It prints the slowdown of each, and the
//! reader's throughput and losses.
use std::{
    ffi::CStr,
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use scrim_probes::{
    CaptureFields, CaptureKinds, KernelCounter, ProbeOptions, Probes, SyscallSet, TenantFilter,
    TenantSlot,
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
        /// openat+close pairs per run.
        #[arg(long, default_value_t = 1_000_000)]
        pairs: u64,
        /// Ring-buffer size in MiB for the captured run.
        #[arg(long, default_value_t = 64)]
        ring_buffer_mib: u32,
    },
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Probes {
            pairs,
            ring_buffer_mib,
        } => probes(pairs, ring_buffer_mib).await,
    }
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

fn open_close() -> anyhow::Result<SyscallSet> {
    Ok(SyscallSet::from_numbers([
        scrim_event::syscall_number("openat").context("openat")?,
        scrim_event::syscall_number("close").context("close")?,
    ])?)
}

async fn probes(pairs: u64, ring_buffer_mib: u32) -> anyhow::Result<()> {
    let syscalls = open_close()?;
    let capture = TenantFilter {
        kinds: CaptureKinds::SYSCALL,
        fields: CaptureFields::COMM | CaptureFields::SYSCALL_ARGS | CaptureFields::SYSCALL_STRINGS,
        syscalls,
        rate_limit: None,
    };
    println!("scrim bench probes: {pairs} openat+close pairs per run");
    open_close_loop(pairs / 10); // warm caches
    let detached = open_close_loop(pairs);
    report("detached", detached, detached, "");

    // The workload is this process: it must not be excluded.
    let mut probes = Probes::load(&ProbeOptions {
        excluded_tgid: None,
        ring_buffer_bytes: ring_buffer_mib
            .checked_mul(1 << 20)
            .context("--ring-buffer-mib is too large")?,
        ..ProbeOptions::default()
    })?;
    // Another tenant wants the syscalls, so the hooks are attached; this
    // process's tenant (the default) does not, so each event stops at the
    // tenant check.
    // First the cheapest filter: the hooks run, but no tenant wants these
    // syscall numbers, so each stops at one array lookup.
    let other_syscall = TenantFilter {
        syscalls: SyscallSet::from_numbers([
            scrim_event::syscall_number("mount").context("mount")?
        ])?,
        ..capture
    };
    probes.set_tenant_filter(TenantSlot::new(1)?, &other_syscall)?;
    let unwanted = open_close_loop(pairs);
    report(
        "attached, not wanted",
        unwanted,
        detached,
        "no tenant wants openat or close",
    );

    probes.set_tenant_filter(TenantSlot::new(1)?, &capture)?;
    let before = probes.kernel_counters()?;
    let filtered = open_close_loop(pairs);
    let dropped = probes.kernel_counters()?.get(KernelCounter::FilteredKind)
        - before.get(KernelCounter::FilteredKind);
    report(
        "attached, filtered",
        filtered,
        detached,
        &format!("{dropped} events dropped in the kernel"),
    );

    probes.set_tenant_filter(TenantSlot::DEFAULT, &capture)?;
    let before = probes.kernel_counters()?;
    let workload = thread::spawn(move || open_close_loop(pairs));
    let mut batch = Vec::new();
    let mut delivered = 0u64;
    let reading = Instant::now();
    while !workload.is_finished() {
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(50), probes.read(&mut batch)).await
        {
            read?;
        }
        delivered += batch.len() as u64;
        batch.clear();
    }
    let captured = workload
        .join()
        .map_err(|_| anyhow::anyhow!("the workload thread panicked"))?;
    probes.drain(&mut batch);
    delivered += batch.len() as u64;
    let read_for = reading.elapsed();
    let after = probes.kernel_counters()?;
    let lost = after.get(KernelCounter::RingBufferFull) - before.get(KernelCounter::RingBufferFull);
    report(
        "attached, captured",
        captured,
        detached,
        &format!(
            "{delivered} events read, {lost} lost; reader {:.2} M events/s",
            delivered as f64 / read_for.as_secs_f64() / 1e6
        ),
    );
    Ok(())
}

fn report(label: &str, elapsed: Duration, baseline: Duration, note: &str) {
    println!(
        "  {label:<20} {:>8.3} s  {:>5.2}x  {note}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
}
