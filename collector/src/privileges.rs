//! Least privilege: once the probes are loaded and attached, the collector
//! keeps only the capabilities it still uses.
//!
//! It keeps `CAP_BPF` and `CAP_PERFMON`, which attaching the syscall hooks
//! needs (they attach when a reloaded policy first wants a syscall, and
//! detach when none does), and `CAP_CHOWN` only if the policy gives some
//! tenant an archive group (a reload may bring a new tenant's directory). Everything else goes from the effective,
//! permitted, inheritable and bounding sets, so neither scrim nor anything
//! that could take it over can regain `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE` or
//! the rest: updating the maps it already holds, reading cgroups, policies
//! and keys it owns, writing archives and serving metrics need none. Linux
//! capabilities are per thread: this runs before any other thread starts.
use caps::{CapSet, Capability, CapsHashSet};

/// What the collector keeps.
pub const KEPT: [Capability; 2] = [Capability::CAP_BPF, Capability::CAP_PERFMON];

/// Drops every capability but [`KEPT`] (and `CAP_CHOWN` when
/// `keep_chown`: tenants' archive groups), and forbids gaining new ones
/// (`PR_SET_NO_NEW_PRIVS`). Returns the names of those kept.
pub fn drop_to_kept(keep_chown: bool) -> anyhow::Result<Vec<String>> {
    let mut kept: CapsHashSet = KEPT.into_iter().collect();
    if keep_chown {
        kept.insert(Capability::CAP_CHOWN);
    }
    // The bounding set first: dropping from it needs CAP_SETPCAP, which
    // goes with the rest below. Without it (scrim started with only the
    // capabilities it needs), the bounding set is left as it was.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)? {
        for capability in caps::read(None, CapSet::Bounding)? {
            if !kept.contains(&capability) {
                caps::drop(None, CapSet::Bounding, capability)?;
            }
        }
    }
    let permitted: CapsHashSet = caps::read(None, CapSet::Permitted)?
        .intersection(&kept)
        .copied()
        .collect();
    caps::clear(None, CapSet::Inheritable)?;
    caps::set(None, CapSet::Effective, &permitted)?;
    caps::set(None, CapSet::Permitted, &permitted)?;
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) takes no pointers and only
    // restricts this process.
    let status = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    anyhow::ensure!(
        status == 0,
        "cannot set no_new_privs: {}",
        std::io::Error::last_os_error()
    );
    let mut names: Vec<String> = permitted.iter().map(ToString::to_string).collect();
    names.sort();
    Ok(names)
}
