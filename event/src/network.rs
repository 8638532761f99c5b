//! TCP connection events: connect (or its failure), accept, close.
use crate::{
    FieldValue, ProcessContext, SocketAddress, UnixNanos,
    field::{self, Field},
    syscall::visit_address,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkEventKind {
    /// An outbound connection was established.
    Connect,
    /// An outbound connection attempt failed (refused, timed out, reset).
    ConnectFailed,
    /// An inbound connection was established.
    Accept,
    /// A connection this node saw open was closed.
    Close,
}

impl NetworkEventKind {
    /// The `event.name` value.
    pub fn event_name(self) -> &'static str {
        match self {
            NetworkEventKind::Connect => "network.connect",
            NetworkEventKind::ConnectFailed => "network.connect_failed",
            NetworkEventKind::Accept => "network.accept",
            NetworkEventKind::Close => "network.close",
        }
    }
}

/// Who opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A TCP connection event. The process is the socket's owner: the process
/// that connected, or the one that listened on the accepting port.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkEvent {
    pub kind: NetworkEventKind,
    pub time: UnixNanos,
    pub process: ProcessContext,
    pub direction: Direction,
    /// Both ends; absent when the tenant masks addresses.
    pub local: Option<SocketAddress>,
    pub peer: Option<SocketAddress>,
    /// Close only: data bytes sent (retransmissions included) and received.
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    /// Close only: nanoseconds since the connection was established.
    pub duration_ns: Option<u64>,
}

impl NetworkEvent {
    pub(crate) fn visit_fields<'a>(
        &'a self,
        mut visit: impl FnMut(&'static Field, FieldValue<'a>),
    ) {
        use FieldValue::{Int, Null, String, Timestamp};
        let counter = |value: Option<u64>| value.map_or(Null, |value| Int(value as i64));
        visit(&field::TIME, Timestamp(self.time));
        visit(&field::EVENT_NAME, String(self.kind.event_name()));
        self.process.visit_fields(&mut visit);
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
        visit(&field::NETWORK_TRANSPORT, String("tcp"));
        let version = self.local.or(self.peer).map(|socket| {
            if socket.address.is_ipv4() {
                "ipv4"
            } else {
                "ipv6"
            }
        });
        visit(&field::NETWORK_TYPE, version.map_or(Null, String));
        visit(&field::NETWORK_DIRECTION, String(self.direction.as_str()));
        visit(&field::NETWORK_BYTES_SENT, counter(self.bytes_sent));
        visit(&field::NETWORK_BYTES_RECEIVED, counter(self.bytes_received));
        visit(&field::NETWORK_DURATION, counter(self.duration_ns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, EventKind};

    #[test]
    fn visits_every_catalogued_field_in_order() {
        let event = Event::Network(NetworkEvent {
            kind: NetworkEventKind::Close,
            time: 10,
            process: ProcessContext::default(),
            direction: Direction::Inbound,
            local: Some(SocketAddress {
                address: [0u16, 0, 0, 0, 0, 0, 0, 1].into(),
                port: 443,
            }),
            peer: None,
            bytes_sent: Some(10),
            bytes_received: Some(20),
            duration_ns: Some(5),
        });
        let mut visited = Vec::new();
        event.visit_fields(|field, value| visited.push((field.name, value)));
        let names: Vec<_> = visited.iter().map(|(name, _)| *name).collect();
        let catalogue: Vec<_> = field::of_kind(EventKind::Network).map(|f| f.name).collect();
        assert_eq!(names, catalogue);
        let value = |name| visited.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(value("network.type"), Some(FieldValue::String("ipv6")));
        assert_eq!(
            value("event.name"),
            Some(FieldValue::String("network.close"))
        );
        assert_eq!(
            value("scrim.network.bytes_received"),
            Some(FieldValue::Int(20))
        );
        assert_eq!(value("network.peer.address"), Some(FieldValue::Null));
    }
}
