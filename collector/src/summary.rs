//! The one-line progress report: every event that entered is exported,
//! pending (queued, or in a file not yet published), dropped by policy, or
//! lost, and each loss is counted by reason.
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
    /// Rows the archives accepted, in completed or open files.
    pub fn written(&self) -> u64 {
        self.outputs.archive.rows_committed + self.outputs.archive.rows_pending
    }

    pub fn lost(&self) -> u64 {
        self.kernel.lost() + self.outputs.queue_full + self.undecodable + self.outputs.sink_errors
    }
}

impl Summary {
    /// Logs the line, with every count as a field (for JSON logs).
    pub fn log(&self, last: bool) {
        let kernel = |counter| self.kernel.get(counter);
        let outputs = &self.outputs;
        tracing::info!(
            elapsed_seconds = self.elapsed.as_secs(),
            events_in = self.received,
            exported = outputs.exported,
            pending = outputs.pending,
            rows_written = self.written(),
            files_complete = outputs.archive.files_committed,
            spans_sent = outputs.otlp.exported,
            spans_spooled = outputs.otlp.spooled,
            dropped_by_policy = outputs.dropped_by_policy,
            lost = self.lost(),
            lost_ring_buffer_full = kernel(KernelCounter::RingBufferFull),
            lost_queue_full = outputs.queue_full,
            lost_undecodable = self.undecodable,
            lost_sink_errors = outputs.sink_errors,
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
        let outputs = &self.outputs;
        write!(
            f,
            "{}s: {} events in, {} exported ({} rows written, {} files complete, {} spans \
             sent, {} spooled), {} pending (queued or in open files), {} dropped by policy, {} lost (ring buffer full {}, queue full \
             {}, undecodable {}, sink errors {}), {} filtered in kernel (opted out {}, unknown \
             cgroup {}, kind {}, syscall {}, rate limit {}), {} strings truncated, {} policy \
             reloads failed",
            self.elapsed.as_secs(),
            self.received,
            outputs.exported,
            self.written(),
            outputs.archive.files_committed,
            outputs.otlp.exported,
            outputs.otlp.spooled,
            outputs.pending,
            outputs.dropped_by_policy,
            self.lost(),
            self.kernel.get(KernelCounter::RingBufferFull),
            outputs.queue_full,
            self.undecodable,
            outputs.sink_errors,
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
