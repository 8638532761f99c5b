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
    /// Not an event: a cgroup was created, so userspace can place it in a
    /// tenant before its first events.
    CgroupCreated = 4,
    Syscall = 5,
    Network = 6,
    /// Not an event: a cgroup was removed (its tenant entry is already gone
    /// from the kernel's map).
    CgroupRemoved = 7,
}

impl RecordKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::ProcessExec),
            2 => Some(Self::ProcessFork),
            3 => Some(Self::ProcessExit),
            4 => Some(Self::CgroupCreated),
            5 => Some(Self::Syscall),
            6 => Some(Self::Network),
            7 => Some(Self::CgroupRemoved),
            _ => None,
        }
    }
}

/// What the kernel programs count, per CPU: each is a slot in the `COUNTERS`
/// array, and userspace sums the slots across CPUs. All but
/// [`KernelCounter::StringTruncated`] count records that never reached
/// userspace; only [`KernelCounter::RingBufferFull`] is an unintended loss.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelCounter {
    /// `bpf_ringbuf_reserve` failed: userspace is not draining fast enough.
    RingBufferFull = 0,
    /// The cgroup is opted out of capture entirely.
    OptedOutCgroup = 1,
    /// The cgroup has no tenant and unknown cgroups are dropped.
    UnknownCgroup = 2,
    /// The tenant does not capture this kind of event.
    FilteredKind = 3,
    /// The tenant's rate limit was exhausted.
    RateLimited = 4,
    /// A captured string was cut at its capacity (the record was delivered).
    StringTruncated = 5,
    /// The tenant does not capture this syscall.
    FilteredSyscall = 6,
}

impl KernelCounter {
    /// Number of slots in the `COUNTERS` map.
    pub const COUNT: u32 = 7;
    pub const ALL: [KernelCounter; Self::COUNT as usize] = [
        KernelCounter::RingBufferFull,
        KernelCounter::OptedOutCgroup,
        KernelCounter::UnknownCgroup,
        KernelCounter::FilteredKind,
        KernelCounter::RateLimited,
        KernelCounter::StringTruncated,
        KernelCounter::FilteredSyscall,
    ];
}

/// Tenant slots the kernel knows; slot 0 is the default tenant.
pub const TENANT_SLOTS: u32 = 256;
pub const DEFAULT_TENANT_SLOT: u32 = 0;
/// `CGROUP_TENANTS` value of a cgroup whose events are dropped in the kernel.
pub const SLOT_OPTED_OUT: u32 = u32::MAX;
/// Cgroups the kernel can map to tenants at once.
pub const MAX_CGROUPS: u32 = 65_536;

/// Event kinds a tenant can switch on (`TenantFilter::kinds`).
pub const KIND_PROCESS_FORK: u32 = 1 << 0;
pub const KIND_PROCESS_EXEC: u32 = 1 << 1;
pub const KIND_PROCESS_EXIT: u32 = 1 << 2;
pub const KIND_SYSCALL: u32 = 1 << 3;
pub const KIND_NETWORK: u32 = 1 << 4;

/// Fields a tenant can have copied out of the kernel (`TenantFilter::fields`).
/// A field whose bit is clear is neither read nor copied.
pub const FIELD_COMM: u32 = 1 << 0;
pub const FIELD_EXEC_PATH: u32 = 1 << 1;
pub const FIELD_COMMAND_ARGS: u32 = 1 << 2;
/// Integer syscall arguments (descriptors, flags, modes, ids, requests).
pub const FIELD_SYSCALL_ARGS: u32 = 1 << 3;
/// String syscall arguments (paths, mount sources, module parameters).
pub const FIELD_SYSCALL_STRINGS: u32 = 1 << 4;
/// Socket addresses given to or returned by syscalls.
pub const FIELD_SOCKET_ADDRESSES: u32 = 1 << 5;

/// Syscall numbers fit in this many bits of a tenant's syscall bit map.
pub const SYSCALL_SLOTS: usize = 512;
/// A set of syscall numbers: bit `n % 64` of word `n / 64`.
pub type SyscallBitmap = [u64; SYSCALL_SLOTS / 64];

/// What one tenant captures: the value type of `TENANT_FILTERS`, indexed by
/// tenant slot. Userspace rewrites entries at run time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct TenantFilter {
    /// Bit set of `KIND_*`.
    pub kinds: u32,
    /// Bit set of `FIELD_*`.
    pub fields: u32,
    /// Records per second the tenant may emit; 0 = unlimited.
    pub rate_per_second: u32,
    /// Records the tenant may emit in a burst above the rate.
    pub burst: u32,
    /// Syscalls the tenant captures (with [`KIND_SYSCALL`]).
    pub syscalls: SyscallBitmap,
}

/// Token-bucket state of one tenant: the value type of `RATE_BUCKETS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct RateBucket {
    pub tokens: u64,
    pub refilled_at_ns: u64,
}

/// What happens to events of cgroups no tenant claims (`FilterSettings`).
pub const UNKNOWN_CGROUPS_CAPTURE_AS_DEFAULT: u32 = 0;
pub const UNKNOWN_CGROUPS_DROP: u32 = 1;

/// Node-wide filter settings: the single entry of `FILTER_SETTINGS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct FilterSettings {
    /// `UNKNOWN_CGROUPS_*`.
    pub unknown_cgroups: u32,
    /// How many entries of `UID_RULES` are in force.
    pub uid_rules: u32,
}

/// Uid rules the kernel checks per event: a policy's uid opt-outs and
/// `uid_range` selectors together. Kept small because every event of a
/// node with uid rules walks them.
pub const MAX_UID_RULES: u32 = 16;

/// One entry of `UID_RULES`: processes whose real uid is in
/// `first..=last` go to `slot`, or are dropped when it is
/// [`SLOT_OPTED_OUT`]. The first entry that contains a uid decides; an
/// opt-out applies whatever the cgroup, a tenant slot only to cgroups no
/// tenant claimed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct UidRule {
    pub first: u32,
    pub last: u32,
    pub slot: u32,
    pub reserved: u32,
}

/// Names of the maps and globals in the kernel object, shared so a rename on
/// one side cannot silently break the other.
pub mod names {
    pub const EVENTS_MAP: &str = "EVENTS";
    pub const COUNTERS_MAP: &str = "COUNTERS";
    pub const CGROUP_TENANTS_MAP: &str = "CGROUP_TENANTS";
    pub const TENANT_FILTERS_MAP: &str = "TENANT_FILTERS";
    pub const RATE_BUCKETS_MAP: &str = "RATE_BUCKETS";
    pub const RATE_LIMITED_MAP: &str = "RATE_LIMITED";
    pub const FILTER_SETTINGS_MAP: &str = "FILTER_SETTINGS";
    pub const UID_RULES_MAP: &str = "UID_RULES";
    pub const WANTED_SYSCALLS_MAP: &str = "WANTED_SYSCALLS";
    pub const KERNEL_LAYOUT: &str = "KERNEL_LAYOUT";
    pub const EXCLUDED_TGID: &str = "EXCLUDED_TGID";
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
    pub const EXEC_PROGRAM: &str = "scrim_process_exec";
    pub const EXIT_PROGRAM: &str = "scrim_process_exit";
    pub const FORK_PROGRAM: &str = "scrim_process_fork";
    pub const CGROUP_MKDIR_PROGRAM: &str = "scrim_cgroup_mkdir";
    pub const CGROUP_RMDIR_PROGRAM: &str = "scrim_cgroup_rmdir";
    pub const SYS_ENTER_PROGRAM: &str = "scrim_sys_enter";
    pub const SYS_EXIT_PROGRAM: &str = "scrim_sys_exit";
    pub const SOCK_STATE_PROGRAM: &str = "scrim_inet_sock_set_state";
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
    /// Offsets of `root` (the hierarchy id; 0 is cgroup v2), `id` and the
    /// `__data_loc` of `path` in `cgroup_mkdir`.
    pub cgroup_mkdir_root: u32,
    pub cgroup_mkdir_id: u32,
    pub cgroup_mkdir_path_loc: u32,
    /// Offsets in `struct pt_regs` of the six syscall argument registers, in
    /// argument order, and of the syscall number at exit (`orig_ax`).
    pub regs_args: [u32; 6],
    pub regs_syscall_number: u32,
    /// Offsets of `tcp_sock.bytes_sent` (data octets, retransmissions included) and `tcp_sock.bytes_received`.
    pub tcp_bytes_sent: u32,
    pub tcp_bytes_received: u32,
    /// Offset of `task_struct.group_leader`: the process's start time is the
    /// leader's, not the current thread's.
    pub task_group_leader: u32,
    /// Offsets of the `sock:inet_sock_set_state` fields, in this order:
    /// skaddr, oldstate, newstate, sport, dport, family, protocol, saddr,
    /// daddr, saddr_v6, daddr_v6.
    pub sock_state: [u32; 11],
}

/// Indexes into [`KernelLayout::sock_state`].
pub mod sock_state_field {
    pub const SKADDR: usize = 0;
    pub const OLDSTATE: usize = 1;
    pub const NEWSTATE: usize = 2;
    pub const SPORT: usize = 3;
    pub const DPORT: usize = 4;
    pub const FAMILY: usize = 5;
    pub const PROTOCOL: usize = 6;
    pub const SADDR: usize = 7;
    pub const DADDR: usize = 8;
    pub const SADDR_V6: usize = 9;
    pub const DADDR_V6: usize = 10;
    /// The tracepoint's field names, in index order.
    pub const NAMES: [&str; 11] = [
        "skaddr", "oldstate", "newstate", "sport", "dport", "family", "protocol", "saddr", "daddr",
        "saddr_v6", "daddr_v6",
    ];
}

/// Marks a [`KernelLayout`] field this kernel does not have.
pub const FIELD_ABSENT: u32 = u32::MAX;

/// First bytes of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct RecordHeader {
    /// A [`RecordKind`] value.
    pub kind: u32,
    /// The tenant slot the kernel filtered the record for.
    pub tenant_slot: u32,
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
    /// Bit set of the `FIELD_*` this record carries (`comm` and, for exec,
    /// the path and arguments); the others were masked in the kernel.
    pub fields: u32,
    pub reserved: u32,
    /// cgroup v2 id (the inode number of the cgroup's directory).
    pub cgroup_id: u64,
    /// `task_struct.start_boottime`: when the process was created.
    pub start_boot_time_ns: u64,
    /// NUL-padded task name; zeros unless `fields` has [`FIELD_COMM`].
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

/// Bytes of a cgroup path copied out of the kernel.
pub const CGROUP_PATH_CAPACITY: usize = 256;

/// A cgroup was created (`cgroup:cgroup_mkdir` on the v2 hierarchy).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct CgroupCreatedRecord {
    pub header: RecordHeader,
    pub cgroup_id: u64,
    pub path_len: u16,
    pub reserved: [u16; 3],
    /// Path relative to the cgroup v2 root, starting with `/`.
    pub path: [u8; CGROUP_PATH_CAPACITY],
}

/// A cgroup was removed (`cgroup:cgroup_rmdir` on the v2 hierarchy).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct CgroupRemovedRecord {
    pub header: RecordHeader,
    pub cgroup_id: u64,
}

// SAFETY: each is `#[repr(C)]`, made only of integers, with no padding (the
// bytemuck derives above check that at compile time).
#[cfg(feature = "user")]
mod user {
    unsafe impl aya::Pod for super::KernelLayout {}
    unsafe impl aya::Pod for super::TenantFilter {}
    unsafe impl aya::Pod for super::RateBucket {}
    unsafe impl aya::Pod for super::FilterSettings {}
    unsafe impl aya::Pod for super::UidRule {}
}

/// Syscall numbers whose arguments the kernel programs decode. The numbering
/// is the x86_64 one, the only architecture scrim supports so far; other
/// syscalls get the generic record (number, return value, duration).
pub mod syscall {
    pub const OPENAT: u32 = 257;
    pub const OPENAT2: u32 = 437;
    pub const EXECVE: u32 = 59;
    pub const EXECVEAT: u32 = 322;
    pub const CONNECT: u32 = 42;
    pub const ACCEPT: u32 = 43;
    pub const ACCEPT4: u32 = 288;
    pub const BIND: u32 = 49;
    pub const LISTEN: u32 = 50;
    pub const UNLINKAT: u32 = 263;
    pub const RENAMEAT2: u32 = 316;
    pub const SETUID: u32 = 105;
    pub const SETGID: u32 = 106;
    pub const SETREUID: u32 = 113;
    pub const SETREGID: u32 = 114;
    pub const SETRESUID: u32 = 117;
    pub const SETRESGID: u32 = 119;
    pub const SETFSUID: u32 = 122;
    pub const SETFSGID: u32 = 123;
    pub const PTRACE: u32 = 101;
    pub const MOUNT: u32 = 165;
    pub const INIT_MODULE: u32 = 175;
    pub const FINIT_MODULE: u32 = 313;
    pub const BPF: u32 = 321;
}

/// Bytes of each string argument a syscall record can carry.
pub const SYSCALL_STRING_CAPACITY: usize = 256;
/// String slots in a syscall record (mount has three: source, target, type).
pub const SYSCALL_STRINGS: usize = 3;
/// Bytes of a socket address (`sockaddr_in6` is 28).
pub const SOCKADDR_CAPACITY: usize = 32;

/// A syscall, recorded at its exit with what was read at its entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct SyscallRecord {
    /// `boot_time_ns` is the exit time.
    pub header: RecordHeader,
    pub process: ProcessInfo,
    pub thread_id: u32,
    pub number: u32,
    pub return_value: i64,
    pub enter_boot_time_ns: u64,
    /// Raw integer arguments; zeros unless `process.fields` has
    /// [`FIELD_SYSCALL_ARGS`]. Pointer arguments are never kept.
    pub args: [u64; 6],
    /// Syscall-specific extra value: `open_how.flags` for openat2.
    pub extra: u64,
    /// Bytes used in each of `strings`.
    pub string_lens: [u16; SYSCALL_STRINGS],
    /// Bytes used in `sockaddr`.
    pub sockaddr_len: u16,
    /// Bit set of `SYSCALL_*` flags.
    pub flags: u32,
    pub reserved: u32,
    pub sockaddr: [u8; SOCKADDR_CAPACITY],
    pub strings: [[u8; SYSCALL_STRING_CAPACITY]; SYSCALL_STRINGS],
}

/// The string in slot `n` was cut at [`SYSCALL_STRING_CAPACITY`].
pub const SYSCALL_STRING_TRUNCATED: [u32; SYSCALL_STRINGS] = [1 << 0, 1 << 1, 1 << 2];

/// What happened to a TCP connection (`NetworkRecord::event`).
pub const NETWORK_CONNECT: u32 = 1;
pub const NETWORK_CONNECT_FAILED: u32 = 2;
pub const NETWORK_ACCEPT: u32 = 3;
pub const NETWORK_CLOSE: u32 = 4;

/// `NetworkRecord::direction`: who opened the connection.
pub const DIRECTION_OUTBOUND: u32 = 1;
pub const DIRECTION_INBOUND: u32 = 2;

/// A TCP connection event. The process is the socket's owner, recorded when
/// it called connect (or listen, for accepted connections): the state change
/// itself often runs in softirq context, on behalf of nobody.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct NetworkRecord {
    pub header: RecordHeader,
    pub process: ProcessInfo,
    /// `NETWORK_*`.
    pub event: u32,
    /// `DIRECTION_*`.
    pub direction: u32,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    pub local_port: u16,
    pub peer_port: u16,
    pub reserved: u16,
    /// IPv4 addresses use the first 4 bytes.
    pub local_address: [u8; 16],
    pub peer_address: [u8; 16],
    /// Close only: data bytes sent (retransmissions included) and received.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// When the connection was established (close only).
    pub established_boot_time_ns: u64,
}
