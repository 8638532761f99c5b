//! Where a process belongs under a policy: opted out, a tenant, or nobody.
//!
//! Placement happens at two levels, because the kernel filters before any
//! userspace lookup:
//!
//! - a **cgroup** is placed by its path and, for a Kubernetes pod's cgroup,
//!   by the pod's namespace and labels ([`CompiledPolicy::place`]); the
//!   collector writes the result into the kernel's cgroup map;
//! - a **uid** is placed by the policy's uid opt-outs and `uid_range`
//!   selectors ([`CompiledPolicy::uid_rules`]), which the kernel checks for
//!   every event: a uid opt-out drops the event whatever its cgroup, and a
//!   `uid_range` claims the processes of cgroups no cgroup-level selector
//!   claimed.
//!
//! [`CompiledPolicy::place_process`] combines both, as the kernel does.
use std::{collections::BTreeMap, ops::Range};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use toml::Spanned;

use crate::{
    CompiledPolicy,
    model::{OptOut, Selector},
};

/// Where a workload's processes belong under a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// An opt-out matches: never captured, dropped in the kernel.
    OptedOut,
    /// The first tenant (by index) whose selector matches.
    Tenant(usize),
    /// No selector matches: the policy's `unknown_tenant` decides.
    Unclaimed,
}

/// What the Kubernetes API says of the pod a cgroup belongs to.
#[derive(Clone, Copy, Debug)]
pub struct PodFacts<'a> {
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// A cgroup to place: its path (relative to the cgroup v2 root, starting
/// with `/`) and, when it belongs to a pod whose metadata is known, the pod.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    pub cgroup_path: &'a str,
    pub pod: Option<PodFacts<'a>>,
}

/// A uid range the kernel checks for every event. Opt-outs come first, so
/// the first rule that contains a uid decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UidRule {
    pub first: u32,
    pub last: u32,
    /// [`Placement::OptedOut`] or [`Placement::Tenant`].
    pub placement: Placement,
}

/// One tenant's cgroup-level selector: any criterion that is given matches.
#[derive(Debug)]
pub(crate) struct TenantSelector {
    cgroup_paths: GlobSet,
    namespaces: GlobSet,
    /// Every label must be on the pod, with this value.
    pod_labels: Vec<(String, String)>,
}

impl TenantSelector {
    pub(crate) fn compile(
        selector: &Selector,
        error: &mut impl FnMut(Range<usize>, String),
    ) -> Self {
        TenantSelector {
            cgroup_paths: globs(&selector.cgroup_path, cgroup_glob, "cgroup path", error),
            namespaces: globs(&selector.k8s_namespace, namespace_glob, "namespace", error),
            pod_labels: selector
                .k8s_pod_labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }

    fn matches(&self, workload: &Workload) -> bool {
        if self.cgroup_paths.is_match(workload.cgroup_path) {
            return true;
        }
        let Some(pod) = workload.pod else {
            return false;
        };
        self.namespaces.is_match(pod.namespace)
            || (!self.pod_labels.is_empty()
                && self
                    .pod_labels
                    .iter()
                    .all(|(key, value)| pod.labels.get(key) == Some(value)))
    }

    fn uses_pod_metadata(&self) -> bool {
        !self.namespaces.is_empty() || !self.pod_labels.is_empty()
    }
}

/// The policy's opt-outs at the cgroup level.
#[derive(Debug)]
pub(crate) struct OptOuts {
    cgroup_paths: GlobSet,
    namespaces: GlobSet,
}

impl OptOuts {
    pub(crate) fn compile(
        opt_outs: &[Spanned<OptOut>],
        error: &mut impl FnMut(Range<usize>, String),
    ) -> Self {
        let paths: Vec<Spanned<String>> = opt_outs
            .iter()
            .flat_map(|opt_out| opt_out.get_ref().cgroup_path.iter().cloned())
            .collect();
        let namespaces: Vec<Spanned<String>> = opt_outs
            .iter()
            .flat_map(|opt_out| opt_out.get_ref().k8s_namespace.iter().cloned())
            .collect();
        OptOuts {
            cgroup_paths: globs(&paths, cgroup_glob, "cgroup path", error),
            namespaces: globs(&namespaces, namespace_glob, "namespace", error),
        }
    }

    fn matches(&self, workload: &Workload) -> bool {
        self.cgroup_paths.is_match(workload.cgroup_path)
            || workload
                .pod
                .is_some_and(|pod| self.namespaces.is_match(pod.namespace))
    }
}

/// The uid rules of a policy, opt-outs first, then `uid_range` selectors
/// in tenant order.
pub(crate) fn uid_rules(
    opt_outs: &[Spanned<OptOut>],
    selectors: impl Iterator<Item = Option<[u32; 2]>>,
) -> Vec<UidRule> {
    let opted_out = opt_outs
        .iter()
        .flat_map(|opt_out| &opt_out.get_ref().uid)
        .map(|&uid| UidRule {
            first: uid,
            last: uid,
            placement: Placement::OptedOut,
        });
    let tenants = selectors.enumerate().filter_map(|(index, range)| {
        let [first, last] = range?;
        Some(UidRule {
            first,
            last,
            placement: Placement::Tenant(index),
        })
    });
    opted_out.chain(tenants).collect()
}

impl CompiledPolicy {
    /// Where the processes of a cgroup belong. Opt-outs win over tenants,
    /// and tenants are tried in file order.
    pub fn place(&self, workload: &Workload) -> Placement {
        if self.opt_outs.matches(workload) {
            return Placement::OptedOut;
        }
        self.tenants
            .iter()
            .position(|tenant| tenant.selector.matches(workload))
            .map_or(Placement::Unclaimed, Placement::Tenant)
    }

    /// Where one process belongs, uid rules included: what the kernel
    /// decides from the cgroup's placement and [`Self::uid_rules`].
    pub fn place_process(&self, workload: &Workload, uid: u32) -> Placement {
        let uid_rule = self
            .uid_rules
            .iter()
            .find(|rule| (rule.first..=rule.last).contains(&uid))
            .map(|rule| rule.placement);
        match (uid_rule, self.place(workload)) {
            (Some(Placement::OptedOut), _) => Placement::OptedOut,
            (uid_rule, Placement::Unclaimed) => uid_rule.unwrap_or(Placement::Unclaimed),
            (_, placed) => placed,
        }
    }

    /// The rules the kernel checks by uid, first match deciding: uid
    /// opt-outs, then each tenant's `uid_range`.
    pub fn uid_rules(&self) -> &[UidRule] {
        &self.uid_rules
    }

    /// Whether placing cgroups needs pod metadata from the Kubernetes API
    /// (a namespace or label selector, or a namespace opt-out).
    pub fn uses_pod_metadata(&self) -> bool {
        !self.opt_outs.namespaces.is_empty()
            || self
                .tenants
                .iter()
                .any(|tenant| tenant.selector.uses_pod_metadata())
    }
}

/// `*` stays within one path component, `**` crosses any number.
pub(crate) fn cgroup_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// A namespace name or a glob over names, such as `acme-*`.
pub(crate) fn namespace_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).build()
}

fn globs(
    patterns: &[Spanned<String>],
    compile: fn(&str) -> Result<globset::Glob, globset::Error>,
    what: &str,
    error: &mut impl FnMut(Range<usize>, String),
) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        match compile(pattern.get_ref()) {
            Ok(glob) => {
                set.add(glob);
            }
            Err(problem) => error(pattern.span(), format!("not a {what} glob: {problem}")),
        }
    }
    set.build().unwrap_or_else(|_| GlobSet::empty())
}
