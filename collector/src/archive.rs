//! `scrim archive`: what compliance teams do to the archives scrim keeps.
//!
//! - `retention`: remove what the policy no longer allows to keep, now
//!   rather than at `scrim run`'s next pass (`--dry-run` lists it).
use std::path::PathBuf;

use clap::{Args, Subcommand};
use scrim_audit::AuditLog;
use scrim_event::time::UtcDateTime;

use crate::{
    capture::audit_log_path,
    outputs::{PolicyOutputs, SinkSettings},
    policy_source::PolicySource,
    retention::TenantRetention,
    tenant_pipeline::unix_now,
};

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Subcommand, Debug)]
enum ArchiveCommand {
    /// Remove the hour partitions each tenant's retention no longer allows,
    /// recording each removal in the audit log.
    Retention {
        #[command(flatten)]
        archives: ArchiveLocation,
        /// List what would be removed; remove nothing, record nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which archives: the policy's, or one directory for every tenant (as
/// `scrim run --output` wrote them).
#[derive(Args, Debug)]
struct ArchiveLocation {
    /// The policy whose tenants, sinks and retention apply; default: the
    /// built-in one.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Every tenant's archive is under this directory instead of its
    /// policy's paths.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The state directory whose audit log records what is done.
    #[arg(long, default_value = "scrim-state")]
    state_dir: PathBuf,
}

pub fn run(args: ArchiveArgs) -> anyhow::Result<()> {
    match args.command {
        ArchiveCommand::Retention { archives, dry_run } => retention(&archives, dry_run),
    }
}

fn retention(location: &ArchiveLocation, dry_run: bool) -> anyhow::Result<()> {
    let policy = PolicySource::new(location.policy.clone()).load()?;
    let settings = SinkSettings {
        root_override: location.output.clone(),
        format_override: None,
        roll_interval: std::time::Duration::from_secs(60),
        spool_root: location.state_dir.join("spool"),
        spool_max_bytes: 0,
    };
    let outputs = PolicyOutputs::new(&policy, Vec::new(), &settings);
    let audit = AuditLog::at(&audit_log_path(&location.state_dir));
    let now = unix_now();
    let (mut partitions, mut files, mut bytes) = (0, 0, 0);
    for tenant in &outputs.tenants {
        let removals = TenantRetention {
            tenant: &tenant.name,
            roots: tenant
                .archives
                .iter()
                .map(|(root, _)| root.as_path())
                .collect(),
            periods: &tenant.retention,
        }
        .enforce(now, dry_run, (!dry_run).then_some(&audit))?;
        for removal in removals {
            let partition = &removal.partition;
            println!(
                "{} {} (tenant {}, kind {}, hour {}, {} files, {} bytes)",
                if dry_run { "would remove" } else { "removed" },
                partition.directory.display(),
                tenant.name,
                removal.kind.as_str(),
                UtcDateTime::from_unix_nanos(partition.hour_start).rfc3339(),
                partition.files.len(),
                partition.bytes,
            );
            partitions += 1;
            files += partition.files.len();
            bytes += partition.bytes;
        }
    }
    println!(
        "retention: {partitions} hour partitions past retention, {files} files, {bytes} bytes{}",
        if dry_run {
            " (dry run: nothing removed)".to_owned()
        } else if partitions > 0 {
            format!("; recorded in {}", audit.path().display())
        } else {
            String::new()
        }
    );
    Ok(())
}
