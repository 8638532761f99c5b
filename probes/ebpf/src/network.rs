//! TCP connections from `sock:inet_sock_set_state`: connect, accept, close.
//!
//! State changes often run in softirq context, where the current task is
//! whoever the CPU happened to interrupt. So a socket is tied to its owner
//! when the owner is certainly running: at connect (CLOSE -> SYN_SENT, inside
//! the connect syscall) and at listen (CLOSE -> LISTEN); an accepted socket
//! inherits the owner of the listener on its port. Later transitions look the
//! owner up.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns, bpf_probe_read_kernel},
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use scrim_abi::{
    DIRECTION_INBOUND, DIRECTION_OUTBOUND, FIELD_SOCKET_ADDRESSES, KIND_NETWORK, KernelLayout,
    NETWORK_ACCEPT, NETWORK_CLOSE, NETWORK_CONNECT, NETWORK_CONNECT_FAILED, NetworkRecord,
    ProcessInfo, RecordKind, sock_state_field as field,
};

use crate::{
    filter::admit,
    output::{reserve, submit},
    process::header,
    settings::{is_excluded, layout},
    task::{Task, fill_process_info},
};

const IPPROTO_TCP: u16 = 6;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const TCP_ESTABLISHED: i32 = 1;
const TCP_SYN_SENT: i32 = 2;
const TCP_SYN_RECV: i32 = 3;
const TCP_FIN_WAIT2: i32 = 5;
const TCP_CLOSE: i32 = 7;
const TCP_CLOSE_WAIT: i32 = 8;
const TCP_LAST_ACK: i32 = 9;
const TCP_LISTEN: i32 = 10;
const TCP_CLOSING: i32 = 11;

/// Who a socket belongs to, recorded while the owner was running.
#[derive(Clone, Copy)]
#[repr(C)]
struct Owner {
    process: ProcessInfo,
    slot: u32,
    fields: u32,
    direction: u32,
    reserved: u32,
    established_boot_time_ns: u64,
}

/// Tracked connections, by `struct sock` address. LRU: a socket freed
/// without passing TCP_CLOSE must not hold an entry forever.
#[map]
static SOCKETS: LruHashMap<u64, Owner> = LruHashMap::with_max_entries(65_536, 0);

/// Listening sockets' owners, by `family << 16 | port`.
#[map]
static LISTENERS: LruHashMap<u32, Owner> = LruHashMap::with_max_entries(4_096, 0);

/// The tracepoint's fields this program reads, at this kernel's offsets.
struct StateChange<'a> {
    ctx: &'a TracePointContext,
    layout: &'a KernelLayout,
}

impl StateChange<'_> {
    #[inline(always)]
    fn read<T>(&self, index: usize) -> Option<T> {
        let offset = *self.layout.sock_state.get(index)? as usize;
        unsafe { self.ctx.read_at::<T>(offset) }.ok()
    }
}

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn scrim_inet_sock_set_state(ctx: TracePointContext) -> u32 {
    let layout = layout();
    let change = StateChange {
        ctx: &ctx,
        layout: &layout,
    };
    if change.read::<u16>(field::PROTOCOL) != Some(IPPROTO_TCP) {
        return 0;
    }
    let (Some(old), Some(new), Some(socket), Some(family), Some(local_port)) = (
        change.read::<i32>(field::OLDSTATE),
        change.read::<i32>(field::NEWSTATE),
        change.read::<u64>(field::SKADDR),
        change.read::<u16>(field::FAMILY),
        change.read::<u16>(field::SPORT),
    ) else {
        return 0;
    };
    let listener = u32::from(family) << 16 | u32::from(local_port);
    match (old, new) {
        // Inside connect(): the owner is running.
        (TCP_CLOSE, TCP_SYN_SENT) => {
            if let Some(owner) = current_owner(&layout, DIRECTION_OUTBOUND) {
                let _ = SOCKETS.insert(socket, owner, 0);
            }
        }
        // Inside listen().
        (TCP_CLOSE, TCP_LISTEN) => {
            if let Some(owner) = current_owner(&layout, DIRECTION_INBOUND) {
                let _ = LISTENERS.insert(listener, owner, 0);
            }
        }
        (TCP_LISTEN, TCP_CLOSE) => {
            let _ = LISTENERS.remove(listener);
        }
        (TCP_SYN_SENT, TCP_ESTABLISHED) => {
            if let Some(owner) = SOCKETS.get_ptr_mut(socket) {
                let owner = unsafe { &mut *owner };
                owner.established_boot_time_ns = unsafe { bpf_ktime_get_boot_ns() };
                emit(&change, owner, NETWORK_CONNECT, socket, false);
            }
        }
        (TCP_SYN_SENT, TCP_CLOSE) => {
            if let Some(owner) = SOCKETS.get_ptr(socket) {
                emit(
                    &change,
                    unsafe { &*owner },
                    NETWORK_CONNECT_FAILED,
                    socket,
                    false,
                );
                let _ = SOCKETS.remove(socket);
            }
        }
        // A passive open completing, usually in softirq: the listener's
        // owner is the accepting process.
        (TCP_SYN_RECV, TCP_ESTABLISHED) => {
            if let Some(owner) = LISTENERS.get_ptr(listener) {
                let mut owner = unsafe { *owner };
                owner.established_boot_time_ns = unsafe { bpf_ktime_get_boot_ns() };
                emit(&change, &owner, NETWORK_ACCEPT, socket, false);
                let _ = SOCKETS.insert(socket, owner, 0);
            }
        }
        (_, TCP_CLOSE) => {
            if let Some(owner) = SOCKETS.get_ptr(socket) {
                // `bytes_received` counts sequence space, which the peer's FIN
                // takes one of; these are the states a FIN leads to.
                let fin_received = matches!(
                    old,
                    TCP_CLOSE_WAIT | TCP_LAST_ACK | TCP_CLOSING | TCP_FIN_WAIT2
                );
                let owner = unsafe { &*owner };
                emit(&change, owner, NETWORK_CLOSE, socket, fin_received);
                let _ = SOCKETS.remove(socket);
            }
        }
        _ => {}
    }
    0
}

/// The running task as a socket owner, if its tenant captures connections.
#[inline(always)]
fn current_owner(layout: &KernelLayout, direction: u32) -> Option<Owner> {
    if is_excluded((bpf_get_current_pid_tgid() >> 32) as u32) {
        return None;
    }
    let admitted = admit(KIND_NETWORK)?;
    let mut process = ProcessInfo::default();
    fill_process_info(&mut process, Task::current(), layout, &admitted);
    Some(Owner {
        process,
        slot: admitted.slot,
        fields: admitted.fields,
        direction,
        reserved: 0,
        established_boot_time_ns: 0,
    })
}

#[inline(always)]
fn emit(change: &StateChange, owner: &Owner, event: u32, socket: u64, fin_received: bool) {
    let Some(mut entry) = reserve::<NetworkRecord>() else {
        return;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    record.header = header(RecordKind::Network, owner.slot);
    record.process = owner.process;
    record.event = event;
    record.direction = owner.direction;
    record.family = change.read::<u16>(field::FAMILY).unwrap_or(0);
    record.reserved = 0;
    record.local_port = 0;
    record.peer_port = 0;
    record.local_address = [0; 16];
    record.peer_address = [0; 16];
    if owner.fields & FIELD_SOCKET_ADDRESSES != 0 {
        record.process.fields |= FIELD_SOCKET_ADDRESSES;
        record.local_port = change.read::<u16>(field::SPORT).unwrap_or(0);
        record.peer_port = change.read::<u16>(field::DPORT).unwrap_or(0);
        match record.family {
            AF_INET => {
                let local: [u8; 4] = change.read(field::SADDR).unwrap_or([0; 4]);
                let peer: [u8; 4] = change.read(field::DADDR).unwrap_or([0; 4]);
                record.local_address[..4].copy_from_slice(&local);
                record.peer_address[..4].copy_from_slice(&peer);
            }
            AF_INET6 => {
                record.local_address = change.read(field::SADDR_V6).unwrap_or([0; 16]);
                record.peer_address = change.read(field::DADDR_V6).unwrap_or([0; 16]);
            }
            _ => {}
        }
    }
    record.established_boot_time_ns = owner.established_boot_time_ns;
    let (sent, received) = if event == NETWORK_CLOSE {
        let socket = socket as *const u8;
        let layout = change.layout;
        unsafe {
            (
                bpf_probe_read_kernel(socket.add(layout.tcp_bytes_sent as usize) as *const u64),
                bpf_probe_read_kernel(socket.add(layout.tcp_bytes_received as usize) as *const u64),
            )
        }
    } else {
        (Ok(0), Ok(0))
    };
    record.bytes_sent = sent.unwrap_or(0);
    record.bytes_received = received
        .unwrap_or(0)
        .saturating_sub(u64::from(fin_received));
    submit(entry);
}
