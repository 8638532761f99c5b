//! Syscall events: one per completed syscall a tenant captures, with the
//! arguments scrim decodes for the security-relevant ones.
use std::net::IpAddr;

use crate::{
    FieldValue, ProcessContext, UnixNanos,
    field::{self, Field},
    syscall_table,
};

/// The name of an x86_64 syscall number, if the table knows it.
pub fn syscall_name(number: u32) -> Option<&'static str> {
    syscall_table::X86_64
        .binary_search_by_key(&number, |&(n, _)| n)
        .ok()
        .map(|index| syscall_table::X86_64[index].1)
}

/// Every syscall name the table knows, in number order.
pub fn syscall_names() -> impl Iterator<Item = &'static str> {
    syscall_table::X86_64.iter().map(|&(_, name)| name)
}

/// The x86_64 number of a syscall name.
pub fn syscall_number(name: &str) -> Option<u32> {
    syscall_table::X86_64
        .iter()
        .find(|&&(_, known)| known == name)
        .map(|&(number, _)| number)
}

/// An address and port from a `sockaddr_in` or `sockaddr_in6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketAddress {
    pub address: IpAddr,
    pub port: u16,
}

/// A completed syscall. Argument fields are `None` when the syscall has no
/// such argument or the tenant's filter masked it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SyscallEvent {
    /// When the syscall returned.
    pub time: UnixNanos,
    pub duration_ns: u64,
    pub process: ProcessContext,
    pub thread_id: u32,
    pub number: u32,
    pub return_value: i64,
    /// The first path argument (the file opened, unlinked or executed, a
    /// rename's source, a mount's source).
    pub path: Option<String>,
    pub path_truncated: bool,
    /// A rename's destination, a mount's target.
    pub second_path: Option<String>,
    /// A mount's filesystem type, a module's parameters.
    pub text: Option<String>,
    /// The directory descriptor of `*at` syscalls, or the descriptor acted on.
    pub fd: Option<i64>,
    pub flags: Option<u64>,
    pub mode: Option<u64>,
    /// User or group ids asked for by the `set*id` family (-1 = unchanged).
    pub ids: Option<Vec<i64>>,
    /// ptrace's request, bpf's command.
    pub request: Option<i64>,
    /// ptrace's target, listen's backlog.
    pub target: Option<i64>,
    pub peer: Option<SocketAddress>,
    pub local: Option<SocketAddress>,
}

impl SyscallEvent {
    pub(crate) fn visit_fields<'a>(
        &'a self,
        mut visit: impl FnMut(&'static Field, FieldValue<'a>),
    ) {
        use FieldValue::{Int, Null, String, Timestamp};
        let int = |value: Option<i64>| value.map_or(Null, Int);
        let string = |value: &'a Option<std::string::String>| value.as_deref().map_or(Null, String);
        visit(&field::TIME, Timestamp(self.time));
        visit(&field::EVENT_NAME, String("syscall"));
        self.process.visit_fields(&mut visit);
        visit(&field::THREAD_ID, Int(self.thread_id.into()));
        visit(
            &field::SYSCALL_NAME,
            syscall_name(self.number).map_or(Null, String),
        );
        visit(&field::SYSCALL_NUMBER, Int(self.number.into()));
        visit(&field::SYSCALL_RETURN_VALUE, Int(self.return_value));
        visit(&field::SYSCALL_DURATION, Int(self.duration_ns as i64));
        visit(&field::FILE_PATH, string(&self.path));
        visit(
            &field::FILE_PATH_TRUNCATED,
            if self.path.is_some() {
                FieldValue::Bool(self.path_truncated)
            } else {
                Null
            },
        );
        visit(&field::SYSCALL_SECOND_PATH, string(&self.second_path));
        visit(&field::SYSCALL_TEXT, string(&self.text));
        visit(&field::SYSCALL_FD, int(self.fd));
        visit(
            &field::SYSCALL_FLAGS,
            int(self.flags.map(|flags| flags as i64)),
        );
        visit(&field::SYSCALL_MODE, int(self.mode.map(|mode| mode as i64)));
        visit(
            &field::SYSCALL_IDS,
            self.ids.as_deref().map_or(Null, FieldValue::IntList),
        );
        visit(&field::SYSCALL_REQUEST, int(self.request));
        visit(&field::SYSCALL_TARGET, int(self.target));
        visit_address(
            &mut visit,
            &field::NETWORK_PEER_ADDRESS,
            &field::NETWORK_PEER_PORT,
            self.peer.as_ref(),
        );
        visit_address(
            &mut visit,
            &field::NETWORK_LOCAL_ADDRESS,
            &field::NETWORK_LOCAL_PORT,
            self.local.as_ref(),
        );
    }
}

pub(crate) fn visit_address<'a>(
    visit: &mut impl FnMut(&'static Field, FieldValue<'a>),
    address_field: &'static Field,
    port_field: &'static Field,
    socket: Option<&'a SocketAddress>,
) {
    match socket {
        Some(socket) => {
            visit(address_field, FieldValue::Ip(socket.address));
            visit(port_field, FieldValue::Int(socket.port.into()));
        }
        None => {
            visit(address_field, FieldValue::Null);
            visit(port_field, FieldValue::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_catalogued_field_in_order() {
        let event = crate::Event::Syscall(SyscallEvent {
            number: 42,
            return_value: -111,
            peer: Some(SocketAddress {
                address: IpAddr::from([127, 0, 0, 1]),
                port: 8080,
            }),
            ids: Some(vec![0, -1]),
            ..SyscallEvent::default()
        });
        let mut visited = Vec::new();
        event.visit_fields(|field, value| visited.push((field.name, value)));
        let names: Vec<_> = visited.iter().map(|(name, _)| *name).collect();
        let catalogue: Vec<_> = field::of_kind(crate::EventKind::Syscall)
            .map(|field| field.name)
            .collect();
        assert_eq!(names, catalogue);
        let value = |name| visited.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(
            value("scrim.syscall.name"),
            Some(FieldValue::String("connect"))
        );
        assert_eq!(value("network.peer.port"), Some(FieldValue::Int(8080)));
        assert_eq!(
            value("scrim.syscall.ids"),
            Some(FieldValue::IntList(&[0, -1]))
        );
        assert_eq!(value("file.path"), Some(FieldValue::Null));
    }

    #[test]
    fn names_syscalls_both_ways() {
        assert_eq!(syscall_name(257), Some("openat"));
        assert_eq!(syscall_name(0), Some("read"));
        assert_eq!(syscall_number("connect"), Some(42));
        assert_eq!(syscall_name(100_000), None);
        assert_eq!(syscall_number("no_such_call"), None);
    }
}
