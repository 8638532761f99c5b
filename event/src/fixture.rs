//! Events built from field names and values: the fixtures of `scrim policy
//! test`, written by people in terms of the catalogue rather than of
//! structs.
use std::net::IpAddr;

use crate::{
    Direction, Event, ExitStatus, NetworkEvent, NetworkEventKind, ProcessContext, ProcessEvent,
    ProcessEventKind, SocketAddress, SyscallEvent, UnixNanos, syscall_number,
};

/// A value a fixture gives a field.
#[derive(Clone, Debug, PartialEq)]
pub enum FixtureValue {
    Int(i64),
    Bool(bool),
    /// Text; times may also be given as RFC 3339 text, addresses as text.
    Text(String),
    Texts(Vec<String>),
    Ints(Vec<i64>),
}

/// Why a fixture does not describe an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FixtureError {
    #[error(
        "fixture: unknown event name `{0}` (process.fork, process.exec, process.exit, syscall, \
         network.connect, network.connect_failed, network.accept, network.close)"
    )]
    UnknownEventName(String),
    #[error("fixture: `{field}` is not a field of {kind} events")]
    NotAField { field: String, kind: &'static str },
    #[error("fixture: `{field}` needs {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("fixture: `{field}`: {value:?} is not {expected}")]
    BadValue {
        field: String,
        value: String,
        expected: &'static str,
    },
}

/// The event named `event_name` (its `event.name`) with `fields` set;
/// fields not given are zero or absent.
pub fn event_from_fields<'a>(
    event_name: &str,
    fields: impl IntoIterator<Item = (&'a str, FixtureValue)>,
) -> Result<Event, FixtureError> {
    let mut event = blank_event(event_name)?;
    for (name, value) in fields {
        set_field(&mut event, name, value)?;
    }
    Ok(event)
}

fn blank_event(event_name: &str) -> Result<Event, FixtureError> {
    let process = |kind| {
        Event::Process(ProcessEvent {
            kind,
            time: 0,
            process: ProcessContext::default(),
            executable_path: None,
            executable_path_truncated: false,
            command_args: None,
            command_args_truncated: false,
            exit: None,
        })
    };
    let network = |kind, direction| {
        Event::Network(NetworkEvent {
            kind,
            time: 0,
            process: ProcessContext::default(),
            direction,
            local: None,
            peer: None,
            bytes_sent: None,
            bytes_received: None,
            duration_ns: None,
        })
    };
    Ok(match event_name {
        "process.fork" => process(ProcessEventKind::Fork),
        "process.exec" => process(ProcessEventKind::Exec),
        "process.exit" => process(ProcessEventKind::Exit),
        "syscall" => Event::Syscall(SyscallEvent::default()),
        "network.connect" => network(NetworkEventKind::Connect, Direction::Outbound),
        "network.connect_failed" => network(NetworkEventKind::ConnectFailed, Direction::Outbound),
        "network.accept" => network(NetworkEventKind::Accept, Direction::Inbound),
        "network.close" => network(NetworkEventKind::Close, Direction::Outbound),
        other => return Err(FixtureError::UnknownEventName(other.to_owned())),
    })
}

/// Reads one fixture value as the type a field needs.
struct Reader<'a> {
    field: &'a str,
    value: FixtureValue,
}

impl Reader<'_> {
    fn wrong(&self, expected: &'static str) -> FixtureError {
        FixtureError::WrongType {
            field: self.field.to_owned(),
            expected,
        }
    }

    fn bad(&self, text: &str, expected: &'static str) -> FixtureError {
        FixtureError::BadValue {
            field: self.field.to_owned(),
            value: text.to_owned(),
            expected,
        }
    }

    fn int<T: TryFrom<i64>>(&self) -> Result<T, FixtureError> {
        match &self.value {
            FixtureValue::Int(number) => {
                T::try_from(*number).map_err(|_| self.bad(&number.to_string(), "in range"))
            }
            _ => Err(self.wrong("an integer")),
        }
    }

    fn text(&self) -> Result<String, FixtureError> {
        match &self.value {
            FixtureValue::Text(text) => Ok(text.clone()),
            _ => Err(self.wrong("text")),
        }
    }

    fn flag(&self) -> Result<bool, FixtureError> {
        match self.value {
            FixtureValue::Bool(flag) => Ok(flag),
            _ => Err(self.wrong("true or false")),
        }
    }

    /// Nanoseconds since the Unix epoch, or RFC 3339 text.
    fn time(&self) -> Result<UnixNanos, FixtureError> {
        match &self.value {
            FixtureValue::Int(nanos) => Ok(*nanos),
            FixtureValue::Text(text) => {
                let expected = "an RFC 3339 time such as 2026-11-25T18:00:00Z";
                let at = humantime::parse_rfc3339(text).map_err(|_| self.bad(text, expected))?;
                let since = at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|_| self.bad(text, expected))?;
                i64::try_from(since.as_nanos()).map_err(|_| self.bad(text, expected))
            }
            _ => Err(self.wrong("a time (nanoseconds or RFC 3339 text)")),
        }
    }

    fn address(&self) -> Result<IpAddr, FixtureError> {
        let text = self.text()?;
        text.parse()
            .map_err(|_| self.bad(&text, "an IPv4 or IPv6 address"))
    }
}

fn socket(slot: &mut Option<SocketAddress>) -> &mut SocketAddress {
    slot.get_or_insert(SocketAddress {
        address: IpAddr::from([0, 0, 0, 0]),
        port: 0,
    })
}

fn set_field(event: &mut Event, name: &str, value: FixtureValue) -> Result<(), FixtureError> {
    let value = Reader { field: name, value };
    let kind = event.kind().as_str();
    let not_a_field = || FixtureError::NotAField {
        field: name.to_owned(),
        kind,
    };
    match name {
        "time" => {
            *event_time(event) = value.time()?;
            return Ok(());
        }
        // Given by the fixture's event name.
        "event.name" => return Ok(()),
        _ => {}
    }
    if set_context(context(event), name, &value)? {
        return Ok(());
    }
    match event {
        Event::Process(process) => match name {
            "process.executable.path" => process.executable_path = Some(value.text()?),
            "scrim.process.executable.path_truncated" => {
                process.executable_path_truncated = value.flag()?
            }
            "process.command_args" => match &value.value {
                FixtureValue::Texts(args) => process.command_args = Some(args.clone()),
                _ => return Err(value.wrong("a list of text")),
            },
            "scrim.process.command_args_truncated" => {
                process.command_args_truncated = value.flag()?
            }
            "process.exit.code" => {
                let exit = process.exit.get_or_insert(ExitStatus::from_wait_status(0));
                exit.code = value.int()?;
            }
            "scrim.process.exit.signal" => {
                let exit = process.exit.get_or_insert(ExitStatus::from_wait_status(0));
                exit.signal = Some(value.int()?);
            }
            _ => return Err(not_a_field()),
        },
        Event::Syscall(syscall) => match name {
            "thread.id" => syscall.thread_id = value.int()?,
            "scrim.syscall.name" => {
                let text = value.text()?;
                syscall.number =
                    syscall_number(&text).ok_or_else(|| value.bad(&text, "a syscall name"))?;
            }
            "scrim.syscall.number" => syscall.number = value.int()?,
            "scrim.syscall.return_value" => syscall.return_value = value.int()?,
            "scrim.syscall.duration" => syscall.duration_ns = value.int()?,
            "file.path" => syscall.path = Some(value.text()?),
            "scrim.file.path_truncated" => syscall.path_truncated = value.flag()?,
            "scrim.syscall.second_path" => syscall.second_path = Some(value.text()?),
            "scrim.syscall.text" => syscall.text = Some(value.text()?),
            "scrim.syscall.fd" => syscall.fd = Some(value.int()?),
            "scrim.syscall.flags" => syscall.flags = Some(value.int()?),
            "scrim.syscall.mode" => syscall.mode = Some(value.int()?),
            "scrim.syscall.ids" => match &value.value {
                FixtureValue::Ints(ids) => syscall.ids = Some(ids.clone()),
                _ => return Err(value.wrong("a list of integers")),
            },
            "scrim.syscall.request" => syscall.request = Some(value.int()?),
            "scrim.syscall.target" => syscall.target = Some(value.int()?),
            "network.peer.address" => socket(&mut syscall.peer).address = value.address()?,
            "network.peer.port" => socket(&mut syscall.peer).port = value.int()?,
            "network.local.address" => socket(&mut syscall.local).address = value.address()?,
            "network.local.port" => socket(&mut syscall.local).port = value.int()?,
            _ => return Err(not_a_field()),
        },
        Event::Network(network) => match name {
            "network.peer.address" => socket(&mut network.peer).address = value.address()?,
            "network.peer.port" => socket(&mut network.peer).port = value.int()?,
            "network.local.address" => socket(&mut network.local).address = value.address()?,
            "network.local.port" => socket(&mut network.local).port = value.int()?,
            "scrim.network.direction" => {
                network.direction = match value.text()?.as_str() {
                    "outbound" => Direction::Outbound,
                    "inbound" => Direction::Inbound,
                    other => return Err(value.bad(other, "outbound or inbound")),
                }
            }
            "scrim.network.bytes_sent" => network.bytes_sent = Some(value.int()?),
            "scrim.network.bytes_received" => network.bytes_received = Some(value.int()?),
            "scrim.network.duration" => network.duration_ns = Some(value.int()?),
            // Derived from the addresses and the transport scrim captures.
            "network.transport" | "network.type" => {}
            _ => return Err(not_a_field()),
        },
    }
    Ok(())
}

/// Sets a field every kind carries; false when `name` is not one.
fn set_context(
    context: &mut ProcessContext,
    name: &str,
    value: &Reader<'_>,
) -> Result<bool, FixtureError> {
    match name {
        "process.pid" => context.pid = value.int()?,
        "process.parent_pid" => context.parent_pid = value.int()?,
        "process.real_user.id" => context.real_user_id = value.int()?,
        "scrim.process.real_group.id" => context.real_group_id = value.int()?,
        "scrim.cgroup.id" => context.cgroup_id = value.int()?,
        "process.executable.name" => context.executable_name = Some(value.text()?),
        "process.creation.time" => context.creation_time = value.time()?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn event_time(event: &mut Event) -> &mut UnixNanos {
    match event {
        Event::Process(event) => &mut event.time,
        Event::Syscall(event) => &mut event.time,
        Event::Network(event) => &mut event.time,
    }
}

fn context(event: &mut Event) -> &mut ProcessContext {
    match event {
        Event::Process(event) => &mut event.process,
        Event::Syscall(event) => &mut event.process,
        Event::Network(event) => &mut event.process,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldValue, field};

    fn value_of(event: &Event, name: &str) -> String {
        let mut found = String::new();
        event.visit_fields(|field, value| {
            if field.name == name {
                found = match value {
                    FieldValue::Int(number) => number.to_string(),
                    FieldValue::String(text) => text.to_owned(),
                    FieldValue::Ip(address) => address.to_string(),
                    FieldValue::Timestamp(at) => at.to_string(),
                    other => format!("{other:?}"),
                };
            }
        });
        found
    }

    #[test]
    fn every_catalogued_field_of_a_kind_can_be_given() {
        for (event_name, kind) in [
            ("process.exec", crate::EventKind::Process),
            ("syscall", crate::EventKind::Syscall),
            ("network.close", crate::EventKind::Network),
        ] {
            for field in field::of_kind(kind) {
                let value = match field.field_type {
                    field::FieldType::Int => FixtureValue::Int(1),
                    field::FieldType::Bool => FixtureValue::Bool(true),
                    field::FieldType::Timestamp => FixtureValue::Int(1),
                    field::FieldType::IpAddress => FixtureValue::Text("192.0.2.1".into()),
                    field::FieldType::StringList => FixtureValue::Texts(vec!["a".into()]),
                    field::FieldType::IntList => FixtureValue::Ints(vec![1]),
                    field::FieldType::String | field::FieldType::Path => match field.name {
                        "scrim.syscall.name" => FixtureValue::Text("openat".into()),
                        "scrim.network.direction" => FixtureValue::Text("inbound".into()),
                        _ => FixtureValue::Text("x".into()),
                    },
                };
                event_from_fields(event_name, [(field.name, value)])
                    .unwrap_or_else(|error| panic!("{}: {error}", field.name));
            }
        }
    }

    #[test]
    fn builds_the_event_the_fields_describe() {
        let event = event_from_fields(
            "network.connect",
            [
                ("time", FixtureValue::Text("1970-01-01T00:00:01Z".into())),
                ("process.pid", FixtureValue::Int(42)),
                (
                    "network.peer.address",
                    FixtureValue::Text("2001:db8::1".into()),
                ),
                ("network.peer.port", FixtureValue::Int(443)),
            ],
        )
        .unwrap();
        assert_eq!(value_of(&event, "time"), "1000000000");
        assert_eq!(value_of(&event, "process.pid"), "42");
        assert_eq!(value_of(&event, "network.peer.address"), "2001:db8::1");
        assert_eq!(value_of(&event, "network.peer.port"), "443");
        assert_eq!(value_of(&event, "network.type"), "ipv6");
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(
            event_from_fields(
                "process.exec",
                [("file.path", FixtureValue::Text("/x".into()))]
            ),
            Err(FixtureError::NotAField {
                field: "file.path".into(),
                kind: "process"
            })
        );
        assert_eq!(
            event_from_fields(
                "process.exec",
                [("process.pid", FixtureValue::Text("1".into()))]
            ),
            Err(FixtureError::WrongType {
                field: "process.pid".into(),
                expected: "an integer"
            })
        );
        assert!(matches!(
            event_from_fields("process.boot", []),
            Err(FixtureError::UnknownEventName(_))
        ));
    }
}
