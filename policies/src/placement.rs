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
//! Each placement comes with the [`Rule`] that made it, so that operators
//! (`scrim policy place`, `scrim policy test`, the run's debug log) can see
//! why a cgroup went where it did.
//!
//! A cgroup path glob ending in `/**` matches the directory itself too:
//! `/team/**` places `/team` as well as everything below it, as users of
//! glob patterns expect (a tenant that owns a directory owns the processes
//! living directly in it). Anywhere else `**` crosses any number of
//! components and `*` stays within one.
use std::{collections::BTreeMap, fmt, ops::Range};

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

/// The criterion of a tenant's selector or of an opt-out that placed a
/// workload, as the policy file writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule<'p> {
    CgroupPath(&'p str),
    Namespace(&'p str),
    /// Every label of a tenant's `k8s_pod_labels`.
    PodLabels(&'p [(String, String)]),
    /// A tenant's `uid_range`, inclusive.
    UidRange(u32, u32),
    /// A uid an opt-out lists.
    Uid(u32),
}

impl fmt::Display for Rule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::CgroupPath(pattern) => write!(f, "cgroup_path {pattern:?}"),
            Rule::Namespace(pattern) => write!(f, "k8s_namespace {pattern:?}"),
            Rule::PodLabels(labels) => {
                f.write_str("k8s_pod_labels {")?;
                for (index, (key, value)) in labels.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(f, "{separator}{key:?} = {value:?}")?;
                }
                f.write_str("}")
            }
            Rule::UidRange(first, last) => write!(f, "uid_range [{first}, {last}]"),
            Rule::Uid(uid) => write!(f, "uid {uid}"),
        }
    }
}

/// A placement and the rule that made it: `None` for
/// [`Placement::Unclaimed`], which no rule claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed<'p> {
    pub placement: Placement,
    pub rule: Option<Rule<'p>>,
}

impl fmt::Display for Placed<'_> {
    /// The rule as an operator reads it: an opt-out's rule says so.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.placement, self.rule) {
            (Placement::OptedOut, Some(rule)) => write!(f, "opt_out {rule}"),
            (_, Some(rule)) => write!(f, "{rule}"),
            (_, None) => f.write_str("no selector matches"),
        }
    }
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

/// Globs with the patterns they came from, so that a match can name its
/// pattern (one pattern may stand for several globs).
#[derive(Debug)]
struct Patterns {
    set: GlobSet,
    /// For each glob of `set`, the index of its pattern.
    pattern_of_glob: Vec<usize>,
    patterns: Vec<String>,
}

impl Patterns {
    /// The first pattern (in file order) that matches `text`.
    fn first_match(&self, text: &str) -> Option<&str> {
        self.set
            .matches(text)
            .into_iter()
            .map(|glob| self.pattern_of_glob[glob])
            .min()
            .map(|pattern| self.patterns[pattern].as_str())
    }

    fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// One tenant's cgroup-level selector: any criterion that is given matches.
#[derive(Debug)]
pub(crate) struct TenantSelector {
    cgroup_paths: Patterns,
    namespaces: Patterns,
    /// Every label must be on the pod, with this value.
    pod_labels: Vec<(String, String)>,
}

impl TenantSelector {
    pub(crate) fn compile(
        selector: &Selector,
        error: &mut impl FnMut(Range<usize>, String),
    ) -> Self {
        TenantSelector {
            cgroup_paths: globs(&selector.cgroup_path, cgroup_globs, "cgroup path", error),
            namespaces: globs(&selector.k8s_namespace, namespace_globs, "namespace", error),
            pod_labels: selector
                .k8s_pod_labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }

    /// The criterion that matches, tried in the order the selector lists
    /// them: cgroup path, namespace, pod labels.
    fn matching_rule(&self, workload: &Workload) -> Option<Rule<'_>> {
        if let Some(pattern) = self.cgroup_paths.first_match(workload.cgroup_path) {
            return Some(Rule::CgroupPath(pattern));
        }
        let pod = workload.pod?;
        if let Some(pattern) = self.namespaces.first_match(pod.namespace) {
            return Some(Rule::Namespace(pattern));
        }
        (!self.pod_labels.is_empty()
            && self
                .pod_labels
                .iter()
                .all(|(key, value)| pod.labels.get(key) == Some(value)))
        .then_some(Rule::PodLabels(&self.pod_labels))
    }

    fn uses_pod_metadata(&self) -> bool {
        !self.namespaces.is_empty() || !self.pod_labels.is_empty()
    }
}

/// The policy's opt-outs at the cgroup level.
#[derive(Debug)]
pub(crate) struct OptOuts {
    cgroup_paths: Patterns,
    namespaces: Patterns,
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
            cgroup_paths: globs(&paths, cgroup_globs, "cgroup path", error),
            namespaces: globs(&namespaces, namespace_globs, "namespace", error),
        }
    }

    fn matching_rule(&self, workload: &Workload) -> Option<Rule<'_>> {
        if let Some(pattern) = self.cgroup_paths.first_match(workload.cgroup_path) {
            return Some(Rule::CgroupPath(pattern));
        }
        let pod = workload.pod?;
        self.namespaces
            .first_match(pod.namespace)
            .map(Rule::Namespace)
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
        self.place_explained(workload).placement
    }

    /// [`Self::place`], with the rule that decided.
    pub fn place_explained(&self, workload: &Workload) -> Placed<'_> {
        if let Some(rule) = self.opt_outs.matching_rule(workload) {
            return Placed {
                placement: Placement::OptedOut,
                rule: Some(rule),
            };
        }
        self.tenants
            .iter()
            .enumerate()
            .find_map(|(index, tenant)| {
                let rule = tenant.selector.matching_rule(workload)?;
                Some(Placed {
                    placement: Placement::Tenant(index),
                    rule: Some(rule),
                })
            })
            .unwrap_or(Placed {
                placement: Placement::Unclaimed,
                rule: None,
            })
    }

    /// Where one process belongs, uid rules included, with the rule that
    /// decided: what the kernel decides from the cgroup's placement and
    /// [`Self::uid_rules`].
    pub fn place_process(&self, workload: &Workload, uid: u32) -> Placed<'_> {
        let uid_rule = self
            .uid_rules
            .iter()
            .find(|rule| (rule.first..=rule.last).contains(&uid))
            .map(|rule| Placed {
                placement: rule.placement,
                rule: Some(match rule.placement {
                    Placement::OptedOut => Rule::Uid(rule.first),
                    _ => Rule::UidRange(rule.first, rule.last),
                }),
            });
        match (uid_rule, self.place_explained(workload)) {
            (Some(by_uid), _) if by_uid.placement == Placement::OptedOut => by_uid,
            (Some(by_uid), by_cgroup) if by_cgroup.placement == Placement::Unclaimed => by_uid,
            (_, by_cgroup) => by_cgroup,
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

/// What a cgroup path pattern matches: its glob and, for a pattern
/// ending in `/**`, the directory above too (`/team/**` matches `/team`;
/// `/**` matches the root, `/`).
fn cgroup_globs(pattern: &str) -> Result<Vec<globset::Glob>, globset::Error> {
    let mut globs = vec![cgroup_glob(pattern)?];
    if let Some(directory) = pattern.strip_suffix("/**") {
        globs.push(cgroup_glob(if directory.is_empty() {
            "/"
        } else {
            directory
        })?);
    }
    Ok(globs)
}

/// A namespace name or a glob over names, such as `acme-*`.
fn namespace_globs(pattern: &str) -> Result<Vec<globset::Glob>, globset::Error> {
    Ok(vec![GlobBuilder::new(pattern).build()?])
}

fn globs(
    patterns: &[Spanned<String>],
    compile: fn(&str) -> Result<Vec<globset::Glob>, globset::Error>,
    what: &str,
    error: &mut impl FnMut(Range<usize>, String),
) -> Patterns {
    let mut set = GlobSetBuilder::new();
    let mut pattern_of_glob = Vec::new();
    let mut kept = Vec::new();
    for pattern in patterns {
        match compile(pattern.get_ref()) {
            Ok(globs) => {
                for glob in globs {
                    set.add(glob);
                    pattern_of_glob.push(kept.len());
                }
                kept.push(pattern.get_ref().clone());
            }
            Err(problem) => error(pattern.span(), format!("not a {what} glob: {problem}")),
        }
    }
    Patterns {
        set: set.build().unwrap_or_else(|_| GlobSet::empty()),
        pattern_of_glob,
        patterns: kept,
    }
}
