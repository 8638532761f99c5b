//! The field catalogue: every field an event can carry, named once.
//!
//! Names follow the OpenTelemetry semantic conventions where one exists; the
//! rest carry a `scrim.` prefix so they can never collide with a future
//! convention. Each field has a [`DataCategory`], which is what policies and
//! compliance reports reason about.

use crate::EventKind;

/// How much a field says about a person, from least to most sensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataCategory {
    /// Says nothing about a person on its own (an event name, an exit code).
    Technical,
    /// Singles nobody out alone, but can in combination (a time, a cgroup, a
    /// program name).
    QuasiIdentifier,
    /// Identifies a user directly (a uid).
    Identifier,
    /// What a person typed or worked on (paths, names of their files).
    Content,
    /// Often carries credentials or personal data verbatim (command lines).
    SecretBearing,
}

impl DataCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Technical => "technical",
            DataCategory::QuasiIdentifier => "quasi-identifier",
            DataCategory::Identifier => "identifier",
            DataCategory::Content => "content",
            DataCategory::SecretBearing => "secret-bearing",
        }
    }
}

/// A field's value type, as archives store it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Int,
    Bool,
    String,
    /// A string holding an IPv4 or IPv6 address.
    IpAddress,
    /// A string holding a file-system path.
    Path,
    StringList,
    IntList,
    /// Nanoseconds since the Unix epoch, UTC.
    Timestamp,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Bool => "bool",
            FieldType::String => "string",
            FieldType::IpAddress => "ip address",
            FieldType::Path => "path",
            FieldType::StringList => "string[]",
            FieldType::IntList => "int[]",
            FieldType::Timestamp => "timestamp",
        }
    }
}

/// One catalogued field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    /// The event kinds that carry it.
    pub kinds: &'static [EventKind],
    pub field_type: FieldType,
    pub category: DataCategory,
    /// False when any event may lack it (an exit code on an exec).
    pub always_present: bool,
    pub description: &'static str,
}

macro_rules! catalogue {
    ($( $const_name:ident = $name:literal, [$($kind:ident),+], $ty:ident, $category:ident, $always:literal, $doc:literal; )*) => {
        $(
            #[doc = $doc]
            pub const $const_name: Field = Field {
                name: $name,
                kinds: &[$(EventKind::$kind),+],
                field_type: FieldType::$ty,
                category: DataCategory::$category,
                always_present: $always,
                description: $doc,
            };
        )*
        /// Every field, in archive column order.
        pub const ALL: &[Field] = &[$($const_name),*];
    };
}

catalogue! {
    TIME = "time", [Process, Syscall, Network], Timestamp, QuasiIdentifier, true,
        "When the event happened (kernel boot clock, converted to UTC); for a syscall, when it returned.";
    EVENT_NAME = "event.name", [Process, Syscall, Network], String, Technical, true,
        "`process.fork`, `process.exec`, `process.exit`, `syscall`, `network.connect`, `network.connect_failed`, `network.accept` or `network.close`.";
    PROCESS_PID = "process.pid", [Process, Syscall, Network], Int, Technical, true,
        "Process id (the kernel's thread-group id). For a fork, the new child.";
    PROCESS_PARENT_PID = "process.parent_pid", [Process, Syscall, Network], Int, Technical, true,
        "Process id of the real parent.";
    PROCESS_REAL_USER_ID = "process.real_user.id", [Process, Syscall, Network], Int, Identifier, true,
        "Real user id, as seen from the host's user namespace.";
    PROCESS_REAL_GROUP_ID = "scrim.process.real_group.id", [Process, Syscall, Network], Int, Identifier, true,
        "Real group id, as seen from the host's user namespace.";
    CGROUP_ID = "scrim.cgroup.id", [Process, Syscall, Network], Int, QuasiIdentifier, true,
        "cgroup v2 id (the inode of the cgroup's directory): what tenants are resolved from.";
    PROCESS_EXECUTABLE_NAME = "process.executable.name", [Process, Syscall, Network], String, QuasiIdentifier, false,
        "The kernel's task name (`comm`): the executable's base name, at most 15 bytes. Absent when the tenant masks it.";
    PROCESS_CREATION_TIME = "process.creation.time", [Process, Syscall, Network], Timestamp, QuasiIdentifier, true,
        "When the process was created; with `process.pid` it names one process across pid reuse.";
    THREAD_ID = "thread.id", [Syscall], Int, Technical, true,
        "Kernel task id of the thread that made the syscall.";
    PROCESS_EXECUTABLE_PATH = "process.executable.path", [Process], Path, Content, false,
        "Exec only: the path given to exec (relative if the caller gave a relative path).";
    PROCESS_EXECUTABLE_PATH_TRUNCATED = "scrim.process.executable.path_truncated", [Process], Bool, Technical, false,
        "Exec only: the path was longer than the kernel capture limit (256 bytes) and was cut.";
    PROCESS_COMMAND_ARGS = "process.command_args", [Process], StringList, SecretBearing, false,
        "Exec only, and only when argument capture is on: the arguments, `argv[0]` first.";
    PROCESS_COMMAND_ARGS_TRUNCATED = "scrim.process.command_args_truncated", [Process], Bool, Technical, false,
        "Exec only: the arguments were longer than the kernel capture limit (1024 bytes) and were cut.";
    PROCESS_EXIT_CODE = "process.exit.code", [Process], Int, Technical, false,
        "Exit only: the exit code, or 128 + the signal number for a process killed by a signal.";
    PROCESS_EXIT_SIGNAL = "scrim.process.exit.signal", [Process], Int, Technical, false,
        "Exit only: the signal that killed the process, if one did.";
    SYSCALL_NAME = "scrim.syscall.name", [Syscall], String, Technical, false,
        "The syscall's name (x86_64 numbering); absent for numbers newer than scrim's table.";
    SYSCALL_NUMBER = "scrim.syscall.number", [Syscall], Int, Technical, true,
        "The syscall's number.";
    SYSCALL_RETURN_VALUE = "scrim.syscall.return_value", [Syscall], Int, Technical, true,
        "What the syscall returned; a negative value is `-errno` (-2 is ENOENT).";
    SYSCALL_DURATION = "scrim.syscall.duration", [Syscall], Int, Technical, true,
        "Nanoseconds from entry to return.";
    FILE_PATH = "file.path", [Syscall], Path, Content, false,
        "The first path argument: the file opened, unlinked or executed, a rename's source, a mount's source.";
    FILE_PATH_TRUNCATED = "scrim.file.path_truncated", [Syscall], Bool, Technical, false,
        "`file.path` was longer than the kernel capture limit (255 bytes) and may have been cut.";
    SYSCALL_SECOND_PATH = "scrim.syscall.second_path", [Syscall], Path, Content, false,
        "A rename's destination, a mount's target.";
    SYSCALL_TEXT = "scrim.syscall.text", [Syscall], String, Content, false,
        "A mount's filesystem type, a kernel module's parameters.";
    SYSCALL_FD = "scrim.syscall.fd", [Syscall], Int, Technical, false,
        "The descriptor acted on (connect, accept, bind, listen, finit_module) or the directory descriptor of an `*at` syscall (-100 is the working directory).";
    SYSCALL_FLAGS = "scrim.syscall.flags", [Syscall], Int, Technical, false,
        "The flags argument: open flags (from `open_how` for openat2), accept4, unlinkat, renameat2, execveat, mount and finit_module flags.";
    SYSCALL_MODE = "scrim.syscall.mode", [Syscall], Int, Technical, false,
        "openat's mode.";
    SYSCALL_IDS = "scrim.syscall.ids", [Syscall], IntList, Identifier, false,
        "The ids a `set*id` syscall asked for, in argument order (-1 = unchanged).";
    SYSCALL_REQUEST = "scrim.syscall.request", [Syscall], Int, Technical, false,
        "ptrace's request, bpf's command.";
    SYSCALL_TARGET = "scrim.syscall.target", [Syscall], Int, Technical, false,
        "ptrace's target pid, listen's backlog, init_module's image length, bpf's attribute size.";
    NETWORK_PEER_ADDRESS = "network.peer.address", [Syscall, Network], IpAddress, QuasiIdentifier, false,
        "The other end: connect's destination, accept's peer, a TCP connection's remote address (IPv4 or IPv6).";
    NETWORK_PEER_PORT = "network.peer.port", [Syscall, Network], Int, Technical, false,
        "The other end's port.";
    NETWORK_LOCAL_ADDRESS = "network.local.address", [Syscall, Network], IpAddress, QuasiIdentifier, false,
        "This end: bind's address, a TCP connection's local address.";
    NETWORK_LOCAL_PORT = "network.local.port", [Syscall, Network], Int, Technical, false,
        "This end's port.";
    NETWORK_TRANSPORT = "network.transport", [Network], String, Technical, true,
        "`tcp`.";
    NETWORK_TYPE = "network.type", [Network], String, Technical, false,
        "`ipv4` or `ipv6`; absent when the tenant masks addresses.";
    NETWORK_DIRECTION = "scrim.network.direction", [Network], String, Technical, true,
        "`outbound` (this node connected) or `inbound` (it accepted).";
    NETWORK_BYTES_SENT = "scrim.network.bytes_sent", [Network], Int, Technical, false,
        "Close only: data bytes sent over the connection's life (retransmissions included).";
    NETWORK_BYTES_RECEIVED = "scrim.network.bytes_received", [Network], Int, Technical, false,
        "Close only: bytes received over the connection's life.";
    NETWORK_DURATION = "scrim.network.duration", [Network], Int, Technical, false,
        "Close only: nanoseconds from establishment to close.";
}

/// The catalogued field called `name`.
pub fn named(name: &str) -> Option<&'static Field> {
    ALL.iter().find(|field| field.name == name)
}

/// The catalogued fields of one event kind, in column order.
pub fn of_kind(kind: EventKind) -> impl Iterator<Item = &'static Field> {
    ALL.iter().filter(move |field| field.kinds.contains(&kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for field in ALL {
            assert!(seen.insert(field.name), "duplicate field {}", field.name);
        }
    }

    #[test]
    fn invented_names_carry_the_scrim_prefix() {
        const OPENTELEMETRY_NAMES: &[&str] = &[
            "time",
            "event.name",
            "process.pid",
            "process.parent_pid",
            "process.real_user.id",
            "process.executable.name",
            "process.creation.time",
            "process.executable.path",
            "process.command_args",
            "process.exit.code",
            "thread.id",
            "file.path",
            "network.peer.address",
            "network.peer.port",
            "network.local.address",
            "network.local.port",
            "network.transport",
            "network.type",
        ];
        for field in ALL {
            assert!(
                OPENTELEMETRY_NAMES.contains(&field.name) || field.name.starts_with("scrim."),
                "{} is neither an OpenTelemetry name nor scrim-prefixed",
                field.name
            );
        }
    }
}
