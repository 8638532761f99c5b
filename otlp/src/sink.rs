//! One tenant's OTLP sink: events in, spans assembled, batches exported;
//! a batch the backend does not take goes to the spool, and the spool is
//! sent, oldest first, once the backend answers again.
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use scrim_event::{Event, record::Record};

use crate::{
    OtlpError,
    assemble::SpanAssembler,
    export::{Exporter, OtlpTarget, Resources},
    span::Span,
    spool::Spool,
};

/// Spans sent per request at most.
const BATCH_SPANS: usize = 2048;
/// Completed spans wait at most this long for a batch to fill.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Retries after a failure wait this long at first, doubling up to the cap.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Where a sink's spans went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtlpStats {
    /// Spans the backend accepted.
    pub exported: u64,
    /// Spans waiting in the spool now.
    pub spooled: u64,
    /// Spans dropped because the spool was full.
    pub dropped: u64,
    /// Requests the backend failed or refused.
    pub failed_requests: u64,
    /// Spans begun and not ended yet.
    pub open: u64,
}

pub struct OtlpSink {
    exporter: Exporter,
    resources: Arc<dyn Resources + Send + Sync>,
    assembler: SpanAssembler,
    completed: Vec<Span>,
    spool: Spool,
    /// While set, the backend is failing: batches go to the spool, and the
    /// spool is retried no earlier than this.
    retry_at: Option<Instant>,
    retry_delay: Duration,
    flushed_at: Instant,
    stats: OtlpStats,
    last_error: Option<String>,
}

impl OtlpSink {
    /// `spool` is this sink's own directory (kept across restarts);
    /// `spool_max_bytes` its bound.
    pub fn new(
        target: &OtlpTarget,
        spool: &Path,
        spool_max_bytes: u64,
        resources: Arc<dyn Resources + Send + Sync>,
    ) -> Result<Self, OtlpError> {
        let mut id_key = [0; 32];
        getrandom::fill(&mut id_key).map_err(|error| OtlpError::Random(error.to_string()))?;
        let spool = Spool::open(spool, spool_max_bytes)?;
        Ok(OtlpSink {
            exporter: Exporter::new(target)?,
            resources,
            assembler: SpanAssembler::new(id_key),
            completed: Vec::new(),
            // What a previous run left is sent first.
            retry_at: (!spool.is_empty()).then(Instant::now),
            spool,
            retry_delay: FIRST_RETRY,
            flushed_at: Instant::now(),
            stats: OtlpStats::default(),
            last_error: None,
        })
    }

    /// Takes an event and its tenant's record of it.
    pub fn write(&mut self, event: &Event, record: &mut dyn Record) -> Result<(), OtlpError> {
        self.assembler.observe(event, record, &mut self.completed);
        if self.completed.len() >= BATCH_SPANS {
            self.flush(Instant::now())?;
        }
        Ok(())
    }

    /// Sends what waited long enough, and retries the spool when due.
    pub fn tick(&mut self, now: Instant) -> Result<(), OtlpError> {
        if !self.completed.is_empty() && now.duration_since(self.flushed_at) >= FLUSH_INTERVAL {
            self.flush(now)?;
        }
        self.retry(now)
    }

    /// Ends every open span as it stands (marked incomplete), sends
    /// everything it can; what the backend does not take stays in the
    /// spool for the next run.
    pub fn close(mut self) -> (OtlpStats, Result<(), OtlpError>) {
        self.assembler.finish(&mut self.completed);
        let now = Instant::now();
        let mut outcome = self.flush(now);
        // One last attempt at the spool, whatever the backoff says.
        self.retry_at = self.retry_at.map(|_| now);
        if let Err(error) = self.retry(now)
            && outcome.is_ok()
        {
            outcome = Err(error);
        }
        (self.stats(), outcome)
    }

    pub fn stats(&self) -> OtlpStats {
        OtlpStats {
            spooled: self.spool.spans(),
            dropped: self.spool.dropped_spans(),
            open: self.assembler.open_spans() as u64,
            ..self.stats
        }
    }

    /// The last export failure's message, once: for the log.
    pub fn take_error(&mut self) -> Option<String> {
        self.last_error.take()
    }

    fn flush(&mut self, now: Instant) -> Result<(), OtlpError> {
        self.flushed_at = now;
        if self.completed.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.completed);
        if self.retry_at.is_some() {
            // Behind earlier batches: keep the order.
            return self.spool.push(&batch);
        }
        match self.exporter.export(&batch, self.resources.as_ref()) {
            Ok(()) => {
                self.stats.exported += batch.len() as u64;
                Ok(())
            }
            Err(error) => {
                self.failed(now, error);
                self.spool.push(&batch)
            }
        }
    }

    /// Sends spooled batches, oldest first, until one fails.
    fn retry(&mut self, now: Instant) -> Result<(), OtlpError> {
        if self.retry_at.is_none_or(|at| now < at) {
            return Ok(());
        }
        while let Some(batch) = self.spool.oldest() {
            let batch = match batch {
                Ok(batch) => batch,
                Err(unreadable) => {
                    self.spool.drop_oldest()?;
                    return Err(unreadable);
                }
            };
            if let Err(error) = self.exporter.export(&batch, self.resources.as_ref()) {
                self.failed(now, error);
                return Ok(());
            }
            self.stats.exported += batch.len() as u64;
            self.spool.remove_oldest()?;
        }
        self.retry_at = None;
        self.retry_delay = FIRST_RETRY;
        Ok(())
    }

    fn failed(&mut self, now: Instant, error: OtlpError) {
        self.stats.failed_requests += 1;
        self.retry_at = Some(now + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
        self.last_error = Some(error.to_string());
    }
}
