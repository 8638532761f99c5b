//! Per-tenant queues: the reader hands each tenant's events to that
//! tenant's own worker thread, through a queue bounded in the bytes its
//! events took in the kernel's ring buffer. A tenant whose sink falls
//! behind fills only its own queue; what does not fit is dropped and
//! counted as that tenant's `queue_full` loss, while every other tenant
//! goes on untouched. (Vector's `when_full = "drop_newest"` buffers behave
//! the same way, per sink.)
//!
//! Why bytes, and as many as the ring buffer holds: the reader empties the
//! ring buffer as fast as the kernel fills it, so a burst lands in the
//! tenant's queue rather than in the kernel. A queue that holds what the
//! ring buffer holds (by default) absorbs every burst the kernel could
//! have, and loses only what the kernel would have lost anyway; one
//! counted in events (8,192 before) gave up after ~30 ms of a 300k
//! events/s burst while the ring buffer had room to spare. Each tenant has
//! its own bound, so a stalled tenant still loses only its own excess.
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::Instant,
};

use anyhow::Context as _;
use scrim_otlp::{OtlpStats, SpanMatch};
use scrim_probes::Captured;

use crate::{
    control::Held,
    metrics::LatencyHistogram,
    outputs::{OutputStats, PolicyOutputs, TenantCounts, TenantOutputs},
    tenant_pipeline::{PipelineSettings, TenantPipeline, TenantReport, add_otlp, add_stats},
    upload::UploadStats,
};

/// What a tenant's worker is asked to do, in order.
enum TenantMessage {
    Events(Vec<Captured>),
    /// A reloaded policy's plan and sinks: events after this use them.
    Install(Box<TenantOutputs>),
    /// Complete files whose roll interval has passed, send spans that
    /// waited, retry spools.
    Tick,
    /// A data subject's request: see [`TenantPipeline::hold_for_subject`].
    Subject {
        matches: Arc<SpanMatch>,
        erase: bool,
        answer: tokio::sync::oneshot::Sender<Result<Held, String>>,
    },
    /// The request is done.
    Release,
}

/// A queue's depth, shared by the reader (who adds) and the worker (who
/// takes away).
#[derive(Default)]
struct QueueDepth {
    events: AtomicUsize,
    bytes: AtomicUsize,
}

/// What a worker shares with the reader after each message.
#[derive(Default)]
struct WorkerState {
    report: TenantReport,
    latency: LatencyHistogram,
}

struct TenantWorker {
    name: String,
    sender: mpsc::Sender<TenantMessage>,
    /// Events sent and not yet written, and their ring-buffer bytes: the
    /// queue's depth.
    queued: Arc<QueueDepth>,
    /// Events dropped because the queue was full.
    queue_full: u64,
    shared: Arc<Mutex<WorkerState>>,
    thread: thread::JoinHandle<TenantReport>,
    /// This batch's events for the tenant, being gathered.
    pending: Vec<Captured>,
}

/// Everything the pipelines did so far, for the summary and the metrics.
#[derive(Clone, Debug, Default)]
pub struct DispatchReport {
    pub stats: OutputStats,
    pub tenants: BTreeMap<String, TenantCounts>,
    /// Ring-buffer bytes of the events in each tenant's queue now.
    pub queued: BTreeMap<String, usize>,
    /// Each tenant's spans, for tenants with OTLP sinks.
    pub otlp: BTreeMap<String, OtlpStats>,
    /// Each tenant's uploads, for tenants with archives in object storage.
    pub uploads: BTreeMap<String, UploadStats>,
    pub latency: LatencyHistogram,
}

pub struct Dispatcher {
    settings: PipelineSettings,
    /// The bound of each tenant's queue, in ring-buffer bytes.
    queue_bytes: usize,
    /// By kernel slot index, the index in `workers` of its tenant.
    route: Vec<Option<usize>>,
    workers: Vec<TenantWorker>,
    /// Workers of tenants a reload removed: finishing their queue.
    retired: Vec<TenantWorker>,
    /// Events of slots no tenant holds (in the moment of a reload).
    unheld: u64,
}

impl Dispatcher {
    /// Starts a worker per tenant of `policy`.
    pub fn new(
        policy: PolicyOutputs,
        settings: PipelineSettings,
        queue_bytes: usize,
    ) -> anyhow::Result<Self> {
        let mut dispatcher = Dispatcher {
            settings,
            queue_bytes,
            route: Vec::new(),
            workers: Vec::new(),
            retired: Vec::new(),
            unheld: 0,
        };
        dispatcher.install(policy)?;
        Ok(dispatcher)
    }

    /// Routes each event to its tenant's queue; a queue without room for
    /// its share of the batch drops that share, counted. Never blocks.
    pub fn dispatch(&mut self, batch: &mut Vec<Captured>) {
        for captured in batch.drain(..) {
            let slot = captured.tenant.index() as usize;
            match self.route.get(slot).copied().flatten() {
                Some(worker) => self.workers[worker].pending.push(captured),
                None => self.unheld += 1,
            }
        }
        for worker in &mut self.workers {
            worker.flush(self.queue_bytes);
        }
    }

    /// Puts a reloaded policy in force: continuing tenants get their new
    /// plan after the events already queued, new tenants get a worker, and
    /// removed tenants' workers finish their queue and close their files.
    pub fn install(&mut self, policy: PolicyOutputs) -> anyhow::Result<()> {
        let mut previous: Vec<TenantWorker> = std::mem::take(&mut self.workers);
        for outputs in policy.tenants {
            let worker = match previous
                .iter()
                .position(|worker| worker.name == outputs.name)
            {
                Some(index) => {
                    let worker = previous.swap_remove(index);
                    // A worker that died has reported why; its events are
                    // counted as lost at its queue from now on.
                    let _ = worker
                        .sender
                        .send(TenantMessage::Install(Box::new(outputs)));
                    worker
                }
                None => TenantWorker::start(TenantPipeline::new(outputs, self.settings.clone())?)?,
            };
            self.workers.push(worker);
        }
        self.retired.extend(previous);
        self.route = policy.tenant_of_slot;
        Ok(())
    }

    /// Hands a data subject's request to the tenant's worker, after the
    /// events already queued for it (so their rows are in the files it
    /// completes); the worker answers on `answer`.
    pub fn subject(
        &self,
        tenant: &str,
        matches: Arc<SpanMatch>,
        erase: bool,
        answer: tokio::sync::oneshot::Sender<Result<Held, String>>,
    ) {
        let Some(worker) = self.workers.iter().find(|worker| worker.name == tenant) else {
            let _ = answer.send(Err(format!(
                "this collector's policy has no tenant `{tenant}`"
            )));
            return;
        };
        let message = TenantMessage::Subject {
            matches,
            erase,
            answer,
        };
        if let Err(mpsc::SendError(TenantMessage::Subject { answer, .. })) =
            worker.sender.send(message)
        {
            let _ = answer.send(Err(format!("tenant `{tenant}`'s pipeline has stopped")));
        }
    }

    /// Ends a request's hold on the tenant's uploads.
    pub fn release(&self, tenant: &str) {
        if let Some(worker) = self.workers.iter().find(|worker| worker.name == tenant) {
            let _ = worker.sender.send(TenantMessage::Release);
        }
    }

    /// Asks every worker to complete files whose roll interval has
    /// passed, send spans that waited, and retry spools that are due.
    pub fn tick(&self) {
        for worker in self.workers.iter().chain(&self.retired) {
            let _ = worker.sender.send(TenantMessage::Tick);
        }
    }

    pub fn report(&self) -> DispatchReport {
        let mut report = DispatchReport::default();
        for worker in self.workers.iter().chain(&self.retired) {
            let (tenant, latency) = worker.shared.lock().map_or_else(
                |_| (TenantReport::default(), LatencyHistogram::default()),
                |state| (state.report.clone(), state.latency.clone()),
            );
            report.latency.merge(&latency);
            let queued = (
                worker.queued.events.load(Ordering::Relaxed),
                worker.queued.bytes.load(Ordering::Relaxed),
            );
            report.add(&worker.name, &tenant, worker.queue_full);
            report.add_queued(&worker.name, queued);
        }
        report.stats.dropped_by_policy += self.unheld;
        report
    }

    /// Lets every worker finish its queue and complete its files.
    pub fn close(self) -> (DispatchReport, Result<(), anyhow::Error>) {
        let mut report = DispatchReport::default();
        let mut outcome = Ok(());
        for worker in self.workers.into_iter().chain(self.retired) {
            let TenantWorker {
                name,
                sender,
                queue_full,
                thread,
                shared,
                ..
            } = worker;
            drop(sender);
            match thread.join() {
                Ok(tenant) => report.add(&name, &tenant, queue_full),
                Err(_) => {
                    if let Ok(state) = shared.lock() {
                        report.add(&name, &state.report, queue_full);
                    }
                    outcome = Err(anyhow::anyhow!("the pipeline of tenant `{name}` panicked"));
                }
            }
        }
        report.stats.dropped_by_policy += self.unheld;
        (report, outcome)
    }
}

impl DispatchReport {
    /// Events in a tenant's queue are received and pending.
    fn add_queued(&mut self, name: &str, (events, bytes): (usize, usize)) {
        let queued_events = events as u64;
        *self.queued.entry(name.to_owned()).or_default() += bytes;
        self.stats.pending += queued_events;
        let counts = self.tenants.entry(name.to_owned()).or_default();
        counts.received += queued_events;
        counts.pending += queued_events;
    }

    fn add(&mut self, name: &str, tenant: &TenantReport, queue_full: u64) {
        let stats = &mut self.stats;
        stats.archive = add_stats(stats.archive, tenant.archive);
        stats.otlp = add_otlp(stats.otlp, tenant.otlp);
        stats.exported += tenant.counts.exported;
        stats.pending += tenant.counts.pending;
        stats.dropped_by_policy += tenant.dropped_by_policy;
        stats.sink_errors += tenant.counts.lost;
        stats.queue_full += queue_full;
        if tenant.otlp != OtlpStats::default() {
            let otlp = self.otlp.entry(name.to_owned()).or_default();
            *otlp = add_otlp(*otlp, tenant.otlp);
        }
        if tenant.uploads != UploadStats::default() {
            let uploads = self.uploads.entry(name.to_owned()).or_default();
            *uploads = uploads.add(tenant.uploads);
        }
        let counts = self.tenants.entry(name.to_owned()).or_default();
        counts.received += tenant.counts.received + queue_full;
        counts.exported += tenant.counts.exported;
        counts.dropped_by_policy += tenant.counts.dropped_by_policy;
        counts.lost += tenant.counts.lost + queue_full;
        counts.pending += tenant.counts.pending;
    }
}

impl TenantWorker {
    fn start(pipeline: TenantPipeline) -> anyhow::Result<Self> {
        let name = pipeline.name().to_owned();
        let (sender, receiver) = mpsc::channel();
        let queued = Arc::new(QueueDepth::default());
        let shared = Arc::new(Mutex::new(WorkerState::default()));
        let thread = {
            let (queued, shared) = (Arc::clone(&queued), Arc::clone(&shared));
            thread::Builder::new()
                .name(format!("scrim-tenant-{name}"))
                .spawn(move || work(pipeline, &receiver, &queued, &shared))
                .with_context(|| format!("cannot start the pipeline thread of tenant `{name}`"))?
        };
        Ok(TenantWorker {
            name,
            sender,
            queued,
            queue_full: 0,
            shared,
            thread,
            pending: Vec::new(),
        })
    }

    /// Sends the gathered events that the queue has room for, oldest
    /// first; the rest are dropped and counted.
    fn flush(&mut self, queue_bytes: usize) {
        if self.pending.is_empty() {
            return;
        }
        let room = queue_bytes.saturating_sub(self.queued.bytes.load(Ordering::Relaxed));
        let mut fitting = 0;
        let mut bytes = 0usize;
        for captured in &self.pending {
            let next = bytes + captured.ring_bytes as usize;
            if next > room {
                break;
            }
            bytes = next;
            fitting += 1;
        }
        self.queue_full += (self.pending.len() - fitting) as u64;
        self.pending.truncate(fitting);
        if fitting == 0 {
            return;
        }
        self.queued.events.fetch_add(fitting, Ordering::Relaxed);
        self.queued.bytes.fetch_add(bytes, Ordering::Relaxed);
        let events = std::mem::take(&mut self.pending);
        if self.sender.send(TenantMessage::Events(events)).is_err() {
            // The worker died (its panic is reported at close).
            self.queued.events.fetch_sub(fitting, Ordering::Relaxed);
            self.queued.bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.queue_full += fitting as u64;
        }
    }
}

/// A tenant's worker: runs until the dispatcher lets go of its queue.
fn work(
    mut pipeline: TenantPipeline,
    receiver: &mpsc::Receiver<TenantMessage>,
    queued: &QueueDepth,
    shared: &Mutex<WorkerState>,
) -> TenantReport {
    let mut errors = ErrorLog::default();
    let mut report = |outcome: anyhow::Result<()>| {
        if let Err(error) = outcome {
            errors.log(&error);
        }
    };
    let mut latency = LatencyHistogram::default();
    while let Ok(message) = receiver.recv() {
        match message {
            TenantMessage::Events(events) => {
                let started = Instant::now();
                for captured in &events {
                    report(pipeline.write(&captured.event));
                }
                latency.observe(started.elapsed());
                let bytes: usize = events.iter().map(|event| event.ring_bytes as usize).sum();
                queued.events.fetch_sub(events.len(), Ordering::Relaxed);
                queued.bytes.fetch_sub(bytes, Ordering::Relaxed);
            }
            TenantMessage::Install(outputs) => report(pipeline.install(*outputs)),
            TenantMessage::Subject {
                matches,
                erase,
                answer,
            } => {
                let held = pipeline
                    .hold_for_subject(matches, erase)
                    .map_err(|error| format!("{error:#}"));
                if let Err(Ok(_)) = answer.send(held) {
                    // Nobody waits for it: let go of the hold at once.
                    pipeline.release_subject_hold();
                }
            }
            TenantMessage::Release => pipeline.release_subject_hold(),
            TenantMessage::Tick => {
                let (outcome, failures) = pipeline.tick(Instant::now());
                report(outcome);
                for failure in failures {
                    tracing::warn!("{failure}");
                }
            }
        }
        if let Ok(mut state) = shared.lock() {
            state.report = pipeline.report();
            state.latency = latency.clone();
        }
    }
    let (final_report, outcome) = pipeline.close();
    report(outcome);
    final_report
}

/// A tenant's sink errors, logged without flooding: each row is counted
/// anyway, and a full disk fails every file (each under its own name), so
/// at most one message a second goes out, saying how many were held back.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    held_back: u64,
}

impl ErrorLog {
    const INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

    fn log(&mut self, error: &anyhow::Error) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Self::INTERVAL)
        {
            self.held_back += 1;
            return;
        }
        if self.held_back > 0 {
            tracing::error!(
                "{error:#} (and {} more errors in the last second or more)",
                self.held_back
            );
        } else {
            tracing::error!("{error:#}");
        }
        self.last = Some(now);
        self.held_back = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use scrim_event::fixture::{FixtureValue, event_from_fields};
    use scrim_probes::TenantSlot;

    use super::*;
    use crate::outputs::SinkSettings;

    fn policy(archive: &Path) -> PolicyOutputs {
        let tenant = |name: &str| {
            format!(
                r#"
[[tenant]]
name = "{name}"
purpose = "test"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/{name}/**"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"#,
                archive.display()
            )
        };
        let text = format!("version = 1\n{}{}", tenant("slow"), tenant("quick"));
        let policy = scrim_policies::compile_source(&text, archive).expect("valid policy");
        let settings = SinkSettings {
            root_override: None,
            format_override: None,
            roll_interval: Duration::from_secs(3600),
            roll_bytes: scrim_sinks::ArchiveOptions::DEFAULT_MAX_BYTES_PER_FILE,
            spool_root: archive.join("spool"),
            staging_root: archive.join("uploads"),
            spool_max_bytes: 1 << 20,
        };
        // Slot 1 carries `slow`, slot 2 `quick`.
        PolicyOutputs::new(&policy, vec![None, Some(0), Some(1)], &settings)
    }

    fn batch(pid: i64) -> Vec<Captured> {
        [1, 2]
            .into_iter()
            .flat_map(|slot| {
                (0..10).map(move |offset| Captured {
                    ring_bytes: 1,
                    tenant: TenantSlot::new(slot).expect("slot"),
                    event: event_from_fields(
                        "process.exit",
                        [("process.pid", FixtureValue::Int(pid + offset))],
                    )
                    .expect("event"),
                })
            })
            .collect()
    }

    #[test]
    fn a_stalled_tenant_loses_only_its_own_excess_and_every_event_is_accounted_for() {
        let archive = tempfile::tempdir().expect("tempdir");
        let mut dispatcher = Dispatcher::new(
            policy(archive.path()),
            PipelineSettings {
                roll_interval: Duration::from_secs(3600),
                roll_bytes: scrim_sinks::ArchiveOptions::DEFAULT_MAX_BYTES_PER_FILE,
                spool_max_bytes: 1 << 20,
                resources: Arc::new(crate::workloads::Workloads::new("test")),
                retention_interval: Duration::from_secs(86_400),
                audit: None,
            },
            100,
        )
        .expect("dispatcher");
        // The slow tenant's worker stalls after its first batch: it cannot
        // publish its progress while the test holds its state.
        let stall = Arc::clone(&dispatcher.workers[0].shared);
        let stalled = stall.lock().expect("lock");
        for round in 0..50 {
            dispatcher.dispatch(&mut batch(round * 10));
            // The quick tenant keeps up: wait for its queue to empty.
            while dispatcher.workers[1].queued.events.load(Ordering::Relaxed) > 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        let during = dispatcher.workers[0].queue_full;
        drop(stalled);
        let (report, outcome) = dispatcher.close();
        outcome.expect("closed");

        let quick = report.tenants["quick"];
        assert_eq!((quick.received, quick.exported, quick.lost), (500, 500, 0));
        let slow = report.tenants["slow"];
        assert_eq!(slow.received, 500);
        // One batch in the worker's hands, ten in its queue, the rest lost.
        assert_eq!(slow.lost, 390, "{slow:?}");
        assert_eq!(slow.exported, 110);
        assert_eq!(during, 390);
        assert_eq!(report.stats.queue_full, 390);
        for counts in report.tenants.values() {
            assert_eq!(
                counts.received,
                counts.exported + counts.dropped_by_policy + counts.lost
            );
        }
        assert_eq!(report.stats.archive.rows_committed, 610);
    }
}
