//! The ring buffer every record goes through, and the per-CPU counters that
//! make every record that does not go through it visible.
use aya_ebpf::{
    Global,
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    macros::map,
    maps::{PerCpuArray, RingBuf, ring_buf::RingBufEntry},
};
use scrim_abi::{DEFAULT_RING_BUFFER_BYTES, KernelCounter};

/// Userspace may resize it at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BUFFER_BYTES, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(KernelCounter::COUNT, 0);

/// Unread bytes past which a submit wakes the reader. Below it, records wait
/// for the reader's next timed poll: one wakeup per record would cost more
/// than the record (an irq_work and a scheduler wakeup each).
#[unsafe(no_mangle)]
static WAKEUP_BYTES: Global<u64> = Global::new(DEFAULT_RING_BUFFER_BYTES as u64 / 8);

/// Publishes a filled record, waking the reader only when this record takes
/// the unread backlog across a multiple of `WAKEUP_BYTES`: a few wakeups as
/// the buffer fills, not one per record (the reader's timed poll covers the
/// rest).
#[inline(always)]
pub fn submit<T: 'static>(entry: RingBufEntry<T>) {
    let step = WAKEUP_BYTES.load().max(1);
    let backlog = EVENTS.query(u64::from(BPF_RB_AVAIL_DATA));
    let before = backlog.saturating_sub(size_of::<T>() as u64);
    let flags = if backlog / step > before / step {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(u64::from(flags));
}

/// Publishes a filled record and wakes the reader at once: for rare records
/// that userspace must act on quickly (a new cgroup to place in a tenant).
#[inline(always)]
pub fn submit_now<T: 'static>(entry: RingBufEntry<T>) {
    entry.submit(u64::from(BPF_RB_FORCE_WAKEUP));
}

/// Reserves room for one `T`, counting the loss if the buffer is full.
#[inline(always)]
pub fn reserve<T: 'static>() -> Option<RingBufEntry<T>> {
    let entry = EVENTS.reserve::<T>(0);
    if entry.is_none() {
        count(KernelCounter::RingBufferFull);
    }
    entry
}

#[inline(always)]
pub fn count(counter: KernelCounter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU slot: no other CPU writes it, so a plain add is safe.
        unsafe { *slot += 1 };
    }
}
