//! Tenants in the kernel: which filter slot each tenant of the policy holds,
//! and which cgroups belong to which slot.
//!
//! Slot 0 is where the kernel puts cgroups nobody claimed, so the policy's
//! `unknown_tenant` holds it; when unknown cgroups are dropped, slot 0
//! captures nothing and the kernel drops them before reading anything.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use anyhow::Context as _;
use scrim_policies::{CompiledPolicy, Placement, TenantPolicy};
use scrim_probes::{
    CgroupChange, NewCgroup, Probes, RateLimit, SyscallSet, TenantFilter, TenantSlot,
    UnknownCgroups,
};

/// The placement of tenants and cgroups currently in the kernel's maps.
#[derive(Default)]
pub struct Tenancy {
    policy: Option<Arc<CompiledPolicy>>,
    slot_of_tenant: Vec<TenantSlot>,
    /// Cgroups placed by this tenancy, so vanished ones can be forgotten.
    placed: HashMap<u64, Placement>,
    /// Slots written so far: on a reload to fewer tenants, the rest are
    /// cleared.
    slots_written: u32,
}

impl Tenancy {
    /// Puts `policy` in force in the kernel: every slot's filter, the
    /// unknown-cgroup action, and the placement of every cgroup in
    /// `cgroups` (cgroups placed before and missing now are forgotten).
    pub fn apply(
        &mut self,
        policy: Arc<CompiledPolicy>,
        probes: &mut Probes,
        cgroups: &[NewCgroup],
    ) -> anyhow::Result<()> {
        let tenants = policy.tenants();
        let slots_needed = u32::try_from(tenants.len() + 1).unwrap_or(u32::MAX);
        anyhow::ensure!(
            slots_needed <= TenantSlot::COUNT,
            "the policy has {} tenants; the kernel filter holds at most {}",
            tenants.len(),
            TenantSlot::COUNT - 1
        );
        let unknown = policy.unknown_tenant();
        let mut next_slot = 1;
        self.slot_of_tenant = (0..tenants.len())
            .map(|index| {
                if Some(index) == unknown {
                    return Ok(TenantSlot::DEFAULT);
                }
                next_slot += 1;
                TenantSlot::new(next_slot - 1)
            })
            .collect::<Result<_, _>>()?;
        if unknown.is_none() {
            probes.set_tenant_filter(TenantSlot::DEFAULT, &TenantFilter::NOTHING)?;
        }
        for (tenant, slot) in tenants.iter().zip(&self.slot_of_tenant) {
            probes.set_tenant_filter(*slot, &kernel_filter(tenant)?)?;
        }
        for stale in next_slot..self.slots_written {
            probes.set_tenant_filter(TenantSlot::new(stale)?, &TenantFilter::NOTHING)?;
        }
        self.slots_written = next_slot;
        probes.set_unknown_cgroups(match unknown {
            Some(_) => UnknownCgroups::CaptureAsDefault,
            None => UnknownCgroups::Drop,
        })?;
        self.policy = Some(policy);

        let present: HashSet<u64> = cgroups.iter().map(|cgroup| cgroup.id).collect();
        let vanished: Vec<u64> = self
            .placed
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        for id in vanished {
            probes.forget_cgroup(id)?;
            self.placed.remove(&id);
        }
        for cgroup in cgroups {
            self.place(probes, cgroup)?;
        }
        Ok(())
    }

    /// Places one cgroup (a new one, or one being re-placed by a reload).
    pub fn place(&mut self, probes: &mut Probes, cgroup: &NewCgroup) -> anyhow::Result<()> {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        let placement = policy.place_cgroup(&cgroup.path);
        match placement {
            Placement::OptedOut => probes.opt_out_cgroup(cgroup.id)?,
            Placement::Tenant(index) => {
                probes.assign_cgroup(cgroup.id, self.slot_of_tenant[index])?
            }
            Placement::Unclaimed => probes.forget_cgroup(cgroup.id)?,
        }
        self.placed.insert(cgroup.id, placement);
        Ok(())
    }

    /// Follows the hierarchy: places a new cgroup, forgets a removed one
    /// (the kernel already dropped its map entry).
    pub fn follow(&mut self, probes: &mut Probes, change: CgroupChange) -> anyhow::Result<()> {
        match change {
            CgroupChange::Created(cgroup) => self.place(probes, &cgroup),
            CgroupChange::Removed(id) => {
                self.placed.remove(&id);
                Ok(())
            }
        }
    }

    /// For each kernel slot (by index), the tenant (by policy index) whose
    /// records it carries.
    pub fn tenant_of_slot(&self) -> Vec<Option<usize>> {
        let mut tenants = vec![None; self.slots_written as usize];
        for (tenant, slot) in self.slot_of_tenant.iter().enumerate() {
            if let Some(entry) = tenants.get_mut(slot.index() as usize) {
                *entry = Some(tenant);
            }
        }
        tenants
    }

    /// What each tenant's quota dropped in the kernel so far, by tenant
    /// name (a slot's count goes to the tenant holding it now).
    pub fn over_quota(&self, probes: &Probes) -> anyhow::Result<BTreeMap<String, u64>> {
        let Some(policy) = &self.policy else {
            return Ok(BTreeMap::new());
        };
        let mut by_tenant = BTreeMap::new();
        for (slot, limited) in probes.rate_limited_by_slot()? {
            if let Some(index) = self.slot_of_tenant.iter().position(|held| *held == slot) {
                *by_tenant
                    .entry(policy.tenants()[index].name.clone())
                    .or_default() += limited;
            }
        }
        Ok(by_tenant)
    }

    /// How many cgroups are placed, by placement.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.placed
            .values()
            .fold(
                (0, 0, 0),
                |(tenant, opted_out, unclaimed), placement| match placement {
                    Placement::Tenant(_) => (tenant + 1, opted_out, unclaimed),
                    Placement::OptedOut => (tenant, opted_out + 1, unclaimed),
                    Placement::Unclaimed => (tenant, opted_out, unclaimed + 1),
                },
            )
    }
}

/// What a tenant's policy asks the kernel to capture.
fn kernel_filter(tenant: &TenantPolicy) -> anyhow::Result<TenantFilter> {
    let syscalls = SyscallSet::from_numbers(tenant.capture.syscalls.iter().copied())
        .with_context(|| format!("tenant `{}`", tenant.name))?;
    let mut filter = TenantFilter::for_fields(
        tenant.capture.kinds.iter().copied(),
        tenant.capture.fields.iter().copied(),
        syscalls,
    );
    filter.rate_limit = tenant
        .capture
        .rate_limit
        .map(|(per_second, burst)| RateLimit { per_second, burst });
    Ok(filter)
}
