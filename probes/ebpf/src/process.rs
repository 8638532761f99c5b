//! Process lifecycle: exec, fork (processes only, not threads) and exit.
use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns, bpf_probe_read_kernel,
        bpf_probe_read_kernel_buf, bpf_probe_read_user_buf,
    },
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use scrim_abi::{
    EXEC_ARGS_CAPACITY, EXEC_ARGS_CAPTURED, EXEC_ARGS_TRUNCATED, EXEC_PATH_CAPACITY,
    EXEC_PATH_TRUNCATED, FIELD_ABSENT, KernelLayout, ProcessExecRecord, ProcessExitRecord,
    ProcessForkRecord, RecordHeader, RecordKind,
};

use crate::{
    output::reserve,
    settings::{capture_command_args, is_excluded, layout},
    task::{Task, fill_process_info},
};

#[inline(always)]
fn header(kind: RecordKind) -> RecordHeader {
    RecordHeader {
        kind: kind as u32,
        reserved: 0,
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
    let Some(mut entry) = reserve::<ProcessExecRecord>() else {
        return 0;
    };
    // The record is filled in place: at 1.3 KiB it cannot live on the
    // 512-byte BPF stack.
    let record = unsafe { &mut *entry.as_mut_ptr() };
    let layout = layout();
    record.header = header(RecordKind::ProcessExec);
    fill_process_info(&mut record.process, Task::current(), &layout);
    record.flags = 0;
    record.path_len = read_exec_path(&ctx, &layout, &mut record.path, &mut record.flags);
    record.args_len = if capture_command_args() {
        read_exec_args(&layout, &mut record.args, &mut record.flags)
    } else {
        0
    };
    entry.submit(0);
    0
}

/// Copies the tracepoint's `filename` into `path`, returning the bytes used.
#[inline(always)]
fn read_exec_path(
    ctx: &TracePointContext,
    layout: &KernelLayout,
    path: &mut [u8; EXEC_PATH_CAPACITY],
    flags: &mut u32,
) -> u16 {
    // A `__data_loc` field: the low 16 bits are the string's offset in the
    // record, the high 16 bits its length including the NUL.
    let Ok(location) = (unsafe { ctx.read_at::<u32>(layout.exec_filename_loc as usize) }) else {
        return 0;
    };
    let offset = (location & 0xffff) as usize;
    let mut len = ((location >> 16) as usize).saturating_sub(1);
    if len > EXEC_PATH_CAPACITY {
        len = EXEC_PATH_CAPACITY;
        *flags |= EXEC_PATH_TRUNCATED;
    }
    let source = unsafe { (ctx.as_ptr() as *const u8).add(offset) };
    let Some(destination) = path.get_mut(..len) else {
        return 0;
    };
    match unsafe { bpf_probe_read_kernel_buf(source, destination) } {
        Ok(()) => len as u16,
        Err(_) => 0,
    }
}

/// Copies the new image's argument block (`mm->arg_start..arg_end`, as in
/// `/proc/PID/cmdline`) into `args`, returning the bytes used.
#[inline(always)]
fn read_exec_args(
    layout: &KernelLayout,
    args: &mut [u8; EXEC_ARGS_CAPACITY],
    flags: &mut u32,
) -> u16 {
    let Some(mm) = Task::current().read::<*const u8>(layout.task_mm) else {
        return 0;
    };
    let start =
        unsafe { bpf_probe_read_kernel(mm.add(layout.mm_arg_start as usize) as *const u64) };
    let end = unsafe { bpf_probe_read_kernel(mm.add(layout.mm_arg_end as usize) as *const u64) };
    let (Ok(start), Ok(end)) = (start, end) else {
        return 0;
    };
    let mut len = end.saturating_sub(start) as usize;
    let mut truncated = false;
    if len > EXEC_ARGS_CAPACITY {
        len = EXEC_ARGS_CAPACITY;
        truncated = true;
    }
    let Some(destination) = args.get_mut(..len) else {
        return 0;
    };
    if unsafe { bpf_probe_read_user_buf(start as *const u8, destination) }.is_err() {
        return 0;
    }
    *flags |= EXEC_ARGS_CAPTURED;
    if truncated {
        *flags |= EXEC_ARGS_TRUNCATED;
    }
    len as u16
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
    let Some(mut entry) = reserve::<ProcessForkRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    record.header = header(RecordKind::ProcessFork);
    fill_process_info(&mut record.process, child, &layout);
    entry.submit(0);
    0
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn scrim_process_exit(ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
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
    let Some(mut entry) = reserve::<ProcessExitRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    let task = Task::current();
    record.header = header(RecordKind::ProcessExit);
    fill_process_info(&mut record.process, task, &layout);
    // The last thread to go may not be the leader: report the process, not it.
    record.process.tgid = tgid;
    record.exit_code = task.read(layout.task_exit_code).unwrap_or(0);
    record.reserved = 0;
    entry.submit(0);
    0
}
