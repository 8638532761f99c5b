//! scrim's kernel programs. One module per hook family; every event passes
//! the tenant filter (`filter`) before anything is read, goes to one BPF ring
//! buffer, and whatever is not delivered is counted (`output`).
#![no_std]
#![no_main]

mod cgroup;
mod filter;
mod network;
mod output;
mod process;
mod settings;
mod strings;
mod syscall;
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
