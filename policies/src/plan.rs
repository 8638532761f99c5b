//! What a tenant's policy needs from the kernel: the event kinds, the
//! syscalls, and the fields some rule keeps in any form. Everything else is
//! never read there (the probes map field names to their kernel masks).
use std::collections::BTreeSet;

use scrim_event::{EventKind, syscall_number};

use crate::model::{Action, Tenant};

/// The kernel side of one tenant's policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturePlan {
    pub kinds: BTreeSet<EventKind>,
    /// Syscall numbers (x86_64) the tenant captures.
    pub syscalls: BTreeSet<u32>,
    /// Catalogue fields some rule needs: every rule but `drop`.
    pub fields: BTreeSet<&'static str>,
    /// The quota as (events per second, burst), enforced in the kernel.
    pub rate_limit: Option<(u32, u32)>,
}

impl CapturePlan {
    /// The plan of a tenant from a validated policy (unknown names, which
    /// validation reports, are left out).
    pub fn of(tenant: &Tenant) -> Self {
        let mut plan = CapturePlan::default();
        for entry in &tenant.capture {
            let (kind_name, syscalls) = match entry.get_ref().split_once(':') {
                Some((kind, syscalls)) => (kind, syscalls),
                None => (entry.get_ref().as_str(), ""),
            };
            if let Some(kind) = EventKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == kind_name)
            {
                plan.kinds.insert(kind);
            }
            plan.syscalls.extend(
                syscalls
                    .split(',')
                    .filter_map(|name| syscall_number(name.trim())),
            );
        }
        plan.fields = tenant
            .fields
            .iter()
            .filter(|(_, action)| *action.get_ref() != Action::Drop)
            .filter_map(|(name, _)| {
                scrim_event::field::named(name.get_ref()).map(|field| field.name)
            })
            .collect();
        plan.rate_limit = tenant.quota.as_ref().map(|quota| {
            let quota = quota.get_ref();
            (quota.events_per_second, quota.burst())
        });
        plan
    }
}
