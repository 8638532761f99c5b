//! The wire layout shared by scrim's kernel programs and their userspace
//! reader: ring-buffer records, loss-counter slots and load-time settings.
//!
//! Both sides compile this crate, so a layout change is a compile-time change
//! on both. Every type is `#[repr(C)]` with explicit reserved fields instead of
//! implicit padding: with the `user` feature, `bytemuck` derives prove at
//! compile time that no padding exists, which is what lets userspace decode
//! records from raw bytes without `unsafe`.
#![no_std]

/// Bytes of `comm` (the kernel's task name), as in `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// Bytes of an executable path copied out of the kernel; longer paths are
/// truncated and flagged with [`EXEC_PATH_TRUNCATED`].
pub const EXEC_PATH_CAPACITY: usize = 256;
/// Bytes of the NUL-separated argument list copied out of the kernel; longer
/// lists are truncated and flagged with [`EXEC_ARGS_TRUNCATED`].
pub const EXEC_ARGS_CAPACITY: usize = 1024;

/// Default ring-buffer size in bytes: room for about 3,000 exec records.
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 4 << 20;

/// What a ring-buffer record holds; the first field of every record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    ProcessExec = 1,
    ProcessFork = 2,
    ProcessExit = 3,
}

impl RecordKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::ProcessExec),
            2 => Some(Self::ProcessFork),
            3 => Some(Self::ProcessExit),
            _ => None,
        }
    }
}

/// Why a record never reached userspace. Each reason is a slot in the per-CPU
/// `LOSSES` array; userspace sums the slots across CPUs.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// `bpf_ringbuf_reserve` failed: userspace is not draining fast enough.
    RingBufferFull = 0,
}

impl LossReason {
    /// Number of slots in the `LOSSES` map.
    pub const COUNT: u32 = 1;
    pub const ALL: [LossReason; Self::COUNT as usize] = [LossReason::RingBufferFull];
}

/// Names of the maps and globals in the kernel object, shared so a rename on
/// one side cannot silently break the other.
pub mod names {
    pub const EVENTS_MAP: &str = "EVENTS";
    pub const LOSSES_MAP: &str = "LOSSES";
    pub const KERNEL_LAYOUT: &str = "KERNEL_LAYOUT";
    pub const CAPTURE_SETTINGS: &str = "CAPTURE_SETTINGS";
    pub const EXEC_PROGRAM: &str = "scrim_process_exec";
    pub const EXIT_PROGRAM: &str = "scrim_process_exit";
    pub const FORK_PROGRAM: &str = "scrim_process_fork";
}

/// Byte offsets of the kernel structure and tracepoint fields the programs
/// read. Rust eBPF has no CO-RE relocations, so userspace resolves these from
/// the running kernel's BTF and tracefs formats and patches them in at load
/// time; the verifier then sees them as constants.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct KernelLayout {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_exit_code: u32,
    pub task_mm: u32,
    pub task_start_boottime: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    /// Offset of the `__data_loc` of `filename` in `sched_process_exec`.
    pub exec_filename_loc: u32,
    /// Offset of `group_dead` in `sched_process_exit`, or [`FIELD_ABSENT`] on
    /// kernels older than 6.16, where only the thread-group leader's exit is
    /// reported.
    pub exit_group_dead: u32,
}

/// Marks a [`KernelLayout`] field this kernel does not have.
pub const FIELD_ABSENT: u32 = u32::MAX;

/// What to capture, fixed at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct CaptureSettings {
    /// Thread-group id whose events are dropped in the kernel (the collector
    /// itself, so its own work does not feed back into the stream); 0 = none.
    pub excluded_tgid: u32,
    /// Bit set of `CAPTURE_*` flags.
    pub flags: u32,
}

/// Copy process arguments out of the kernel. Off unless asked for: arguments
/// are the field most likely to carry secrets.
pub const CAPTURE_COMMAND_ARGS: u32 = 1 << 0;

/// First bytes of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct RecordHeader {
    /// A [`RecordKind`] value.
    pub kind: u32,
    pub reserved: u32,
    /// `bpf_ktime_get_boot_ns()` when the hook fired.
    pub boot_time_ns: u64,
}

/// The process a record is about.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct ProcessInfo {
    /// Thread-group id: what userspace calls the process id.
    pub tgid: u32,
    /// Thread-group id of the real parent.
    pub ppid: u32,
    /// Real user id, in the initial user namespace.
    pub uid: u32,
    /// Real group id, in the initial user namespace.
    pub gid: u32,
    /// cgroup v2 id (the inode number of the cgroup's directory).
    pub cgroup_id: u64,
    /// `task_struct.start_boottime`: when the process was created.
    pub start_boot_time_ns: u64,
    /// NUL-padded task name.
    pub comm: [u8; COMM_LEN],
}

/// `execve` or `execveat` succeeded.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct ProcessExecRecord {
    pub header: RecordHeader,
    pub process: ProcessInfo,
    /// Bytes of `path` in use.
    pub path_len: u16,
    /// Bytes of `args` in use.
    pub args_len: u16,
    /// Bit set of `EXEC_*` flags.
    pub flags: u32,
    /// The executable path as given to exec, not NUL-terminated.
    pub path: [u8; EXEC_PATH_CAPACITY],
    /// Arguments, each followed by a NUL, as in `/proc/PID/cmdline`.
    pub args: [u8; EXEC_ARGS_CAPACITY],
}

/// `path` holds only the first [`EXEC_PATH_CAPACITY`] bytes.
pub const EXEC_PATH_TRUNCATED: u32 = 1 << 0;
/// `args` was filled: argument capture was on and the read succeeded.
pub const EXEC_ARGS_CAPTURED: u32 = 1 << 1;
/// `args` holds only the first [`EXEC_ARGS_CAPACITY`] bytes.
pub const EXEC_ARGS_TRUNCATED: u32 = 1 << 2;

/// A new process (not a thread) was created.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct ProcessForkRecord {
    pub header: RecordHeader,
    /// The child; its `ppid` is the parent.
    pub process: ProcessInfo,
}

/// The last thread of a process exited.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct ProcessExitRecord {
    pub header: RecordHeader,
    pub process: ProcessInfo,
    /// `task_struct.exit_code`, encoded as a `wait(2)` status.
    pub exit_code: i32,
    pub reserved: u32,
}
