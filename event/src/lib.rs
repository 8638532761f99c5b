//! scrim's normalised event model, and the catalogue of every field an event
//! can carry.
//!
//! Probes decode kernel records into [`Event`]s; sinks write them. The
//! catalogue ([`field`]) names each field once, with its OpenTelemetry
//! semantic-convention name where one exists and its data category, so the
//! archive schema, JSON keys and (later) policies all agree on one name.
mod context;
pub mod field;
pub mod fixture;
mod network;
mod process;
pub mod record;
mod syscall;
mod syscall_table;
pub mod time;

pub use context::ProcessContext;
pub use network::{Direction, NetworkEvent, NetworkEventKind};
pub use process::{ExitStatus, ProcessEvent, ProcessEventKind};
pub use syscall::{SocketAddress, SyscallEvent, syscall_name, syscall_names, syscall_number};

/// Nanoseconds since the Unix epoch, UTC.
pub type UnixNanos = i64;

/// One thing that happened on the node.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Process(ProcessEvent),
    Syscall(SyscallEvent),
    Network(NetworkEvent),
}

/// The family an event belongs to: the archive keeps one table per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Process,
    Syscall,
    Network,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [EventKind::Process, EventKind::Syscall, EventKind::Network];

    /// The name used in archive paths (`kind=process`) and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Process => "process",
            EventKind::Syscall => "syscall",
            EventKind::Network => "network",
        }
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Process(_) => EventKind::Process,
            Event::Syscall(_) => EventKind::Syscall,
            Event::Network(_) => EventKind::Network,
        }
    }

    /// The process it belongs to.
    pub fn process(&self) -> &ProcessContext {
        match self {
            Event::Process(event) => &event.process,
            Event::Syscall(event) => &event.process,
            Event::Network(event) => &event.process,
        }
    }

    /// When it happened.
    pub fn time(&self) -> UnixNanos {
        match self {
            Event::Process(event) => event.time,
            Event::Syscall(event) => event.time,
            Event::Network(event) => event.time,
        }
    }

    /// Calls `visit` once for each catalogued field of this event's kind, in
    /// [`field::of_kind`] order, with [`FieldValue::Null`] for absent ones.
    ///
    /// This is the one place that maps events to named fields: every sink
    /// writes through it, so a column and a JSON key can never disagree.
    pub fn visit_fields<'a>(&'a self, visit: impl FnMut(&'static field::Field, FieldValue<'a>)) {
        match self {
            Event::Process(event) => event.visit_fields(visit),
            Event::Syscall(event) => event.visit_fields(visit),
            Event::Network(event) => event.visit_fields(visit),
        }
    }
}

/// One field's value, borrowed from an event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Null,
    Int(i64),
    Bool(bool),
    String(&'a str),
    StringList(&'a [String]),
    IntList(&'a [i64]),
    /// An IP address, stored as text.
    Ip(std::net::IpAddr),
    Timestamp(UnixNanos),
}
