//! The one-line progress report: every event that entered is written, still
//! queued, or lost, and each loss is counted by reason.
use std::{fmt, time::Duration};

use scrim_probes::{KernelCounter, KernelCounters};
use scrim_sinks::ArchiveStats;

#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub elapsed: Duration,
    /// Records decoded from the ring buffer.
    pub received: u64,
    pub archive: ArchiveStats,
    pub kernel: KernelCounters,
    pub undecodable: u64,
}

impl Summary {
    /// Rows the archive accepted, in completed or open files.
    pub fn written(&self) -> u64 {
        self.archive.rows_committed + self.archive.rows_pending
    }

    pub fn lost(&self) -> u64 {
        self.kernel.lost() + self.undecodable + self.archive.rows_failed
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scrim: {}s: {} events in, {} written ({} files complete), {} lost \
             (ring buffer full {}, undecodable {}, sink errors {}), {} filtered in kernel \
             (opted out {}, unknown cgroup {}, kind {}, syscall {}, rate limit {}), \
             {} strings truncated",
            self.elapsed.as_secs(),
            self.received,
            self.written(),
            self.archive.files_committed,
            self.lost(),
            self.kernel.get(KernelCounter::RingBufferFull),
            self.undecodable,
            self.archive.rows_failed,
            self.kernel.filtered(),
            self.kernel.get(KernelCounter::OptedOutCgroup),
            self.kernel.get(KernelCounter::UnknownCgroup),
            self.kernel.get(KernelCounter::FilteredKind),
            self.kernel.get(KernelCounter::FilteredSyscall),
            self.kernel.get(KernelCounter::RateLimited),
            self.kernel.get(KernelCounter::StringTruncated),
        )
    }
}
