//! Values userspace patches into the object before loading it.
use aya_ebpf::Global;
use scrim_abi::{CAPTURE_COMMAND_ARGS, CaptureSettings, KernelLayout};

#[unsafe(no_mangle)]
static KERNEL_LAYOUT: Global<KernelLayout> = Global::new(KernelLayout {
    task_pid: 0,
    task_tgid: 0,
    task_real_parent: 0,
    task_exit_code: 0,
    task_mm: 0,
    task_start_boottime: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    exec_filename_loc: 0,
    exit_group_dead: 0,
});

#[unsafe(no_mangle)]
static CAPTURE_SETTINGS: Global<CaptureSettings> = Global::new(CaptureSettings {
    excluded_tgid: 0,
    flags: 0,
});

#[inline(always)]
pub fn layout() -> KernelLayout {
    KERNEL_LAYOUT.load()
}

/// True for the collector's own thread group, whose events are dropped here.
#[inline(always)]
pub fn is_excluded(tgid: u32) -> bool {
    let excluded = CAPTURE_SETTINGS.load().excluded_tgid;
    excluded != 0 && excluded == tgid
}

#[inline(always)]
pub fn capture_command_args() -> bool {
    CAPTURE_SETTINGS.load().flags & CAPTURE_COMMAND_ARGS != 0
}
