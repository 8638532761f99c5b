//! The in-kernel filter as userspace sees it: which cgroup belongs to which
//! tenant slot, and what each tenant captures. Changes apply to the running
//! programs at once; nothing is reloaded.
use std::ops::{BitOr, RangeInclusive};

use scrim_abi::{
    FIELD_COMM, FIELD_COMMAND_ARGS, FIELD_EXEC_PATH, FIELD_SOCKET_ADDRESSES, FIELD_SYSCALL_ARGS,
    FIELD_SYSCALL_STRINGS, KIND_NETWORK, KIND_PROCESS_EXEC, KIND_PROCESS_EXIT, KIND_PROCESS_FORK,
    KIND_SYSCALL, SYSCALL_SLOTS, SyscallBitmap, TENANT_SLOTS,
};

use scrim_event::EventKind;

use crate::ProbeError;

/// A tenant's index in the kernel's filter maps. Slot 0 is the default
/// tenant, which unknown cgroups fall into unless they are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantSlot(u32);

impl TenantSlot {
    pub const DEFAULT: TenantSlot = TenantSlot(scrim_abi::DEFAULT_TENANT_SLOT);
    /// How many slots the kernel has.
    pub const COUNT: u32 = TENANT_SLOTS;

    pub fn new(index: u32) -> Result<Self, ProbeError> {
        if index < TENANT_SLOTS {
            Ok(TenantSlot(index))
        } else {
            Err(ProbeError::TenantSlotOutOfRange { index })
        }
    }

    pub fn index(self) -> u32 {
        self.0
    }
}

macro_rules! bit_set {
    ($(#[$doc:meta])* $name:ident { $($(#[$flag_doc:meta])* $flag:ident = $bit:expr;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name(u32);

        impl $name {
            pub const NONE: $name = $name(0);
            $($(#[$flag_doc])* pub const $flag: $name = $name($bit);)*

            pub const fn union(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            pub fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            pub(crate) fn bits(self) -> u32 {
                self.0
            }
        }

        impl BitOr for $name {
            type Output = $name;
            fn bitor(self, other: $name) -> $name {
                self.union(other)
            }
        }
    };
}

bit_set! {
    /// Event kinds a tenant captures.
    CaptureKinds {
        PROCESS_FORK = KIND_PROCESS_FORK;
        PROCESS_EXEC = KIND_PROCESS_EXEC;
        PROCESS_EXIT = KIND_PROCESS_EXIT;
        /// Syscalls in the tenant's [`SyscallSet`].
        SYSCALL = KIND_SYSCALL;
        /// TCP connects, accepts and closes.
        NETWORK = KIND_NETWORK;
    }
}

bit_set! {
    /// Fields a tenant has copied out of the kernel; the rest are never read.
    CaptureFields {
        /// The task name (`process.executable.name`).
        COMM = FIELD_COMM;
        /// The path given to exec (`process.executable.path`).
        EXEC_PATH = FIELD_EXEC_PATH;
        /// Process arguments (`process.command_args`).
        COMMAND_ARGS = FIELD_COMMAND_ARGS;
        /// Integer syscall arguments: descriptors, flags, modes, ids, requests.
        SYSCALL_ARGS = FIELD_SYSCALL_ARGS;
        /// String syscall arguments: paths, mount sources and types, module
        /// parameters.
        SYSCALL_STRINGS = FIELD_SYSCALL_STRINGS;
        /// Socket addresses: given to connect and bind, returned by accept, and
        /// the addresses and ports of TCP connections.
        SOCKET_ADDRESSES = FIELD_SOCKET_ADDRESSES;
    }
}

impl CaptureKinds {
    pub const ALL_PROCESS: CaptureKinds = CaptureKinds::PROCESS_FORK
        .union(CaptureKinds::PROCESS_EXEC)
        .union(CaptureKinds::PROCESS_EXIT);
}

impl CaptureKinds {
    /// The kernel switches for one event kind.
    pub fn of(kind: EventKind) -> CaptureKinds {
        match kind {
            EventKind::Process => CaptureKinds::ALL_PROCESS,
            EventKind::Syscall => CaptureKinds::SYSCALL,
            EventKind::Network => CaptureKinds::NETWORK,
        }
    }
}

impl CaptureFields {
    /// The mask a catalogued field needs in the kernel; [`CaptureFields::NONE`]
    /// for fields the kernel always reports (ids, times, counters).
    pub fn needed_for(field_name: &str) -> CaptureFields {
        use scrim_event::field as f;
        let by_mask: [(CaptureFields, &[&f::Field]); 6] = [
            (CaptureFields::COMM, &[&f::PROCESS_EXECUTABLE_NAME]),
            (
                CaptureFields::EXEC_PATH,
                &[
                    &f::PROCESS_EXECUTABLE_PATH,
                    &f::PROCESS_EXECUTABLE_PATH_TRUNCATED,
                ],
            ),
            (
                CaptureFields::COMMAND_ARGS,
                &[&f::PROCESS_COMMAND_ARGS, &f::PROCESS_COMMAND_ARGS_TRUNCATED],
            ),
            (
                CaptureFields::SYSCALL_ARGS,
                &[
                    &f::SYSCALL_FD,
                    &f::SYSCALL_FLAGS,
                    &f::SYSCALL_MODE,
                    &f::SYSCALL_IDS,
                    &f::SYSCALL_REQUEST,
                    &f::SYSCALL_TARGET,
                ],
            ),
            (
                CaptureFields::SYSCALL_STRINGS,
                &[
                    &f::FILE_PATH,
                    &f::FILE_PATH_TRUNCATED,
                    &f::SYSCALL_SECOND_PATH,
                    &f::SYSCALL_TEXT,
                ],
            ),
            (
                CaptureFields::SOCKET_ADDRESSES,
                &[
                    &f::NETWORK_PEER_ADDRESS,
                    &f::NETWORK_PEER_PORT,
                    &f::NETWORK_LOCAL_ADDRESS,
                    &f::NETWORK_LOCAL_PORT,
                    &f::NETWORK_TYPE,
                ],
            ),
        ];
        by_mask
            .into_iter()
            .filter(|(_, fields)| fields.iter().any(|field| field.name == field_name))
            .fold(CaptureFields::NONE, |mask, (bit, _)| mask | bit)
    }
}

/// A set of syscall numbers (x86_64 numbering).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallSet(SyscallBitmap);

impl SyscallSet {
    pub const EMPTY: SyscallSet = SyscallSet([0; SYSCALL_SLOTS / 64]);

    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Result<Self, ProbeError> {
        let mut set = SyscallSet::EMPTY;
        for number in numbers {
            set.insert(number)?;
        }
        Ok(set)
    }

    /// Adds `number`; numbers beyond the kernel's bit map are an error.
    pub fn insert(&mut self, number: u32) -> Result<(), ProbeError> {
        let index = number as usize;
        let word = self
            .0
            .get_mut(index / 64)
            .ok_or(ProbeError::SyscallOutOfRange { number })?;
        *word |= 1 << (index % 64);
        Ok(())
    }

    pub fn contains(&self, number: u32) -> bool {
        let index = number as usize;
        self.0
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&word| word == 0)
    }

    pub(crate) fn union(&self, other: &SyscallSet) -> SyscallSet {
        let mut union = *self;
        for (word, other) in union.0.iter_mut().zip(other.0) {
            *word |= other;
        }
        union
    }

    pub(crate) fn bitmap(&self) -> SyscallBitmap {
        self.0
    }
}

/// At most `per_second` records a second, with bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// What one tenant captures in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantFilter {
    pub kinds: CaptureKinds,
    pub fields: CaptureFields,
    /// Syscalls captured when `kinds` has [`CaptureKinds::SYSCALL`].
    pub syscalls: SyscallSet,
    pub rate_limit: Option<RateLimit>,
}

impl TenantFilter {
    /// scrim's built-in default: every process event, with the task name and
    /// executable path, but never the arguments.
    pub const DEFAULT: TenantFilter = TenantFilter {
        kinds: CaptureKinds::ALL_PROCESS,
        fields: CaptureFields::COMM.union(CaptureFields::EXEC_PATH),
        syscalls: SyscallSet::EMPTY,
        rate_limit: None,
    };

    /// Captures nothing: for slots no tenant holds.
    pub const NOTHING: TenantFilter = TenantFilter {
        kinds: CaptureKinds::NONE,
        fields: CaptureFields::NONE,
        syscalls: SyscallSet::EMPTY,
        rate_limit: None,
    };

    /// The filter that captures `kinds` and `syscalls`, reading in the
    /// kernel only what `fields` (catalogue names) need.
    pub fn for_fields<'a>(
        kinds: impl IntoIterator<Item = EventKind>,
        fields: impl IntoIterator<Item = &'a str>,
        syscalls: SyscallSet,
    ) -> TenantFilter {
        TenantFilter {
            kinds: kinds
                .into_iter()
                .fold(CaptureKinds::NONE, |all, kind| all | CaptureKinds::of(kind)),
            fields: fields.into_iter().fold(CaptureFields::NONE, |all, field| {
                all | CaptureFields::needed_for(field)
            }),
            syscalls,
            rate_limit: None,
        }
    }

    /// The syscalls this filter actually captures.
    pub(crate) fn wanted_syscalls(&self) -> SyscallSet {
        if self.kinds.contains(CaptureKinds::SYSCALL) {
            self.syscalls
        } else {
            SyscallSet::EMPTY
        }
    }

    pub(crate) fn to_kernel(self) -> scrim_abi::TenantFilter {
        let (rate_per_second, burst) = self
            .rate_limit
            .map_or((0, 0), |limit| (limit.per_second, limit.burst));
        scrim_abi::TenantFilter {
            kinds: self.kinds.bits(),
            fields: self.fields.bits(),
            rate_per_second,
            burst,
            syscalls: self.syscalls.bitmap(),
        }
    }
}

/// What happens to events of cgroups no tenant claims (including new ones
/// in the moment before userspace places them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownCgroups {
    /// Filter and capture them as the default tenant.
    #[default]
    CaptureAsDefault,
    /// Drop them in the kernel, counted.
    Drop,
}

impl UnknownCgroups {
    pub(crate) fn to_kernel(self) -> u32 {
        match self {
            UnknownCgroups::CaptureAsDefault => scrim_abi::UNKNOWN_CGROUPS_CAPTURE_AS_DEFAULT,
            UnknownCgroups::Drop => scrim_abi::UNKNOWN_CGROUPS_DROP,
        }
    }
}

/// Processes whose real uid is in `uids` belong to `owner`; see
/// [`crate::Probes::set_uid_ranges`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidRange {
    pub uids: RangeInclusive<u32>,
    pub owner: UidOwner,
}

/// Who a [`UidRange`] gives its processes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UidOwner {
    /// Nobody: dropped in the kernel whatever their cgroup, counted as
    /// [`scrim_abi::KernelCounter::OptedOutCgroup`].
    OptedOut,
    /// This tenant, for processes of cgroups no tenant claims.
    Tenant(TenantSlot),
}

impl UidRange {
    pub(crate) fn to_kernel(&self) -> scrim_abi::UidRule {
        scrim_abi::UidRule {
            first: *self.uids.start(),
            last: *self.uids.end(),
            slot: match self.owner {
                UidOwner::OptedOut => scrim_abi::SLOT_OPTED_OUT,
                UidOwner::Tenant(slot) => slot.index(),
            },
            reserved: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_the_kernel_only_what_named_fields_need() {
        let filter = TenantFilter::for_fields(
            [EventKind::Process, EventKind::Network],
            ["time", "process.executable.path", "network.peer.port"],
            SyscallSet::EMPTY,
        );
        assert_eq!(
            filter.kinds,
            CaptureKinds::ALL_PROCESS | CaptureKinds::NETWORK
        );
        assert_eq!(
            filter.fields,
            CaptureFields::EXEC_PATH | CaptureFields::SOCKET_ADDRESSES
        );
        assert!(!filter.fields.contains(CaptureFields::COMMAND_ARGS));
        assert!(!filter.fields.contains(CaptureFields::COMM));
    }
}
