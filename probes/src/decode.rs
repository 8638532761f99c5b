//! Decodes ring-buffer records into events.
//!
//! The bytes come from the kernel, but a decoder that trusts its input is one
//! kernel/userspace version skew away from a crash: every length is checked,
//! and a bad record is an error for the caller to count, never a panic.
use bytemuck::Pod;
use std::{
    borrow::Cow,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use scrim_abi::{
    COMM_LEN, CgroupCreatedRecord, CgroupRemovedRecord, DIRECTION_INBOUND, DIRECTION_OUTBOUND,
    EXEC_ARGS_TRUNCATED, EXEC_PATH_TRUNCATED, FIELD_COMM, FIELD_COMMAND_ARGS, FIELD_EXEC_PATH,
    FIELD_SOCKET_ADDRESSES, FIELD_SYSCALL_ARGS, FIELD_SYSCALL_STRINGS, NETWORK_ACCEPT,
    NETWORK_CLOSE, NETWORK_CONNECT, NETWORK_CONNECT_FAILED, NetworkRecord, ProcessExecRecord,
    ProcessExitRecord, ProcessForkRecord, ProcessInfo, RecordHeader, RecordKind,
    SYSCALL_STRING_TRUNCATED, SyscallRecord, syscall,
};
use scrim_event::{
    Direction, Event, ExitStatus, NetworkEvent, NetworkEventKind, ProcessContext, ProcessEvent,
    ProcessEventKind, SocketAddress, SyscallEvent,
};

use crate::{TenantSlot, clock::BootClock};

/// An event, with the tenant slot the kernel filtered it for.
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    pub tenant: TenantSlot,
    pub event: Event,
    /// What its record took in the kernel's ring buffer (its 8-byte header
    /// and its data, rounded up to 8 bytes): userspace buffers are bounded
    /// in the same unit, so a burst the ring buffer could hold fits them.
    pub ring_bytes: u32,
}

/// The space a record of `len` bytes takes in a BPF ring buffer.
fn ring_footprint(len: usize) -> u32 {
    let rounded = len.div_ceil(8).saturating_mul(8).saturating_add(8);
    u32::try_from(rounded).unwrap_or(u32::MAX)
}

/// A cgroup that was just created, for userspace to place in a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCgroup {
    pub id: u64,
    /// Relative to the cgroup v2 root, starting with `/`.
    pub path: String,
}

/// What one ring-buffer record turned out to be.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "events are the common case; boxing them would allocate once per event"
)]
pub enum Decoded {
    Event(Captured),
    CgroupCreated(NewCgroup),
    /// A cgroup was removed: its id.
    CgroupRemoved(u64),
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("decoder: record of {len} bytes is shorter than its {header}-byte header")]
    ShorterThanHeader { len: usize, header: usize },
    #[error("decoder: unknown record kind {kind}")]
    UnknownKind { kind: u32 },
    #[error("decoder: {kind:?} record is {len} bytes, expected {expected}")]
    WrongSize {
        kind: RecordKind,
        len: usize,
        expected: usize,
    },
    #[error("decoder: {kind:?} record field `{field}` has unknown value {value}")]
    UnknownValue {
        kind: RecordKind,
        field: &'static str,
        value: u64,
    },
    #[error("decoder: record names tenant slot {slot}, beyond the kernel's {max}", max = TenantSlot::COUNT)]
    TenantSlotOutOfRange { slot: u32 },
    #[error(
        "decoder: {kind:?} record field `{field}` is {value}, beyond its capacity of {capacity}"
    )]
    LengthOutOfRange {
        kind: RecordKind,
        field: &'static str,
        value: usize,
        capacity: usize,
    },
}

/// Turns records into events, converting kernel times with one [`BootClock`].
#[derive(Clone, Copy, Debug)]
pub struct Decoder {
    clock: BootClock,
}

impl Decoder {
    pub fn new(clock: BootClock) -> Self {
        Decoder { clock }
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let header_len = size_of::<RecordHeader>();
        let short = || DecodeError::ShorterThanHeader {
            len: bytes.len(),
            header: header_len,
        };
        let header_bytes = bytes.get(..header_len).ok_or_else(short)?;
        let header: RecordHeader =
            bytemuck::try_pod_read_unaligned(header_bytes).map_err(|_| short())?;
        let kind = RecordKind::from_u32(header.kind)
            .ok_or(DecodeError::UnknownKind { kind: header.kind })?;
        let event = match kind {
            RecordKind::CgroupCreated => {
                let record = read_record::<CgroupCreatedRecord>(kind, bytes)?;
                let path = bounded(kind, "path_len", &record.path, record.path_len)?;
                return Ok(Decoded::CgroupCreated(NewCgroup {
                    id: record.cgroup_id,
                    path: String::from_utf8_lossy(path).into_owned(),
                }));
            }
            RecordKind::CgroupRemoved => {
                let record = read_record::<CgroupRemovedRecord>(kind, bytes)?;
                return Ok(Decoded::CgroupRemoved(record.cgroup_id));
            }
            RecordKind::ProcessExec => {
                Event::Process(self.exec(&*read_record::<ProcessExecRecord>(kind, bytes)?)?)
            }
            RecordKind::ProcessFork => {
                let record = read_record::<ProcessForkRecord>(kind, bytes)?;
                Event::Process(self.process_event(
                    ProcessEventKind::Fork,
                    &record.header,
                    &record.process,
                ))
            }
            RecordKind::ProcessExit => {
                let record = read_record::<ProcessExitRecord>(kind, bytes)?;
                Event::Process(ProcessEvent {
                    exit: Some(ExitStatus::from_wait_status(record.exit_code)),
                    ..self.process_event(ProcessEventKind::Exit, &record.header, &record.process)
                })
            }
            RecordKind::Network => {
                Event::Network(self.network(&*read_record::<NetworkRecord>(kind, bytes)?)?)
            }
            RecordKind::Syscall => {
                Event::Syscall(self.syscall(&*read_record::<SyscallRecord>(kind, bytes)?)?)
            }
        };
        let tenant =
            TenantSlot::new(header.tenant_slot).map_err(|_| DecodeError::TenantSlotOutOfRange {
                slot: header.tenant_slot,
            })?;
        Ok(Decoded::Event(Captured {
            tenant,
            event,
            ring_bytes: ring_footprint(bytes.len()),
        }))
    }

    /// The fields every event carries about its process.
    fn context(&self, process: &ProcessInfo) -> ProcessContext {
        ProcessContext {
            pid: process.tgid,
            parent_pid: process.ppid,
            real_user_id: process.uid,
            real_group_id: process.gid,
            cgroup_id: process.cgroup_id,
            executable_name: (process.fields & FIELD_COMM != 0)
                .then(|| nul_terminated(&process.comm)),
            creation_time: self.clock.to_unix(process.start_boot_time_ns),
        }
    }

    fn network(&self, record: &NetworkRecord) -> Result<NetworkEvent, DecodeError> {
        let process = &record.process;
        let kind = match record.event {
            NETWORK_CONNECT => NetworkEventKind::Connect,
            NETWORK_CONNECT_FAILED => NetworkEventKind::ConnectFailed,
            NETWORK_ACCEPT => NetworkEventKind::Accept,
            NETWORK_CLOSE => NetworkEventKind::Close,
            other => {
                return Err(DecodeError::UnknownValue {
                    kind: RecordKind::Network,
                    field: "event",
                    value: u64::from(other),
                });
            }
        };
        let direction = match record.direction {
            DIRECTION_OUTBOUND => Direction::Outbound,
            DIRECTION_INBOUND => Direction::Inbound,
            other => {
                return Err(DecodeError::UnknownValue {
                    kind: RecordKind::Network,
                    field: "direction",
                    value: u64::from(other),
                });
            }
        };
        let addresses = process.fields & FIELD_SOCKET_ADDRESSES != 0;
        let endpoint = |address: &[u8; 16], port: u16| {
            let address = match record.family {
                AF_INET => IpAddr::V4(Ipv4Addr::new(
                    address[0], address[1], address[2], address[3],
                )),
                AF_INET6 => IpAddr::V6(Ipv6Addr::from(*address)),
                _ => return None,
            };
            addresses.then_some(SocketAddress { address, port })
        };
        let time = self.clock.to_unix(record.header.boot_time_ns);
        let closed = kind == NetworkEventKind::Close;
        Ok(NetworkEvent {
            kind,
            time,
            process: self.context(process),
            direction,
            local: endpoint(&record.local_address, record.local_port),
            peer: endpoint(&record.peer_address, record.peer_port),
            bytes_sent: closed.then_some(record.bytes_sent),
            bytes_received: closed.then_some(record.bytes_received),
            duration_ns: (closed && record.established_boot_time_ns != 0).then(|| {
                record
                    .header
                    .boot_time_ns
                    .saturating_sub(record.established_boot_time_ns)
            }),
        })
    }

    fn syscall(&self, record: &SyscallRecord) -> Result<SyscallEvent, DecodeError> {
        let process = &record.process;
        let mut event = SyscallEvent {
            time: self.clock.to_unix(record.header.boot_time_ns),
            duration_ns: record
                .header
                .boot_time_ns
                .saturating_sub(record.enter_boot_time_ns),
            process: self.context(process),
            thread_id: record.thread_id,
            number: record.number,
            return_value: record.return_value,
            ..SyscallEvent::default()
        };
        if process.fields & FIELD_SYSCALL_STRINGS != 0 {
            let mut strings = [None, None, None];
            for (slot, string) in strings.iter_mut().enumerate() {
                let bytes = bounded(
                    RecordKind::Syscall,
                    "string_lens",
                    &record.strings[slot],
                    record.string_lens[slot],
                )?;
                if !bytes.is_empty() {
                    *string = Some(String::from_utf8_lossy(bytes).into_owned());
                }
            }
            let [first, second, third] = strings;
            if matches!(record.number, syscall::INIT_MODULE | syscall::FINIT_MODULE) {
                event.text = first;
            } else {
                event.path_truncated =
                    first.is_some() && record.flags & SYSCALL_STRING_TRUNCATED[0] != 0;
                event.path = first;
                event.second_path = second;
                event.text = third;
            }
        }
        if process.fields & FIELD_SYSCALL_ARGS != 0 {
            decode_integer_args(record.number, &record.args, record.extra, &mut event);
        }
        if process.fields & FIELD_SOCKET_ADDRESSES != 0 {
            let sockaddr = bounded(
                RecordKind::Syscall,
                "sockaddr_len",
                &record.sockaddr,
                record.sockaddr_len,
            )?;
            let address = socket_address(sockaddr);
            match record.number {
                syscall::BIND => event.local = address,
                syscall::CONNECT | syscall::ACCEPT | syscall::ACCEPT4 => event.peer = address,
                _ => {}
            }
        }
        Ok(event)
    }

    fn exec(&self, record: &ProcessExecRecord) -> Result<ProcessEvent, DecodeError> {
        let kind = RecordKind::ProcessExec;
        let path = bounded(kind, "path_len", &record.path, record.path_len)?;
        let args = bounded(kind, "args_len", &record.args, record.args_len)?;
        let fields = record.process.fields;
        let args_captured = fields & FIELD_COMMAND_ARGS != 0;
        Ok(ProcessEvent {
            executable_path: (fields & FIELD_EXEC_PATH != 0)
                .then(|| String::from_utf8_lossy(path).into_owned()),
            executable_path_truncated: record.flags & EXEC_PATH_TRUNCATED != 0,
            command_args: args_captured.then(|| split_args(args)),
            command_args_truncated: args_captured && record.flags & EXEC_ARGS_TRUNCATED != 0,
            ..self.process_event(ProcessEventKind::Exec, &record.header, &record.process)
        })
    }

    fn process_event(
        &self,
        kind: ProcessEventKind,
        header: &RecordHeader,
        process: &ProcessInfo,
    ) -> ProcessEvent {
        ProcessEvent {
            kind,
            time: self.clock.to_unix(header.boot_time_ns),
            process: self.context(process),
            executable_path: None,
            executable_path_truncated: false,
            command_args: None,
            command_args_truncated: false,
            exit: None,
        }
    }
}

/// Names the integer arguments the kernel kept. `int` arguments are
/// sign-extended from their low 32 bits: the upper half of the register is
/// not theirs.
fn decode_integer_args(number: u32, args: &[u64; 6], extra: u64, event: &mut SyscallEvent) {
    let int = |index: usize| i64::from(args[index] as u32 as i32);
    let unsigned = |index: usize| u64::from(args[index] as u32);
    match number {
        syscall::OPENAT => {
            event.fd = Some(int(0));
            event.flags = Some(unsigned(2));
            event.mode = Some(unsigned(3));
        }
        syscall::OPENAT2 => {
            event.fd = Some(int(0));
            event.flags = Some(extra);
        }
        syscall::EXECVEAT => {
            event.fd = Some(int(0));
            event.flags = Some(unsigned(4));
        }
        syscall::CONNECT | syscall::BIND | syscall::ACCEPT => event.fd = Some(int(0)),
        syscall::ACCEPT4 => {
            event.fd = Some(int(0));
            event.flags = Some(unsigned(3));
        }
        syscall::LISTEN => {
            event.fd = Some(int(0));
            event.target = Some(int(1));
        }
        syscall::UNLINKAT => {
            event.fd = Some(int(0));
            event.flags = Some(unsigned(2));
        }
        syscall::RENAMEAT2 => {
            event.fd = Some(int(0));
            event.flags = Some(unsigned(4));
        }
        syscall::SETUID | syscall::SETGID | syscall::SETFSUID | syscall::SETFSGID => {
            event.ids = Some(vec![int(0)]);
        }
        syscall::SETREUID | syscall::SETREGID => event.ids = Some(vec![int(0), int(1)]),
        syscall::SETRESUID | syscall::SETRESGID => {
            event.ids = Some(vec![int(0), int(1), int(2)]);
        }
        syscall::PTRACE => {
            event.request = Some(args[0] as i64);
            event.target = Some(int(1));
        }
        syscall::MOUNT => event.flags = Some(args[3]),
        syscall::INIT_MODULE => event.target = Some(args[1] as i64),
        syscall::FINIT_MODULE => {
            event.fd = Some(int(0));
            event.flags = Some(unsigned(2));
        }
        syscall::BPF => {
            event.request = Some(int(0));
            event.target = Some(unsigned(2) as i64);
        }
        _ => {}
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Reads a `sockaddr_in` or `sockaddr_in6`; other families (and short
/// buffers) have no IP address to report.
fn socket_address(sockaddr: &[u8]) -> Option<SocketAddress> {
    let family = u16::from_ne_bytes(sockaddr.get(..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(sockaddr.get(2..4)?.try_into().ok()?);
    let address = match family {
        AF_INET => {
            let octets: [u8; 4] = sockaddr.get(4..8)?.try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        AF_INET6 => {
            let octets: [u8; 16] = sockaddr.get(8..24)?.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddress { address, port })
}

/// Views `bytes` as a `T` in place: ring-buffer records are 8-byte aligned,
/// so the common case copies nothing; a misaligned buffer is copied.
fn read_record<T: Pod>(kind: RecordKind, bytes: &[u8]) -> Result<Cow<'_, T>, DecodeError> {
    let wrong_size = || DecodeError::WrongSize {
        kind,
        len: bytes.len(),
        expected: size_of::<T>(),
    };
    if bytes.len() != size_of::<T>() {
        return Err(wrong_size());
    }
    match bytemuck::try_from_bytes::<T>(bytes) {
        Ok(record) => Ok(Cow::Borrowed(record)),
        Err(_) => bytemuck::try_pod_read_unaligned(bytes)
            .map(Cow::Owned)
            .map_err(|_| wrong_size()),
    }
}

fn bounded<'a>(
    kind: RecordKind,
    field: &'static str,
    buffer: &'a [u8],
    len: u16,
) -> Result<&'a [u8], DecodeError> {
    buffer
        .get(..usize::from(len))
        .ok_or(DecodeError::LengthOutOfRange {
            kind,
            field,
            value: usize::from(len),
            capacity: buffer.len(),
        })
}

fn nul_terminated(bytes: &[u8; COMM_LEN]) -> String {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Splits a `/proc/PID/cmdline`-style block: each argument ends with a NUL,
/// except a last one cut short by truncation.
fn split_args(block: &[u8]) -> Vec<String> {
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    if block.is_empty() {
        return Vec::new();
    }
    block
        .split(|&byte| byte == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrim_abi::{CGROUP_PATH_CAPACITY, EXEC_ARGS_CAPACITY, EXEC_PATH_CAPACITY};

    const ALL_FIELDS: u32 = FIELD_COMM | FIELD_EXEC_PATH | FIELD_COMMAND_ARGS;

    fn decoder() -> Decoder {
        Decoder::new(BootClock::now())
    }

    fn header(kind: RecordKind) -> RecordHeader {
        RecordHeader {
            kind: kind as u32,
            tenant_slot: 3,
            boot_time_ns: 1_000,
        }
    }

    fn exec_record(path: &[u8], args: &[u8], fields: u32, flags: u32) -> ProcessExecRecord {
        let mut record = ProcessExecRecord {
            header: header(RecordKind::ProcessExec),
            process: ProcessInfo {
                tgid: 42,
                ppid: 1,
                uid: 1000,
                gid: 100,
                fields,
                reserved: 0,
                cgroup_id: 7,
                start_boot_time_ns: 500,
                comm: *b"true\0\0\0\0\0\0\0\0\0\0\0\0",
            },
            path_len: path.len() as u16,
            args_len: args.len() as u16,
            flags,
            path: [0; EXEC_PATH_CAPACITY],
            args: [0; EXEC_ARGS_CAPACITY],
        };
        record.path[..path.len()].copy_from_slice(path);
        record.args[..args.len()].copy_from_slice(args);
        record
    }

    fn decode_process(bytes: &[u8]) -> (TenantSlot, ProcessEvent) {
        match decoder().decode(bytes).expect("decodes") {
            Decoded::Event(Captured {
                tenant,
                event: Event::Process(process),
                ..
            }) => (tenant, process),
            other => panic!("not a process event: {other:?}"),
        }
    }

    #[test]
    fn decodes_an_exec_with_arguments() {
        let record = exec_record(b"/bin/true", b"true\0--flag\0x y\0", ALL_FIELDS, 0);
        let (tenant, event) = decode_process(bytemuck::bytes_of(&record));
        assert_eq!(tenant.index(), 3);
        assert_eq!(event.kind, ProcessEventKind::Exec);
        assert_eq!(event.process.pid, 42);
        assert_eq!(event.process.parent_pid, 1);
        assert_eq!(event.process.cgroup_id, 7);
        assert_eq!(event.process.executable_name.as_deref(), Some("true"));
        assert_eq!(event.executable_path.as_deref(), Some("/bin/true"));
        assert_eq!(
            event.command_args,
            Some(vec!["true".into(), "--flag".into(), "x y".into()])
        );
        assert!(!event.command_args_truncated);
        assert_eq!(event.process.creation_time - event.time, 500 - 1_000);
    }

    #[test]
    fn leaves_masked_fields_absent() {
        let record = exec_record(b"", b"", 0, 0);
        let (_, event) = decode_process(bytemuck::bytes_of(&record));
        assert_eq!(event.command_args, None);
        assert_eq!(event.executable_path, None);
        assert_eq!(event.process.executable_name, None);
    }

    #[test]
    fn keeps_a_truncated_last_argument() {
        let flags = EXEC_ARGS_TRUNCATED | EXEC_PATH_TRUNCATED;
        let record = exec_record(b"/very/long", b"cmd\0abc", ALL_FIELDS, flags);
        let (_, event) = decode_process(bytemuck::bytes_of(&record));
        assert_eq!(event.command_args, Some(vec!["cmd".into(), "abc".into()]));
        assert!(event.command_args_truncated);
        assert!(event.executable_path_truncated);
    }

    #[test]
    fn decodes_exit_status() {
        let record = ProcessExitRecord {
            header: header(RecordKind::ProcessExit),
            process: ProcessInfo::default(),
            exit_code: 3 << 8,
            reserved: 0,
        };
        let (_, event) = decode_process(bytemuck::bytes_of(&record));
        assert_eq!(event.exit.map(|exit| exit.code), Some(3));
    }

    #[test]
    fn decodes_a_new_cgroup() {
        let mut record = CgroupCreatedRecord {
            header: header(RecordKind::CgroupCreated),
            cgroup_id: 99,
            path_len: 9,
            reserved: [0; 3],
            path: [0; CGROUP_PATH_CAPACITY],
        };
        record.path[..9].copy_from_slice(b"/acme/web");
        assert_eq!(
            decoder().decode(bytemuck::bytes_of(&record)),
            Ok(Decoded::CgroupCreated(NewCgroup {
                id: 99,
                path: "/acme/web".into()
            }))
        );
    }

    #[test]
    fn decodes_a_removed_cgroup() {
        let record = CgroupRemovedRecord {
            header: header(RecordKind::CgroupRemoved),
            cgroup_id: 99,
        };
        assert_eq!(
            decoder().decode(bytemuck::bytes_of(&record)),
            Ok(Decoded::CgroupRemoved(99))
        );
        let short = &bytemuck::bytes_of(&record)[..20];
        assert!(decoder().decode(short).is_err());
    }

    #[test]
    fn rejects_a_record_with_trailing_bytes() {
        let record = ProcessForkRecord {
            header: header(RecordKind::ProcessFork),
            process: ProcessInfo::default(),
        };
        let mut bytes = bytemuck::bytes_of(&record).to_vec();
        assert!(decoder().decode(&bytes).is_ok());
        bytes.push(0);
        assert!(matches!(
            decoder().decode(&bytes),
            Err(DecodeError::WrongSize { .. })
        ));
    }

    #[test]
    fn rejects_malformed_records_without_panicking() {
        let decoder = decoder();
        assert!(matches!(
            decoder.decode(&[1, 0]),
            Err(DecodeError::ShorterThanHeader { .. })
        ));
        let mut unknown = [0u8; 16];
        unknown[0] = 99;
        assert_eq!(
            decoder.decode(&unknown),
            Err(DecodeError::UnknownKind { kind: 99 })
        );
        let mut record = exec_record(b"/bin/true", b"", ALL_FIELDS, 0);
        record.path_len = u16::MAX;
        assert!(matches!(
            decoder.decode(bytemuck::bytes_of(&record)),
            Err(DecodeError::LengthOutOfRange {
                field: "path_len",
                ..
            })
        ));
        record.path_len = 0;
        record.header.tenant_slot = u32::MAX;
        assert!(matches!(
            decoder.decode(bytemuck::bytes_of(&record)),
            Err(DecodeError::TenantSlotOutOfRange { .. })
        ));
        let short = &bytemuck::bytes_of(&record)[..100];
        assert!(matches!(
            decoder.decode(short),
            Err(DecodeError::WrongSize { .. })
        ));
    }
}
