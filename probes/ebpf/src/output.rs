//! The ring buffer every record goes through, and the per-CPU loss counters
//! that make a full buffer visible instead of silent.
use aya_ebpf::{
    macros::map,
    maps::{PerCpuArray, RingBuf, ring_buf::RingBufEntry},
};
use scrim_abi::{DEFAULT_RING_BUFFER_BYTES, LossReason};

/// Userspace may resize it at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BUFFER_BYTES, 0);

#[map]
static LOSSES: PerCpuArray<u64> = PerCpuArray::with_max_entries(LossReason::COUNT, 0);

/// Reserves room for one `T`, counting the loss if the buffer is full.
#[inline(always)]
pub fn reserve<T: 'static>() -> Option<RingBufEntry<T>> {
    let entry = EVENTS.reserve::<T>(0);
    if entry.is_none() {
        count_loss(LossReason::RingBufferFull);
    }
    entry
}

#[inline(always)]
fn count_loss(reason: LossReason) {
    if let Some(counter) = LOSSES.get_ptr_mut(reason as u32) {
        // Per-CPU slot: no other CPU writes it, so a plain add is safe.
        unsafe { *counter += 1 };
    }
}
