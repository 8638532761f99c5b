//! The ring buffer every record goes through, and the per-CPU counters that
//! make every record that does not go through it visible.
use aya_ebpf::{
    macros::map,
    maps::{PerCpuArray, RingBuf, ring_buf::RingBufEntry},
};
use scrim_abi::{DEFAULT_RING_BUFFER_BYTES, KernelCounter};

/// Userspace may resize it at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BUFFER_BYTES, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(KernelCounter::COUNT, 0);

/// Reserves room for one `T`, counting the loss if the buffer is full.
#[inline(always)]
pub fn reserve<T: 'static>() -> Option<RingBufEntry<T>> {
    let entry = EVENTS.reserve::<T>(0);
    if entry.is_none() {
        count(KernelCounter::RingBufferFull);
    }
    entry
}

/// Copies a finished record (built elsewhere, for example in a map) into the
/// ring buffer, counting the loss if it is full.
#[inline(always)]
pub fn output<T: 'static>(record: &T) {
    if EVENTS.output::<T>(record, 0).is_err() {
        count(KernelCounter::RingBufferFull);
    }
}

#[inline(always)]
pub fn count(counter: KernelCounter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU slot: no other CPU writes it, so a plain add is safe.
        unsafe { *slot += 1 };
    }
}
