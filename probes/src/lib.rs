//! Loads scrim's kernel programs, reads their ring buffer and decodes records
//! into [`scrim_event::Event`]s.
//!
//! ```no_run
//! # async fn example() -> Result<(), scrim_probes::ProbeError> {
//! let mut probes = scrim_probes::Probes::load(&scrim_probes::ProbeOptions::default())?;
//! let mut events = Vec::new();
//! probes.read(&mut events).await?;
//! # Ok(()) }
//! ```
mod clock;
mod decode;
mod error;
mod layout;

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{ProgramError, RawTracePoint, TracePoint},
};
use scrim_abi::{
    CAPTURE_COMMAND_ARGS, CaptureSettings, DEFAULT_RING_BUFFER_BYTES, KernelLayout, names,
};
use scrim_event::Event;
use tokio::io::{Interest, unix::AsyncFd};

pub use clock::BootClock;
pub use decode::{DecodeError, Decoder};
pub use error::ProbeError;
pub use scrim_abi::LossReason;

/// The kernel object built from `probes/ebpf` by `build.rs`.
static KERNEL_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/scrim-probes"));

/// What to capture and how.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Ring-buffer size in bytes: a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Copy process arguments out of the kernel. Off by default: arguments are
    /// where secrets leak, so they are never read unless something needs them.
    pub capture_command_args: bool,
    /// Drop, in the kernel, events caused by this thread group (normally the
    /// collector's own process).
    pub excluded_tgid: Option<u32>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
            capture_command_args: false,
            excluded_tgid: Some(std::process::id()),
        }
    }
}

/// Records the kernel could not deliver, summed over CPUs, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLosses {
    counts: [u64; LossReason::COUNT as usize],
}

impl KernelLosses {
    pub fn get(&self, reason: LossReason) -> u64 {
        self.counts[reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Loaded and attached probes. Dropping this detaches everything.
pub struct Probes {
    ring: AsyncFd<RingBuf<MapData>>,
    losses: PerCpuArray<MapData, u64>,
    decoder: Decoder,
    undecodable: u64,
    // Owns the programs and their links: must outlive the maps above.
    _ebpf: Ebpf,
}

impl Probes {
    /// Loads the programs, patches in this kernel's layout and the options,
    /// and attaches them. Fails with a message that says what to do.
    pub fn load(options: &ProbeOptions) -> Result<Self, ProbeError> {
        validate_ring_buffer_size(options.ring_buffer_bytes)?;
        let layout = layout::resolve()?;
        let settings = CaptureSettings {
            excluded_tgid: options.excluded_tgid.unwrap_or(0),
            flags: if options.capture_command_args {
                CAPTURE_COMMAND_ARGS
            } else {
                0
            },
        };
        let mut ebpf = load_object(&layout, &settings, options.ring_buffer_bytes)?;
        attach_all(&mut ebpf)?;

        let ring = take_map(&mut ebpf, names::EVENTS_MAP, RingBuf::try_from)?;
        // SAFETY: the ring buffer owns its map fd and never closes or replaces
        // it while `AsyncFd` holds it; both are dropped together.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|error| ProbeError::RingBuffer(error.into()))?;
        let losses = take_map(&mut ebpf, names::LOSSES_MAP, PerCpuArray::try_from)?;
        Ok(Probes {
            ring,
            losses,
            decoder: Decoder::new(BootClock::now()),
            undecodable: 0,
            _ebpf: ebpf,
        })
    }

    /// Waits until records arrive, then decodes every available one into
    /// `events`. Records that fail to decode are counted in
    /// [`Probes::undecodable`].
    pub async fn read(&mut self, events: &mut Vec<Event>) -> Result<(), ProbeError> {
        let mut guard = self
            .ring
            .readable_mut()
            .await
            .map_err(ProbeError::RingBuffer)?;
        drain(
            guard.get_inner_mut(),
            &self.decoder,
            &mut self.undecodable,
            events,
        );
        guard.clear_ready();
        Ok(())
    }

    /// Decodes whatever is in the ring buffer now, without waiting: the last
    /// read before shutting down.
    pub fn drain(&mut self, events: &mut Vec<Event>) {
        drain(
            self.ring.get_mut(),
            &self.decoder,
            &mut self.undecodable,
            events,
        );
    }

    /// Records that reached userspace but could not be decoded.
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// Reads the kernel's per-CPU loss counters.
    pub fn kernel_losses(&self) -> Result<KernelLosses, ProbeError> {
        let mut losses = KernelLosses::default();
        for reason in LossReason::ALL {
            let per_cpu =
                self.losses
                    .get(&(reason as u32), 0)
                    .map_err(|error| ProbeError::Map {
                        map: names::LOSSES_MAP,
                        detail: error.to_string(),
                    })?;
            losses.counts[reason as usize] = per_cpu.iter().sum();
        }
        Ok(losses)
    }
}

fn drain(
    ring: &mut RingBuf<MapData>,
    decoder: &Decoder,
    undecodable: &mut u64,
    events: &mut Vec<Event>,
) {
    while let Some(record) = ring.next() {
        match decoder.decode(&record) {
            Ok(event) => events.push(event),
            Err(_) => *undecodable += 1,
        }
    }
}

fn validate_ring_buffer_size(bytes: u32) -> Result<(), ProbeError> {
    // SAFETY: sysconf has no preconditions.
    let page_size = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    if bytes.is_power_of_two() && bytes >= page_size {
        Ok(())
    } else {
        Err(ProbeError::InvalidRingBufferSize { bytes, page_size })
    }
}

fn load_object(
    layout: &KernelLayout,
    settings: &CaptureSettings,
    ring_buffer_bytes: u32,
) -> Result<Ebpf, ProbeError> {
    // aya takes globals as slices of plain integers; both structs are u32s.
    let layout_words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(layout));
    let settings_words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(settings));
    EbpfLoader::new()
        .override_global(names::KERNEL_LAYOUT, layout_words, true)
        .override_global(names::CAPTURE_SETTINGS, settings_words, true)
        .map_max_entries(names::EVENTS_MAP, ring_buffer_bytes)
        .load(KERNEL_OBJECT)
        .map_err(|error| {
            if error::is_permission_error(&error) {
                ProbeError::PermissionDenied {
                    action: "creating BPF maps".into(),
                }
            } else {
                ProbeError::Load {
                    detail: error_chain(&error),
                }
            }
        })
}

/// The hooks, in the order they are attached: exit and fork before exec, so
/// no process whose exec was seen goes without its exit.
const TRACEPOINTS: [(&str, &str, &str); 2] = [
    (names::EXIT_PROGRAM, "sched", "sched_process_exit"),
    (names::EXEC_PROGRAM, "sched", "sched_process_exec"),
];
const RAW_TRACEPOINTS: [(&str, &str); 1] = [(names::FORK_PROGRAM, "sched_process_fork")];

fn attach_all(ebpf: &mut Ebpf) -> Result<(), ProbeError> {
    for (program_name, hook) in RAW_TRACEPOINTS {
        let program: &mut RawTracePoint = program_mut(ebpf, program_name)?;
        program
            .load()
            .map_err(|error| load_error(program_name, error))?;
        program
            .attach(hook)
            .map_err(|error| attach_error(program_name, hook, error))?;
    }
    for (program_name, category, hook) in TRACEPOINTS {
        let program: &mut TracePoint = program_mut(ebpf, program_name)?;
        program
            .load()
            .map_err(|error| load_error(program_name, error))?;
        program
            .attach(category, hook)
            .map_err(|error| attach_error(program_name, hook, error))?;
    }
    Ok(())
}

fn program_mut<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P, ProbeError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or_else(|| ProbeError::Load {
        detail: format!("the object has no program `{name}`"),
    })?;
    program
        .try_into()
        .map_err(|error: ProgramError| ProbeError::Load {
            detail: format!("program `{name}`: {error}"),
        })
}

fn load_error(program: &'static str, error: ProgramError) -> ProbeError {
    if error::is_permission_error(&error) {
        return ProbeError::PermissionDenied {
            action: format!("loading program `{program}`"),
        };
    }
    match error {
        ProgramError::LoadError { verifier_log, .. } => {
            let log = verifier_log.to_string();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            ProbeError::VerifierRejected { program, log: tail }
        }
        other => ProbeError::Load {
            detail: format!("program `{program}`: {}", error_chain(&other)),
        },
    }
}

fn attach_error(program: &'static str, hook: &'static str, error: ProgramError) -> ProbeError {
    if error::is_permission_error(&error) {
        return ProbeError::PermissionDenied {
            action: format!("attaching `{program}` to {hook}"),
        };
    }
    if error::os_error_code(&error) == Some(libc::ENOENT) && layout::tracefs_root().is_err() {
        return ProbeError::NoTracefs;
    }
    ProbeError::Attach {
        program,
        hook,
        detail: error_chain(&error),
    }
}

fn take_map<T, E: std::fmt::Display>(
    ebpf: &mut Ebpf,
    name: &'static str,
    convert: impl FnOnce(aya::maps::Map) -> Result<T, E>,
) -> Result<T, ProbeError> {
    let map = ebpf.take_map(name).ok_or_else(|| ProbeError::Map {
        map: name,
        detail: "missing from the object".into(),
    })?;
    convert(map).map_err(|error| ProbeError::Map {
        map: name,
        detail: error.to_string(),
    })
}

/// `error: cause: cause` on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_rejection_names_the_program_and_keeps_the_end_of_the_log() {
        let log: String = (1..=30)
            .map(|line| format!("verifier line {line}\n"))
            .collect();
        let error = load_error(
            names::EXEC_PROGRAM,
            ProgramError::LoadError {
                io_error: std::io::Error::from_raw_os_error(libc::EINVAL),
                verifier_log: aya_obj::VerifierLog::new(log),
            },
        );
        let message = error.to_string();
        assert!(
            message.contains("rejected program `scrim_process_exec`"),
            "{message}"
        );
        assert!(message.contains("uname -r"), "{message}");
        assert!(message.contains("verifier line 30"), "{message}");
        assert!(message.contains("verifier line 11"), "{message}");
        assert!(!message.contains("verifier line 10\n"), "{message}");
    }

    #[test]
    fn a_permission_error_says_how_to_get_permission() {
        let error = load_error(
            names::FORK_PROGRAM,
            ProgramError::LoadError {
                io_error: std::io::Error::from_raw_os_error(libc::EPERM),
                verifier_log: aya_obj::VerifierLog::new(String::new()),
            },
        );
        let message = error.to_string();
        assert!(message.contains("permission denied"), "{message}");
        assert!(message.contains("CAP_BPF and CAP_PERFMON"), "{message}");
    }

    #[test]
    fn refuses_ring_buffer_sizes_the_kernel_would() {
        assert!(validate_ring_buffer_size(4 << 20).is_ok());
        for bytes in [0, 1000, 3 << 20] {
            let error = validate_ring_buffer_size(bytes).expect_err("invalid size accepted");
            assert!(error.to_string().contains("power of two"), "{error}");
        }
    }
}
