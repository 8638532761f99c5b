//! Reads of `task_struct` fields at the offsets userspace resolved from BTF.
use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_kernel,
};
use scrim_abi::{COMM_LEN, FIELD_COMM, KernelLayout, ProcessInfo};

use crate::filter::Admitted;

/// An opaque `struct task_struct *`.
#[derive(Clone, Copy)]
pub struct Task(pub *const u8);

impl Task {
    #[inline(always)]
    pub fn current() -> Self {
        Task(unsafe { aya_ebpf::helpers::bpf_get_current_task() } as *const u8)
    }

    #[inline(always)]
    fn is_current(self) -> bool {
        self.0 == Self::current().0
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
/// shares its credentials, cgroup and name (a child being forked). `comm` is
/// read only if the tenant wants it.
#[inline(always)]
pub fn fill_process_info(
    info: &mut ProcessInfo,
    task: Task,
    layout: &KernelLayout,
    admitted: &Admitted,
) {
    let current_tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    info.tgid = if task.is_current() {
        current_tgid
    } else {
        task.read(layout.task_tgid).unwrap_or(current_tgid)
    };
    info.ppid = task.real_parent_tgid(layout);
    let uid_gid = bpf_get_current_uid_gid();
    info.uid = uid_gid as u32;
    info.gid = (uid_gid >> 32) as u32;
    info.reserved = 0;
    info.cgroup_id = admitted.cgroup_id;
    // The process's start, not this thread's: the leader's.
    info.start_boot_time_ns = task
        .read::<*const u8>(layout.task_group_leader)
        .and_then(|leader| Task(leader).read(layout.task_start_boottime))
        .unwrap_or(0);
    info.fields = 0;
    info.comm = [0; COMM_LEN];
    if admitted.fields & FIELD_COMM != 0
        && let Ok(comm) = bpf_get_current_comm()
    {
        info.comm = comm;
        info.fields |= FIELD_COMM;
    }
}
