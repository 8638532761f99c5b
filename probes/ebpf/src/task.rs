//! Reads of `task_struct` fields at the offsets userspace resolved from BTF.
use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_probe_read_kernel,
};
use scrim_abi::{KernelLayout, ProcessInfo};

/// An opaque `struct task_struct *`.
#[derive(Clone, Copy)]
pub struct Task(pub *const u8);

impl Task {
    #[inline(always)]
    pub fn current() -> Self {
        Task(unsafe { aya_ebpf::helpers::bpf_get_current_task() } as *const u8)
    }

    #[inline(always)]
    pub fn read<T>(self, offset: u32) -> Option<T> {
        unsafe { bpf_probe_read_kernel(self.0.add(offset as usize) as *const T) }.ok()
    }

    #[inline(always)]
    pub fn real_parent_tgid(self, layout: &KernelLayout) -> u32 {
        self.read::<*const u8>(layout.task_real_parent)
            .and_then(|parent| Task(parent).read::<u32>(layout.task_tgid))
            .unwrap_or(0)
    }
}

/// Fills `info` for `task`, which must be the current task or a task that
/// shares its credentials, cgroup and name (a child being forked).
#[inline(always)]
pub fn fill_process_info(info: &mut ProcessInfo, task: Task, layout: &KernelLayout) {
    let current = bpf_get_current_pid_tgid();
    info.tgid = task
        .read(layout.task_tgid)
        .unwrap_or((current >> 32) as u32);
    info.ppid = task.real_parent_tgid(layout);
    let uid_gid = bpf_get_current_uid_gid();
    info.uid = uid_gid as u32;
    info.gid = (uid_gid >> 32) as u32;
    info.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    info.start_boot_time_ns = task.read(layout.task_start_boottime).unwrap_or(0);
    info.comm = bpf_get_current_comm().unwrap_or([0; scrim_abi::COMM_LEN]);
}
