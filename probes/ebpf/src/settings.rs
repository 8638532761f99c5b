//! Values userspace patches into the object before loading it: they never
//! change while the programs run, so the verifier treats them as constants.
use aya_ebpf::Global;
use scrim_abi::KernelLayout;

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
    cgroup_mkdir_root: 0,
    cgroup_mkdir_id: 0,
    cgroup_mkdir_path_loc: 0,
    regs_args: [0; 6],
    regs_syscall_number: 0,
    tcp_bytes_sent: 0,
    tcp_bytes_received: 0,
    task_group_leader: 0,
    sock_state: [0; 11],
});

/// The collector's thread group, whose events are dropped so its own work
/// does not feed back into the stream; 0 = none.
#[unsafe(no_mangle)]
static EXCLUDED_TGID: Global<u32> = Global::new(0);

#[inline(always)]
pub fn layout() -> KernelLayout {
    KERNEL_LAYOUT.load()
}

#[inline(always)]
pub fn is_excluded(tgid: u32) -> bool {
    let excluded = EXCLUDED_TGID.load();
    excluded != 0 && excluded == tgid
}
