//! Retention, as the policy sets it per tenant and event kind: hour
//! partitions whose whole hour is older than the kind's retention are
//! removed, and each removal is entered in the audit log. `scrim run`
//! does it for each tenant on its own thread, at start and then every
//! `--retention-interval`; `scrim archive retention` does it on demand.
//!
//! A partition that cannot be scanned or removed (a symlink, a name that is
//! not a partition, a file that will not go) is skipped and reported; the
//! tenant's other partitions are still removed.
use std::{collections::BTreeMap, path::Path, time::Duration};

use scrim_audit::{AuditLog, Recovery};
use scrim_event::{EventKind, UnixNanos, time::UtcDateTime};
use scrim_sinks::{
    Bucket, Expired, ExpiredPartition, SinkError, Skipped, expired_partitions, remove_partition,
};
use serde_json::{Value, json};

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
    ) -> Result<Expired, SinkError> {
        match self {
            ArchiveAt::Directory(root) => expired_partitions(root, tenant, kind, cutoff),
            ArchiveAt::Bucket(bucket) => Ok(Expired {
                partitions: bucket.expired_partitions(tenant, kind, cutoff)?,
                skipped: Vec::new(),
            }),
        }
    }

    fn remove(self, partition: &ExpiredPartition) -> Result<(), SinkError> {
        match self {
            ArchiveAt::Directory(root) => remove_partition(root, partition),
            ArchiveAt::Bucket(bucket) => bucket.remove_partition(partition),
        }
    }

    fn location(self) -> String {
        match self {
            ArchiveAt::Directory(root) => root.display().to_string(),
            ArchiveAt::Bucket(bucket) => bucket.url().to_owned(),
        }
    }
}

/// A partition past retention: removed, or (in a dry run) to be removed.
pub struct Removal {
    pub kind: EventKind,
    pub partition: ExpiredPartition,
}

/// What a pass of retention did.
pub struct Enforced {
    pub removals: Vec<Removal>,
    /// What it could not scan or remove, and why.
    pub skipped: Vec<Skipped>,
    /// A torn audit-log tail its first append moved aside.
    pub recovered: Option<Recovery>,
}

impl TenantRetention<'_> {
    /// [`TenantRetention::enforce_all`] for a running collector: what was
    /// skipped is logged as a warning, every pass, until someone fixes it.
    pub fn enforce(
        &self,
        now: UnixNanos,
        dry_run: bool,
        audit: Option<&AuditLog>,
    ) -> anyhow::Result<Vec<Removal>> {
        let requested = json!({});
        let enforced = self.enforce_all(now, dry_run, audit.map(|audit| (audit, &requested)))?;
        if let Some(recovery) = &enforced.recovered {
            tracing::warn!("audit log: {recovery}");
        }
        for skipped in &enforced.skipped {
            tracing::warn!(
                tenant = self.tenant,
                "tenant `{}`: retention skipped {skipped}",
                self.tenant
            );
        }
        Ok(enforced.removals)
    }

    /// Finds the partitions past retention at `now`; unless `dry_run`,
    /// removes each and records it in `audit` (an entry per partition,
    /// written after the files are gone; a partition only partly removed is
    /// recorded as such), with the fields of the JSON object beside it (who
    /// asked, for `scrim archive retention`). Only a failed audit append
    /// stops the pass: an action must not go unrecorded.
    pub fn enforce_all(
        &self,
        now: UnixNanos,
        dry_run: bool,
        audit: Option<(&AuditLog, &Value)>,
    ) -> anyhow::Result<Enforced> {
        let mut enforced = Enforced {
            removals: Vec::new(),
            skipped: Vec::new(),
            recovered: None,
        };
        for (&kind, period) in self.periods {
            let keep = i64::try_from(period.as_nanos()).unwrap_or(i64::MAX);
            let cutoff = now.saturating_sub(keep);
            for archive in &self.archives {
                let expired = match archive.expired(self.tenant, kind, cutoff) {
                    Ok(expired) => expired,
                    Err(error) => {
                        enforced.skipped.push(Skipped {
                            path: archive.location().into(),
                            reason: format!("cannot scan: {:#}", anyhow::Error::from(error)),
                        });
                        continue;
                    }
                };
                enforced.skipped.extend(expired.skipped);
                for partition in expired.partitions {
                    if dry_run {
                        enforced.removals.push(Removal { kind, partition });
                        continue;
                    }
                    let (removed, incomplete) = match archive.remove(&partition) {
                        Ok(()) => (partition.files.len(), None),
                        Err(error) => {
                            let removed = match &error {
                                SinkError::PartitionRemoval { removed, .. } => *removed,
                                _ => 0,
                            };
                            let reason = format!("{:#}", anyhow::Error::from(error));
                            enforced.skipped.push(Skipped {
                                path: partition.location.clone().into(),
                                reason: reason.clone(),
                            });
                            (removed, Some(reason))
                        }
                    };
                    // Whatever was removed is recorded, a part as a part.
                    if removed > 0
                        && let Some((audit, requested)) = audit
                    {
                        let mut details = json!({
                            "tenant": self.tenant,
                            "kind": kind.as_str(),
                            "partition": partition.location,
                            "hour": UtcDateTime::from_unix_nanos(partition.hour_start).rfc3339(),
                            "files": removed,
                            "bytes": partition.bytes,
                            "retention": humantime::format_duration(*period).to_string(),
                        });
                        if let Some(incomplete) = &incomplete {
                            details["incomplete"] = incomplete.clone().into();
                        }
                        if let (Value::Object(details), Value::Object(requested)) =
                            (&mut details, requested)
                        {
                            details.extend(requested.clone());
                        }
                        let appended = audit.append("retention.delete", details, now)?;
                        enforced.recovered = enforced.recovered.take().or(appended.recovered);
                    }
                    if incomplete.is_none() {
                        enforced.removals.push(Removal { kind, partition });
                    }
                }
            }
        }
        Ok(enforced)
    }
}
