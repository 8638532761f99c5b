//! Syscalls, from the `raw_syscalls` raw tracepoints: arguments are read at
//! entry (user pointers are valid only then), kept per thread, and the record
//! is sent at exit with the return value and the duration.
//!
//! Every syscall on the node passes through here once both hooks are
//! attached, so the first check is one array lookup: does any tenant want this
//! syscall number at all?
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns, bpf_probe_read_kernel,
        bpf_probe_read_user, bpf_probe_read_user_buf, bpf_probe_read_user_str_bytes,
    },
    macros::{map, raw_tracepoint},
    maps::{Array, LruHashMap, PerCpuArray},
    programs::RawTracePointContext,
};
use scrim_abi::{
    FIELD_SOCKET_ADDRESSES, FIELD_SYSCALL_ARGS, FIELD_SYSCALL_STRINGS, KIND_SYSCALL, KernelCounter,
    KernelLayout, RecordKind, SOCKADDR_CAPACITY, SYSCALL_SLOTS, SYSCALL_STRING_CAPACITY,
    SYSCALL_STRING_TRUNCATED, SyscallBitmap, SyscallRecord, syscall,
};

use crate::{
    filter::admit_syscall,
    output::{count, output},
    process::header,
    settings::{is_excluded, layout},
    task::{Task, fill_process_info},
};

/// The union of every tenant's syscalls: the fast path's only lookup.
#[map]
static WANTED_SYSCALLS: Array<SyscallBitmap> = Array::with_max_entries(1, 0);

/// Records between entry and exit, per thread. LRU so that threads that never
/// return (killed mid-syscall) cannot fill it.
#[map]
static PENDING: LruHashMap<u32, SyscallRecord> = LruHashMap::with_max_entries(16_384, 0);

/// Where a record is built before it is stored: too big for the BPF stack.
#[map]
static SCRATCH: PerCpuArray<SyscallRecord> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
pub fn in_bitmap(bitmap: &SyscallBitmap, number: u32) -> bool {
    let number = number as usize;
    number < SYSCALL_SLOTS
        && bitmap
            .get(number / 64)
            .is_some_and(|word| word & (1 << (number % 64)) != 0)
}

#[inline(always)]
fn wanted(number: u32) -> bool {
    WANTED_SYSCALLS
        .get(0)
        .is_some_and(|wanted| in_bitmap(wanted, number))
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn scrim_sys_enter(ctx: RawTracePointContext) -> i32 {
    let number = ctx.arg::<u64>(1) as u32;
    if !wanted(number) {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_excluded((pid_tgid >> 32) as u32) {
        return 0;
    }
    let Some(admitted) = admit_syscall(KIND_SYSCALL, number) else {
        return 0;
    };
    let Some(record) = SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    let record = unsafe { &mut *record };
    let layout = layout();
    record.header = header(RecordKind::Syscall, admitted.slot);
    fill_process_info(&mut record.process, Task::current(), &layout, &admitted);
    record.thread_id = pid_tgid as u32;
    record.number = number;
    record.return_value = 0;
    record.enter_boot_time_ns = unsafe { bpf_ktime_get_boot_ns() };
    record.extra = 0;
    record.string_lens = [0; 3];
    record.sockaddr_len = 0;
    record.flags = 0;
    record.reserved = 0;
    let regs = ctx.arg::<*const u8>(0);
    let args = read_args(regs, &layout);
    record.args = [0; 6];
    if admitted.fields & FIELD_SYSCALL_ARGS != 0 {
        keep_integer_args(number, &args, record);
        record.process.fields |= FIELD_SYSCALL_ARGS;
    }
    if admitted.fields & FIELD_SYSCALL_STRINGS != 0 {
        read_strings(number, &args, record);
        record.process.fields |= FIELD_SYSCALL_STRINGS;
    }
    if admitted.fields & FIELD_SOCKET_ADDRESSES != 0 {
        // accept's peer address exists only at exit.
        if matches!(number, syscall::CONNECT | syscall::BIND) {
            read_sockaddr(args[1] as *const u8, args[2], record);
        }
        record.process.fields |= FIELD_SOCKET_ADDRESSES;
    }
    let tid = record.thread_id;
    #[expect(
        clippy::needless_borrows_for_generic_args,
        reason = "by value, the 968-byte record would be copied onto the 512-byte BPF stack"
    )]
    let _ = PENDING.insert(tid, &*record, 0);
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn scrim_sys_exit(ctx: RawTracePointContext) -> i32 {
    let layout = layout();
    let regs = ctx.arg::<*const u8>(0);
    let Ok(number) = (unsafe {
        bpf_probe_read_kernel(regs.add(layout.regs_syscall_number as usize) as *const u64)
    }) else {
        return 0;
    };
    if !wanted(number as u32) {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(record) = PENDING.get_ptr_mut(tid) else {
        return 0; // filtered at entry, or entered before scrim attached
    };
    let record = unsafe { &mut *record };
    record.return_value = ctx.arg::<i64>(1);
    record.header.boot_time_ns = unsafe { bpf_ktime_get_boot_ns() };
    if matches!(record.number, syscall::ACCEPT | syscall::ACCEPT4)
        && record.return_value >= 0
        && record.process.fields & FIELD_SOCKET_ADDRESSES != 0
    {
        let args = read_args(regs, &layout);
        if let Ok(len) = unsafe { bpf_probe_read_user(args[2] as *const u32) } {
            read_sockaddr(args[1] as *const u8, u64::from(len), record);
        }
    }
    output(&*record);
    let _ = PENDING.remove(tid);
    0
}

#[inline(always)]
fn read_args(regs: *const u8, layout: &KernelLayout) -> [u64; 6] {
    let mut args = [0u64; 6];
    for (arg, offset) in args.iter_mut().zip(layout.regs_args) {
        *arg =
            unsafe { bpf_probe_read_kernel(regs.add(offset as usize) as *const u64) }.unwrap_or(0);
    }
    args
}

/// Keeps the integer arguments of syscalls scrim decodes; pointers (which
/// say nothing and leak layout) and unknown syscalls' arguments stay zero.
#[inline(always)]
fn keep_integer_args(number: u32, args: &[u64; 6], record: &mut SyscallRecord) {
    let keep: [bool; 6] = match number {
        // dfd, flags, mode
        syscall::OPENAT => [true, false, true, true, false, false],
        // dfd; flags come from `open_how`
        syscall::OPENAT2 => [true, false, false, false, false, false],
        syscall::EXECVEAT => [true, false, false, false, true, false],
        // fd
        syscall::CONNECT | syscall::BIND | syscall::ACCEPT => {
            [true, false, false, false, false, false]
        }
        syscall::ACCEPT4 => [true, false, false, true, false, false],
        syscall::LISTEN => [true, true, false, false, false, false],
        syscall::UNLINKAT => [true, false, true, false, false, false],
        syscall::RENAMEAT2 => [true, false, true, false, true, false],
        syscall::SETUID | syscall::SETGID | syscall::SETFSUID | syscall::SETFSGID => {
            [true, false, false, false, false, false]
        }
        syscall::SETREUID | syscall::SETREGID => [true, true, false, false, false, false],
        syscall::SETRESUID | syscall::SETRESGID => [true, true, true, false, false, false],
        // request, pid
        syscall::PTRACE => [true, true, false, false, false, false],
        // mountflags
        syscall::MOUNT => [false, false, false, true, false, false],
        syscall::INIT_MODULE => [false, true, false, false, false, false],
        syscall::FINIT_MODULE => [true, false, true, false, false, false],
        // cmd, size
        syscall::BPF => [true, false, true, false, false, false],
        _ => [false; 6],
    };
    for ((kept, &arg), keep) in record.args.iter_mut().zip(args).zip(keep) {
        if keep {
            *kept = arg;
        }
    }
    if number == syscall::OPENAT2 {
        // struct open_how { u64 flags; u64 mode; u64 resolve; }
        record.extra = unsafe { bpf_probe_read_user(args[2] as *const u64) }.unwrap_or(0);
    }
}

/// Which argument holds each string slot's user pointer, per syscall.
#[inline(always)]
fn string_args(number: u32) -> [Option<usize>; 3] {
    match number {
        syscall::OPENAT | syscall::OPENAT2 | syscall::EXECVEAT | syscall::UNLINKAT => {
            [Some(1), None, None]
        }
        syscall::EXECVE => [Some(0), None, None],
        syscall::RENAMEAT2 => [Some(1), Some(3), None],
        // source, target, filesystem type
        syscall::MOUNT => [Some(0), Some(1), Some(2)],
        // parameters
        syscall::INIT_MODULE => [Some(2), None, None],
        syscall::FINIT_MODULE => [Some(1), None, None],
        _ => [None; 3],
    }
}

#[inline(always)]
fn read_strings(number: u32, args: &[u64; 6], record: &mut SyscallRecord) {
    // Iterators rather than indexing: a bounds check LLVM cannot elide
    // would leave a panic path the verifier rejects.
    let slots = string_args(number)
        .into_iter()
        .zip(record.strings.iter_mut())
        .zip(record.string_lens.iter_mut())
        .zip(SYSCALL_STRING_TRUNCATED);
    for (((arg, destination), len), truncated_flag) in slots {
        let Some(&pointer) = arg.and_then(|arg| args.get(arg)) else {
            continue;
        };
        if pointer == 0 {
            continue;
        }
        if let Ok(bytes) =
            unsafe { bpf_probe_read_user_str_bytes(pointer as *const u8, destination) }
        {
            *len = bytes.len() as u16;
            // A string that filled the buffer (NUL excluded) may go on.
            if bytes.len() >= SYSCALL_STRING_CAPACITY - 1 {
                record.flags |= truncated_flag;
                count(KernelCounter::StringTruncated);
            }
        }
    }
}

#[inline(always)]
fn read_sockaddr(pointer: *const u8, len: u64, record: &mut SyscallRecord) {
    if pointer.is_null() {
        return;
    }
    let len = (len as usize).min(SOCKADDR_CAPACITY);
    let Some(destination) = record.sockaddr.get_mut(..len) else {
        return;
    };
    if unsafe { bpf_probe_read_user_buf(pointer, destination) }.is_ok() {
        record.sockaddr_len = len as u16;
    }
}
