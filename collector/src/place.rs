//! `scrim policy place FILE`: which of this host's cgroups (and pods) a
//! policy places in which tenant, by which rule, and which nobody claims,
//! before or while a collector runs it.
//!
//! It places as `scrim run` does, through the same function
//! ([`tenancy::placement`]), over the same walk of the cgroup v2 hierarchy
//! and, when the policy selects by pod metadata, the same watch of this
//! node's pods; nothing is loaded into the kernel.
use std::{collections::HashMap, path::Path, time::Duration};

use anyhow::Context as _;
use clap::ValueEnum;
use scrim_kubernetes::{PodChange, PodMetadata, PodWatch, pod_cgroup};
use scrim_policies::{CompiledPolicy, Placed, Placement, Rule};
use scrim_probes::{cgroup2_root, list_cgroups};
use serde_json::json;

use crate::{capture::KubernetesMode, stdio::Stdout, tenancy};

/// How long the first listing of this node's pods may take: the API
/// answers a list in well under a second; longer means it is not there.
const POD_LISTING_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PlaceFormat {
    /// One line per cgroup: tenant, rule, cgroup path (and pod).
    #[default]
    Text,
    /// One JSON object: every cgroup with its placement, and the uid rules.
    Json,
}

/// One cgroup as placed.
pub(crate) struct Row<'p> {
    path: String,
    placed: Placed<'p>,
    /// `namespace/name`, when the API told it.
    pod: Option<String>,
}

impl Row<'_> {
    /// Tenants in file order, then opted out, then unclaimed; by path
    /// within each.
    fn order(&self) -> (usize, usize) {
        match self.placed.placement {
            Placement::Tenant(index) => (0, index),
            Placement::OptedOut => (1, 0),
            Placement::Unclaimed => (2, 0),
        }
    }
}

pub fn run(
    policy: &CompiledPolicy,
    policy_path: &Path,
    format: PlaceFormat,
    kubernetes: KubernetesMode,
    node_name: Option<String>,
) -> anyhow::Result<()> {
    let root = cgroup2_root().context("cannot find the cgroup v2 hierarchy")?;
    let cgroups = list_cgroups(&root)
        .with_context(|| format!("cannot list the cgroups under {}", root.display()))?;
    let (pods, pods_said) = if policy.uses_pod_metadata() && kubernetes == KubernetesMode::Auto {
        let node = match node_name {
            Some(name) => name,
            None => crate::capture::host_name()
                .context("cannot read this host's name (give --node-name)")?,
        };
        let mut listed = None;
        crate::block_on(async {
            listed = Some(list_pods(&node).await);
            Ok(())
        })?;
        match listed.unwrap_or_else(|| Err("the pod listing gave no answer".to_owned())) {
            Ok(pods) => {
                let said = format!("{} pods of node `{node}` listed", pods.len());
                (pods, said)
            }
            Err(problem) => {
                crate::stdio::say(format_args!(
                    "scrim: no pod metadata ({problem}); cgroups placed by path alone, as \
                     --kubernetes off does"
                ));
                (HashMap::new(), format!("not listed: {problem}"))
            }
        }
    } else {
        let said = if policy.uses_pod_metadata() {
            "not asked (--kubernetes off)"
        } else {
            "not needed (no namespace or label selector)"
        };
        (HashMap::new(), said.to_owned())
    };
    let rows = rows(policy, &pods, cgroups.into_iter().map(|cgroup| cgroup.path));
    let mut stdout = Stdout::lock();
    match format {
        PlaceFormat::Text => {
            let heading = format!("policy place {}", policy_path.display());
            for line in text(policy, &heading, &rows) {
                stdout.line(format_args!("{line}"))?;
            }
        }
        PlaceFormat::Json => {
            let origin = policy_path.display().to_string();
            let value = as_json(policy, &origin, &rows, &pods_said);
            stdout.line(format_args!("{value:#}"))?;
        }
    }
    Ok(stdout.finish()?)
}

/// Each cgroup of `paths` as `policy` places it, with `pods` known; in
/// the order they are listed in.
pub(crate) fn rows<'p>(
    policy: &'p CompiledPolicy,
    pods: &HashMap<String, PodMetadata>,
    paths: impl IntoIterator<Item = String>,
) -> Vec<Row<'p>> {
    let mut rows: Vec<Row> = paths
        .into_iter()
        .map(|path| {
            let pod_uid = pod_cgroup::parse(&path).map(|pod| pod.pod_uid);
            let placed = tenancy::placement(policy, pods, &path, pod_uid.as_deref());
            let pod = pod_uid
                .and_then(|uid| pods.get(&uid))
                .map(|pod| format!("{}/{}", pod.namespace, pod.name));
            Row { path, placed, pod }
        })
        .collect();
    rows.sort_by(|a, b| (a.order(), &a.path).cmp(&(b.order(), &b.path)));
    rows
}

/// The first listing of `node`'s pods, or why there is none.
async fn list_pods(node: &str) -> Result<HashMap<String, PodMetadata>, String> {
    let mut watch = PodWatch::connect(node)
        .await
        .map_err(|error| error.to_string())?;
    loop {
        let change = tokio::time::timeout(POD_LISTING_TIMEOUT, watch.next())
            .await
            .map_err(|_| {
                format!(
                    "the Kubernetes API listed no pods within {}s",
                    POD_LISTING_TIMEOUT.as_secs()
                )
            })?
            .map_err(|error| error.to_string())?;
        if let PodChange::Listed(pods) = change {
            return Ok(pods
                .into_iter()
                .map(|pod| (pod.cgroup_uid.clone(), pod))
                .collect());
        }
    }
}

/// The tenant column: a tenant's name, or `-` for cgroups no tenant holds.
fn tenant_of<'p>(policy: &'p CompiledPolicy, placed: Placed) -> &'p str {
    match placed.placement {
        Placement::Tenant(index) => &policy.tenants()[index].name,
        Placement::OptedOut | Placement::Unclaimed => "-",
    }
}

/// The rule column: what placed it, or what becomes of an unclaimed one.
fn rule_of(policy: &CompiledPolicy, placed: Placed) -> String {
    match (placed.placement, policy.unknown_tenant()) {
        (Placement::Unclaimed, None) => "unclaimed, dropped in the kernel".to_owned(),
        (Placement::Unclaimed, Some(index)) => format!(
            "unclaimed, captured as unknown_tenant `{}`",
            policy.tenants()[index].name
        ),
        _ => placed.to_string(),
    }
}

/// The rows as lines: tenant, rule, cgroup (and pod); the uid rules;
/// and a count, after `heading`.
pub(crate) fn text(policy: &CompiledPolicy, heading: &str, rows: &[Row]) -> Vec<String> {
    let cells: Vec<(&str, String)> = rows
        .iter()
        .map(|row| (tenant_of(policy, row.placed), rule_of(policy, row.placed)))
        .collect();
    let tenant_width = cells.iter().map(|(tenant, _)| tenant.len()).max();
    let rule_width = cells.iter().map(|(_, rule)| rule.len()).max();
    let (tenant_width, rule_width) = (tenant_width.unwrap_or(0), rule_width.unwrap_or(0));
    let mut lines = Vec::with_capacity(rows.len() + 1);
    for (row, (tenant, rule)) in rows.iter().zip(&cells) {
        let pod = row
            .pod
            .as_ref()
            .map_or(String::new(), |pod| format!("  (pod {pod})"));
        lines.push(format!(
            "{tenant:tenant_width$}  {rule:rule_width$}  {}{pod}",
            row.path
        ));
    }
    for rule in policy.uid_rules() {
        let (tenant, which, placed) = uid_rule(policy, rule);
        let placed = placed.to_string();
        lines.push(format!(
            "{tenant:tenant_width$}  {placed:rule_width$}  (any process with {which})"
        ));
    }
    let count = |wanted: fn(Placement) -> bool| {
        rows.iter()
            .filter(|row| wanted(row.placed.placement))
            .count()
    };
    lines.push(format!(
        "{heading}: {} cgroups, {} placed in a tenant, {} opted out, {} unclaimed",
        rows.len(),
        count(|placement| matches!(placement, Placement::Tenant(_))),
        count(|placement| placement == Placement::OptedOut),
        count(|placement| placement == Placement::Unclaimed),
    ));
    lines
}

/// A uid rule as a line: its tenant column, which processes it takes,
/// and the rule as placed.
fn uid_rule<'p>(
    policy: &'p CompiledPolicy,
    rule: &scrim_policies::UidRule,
) -> (&'p str, String, Placed<'p>) {
    let placed = Placed {
        placement: rule.placement,
        rule: Some(match rule.placement {
            Placement::OptedOut => Rule::Uid(rule.first),
            _ => Rule::UidRange(rule.first, rule.last),
        }),
    };
    let which = match rule.placement {
        Placement::OptedOut => format!("uid {}, whatever its cgroup", rule.first),
        _ => format!(
            "a uid in {}..={}, in a cgroup no selector claims",
            rule.first, rule.last
        ),
    };
    (tenant_of(policy, placed), which, placed)
}

pub(crate) fn as_json(
    policy: &CompiledPolicy,
    origin: &str,
    rows: &[Row],
    pods_said: &str,
) -> serde_json::Value {
    let placement_name = |placement: Placement| match placement {
        Placement::Tenant(_) => "tenant",
        Placement::OptedOut => "opted_out",
        Placement::Unclaimed => "unclaimed",
    };
    let tenant = |placed: Placed| match placed.placement {
        Placement::Tenant(index) => Some(policy.tenants()[index].name.as_str()),
        Placement::OptedOut | Placement::Unclaimed => None,
    };
    let cgroups: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            json!({
                "cgroup": row.path,
                "placement": placement_name(row.placed.placement),
                "tenant": tenant(row.placed),
                "rule": row.placed.rule.map(|_| row.placed.to_string()),
                "pod": row.pod,
            })
        })
        .collect();
    let uid_rules: Vec<serde_json::Value> = policy
        .uid_rules()
        .iter()
        .map(|rule| {
            let (_, _, placed) = uid_rule(policy, rule);
            json!({
                "uids": [rule.first, rule.last],
                "placement": placement_name(rule.placement),
                "tenant": tenant(placed),
                "rule": placed.to_string(),
            })
        })
        .collect();
    json!({
        "policy": origin,
        "hash": policy.hash(),
        "unknown_tenant": policy.unknown_tenant().map(|index| policy.tenants()[index].name.as_str()),
        "pods": pods_said,
        "cgroups": cgroups,
        "uid_rules": uid_rules,
    })
}
