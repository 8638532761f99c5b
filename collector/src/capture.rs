//! `scrim run`: probes -> per-tenant policy -> archives, with a summary line
//! every few seconds.
//!
//! The async side reads the ring buffer, places new cgroups in tenants and
//! reacts to signals, timers, pod changes and policy changes; each tenant's
//! plan, encoding and file I/O run on that tenant's own thread, fed through
//! its own bounded queue (see `dispatch`). A tenant whose sink falls behind
//! loses its own excess, counted as `queue_full`; the reader and the other
//! tenants never wait for it.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use scrim_audit::AuditLog;
use scrim_files::{StateLock, check_private};
use scrim_kubernetes::{PodChange, PodWatch};
use scrim_policies::CompiledPolicy;
use scrim_probes::{
    KernelCounter, KernelCounters, ProbeOptions, Probes, TenantFilter, UnknownCgroups,
    cgroup2_root, list_cgroups,
};
use scrim_sinks::Format;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cli_values,
    control::{self, ControlServer},
    dispatch::Dispatcher,
    logging::{self, LogFormat, LogLevel},
    metrics::{self, MetricsServer, Scrape},
    outputs::{PolicyOutputs, SinkSettings},
    policy_source::{Loading, PolicySource},
    privileges, status,
    summary::Summary,
    tenancy::{PlacementCounts, Tenancy},
    tenant_pipeline::{PipelineSettings, unix_now},
    workloads::Workloads,
};

/// Each tenant's queue, in ring-buffer bytes, unless told otherwise: about
/// 64k syscall records, 45k exec records (see `dispatch`).
const DEFAULT_TENANT_QUEUE_BYTES: usize = 64 << 20;

/// How often the policy file is checked for changes.
const POLICY_POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Policy file: who is captured, what leaves, in what form, and where it
    /// goes. Reloaded on SIGHUP and when the file changes. Default: the
    /// built-in privacy-by-default policy (`policies/examples/default.toml`).
    #[arg(long)]
    policy: Option<PathBuf>,

    /// Stop after this long (for example `30s`, `5m`); default: until Ctrl-C or SIGTERM.
    #[arg(long, value_parser = cli_values::run_duration)]
    duration: Option<Duration>,

    /// Write every tenant's archive under this directory instead of the
    /// paths its policy names: a writable directory (or one that can be
    /// created) on an ordinary filesystem, not under /proc or /sys.
    #[arg(long, value_parser = cli_values::output_directory)]
    output: Option<PathBuf>,

    /// Write every archive in this format instead of its sink's.
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,

    /// How often to print the summary line (100ms to 1 day).
    #[arg(long, default_value = "5s", value_parser = cli_values::summary_interval)]
    summary_interval: Duration,

    /// Complete (and publish) each archive file at most this long after
    /// opening it (1s to 1 day).
    #[arg(long, default_value = "60s", value_parser = cli_values::roll_interval)]
    roll_interval: Duration,

    /// Complete (and publish) each archive file once it is about this many
    /// MiB (1 to 65536).
    #[arg(long, default_value_t = 128, value_parser = cli_values::roll_size_mib)]
    roll_size_mib: u64,

    /// Kernel ring-buffer size in MiB (a power of two, 1 to 512). 64 by default:
    /// a syscall record takes about 1 KiB, so this holds some 64k of them
    /// while the reader is off the CPU (a 4 MiB buffer overflowed within a
    /// 300k events/s burst on a busy 2-core machine).
    #[arg(long, default_value_t = 64, value_parser = cli_values::ring_buffer_mib)]
    ring_buffer_mib: u32,

    /// What each tenant's queue holds, in MiB of the ring buffer its events
    /// took (a decoded event takes less memory than its record, so this
    /// also bounds the queue's memory); default: 64, or the ring buffer's
    /// size if larger, so that a burst the kernel could hold is never lost
    /// in userspace. A tenant whose sink falls further behind loses its
    /// excess (counted), and no other tenant waits (1 to 4096).
    #[arg(long, value_parser = cli_values::tenant_queue_mib)]
    tenant_queue_mib: Option<u32>,

    /// Where scrim keeps state across runs: the audit log, the spools of
    /// OTLP sinks, uploads to object storage. Default: /var/lib/scrim/state
    /// as root, else $XDG_STATE_HOME/scrim (~/.local/state/scrim): one per
    /// host, the same for `scrim archive` and `scrim audit`.
    #[arg(long, env = "SCRIM_STATE_DIR", default_value_os_t = default_state_dir())]
    state_dir: PathBuf,

    /// The bound of each OTLP sink's spool, in MiB: past it, the oldest
    /// spooled spans are dropped (counted). 1 to 1048576.
    #[arg(long, default_value_t = 256, value_parser = cli_values::spool_max_mib)]
    spool_max_mib: u64,

    /// How often each tenant's archives are checked against the policy's
    /// retention (also at start); removals go to the audit log in the
    /// state directory (1s to 30 days).
    #[arg(long, default_value = "1h", value_parser = cli_values::retention_interval)]
    retention_interval: Duration,

    /// Serve Prometheus metrics at http://ADDRESS/metrics, or `off`.
    #[arg(long, default_value = "127.0.0.1:9477", value_parser = parse_metrics_address)]
    metrics_address: MetricsAddress,

    /// How to log: plain lines for a terminal, or JSON objects (with every
    /// count as a field) for a cluster's log pipeline.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// How much to log: `debug` adds each cgroup's placement (its tenant
    /// and the rule that placed it) and each pod change.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,

    /// Pod metadata for namespace and label selectors: `auto` watches this
    /// node's pods in the Kubernetes API whenever the policy selects by
    /// them (and fails to start without an API); `off` never asks, so such
    /// selectors match nothing.
    #[arg(long, value_enum, default_value_t = KubernetesMode::Auto)]
    kubernetes: KubernetesMode,

    /// The Kubernetes node whose pods are watched (in a DaemonSet, set
    /// NODE_NAME from `spec.nodeName`). Default: this host's name.
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KubernetesMode {
    Auto,
    Off,
}

#[derive(Clone, Copy, Debug)]
enum MetricsAddress {
    Off,
    At(SocketAddr),
}

fn parse_metrics_address(text: &str) -> Result<MetricsAddress, String> {
    if text == "off" {
        return Ok(MetricsAddress::Off);
    }
    text.parse()
        .map(MetricsAddress::At)
        .map_err(|error| format!("{error}: give HOST:PORT, such as 127.0.0.1:9477, or `off`"))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputFormat {
    /// Parquet, zstd-compressed.
    Parquet,
    /// JSON lines, one object per event.
    Jsonl,
}

/// What the capture loop needs to put a policy in force.
struct Steering {
    source: PolicySource,
    tenancy: Tenancy,
    cgroup_root: PathBuf,
    settings: SinkSettings,
    reloads: u64,
    failed_reloads: u64,
    /// New cgroups that could not be placed in their tenant.
    failed_placements: u64,
    /// The hash of the policy in force.
    policy_hash: String,
    /// The hash the audit log last recorded as in force.
    audited_hash: String,
    /// The policy `apply` put in force, and the one the audit log last
    /// recorded (whose key a key change retires).
    in_force: Option<Arc<CompiledPolicy>>,
    recorded: Option<Arc<CompiledPolicy>>,
    /// Where versions of the policy and replaced keys are kept.
    state_dir: PathBuf,
    kubernetes: KubernetesMode,
    node_name: String,
    /// The watch of this node's pods, while the policy needs it.
    pods: Option<PodWatch>,
    pod_watch_failures: u64,
    /// Where policy loads, retention removals, erasures and exports are
    /// recorded.
    audit: AuditLog,
}

impl Steering {
    /// Places every cgroup and writes the kernel filters for `policy`, and
    /// returns the plans for the tenants' pipelines.
    fn apply(
        &mut self,
        policy: CompiledPolicy,
        probes: &mut Probes,
    ) -> anyhow::Result<PolicyOutputs> {
        // Its entries are authenticated with its key from now on; a
        // keyless policy cannot follow a keyed one (the log stays keyed).
        self.audit.set_key(crate::audit::key_of(&policy))?;
        let policy = Arc::new(policy);
        let cgroups = list_cgroups(&self.cgroup_root).with_context(|| {
            format!(
                "cannot list the cgroups under {}",
                self.cgroup_root.display()
            )
        })?;
        self.tenancy.apply(Arc::clone(&policy), probes, &cgroups)?;
        self.policy_hash = policy.hash().to_owned();
        self.in_force = Some(Arc::clone(&policy));
        let outputs = PolicyOutputs::new(&policy, self.tenancy.tenant_of_slot(), &self.settings);
        self.describe(&policy);
        Ok(outputs)
    }

    /// Records the policy in force in the audit log, once its sinks are
    /// open: a start or reload that failed put nothing in force, so it
    /// records nothing. Reloading the same file is no change. Before the
    /// record, the policy's version is kept in the state directory (so the
    /// rules of every hash the log names can be rebuilt) and a replaced
    /// master key is kept, wrapped under the new one; kept keys whose rows
    /// are all past retention go, each removal recorded.
    fn record_policy_in_force(&mut self) -> anyhow::Result<()> {
        if self.audited_hash == self.policy_hash {
            return Ok(());
        }
        let policy = Arc::clone(
            self.in_force
                .as_ref()
                .context("no policy was put in force")?,
        );
        crate::policy_versions::store(&self.state_dir, policy.version())?;
        let now = unix_now();
        let longest = longest_retention(&policy);
        let fingerprint = policy.key_fingerprint();
        let mut details = serde_json::json!({
            "policy": self.origin(),
            "hash": self.policy_hash,
            "master_key_fingerprint": fingerprint,
        });
        let last_in_force = crate::kept_keys::swap_in_force(&self.state_dir, fingerprint)?;
        let previous = self.recorded.clone();
        match &previous {
            Some(previous) => {
                let (before, after) = (previous.version(), policy.version());
                details["previous_hash"] = previous.hash().into();
                details["change"] = if before.only_key_differs(after) {
                    "master key only"
                } else if before.master_key_fingerprint != after.master_key_fingerprint {
                    "policy and master key"
                } else {
                    "policy"
                }
                .into();
                if let Some(kept) = self.retire_key(previous, &policy, now)? {
                    details["replaced_master_key"] = kept;
                }
            }
            None => {
                // A key replaced while no collector ran cannot be kept now.
                if let Some(before) = last_in_force.filter(|before| {
                    Some(before.as_str()) != fingerprint
                        && !crate::kept_keys::is_kept(&self.state_dir, before)
                }) {
                    tracing::warn!(
                        "master key {before} was in force when scrim last ran and is not kept: \
                         rows it pseudonymised cannot be found by a subject request; replace \
                         keys while scrim runs (a reload) to keep the old one"
                    );
                    details["replaced_master_key"] = serde_json::json!({
                        "fingerprint": before,
                        "kept": false,
                    });
                }
            }
        }
        let appended = self.audit.append("policy.load", details, now)?;
        if let Some(recovery) = &appended.recovered {
            tracing::warn!("audit log: {recovery}");
        }
        self.audited_hash.clone_from(&self.policy_hash);
        self.recorded = Some(policy);
        for expired in crate::kept_keys::expire(&self.state_dir, longest, now)? {
            tracing::info!(
                "kept master key {} removed: every row it pseudonymised is past retention",
                expired.fingerprint
            );
            self.audit.append(
                "key.removed",
                serde_json::json!({
                    "fingerprint": expired.fingerprint,
                    "retired": scrim_event::time::UtcDateTime::from_unix_nanos(expired.retired)
                        .rfc3339(),
                }),
                now,
            )?;
        }
        Ok(())
    }

    /// Keeps the key `previous` pseudonymised with, if `policy` brings
    /// another: what the audit entry says of it.
    fn retire_key(
        &self,
        previous: &CompiledPolicy,
        policy: &CompiledPolicy,
        now: i64,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let Some((old, _)) = previous.keys() else {
            return Ok(None);
        };
        if previous.key_fingerprint() == policy.key_fingerprint() {
            return Ok(None);
        }
        let fingerprint = old.fingerprint();
        let Some((new, _)) = policy.keys() else {
            tracing::warn!(
                "the policy has no master key any more: the replaced key {fingerprint} cannot be \
                 kept wrapped; keep its file to answer subject requests over the rows it \
                 pseudonymised"
            );
            return Ok(Some(
                serde_json::json!({ "fingerprint": fingerprint, "kept": false }),
            ));
        };
        let retention = longest_retention(previous).max(longest_retention(policy));
        let unopened = crate::kept_keys::retire(&self.state_dir, &old, &new, retention, now)?;
        for lost in &unopened {
            tracing::warn!(
                "kept master key {lost} does not open with the key it was wrapped under; left \
                 as it is, but no longer usable"
            );
        }
        tracing::info!(
            "master key {fingerprint} replaced by {}: kept wrapped under the new key until its \
             rows are past retention",
            new.fingerprint()
        );
        Ok(Some(serde_json::json!({
            "fingerprint": fingerprint,
            "kept": true,
            "unusable_kept_keys": unopened,
        })))
    }

    /// The policy file in force, or the built-in default: what the audit
    /// log and `scrim status` name.
    fn origin(&self) -> String {
        self.source
            .path()
            .map_or("built-in default".to_owned(), |path| {
                path.display().to_string()
            })
    }

    fn describe(&self, policy: &CompiledPolicy) {
        let origin = self
            .source
            .path()
            .map_or("the built-in default".to_owned(), |path| {
                path.display().to_string()
            });
        let names: Vec<&str> = policy
            .tenants()
            .iter()
            .map(|tenant| tenant.name.as_str())
            .collect();
        let (
            PlacementCounts {
                tenant: placed,
                opted_out,
                unclaimed,
                awaiting_pod,
            },
            _,
        ) = self.tenancy.counts();
        let unknown = policy
            .unknown_tenant()
            .map_or("dropped in the kernel".to_owned(), |index| {
                format!("captured as `{}`", names[index])
            });
        tracing::info!(
            policy = %origin,
            hash = policy.hash(),
            tenants = names.len(),
            cgroups_placed = placed,
            cgroups_opted_out = opted_out,
            cgroups_unclaimed = unclaimed,
            cgroups_awaiting_pod = awaiting_pod,
            "policy {origin} (blake3 {}): tenants {}; cgroups: {placed} placed, \
             {opted_out} opted out, {unclaimed} unclaimed ({unknown}), {awaiting_pod} of pods \
             awaiting their metadata",
            &policy.hash()[..16],
            names.join(", "),
        );
    }

    /// Starts watching this node's pods if the policy in force selects by
    /// their metadata and nobody watches yet.
    async fn watch_pods_if_needed(&mut self, policy_uses_pods: bool) -> anyhow::Result<()> {
        if !policy_uses_pods || self.pods.is_some() || self.kubernetes == KubernetesMode::Off {
            return Ok(());
        }
        let watch = PodWatch::connect(&self.node_name).await.context(
            "the policy selects tenants by Kubernetes namespace or pod labels; pass \
             --kubernetes off to run without pod metadata (such selectors then match nothing)",
        )?;
        tracing::info!(
            node = %self.node_name,
            "watching the pods of node `{}` for their namespace and labels",
            self.node_name
        );
        self.pods = Some(watch);
        Ok(())
    }

    /// The next change to this node's pods; never, without a watch.
    async fn next_pod_change(
        pods: &mut Option<PodWatch>,
    ) -> Result<PodChange, scrim_kubernetes::KubernetesError> {
        match pods {
            Some(watch) => watch.next().await,
            None => std::future::pending().await,
        }
    }

    /// Re-places the cgroups of pods that changed; counts a failed watch
    /// request (the watch retries it).
    fn follow_pods(
        &mut self,
        probes: &mut Probes,
        change: Result<PodChange, scrim_kubernetes::KubernetesError>,
    ) {
        let change = match change {
            Ok(change) => change,
            Err(error) => {
                self.pod_watch_failures += 1;
                tracing::warn!(pod_watch_failures = self.pod_watch_failures, "{error}");
                return;
            }
        };
        // A listing is rare (start, or a watch too old to resume): always
        // worth a line; a pod's change only when it moves cgroups.
        let listing = matches!(change, PodChange::Listed(_));
        let what = match &change {
            PodChange::Applied(pod) => format!("pod {}/{} changed", pod.namespace, pod.name),
            PodChange::Deleted(pod) => format!("pod {}/{} deleted", pod.namespace, pod.name),
            PodChange::Listed(pods) => format!("{} pods listed", pods.len()),
        };
        match self.tenancy.follow_pods(probes, change) {
            Ok(0) if listing => tracing::info!("{what}"),
            Ok(0) => tracing::debug!("{what}"),
            Ok(moved) => tracing::info!(moved, "{what}: {moved} cgroups re-placed"),
            Err(error) => {
                self.failed_placements += 1;
                tracing::warn!(
                    failed_placements = self.failed_placements,
                    "{what}, but its cgroups cannot be re-placed: {error:#}"
                );
            }
        }
    }

    /// Puts a reloaded policy in force, as read and compiled off the loop
    /// ([`PolicySource::load_elsewhere`]); a bad or refused one leaves
    /// the running one in force.
    async fn reload(
        &mut self,
        probes: &mut Probes,
        loaded: anyhow::Result<CompiledPolicy>,
    ) -> Option<PolicyOutputs> {
        let outcome = match loaded {
            Ok(policy) => {
                let uses_pods = policy.uses_pod_metadata();
                match self.watch_pods_if_needed(uses_pods).await {
                    Ok(()) => self.apply(policy, probes),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(outputs) => {
                self.reloads += 1;
                Some(outputs)
            }
            Err(error) => {
                self.failed_reloads += 1;
                tracing::warn!(
                    failed_reloads = self.failed_reloads,
                    "policy reload failed; the running policy stays in force:\n{error:#}"
                );
                None
            }
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Handlers first, before anything else can take time: a signal that
    // comes while the probes load (`systemctl reload` right after a
    // start) is held, not fatal, and acted on once the loop runs: SIGTERM
    // and SIGINT stop it at once, SIGHUPs (however many) make one reload.
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    logging::init(args.log_format, args.log_level)?;
    let source = PolicySource::new(args.policy.clone());
    // A bad policy never starts a collector.
    let policy = source.load()?;
    let ring_buffer_bytes = args
        .ring_buffer_mib
        .checked_mul(1 << 20)
        .context("--ring-buffer-mib is too large")?;
    let queue_bytes = args.tenant_queue_mib.map_or(
        (ring_buffer_bytes as usize).max(DEFAULT_TENANT_QUEUE_BYTES),
        |mib| (mib as usize) << 20,
    );
    // Nothing is captured until the policy's filters are written.
    let mut probes = Probes::load(&ProbeOptions {
        ring_buffer_bytes,
        default_tenant: TenantFilter::NOTHING,
        unknown_cgroups: UnknownCgroups::Drop,
        ..ProbeOptions::default()
    })?;
    // One collector per state directory, and one nobody else can write:
    // its spools and staged uploads are sent and published as they are.
    scrim_files::create_private_dir_all(&args.state_dir)?;
    check_private(&args.state_dir, None).context("the state directory (--state-dir)")?;
    let _state_lock = StateLock::acquire(&args.state_dir)?;
    // Subject requests (`scrim archive export|erase`) ask here first.
    let control = ControlServer::bind(&args.state_dir)?;
    let (control_requests, mut control_queue) = tokio::sync::mpsc::unbounded_channel();
    // Loads, retention removals and erasures are recorded there: a log that
    // cannot be appended stops the start, before anything is captured.
    let audit = AuditLog::at(&audit_log_path(&args.state_dir));
    audit.set_key(crate::audit::key_of(&policy))?;
    let node_name = match args.node_name.clone() {
        Some(name) => name,
        None => host_name().context("cannot read this host's name (give --node-name)")?,
    };
    let workloads = Workloads::new(&node_name);
    let mut steering = Steering {
        source,
        tenancy: Tenancy::new(workloads.clone()),
        cgroup_root: cgroup2_root().context("cannot find the cgroup v2 hierarchy")?,
        settings: SinkSettings {
            root_override: args.output.clone(),
            format_override: args.format.map(|format| match format {
                OutputFormat::Parquet => Format::Parquet,
                OutputFormat::Jsonl => Format::JsonLines,
            }),
            roll_interval: args.roll_interval,
            roll_bytes: args.roll_size_mib.saturating_mul(1 << 20),
            spool_root: args.state_dir.join("spool"),
            staging_root: args.state_dir.join("uploads"),
            spool_max_bytes: args.spool_max_mib.saturating_mul(1 << 20),
        },
        reloads: 0,
        failed_reloads: 0,
        failed_placements: 0,
        policy_hash: String::new(),
        audited_hash: String::new(),
        in_force: None,
        recorded: None,
        state_dir: args.state_dir.clone(),
        kubernetes: args.kubernetes,
        node_name,
        pods: None,
        pod_watch_failures: 0,
        audit,
    };
    steering
        .watch_pods_if_needed(policy.uses_pod_metadata())
        .await?;
    let policy_outputs = steering.apply(policy, &mut probes)?;
    let archive_roots = policy_outputs.archive_roots();
    let sets_groups = policy_outputs.sets_groups();
    let mut dispatcher = Dispatcher::new(
        policy_outputs,
        PipelineSettings {
            roll_interval: steering.settings.roll_interval,
            roll_bytes: steering.settings.roll_bytes,
            spool_max_bytes: steering.settings.spool_max_bytes,
            resources: Arc::new(workloads),
            retention_interval: args.retention_interval,
            audit: Some(steering.audit.clone()),
        },
        queue_bytes,
    )?;
    steering.record_policy_in_force()?;
    let metrics = match args.metrics_address {
        MetricsAddress::Off => None,
        MetricsAddress::At(address) => {
            let server = MetricsServer::bind(address).await.with_context(|| {
                format!("cannot serve metrics on {address} (--metrics-address)")
            })?;
            let address = server.local_addr().context("metrics address")?;
            tracing::info!(%address, "metrics on http://{address}/metrics");
            Some(server)
        }
    };

    // Everything that needed privileges is done (programs loaded and
    // attached, tracefs read, the metrics port bound): keep only what
    // attaching syscall hooks on a later reload needs. No other thread
    // exists yet, so all of scrim's threads are covered.
    let kept = privileges::drop_to_kept(sets_groups).context("cannot drop capabilities")?;
    tracing::info!("capabilities dropped; kept {}", kept.join(", "));
    tracing::info!("capturing; Ctrl-C to stop, SIGHUP to reload the policy");
    let started = Instant::now();
    let mut received = 0u64;
    let summary = |received, outputs, probes: &Probes, steering: &Steering| Summary {
        elapsed: started.elapsed(),
        received,
        outputs,
        kernel: probes.kernel_counters().unwrap_or_default(),
        undecodable: probes.undecodable(),
        failed_reloads: steering.failed_reloads,
    };

    let deadline = tokio::time::sleep(args.duration.unwrap_or(Duration::MAX));
    tokio::pin!(deadline);
    let mut summary_timer = tokio::time::interval_at(
        tokio::time::Instant::now() + args.summary_interval,
        args.summary_interval,
    );
    let mut roll_timer = tokio::time::interval(Duration::from_secs(1));
    let mut policy_timer = tokio::time::interval(POLICY_POLL_INTERVAL);
    let mut batch = Vec::new();
    // A reload's read, check and compile happen off this loop, one at a
    // time; a request while one is under way is served by another once it
    // is done, so the file's last change is never missed.
    let mut loading: Option<Loading> = None;
    let mut load_again = false;

    loop {
        let mut loaded = None;
        let reload = tokio::select! {
            _ = &mut deadline => break,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            read = probes.read(&mut batch) => {
                read?;
                received += batch.len() as u64;
                for change in probes.take_cgroup_changes() {
                    // A cgroup that cannot be placed (a full map) keeps the
                    // unknown-cgroup action; capture goes on, and says so.
                    if let Err(error) = steering.tenancy.follow(&mut probes, change) {
                        steering.failed_placements += 1;
                        tracing::warn!(
                            failed_placements = steering.failed_placements,
                            "cannot place a new cgroup; its events get the unknown-cgroup \
                             action: {error:#}"
                        );
                    }
                }
                dispatcher.dispatch(&mut batch);
                false
            }
            change = Steering::next_pod_change(&mut steering.pods) => {
                steering.follow_pods(&mut probes, change);
                false
            }
            _ = hangup.recv() => true,
            connection = async {
                match &metrics {
                    Some(server) => server.accept().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Ok(stream) = connection {
                    let report = dispatcher.report();
                    let over_quota = steering.tenancy.over_quota(&probes).unwrap_or_default();
                    let (cgroups, pods_known) = steering.tenancy.counts();
                    let body = metrics::render(&Scrape {
                        summary: &summary(received, report.stats, &probes, &steering),
                        pipelines: &report,
                        over_quota: &over_quota,
                        policy_hash: &steering.policy_hash,
                        failed_placements: steering.failed_placements,
                        cgroups,
                        pods_known,
                        pod_watch_failures: steering.pod_watch_failures,
                        queue_capacity: queue_bytes,
                    });
                    tokio::spawn(metrics::respond(stream, body));
                }
                false
            }
            connection = control.accept() => {
                if let Ok(stream) = connection {
                    tokio::spawn(control::serve(stream, control_requests.clone()));
                }
                false
            }
            Some(request) = control_queue.recv() => {
                match request {
                    control::Request::Subject { question, answer } => {
                        // What the kernel holds of the subject is written
                        // before the tenant's files are completed.
                        probes.drain(&mut batch);
                        received += batch.len() as u64;
                        dispatcher.dispatch(&mut batch);
                        tracing::info!(
                            tenant = question.tenant,
                            "a subject request on `{}`: completing the tenant's files",
                            question.subject.column
                        );
                        let matches = control::span_match(&question.subject);
                        dispatcher.subject(&question.tenant, matches, question.erase, answer);
                    }
                    control::Request::Status { json, answer } => {
                        let report = dispatcher.report();
                        let summary = summary(received, report.stats, &probes, &steering);
                        let view = status::View {
                            origin: steering.origin(),
                            hash: &steering.policy_hash,
                            summary: &summary,
                            tenants: &report.tenants,
                            tenancy: &steering.tenancy,
                        };
                        let _ = answer.send(status::render(&view, json));
                    }
                    control::Request::Release { tenant } => dispatcher.release(&tenant),
                }
                false
            }
            _ = policy_timer.tick() => steering.source.changed(),
            outcome = async {
                match &mut loading {
                    Some(loading) => loading.await,
                    None => std::future::pending().await,
                }
            } => {
                loaded = Some(outcome.unwrap_or_else(|_| {
                    Err(anyhow::anyhow!("the thread reading the policy ended without an answer"))
                }));
                false
            }
            _ = summary_timer.tick() => {
                summary(received, dispatcher.report().stats, &probes, &steering).log(false);
                false
            }
            _ = roll_timer.tick() => {
                dispatcher.tick();
                false
            }
        };
        if reload {
            if loading.is_some() {
                load_again = true;
            } else {
                loading = Some(steering.source.load_elsewhere());
            }
        }
        if let Some(loaded) = loaded {
            loading = None;
            // What the kernel delivered under the running policy is
            // written under it: drain first, then swap maps and plans.
            probes.drain(&mut batch);
            received += batch.len() as u64;
            dispatcher.dispatch(&mut batch);
            if let Some(outputs) = steering.reload(&mut probes, loaded).await {
                match dispatcher.install(outputs) {
                    Ok(()) => {
                        if let Err(error) = steering.record_policy_in_force() {
                            tracing::error!("{error:#}");
                        }
                    }
                    Err(error) => {
                        tracing::error!("the reloaded policy's sinks cannot be opened: {error:#}");
                    }
                }
            }
            if std::mem::take(&mut load_again) {
                loading = Some(steering.source.load_elsewhere());
            }
        }
    }

    // Whatever the kernel delivered before we stopped is still written.
    probes.drain(&mut batch);
    received += batch.len() as u64;
    dispatcher.dispatch(&mut batch);
    let (finished, closed) = dispatcher.close();
    summary(received, finished.stats, &probes, &steering).log(true);
    closed?;
    let tenant_counts = &finished.tenants;
    let over_quota = steering.tenancy.over_quota(&probes)?;
    for (tenant, counts) in tenant_counts {
        let over_quota = over_quota.get(tenant).copied().unwrap_or(0);
        tracing::info!(
            tenant,
            received = counts.received,
            exported = counts.exported,
            dropped_by_policy = counts.dropped_by_policy,
            lost = counts.lost,
            over_quota,
            "tenant `{tenant}`: {} received, {} exported, {} dropped by policy, {} lost; \
             {over_quota} over quota (dropped in the kernel)",
            counts.received,
            counts.exported,
            counts.dropped_by_policy,
            counts.lost,
        );
    }
    for (tenant, spans) in &finished.otlp {
        tracing::info!(
            tenant,
            spans_sent = spans.exported,
            spans_spooled = spans.spooled,
            spans_dropped = spans.dropped,
            failed_requests = spans.failed_requests,
            "tenant `{tenant}` spans: {} sent, {} spooled for the next run, {} dropped \
             (spool full), {} failed requests",
            spans.exported,
            spans.spooled,
            spans.dropped,
            spans.failed_requests,
        );
    }
    for (tenant, uploads) in &finished.uploads {
        tracing::info!(
            tenant,
            files_uploaded = uploads.files,
            bytes_uploaded = uploads.bytes,
            failed_uploads = uploads.failed_attempts,
            "tenant `{tenant}` uploads: {} files ({} bytes) to object storage, {} failed \
             attempts (what failed waits in staging for the next pass or run)",
            uploads.files,
            uploads.bytes,
            uploads.failed_attempts,
        );
    }
    if received == 0 {
        let kernel = probes.kernel_counters().unwrap_or_default();
        tracing::info!(
            "nothing was captured: {}",
            nothing_captured(&kernel, steering.source.path())
        );
    } else if !archive_roots.is_empty() {
        let roots: Vec<String> = archive_roots
            .iter()
            .map(|root| Path::new(root).display().to_string())
            .collect();
        tracing::info!("archives in {}", roots.join(", "));
    }
    let sink_errors = finished.stats.sink_errors;
    if sink_errors > 0 {
        // Counted and logged as they happened; an exit 0 would tell a
        // supervisor that nothing was lost.
        anyhow::bail!(
            "{sink_errors} events were lost to sink errors (their rows are in no published file; \
             see the errors above)"
        );
    }
    Ok(())
}

/// Why a run received nothing, from what the kernel filtered: events of
/// cgroups no tenant claims point at the placement (the usual cause, as
/// when `/team/*` was written for `/team`), other filters at the policy's
/// capture; only when nothing was filtered did nothing happen.
fn nothing_captured(kernel: &KernelCounters, policy: Option<&Path>) -> String {
    let unknown = kernel.get(KernelCounter::UnknownCgroup);
    let filtered = kernel.filtered();
    if unknown > 0 {
        let policy = policy.map_or("FILE".to_owned(), |path| path.display().to_string());
        format!(
            "the kernel dropped {unknown} events of cgroups no tenant claims (filtered in \
             kernel: unknown cgroup {unknown}); `scrim policy place {policy}` lists which \
             cgroup goes to which tenant"
        )
    } else if filtered > 0 {
        format!(
            "the kernel filtered all {filtered} events (opted out {}, kind {}, syscall {}, rate \
             limit {}); see the policy's opt_out, capture and quota",
            kernel.get(KernelCounter::OptedOutCgroup),
            kernel.get(KernelCounter::FilteredKind),
            kernel.get(KernelCounter::FilteredSyscall),
            kernel.get(KernelCounter::RateLimited),
        )
    } else {
        "no process was created, exec'd or exited (start some programs while scrim runs)".to_owned()
    }
}

/// The audit log in a state directory.
/// The state directory when none is given: one per host (per user for
/// anyone but root), whatever directory a command is started in, so that
/// `scrim run` and the `scrim archive` commands run later from a shell
/// append to one audit chain rather than each to a `scrim-state` of their
/// own. Root's is where the shipped systemd unit, image and DaemonSet keep
/// it; another user's follows the XDG base directories.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let home = std::env::var_os("HOME").filter(|home| !home.is_empty());
    let xdg = std::env::var_os("XDG_STATE_HOME").filter(|state| Path::new(state).is_absolute());
    match (root, xdg, home) {
        (false, Some(state), _) => PathBuf::from(state).join("scrim"),
        (false, None, Some(home)) => PathBuf::from(home).join(".local/state/scrim"),
        _ => PathBuf::from("/var/lib/scrim/state"),
    }
}

/// The longest a policy keeps any tenant's rows of any kind.
fn longest_retention(policy: &CompiledPolicy) -> Duration {
    policy
        .tenants()
        .iter()
        .flat_map(|tenant| tenant.retention.values())
        .max()
        .copied()
        .unwrap_or_default()
}

pub fn audit_log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("audit.jsonl")
}

/// This host's name: the kubelet's default node name.
pub(crate) fn host_name() -> std::io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_lowercase())
}
