//! Process lifecycle: exec, fork (processes only, not threads) and exit.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns, bpf_probe_read_kernel,
        bpf_probe_read_user_buf,
    },
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use scrim_abi::{
    EXEC_ARGS_CAPACITY, EXEC_ARGS_TRUNCATED, EXEC_PATH_TRUNCATED, FIELD_ABSENT, FIELD_COMMAND_ARGS,
    FIELD_EXEC_PATH, KIND_PROCESS_EXEC, KIND_PROCESS_EXIT, KIND_PROCESS_FORK, KernelCounter,
    KernelLayout, ProcessExecRecord, ProcessExitRecord, ProcessForkRecord, RecordHeader,
    RecordKind,
};

use crate::{
    filter::admit,
    output::{count, reserve, submit},
    settings::{is_excluded, layout},
    strings::read_data_loc,
    syscall::forget_thread,
    task::{Task, fill_process_info},
};

#[inline(always)]
pub fn header(kind: RecordKind, tenant_slot: u32) -> RecordHeader {
    RecordHeader {
        kind: kind as u32,
        tenant_slot,
        boot_time_ns: unsafe { bpf_ktime_get_boot_ns() },
    }
}

#[inline(always)]
fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn scrim_process_exec(ctx: TracePointContext) -> u32 {
    if is_excluded(current_tgid()) {
        return 0;
    }
    let Some(admitted) = admit(KIND_PROCESS_EXEC) else {
        return 0;
    };
    let Some(mut entry) = reserve::<ProcessExecRecord>() else {
        return 0;
    };
    // The record is filled in place: at 1.3 KiB it cannot live on the
    // 512-byte BPF stack.
    let record = unsafe { &mut *entry.as_mut_ptr() };
    let layout = layout();
    record.header = header(RecordKind::ProcessExec, admitted.slot);
    fill_process_info(&mut record.process, Task::current(), &layout, &admitted);
    record.flags = 0;
    record.path_len = 0;
    record.args_len = 0;
    if admitted.fields & FIELD_EXEC_PATH != 0 {
        let (len, truncated) = read_data_loc(&ctx, layout.exec_filename_loc, &mut record.path);
        record.path_len = len;
        record.process.fields |= FIELD_EXEC_PATH;
        if truncated {
            record.flags |= EXEC_PATH_TRUNCATED;
            count(KernelCounter::StringTruncated);
        }
    }
    if admitted.fields & FIELD_COMMAND_ARGS != 0
        && let Some((len, truncated)) = read_exec_args(&layout, &mut record.args)
    {
        record.args_len = len;
        record.process.fields |= FIELD_COMMAND_ARGS;
        if truncated {
            record.flags |= EXEC_ARGS_TRUNCATED;
            count(KernelCounter::StringTruncated);
        }
    }
    submit(entry);
    0
}

/// Copies the new image's argument block (`mm->arg_start..arg_end`, as in
/// `/proc/PID/cmdline`) into `args`: the bytes used and whether it was cut.
#[inline(always)]
fn read_exec_args(
    layout: &KernelLayout,
    args: &mut [u8; EXEC_ARGS_CAPACITY],
) -> Option<(u16, bool)> {
    let mm = Task::current().read::<*const u8>(layout.task_mm)?;
    let start =
        unsafe { bpf_probe_read_kernel(mm.add(layout.mm_arg_start as usize) as *const u64) };
    let end = unsafe { bpf_probe_read_kernel(mm.add(layout.mm_arg_end as usize) as *const u64) };
    let (Ok(start), Ok(end)) = (start, end) else {
        return None;
    };
    let mut len = end.saturating_sub(start) as usize;
    let truncated = len > EXEC_ARGS_CAPACITY;
    if truncated {
        len = EXEC_ARGS_CAPACITY;
    }
    let destination = args.get_mut(..len)?;
    unsafe { bpf_probe_read_user_buf(start as *const u8, destination) }.ok()?;
    Some((len as u16, truncated))
}

/// `sched_process_fork` as a raw tracepoint: its arguments are the parent and
/// child `task_struct`s, and only the child tells a new process from a new
/// thread.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn scrim_process_fork(ctx: RawTracePointContext) -> i32 {
    if is_excluded(current_tgid()) {
        return 0;
    }
    let layout = layout();
    let child = Task(ctx.arg::<*const u8>(1));
    let (Some(child_pid), Some(child_tgid)) = (
        child.read::<u32>(layout.task_pid),
        child.read::<u32>(layout.task_tgid),
    ) else {
        return 0;
    };
    if child_pid != child_tgid {
        return 0; // a thread
    }
    let Some(admitted) = admit(KIND_PROCESS_FORK) else {
        return 0;
    };
    let Some(mut entry) = reserve::<ProcessForkRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    record.header = header(RecordKind::ProcessFork, admitted.slot);
    fill_process_info(&mut record.process, child, &layout, &admitted);
    submit(entry);
    0
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn scrim_process_exit(ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // Every exiting thread passes here, including one that dies inside a
    // syscall (exit_group never returns): forget what it left pending.
    forget_thread(pid_tgid as u32);
    let tgid = (pid_tgid >> 32) as u32;
    if is_excluded(tgid) {
        return 0;
    }
    let layout = layout();
    let process_ended = if layout.exit_group_dead == FIELD_ABSENT {
        pid_tgid as u32 == tgid
    } else {
        unsafe { ctx.read_at::<u8>(layout.exit_group_dead as usize) }.unwrap_or(0) != 0
    };
    if !process_ended {
        return 0; // another thread of the process lives on
    }
    let Some(admitted) = admit(KIND_PROCESS_EXIT) else {
        return 0;
    };
    let Some(mut entry) = reserve::<ProcessExitRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    let task = Task::current();
    record.header = header(RecordKind::ProcessExit, admitted.slot);
    fill_process_info(&mut record.process, task, &layout, &admitted);
    // The last thread to go may not be the leader: report the process, not it.
    record.process.tgid = tgid;
    record.exit_code = task.read(layout.task_exit_code).unwrap_or(0);
    record.reserved = 0;
    submit(entry);
    0
}
