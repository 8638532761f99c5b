//! `scrim policy explain`: what a policy collects, why, how each field is
//! transformed, how long it is kept, where it goes, and what the kernel never
//! reads, as Markdown a compliance team can read, print and diff.
use std::fmt::Write as _;

use scrim_event::{EventKind, field};
use scrim_policies::{
    CapturePlan, PolicyFile,
    model::{Action, Sink, Tenant},
};
use scrim_probes::CaptureFields;
use toml::Spanned;

pub fn explain(policy: &PolicyFile) -> String {
    let mut out = String::new();
    let unknown = policy
        .defaults
        .unknown_tenant
        .as_ref()
        .map_or("drop", |tenant| tenant.get_ref().as_str());
    let _ = writeln!(
        out,
        "Events no tenant selects: {}.",
        unknown_tenant(unknown)
    );
    for opt_out in &policy.opt_outs {
        let opt_out = opt_out.get_ref();
        let mut never = groups(&opt_out.cgroup_path, &opt_out.k8s_namespace);
        never.extend(opt_out.uid.iter().map(|uid| format!("uid {uid}")));
        let _ = writeln!(
            out,
            "Never captured, dropped in the kernel: {}.",
            never.join(", ")
        );
    }
    for tenant in &policy.tenants {
        out.push('\n');
        explain_tenant(&mut out, tenant);
    }
    out
}

fn unknown_tenant(target: &str) -> String {
    if target == "drop" {
        "dropped".into()
    } else {
        format!("handled as tenant `{target}`")
    }
}

fn explain_tenant(out: &mut String, tenant: &Tenant) {
    let plan = CapturePlan::of(tenant);
    let _ = writeln!(out, "## Tenant `{}`\n", tenant.name.get_ref());
    let _ = writeln!(out, "- Purpose: {}", tenant.purpose.get_ref());
    let _ = writeln!(out, "- Legal basis: {}", tenant.legal_basis.get_ref());
    let _ = writeln!(out, "- Selects: {}", selection(tenant));
    let _ = writeln!(out, "- Captures: {}", captures(&plan));
    let retention: Vec<String> = tenant
        .retention
        .iter()
        .map(|(kind, duration)| format!("{} events for {}", kind.get_ref(), duration.get_ref()))
        .collect();
    let _ = writeln!(out, "- Keeps: {}", retention.join(", "));
    if let Some((per_second, burst)) = plan.rate_limit {
        let _ = writeln!(
            out,
            "- Quota: {per_second} events a second (bursts of {burst}); the excess is dropped \
             in the kernel and counted for the tenant"
        );
    }
    let sinks: Vec<String> = tenant
        .sinks
        .get_ref()
        .iter()
        .map(|sink| destination(sink.get_ref()))
        .collect();
    let readers = match tenant.archive_group {
        Some(group) => format!(" (archive directories readable by group {group} only)"),
        None => String::new(),
    };
    let _ = writeln!(out, "- Sends to: {}{readers}\n", sinks.join("; "));

    let _ = writeln!(
        out,
        "| field | data category | what happens | read in the kernel |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    // What the kernel reads for this tenant: the union of its rules' needs.
    let kernel_mask = plan.fields.iter().fold(CaptureFields::NONE, |mask, kept| {
        mask | CaptureFields::needed_for(kept)
    });
    let mut denied = Vec::new();
    let mut never_read = Vec::new();
    for field in field::ALL
        .iter()
        .filter(|field| field.kinds.iter().any(|kind| plan.kinds.contains(kind)))
    {
        let rule = tenant
            .fields
            .iter()
            .find(|(name, _)| name.get_ref() == field.name)
            .map(|(_, action)| action.get_ref());
        let needs = CaptureFields::needed_for(field.name);
        let masked = needs != CaptureFields::NONE;
        match rule {
            Some(action) if *action != Action::Drop => {
                let read = if masked { "yes (asked for)" } else { "always" };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {read} |",
                    field.name,
                    field.category.as_str(),
                    describe(action)
                );
            }
            _ if masked && !kernel_mask.contains(needs) => never_read.push(field.name),
            _ => denied.push(field.name),
        }
    }
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !denied.is_empty() {
        let _ = writeln!(
            out,
            "\nNever exported (no rule keeps them): {}.",
            list(&denied)
        );
    }
    if !never_read.is_empty() {
        let _ = writeln!(out, "\nNever read in the kernel: {}.", list(&never_read));
    }
}

fn selection(tenant: &Tenant) -> String {
    let selector = tenant.selector.get_ref();
    let mut parts = groups(&selector.cgroup_path, &selector.k8s_namespace);
    parts.extend(
        selector
            .k8s_pod_labels
            .iter()
            .map(|(key, value)| format!("pods labelled {key}={value}")),
    );
    if let Some(range) = &selector.uid_range {
        let [first, last] = range.get_ref();
        parts.push(format!("uids {first}-{last}"));
    }
    parts.join(", ")
}

/// "cgroup /a/**", "namespace web", ...
fn groups(cgroup_paths: &[Spanned<String>], namespaces: &[Spanned<String>]) -> Vec<String> {
    let cgroups = cgroup_paths
        .iter()
        .map(|path| format!("cgroup {}", path.get_ref()));
    let namespaces = namespaces
        .iter()
        .map(|ns| format!("namespace {}", ns.get_ref()));
    cgroups.chain(namespaces).collect()
}

fn captures(plan: &CapturePlan) -> String {
    plan.kinds
        .iter()
        .map(|kind| match kind {
            EventKind::Syscall => {
                let names: Vec<&str> = plan
                    .syscalls
                    .iter()
                    .filter_map(|&number| scrim_event::syscall_name(number))
                    .collect();
                format!("syscalls ({})", names.join(", "))
            }
            other => format!("{} events", other.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(action: &Action) -> String {
    match action {
        Action::Keep => "kept as is".into(),
        Action::Drop => "dropped".into(),
        Action::Pseudonymize => "pseudonymised (keyed BLAKE3)".into(),
        Action::ScrubSecrets => "secrets and personal data scrubbed".into(),
        Action::Truncate { ipv4, ipv6 } => {
            format!("truncated to /{ipv4} (IPv4) or /{ipv6} (IPv6)")
        }
        Action::Coarsen(granularity) => format!("rounded down to {granularity}"),
        Action::Generalize { depth, prefixes } => match (depth, prefixes.is_empty()) {
            (Some(depth), true) => format!("first {depth} path components kept"),
            (Some(depth), false) => format!(
                "first {depth} path components kept; {} generalised",
                prefixes.join(", ")
            ),
            (None, _) => format!("{} generalised", prefixes.join(", ")),
        },
    }
}

fn destination(sink: &Sink) -> String {
    match sink {
        Sink::Parquet { path } => format!("Parquet archive at {path}"),
        Sink::Jsonl { path } => format!("JSON lines at {path}"),
        Sink::Otlp { endpoint, .. } => format!("OTLP to {endpoint}"),
    }
}
