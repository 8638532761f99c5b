//! scrim's kernel programs. One module per hook family; records go to one BPF
//! ring buffer, and anything that cannot be delivered is counted in `LOSSES`.
#![no_std]
#![no_main]

mod output;
mod process;
mod settings;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this: it is never run.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
