//! The one-line progress report: every event that entered is written, still
//! queued, dropped by policy, or lost, and each loss is counted by reason.
use std::{fmt, time::Duration};

use scrim_probes::{KernelCounter, KernelCounters};

use crate::outputs::OutputStats;

#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub elapsed: Duration,
    /// Records decoded from the ring buffer.
    pub received: u64,
    pub outputs: OutputStats,
    pub kernel: KernelCounters,
    pub undecodable: u64,
    /// Policy reloads refused (the running policy stayed in force).
    pub failed_reloads: u64,
}

impl Summary {
    /// Rows the archive accepted, in completed or open files.
    pub fn written(&self) -> u64 {
        self.outputs.archive.rows_committed + self.outputs.archive.rows_pending
    }

    pub fn lost(&self) -> u64 {
        self.kernel.lost()
            + self.outputs.queue_full
            + self.undecodable
            + self.outputs.archive.rows_failed
            + self.outputs.no_sink
    }
}

impl Summary {
    /// Logs the line, with every count as a field (for JSON logs).
    pub fn log(&self, last: bool) {
        let kernel = |counter| self.kernel.get(counter);
        tracing::info!(
            elapsed_seconds = self.elapsed.as_secs(),
            events_in = self.received,
            written = self.written(),
            files_complete = self.outputs.archive.files_committed,
            dropped_by_policy = self.outputs.dropped_by_policy,
            lost = self.lost(),
            lost_ring_buffer_full = kernel(KernelCounter::RingBufferFull),
            lost_queue_full = self.outputs.queue_full,
            lost_undecodable = self.undecodable,
            lost_sink_errors = self.outputs.archive.rows_failed,
            lost_no_sink = self.outputs.no_sink,
            filtered_in_kernel = self.kernel.filtered(),
            strings_truncated = kernel(KernelCounter::StringTruncated),
            failed_reloads = self.failed_reloads,
            last,
            "{self}{}",
            if last { " (final)" } else { "" }
        );
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}s: {} events in, {} written ({} files complete), {} dropped by policy, \
             {} lost (ring buffer full {}, queue full {}, undecodable {}, sink errors {}, \
             no sink {}), \
             {} filtered in kernel (opted out {}, unknown cgroup {}, kind {}, syscall {}, \
             rate limit {}), {} strings truncated, {} policy reloads failed",
            self.elapsed.as_secs(),
            self.received,
            self.written(),
            self.outputs.archive.files_committed,
            self.outputs.dropped_by_policy,
            self.lost(),
            self.kernel.get(KernelCounter::RingBufferFull),
            self.outputs.queue_full,
            self.undecodable,
            self.outputs.archive.rows_failed,
            self.outputs.no_sink,
            self.kernel.filtered(),
            self.kernel.get(KernelCounter::OptedOutCgroup),
            self.kernel.get(KernelCounter::UnknownCgroup),
            self.kernel.get(KernelCounter::FilteredKind),
            self.kernel.get(KernelCounter::FilteredSyscall),
            self.kernel.get(KernelCounter::RateLimited),
            self.kernel.get(KernelCounter::StringTruncated),
            self.failed_reloads,
        )
    }
}
