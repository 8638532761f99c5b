//! `scrim policy explain`: what a policy collects, why, how each field is
//! transformed, how long it is kept, where it goes, and what the kernel never
//! reads, as Markdown a compliance team can read, print and diff.
use std::fmt::Write as _;

use crate::processing::{Processing, TenantProcessing, describe};

pub fn explain(processing: &Processing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Events no tenant selects: {}.",
        processing.unknown_tenant
    );
    if !processing.opted_out.is_empty() {
        let _ = writeln!(
            out,
            "Never captured, dropped in the kernel: {}.",
            processing.opted_out.join(", ")
        );
    }
    for tenant in &processing.tenants {
        out.push('\n');
        explain_tenant(&mut out, tenant);
    }
    out
}

fn explain_tenant(out: &mut String, tenant: &TenantProcessing) {
    let _ = writeln!(out, "## Tenant `{}`\n", tenant.name);
    let _ = writeln!(out, "- Purpose: {}", tenant.purpose);
    let _ = writeln!(out, "- Legal basis: {}", tenant.legal_basis);
    let _ = writeln!(out, "- Selects: {}", tenant.selects);
    let _ = writeln!(out, "- Captures: {}", tenant.captures);
    let retention: Vec<String> = tenant
        .retention
        .iter()
        .map(|(kind, duration)| format!("{kind} events for {duration}"))
        .collect();
    let _ = writeln!(out, "- Keeps: {}", retention.join(", "));
    if let Some((per_second, burst)) = tenant.quota {
        let _ = writeln!(
            out,
            "- Quota: {per_second} events a second (bursts of {burst}); the excess is dropped \
             in the kernel and counted for the tenant"
        );
    }
    let sinks: Vec<String> = tenant
        .recipients
        .iter()
        .map(|recipient| format!("{} at {}", recipient.kind, recipient.location))
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
    for used in &tenant.exported {
        let read = if used.asked_for {
            "yes (asked for)"
        } else {
            "always"
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {read} |",
            used.field.name,
            used.field.category.as_str(),
            describe(&used.action)
        );
    }
    if !tenant.not_exported.is_empty() {
        let _ = writeln!(
            out,
            "\nNever exported (no rule keeps them): {}.",
            code_list(&tenant.not_exported)
        );
    }
    if !tenant.never_read.is_empty() {
        let _ = writeln!(
            out,
            "\nNever read in the kernel: {}.",
            code_list(&tenant.never_read)
        );
    }
}

/// "`a`, `b`": field names as Markdown code.
pub fn code_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
