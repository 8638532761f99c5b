//! `scrim bench pipeline`: the userspace pipeline without the kernel. A
//! synthetic event source goes through tenant resolution (cgroup id ->
//! tenant slot, as placed by the policy's selectors), a realistic plan (two
//! pseudonymised fields, a truncated address, scrubbed arguments) and the
//! Parquet sink (zstd), on one thread: what one core sustains. It prints
//! events/s and the process's peak memory.
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use scrim_event::{
    Direction, Event, NetworkEvent, NetworkEventKind, ProcessContext, ProcessEvent,
    ProcessEventKind, SocketAddress,
};
use scrim_policies::{CompiledPolicy, Placement, Workload};
use scrim_probes::TenantSlot;
use scrim_redaction::MasterKey;
use scrim_sinks::{ArchiveStats, Format};

use crate::{
    outputs::{PolicyOutputs, SinkSettings},
    tenant_pipeline::{PipelineSettings, TenantPipeline, add_stats},
    workloads::Workloads,
};

/// Distinct events the source cycles through.
const POOL: usize = 4096;
/// cgroups per tenant in the synthetic node.
const CGROUPS_PER_TENANT: u64 = 8;

fn policy_text(tenants: u32) -> String {
    let mut text =
        String::from("version = 1\n[keys]\nmaster_key_file = \"master.key\"\nrotation = \"30d\"\n");
    for index in 0..tenants {
        text.push_str(&format!(
            r#"
[[tenant]]
name = "tenant-{index}"
purpose = "benchmark"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["/tenants/{index}/**"] }}
capture = ["process", "network"]
retention = {{ process = "30d", network = "7d" }}
sinks = [{{ parquet = {{ path = "unused" }} }}]
[tenant.fields]
"time" = "keep"
"event.name" = "keep"
"process.pid" = "pseudonymize"
"process.real_user.id" = "pseudonymize"
"scrim.cgroup.id" = "keep"
"process.executable.path" = "keep"
"process.command_args" = "scrub_secrets"
"network.peer.address" = {{ truncate = {{ ipv4 = 24, ipv6 = 48 }} }}
"network.peer.port" = "keep"
"scrim.network.bytes_sent" = "keep"
"#
        ));
    }
    text
}

/// Half execs with a 100-byte command line (one in eight with a password
/// in it), half connection closes; spread over every tenant's cgroups.
fn synthetic_events(cgroups: &[u64]) -> Vec<Event> {
    let started = 1_795_633_169_000_000_000;
    (0..POOL)
        .map(|index| {
            let number = index as u32;
            let process = ProcessContext {
                pid: 10_000 + number,
                parent_pid: 1,
                real_user_id: 1000 + number % 50,
                real_group_id: 1000,
                cgroup_id: cgroups[index % cgroups.len()],
                executable_name: Some("python3".into()),
                creation_time: started,
            };
            let time = started + i64::from(number) * 1000;
            if index % 2 == 0 {
                let secret = if index % 16 == 0 {
                    "--password=hunter2-Xq7"
                } else {
                    "--log-level=info-verbose"
                };
                Event::Process(ProcessEvent {
                    kind: ProcessEventKind::Exec,
                    time,
                    process,
                    executable_path: Some("/usr/bin/python3".into()),
                    executable_path_truncated: false,
                    command_args: Some(
                        [
                            "python3",
                            "-m",
                            "http.server",
                            "--bind",
                            "127.0.0.1",
                            "--directory",
                            "/srv/www/static",
                            secret,
                        ]
                        .map(String::from)
                        .to_vec(),
                    ),
                    command_args_truncated: false,
                    exit: None,
                })
            } else {
                Event::Network(NetworkEvent {
                    kind: NetworkEventKind::Close,
                    time,
                    process,
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
        })
        .collect()
}

/// The slot of each synthetic cgroup, as `scrim run` places them: tenants
/// hold slots 1 and up, in file order.
fn resolution(policy: &CompiledPolicy, tenants: u32) -> anyhow::Result<HashMap<u64, TenantSlot>> {
    let mut slots = HashMap::new();
    for tenant in 0..u64::from(tenants) {
        for pod in 0..CGROUPS_PER_TENANT {
            let id = 1_000_000 + tenant * CGROUPS_PER_TENANT + pod;
            let path = format!("/tenants/{tenant}/pod-{pod}");
            let workload = Workload {
                cgroup_path: &path,
                pod: None,
            };
            if let Placement::Tenant(index) = policy.place(&workload) {
                slots.insert(id, TenantSlot::new(u32::try_from(index + 1)?)?);
            }
        }
    }
    Ok(slots)
}

/// An archive a benchmark wrote: where, under which policy, and what it
/// took.
pub struct SyntheticArchive {
    pub directory: std::path::PathBuf,
    pub policy: CompiledPolicy,
    pub archive: ArchiveStats,
    pub elapsed: Duration,
}

impl SyntheticArchive {
    /// The archive of `tenant-0`... under `directory/archive`.
    pub fn root(&self) -> std::path::PathBuf {
        self.directory.join("archive")
    }

    pub fn remove(self) -> anyhow::Result<()> {
        std::fs::remove_dir_all(&self.directory)
            .with_context(|| format!("cannot remove {}", self.directory.display()))
    }
}

pub fn run(events: u64, tenants: u32) -> anyhow::Result<()> {
    let tenants = tenants.max(1);
    println!(
        "scrim bench pipeline: {events} synthetic events (half execs with scrubbed 100-byte \
         command lines, half connection closes), {tenants} tenants, on one thread"
    );
    let written = write_synthetic(events, tenants)?;
    let per_second = events as f64 / written.elapsed.as_secs_f64();
    println!(
        "  resolution, plans, Parquet (zstd)  {:>7.2} s  {:>6.2} M events/s on one core",
        written.elapsed.as_secs_f64(),
        per_second / 1e6
    );
    println!(
        "  {} rows in {} files; peak memory (VmHWM) {} MiB",
        written.archive.rows_committed,
        written.archive.files_committed,
        peak_memory_kib()? / 1024
    );
    written.remove()
}

/// Writes `events` synthetic events of `tenants` tenants through their
/// pipelines into a fresh directory, inline on this thread.
pub fn write_synthetic(events: u64, tenants: u32) -> anyhow::Result<SyntheticArchive> {
    let directory = tempfile_directory()?;
    MasterKey::generate(&directory.join("master.key"))?;
    let policy = scrim_policies::compile_source(&policy_text(tenants), &directory)
        .map_err(|errors| anyhow::anyhow!("benchmark policy invalid: {errors:?}"))?;
    let slots = resolution(&policy, tenants)?;
    let mut cgroups: Vec<u64> = slots.keys().copied().collect();
    cgroups.sort_unstable();
    let pool = synthetic_events(&cgroups);
    let tenant_of_slot = (0..=tenants as usize)
        .map(|slot| slot.checked_sub(1))
        .collect();
    let settings = SinkSettings {
        root_override: Some(directory.join("archive")),
        format_override: Some(Format::Parquet),
        roll_interval: Duration::from_secs(3600),
        roll_bytes: scrim_sinks::ArchiveOptions::DEFAULT_MAX_BYTES_PER_FILE,
        spool_root: directory.join("spool"),
        staging_root: directory.join("uploads"),
        spool_max_bytes: 0,
    };
    let outputs = PolicyOutputs::new(&policy, tenant_of_slot, &settings);
    let route = outputs.tenant_of_slot;
    // Each tenant's pipeline, as its worker thread in `scrim run` owns it;
    // here all run inline on this one thread.
    let mut pipelines = outputs
        .tenants
        .into_iter()
        .map(|tenant| {
            TenantPipeline::new(
                tenant,
                PipelineSettings {
                    roll_interval: settings.roll_interval,
                    roll_bytes: scrim_sinks::ArchiveOptions::DEFAULT_MAX_BYTES_PER_FILE,
                    spool_max_bytes: settings.spool_max_bytes,
                    resources: Arc::new(Workloads::new("bench")),
                    // Nothing in the benchmark is old enough to expire.
                    retention_interval: Duration::from_secs(86_400),
                    audit: None,
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    for index in 0..events {
        let event = &pool[(index % POOL as u64) as usize];
        let slot = slots
            .get(&event.process().cgroup_id)
            .copied()
            .unwrap_or(TenantSlot::DEFAULT);
        if let Some(&Some(tenant)) = route.get(slot.index() as usize) {
            pipelines[tenant].write(event)?;
        }
    }
    let mut archive = ArchiveStats::default();
    for pipeline in pipelines {
        let (report, closed) = pipeline.close();
        closed?;
        archive = add_stats(archive, report.archive);
    }
    Ok(SyntheticArchive {
        elapsed: started.elapsed(),
        directory,
        policy,
        archive,
    })
}

fn tempfile_directory() -> anyhow::Result<std::path::PathBuf> {
    let directory = std::env::temp_dir().join(format!("scrim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    Ok(directory)
}

/// The process's peak resident memory, from /proc.
fn peak_memory_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}
