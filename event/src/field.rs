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
    StringList,
    /// Nanoseconds since the Unix epoch, UTC.
    Timestamp,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Bool => "bool",
            FieldType::String => "string",
            FieldType::StringList => "string[]",
            FieldType::Timestamp => "timestamp",
        }
    }
}

/// One catalogued field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: EventKind,
    pub field_type: FieldType,
    pub category: DataCategory,
    /// False when any event may lack it (an exit code on an exec).
    pub always_present: bool,
    pub description: &'static str,
}

macro_rules! catalogue {
    ($( $const_name:ident = $name:literal, $kind:ident, $ty:ident, $category:ident, $always:literal, $doc:literal; )*) => {
        $(
            #[doc = $doc]
            pub const $const_name: Field = Field {
                name: $name,
                kind: EventKind::$kind,
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
    TIME = "time", Process, Timestamp, QuasiIdentifier, true,
        "When the event happened (kernel boot clock, converted to UTC).";
    EVENT_NAME = "event.name", Process, String, Technical, true,
        "`process.fork`, `process.exec` or `process.exit`.";
    PROCESS_PID = "process.pid", Process, Int, Technical, true,
        "Process id (the kernel's thread-group id). For a fork, the new child.";
    PROCESS_PARENT_PID = "process.parent_pid", Process, Int, Technical, true,
        "Process id of the real parent.";
    PROCESS_REAL_USER_ID = "process.real_user.id", Process, Int, Identifier, true,
        "Real user id, as seen from the host's user namespace.";
    PROCESS_REAL_GROUP_ID = "scrim.process.real_group.id", Process, Int, Identifier, true,
        "Real group id, as seen from the host's user namespace.";
    CGROUP_ID = "scrim.cgroup.id", Process, Int, QuasiIdentifier, true,
        "cgroup v2 id (the inode of the cgroup's directory): what tenants are resolved from.";
    PROCESS_EXECUTABLE_NAME = "process.executable.name", Process, String, QuasiIdentifier, false,
        "The kernel's task name (`comm`): the executable's base name, at most 15 bytes. Absent when the tenant masks it.";
    PROCESS_CREATION_TIME = "process.creation.time", Process, Timestamp, QuasiIdentifier, true,
        "When the process was created; with `process.pid` it names one process across pid reuse.";
    PROCESS_EXECUTABLE_PATH = "process.executable.path", Process, String, Content, false,
        "Exec only: the path given to exec (relative if the caller gave a relative path).";
    PROCESS_EXECUTABLE_PATH_TRUNCATED = "scrim.process.executable.path_truncated", Process, Bool, Technical, false,
        "Exec only: the path was longer than the kernel capture limit (256 bytes) and was cut.";
    PROCESS_COMMAND_ARGS = "process.command_args", Process, StringList, SecretBearing, false,
        "Exec only, and only when argument capture is on: the arguments, `argv[0]` first.";
    PROCESS_COMMAND_ARGS_TRUNCATED = "scrim.process.command_args_truncated", Process, Bool, Technical, false,
        "Exec only: the arguments were longer than the kernel capture limit (1024 bytes) and were cut.";
    PROCESS_EXIT_CODE = "process.exit.code", Process, Int, Technical, false,
        "Exit only: the exit code, or 128 + the signal number for a process killed by a signal.";
    PROCESS_EXIT_SIGNAL = "scrim.process.exit.signal", Process, Int, Technical, false,
        "Exit only: the signal that killed the process, if one did.";
}

/// The catalogued fields of one event kind, in column order.
pub fn of_kind(kind: EventKind) -> impl Iterator<Item = &'static Field> {
    ALL.iter().filter(move |field| field.kind == kind)
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
