//! The in-kernel filter: which tenant an event belongs to, and whether that
//! tenant wants it at all. Userspace owns these maps and rewrites them at run
//! time; the programs never need reloading.
use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_uid_gid, bpf_ktime_get_ns},
    macros::map,
    maps::{Array, HashMap, PerCpuArray},
};
use scrim_abi::{
    DEFAULT_TENANT_SLOT, FilterSettings, KernelCounter, MAX_CGROUPS, MAX_UID_RULES, RateBucket,
    SLOT_OPTED_OUT, TENANT_SLOTS, TenantFilter, UNKNOWN_CGROUPS_DROP, UidRule,
};

use crate::{output::count, syscall::in_bitmap};

#[map]
static CGROUP_TENANTS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_CGROUPS, 0);

#[map]
static TENANT_FILTERS: Array<TenantFilter> = Array::with_max_entries(TENANT_SLOTS, 0);

#[map]
static RATE_BUCKETS: Array<RateBucket> = Array::with_max_entries(TENANT_SLOTS, 0);

/// Records each tenant's rate limit dropped, per CPU: the per-tenant side
/// of [`KernelCounter::RateLimited`], for the collector's accounting.
#[map]
static RATE_LIMITED: PerCpuArray<u64> = PerCpuArray::with_max_entries(TENANT_SLOTS, 0);

#[map]
static FILTER_SETTINGS: Array<FilterSettings> = Array::with_max_entries(1, 0);

/// Uid opt-outs and `uid_range` selectors; `FilterSettings::uid_rules` says
/// how many are in force.
#[map]
static UID_RULES: Array<UidRule> = Array::with_max_entries(MAX_UID_RULES, 0);

/// Removes a cgroup's tenant entry (it was removed from the hierarchy).
#[inline(always)]
pub fn forget_cgroup(cgroup_id: u64) {
    // A cgroup no tenant claimed has no entry: nothing to remove.
    let _ = CGROUP_TENANTS.remove(cgroup_id);
}

/// An event the filter let through: for whom, and which fields to read.
pub struct Admitted {
    pub slot: u32,
    pub cgroup_id: u64,
    /// Bit set of the `FIELD_*` the tenant wants.
    pub fields: u32,
}

/// Decides whether the current task's event of `kind` (a `KIND_*` bit) is
/// captured, counting the reason when it is not.
#[inline(always)]
pub fn admit(kind: u32) -> Option<Admitted> {
    admit_where(kind, None)
}

/// [`admit`] for a syscall, which the tenant must also want by number.
#[inline(always)]
pub fn admit_syscall(kind: u32, number: u32) -> Option<Admitted> {
    admit_where(kind, Some(number))
}

#[inline(always)]
fn admit_where(kind: u32, syscall: Option<u32>) -> Option<Admitted> {
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    let settings = FILTER_SETTINGS.get(0)?;
    let uid_slot = uid_rule_slot(settings.uid_rules);
    let slot = match (uid_slot, unsafe { CGROUP_TENANTS.get(cgroup_id) }) {
        (Some(SLOT_OPTED_OUT), _) | (_, Some(&SLOT_OPTED_OUT)) => {
            count(KernelCounter::OptedOutCgroup);
            return None;
        }
        (_, Some(&slot)) => slot,
        (Some(slot), None) => slot,
        (None, None) => {
            if settings.unknown_cgroups == UNKNOWN_CGROUPS_DROP {
                count(KernelCounter::UnknownCgroup);
                return None;
            }
            DEFAULT_TENANT_SLOT
        }
    };
    let filter = TENANT_FILTERS.get(slot)?;
    if filter.kinds & kind == 0 {
        count(KernelCounter::FilteredKind);
        return None;
    }
    if let Some(number) = syscall
        && !in_bitmap(&filter.syscalls, number)
    {
        count(KernelCounter::FilteredSyscall);
        return None;
    }
    if !within_rate(slot, filter) {
        count(KernelCounter::RateLimited);
        return None;
    }
    Some(Admitted {
        slot,
        cgroup_id,
        fields: filter.fields,
    })
}

/// The slot of the first uid rule that contains the current task's real
/// uid. Nodes without uid rules pay one comparison.
#[inline(always)]
fn uid_rule_slot(rules: u32) -> Option<u32> {
    if rules == 0 {
        return None;
    }
    let uid = bpf_get_current_uid_gid() as u32;
    for index in 0..MAX_UID_RULES {
        if index >= rules {
            break;
        }
        let rule = UID_RULES.get(index)?;
        if rule.first <= uid && uid <= rule.last {
            return Some(rule.slot);
        }
    }
    None
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A token bucket per tenant, shared by all CPUs. Updates race between CPUs,
/// so the cap is approximate under contention; a lock would cost more than
/// the precision is worth for storm control.
#[inline(always)]
fn within_rate(slot: u32, filter: &TenantFilter) -> bool {
    let rate = u64::from(filter.rate_per_second);
    if rate == 0 {
        return true;
    }
    let Some(bucket) = RATE_BUCKETS.get_ptr_mut(slot) else {
        return true;
    };
    let bucket = unsafe { &mut *bucket };
    let now = unsafe { bpf_ktime_get_ns() };
    let elapsed = now.saturating_sub(bucket.refilled_at_ns);
    // Split so the product cannot overflow: under a second, elapsed * rate
    // stays below 2^63 for any u32 rate.
    let earned = if elapsed >= NANOS_PER_SECOND {
        rate * (elapsed / NANOS_PER_SECOND)
    } else {
        elapsed * rate / NANOS_PER_SECOND
    };
    if earned > 0 {
        let capacity = u64::from(filter.burst).max(1);
        bucket.tokens = (bucket.tokens + earned).min(capacity);
        bucket.refilled_at_ns = now;
    }
    if bucket.tokens == 0 {
        if let Some(limited) = RATE_LIMITED.get_ptr_mut(slot) {
            // Per-CPU slot: no other CPU writes it, so a plain add is exact.
            unsafe { *limited += 1 };
        }
        return false;
    }
    bucket.tokens -= 1;
    true
}
