//! Everything that can stop the probes, each with what to do about it.
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "probes: this kernel exposes no BTF at /sys/kernel/btf/vmlinux; scrim needs \
         Linux 5.8 or newer built with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoKernelBtf,

    #[error("probes: cannot read the kernel's BTF at /sys/kernel/btf/vmlinux: {detail}")]
    KernelBtf { detail: String },

    #[error(
        "probes: tracefs is not mounted; mount it with \
         `mount -t tracefs tracefs /sys/kernel/tracing` (scripts/setup.sh does this)"
    )]
    NoTracefs,

    #[error("probes: unsupported kernel: {what}")]
    KernelLayout { what: String },

    #[error(
        "probes: permission denied while {action}; run scrim as root, or grant it \
         CAP_BPF and CAP_PERFMON (plus CAP_DAC_READ_SEARCH to read tracefs)"
    )]
    PermissionDenied { action: String },

    #[error(
        "probes: the kernel verifier rejected program `{program}`: this is a scrim bug or an \
         unsupported kernel; please report it with the output of `uname -r`\n\
         verifier log (last lines):\n{log}"
    )]
    VerifierRejected { program: &'static str, log: String },

    #[error(
        "probes: ring buffer size {bytes} is invalid: it must be a power of two and at least \
         one page ({page_size} bytes)"
    )]
    InvalidRingBufferSize { bytes: u32, page_size: u32 },

    #[error("probes: cannot attach `{program}` to {hook}: {detail}")]
    Attach {
        program: &'static str,
        hook: &'static str,
        detail: String,
    },

    #[error("probes: cannot load the eBPF object: {detail}")]
    Load { detail: String },

    #[error("probes: tenant slot {index} is out of range (the kernel has {max} slots)", max = scrim_abi::TENANT_SLOTS)]
    TenantSlotOutOfRange { index: u32 },

    #[error("probes: syscall number {number} is beyond the {max} the kernel filter holds", max = scrim_abi::SYSCALL_SLOTS)]
    SyscallOutOfRange { number: u32 },

    #[error(
        "probes: {given} uid rules (uid opt-outs and uid_range selectors together); the kernel \
         filter holds at most {max}",
        max = scrim_abi::MAX_UID_RULES
    )]
    TooManyUidRules { given: usize },

    #[error("probes: map `{map}`: {detail}")]
    Map { map: &'static str, detail: String },

    #[error("probes: waiting on the ring buffer failed: {0}")]
    RingBuffer(#[source] io::Error),
}

/// The first OS error code in an error's source chain, if any.
pub(crate) fn os_error_code(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(code) = error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        current = error.source();
    }
    None
}

pub(crate) fn is_permission_error(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(os_error_code(error), Some(libc::EPERM | libc::EACCES))
}
