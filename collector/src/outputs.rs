//! The sink thread's side of the policy: for each kernel slot, the tenant's
//! record plan and the archives its records go to.
//!
//! Archives are kept across policy reloads (keyed by directory and format),
//! so a reload never loses rows in open files; a file whose schema the new
//! plan changes is completed and a new one started.
use std::{collections::BTreeMap, path::PathBuf};

use scrim_event::Event;
use scrim_policies::{CompiledPolicy, RecordPlan, model::Sink};
use scrim_probes::{Captured, TenantSlot};
use scrim_sinks::{Archive, ArchiveOptions, ArchiveStats, Format, SinkError};

/// How `scrim run`'s options change where archives go.
#[derive(Clone, Debug)]
pub struct ArchiveSettings {
    /// Every tenant's archive goes here instead of its policy's path.
    pub root_override: Option<PathBuf>,
    /// Every archive is written in this format instead of its sink's.
    pub format_override: Option<Format>,
    pub roll_interval: std::time::Duration,
}

/// A policy as the sink thread needs it.
pub struct PolicyOutputs {
    tenant_of_slot: Vec<Option<usize>>,
    tenants: Vec<TenantOutputs>,
}

struct TenantOutputs {
    name: String,
    archive_group: Option<u32>,
    plan: RecordPlan,
    archives: Vec<(PathBuf, Format)>,
}

impl PolicyOutputs {
    pub fn new(
        policy: &CompiledPolicy,
        tenant_of_slot: Vec<Option<usize>>,
        settings: &ArchiveSettings,
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
            })
            .collect();
        PolicyOutputs {
            tenant_of_slot,
            tenants,
        }
    }

    /// Every archive directory some tenant writes to.
    pub fn archive_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self
            .tenants
            .iter()
            .flat_map(|tenant| tenant.archives.iter().map(|(root, _)| root.clone()))
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

    /// Tenants none of whose sinks this build can write yet (OTLP only).
    pub fn tenants_without_archive(&self) -> Vec<&str> {
        self.tenants
            .iter()
            .filter(|tenant| tenant.archives.is_empty())
            .map(|tenant| tenant.name.as_str())
            .collect()
    }
}

fn archive_targets(sinks: &[Sink], settings: &ArchiveSettings) -> Vec<(PathBuf, Format)> {
    let mut targets: Vec<(PathBuf, Format)> = sinks
        .iter()
        .filter_map(|sink| match sink {
            Sink::Parquet { path } => Some((PathBuf::from(path), Format::Parquet)),
            Sink::Jsonl { path } => Some((PathBuf::from(path), Format::JsonLines)),
            Sink::Otlp { .. } => None,
        })
        .map(|(path, format)| {
            (
                settings.root_override.clone().unwrap_or(path),
                settings.format_override.unwrap_or(format),
            )
        })
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// Where every record that reached the sink thread went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Rows in every archive, summed.
    pub archive: ArchiveStats,
    /// Events the policy does not export: a kind the tenant does not
    /// capture, or a slot no tenant holds (during a reload).
    pub dropped_by_policy: u64,
    /// Events of tenants whose only sinks this build cannot write yet.
    pub no_sink: u64,
}

/// Where one tenant's events went. `received = exported + dropped + lost`
/// at every moment (what the kernel dropped for the tenant, before it was
/// received, is counted by the kernel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantCounts {
    pub received: u64,
    /// Written to every archive of the tenant.
    pub exported: u64,
    /// Of a kind the tenant's policy does not export.
    pub dropped_by_policy: u64,
    /// Not written to some archive (a write error), or no archive to write.
    pub lost: u64,
}

/// The sink thread's state.
pub struct Outputs {
    settings: ArchiveSettings,
    policy: PolicyOutputs,
    archives: Vec<((PathBuf, Format), Archive)>,
    dropped_by_policy: u64,
    no_sink: u64,
    /// By tenant name, across reloads.
    tenants: BTreeMap<String, TenantCounts>,
}

impl Outputs {
    /// Creates every archive the policy names; fails now, not at the first
    /// event, if a directory cannot be made.
    pub fn new(settings: ArchiveSettings, policy: PolicyOutputs) -> Result<Self, SinkError> {
        let mut outputs = Outputs {
            settings,
            policy: PolicyOutputs {
                tenant_of_slot: Vec::new(),
                tenants: Vec::new(),
            },
            archives: Vec::new(),
            dropped_by_policy: 0,
            no_sink: 0,
            tenants: BTreeMap::new(),
        };
        outputs.install(policy)?;
        Ok(outputs)
    }

    /// Switches to a new policy's plans. Events written after this use
    /// them; open files whose schema changes are rolled on their next row.
    pub fn install(&mut self, policy: PolicyOutputs) -> Result<(), SinkError> {
        for target in policy.tenants.iter().flat_map(|tenant| &tenant.archives) {
            if !self.archives.iter().any(|(known, _)| known == target) {
                let mut options = ArchiveOptions::new(&target.0, target.1);
                options.roll_interval = self.settings.roll_interval;
                self.archives
                    .push((target.clone(), Archive::create(options)?));
            }
        }
        for tenant in &policy.tenants {
            if let Some(group) = tenant.archive_group {
                for (root, _) in &tenant.archives {
                    restrict_to_group(&root.join(format!("tenant={}", tenant.name)), group)?;
                }
            }
        }
        self.policy = policy;
        Ok(())
    }

    /// Applies the plan of the event's tenant and writes the record to each
    /// of the tenant's archives. Returns the first write error (the rows
    /// are counted either way).
    pub fn write(&mut self, captured: &Captured) -> Result<(), SinkError> {
        self.write_event(captured.tenant, &captured.event)
    }

    /// [`Outputs::write`] for an event and the slot it was tagged with.
    pub fn write_event(&mut self, tenant: TenantSlot, event: &Event) -> Result<(), SinkError> {
        let slot = tenant.index() as usize;
        let Some(&Some(tenant_index)) = self.policy.tenant_of_slot.get(slot) else {
            self.dropped_by_policy += 1;
            return Ok(());
        };
        let tenant = &mut self.policy.tenants[tenant_index];
        let counts = match self.tenants.get_mut(&tenant.name) {
            Some(counts) => counts,
            None => self.tenants.entry(tenant.name.clone()).or_default(),
        };
        counts.received += 1;
        let Some(mut record) = tenant.plan.apply(event) else {
            self.dropped_by_policy += 1;
            counts.dropped_by_policy += 1;
            return Ok(());
        };
        if tenant.archives.is_empty() {
            self.no_sink += 1;
            counts.lost += 1;
            return Ok(());
        }
        let mut outcome = Ok(());
        for target in &tenant.archives {
            let Some((_, archive)) = self.archives.iter_mut().find(|(known, _)| known == target)
            else {
                continue;
            };
            if let Err(error) = archive.write(&tenant.name, &mut record)
                && outcome.is_ok()
            {
                outcome = Err(error);
            }
        }
        match outcome {
            Ok(()) => counts.exported += 1,
            Err(_) => counts.lost += 1,
        }
        outcome
    }

    /// Completes files whose roll interval has passed.
    pub fn roll_expired(&mut self, now: std::time::Instant) -> Result<(), SinkError> {
        let mut outcome = Ok(());
        for (_, archive) in &mut self.archives {
            if let Err(error) = archive.roll_expired(now)
                && outcome.is_ok()
            {
                outcome = Err(error);
            }
        }
        outcome
    }

    pub fn stats(&self) -> OutputStats {
        OutputStats {
            archive: self
                .archives
                .iter()
                .map(|(_, archive)| archive.stats())
                .fold(ArchiveStats::default(), add_stats),
            dropped_by_policy: self.dropped_by_policy,
            no_sink: self.no_sink,
        }
    }

    /// Where each tenant's events went, by tenant name.
    pub fn tenant_counts(&self) -> BTreeMap<String, TenantCounts> {
        self.tenants.clone()
    }

    /// Completes every open file.
    pub fn close(self) -> (OutputStats, Result<(), SinkError>) {
        let mut stats = OutputStats {
            dropped_by_policy: self.dropped_by_policy,
            no_sink: self.no_sink,
            ..OutputStats::default()
        };
        let mut outcome = Ok(());
        for (_, archive) in self.archives {
            let (archive_stats, closed) = archive.close();
            stats.archive = add_stats(stats.archive, archive_stats);
            if closed.is_err() && outcome.is_ok() {
                outcome = closed;
            }
        }
        (stats, outcome)
    }
}

/// Makes a tenant's archive directory readable by its group only (mode
/// 0750, scrim's user as owner): what scrim creates inside is then out of
/// reach of everyone else, who cannot traverse this directory.
fn restrict_to_group(directory: &std::path::Path, group: u32) -> Result<(), SinkError> {
    use std::os::unix::fs::PermissionsExt as _;
    let failed = |source| SinkError::Io {
        path: directory.to_path_buf(),
        source,
    };
    use std::os::unix::fs::MetadataExt as _;
    std::fs::create_dir_all(directory).map_err(failed)?;
    let metadata = std::fs::metadata(directory).map_err(failed)?;
    // Changing the group needs CAP_CHOWN, which scrim keeps only when its
    // starting policy names groups: leave what is already right alone.
    if metadata.gid() != group {
        std::os::unix::fs::chown(directory, None, Some(group)).map_err(failed)?;
    }
    if metadata.permissions().mode() & 0o7777 != 0o750 {
        std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o750))
            .map_err(failed)?;
    }
    Ok(())
}

fn add_stats(a: ArchiveStats, b: ArchiveStats) -> ArchiveStats {
    ArchiveStats {
        rows_committed: a.rows_committed + b.rows_committed,
        rows_pending: a.rows_pending + b.rows_pending,
        rows_failed: a.rows_failed + b.rows_failed,
        files_committed: a.files_committed + b.files_committed,
    }
}
