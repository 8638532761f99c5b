//! Any bytes at all, as if the ring buffer delivered them: the decoder must
//! return an event or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrim_probes::{BootClock, Decoder};

fuzz_target!(|record: &[u8]| {
    let decoder = Decoder::new(BootClock::now());
    let _ = decoder.decode(record);
});
