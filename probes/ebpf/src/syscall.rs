//! Syscalls, from the `raw_syscalls` raw tracepoints: the filter decides at
//! entry, which keeps the registers per thread; the record is written at exit
//! with the return value and the duration, straight into the ring buffer.
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
    maps::{Array, HashMap},
    programs::RawTracePointContext,
};
use scrim_abi::{
    FIELD_SOCKET_ADDRESSES, FIELD_SYSCALL_ARGS, FIELD_SYSCALL_STRINGS, KIND_SYSCALL, KernelCounter,
    KernelLayout, RecordKind, SOCKADDR_CAPACITY, SYSCALL_SLOTS, SYSCALL_STRING_CAPACITY,
    SYSCALL_STRING_TRUNCATED, SyscallBitmap, SyscallRecord, syscall,
};

use crate::{
    filter::{Admitted, admit_syscall},
    output::{count, reserve, submit},
    process::header,
    settings::{is_excluded, layout},
    task::{Task, fill_process_info},
};

/// The union of every tenant's syscalls: the fast path's only lookup.
#[map]
static WANTED_SYSCALLS: Array<SyscallBitmap> = Array::with_max_entries(1, 0);

/// What sys_enter learned, per thread, until sys_exit builds the record.
/// Small on purpose: the record itself is written straight into the ring
/// buffer at exit, never copied through a map.
#[derive(Clone, Copy)]
#[repr(C)]
struct Pending {
    enter_boot_time_ns: u64,
    cgroup_id: u64,
    args: [u64; 6],
    /// `open_how.flags` for openat2, read at entry.
    extra: u64,
    number: u32,
    slot: u32,
    fields: u32,
    reserved: u32,
}

/// One entry per thread that made a captured syscall, reused for each of its
/// syscalls. A plain hash map (an LRU costs about twice as much): an exiting
/// thread's entry is removed by [`forget_thread`] from the process-exit hook,
/// which every exiting thread passes.
#[map]
static PENDING: HashMap<u32, Pending> = HashMap::with_max_entries(PENDING_CAPACITY, 0);

/// Threads that can hold an entry at once.
const PENDING_CAPACITY: u32 = 65_536;
/// `Pending::number` of an entry whose syscall has returned.
const CONSUMED: u32 = u32::MAX;

/// Drops the pending entry of an exiting thread, if it had one.
#[inline(always)]
pub fn forget_thread(tid: u32) {
    let _ = PENDING.remove(tid);
}

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
    let args = read_args(ctx.arg::<*const u8>(0), &layout());
    let extra = if number == syscall::OPENAT2 && admitted.fields & FIELD_SYSCALL_ARGS != 0 {
        // struct open_how { u64 flags; u64 mode; u64 resolve; }
        unsafe { bpf_probe_read_user(args[2] as *const u64) }.unwrap_or(0)
    } else {
        0
    };
    let pending = Pending {
        enter_boot_time_ns: unsafe { bpf_ktime_get_boot_ns() },
        cgroup_id: admitted.cgroup_id,
        args,
        extra,
        number,
        slot: admitted.slot,
        fields: admitted.fields,
        reserved: 0,
    };
    let tid = pid_tgid as u32;
    // A thread's entry is rewritten in place after its first syscall: a
    // lookup costs far less than an insert.
    match PENDING.get_ptr_mut(tid) {
        Some(slot) => unsafe { *slot = pending },
        None => {
            let _ = PENDING.insert(tid, pending, 0);
        }
    }
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
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(slot) = PENDING.get_ptr_mut(tid) else {
        return 0; // never captured a syscall
    };
    let pending = unsafe { *slot };
    if pending.number != number as u32 {
        return 0; // filtered at entry, or entered before scrim attached
    }
    // Consumed; the entry stays for the thread's next syscall.
    unsafe { (*slot).number = CONSUMED };
    let Some(mut entry) = reserve::<SyscallRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    let admitted = Admitted {
        slot: pending.slot,
        cgroup_id: pending.cgroup_id,
        fields: pending.fields,
    };
    record.header = header(RecordKind::Syscall, pending.slot);
    fill_process_info(&mut record.process, Task::current(), &layout, &admitted);
    record.thread_id = tid;
    record.number = pending.number;
    record.return_value = ctx.arg::<i64>(1);
    record.enter_boot_time_ns = pending.enter_boot_time_ns;
    record.args = [0; 6];
    record.extra = pending.extra;
    record.string_lens = [0; 3];
    record.sockaddr_len = 0;
    record.flags = 0;
    record.reserved = 0;
    let args = &pending.args;
    if pending.fields & FIELD_SYSCALL_ARGS != 0 {
        keep_integer_args(pending.number, args, record);
        record.process.fields |= FIELD_SYSCALL_ARGS;
    }
    // Strings and addresses are read now, from the caller's memory: it is
    // still there at return, except after a successful exec, whose path the
    // process exec event carries.
    let exec_succeeded =
        matches!(pending.number, syscall::EXECVE | syscall::EXECVEAT) && record.return_value == 0;
    if pending.fields & FIELD_SYSCALL_STRINGS != 0 && !exec_succeeded {
        read_strings(pending.number, args, record);
        record.process.fields |= FIELD_SYSCALL_STRINGS;
    }
    if pending.fields & FIELD_SOCKET_ADDRESSES != 0 {
        read_socket_address(pending.number, args, record);
        record.process.fields |= FIELD_SOCKET_ADDRESSES;
    }
    submit(entry);
    0
}

/// connect's and bind's address argument; accept's peer, which the kernel
/// wrote into the caller's buffer on success.
#[inline(always)]
fn read_socket_address(number: u32, args: &[u64; 6], record: &mut SyscallRecord) {
    match number {
        syscall::CONNECT | syscall::BIND => {
            read_sockaddr(args[1] as *const u8, args[2], record);
        }
        syscall::ACCEPT | syscall::ACCEPT4 if record.return_value >= 0 => {
            if let Ok(len) = unsafe { bpf_probe_read_user(args[2] as *const u32) } {
                read_sockaddr(args[1] as *const u8, u64::from(len), record);
            }
        }
        _ => {}
    }
}

/// Bytes of `struct pt_regs` on x86_64 (21 registers): read in one go, it
/// costs one helper call instead of one per argument.
const PT_REGS_WORDS: usize = 21;

#[inline(always)]
fn read_args(regs: *const u8, layout: &KernelLayout) -> [u64; 6] {
    let mut args = [0u64; 6];
    let Ok(words) = (unsafe { bpf_probe_read_kernel(regs as *const [u64; PT_REGS_WORDS]) }) else {
        return args;
    };
    for (arg, offset) in args.iter_mut().zip(layout.regs_args) {
        *arg = words.get(offset as usize / 8).copied().unwrap_or(0);
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
