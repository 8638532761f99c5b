//! Decodes ring-buffer records into events.
//!
//! The bytes come from the kernel, but a decoder that trusts its input is one
//! kernel/userspace version skew away from a crash: every length is checked,
//! and a bad record is an error for the caller to count, never a panic.
use bytemuck::Pod;
use scrim_abi::{
    COMM_LEN, EXEC_ARGS_CAPTURED, EXEC_ARGS_TRUNCATED, EXEC_PATH_TRUNCATED, ProcessExecRecord,
    ProcessExitRecord, ProcessForkRecord, ProcessInfo, RecordHeader, RecordKind,
};
use scrim_event::{Event, ExitStatus, ProcessEvent, ProcessEventKind};

use crate::clock::BootClock;

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

    pub fn decode(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        let header_len = size_of::<RecordHeader>();
        let header: RecordHeader =
            bytemuck::try_pod_read_unaligned(bytes.get(..header_len).ok_or(
                DecodeError::ShorterThanHeader {
                    len: bytes.len(),
                    header: header_len,
                },
            )?)
            .map_err(|_| DecodeError::ShorterThanHeader {
                len: bytes.len(),
                header: header_len,
            })?;
        let kind = RecordKind::from_u32(header.kind)
            .ok_or(DecodeError::UnknownKind { kind: header.kind })?;
        let event = match kind {
            RecordKind::ProcessExec => {
                self.exec(&read_record::<ProcessExecRecord>(kind, bytes)?)?
            }
            RecordKind::ProcessFork => {
                let record = read_record::<ProcessForkRecord>(kind, bytes)?;
                self.process_event(ProcessEventKind::Fork, &record.header, &record.process)
            }
            RecordKind::ProcessExit => {
                let record = read_record::<ProcessExitRecord>(kind, bytes)?;
                ProcessEvent {
                    exit: Some(ExitStatus::from_wait_status(record.exit_code)),
                    ..self.process_event(ProcessEventKind::Exit, &record.header, &record.process)
                }
            }
        };
        Ok(Event::Process(event))
    }

    fn exec(&self, record: &ProcessExecRecord) -> Result<ProcessEvent, DecodeError> {
        let path = bounded(
            RecordKind::ProcessExec,
            "path_len",
            &record.path,
            record.path_len,
        )?;
        let args = bounded(
            RecordKind::ProcessExec,
            "args_len",
            &record.args,
            record.args_len,
        )?;
        let args_captured = record.flags & EXEC_ARGS_CAPTURED != 0;
        Ok(ProcessEvent {
            executable_path: Some(String::from_utf8_lossy(path).into_owned()),
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
            pid: process.tgid,
            parent_pid: process.ppid,
            real_user_id: process.uid,
            real_group_id: process.gid,
            cgroup_id: process.cgroup_id,
            executable_name: nul_terminated(&process.comm),
            creation_time: self.clock.to_unix(process.start_boot_time_ns),
            executable_path: None,
            executable_path_truncated: false,
            command_args: None,
            command_args_truncated: false,
            exit: None,
        }
    }
}

fn read_record<T: Pod>(kind: RecordKind, bytes: &[u8]) -> Result<T, DecodeError> {
    bytemuck::try_pod_read_unaligned(bytes).map_err(|_| DecodeError::WrongSize {
        kind,
        len: bytes.len(),
        expected: size_of::<T>(),
    })
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
    use scrim_abi::{EXEC_ARGS_CAPACITY, EXEC_PATH_CAPACITY};

    fn decoder() -> Decoder {
        Decoder::new(BootClock::now())
    }

    fn exec_record(path: &[u8], args: &[u8], flags: u32) -> ProcessExecRecord {
        let mut record = ProcessExecRecord {
            header: RecordHeader {
                kind: RecordKind::ProcessExec as u32,
                reserved: 0,
                boot_time_ns: 1_000,
            },
            process: ProcessInfo {
                tgid: 42,
                ppid: 1,
                uid: 1000,
                gid: 100,
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

    fn process(event: Event) -> ProcessEvent {
        let Event::Process(process) = event;
        process
    }

    #[test]
    fn decodes_an_exec_with_arguments() {
        let record = exec_record(b"/bin/true", b"true\0--flag\0x y\0", EXEC_ARGS_CAPTURED);
        let event = process(
            decoder()
                .decode(bytemuck::bytes_of(&record))
                .expect("decodes"),
        );
        assert_eq!(event.kind, ProcessEventKind::Exec);
        assert_eq!(event.pid, 42);
        assert_eq!(event.parent_pid, 1);
        assert_eq!(event.cgroup_id, 7);
        assert_eq!(event.executable_name, "true");
        assert_eq!(event.executable_path.as_deref(), Some("/bin/true"));
        assert_eq!(
            event.command_args,
            Some(vec!["true".into(), "--flag".into(), "x y".into()])
        );
        assert!(!event.command_args_truncated);
        assert_eq!(event.creation_time - event.time, 500 - 1_000);
    }

    #[test]
    fn leaves_arguments_out_unless_captured() {
        let record = exec_record(b"/bin/true", b"", 0);
        let event = process(
            decoder()
                .decode(bytemuck::bytes_of(&record))
                .expect("decodes"),
        );
        assert_eq!(event.command_args, None);
    }

    #[test]
    fn keeps_a_truncated_last_argument() {
        let flags = EXEC_ARGS_CAPTURED | EXEC_ARGS_TRUNCATED | EXEC_PATH_TRUNCATED;
        let record = exec_record(b"/very/long", b"cmd\0abc", flags);
        let event = process(
            decoder()
                .decode(bytemuck::bytes_of(&record))
                .expect("decodes"),
        );
        assert_eq!(event.command_args, Some(vec!["cmd".into(), "abc".into()]));
        assert!(event.command_args_truncated);
        assert!(event.executable_path_truncated);
    }

    #[test]
    fn decodes_exit_status() {
        let record = ProcessExitRecord {
            header: RecordHeader {
                kind: RecordKind::ProcessExit as u32,
                reserved: 0,
                boot_time_ns: 10,
            },
            process: ProcessInfo::default(),
            exit_code: 3 << 8,
            reserved: 0,
        };
        let event = process(
            decoder()
                .decode(bytemuck::bytes_of(&record))
                .expect("decodes"),
        );
        assert_eq!(event.exit.map(|exit| exit.code), Some(3));
    }

    #[test]
    fn rejects_a_record_with_trailing_bytes() {
        let record = ProcessForkRecord {
            header: RecordHeader {
                kind: RecordKind::ProcessFork as u32,
                reserved: 0,
                boot_time_ns: 10,
            },
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
        let mut record = exec_record(b"/bin/true", b"", 0);
        record.path_len = u16::MAX;
        assert!(matches!(
            decoder.decode(bytemuck::bytes_of(&record)),
            Err(DecodeError::LengthOutOfRange {
                field: "path_len",
                ..
            })
        ));
        let short = &bytemuck::bytes_of(&record)[..100];
        assert!(matches!(
            decoder.decode(short),
            Err(DecodeError::WrongSize { .. })
        ));
    }
}
