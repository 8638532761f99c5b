//! One tenant's pipeline: its record plan (keys included), its own
//! archives and its own OTLP sinks. Nothing here is shared with another
//! tenant, so a tenant's slow disk or failing backend touches no one
//! else's data or progress.
use std::{
    collections::BTreeMap,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use scrim_audit::AuditLog;
use scrim_event::{Event, EventKind};
use scrim_otlp::{BackendNews, OtlpSink, OtlpStats, OtlpTarget, Resources, SpanMatch};
use scrim_policies::RecordPlan;
use scrim_sinks::{Archive, ArchiveOptions, ArchiveStats, Bucket, remove_interrupted};

use crate::{
    control::Held,
    outputs::{ArchiveTarget, TenantCounts, TenantOutputs},
    retention::{ArchiveAt, TenantRetention},
    upload::{UploadStats, Uploader},
};

/// The wall clock, as event times are.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        })
}

/// What every tenant's pipeline is built with.
#[derive(Clone)]
pub struct PipelineSettings {
    pub roll_interval: Duration,
    pub roll_bytes: u64,
    pub spool_max_bytes: u64,
    /// The workloads' OTLP resources.
    pub resources: Arc<dyn Resources + Send + Sync>,
    /// How often retention runs over the tenant's archives (and at start).
    pub retention_interval: Duration,
    /// Where removals are recorded.
    pub audit: Option<AuditLog>,
}

/// Where one tenant's events went.
#[derive(Clone, Debug, Default)]
pub struct TenantReport {
    pub counts: TenantCounts,
    pub archive: ArchiveStats,
    /// Files uploaded to object storage.
    pub uploads: UploadStats,
    /// Events of a kind the tenant does not export.
    pub dropped_by_policy: u64,
    /// Spans of the tenant's OTLP sinks.
    pub otlp: OtlpStats,
}

pub struct TenantPipeline {
    name: String,
    plan: RecordPlan,
    settings: PipelineSettings,
    archives: Vec<(ArchiveTarget, Archive)>,
    /// One per bucket the tenant's archives have named since start: a
    /// bucket a reload drops still receives what was staged for it.
    uploaders: Vec<Uploader>,
    /// Archives of earlier plans that the current one no longer names: kept
    /// until their files are complete.
    retired: Vec<(ArchiveTarget, Archive)>,
    otlp: Vec<(OtlpTarget, OtlpSink)>,
    /// What OTLP sinks a reload removed had done when they closed.
    otlp_closed: OtlpStats,
    retention: BTreeMap<EventKind, Duration>,
    next_retention: Instant,
    report: TenantReport,
    /// The group that may read (and write) the tenant's archives.
    archive_group: Option<u32>,
    /// Events handed to the sinks: each is exported, pending or lost, as
    /// the sinks' own counts say (see [`TenantPipeline::report`]).
    handed_to_sinks: u64,
    /// Events some OTLP sink refused (its spool could not take them).
    refused_by_otlp: u64,
}

impl TenantPipeline {
    /// Opens the tenant's archives and OTLP sinks; fails now, not at the
    /// first event, if a directory cannot be made.
    pub fn new(outputs: TenantOutputs, settings: PipelineSettings) -> anyhow::Result<Self> {
        let archive_group = outputs.archive_group();
        let mut pipeline = TenantPipeline {
            name: outputs.name.clone(),
            plan: outputs.plan,
            settings,
            archives: Vec::new(),
            retired: Vec::new(),
            uploaders: Vec::new(),
            otlp: Vec::new(),
            otlp_closed: OtlpStats::default(),
            retention: outputs.retention,
            next_retention: Instant::now(),
            report: TenantReport::default(),
            handed_to_sinks: 0,
            refused_by_otlp: 0,
            archive_group,
        };
        for target in outputs.archives {
            // Opened (and its directory's trust checked) before anything in
            // it is cleaned up.
            let archive = pipeline.open_archive(&target)?;
            pipeline.recover(&target.root)?;
            pipeline.archives.push((target, archive));
        }
        for (target, spool) in outputs.otlp {
            let sink = pipeline.open_otlp(&target, &spool)?;
            pipeline.otlp.push((target, sink));
        }
        Ok(pipeline)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Switches to a reloaded policy's plan and sinks. Open files stay; a
    /// file whose schema the new plan changes is completed on its next row.
    /// An OTLP sink the new policy keeps keeps its open spans; one it drops
    /// is closed (its spans sent, or spooled).
    pub fn install(&mut self, outputs: TenantOutputs) -> anyhow::Result<()> {
        self.archive_group = outputs.archive_group();
        let mut archives = Vec::with_capacity(outputs.archives.len());
        for target in outputs.archives {
            let archive = match self.archives.iter().position(|(known, _)| *known == target) {
                Some(index) => {
                    let (_, archive) = self.archives.swap_remove(index);
                    self.restrict(&target, &archive)?;
                    archive
                }
                None => {
                    let archive = self.open_archive(&target)?;
                    self.recover(&target.root)?;
                    archive
                }
            };
            archives.push((target, archive));
        }
        self.retired.append(&mut self.archives);
        self.archives = archives;
        let mut otlp = Vec::with_capacity(outputs.otlp.len());
        for (target, spool) in outputs.otlp {
            let sink = match self.otlp.iter().position(|(known, _)| *known == target) {
                Some(index) => self.otlp.swap_remove(index).1,
                None => self.open_otlp(&target, &spool)?,
            };
            otlp.push((target, sink));
        }
        let mut outcome = Ok(());
        for (target, sink) in std::mem::replace(&mut self.otlp, otlp) {
            let (stats, closed) = sink.close();
            self.otlp_closed = add_otlp(self.otlp_closed, stats);
            if let Err(error) = closed
                && outcome.is_ok()
            {
                outcome = Err(anyhow::Error::from(error)
                    .context(format!("closing the OTLP sink to {}", target.endpoint)));
            }
        }
        self.plan = outputs.plan;
        self.retention = outputs.retention;
        outcome
    }

    /// Starts uploading to `target`'s bucket, if it has one and no
    /// uploader does yet.
    fn start_uploader(&mut self, target: &ArchiveTarget) -> anyhow::Result<()> {
        let Some(url) = &target.bucket else {
            return Ok(());
        };
        if self.uploader_of(url).is_some() {
            return Ok(());
        }
        let bucket = Arc::new(Bucket::open(url)?);
        self.uploaders
            .push(Uploader::start(bucket, target.root.clone(), &self.name)?);
        Ok(())
    }

    fn uploader_of(&self, url: &str) -> Option<&Uploader> {
        self.uploaders
            .iter()
            .find(|uploader| uploader.bucket().url() == url)
    }

    /// Applies the plan and hands the record to each of the tenant's sinks.
    /// Returns the first error (the event is counted either way).
    pub fn write(&mut self, event: &Event) -> anyhow::Result<()> {
        let report = &mut self.report;
        report.counts.received += 1;
        let Some(mut record) = self.plan.apply(event) else {
            report.dropped_by_policy += 1;
            report.counts.dropped_by_policy += 1;
            return Ok(());
        };
        self.handed_to_sinks += 1;
        // Each archive counts the row in its own stats (pending, then
        // committed or failed): nothing is counted exported here.
        let mut outcome: anyhow::Result<()> = Ok(());
        for (_, archive) in &mut self.archives {
            if let Err(error) = archive.write(&self.name, &mut record)
                && outcome.is_ok()
            {
                outcome = Err(error.into());
            }
        }
        let mut refused = false;
        for (_, sink) in &mut self.otlp {
            if let Err(error) = sink.write(event, &mut record) {
                refused = true;
                if outcome.is_ok() {
                    outcome = Err(error.into());
                }
            }
        }
        self.refused_by_otlp += u64::from(refused);
        outcome
    }

    /// Completes files whose roll interval has passed, sends spans that
    /// waited long enough and retries spools that are due. Returns the
    /// first error, and OTLP export failures as messages for the log.
    pub fn tick(&mut self, now: Instant) -> (anyhow::Result<()>, Vec<String>) {
        let mut outcome: anyhow::Result<()> = Ok(());
        let archives = self.archives.iter_mut().chain(&mut self.retired);
        for (_, archive) in archives {
            if let Err(error) = archive.roll_expired(now)
                && outcome.is_ok()
            {
                outcome = Err(error.into());
            }
        }
        if now >= self.next_retention {
            self.next_retention = now
                .checked_add(self.settings.retention_interval)
                .unwrap_or(now + Duration::from_secs(86_400));
            if let Err(error) = self.enforce_retention()
                && outcome.is_ok()
            {
                outcome = Err(error);
            }
        }
        let mut failures = Vec::new();
        for (target, sink) in &mut self.otlp {
            if let Err(error) = sink.tick(now)
                && outcome.is_ok()
            {
                outcome = Err(error.into());
            }
            match sink.take_news() {
                Some(BackendNews::Failing(failure)) => failures.push(format!(
                    "tenant `{}`: OTLP export to {} failed; spooling until it answers: {failure}",
                    self.name, target.endpoint
                )),
                Some(BackendNews::AnsweringAgain) => tracing::info!(
                    "tenant `{}`: {} answers again; sending what was spooled",
                    self.name,
                    target.endpoint
                ),
                None => {}
            }
        }
        (outcome, failures)
    }

    /// The counts so far, sinks included. An event handed to the sinks is
    /// exported once every sink has it durably (its row in a published
    /// file, its span sent or spooled), pending while some archive still
    /// holds its row in an open file, and lost once some sink lost it. With
    /// several archives the one that lost (or holds) the most decides, so
    /// `received = exported + dropped_by_policy + lost + pending` always.
    pub fn report(&self) -> TenantReport {
        let archives = self.archives.iter().chain(&self.retired);
        self.counted(archives.map(|(target, archive)| (target, archive.stats())))
    }

    fn counted<'a>(
        &self,
        archives: impl Iterator<Item = (&'a ArchiveTarget, ArchiveStats)>,
    ) -> TenantReport {
        let mut report = self.report.clone();
        // One archive's files across reloads are one sink.
        let mut by_target: BTreeMap<&ArchiveTarget, ArchiveStats> = BTreeMap::new();
        for (target, stats) in archives {
            let sum = by_target.entry(target).or_default();
            *sum = add_stats(*sum, stats);
        }
        report.archive = by_target
            .values()
            .copied()
            .fold(ArchiveStats::default(), add_stats);
        let failed = by_target.values().map(|stats| stats.rows_failed).max();
        let pending = by_target.values().map(|stats| stats.rows_pending).max();
        let lost = failed.unwrap_or(0).max(self.refused_by_otlp);
        let pending = pending.unwrap_or(0);
        report.counts.lost = lost;
        report.counts.pending = pending;
        report.counts.exported = self.handed_to_sinks.saturating_sub(lost + pending);
        report.uploads = self
            .uploaders
            .iter()
            .map(Uploader::stats)
            .fold(UploadStats::default(), UploadStats::add);
        report.otlp = self
            .otlp
            .iter()
            .map(|(_, sink)| sink.stats())
            .fold(self.otlp_closed, add_otlp);
        report
    }

    /// Does a running collector's part of a data subject's request (see
    /// [`crate::control`]): completes every open file, so the request finds
    /// their rows; holds the uploads until [`Self::release_subject_hold`],
    /// so none sends a file the request rewrites; and erases (or gathers)
    /// the subject's spans in every OTLP sink.
    pub fn hold_for_subject(
        &mut self,
        matches: Arc<SpanMatch>,
        erase: bool,
    ) -> anyhow::Result<Held> {
        let mut held = Held::default();
        let archives = self.archives.iter_mut().chain(&mut self.retired);
        for (_, archive) in archives {
            let before = archive.stats().files_committed;
            archive.complete_open()?;
            held.files_completed += archive.stats().files_committed - before;
        }
        for (_, sink) in &mut self.otlp {
            if erase {
                held.spans_erased += sink.erase(Arc::clone(&matches))?;
            } else {
                held.spans.extend(sink.matching(&*matches)?);
            }
        }
        // Last: nothing after it can fail and leave uploads held.
        for uploader in &self.uploaders {
            uploader.hold();
        }
        Ok(held)
    }

    /// The request is done: uploads go on.
    pub fn release_subject_hold(&mut self) {
        for uploader in &self.uploaders {
            uploader.release();
        }
    }

    /// Completes every open file and closes every OTLP sink (open spans
    /// are sent as incomplete).
    pub fn close(mut self) -> (TenantReport, anyhow::Result<()>) {
        let mut outcome: anyhow::Result<()> = Ok(());
        let mut closed = Vec::new();
        let archives = std::mem::take(&mut self.archives)
            .into_iter()
            .chain(std::mem::take(&mut self.retired));
        for (target, archive) in archives {
            let (stats, result) = archive.close();
            closed.push((target, stats));
            if let Err(error) = result
                && outcome.is_ok()
            {
                outcome = Err(error.into());
            }
        }
        // After the archives: their last files are staged by now.
        let mut uploads = UploadStats::default();
        for uploader in std::mem::take(&mut self.uploaders) {
            uploads = uploads.add(uploader.close());
        }
        let mut otlp = self.otlp_closed;
        for (_, sink) in std::mem::take(&mut self.otlp) {
            let (stats, result) = sink.close();
            otlp = add_otlp(otlp, stats);
            if let Err(error) = result
                && outcome.is_ok()
            {
                outcome = Err(error.into());
            }
        }
        let mut report = self.counted(closed.iter().map(|(target, stats)| (target, *stats)));
        report.uploads = uploads;
        report.otlp = otlp;
        (report, outcome)
    }

    /// Removes what a crashed run left half-written in the tenant's part of
    /// an archive (hidden files no reader ever saw).
    fn recover(&self, root: &Path) -> anyhow::Result<()> {
        let directory = root.join(format!("tenant={}", self.name));
        let removed = remove_interrupted(&directory).with_context(|| {
            format!(
                "cannot clean up after an earlier run in {}",
                directory.display()
            )
        })?;
        if !removed.is_empty() {
            tracing::info!(
                tenant = self.name,
                files = removed.len(),
                "tenant `{}`: removed {} unfinished files an interrupted run left in {}",
                self.name,
                removed.len(),
                directory.display()
            );
        }
        Ok(())
    }

    /// Removes the tenant's partitions that are past retention.
    fn enforce_retention(&mut self) -> anyhow::Result<()> {
        // A bucket's staging directory too: files waiting there for a bucket
        // that is down age like the rest.
        let archives = self
            .archives
            .iter()
            .flat_map(|(target, _)| {
                let bucket = target
                    .bucket
                    .as_ref()
                    .and_then(|url| self.uploader_of(url))
                    .map(|uploader| ArchiveAt::Bucket(uploader.bucket()));
                std::iter::once(ArchiveAt::Directory(&target.root)).chain(bucket)
            })
            .collect();
        let removals = TenantRetention {
            tenant: &self.name,
            archives,
            periods: &self.retention,
        }
        .enforce(unix_now(), false, self.settings.audit.as_ref())?;
        if !removals.is_empty() {
            let files: usize = removals
                .iter()
                .map(|removal| removal.partition.files.len())
                .sum();
            tracing::info!(
                tenant = self.name,
                partitions = removals.len(),
                files,
                "tenant `{}`: retention removed {} hour partitions ({files} files)",
                self.name,
                removals.len()
            );
        }
        Ok(())
    }

    /// Opens `target`'s archive, and its uploader if it is in a bucket.
    fn open_archive(&mut self, target: &ArchiveTarget) -> anyhow::Result<Archive> {
        self.start_uploader(target)?;
        let mut options = ArchiveOptions::new(&target.root, target.format);
        options.writers_group = self.archive_group;
        options.roll_interval = self.settings.roll_interval;
        options.max_bytes_per_file = self.settings.roll_bytes;
        let archive = Archive::create(options)?;
        self.restrict(target, &archive)?;
        Ok(archive)
    }

    /// Makes the tenant's directory in a local archive its group's alone,
    /// where the policy names one.
    fn restrict(&self, target: &ArchiveTarget, archive: &Archive) -> anyhow::Result<()> {
        if let Some(group) = self.archive_group
            && target.bucket.is_none()
        {
            archive.restrict_tenant(&self.name, group)?;
        }
        Ok(())
    }

    fn open_otlp(&self, target: &OtlpTarget, spool: &std::path::Path) -> anyhow::Result<OtlpSink> {
        Ok(OtlpSink::new(
            target,
            spool,
            self.settings.spool_max_bytes,
            Arc::clone(&self.settings.resources),
        )?)
    }
}

pub fn add_stats(a: ArchiveStats, b: ArchiveStats) -> ArchiveStats {
    ArchiveStats {
        rows_committed: a.rows_committed + b.rows_committed,
        rows_pending: a.rows_pending + b.rows_pending,
        rows_failed: a.rows_failed + b.rows_failed,
        files_committed: a.files_committed + b.files_committed,
    }
}

pub fn add_otlp(a: OtlpStats, b: OtlpStats) -> OtlpStats {
    OtlpStats {
        exported: a.exported + b.exported,
        spooled: a.spooled + b.spooled,
        erased: a.erased + b.erased,
        dropped: a.dropped + b.dropped,
        failed_requests: a.failed_requests + b.failed_requests,
        open: a.open + b.open,
        in_flight: a.in_flight + b.in_flight,
    }
}
