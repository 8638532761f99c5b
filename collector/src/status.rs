//! `scrim status`: what the collector running on a state directory is
//! doing, asked over its control socket (see [`crate::control`]): its
//! policy and hash, its counts so far (the summary line, and per tenant),
//! and every cgroup it knows with the tenant it placed it in and the rule
//! that did, the unclaimed ones last: placed as the collector placed them,
//! with the pods it knows.
use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use crate::{
    capture::default_state_dir,
    control,
    outputs::TenantCounts,
    place::{self, PlaceFormat},
    stdio,
    summary::Summary,
    tenancy::Tenancy,
};

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The collector's state directory (the same default as `scrim run`).
    #[arg(long, env = "SCRIM_STATE_DIR", default_value_os_t = default_state_dir())]
    state_dir: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: PlaceFormat,
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let json = args.format == PlaceFormat::Json;
    let status = control::status(&args.state_dir, json)?.with_context(|| {
        format!(
            "no collector runs on {} (nothing answers on its {}); `scrim policy place FILE` \
             shows how a policy would place this host's cgroups",
            args.state_dir.display(),
            control::SOCKET
        )
    })?;
    stdio::print(&status)?;
    Ok(())
}

/// What the collector knows, for [`render`].
pub struct View<'a> {
    /// The policy's file, or "built-in default".
    pub origin: String,
    pub hash: &'a str,
    pub summary: &'a Summary,
    pub tenants: &'a BTreeMap<String, TenantCounts>,
    pub tenancy: &'a Tenancy,
}

/// The status, as text lines or one JSON object, each ending in a newline.
pub fn render(view: &View, json: bool) -> String {
    let pid = std::process::id();
    let Some((policy, paths, pods)) = view.tenancy.known() else {
        return format!("collector pid {pid}: no policy in force yet\n");
    };
    let rows = place::rows(policy, pods, paths);
    if json {
        let tenants: serde_json::Map<String, serde_json::Value> = view
            .tenants
            .iter()
            .map(|(name, counts)| {
                (
                    name.clone(),
                    json!({
                        "received": counts.received,
                        "exported": counts.exported,
                        "dropped_by_policy": counts.dropped_by_policy,
                        "lost": counts.lost,
                        "pending": counts.pending,
                    }),
                )
            })
            .collect();
        let pods_said = format!("{} pods known", pods.len());
        let value = json!({
            "pid": pid,
            "uptime_seconds": view.summary.elapsed.as_secs(),
            "summary": view.summary.to_string(),
            "tenants": tenants,
            "placement": place::as_json(policy, &view.origin, &rows, &pods_said),
        });
        return format!("{value:#}\n");
    }
    let mut text = format!(
        "collector pid {pid}, policy {} (hash {})\n{}\n",
        view.origin, view.hash, view.summary
    );
    for (name, counts) in view.tenants {
        text += &format!(
            "tenant `{name}`: {} received, {} exported, {} pending, {} dropped by policy, {} lost\n",
            counts.received, counts.exported, counts.pending, counts.dropped_by_policy, counts.lost
        );
    }
    for line in place::text(policy, "status", &rows) {
        text += &line;
        text.push('\n');
    }
    text
}
