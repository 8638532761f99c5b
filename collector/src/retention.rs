//! Retention, as the policy sets it per tenant and event kind: hour
//! partitions whose whole hour is older than the kind's retention are
//! removed, and each removal is entered in the audit log. `scrim run`
//! does it for each tenant on its own thread, at start and then every
//! `--retention-interval`; `scrim archive retention` does it on demand.
use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::Context as _;
use scrim_audit::AuditLog;
use scrim_event::{EventKind, UnixNanos, time::UtcDateTime};
use scrim_sinks::{Bucket, ExpiredPartition, expired_partitions, remove_partition};
use serde_json::json;

/// One tenant's retention: its archives and how long each kind stays.
pub struct TenantRetention<'a> {
    pub tenant: &'a str,
    pub archives: Vec<ArchiveAt<'a>>,
    pub periods: &'a BTreeMap<EventKind, Duration>,
}

/// Where an archive is.
#[derive(Clone, Copy)]
pub enum ArchiveAt<'a> {
    Directory(&'a Path),
    Bucket(&'a Bucket),
}

impl ArchiveAt<'_> {
    fn expired(
        self,
        tenant: &str,
        kind: EventKind,
        cutoff: UnixNanos,
    ) -> anyhow::Result<Vec<ExpiredPartition>> {
        match self {
            ArchiveAt::Directory(root) => expired_partitions(root, tenant, kind, cutoff)
                .with_context(|| format!("retention: cannot scan {}", root.display())),
            ArchiveAt::Bucket(bucket) => Ok(bucket.expired_partitions(tenant, kind, cutoff)?),
        }
    }

    fn remove(self, partition: &ExpiredPartition) -> anyhow::Result<()> {
        match self {
            ArchiveAt::Directory(_) => remove_partition(partition)
                .with_context(|| format!("retention: cannot remove {}", partition.location)),
            ArchiveAt::Bucket(bucket) => Ok(bucket.remove_partition(partition)?),
        }
    }
}

/// A partition past retention: removed, or (in a dry run) to be removed.
pub struct Removal {
    pub kind: EventKind,
    pub partition: ExpiredPartition,
}

impl TenantRetention<'_> {
    /// Finds the partitions past retention at `now`; unless `dry_run`,
    /// removes each and records it in `audit` (an entry per partition,
    /// written after the files are gone).
    pub fn enforce(
        &self,
        now: UnixNanos,
        dry_run: bool,
        audit: Option<&AuditLog>,
    ) -> anyhow::Result<Vec<Removal>> {
        let mut removals = Vec::new();
        for (&kind, period) in self.periods {
            let keep = i64::try_from(period.as_nanos()).unwrap_or(i64::MAX);
            let cutoff = now.saturating_sub(keep);
            for archive in &self.archives {
                for partition in archive.expired(self.tenant, kind, cutoff)? {
                    if !dry_run {
                        archive.remove(&partition)?;
                        if let Some(audit) = audit {
                            audit.append(
                                "retention.delete",
                                json!({
                                    "tenant": self.tenant,
                                    "kind": kind.as_str(),
                                    "partition": partition.location,
                                    "hour": UtcDateTime::from_unix_nanos(partition.hour_start).rfc3339(),
                                    "files": partition.files.len(),
                                    "bytes": partition.bytes,
                                    "retention": humantime::format_duration(*period).to_string(),
                                }),
                                now,
                            )?;
                        }
                    }
                    removals.push(Removal { kind, partition });
                }
            }
        }
        Ok(removals)
    }
}
