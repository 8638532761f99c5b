//! TCP connection events against the real kernel, on loopback only: this
//! process listens, a child in a fresh cgroup connects, sends, receives and
//! closes, and both ends must be reported with their ports and byte counts.
//! Needs root; see `scrim_testkit::gate`.
use std::{
    io::{Read as _, Write as _},
    net::{IpAddr, SocketAddr, TcpListener},
    os::unix::process::CommandExt as _,
    thread,
    time::Duration,
};

use scrim_event::{Direction, Event, NetworkEvent, NetworkEventKind, SocketAddress};
use scrim_probes::{
    CaptureFields, CaptureKinds, ProbeOptions, Probes, SyscallSet, TenantFilter, TenantSlot,
};
use scrim_testkit::{cgroup::TestCgroup, gate};

mod common;

const CLIENT_SENDS: usize = 1000;
const SERVER_SENDS: usize = 500;

const NETWORK: TenantFilter = TenantFilter {
    kinds: CaptureKinds::NETWORK,
    fields: CaptureFields::COMM.union(CaptureFields::SOCKET_ADDRESSES),
    syscalls: SyscallSet::EMPTY,
    rate_limit: None,
};

/// The child's side, between fork and exec: raw syscalls on a prepared
/// address, no allocation.
fn client(server: SocketAddr) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
    let (family, address, length) = sockaddr(server);
    move || {
        let mut sent = [0x5a_u8; CLIENT_SENDS];
        let mut received = [0_u8; SERVER_SENDS];
        // SAFETY: every pointer is to a local that outlives the call.
        unsafe {
            let socket = libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if libc::connect(socket, address.as_ptr().cast(), length) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::write(socket, sent.as_mut_ptr().cast(), CLIENT_SENDS);
            let mut got = 0;
            while got < SERVER_SENDS {
                let read = libc::read(
                    socket,
                    received[got..].as_mut_ptr().cast(),
                    SERVER_SENDS - got,
                );
                if read <= 0 {
                    break;
                }
                got += read as usize;
            }
            libc::close(socket);
        }
        Ok(())
    }
}

/// `server` as raw `sockaddr_in`/`sockaddr_in6` bytes.
fn sockaddr(server: SocketAddr) -> (i32, [u8; 28], libc::socklen_t) {
    let mut bytes = [0u8; 28];
    match server {
        SocketAddr::V4(v4) => {
            bytes[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            bytes[2..4].copy_from_slice(&v4.port().to_be_bytes());
            bytes[4..8].copy_from_slice(&v4.ip().octets());
            (libc::AF_INET, bytes, 16)
        }
        SocketAddr::V6(v6) => {
            bytes[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            bytes[2..4].copy_from_slice(&v6.port().to_be_bytes());
            bytes[8..24].copy_from_slice(&v6.ip().octets());
            (libc::AF_INET6, bytes, 28)
        }
    }
}

async fn network_events(probes: &mut Probes, wait: Duration) -> Vec<NetworkEvent> {
    common::read_for(probes, wait)
        .await
        .into_iter()
        .filter_map(|captured| match captured.event {
            Event::Network(event) => Some(event),
            _ => None,
        })
        .collect()
}

fn only(
    events: &[NetworkEvent],
    pid: u32,
    kind: NetworkEventKind,
    local_port: u16,
) -> &NetworkEvent {
    let matching: Vec<_> = events
        .iter()
        .filter(|event| {
            event.process.pid == pid
                && event.kind == kind
                && event.local.map(|local| local.port) == Some(local_port)
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one {kind:?} of {pid} on port {local_port}: {events:#?}"
    );
    matching[0]
}

async fn reports_both_ends_of_a_loopback_connection(test: &str, loopback: IpAddr) {
    if !gate::root_or_skip(test) {
        return;
    }
    let options = ProbeOptions {
        excluded_tgid: None,
        default_tenant: NETWORK,
        ..ProbeOptions::default()
    };
    let Some(mut probes) = gate::or_skip(test, Probes::load(&options)) else {
        return;
    };
    let tenant = TestCgroup::create("network").expect("create a cgroup");
    probes
        .set_tenant_filter(TenantSlot::new(1).expect("slot"), &NETWORK)
        .expect("tenant filter");
    probes
        .assign_cgroup(tenant.id(), TenantSlot::new(1).expect("slot"))
        .expect("assign");

    let listener = TcpListener::bind((loopback, 0)).expect("listen on loopback");
    let server = listener.local_addr().expect("bound address");
    let serving = thread::spawn(move || {
        let (mut stream, peer) = listener.accept().expect("accept");
        let mut request = [0u8; CLIENT_SENDS];
        stream.read_exact(&mut request).expect("read the request");
        stream.write_all(&[0xa5; SERVER_SENDS]).expect("reply");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest); // until the client closes
        peer
    });
    let mut command = tenant.command("/bin/true").expect("open cgroup.procs");
    // SAFETY: the hook makes raw syscalls on prepared buffers only.
    unsafe {
        command.pre_exec(client(server));
    }
    let mut child = command.spawn().expect("run the client");
    let client_pid = child.id();
    assert!(child.wait().expect("wait").success());
    let client_address = serving.join().expect("server thread");

    let events = network_events(&mut probes, Duration::from_millis(500)).await;
    let me = std::process::id();
    let at = |port| SocketAddress {
        address: loopback,
        port,
    };

    let connect = only(
        &events,
        client_pid,
        NetworkEventKind::Connect,
        client_address.port(),
    );
    assert_eq!(connect.direction, Direction::Outbound);
    assert_eq!(connect.peer, Some(at(server.port())));
    assert_eq!(connect.process.cgroup_id, tenant.id());
    let client_close = only(
        &events,
        client_pid,
        NetworkEventKind::Close,
        client_address.port(),
    );
    assert_eq!(client_close.bytes_sent, Some(CLIENT_SENDS as u64));
    assert_eq!(client_close.bytes_received, Some(SERVER_SENDS as u64));
    assert!(client_close.duration_ns.is_some_and(|ns| ns > 0));

    // The accepting side belongs to this process, which listened.
    let accept = only(&events, me, NetworkEventKind::Accept, server.port());
    assert_eq!(accept.direction, Direction::Inbound);
    assert_eq!(accept.peer, Some(at(client_address.port())));
    let server_close = only(&events, me, NetworkEventKind::Close, server.port());
    assert_eq!(server_close.bytes_sent, Some(SERVER_SENDS as u64));
    assert_eq!(server_close.bytes_received, Some(CLIENT_SENDS as u64));
}

#[tokio::test(flavor = "current_thread")]
async fn reports_both_ends_of_an_ipv4_loopback_connection() {
    reports_both_ends_of_a_loopback_connection(
        "reports_both_ends_of_an_ipv4_loopback_connection",
        IpAddr::from([127, 0, 0, 1]),
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn reports_both_ends_of_an_ipv6_loopback_connection() {
    reports_both_ends_of_a_loopback_connection(
        "reports_both_ends_of_an_ipv6_loopback_connection",
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    )
    .await;
}
