//! Resolves [`KernelLayout`]: where the fields the kernel programs read live
//! on the running kernel.
//!
//! Rust eBPF has no CO-RE relocations, so this does in userspace what libbpf
//! does at load time: structure offsets come from the kernel's own BTF
//! (`/sys/kernel/btf/vmlinux`), tracepoint field offsets from the tracepoint's
//! `format` file in tracefs. Both are the kernel describing itself, so the
//! same binary runs on any kernel with BTF.
use std::path::{Path, PathBuf};

use btf_rs::{Btf, Type};
use scrim_abi::{FIELD_ABSENT, KernelLayout, sock_state_field};

use crate::ProbeError;

pub(crate) const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

// The x86_64 syscall convention: arguments in these `pt_regs` members, the
// number in `orig_ax` (`ax` holds the return value by exit).
#[cfg(target_arch = "x86_64")]
const SYSCALL_ARG_REGISTERS: [&str; 6] = ["di", "si", "dx", "r10", "r8", "r9"];
#[cfg(target_arch = "x86_64")]
const SYSCALL_NUMBER_REGISTER: &str = "orig_ax";
#[cfg(not(target_arch = "x86_64"))]
compile_error!("scrim's syscall probes support x86_64 only so far");
const TRACEFS_MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Reads the layout of the running kernel.
pub(crate) fn resolve() -> Result<KernelLayout, ProbeError> {
    if !Path::new(KERNEL_BTF).exists() {
        return Err(ProbeError::NoKernelBtf);
    }
    let btf = Btf::from_file(KERNEL_BTF).map_err(|error| ProbeError::KernelBtf {
        detail: error.to_string(),
    })?;
    let tracefs = tracefs_root()?;
    let byte_offset = |structure, member| member_byte_offset(&btf, structure, member);
    Ok(KernelLayout {
        task_pid: byte_offset("task_struct", "pid")?,
        task_tgid: byte_offset("task_struct", "tgid")?,
        task_real_parent: byte_offset("task_struct", "real_parent")?,
        task_exit_code: byte_offset("task_struct", "exit_code")?,
        task_mm: byte_offset("task_struct", "mm")?,
        task_start_boottime: byte_offset("task_struct", "start_boottime")?,
        mm_arg_start: byte_offset("mm_struct", "arg_start")?,
        mm_arg_end: byte_offset("mm_struct", "arg_end")?,
        exec_filename_loc: required_field(&tracefs, "sched", "sched_process_exec", "filename")?,
        exit_group_dead: tracepoint_field_offset(
            &tracefs,
            "sched",
            "sched_process_exit",
            "group_dead",
        )?
        .unwrap_or(FIELD_ABSENT),
        cgroup_mkdir_root: required_field(&tracefs, "cgroup", "cgroup_mkdir", "root")?,
        cgroup_mkdir_id: required_field(&tracefs, "cgroup", "cgroup_mkdir", "id")?,
        cgroup_mkdir_path_loc: required_field(&tracefs, "cgroup", "cgroup_mkdir", "path")?,
        regs_args: [
            byte_offset("pt_regs", SYSCALL_ARG_REGISTERS[0])?,
            byte_offset("pt_regs", SYSCALL_ARG_REGISTERS[1])?,
            byte_offset("pt_regs", SYSCALL_ARG_REGISTERS[2])?,
            byte_offset("pt_regs", SYSCALL_ARG_REGISTERS[3])?,
            byte_offset("pt_regs", SYSCALL_ARG_REGISTERS[4])?,
            byte_offset("pt_regs", SYSCALL_ARG_REGISTERS[5])?,
        ],
        regs_syscall_number: byte_offset("pt_regs", SYSCALL_NUMBER_REGISTER)?,
        tcp_bytes_sent: byte_offset("tcp_sock", "bytes_sent")?,
        tcp_bytes_received: byte_offset("tcp_sock", "bytes_received")?,
        task_group_leader: byte_offset("task_struct", "group_leader")?,
        sock_state: sock_state_offsets(&tracefs)?,
    })
}

fn sock_state_offsets(tracefs: &Path) -> Result<[u32; 11], ProbeError> {
    let mut offsets = [0; 11];
    for (offset, name) in offsets.iter_mut().zip(sock_state_field::NAMES) {
        *offset = required_field(tracefs, "sock", "inet_sock_set_state", name)?;
    }
    Ok(offsets)
}

fn required_field(
    tracefs: &Path,
    category: &str,
    name: &str,
    field: &str,
) -> Result<u32, ProbeError> {
    tracepoint_field_offset(tracefs, category, name, field)?.ok_or_else(|| {
        ProbeError::KernelLayout {
            what: format!("tracepoint {category}/{name} has no field `{field}`"),
        }
    })
}

/// Finds where tracefs is mounted. An unreadable mount is a permission
/// problem, not a missing one, and says so.
pub(crate) fn tracefs_root() -> Result<PathBuf, ProbeError> {
    for root in TRACEFS_MOUNTS.iter().map(PathBuf::from) {
        let events = root.join("events");
        match std::fs::metadata(&events) {
            Ok(metadata) if metadata.is_dir() => return Ok(root),
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ProbeError::PermissionDenied {
                    action: format!("reading {}", events.display()),
                });
            }
            _ => {}
        }
    }
    Err(ProbeError::NoTracefs)
}

/// Byte offset of `member` in `struct structure`, looking through anonymous
/// structs and unions (the kernel nests many fields in them).
fn member_byte_offset(btf: &Btf, structure: &str, member: &str) -> Result<u32, ProbeError> {
    let missing = || ProbeError::KernelLayout {
        what: format!("kernel BTF has no field `{structure}.{member}`"),
    };
    let types = btf
        .resolve_types_by_name(structure)
        .map_err(|_| missing())?;
    let definition = types
        .iter()
        .find_map(|candidate| match candidate {
            Type::Struct(definition) => Some(definition),
            _ => None,
        })
        .ok_or_else(missing)?;
    let bits = member_bit_offset(btf, definition, member).ok_or_else(missing)?;
    if bits % 8 != 0 {
        return Err(ProbeError::KernelLayout {
            what: format!("`{structure}.{member}` is a bit field"),
        });
    }
    Ok(bits / 8)
}

fn member_bit_offset(btf: &Btf, structure: &btf_rs::Struct, wanted: &str) -> Option<u32> {
    structure.members.iter().find_map(|member| {
        let name = btf.resolve_name(member).unwrap_or_default();
        if name == wanted {
            return Some(member.bit_offset());
        }
        if !name.is_empty() {
            return None;
        }
        match btf.resolve_chained_type(member).ok()? {
            Type::Struct(inner) | Type::Union(inner) => {
                member_bit_offset(btf, &inner, wanted).map(|bits| member.bit_offset() + bits)
            }
            _ => None,
        }
    })
}

/// Offset of `field` in a tracepoint's record, from its tracefs `format` file,
/// or `None` if this kernel's tracepoint has no such field.
fn tracepoint_field_offset(
    tracefs: &Path,
    category: &str,
    name: &str,
    field: &str,
) -> Result<Option<u32>, ProbeError> {
    let path = tracefs
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let format = std::fs::read_to_string(&path).map_err(|error| match error.kind() {
        std::io::ErrorKind::PermissionDenied => ProbeError::PermissionDenied {
            action: format!("reading {}", path.display()),
        },
        _ => ProbeError::KernelLayout {
            what: format!("cannot read {}: {error}", path.display()),
        },
    })?;
    Ok(parse_field_offset(&format, field))
}

/// Parses lines such as
/// `field:__data_loc char[] filename;<TAB>offset:8;<TAB>size:4;<TAB>signed:0;`.
fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let mut parts = line.trim().split(';').map(str::trim);
        let declaration = parts.next()?.strip_prefix("field:")?;
        let declared_name = declaration.rsplit([' ', '*']).next()?;
        let declared_name = declared_name.split('[').next()?;
        if declared_name != field {
            return None;
        }
        parts.next()?.strip_prefix("offset:")?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXIT_FORMAT: &str = "name: sched_process_exit
ID: 369
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:bool group_dead;\toffset:32;\tsize:1;\tsigned:0;
";

    #[test]
    fn finds_plain_array_and_data_loc_fields() {
        assert_eq!(parse_field_offset(EXIT_FORMAT, "group_dead"), Some(32));
        assert_eq!(parse_field_offset(EXIT_FORMAT, "comm"), Some(8));
        assert_eq!(parse_field_offset(EXIT_FORMAT, "pid"), Some(24));
        let exec = "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;";
        assert_eq!(parse_field_offset(exec, "filename"), Some(8));
    }

    #[test]
    fn reports_absent_fields_as_none() {
        assert_eq!(parse_field_offset(EXIT_FORMAT, "prio"), None);
        assert_eq!(parse_field_offset("garbage\n;;;", "pid"), None);
    }

    #[test]
    fn resolves_the_running_kernel_when_it_has_btf() {
        if !Path::new(KERNEL_BTF).exists() {
            eprintln!("skipping: no {KERNEL_BTF} on this kernel");
            return;
        }
        let btf = Btf::from_file(KERNEL_BTF).expect("kernel BTF parses");
        let pid = member_byte_offset(&btf, "task_struct", "pid").expect("task_struct.pid");
        let tgid = member_byte_offset(&btf, "task_struct", "tgid").expect("task_struct.tgid");
        // pid_t pid; pid_t tgid; are adjacent in every kernel since 2.6.
        assert_eq!(tgid, pid + 4);
        // arg_start sits inside an anonymous struct in mm_struct.
        let start = member_byte_offset(&btf, "mm_struct", "arg_start").expect("arg_start");
        let end = member_byte_offset(&btf, "mm_struct", "arg_end").expect("arg_end");
        assert_eq!(end, start + 8);
    }
}
