//! `scrim run`: probes -> archive, with a summary line every few seconds.
//!
//! The async side only reads the ring buffer and reacts to signals and
//! timers; encoding and file I/O happen on a sink thread, fed through a
//! bounded channel. When the sink falls behind, the reader waits, the ring
//! buffer fills, and the kernel counts what it cannot deliver: slow disks show
//! up as counted losses, never as silent ones.
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use scrim_probes::{
    CaptureFields, CaptureKinds, Captured, ProbeOptions, Probes, SyscallSet, TenantFilter,
};
use scrim_sinks::{Archive, ArchiveOptions, ArchiveStats, Format};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

use crate::summary::Summary;

/// Every event goes to this tenant until tenant resolution lands.
const DEFAULT_TENANT: &str = "default";
/// Batches in flight between the reader and the sink thread.
const SINK_QUEUE_BATCHES: usize = 64;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Stop after this long (for example `30s`, `5m`); default: until Ctrl-C or SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Archive directory.
    #[arg(long, default_value = "scrim-archive")]
    output: PathBuf,

    /// File format of the archive.
    #[arg(long, value_enum, default_value_t = OutputFormat::Parquet)]
    format: OutputFormat,

    /// How often to print the summary line.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    summary_interval: Duration,

    /// Complete (and publish) each archive file at most this long after opening it.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    roll_interval: Duration,

    /// Kernel ring-buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 4)]
    ring_buffer_mib: u32,

    /// Also capture these syscalls (comma-separated names, for example
    /// `openat,connect`), with their decoded arguments. Until policies land,
    /// this applies to every process.
    #[arg(long, value_delimiter = ',', value_parser = parse_syscall)]
    syscalls: Vec<u32>,

    /// Also capture TCP connects, accepts and closes, with addresses, ports
    /// and byte counts. Until policies land, this applies to every process.
    #[arg(long)]
    network: bool,
}

fn parse_syscall(name: &str) -> Result<u32, String> {
    scrim_event::syscall_number(name).ok_or_else(|| format!("unknown syscall `{name}`"))
}

/// The built-in default filter, plus what the command line asks for.
fn default_tenant_filter(syscalls: &[u32], network: bool) -> anyhow::Result<TenantFilter> {
    let mut filter = TenantFilter {
        syscalls: SyscallSet::from_numbers(syscalls.iter().copied())?,
        ..TenantFilter::DEFAULT
    };
    if !filter.syscalls.is_empty() {
        filter.kinds = filter.kinds | CaptureKinds::SYSCALL;
        filter.fields = filter.fields
            | CaptureFields::SYSCALL_ARGS
            | CaptureFields::SYSCALL_STRINGS
            | CaptureFields::SOCKET_ADDRESSES;
    }
    if network {
        filter.kinds = filter.kinds | CaptureKinds::NETWORK;
        filter.fields = filter.fields | CaptureFields::SOCKET_ADDRESSES;
    }
    Ok(filter)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputFormat {
    /// Parquet, zstd-compressed.
    Parquet,
    /// JSON lines, one object per event.
    Jsonl,
}

enum SinkMessage {
    Events(Vec<Captured>),
    /// Time to complete files whose roll interval has passed.
    Tick,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut archive_options = ArchiveOptions::new(
        &args.output,
        match args.format {
            OutputFormat::Parquet => Format::Parquet,
            OutputFormat::Jsonl => Format::JsonLines,
        },
    );
    archive_options.roll_interval = args.roll_interval;
    let archive = Archive::create(archive_options)?;
    let ring_buffer_bytes = args
        .ring_buffer_mib
        .checked_mul(1 << 20)
        .context("--ring-buffer-mib is too large")?;
    // Until policies can ask for them (and scrub them), arguments stay in
    // the kernel: the built-in default filter never reads them.
    let mut probes = Probes::load(&ProbeOptions {
        ring_buffer_bytes,
        default_tenant: default_tenant_filter(&args.syscalls, args.network)?,
        ..ProbeOptions::default()
    })?;
    eprintln!(
        "scrim: capturing process events into {} ({:?}); Ctrl-C to stop",
        args.output.display(),
        args.format
    );

    let archive_stats = Arc::new(Mutex::new(ArchiveStats::default()));
    let (sender, receiver) = mpsc::channel(SINK_QUEUE_BATCHES);
    let sink = {
        let archive_stats = Arc::clone(&archive_stats);
        thread::Builder::new()
            .name("scrim-sink".into())
            .spawn(move || sink_loop(archive, receiver, &archive_stats))
            .context("cannot start the sink thread")?
    };

    let started = Instant::now();
    let mut received = 0u64;
    let summary = |received, probes: &Probes| Summary {
        elapsed: started.elapsed(),
        received,
        archive: archive_stats.lock().map(|stats| *stats).unwrap_or_default(),
        kernel: probes.kernel_counters().unwrap_or_default(),
        undecodable: probes.undecodable(),
    };

    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let deadline = tokio::time::sleep(args.duration.unwrap_or(Duration::MAX));
    tokio::pin!(deadline);
    let mut summary_timer = tokio::time::interval_at(
        tokio::time::Instant::now() + args.summary_interval,
        args.summary_interval,
    );
    let mut roll_timer = tokio::time::interval(Duration::from_secs(1));
    let mut batch = Vec::new();

    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            read = probes.read(&mut batch) => {
                read?;
                received += batch.len() as u64;
                // New cgroups need no placing yet: without tenants, all fall
                // into the default one.
                probes.take_new_cgroups();
                if sender.send(SinkMessage::Events(std::mem::take(&mut batch))).await.is_err() {
                    break; // the sink thread died; its error is reported below
                }
            }
            _ = summary_timer.tick() => eprintln!("{}", summary(received, &probes)),
            _ = roll_timer.tick() => {
                if sender.send(SinkMessage::Tick).await.is_err() {
                    break;
                }
            }
        }
    }

    // Whatever the kernel delivered before we stopped is still written.
    probes.drain(&mut batch);
    received += batch.len() as u64;
    // A send error here means the sink thread died; joining it says why.
    let _ = sender.send(SinkMessage::Events(batch)).await;
    drop(sender);
    let final_stats = sink
        .join()
        .map_err(|_| anyhow::anyhow!("the sink thread panicked"))?;
    let mut last = summary(received, &probes);
    last.archive = final_stats;
    eprintln!("{last} (final)");
    if received == 0 {
        eprintln!(
            "scrim: nothing was captured: no process was created, exec'd or exited \
             (start some programs while scrim runs)"
        );
    } else {
        eprintln!(
            "scrim: archive in {}/tenant={DEFAULT_TENANT}/",
            args.output.display()
        );
    }
    Ok(())
}

/// Runs on the sink thread until the channel closes; returns the final stats.
fn sink_loop(
    mut archive: Archive,
    mut receiver: mpsc::Receiver<SinkMessage>,
    shared_stats: &Mutex<ArchiveStats>,
) -> ArchiveStats {
    let mut last_error = String::new();
    let mut report = |outcome: Result<(), scrim_sinks::SinkError>| {
        if let Err(error) = outcome {
            // Each row is counted in the stats; the message is printed once
            // per distinct error so a full disk does not flood the terminal.
            let message = error.to_string();
            if message != last_error {
                eprintln!("scrim: {message}");
                last_error = message;
            }
        }
    };
    while let Some(message) = receiver.blocking_recv() {
        match message {
            SinkMessage::Events(events) => {
                // Every slot is the default tenant until tenant resolution
                // assigns cgroups to others.
                for captured in &events {
                    report(archive.write(DEFAULT_TENANT, &captured.event));
                }
            }
            SinkMessage::Tick => report(archive.roll_expired(Instant::now())),
        }
        if let Ok(mut stats) = shared_stats.lock() {
            *stats = archive.stats();
        }
    }
    let (stats, outcome) = archive.close();
    report(outcome);
    stats
}
