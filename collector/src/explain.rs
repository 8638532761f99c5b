//! `scrim policy explain`: what a policy collects, why, how each field is
//! transformed, how long it is kept, where it goes, and what the kernel never
//! reads, as Markdown a compliance team can read, print and diff. Every
//! value from the policy is written as literal text (see `report_text`).
use std::fmt::Write as _;

use crate::{
    processing::{Processing, TenantProcessing, describe},
    report_text::Text,
};

pub fn explain(processing: &Processing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Events no tenant selects: {}.",
        processing.unknown_tenant.markdown()
    );
    if !processing.opted_out.is_empty() {
        let _ = writeln!(
            out,
            "Never captured, dropped in the kernel: {}.",
            Text::join(processing.opted_out.iter().cloned(), ", ").markdown()
        );
    }
    for tenant in &processing.tenants {
        out.push('\n');
        explain_tenant(&mut out, tenant);
    }
    out
}

fn explain_tenant(out: &mut String, tenant: &TenantProcessing) {
    let _ = writeln!(
        out,
        "## Tenant {}\n",
        Text::default().code(&tenant.name).markdown()
    );
    let _ = writeln!(
        out,
        "- Purpose: {}",
        Text::from(tenant.purpose.as_str()).markdown()
    );
    let mut basis = Text::from(tenant.legal_basis.article());
    if let Some(detail) = &tenant.legal_basis_detail {
        basis = basis.plain(": ").plain(detail);
    }
    let _ = writeln!(out, "- Legal basis: {}", basis.markdown());
    for (label, value) in [
        ("Legitimate-interest assessment", &tenant.lia),
        ("DPIA", &tenant.dpia),
        ("Special categories (Art. 9)", &tenant.special_categories),
    ] {
        if let Some(value) = value {
            let _ = writeln!(out, "- {label}: {}", Text::from(value.as_str()).markdown());
        }
    }
    let _ = writeln!(out, "- Selects: {}", tenant.selects.markdown());
    let _ = writeln!(out, "- Captures: {}", tenant.captures.markdown());
    let retention = Text::join(
        tenant.retention.iter().map(|(kind, duration)| {
            Text::from(format!("{} events for ", kind.as_str())).code(duration)
        }),
        ", ",
    );
    let _ = writeln!(out, "- Keeps: {}", retention.markdown());
    if let Some((per_second, burst)) = tenant.quota {
        let _ = writeln!(
            out,
            "- Quota: {per_second} events a second (bursts of {burst}); the excess is dropped \
             in the kernel and counted for the tenant"
        );
    }
    let sinks = Text::join(
        tenant.recipients.iter().map(|recipient| {
            Text::from(format!("{} at ", recipient.kind)).code(&recipient.location)
        }),
        "; ",
    );
    let readers = match tenant.archive_group {
        Some(group) => format!(" (archive directories readable by group {group} only)"),
        None => String::new(),
    };
    let _ = writeln!(out, "- Sends to: {}{readers}\n", sinks.markdown());

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
            describe(&used.action).markdown().replace('|', "\\|")
        );
    }
    if !tenant.not_exported.is_empty() {
        let _ = writeln!(
            out,
            "\nNever exported (no rule keeps them): {}.",
            Text::codes(tenant.not_exported.iter().copied()).markdown()
        );
    }
    if !tenant.never_read.is_empty() {
        let _ = writeln!(
            out,
            "\nNever read in the kernel: {}.",
            Text::codes(tenant.never_read.iter().copied()).markdown()
        );
    }
}
