//! One tenant's pipeline: its record plan (keys included) and its own
//! archives. Nothing here is shared with another tenant, so a tenant's slow
//! disk or failing sink touches no one else's data or progress.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use scrim_event::Event;
use scrim_policies::RecordPlan;
use scrim_sinks::{Archive, ArchiveOptions, ArchiveStats, Format, SinkError};

use crate::outputs::{TenantCounts, TenantOutputs};

/// Where one tenant's events went, and how long its batches took.
#[derive(Clone, Debug, Default)]
pub struct TenantReport {
    pub counts: TenantCounts,
    pub archive: ArchiveStats,
    /// Events of a kind the tenant does not export.
    pub dropped_by_policy: u64,
    /// Events the tenant's sinks cannot take: only OTLP, which this build
    /// does not export yet.
    pub no_sink: u64,
}

pub struct TenantPipeline {
    name: String,
    plan: RecordPlan,
    roll_interval: Duration,
    archives: Vec<((PathBuf, Format), Archive)>,
    /// Archives of earlier plans that the current one no longer names: kept
    /// until their files are complete.
    retired: Vec<Archive>,
    report: TenantReport,
}

impl TenantPipeline {
    /// Opens the tenant's archives; fails now, not at the first event, if a
    /// directory cannot be made.
    pub fn new(outputs: TenantOutputs, roll_interval: Duration) -> Result<Self, SinkError> {
        outputs.prepare_directories()?;
        let archives = outputs
            .archives
            .into_iter()
            .map(|target| Ok((target.clone(), open(&target, roll_interval)?)))
            .collect::<Result<_, SinkError>>()?;
        Ok(TenantPipeline {
            name: outputs.name,
            plan: outputs.plan,
            roll_interval,
            archives,
            retired: Vec::new(),
            report: TenantReport::default(),
        })
    }

    /// Switches to a reloaded policy's plan and archives. Open files stay;
    /// a file whose schema the new plan changes is completed on its next row.
    pub fn install(&mut self, outputs: TenantOutputs) -> Result<(), SinkError> {
        outputs.prepare_directories()?;
        let mut archives = Vec::with_capacity(outputs.archives.len());
        for target in outputs.archives {
            let archive = match self.archives.iter().position(|(known, _)| *known == target) {
                Some(index) => self.archives.swap_remove(index).1,
                None => open(&target, self.roll_interval)?,
            };
            archives.push((target, archive));
        }
        self.retired
            .extend(self.archives.drain(..).map(|(_, archive)| archive));
        self.archives = archives;
        self.plan = outputs.plan;
        Ok(())
    }

    /// Applies the plan and writes the record to each of the tenant's
    /// archives. Returns the first write error (the rows are counted either
    /// way).
    pub fn write(&mut self, event: &Event) -> Result<(), SinkError> {
        let report = &mut self.report;
        report.counts.received += 1;
        let Some(mut record) = self.plan.apply(event) else {
            report.dropped_by_policy += 1;
            report.counts.dropped_by_policy += 1;
            return Ok(());
        };
        if self.archives.is_empty() {
            report.no_sink += 1;
            report.counts.lost += 1;
            return Ok(());
        }
        let mut outcome = Ok(());
        for (_, archive) in &mut self.archives {
            if let Err(error) = archive.write(&self.name, &mut record)
                && outcome.is_ok()
            {
                outcome = Err(error);
            }
        }
        match outcome {
            Ok(()) => report.counts.exported += 1,
            Err(_) => report.counts.lost += 1,
        }
        outcome
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Completes files whose roll interval has passed.
    pub fn roll_expired(&mut self, now: Instant) -> Result<(), SinkError> {
        first_error(self.all_archives().map(|archive| archive.roll_expired(now)))
    }

    /// The counts so far, archive rows included.
    pub fn report(&self) -> TenantReport {
        let mut report = self.report.clone();
        report.archive = self
            .archives
            .iter()
            .map(|(_, archive)| archive)
            .chain(&self.retired)
            .map(Archive::stats)
            .fold(ArchiveStats::default(), add_stats);
        report
    }

    /// Completes every open file.
    pub fn close(self) -> (TenantReport, Result<(), SinkError>) {
        let mut report = self.report;
        let mut outcome = Ok(());
        let archives = self
            .archives
            .into_iter()
            .map(|(_, archive)| archive)
            .chain(self.retired);
        for archive in archives {
            let (stats, closed) = archive.close();
            report.archive = add_stats(report.archive, stats);
            if closed.is_err() && outcome.is_ok() {
                outcome = closed;
            }
        }
        (report, outcome)
    }

    fn all_archives(&mut self) -> impl Iterator<Item = &mut Archive> {
        self.archives
            .iter_mut()
            .map(|(_, archive)| archive)
            .chain(&mut self.retired)
    }
}

fn open((root, format): &(PathBuf, Format), roll_interval: Duration) -> Result<Archive, SinkError> {
    let mut options = ArchiveOptions::new(root, *format);
    options.roll_interval = roll_interval;
    Archive::create(options)
}

/// The first error of several attempts, all of which are made.
fn first_error(outcomes: impl Iterator<Item = Result<(), SinkError>>) -> Result<(), SinkError> {
    let mut first = Ok(());
    for outcome in outcomes {
        if outcome.is_err() && first.is_ok() {
            first = outcome;
        }
    }
    first
}

pub fn add_stats(a: ArchiveStats, b: ArchiveStats) -> ArchiveStats {
    ArchiveStats {
        rows_committed: a.rows_committed + b.rows_committed,
        rows_pending: a.rows_pending + b.rows_pending,
        rows_failed: a.rows_failed + b.rows_failed,
        files_committed: a.files_committed + b.files_committed,
    }
}
