//! Loads scrim's kernel programs, steers their in-kernel filter, reads their
//! ring buffer and decodes records into [`scrim_event::Event`]s.
//!
//! ```no_run
//! # async fn example() -> Result<(), scrim_probes::ProbeError> {
//! use scrim_probes::{ProbeOptions, Probes};
//! let mut probes = Probes::load(&ProbeOptions::default())?;
//! let mut captured = Vec::new();
//! probes.read(&mut captured).await?;
//! # Ok(()) }
//! ```
mod cgroup;
mod clock;
mod decode;
mod error;
mod filter;
mod layout;

use std::collections::BTreeMap;

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{ProgramError, RawTracePoint, TracePoint, raw_trace_point::RawTracePointLinkId},
};
use scrim_abi::{
    DEFAULT_RING_BUFFER_BYTES, KernelLayout, RateBucket, SLOT_OPTED_OUT, SyscallBitmap, names,
};
use tokio::io::{Interest, unix::AsyncFd};

pub use cgroup::{cgroup2_root, list_cgroups};
pub use clock::BootClock;
pub use decode::{Captured, DecodeError, Decoded, Decoder, NewCgroup};
pub use error::ProbeError;
pub use filter::{
    CaptureFields, CaptureKinds, RateLimit, SyscallSet, TenantFilter, TenantSlot, UidOwner,
    UidRange, UnknownCgroups,
};
pub use scrim_abi::KernelCounter;

/// The kernel wakes the reader once this fraction of the ring buffer is
/// unread; below it, the reader's timed poll collects records.
const WAKEUP_FRACTION: u32 = 8;
/// How long a record can wait for the reader when no wakeup comes.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// The kernel object built from `probes/ebpf` by `build.rs`.
static KERNEL_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/scrim-probes"));

/// How to load the probes. Filters can change later; these cannot.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Ring-buffer size in bytes: a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Drop, in the kernel, events caused by this thread group (normally the
    /// collector's own process).
    pub excluded_tgid: Option<u32>,
    /// The default tenant's filter, in place before the first event.
    pub default_tenant: TenantFilter,
    /// What happens to cgroups no tenant claims.
    pub unknown_cgroups: UnknownCgroups,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
            excluded_tgid: Some(std::process::id()),
            default_tenant: TenantFilter::DEFAULT,
            unknown_cgroups: UnknownCgroups::default(),
        }
    }
}

/// A change in the cgroup v2 hierarchy, announced by the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupChange {
    /// To place in a tenant before its first events.
    Created(NewCgroup),
    /// Gone: its id, already removed from the kernel's tenant map.
    Removed(u64),
}

/// The kernel's counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    counts: [u64; KernelCounter::COUNT as usize],
}

impl KernelCounters {
    pub fn get(&self, counter: KernelCounter) -> u64 {
        self.counts[counter as usize]
    }

    /// Records dropped on purpose by the filter.
    pub fn filtered(&self) -> u64 {
        [
            KernelCounter::OptedOutCgroup,
            KernelCounter::UnknownCgroup,
            KernelCounter::FilteredKind,
            KernelCounter::FilteredSyscall,
            KernelCounter::RateLimited,
        ]
        .into_iter()
        .map(|counter| self.get(counter))
        .sum()
    }

    /// Records lost against anyone's wishes.
    pub fn lost(&self) -> u64 {
        self.get(KernelCounter::RingBufferFull)
    }
}

/// The filter maps userspace writes.
struct FilterMaps {
    cgroup_tenants: HashMap<MapData, u64, u32>,
    tenant_filters: Array<MapData, scrim_abi::TenantFilter>,
    rate_buckets: Array<MapData, RateBucket>,
    settings: Array<MapData, scrim_abi::FilterSettings>,
    /// What `settings` holds now: each setter changes one field.
    settings_written: scrim_abi::FilterSettings,
    uid_rules: Array<MapData, scrim_abi::UidRule>,
    wanted_syscalls: Array<MapData, SyscallBitmap>,
    /// What userspace last wrote for each slot, to derive `wanted_syscalls`.
    written: BTreeMap<TenantSlot, TenantFilter>,
}

/// Loaded and attached probes. Dropping this detaches everything.
pub struct Probes {
    ring: AsyncFd<RingBuf<MapData>>,
    counters: PerCpuArray<MapData, u64>,
    rate_limited: PerCpuArray<MapData, u64>,
    filters: FilterMaps,
    decoder: Decoder,
    undecodable: u64,
    cgroup_changes: Vec<CgroupChange>,
    /// The syscall hooks' links, while some tenant wants a syscall.
    syscall_links: Option<[RawTracePointLinkId; 2]>,
    // Owns the programs and their links: must outlive the maps above.
    ebpf: Ebpf,
}

impl Probes {
    /// Loads the programs, patches in this kernel's layout, installs the
    /// default tenant's filter and attaches everything. Fails with a message
    /// that says what to do.
    pub fn load(options: &ProbeOptions) -> Result<Self, ProbeError> {
        validate_ring_buffer_size(options.ring_buffer_bytes)?;
        let layout = layout::resolve()?;
        let mut ebpf = load_object(&layout, options)?;
        let mut filters = FilterMaps {
            cgroup_tenants: take_map(&mut ebpf, names::CGROUP_TENANTS_MAP, HashMap::try_from)?,
            tenant_filters: take_map(&mut ebpf, names::TENANT_FILTERS_MAP, Array::try_from)?,
            rate_buckets: take_map(&mut ebpf, names::RATE_BUCKETS_MAP, Array::try_from)?,
            settings: take_map(&mut ebpf, names::FILTER_SETTINGS_MAP, Array::try_from)?,
            settings_written: scrim_abi::FilterSettings {
                unknown_cgroups: options.unknown_cgroups.to_kernel(),
                uid_rules: 0,
            },
            uid_rules: take_map(&mut ebpf, names::UID_RULES_MAP, Array::try_from)?,
            wanted_syscalls: take_map(&mut ebpf, names::WANTED_SYSCALLS_MAP, Array::try_from)?,
            written: BTreeMap::new(),
        };
        // Filters first: a program attached before them would see zeroes
        // and drop everything.
        write_map(names::FILTER_SETTINGS_MAP, || {
            filters.settings.set(0, filters.settings_written, 0)
        })?;
        write_tenant_filter(&mut filters, TenantSlot::DEFAULT, &options.default_tenant)?;
        attach_all(&mut ebpf)?;
        load_syscall_programs(&mut ebpf)?;

        let ring = take_map(&mut ebpf, names::EVENTS_MAP, RingBuf::try_from)?;
        // SAFETY: the ring buffer owns its map fd and never closes or replaces
        // it while `AsyncFd` holds it; both are dropped together.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|error| ProbeError::RingBuffer(error.into()))?;
        let counters = take_map(&mut ebpf, names::COUNTERS_MAP, PerCpuArray::try_from)?;
        let rate_limited = take_map(&mut ebpf, names::RATE_LIMITED_MAP, PerCpuArray::try_from)?;
        let mut probes = Probes {
            ring,
            counters,
            rate_limited,
            filters,
            decoder: Decoder::new(BootClock::now()),
            undecodable: 0,
            cgroup_changes: Vec::new(),
            syscall_links: None,
            ebpf,
        };
        probes.sync_syscall_hooks()?;
        Ok(probes)
    }

    /// Waits until the kernel signals a backlog or a short poll interval
    /// passes, then decodes every available record: events into `captured`,
    /// cgroups created and removed into [`Probes::take_cgroup_changes`].
    /// Records that fail to
    /// decode are counted in [`Probes::undecodable`].
    pub async fn read(&mut self, captured: &mut Vec<Captured>) -> Result<(), ProbeError> {
        match tokio::time::timeout(POLL_INTERVAL, self.ring.readable_mut()).await {
            Ok(guard) => {
                let mut guard = guard.map_err(ProbeError::RingBuffer)?;
                drain(
                    guard.get_inner_mut(),
                    &self.decoder,
                    &mut self.undecodable,
                    captured,
                    &mut self.cgroup_changes,
                );
                guard.clear_ready();
            }
            Err(_) => self.drain(captured),
        }
        Ok(())
    }

    /// Decodes whatever is in the ring buffer now, without waiting: the last
    /// read before shutting down.
    pub fn drain(&mut self, captured: &mut Vec<Captured>) {
        drain(
            self.ring.get_mut(),
            &self.decoder,
            &mut self.undecodable,
            captured,
            &mut self.cgroup_changes,
        );
    }

    /// Cgroups created (to place) and removed (to forget) since the last
    /// call, in the order the kernel saw them.
    pub fn take_cgroup_changes(&mut self) -> Vec<CgroupChange> {
        std::mem::take(&mut self.cgroup_changes)
    }

    /// Records that reached userspace but could not be decoded.
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// Reads the kernel's per-CPU counters.
    pub fn kernel_counters(&self) -> Result<KernelCounters, ProbeError> {
        let mut counters = KernelCounters::default();
        for counter in KernelCounter::ALL {
            let per_cpu = self
                .counters
                .get(&(counter as u32), 0)
                .map_err(|error| map_error(names::COUNTERS_MAP, error))?;
            counters.counts[counter as usize] = per_cpu.iter().sum();
        }
        Ok(counters)
    }

    /// Sets what `slot`'s tenant captures, from its next event on.
    pub fn set_tenant_filter(
        &mut self,
        slot: TenantSlot,
        filter: &TenantFilter,
    ) -> Result<(), ProbeError> {
        write_tenant_filter(&mut self.filters, slot, filter)?;
        self.sync_syscall_hooks()
    }

    /// Publishes the union of every tenant's syscalls, and attaches the
    /// syscall hooks only while it is not empty: with no syscall wanted, no
    /// syscall on the node pays for scrim.
    fn sync_syscall_hooks(&mut self) -> Result<(), ProbeError> {
        let wanted = self
            .filters
            .written
            .values()
            .fold(SyscallSet::EMPTY, |union, filter| {
                union.union(&filter.wanted_syscalls())
            });
        write_map(names::WANTED_SYSCALLS_MAP, || {
            self.filters.wanted_syscalls.set(0, wanted.bitmap(), 0)
        })?;
        self.syscall_links = match (wanted.is_empty(), self.syscall_links.take()) {
            (false, None) => {
                let enter = attach_raw(&mut self.ebpf, names::SYS_ENTER_PROGRAM, "sys_enter")?;
                let exit = attach_raw(&mut self.ebpf, names::SYS_EXIT_PROGRAM, "sys_exit")?;
                Some([enter, exit])
            }
            (true, Some([enter, exit])) => {
                detach_raw(&mut self.ebpf, names::SYS_ENTER_PROGRAM, enter)?;
                detach_raw(&mut self.ebpf, names::SYS_EXIT_PROGRAM, exit)?;
                None
            }
            (_, links) => links,
        };
        Ok(())
    }

    /// Puts a cgroup's events under `slot`'s tenant.
    pub fn assign_cgroup(&mut self, cgroup_id: u64, slot: TenantSlot) -> Result<(), ProbeError> {
        write_map(names::CGROUP_TENANTS_MAP, || {
            self.filters
                .cgroup_tenants
                .insert(cgroup_id, slot.index(), 0)
        })
    }

    /// Drops a cgroup's events in the kernel, counted as
    /// [`KernelCounter::OptedOutCgroup`].
    pub fn opt_out_cgroup(&mut self, cgroup_id: u64) -> Result<(), ProbeError> {
        write_map(names::CGROUP_TENANTS_MAP, || {
            self.filters
                .cgroup_tenants
                .insert(cgroup_id, SLOT_OPTED_OUT, 0)
        })
    }

    /// The tenant slot the kernel holds for a cgroup, if any (`None` also
    /// for an opted-out cgroup's marker, which is not a slot).
    pub fn assigned_slot(&self, cgroup_id: u64) -> Result<Option<TenantSlot>, ProbeError> {
        match self.filters.cgroup_tenants.get(&cgroup_id, 0) {
            Ok(slot) => Ok(TenantSlot::new(slot).ok()),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(error) => Err(map_error(names::CGROUP_TENANTS_MAP, error)),
        }
    }

    /// Forgets a cgroup (it was removed, or left its tenant): its events, if
    /// any, get the unknown-cgroup action.
    pub fn forget_cgroup(&mut self, cgroup_id: u64) -> Result<(), ProbeError> {
        match self.filters.cgroup_tenants.remove(&cgroup_id) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            // aya reports a missing key as the syscall's ENOENT.
            Err(aya::maps::MapError::SyscallError(error))
                if error.io_error.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(())
            }
            Err(error) => Err(map_error(names::CGROUP_TENANTS_MAP, error)),
        }
    }

    /// Records each tenant slot's rate limit has dropped in the kernel so
    /// far, by slot index (slots that never dropped any are absent).
    pub fn rate_limited_by_slot(&self) -> Result<Vec<(TenantSlot, u64)>, ProbeError> {
        let mut limited = Vec::new();
        for index in 0..TenantSlot::COUNT {
            let per_cpu = self
                .rate_limited
                .get(&index, 0)
                .map_err(|error| map_error(names::RATE_LIMITED_MAP, error))?;
            let total: u64 = per_cpu.iter().sum();
            if total > 0 {
                limited.push((TenantSlot::new(index)?, total));
            }
        }
        Ok(limited)
    }

    /// Sets what happens to events of cgroups no tenant claims.
    pub fn set_unknown_cgroups(&mut self, action: UnknownCgroups) -> Result<(), ProbeError> {
        self.write_settings(scrim_abi::FilterSettings {
            unknown_cgroups: action.to_kernel(),
            ..self.filters.settings_written
        })
    }

    /// Replaces the uid rules the kernel checks for every event, first
    /// match deciding: put opt-outs first, so that they win over tenants.
    /// At most [`scrim_abi::MAX_UID_RULES`].
    pub fn set_uid_ranges(&mut self, ranges: &[UidRange]) -> Result<(), ProbeError> {
        let count = u32::try_from(ranges.len())
            .ok()
            .filter(|count| *count <= scrim_abi::MAX_UID_RULES)
            .ok_or(ProbeError::TooManyUidRules {
                given: ranges.len(),
            })?;
        // Entries first, then the count that puts them in force.
        for (index, range) in (0..).zip(ranges) {
            write_map(names::UID_RULES_MAP, || {
                self.filters.uid_rules.set(index, range.to_kernel(), 0)
            })?;
        }
        self.write_settings(scrim_abi::FilterSettings {
            uid_rules: count,
            ..self.filters.settings_written
        })
    }

    fn write_settings(&mut self, settings: scrim_abi::FilterSettings) -> Result<(), ProbeError> {
        write_map(names::FILTER_SETTINGS_MAP, || {
            self.filters.settings.set(0, settings, 0)
        })?;
        self.filters.settings_written = settings;
        Ok(())
    }
}

fn write_tenant_filter(
    filters: &mut FilterMaps,
    slot: TenantSlot,
    filter: &TenantFilter,
) -> Result<(), ProbeError> {
    write_map(names::TENANT_FILTERS_MAP, || {
        filters
            .tenant_filters
            .set(slot.index(), filter.to_kernel(), 0)
    })?;
    filters.written.insert(slot, *filter);
    // A new limit starts with an empty bucket that refills at once.
    write_map(names::RATE_BUCKETS_MAP, || {
        filters
            .rate_buckets
            .set(slot.index(), RateBucket::default(), 0)
    })
}

fn write_map(
    map: &'static str,
    write: impl FnOnce() -> Result<(), aya::maps::MapError>,
) -> Result<(), ProbeError> {
    write().map_err(|error| map_error(map, error))
}

fn map_error(map: &'static str, error: aya::maps::MapError) -> ProbeError {
    ProbeError::Map {
        map,
        detail: error_chain(&error),
    }
}

fn drain(
    ring: &mut RingBuf<MapData>,
    decoder: &Decoder,
    undecodable: &mut u64,
    captured: &mut Vec<Captured>,
    cgroup_changes: &mut Vec<CgroupChange>,
) {
    while let Some(record) = ring.next() {
        match decoder.decode(&record) {
            Ok(Decoded::Event(event)) => captured.push(event),
            Ok(Decoded::CgroupCreated(cgroup)) => {
                cgroup_changes.push(CgroupChange::Created(cgroup))
            }
            Ok(Decoded::CgroupRemoved(id)) => cgroup_changes.push(CgroupChange::Removed(id)),
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

fn load_object(layout: &KernelLayout, options: &ProbeOptions) -> Result<Ebpf, ProbeError> {
    let excluded_tgid = options.excluded_tgid.unwrap_or(0);
    let wakeup_bytes = u64::from(options.ring_buffer_bytes / WAKEUP_FRACTION);
    EbpfLoader::new()
        .override_global(names::KERNEL_LAYOUT, layout, true)
        .override_global(names::EXCLUDED_TGID, &excluded_tgid, true)
        .override_global(names::WAKEUP_BYTES, &wakeup_bytes, true)
        .map_max_entries(names::EVENTS_MAP, options.ring_buffer_bytes)
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

/// The hooks, in the order they are attached: cgroup creation first, so no
/// cgroup's first events precede its announcement; exit and fork before
/// exec, so no process whose exec was seen goes without its exit.
const TRACEPOINTS: [(&str, &str, &str); 5] = [
    (names::CGROUP_MKDIR_PROGRAM, "cgroup", "cgroup_mkdir"),
    (names::CGROUP_RMDIR_PROGRAM, "cgroup", "cgroup_rmdir"),
    (names::SOCK_STATE_PROGRAM, "sock", "inet_sock_set_state"),
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

/// The syscall programs are loaded (so a verifier rejection shows at start)
/// but attached only when a tenant wants syscalls.
fn load_syscall_programs(ebpf: &mut Ebpf) -> Result<(), ProbeError> {
    for program_name in [names::SYS_ENTER_PROGRAM, names::SYS_EXIT_PROGRAM] {
        let program: &mut RawTracePoint = program_mut(ebpf, program_name)?;
        program
            .load()
            .map_err(|error| load_error(program_name, error))?;
    }
    Ok(())
}

fn attach_raw(
    ebpf: &mut Ebpf,
    program_name: &'static str,
    hook: &'static str,
) -> Result<RawTracePointLinkId, ProbeError> {
    let program: &mut RawTracePoint = program_mut(ebpf, program_name)?;
    program
        .attach(hook)
        .map_err(|error| attach_error(program_name, hook, error))
}

fn detach_raw(
    ebpf: &mut Ebpf,
    program_name: &'static str,
    link: RawTracePointLinkId,
) -> Result<(), ProbeError> {
    let program: &mut RawTracePoint = program_mut(ebpf, program_name)?;
    program.detach(link).map_err(|error| ProbeError::Attach {
        program: program_name,
        hook: "detach",
        detail: error_chain(&error),
    })
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
