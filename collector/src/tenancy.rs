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
use scrim_kubernetes::{
    PodChange, PodMetadata,
    pod_cgroup::{self, PodCgroup},
};
use scrim_policies::{CompiledPolicy, Placed, Placement, PodFacts, TenantPolicy, Workload};
use scrim_probes::{
    CgroupChange, NewCgroup, Probes, RateLimit, SyscallSet, TenantFilter, TenantSlot, UidOwner,
    UidRange, UnknownCgroups,
};

use crate::workloads::Workloads;

/// The placement of tenants and cgroups currently in the kernel's maps.
pub struct Tenancy {
    policy: Option<Arc<CompiledPolicy>>,
    slot_of_tenant: Vec<TenantSlot>,
    /// Every cgroup of the hierarchy, with what resolution found: kept so
    /// that vanished ones can be forgotten and pods' cgroups re-placed
    /// when their metadata arrives or changes.
    cgroups: HashMap<u64, KnownCgroup>,
    /// This node's pods, by the UID their cgroups are named by.
    pods: HashMap<String, PodMetadata>,
    /// Slots written so far: on a reload to fewer tenants, the rest are
    /// cleared.
    slots_written: u32,
    /// What each cgroup runs, for OTLP resources.
    workloads: Workloads,
}

struct KnownCgroup {
    path: String,
    /// The pod (and container) its path names, if any.
    pod: Option<PodCgroup>,
    placement: Placement,
}

/// How many cgroups are placed where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlacementCounts {
    pub tenant: usize,
    pub opted_out: usize,
    pub unclaimed: usize,
    /// Cgroups of pods whose metadata has not arrived: placed by path
    /// alone until it does.
    pub awaiting_pod: usize,
}

impl Tenancy {
    pub fn new(workloads: Workloads) -> Self {
        Tenancy {
            policy: None,
            slot_of_tenant: Vec::new(),
            cgroups: HashMap::new(),
            pods: HashMap::new(),
            slots_written: 0,
            workloads,
        }
    }

    /// Puts `policy` in force in the kernel: every slot's filter, the uid
    /// rules, the unknown-cgroup action, and the placement of every cgroup
    /// in `cgroups` (cgroups known before and missing now are forgotten).
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
        let uid_ranges: Vec<UidRange> = policy
            .uid_rules()
            .iter()
            .filter_map(|rule| {
                let owner = match rule.placement {
                    Placement::OptedOut => UidOwner::OptedOut,
                    Placement::Tenant(index) => UidOwner::Tenant(self.slot_of_tenant[index]),
                    Placement::Unclaimed => return None,
                };
                Some(UidRange {
                    uids: rule.first..=rule.last,
                    owner,
                })
            })
            .collect();
        probes.set_uid_ranges(&uid_ranges)?;
        probes.set_unknown_cgroups(match unknown {
            Some(_) => UnknownCgroups::CaptureAsDefault,
            None => UnknownCgroups::Drop,
        })?;
        self.policy = Some(policy);

        let present: HashSet<u64> = cgroups.iter().map(|cgroup| cgroup.id).collect();
        let vanished: Vec<u64> = self
            .cgroups
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        for id in vanished {
            probes.forget_cgroup(id)?;
            self.cgroups.remove(&id);
            self.workloads.removed(id);
        }
        for cgroup in cgroups {
            self.place(probes, cgroup)?;
        }
        Ok(())
    }

    /// Places one cgroup (a new one, or one being re-placed by a reload).
    pub fn place(&mut self, probes: &mut Probes, cgroup: &NewCgroup) -> anyhow::Result<()> {
        let pod = pod_cgroup::parse(&cgroup.path);
        let pod_uid = pod.as_ref().map(|pod| pod.pod_uid.as_str());
        let placement = self.policy.as_ref().map_or(Placement::Unclaimed, |policy| {
            let placed = placement(policy, &self.pods, &cgroup.path, pod_uid);
            log_placement(policy, &cgroup.path, placed);
            placed.placement
        });
        self.workloads.describe(
            cgroup.id,
            &cgroup.path,
            pod.as_ref(),
            pod_uid.and_then(|uid| self.pods.get(uid)),
        );
        self.cgroups.insert(
            cgroup.id,
            KnownCgroup {
                path: cgroup.path.clone(),
                pod,
                placement,
            },
        );
        write_placement(probes, &self.slot_of_tenant, cgroup.id, placement)
    }

    /// Follows the hierarchy: places a new cgroup, forgets a removed one
    /// (the kernel already dropped its map entry).
    pub fn follow(&mut self, probes: &mut Probes, change: CgroupChange) -> anyhow::Result<()> {
        match change {
            CgroupChange::Created(cgroup) => self.place(probes, &cgroup),
            CgroupChange::Removed(id) => {
                self.cgroups.remove(&id);
                self.workloads.removed(id);
                Ok(())
            }
        }
    }

    /// Follows the node's pods: records what the API says of them and
    /// re-places their cgroups. Returns how many cgroups moved.
    pub fn follow_pods(&mut self, probes: &mut Probes, change: PodChange) -> anyhow::Result<usize> {
        let changed: HashSet<String> = match change {
            PodChange::Applied(pod) => {
                let uid = pod.cgroup_uid.clone();
                self.pods.insert(uid.clone(), pod);
                HashSet::from([uid])
            }
            PodChange::Deleted(pod) => {
                self.pods.remove(&pod.cgroup_uid);
                HashSet::from([pod.cgroup_uid])
            }
            PodChange::Listed(pods) => {
                let before: HashSet<String> = self.pods.keys().cloned().collect();
                self.pods = pods
                    .into_iter()
                    .map(|pod| (pod.cgroup_uid.clone(), pod))
                    .collect();
                before
                    .into_iter()
                    .chain(self.pods.keys().cloned())
                    .collect()
            }
        };
        let Some(policy) = &self.policy else {
            return Ok(0);
        };
        let mut moved = 0;
        for (id, known) in &mut self.cgroups {
            let Some(pod) = known
                .pod
                .as_ref()
                .filter(|pod| changed.contains(&pod.pod_uid))
            else {
                continue;
            };
            let uid = pod.pod_uid.as_str();
            self.workloads
                .describe(*id, &known.path, Some(pod), self.pods.get(uid));
            let placed = placement(policy, &self.pods, &known.path, Some(uid));
            let placement = placed.placement;
            if placement != known.placement {
                log_placement(policy, &known.path, placed);
                known.placement = placement;
                write_placement(probes, &self.slot_of_tenant, *id, placement)?;
                moved += 1;
            }
        }
        Ok(moved)
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

    /// The policy in force, the paths of the cgroups known, and the pods:
    /// what `scrim status` lists, placed as they were placed here.
    pub fn known(&self) -> Option<(&CompiledPolicy, Vec<String>, &HashMap<String, PodMetadata>)> {
        let policy = self.policy.as_deref()?;
        let paths = self
            .cgroups
            .values()
            .map(|known| known.path.clone())
            .collect();
        Some((policy, paths, &self.pods))
    }

    /// How many cgroups are placed where, and how many pods are known.
    pub fn counts(&self) -> (PlacementCounts, usize) {
        let mut counts = PlacementCounts::default();
        for known in self.cgroups.values() {
            match known.placement {
                Placement::Tenant(_) => counts.tenant += 1,
                Placement::OptedOut => counts.opted_out += 1,
                Placement::Unclaimed => counts.unclaimed += 1,
            }
            if known
                .pod
                .as_ref()
                .is_some_and(|pod| !self.pods.contains_key(&pod.pod_uid))
            {
                counts.awaiting_pod += 1;
            }
        }
        (counts, self.pods.len())
    }
}

/// Where a cgroup belongs, and by which rule, with its pod's metadata if
/// the API has told it: what `scrim run` writes into the kernel and
/// `scrim policy place` lists, so that the two never disagree.
pub(crate) fn placement<'p>(
    policy: &'p CompiledPolicy,
    pods: &HashMap<String, PodMetadata>,
    path: &str,
    pod_uid: Option<&str>,
) -> Placed<'p> {
    let pod = pod_uid.and_then(|uid| pods.get(uid));
    policy.place_explained(&Workload {
        cgroup_path: path,
        pod: pod.map(|pod| PodFacts {
            namespace: &pod.namespace,
            labels: &pod.labels,
        }),
    })
}

/// One cgroup's placement at debug level: the summary counts say how many
/// cgroups went where, this says which and why.
fn log_placement(policy: &CompiledPolicy, path: &str, placed: Placed) {
    let rule = placed.to_string();
    match placed.placement {
        Placement::Tenant(index) => {
            let tenant = policy.tenants()[index].name.as_str();
            tracing::debug!(
                cgroup = path,
                tenant,
                rule = %rule,
                "cgroup {path}: tenant `{tenant}`, placed by {rule}"
            );
        }
        Placement::OptedOut => {
            tracing::debug!(cgroup = path, rule = %rule, "cgroup {path}: opted out by {rule}");
        }
        Placement::Unclaimed => {
            let action = policy.unknown_tenant().map_or_else(
                || "dropped in the kernel".to_owned(),
                |index| format!("captured as `{}`", policy.tenants()[index].name),
            );
            tracing::debug!(cgroup = path, "cgroup {path}: unclaimed ({action})");
        }
    }
}

fn write_placement(
    probes: &mut Probes,
    slot_of_tenant: &[TenantSlot],
    cgroup_id: u64,
    placement: Placement,
) -> anyhow::Result<()> {
    match placement {
        Placement::OptedOut => probes.opt_out_cgroup(cgroup_id)?,
        Placement::Tenant(index) => probes.assign_cgroup(cgroup_id, slot_of_tenant[index])?,
        Placement::Unclaimed => probes.forget_cgroup(cgroup_id)?,
    }
    Ok(())
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
