//! Bounded string copies into records.
use aya_ebpf::{EbpfContext, helpers::bpf_probe_read_kernel_buf, programs::TracePointContext};

/// Copies a tracepoint's `__data_loc` string at `location_offset` into
/// `destination`; returns the bytes used and whether the string was cut.
#[inline(always)]
pub fn read_data_loc<const N: usize>(
    ctx: &TracePointContext,
    location_offset: u32,
    destination: &mut [u8; N],
) -> (u16, bool) {
    // The low 16 bits are the string's offset in the record, the high 16 bits
    // its length including the NUL.
    let Ok(location) = (unsafe { ctx.read_at::<u32>(location_offset as usize) }) else {
        return (0, false);
    };
    let offset = (location & 0xffff) as usize;
    let mut len = ((location >> 16) as usize).saturating_sub(1);
    let truncated = len > N;
    if truncated {
        len = N;
    }
    let source = unsafe { (ctx.as_ptr() as *const u8).add(offset) };
    let Some(destination) = destination.get_mut(..len) else {
        return (0, false);
    };
    match unsafe { bpf_probe_read_kernel_buf(source, destination) } {
        Ok(()) => (len as u16, truncated),
        Err(_) => (0, false),
    }
}
