//! A policy's outputs: for each kernel slot, the tenant whose records it
//! carries, and for each tenant its record plan, the archives its records
//! go to and the OTLP backends its spans go to.
use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use scrim_event::EventKind;
use scrim_otlp::{OtlpStats, OtlpTarget, Protocol};
use scrim_policies::{
    CompiledPolicy, RecordPlan,
    model::{OtlpProtocol, Sink},
};
use scrim_sinks::{ArchiveStats, Bucket, Format, SinkError, is_bucket_url};

/// How `scrim run`'s options change where records go.
#[derive(Clone, Debug)]
pub struct SinkSettings {
    /// Every tenant's archive goes here instead of its policy's path.
    pub root_override: Option<PathBuf>,
    /// Every archive is written in this format instead of its sink's.
    pub format_override: Option<Format>,
    pub roll_interval: std::time::Duration,
    /// Complete (and publish) each archive file once it is about this large.
    pub roll_bytes: u64,
    /// Where OTLP sinks spool what their backend does not take (one
    /// directory per tenant and backend, kept across restarts).
    pub spool_root: PathBuf,
    /// Each spool's bound.
    pub spool_max_bytes: u64,
    /// Where archives in object storage are written before their upload
    /// (one directory per bucket URL, kept across restarts).
    pub staging_root: PathBuf,
}

/// Where one archive is, and how it is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArchiveTarget {
    /// Where its files are written and completed: the archive itself, or
    /// the staging directory of its bucket.
    pub root: PathBuf,
    pub format: Format,
    /// The object storage (`s3://bucket/prefix`) completed files go to.
    pub bucket: Option<String>,
}

impl ArchiveTarget {
    /// A client of the target's bucket, if it is in one.
    pub fn open_bucket(&self) -> Result<Option<Bucket>, SinkError> {
        self.bucket.as_deref().map(Bucket::open).transpose()
    }

    /// The archive as users name it: its directory or its URL.
    pub fn location(&self) -> String {
        self.bucket
            .clone()
            .unwrap_or_else(|| self.root.display().to_string())
    }
}

/// A policy as the tenants' pipelines need it.
pub struct PolicyOutputs {
    /// By kernel slot index, the index in `tenants` of its tenant.
    pub tenant_of_slot: Vec<Option<usize>>,
    pub tenants: Vec<TenantOutputs>,
}

/// One tenant's plan and sink targets.
pub struct TenantOutputs {
    pub name: String,
    archive_group: Option<u32>,
    pub plan: RecordPlan,
    /// Each archive, without duplicates.
    pub archives: Vec<ArchiveTarget>,
    /// Each OTLP backend, with the directory of its spool.
    pub otlp: Vec<(OtlpTarget, PathBuf)>,
    /// How long each kind stays in the archives.
    pub retention: BTreeMap<EventKind, Duration>,
}

impl TenantOutputs {
    /// The group that may read the tenant's archive directories.
    pub fn archive_group(&self) -> Option<u32> {
        self.archive_group
    }
}

impl PolicyOutputs {
    pub fn new(
        policy: &CompiledPolicy,
        tenant_of_slot: Vec<Option<usize>>,
        settings: &SinkSettings,
    ) -> Self {
        let tenants = policy
            .tenants()
            .iter()
            .zip(policy.record_plans())
            .map(|(tenant, plan)| TenantOutputs {
                name: tenant.name.clone(),
                archive_group: tenant.archive_group,
                plan,
                archives: archive_targets(&tenant.sinks, settings),
                otlp: otlp_targets(&tenant.name, &tenant.sinks, settings),
                retention: tenant.retention.clone(),
            })
            .collect();
        PolicyOutputs {
            tenant_of_slot,
            tenants,
        }
    }

    /// Every archive some tenant writes to: directories and bucket URLs.
    pub fn archive_roots(&self) -> Vec<String> {
        let mut roots: Vec<String> = self
            .tenants
            .iter()
            .flat_map(|tenant| tenant.archives.iter().map(ArchiveTarget::location))
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// Whether some tenant's archives are restricted to a group (scrim then
    /// keeps CAP_CHOWN, to set groups of directories new tenants bring).
    pub fn sets_groups(&self) -> bool {
        self.tenants
            .iter()
            .any(|tenant| tenant.archive_group.is_some())
    }
}

fn archive_targets(sinks: &[Sink], settings: &SinkSettings) -> Vec<ArchiveTarget> {
    let mut targets: Vec<ArchiveTarget> = sinks
        .iter()
        .filter_map(|sink| match sink {
            Sink::Parquet { path } => Some((path, Format::Parquet)),
            Sink::Jsonl { path } => Some((path, Format::JsonLines)),
            Sink::Otlp { .. } => None,
        })
        .map(|(path, format)| {
            let format = settings.format_override.unwrap_or(format);
            match &settings.root_override {
                Some(root) => ArchiveTarget {
                    root: root.clone(),
                    format,
                    bucket: None,
                },
                None if is_bucket_url(path) => ArchiveTarget {
                    root: settings.staging_root.join(backend_directory(path)),
                    format,
                    bucket: Some(path.trim_end_matches('/').to_owned()),
                },
                None => ArchiveTarget {
                    root: PathBuf::from(path),
                    format,
                    bucket: None,
                },
            }
        })
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// A directory name for a remote backend: the same for the same address,
/// across restarts.
fn backend_directory(address: &str) -> String {
    blake3::hash(address.trim_end_matches('/').as_bytes()).to_hex()[..16].to_owned()
}

fn otlp_targets(
    tenant: &str,
    sinks: &[Sink],
    settings: &SinkSettings,
) -> Vec<(OtlpTarget, PathBuf)> {
    let mut targets: Vec<(OtlpTarget, PathBuf)> = sinks
        .iter()
        .filter_map(|sink| match sink {
            Sink::Otlp {
                endpoint,
                headers,
                protocol,
            } => {
                let target = OtlpTarget {
                    endpoint: endpoint.clone(),
                    protocol: match protocol {
                        Some(OtlpProtocol::Grpc) => Protocol::Grpc,
                        Some(OtlpProtocol::HttpProtobuf) => Protocol::HttpProtobuf,
                        None => Protocol::from_environment(),
                    },
                    headers: headers.clone(),
                    timeout: OtlpTarget::timeout_from_environment(),
                };
                // One spool per backend, named after where it sends.
                let spool = settings
                    .spool_root
                    .join(format!("tenant={tenant}"))
                    .join(backend_directory(endpoint));
                Some((target, spool))
            }
            Sink::Parquet { .. } | Sink::Jsonl { .. } => None,
        })
        .collect();
    // One sink per spool, wherever the same backend is listed twice.
    targets.sort_by(|a, b| a.1.cmp(&b.1));
    targets.dedup_by(|a, b| a.1 == b.1);
    targets
}

/// Where every event that reached the pipelines went: exported, dropped
/// by policy, or lost (queue full, sink errors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Events every sink of their tenant has durably (see [`TenantCounts`]).
    pub exported: u64,
    /// Events in a tenant's queue or in a file still open.
    pub pending: u64,
    /// Events the policy does not export: a kind the tenant does not
    /// capture, or a slot no tenant holds (during a reload).
    pub dropped_by_policy: u64,
    /// Events dropped because their tenant's queue was full.
    pub queue_full: u64,
    /// Events some sink lost: a write error, or a file that failed to
    /// encode, sync or publish (each of its rows).
    pub sink_errors: u64,
    /// Rows in every archive, summed.
    pub archive: ArchiveStats,
    /// Spans of every OTLP sink.
    pub otlp: OtlpStats,
}

/// Where one tenant's events went. `received = exported + dropped + lost +
/// pending` at every moment, and `pending` is 0 once the pipeline closed
/// (what the kernel dropped for the tenant, before it was received, is
/// counted by the kernel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantCounts {
    pub received: u64,
    /// Durably in every sink of the tenant: its row in a published (synced
    /// and renamed) file, its span sent or spooled.
    pub exported: u64,
    /// Of a kind the tenant's policy does not export.
    pub dropped_by_policy: u64,
    /// Lost by some sink (a write, encode, sync or publish error: every row
    /// of a file that failed), or the tenant's queue was full.
    pub lost: u64,
    /// In a file still open, or in the tenant's queue.
    pub pending: u64,
}
