//! One tenant's OTLP sink: events in, spans assembled, batches handed to
//! the sink's shipper thread, which sends them. A batch the backend does
//! not take goes to the spool, as do new batches while the backend fails
//! or while too many are still on their way (so a backend that does not
//! answer costs disk, not memory or events); the spool is sent, oldest
//! first, once the backend answers again.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use scrim_event::{Event, record::Record};

use crate::{
    OtlpError, SpanMatch,
    assemble::SpanAssembler,
    export::{Exporter, OtlpTarget, Resources},
    sent::SentRecord,
    shipper::{Batch, Delivery, Shipper},
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
/// Batches handed to the shipper and not answered yet, at most; past this
/// new batches go to the spool instead of piling up in memory.
const MAX_IN_FLIGHT: usize = 4;

/// Where a sink's spans went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtlpStats {
    /// Spans the backend accepted.
    pub exported: u64,
    /// Spans waiting in the spool now (those being sent from it included).
    pub spooled: u64,
    /// Spans dropped because the spool was full, or could not be written
    /// or read.
    pub dropped: u64,
    /// Requests the backend failed or refused.
    pub failed_requests: u64,
    /// Spans begun and not ended yet.
    pub open: u64,
    /// Spans handed to the backend straight from the assembler, not
    /// answered yet.
    pub in_flight: u64,
    /// Spans a data subject's erasure removed before they were sent
    /// (spooled, waiting for a batch, or still open).
    pub erased: u64,
}

/// A change in how the backend answers, for the log: said once when it
/// starts failing and once when it answers again, not on every retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendNews {
    Failing(String),
    AnsweringAgain,
}

enum Backend {
    Answering,
    /// Nothing is sent until `retry_at`; then one spooled batch probes it.
    Failing {
        retry_at: Instant,
        delay: Duration,
        probing: bool,
    },
}

pub struct OtlpSink {
    shipper: Shipper,
    assembler: SpanAssembler,
    completed: Vec<Span>,
    spool: Spool,
    backend: Backend,
    in_flight: usize,
    /// Spans of fresh batches in flight (only in memory) and of spooled
    /// ones (still on disk until sent).
    fresh_in_flight: u64,
    spooled_in_flight: u64,
    flushed_at: Instant,
    stats: OtlpStats,
    news: Option<BackendNews>,
    /// The spool's directory, where `sent` is kept.
    spool_directory: PathBuf,
    endpoint: String,
    /// When the backend took spans (this run and earlier ones), and
    /// whether that changed since it was last written.
    sent: Option<SentRecord>,
    sent_changed: bool,
    /// Erasures made while fresh batches were in flight: a batch that
    /// comes back unsent is spooled without what they pick.
    erasures: Vec<Arc<SpanMatch>>,
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
        let spool_directory = spool.to_path_buf();
        let sent = SentRecord::read(spool)?;
        let spool = Spool::open(spool, spool_max_bytes)?;
        // What a previous run left goes at the first tick (where a batch
        // it cannot read is an error to log, not a sink that fails to open).
        Ok(OtlpSink {
            shipper: Shipper::start(Exporter::new(target)?, resources)?,
            assembler: SpanAssembler::new(id_key),
            completed: Vec::new(),
            spool,
            backend: Backend::Answering,
            in_flight: 0,
            fresh_in_flight: 0,
            spooled_in_flight: 0,
            flushed_at: Instant::now(),
            stats: OtlpStats::default(),
            news: None,
            spool_directory,
            endpoint: target.endpoint.clone(),
            sent,
            sent_changed: false,
            erasures: Vec::new(),
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

    /// Takes the shipper's answers, sends what waited long enough, and
    /// sends from the spool when the backend answers (or a retry is due).
    pub fn tick(&mut self, now: Instant) -> Result<(), OtlpError> {
        let mut outcome = self.collect(now);
        if !self.completed.is_empty() && now.duration_since(self.flushed_at) >= FLUSH_INTERVAL {
            outcome = outcome.and(self.flush(now));
        }
        outcome.and(self.pump(now)).and(self.write_sent())
    }

    /// Removes a data subject's spans from everything this sink holds:
    /// spans waiting for a batch, open spans (what their processes do next
    /// begins a new span), the spool (batches being sent included), and
    /// fresh batches in flight if they come back unsent. What the backend
    /// already took is out of reach: see [`Self::sent_record`]. Returns
    /// the spans removed now.
    pub fn erase(&mut self, matches: Arc<SpanMatch>) -> Result<u64, OtlpError> {
        let before = self.completed.len();
        self.completed.retain(|span| !matches(span));
        let in_memory = (before - self.completed.len()) as u64 + self.assembler.forget(&*matches);
        self.stats.erased += in_memory;
        if self.fresh_in_flight > 0 {
            self.erasures.push(Arc::clone(&matches));
        }
        // The spool counts its own.
        let spooled = self.spool.erase(&*matches)?;
        Ok(in_memory + spooled)
    }

    /// A data subject's spans this sink holds (see [`Self::erase`]), for
    /// an access request.
    pub fn matching(&self, matches: &SpanMatch) -> Result<Vec<Span>, OtlpError> {
        let mut found: Vec<Span> = self
            .completed
            .iter()
            .filter(|span| matches(span))
            .cloned()
            .collect();
        found.extend(self.assembler.open_matching(matches));
        found.extend(self.spool.matching(matches)?);
        Ok(found)
    }

    /// When the backend took spans from this sink, this run or before.
    pub fn sent_record(&self) -> Option<&SentRecord> {
        self.sent.as_ref()
    }

    /// Ends every open span as it stands (marked incomplete), waits for
    /// what is on its way and, unless a request has just failed (a backend
    /// that hangs would make shutdown wait out its timeout twice), makes
    /// one last attempt at the spool, whatever the backoff says; what the
    /// backend does not take stays in the spool for the next run.
    pub fn close(mut self) -> (OtlpStats, Result<(), OtlpError>) {
        self.assembler.finish(&mut self.completed);
        let now = Instant::now();
        let failed_before = self.stats.failed_requests;
        let mut outcome = self.flush(now).and(self.settle(now));
        if let Backend::Failing { retry_at, .. } = &mut self.backend
            && self.stats.failed_requests == failed_before
        {
            *retry_at = now;
        }
        // Sending from the spool, batch after batch, until it is empty or
        // a request fails (then the backoff is past `now`: nothing is sent).
        loop {
            outcome = outcome.and(self.pump(now));
            if self.in_flight == 0 {
                break;
            }
            outcome = outcome.and(self.settle(now));
        }
        outcome = outcome.and(self.write_sent());
        let stats = self.stats();
        self.shipper.stop();
        (stats, outcome)
    }

    pub fn stats(&self) -> OtlpStats {
        OtlpStats {
            spooled: self.spool.spans() + self.spooled_in_flight,
            dropped: self.stats.dropped + self.spool.dropped_spans(),
            erased: self.stats.erased + self.spool.erased_spans(),
            open: self.assembler.open_spans() as u64,
            in_flight: self.fresh_in_flight,
            ..self.stats
        }
    }

    /// What changed about the backend since last asked, once.
    pub fn take_news(&mut self) -> Option<BackendNews> {
        self.news.take()
    }

    fn flush(&mut self, now: Instant) -> Result<(), OtlpError> {
        self.flushed_at = now;
        if self.completed.is_empty() {
            return Ok(());
        }
        let spans = std::mem::take(&mut self.completed);
        let collected = self.collect(now);
        let ready = matches!(self.backend, Backend::Answering)
            && self.spool.is_empty()
            && self.in_flight < MAX_IN_FLIGHT;
        let handed = if ready {
            self.send(Batch::Fresh(spans))
        } else {
            self.spool_fresh(&spans)
        };
        // Whatever answers came back made room: the spool does not wait
        // for the next tick (it would drain far slower than spans come).
        collected.and(handed).and(self.pump(now))
    }

    /// Sends from the spool: as much as may be in flight while the backend
    /// answers, one batch to probe it once a retry is due.
    fn pump(&mut self, now: Instant) -> Result<(), OtlpError> {
        match self.backend {
            Backend::Answering => {
                while self.in_flight < MAX_IN_FLIGHT {
                    let Some((lease, spans)) = self.spool.take_oldest()? else {
                        break;
                    };
                    self.send(Batch::Spooled(lease, spans))?;
                }
                Ok(())
            }
            Backend::Failing {
                retry_at,
                delay,
                probing: false,
            } if now >= retry_at && self.in_flight == 0 => match self.spool.take_oldest()? {
                Some((lease, spans)) => {
                    self.backend = Backend::Failing {
                        retry_at,
                        delay,
                        probing: true,
                    };
                    self.send(Batch::Spooled(lease, spans))
                }
                // Nothing left to probe with: the next batch will.
                None => {
                    self.backend = Backend::Answering;
                    Ok(())
                }
            },
            Backend::Failing { .. } => Ok(()),
        }
    }

    fn send(&mut self, batch: Batch) -> Result<(), OtlpError> {
        let spans = batch.spans().len() as u64;
        match &batch {
            Batch::Fresh(_) => self.fresh_in_flight += spans,
            Batch::Spooled(..) => self.spooled_in_flight += spans,
        }
        self.in_flight += 1;
        match self.shipper.send(batch) {
            Ok(()) => Ok(()),
            Err(batch) => {
                self.landed(&batch);
                self.take_back(batch)?;
                Err(OtlpError::ThreadStopped)
            }
        }
    }

    /// Takes every answer the shipper has ready.
    fn collect(&mut self, now: Instant) -> Result<(), OtlpError> {
        let mut outcome = Ok(());
        while let Some((batch, delivery)) = self.shipper.try_delivery() {
            outcome = outcome.and(self.delivered(now, batch, delivery));
        }
        outcome
    }

    /// Waits for every batch in flight to be answered.
    fn settle(&mut self, now: Instant) -> Result<(), OtlpError> {
        let mut outcome = Ok(());
        while self.in_flight > 0 {
            let Some((batch, delivery)) = self.shipper.delivery() else {
                // The thread died with them: spooled batches are still on
                // disk for the next run; fresh ones are lost, and counted.
                self.stats.dropped += self.fresh_in_flight;
                (self.in_flight, self.fresh_in_flight) = (0, 0);
                return Err(OtlpError::ThreadStopped);
            };
            outcome = outcome.and(self.delivered(now, batch, delivery));
        }
        outcome
    }

    fn delivered(
        &mut self,
        now: Instant,
        batch: Batch,
        delivery: Delivery,
    ) -> Result<(), OtlpError> {
        self.landed(&batch);
        match delivery {
            Delivery::Sent => {
                self.stats.exported += batch.spans().len() as u64;
                self.mark_sent();
                if matches!(self.backend, Backend::Failing { .. }) {
                    self.news = Some(BackendNews::AnsweringAgain);
                }
                self.backend = Backend::Answering;
                match batch {
                    Batch::Spooled(lease, _) => self.spool.sent(lease),
                    Batch::Fresh(_) => {
                        if self.fresh_in_flight == 0 {
                            self.erasures.clear();
                        }
                        Ok(())
                    }
                }
            }
            Delivery::Failed(error) => {
                self.stats.failed_requests += 1;
                let delay = match self.backend {
                    Backend::Answering => {
                        self.news = Some(BackendNews::Failing(error.to_string()));
                        FIRST_RETRY
                    }
                    Backend::Failing { delay, .. } => (delay * 2).min(MAX_RETRY),
                };
                self.backend = Backend::Failing {
                    retry_at: now + delay,
                    delay,
                    probing: false,
                };
                self.take_back(batch)
            }
            Delivery::NotTried => self.take_back(batch),
        }
    }

    /// A batch is no longer in flight.
    fn landed(&mut self, batch: &Batch) {
        let spans = batch.spans().len() as u64;
        match batch {
            Batch::Fresh(_) => self.fresh_in_flight -= spans,
            Batch::Spooled(..) => self.spooled_in_flight -= spans,
        }
        self.in_flight -= 1;
    }

    /// A batch that did not go through waits in the spool.
    fn take_back(&mut self, batch: Batch) -> Result<(), OtlpError> {
        match batch {
            Batch::Fresh(mut spans) => {
                let before = spans.len();
                for matches in &self.erasures {
                    spans.retain(|span| !matches(span));
                }
                self.stats.erased += (before - spans.len()) as u64;
                if self.fresh_in_flight == 0 {
                    // No batch is left that went before an erasure.
                    self.erasures.clear();
                }
                self.spool_fresh(&spans)
            }
            Batch::Spooled(lease, _) => self.spool.put_back(lease),
        }
    }

    /// The backend took a batch now.
    fn mark_sent(&mut self) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_nanos()).ok())
            .unwrap_or_default();
        match &mut self.sent {
            Some(record) => record.last = now.max(record.last),
            None => {
                self.sent = Some(SentRecord {
                    endpoint: self.endpoint.clone(),
                    first: now,
                    last: now,
                });
            }
        }
        self.sent_changed = true;
    }

    /// Keeps when the backend took spans, at most once a tick.
    fn write_sent(&mut self) -> Result<(), OtlpError> {
        match &self.sent {
            Some(record) if self.sent_changed => {
                self.sent_changed = false;
                record.write(&self.spool_directory)
            }
            _ => Ok(()),
        }
    }

    /// Spools spans that exist nowhere else: if they cannot be written,
    /// they are lost, and counted.
    fn spool_fresh(&mut self, spans: &[Span]) -> Result<(), OtlpError> {
        self.spool.push(spans).inspect_err(|_| {
            self.stats.dropped += spans.len() as u64;
        })
    }
}
