//! Uploads a tenant's completed archive files from their staging directory
//! to object storage, on a thread of its own so that a slow or unreachable
//! bucket never holds up the tenant's events. Files wait in staging until
//! they are up; what is still there at exit goes up at the next start.
use std::{
    path::PathBuf,
    sync::{
        Arc, Condvar, Mutex,
        mpsc::{self, RecvTimeoutError},
    },
    thread,
    time::Duration,
};

use anyhow::Context as _;
use scrim_sinks::Bucket;

/// How often staging is looked at while the bucket answers.
const PASS_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait between attempts while it does not.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one tenant's uploads to one bucket have done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadStats {
    pub files: u64,
    pub bytes: u64,
    /// Passes that stopped at an error (their files wait for the next).
    pub failed_attempts: u64,
}

impl UploadStats {
    pub fn add(self, other: UploadStats) -> UploadStats {
        UploadStats {
            files: self.files + other.files,
            bytes: self.bytes + other.bytes,
            failed_attempts: self.failed_attempts + other.failed_attempts,
        }
    }
}

/// One tenant's uploads to one bucket.
pub struct Uploader {
    bucket: Arc<Bucket>,
    stats: Arc<Mutex<UploadStats>>,
    gate: Arc<Gate>,
    stop: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

/// Keeps uploads from starting while a data subject's request rewrites
/// the staged files (an upload of a file being rewritten could send the
/// rows the request removes).
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    holds: usize,
    uploading: bool,
}

impl Uploader {
    /// Starts uploading what `tenant` completes in `staging`, beginning
    /// with what an earlier run left there.
    pub fn start(bucket: Arc<Bucket>, staging: PathBuf, tenant: &str) -> anyhow::Result<Self> {
        let stats = Arc::new(Mutex::new(UploadStats::default()));
        let gate = Arc::new(Gate::default());
        let (stop, stopped) = mpsc::channel();
        let thread = {
            let (bucket, stats, gate, name) = (
                Arc::clone(&bucket),
                Arc::clone(&stats),
                Arc::clone(&gate),
                tenant.to_owned(),
            );
            thread::Builder::new()
                .name(format!("scrim-upload-{tenant}"))
                .spawn(move || {
                    upload_until_stopped(&bucket, &staging, &name, &stats, &gate, &stopped);
                })
                .with_context(|| format!("cannot start the upload thread of tenant `{tenant}`"))?
        };
        Ok(Uploader {
            bucket,
            stats,
            gate,
            stop,
            thread,
        })
    }

    /// Holds uploads: returns once none is under way, and none starts
    /// until as many [`Self::release`] as holds.
    pub fn hold(&self) {
        let mut state = self.gate.lock();
        state.holds += 1;
        while state.uploading {
            state = self
                .gate
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    pub fn release(&self) {
        let mut state = self.gate.lock();
        state.holds = state.holds.saturating_sub(1);
        self.gate.changed.notify_all();
    }

    pub fn bucket(&self) -> &Arc<Bucket> {
        &self.bucket
    }

    pub fn stats(&self) -> UploadStats {
        read(&self.stats)
    }

    /// Makes a last pass over staging (call once the archives are closed)
    /// and stops; a hold still in place is let go (the collector is
    /// stopping: what the request did not reach waits for the next start).
    pub fn close(self) -> UploadStats {
        self.gate.lock().holds = 0;
        self.gate.changed.notify_all();
        let _ = self.stop.send(());
        let _ = self.thread.join();
        read(&self.stats)
    }
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits while uploads are held, then marks one under way.
    fn enter(&self) {
        let mut state = self.lock();
        while state.holds > 0 {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.uploading = true;
    }

    fn leave(&self) {
        self.lock().uploading = false;
        self.changed.notify_all();
    }
}

/// The counts so far; a panicked upload thread left counts that are still
/// true.
fn read(stats: &Mutex<UploadStats>) -> UploadStats {
    stats
        .lock()
        .map_or_else(|poisoned| *poisoned.into_inner(), |stats| *stats)
}

fn upload_until_stopped(
    bucket: &Bucket,
    staging: &std::path::Path,
    tenant: &str,
    stats: &Mutex<UploadStats>,
    gate: &Gate,
    stopped: &mpsc::Receiver<()>,
) {
    let mut wait = PASS_INTERVAL;
    let mut failing = false;
    loop {
        let last = match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        gate.enter();
        let (uploaded, outcome) = bucket.upload_staged(staging, tenant);
        gate.leave();
        if let Ok(mut stats) = stats.lock() {
            stats.files += uploaded.files;
            stats.bytes += uploaded.bytes;
            stats.failed_attempts += u64::from(outcome.is_err());
        }
        match outcome {
            Ok(()) => {
                if failing {
                    tracing::info!(
                        tenant,
                        "tenant `{tenant}`: {} answers again; uploading what waited",
                        bucket.url()
                    );
                }
                failing = false;
                wait = PASS_INTERVAL;
            }
            Err(error) => {
                // Said once when it starts failing, not on every retry.
                if !failing || last {
                    tracing::warn!(
                        tenant,
                        "tenant `{tenant}`: upload failed, files wait in {} and are retried: \
                         {error}",
                        staging.display()
                    );
                }
                failing = true;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
        if last {
            return;
        }
    }
}
