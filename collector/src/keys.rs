//! `scrim keys`: the master key, and the pseudonyms it makes.
//!
//! `pseudonym` is how a data-protection officer answers an access or
//! erasure request: it prints the pseudonym a value had for a tenant at a
//! date, which is what the archive holds in place of the value.
use std::{path::PathBuf, time::SystemTime};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use scrim_redaction::{MasterKey, Pseudonymizer};

use crate::stdio;

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Write a new random master key (32 bytes, mode 0600) to FILE; an
    /// existing file is never overwritten.
    Generate { file: PathBuf },
    /// Print the pseudonym a value had for a tenant at a date, under the
    /// policy's keys and rotation.
    Pseudonym {
        /// The policy whose [keys] made the pseudonyms.
        #[arg(long)]
        policy: PathBuf,
        #[arg(long)]
        tenant: String,
        /// A catalogue field name, for example `process.real_user.id`.
        #[arg(long)]
        field: String,
        /// The value as text: `1000` for a uid, `192.0.2.7` for an address.
        #[arg(long)]
        value: String,
        /// When (RFC 3339, for example `2026-11-25T00:00:00Z`); default: now.
        #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
        at: Option<SystemTime>,
    },
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Generate { file } => {
            MasterKey::generate(&file)?;
            stdio::print(&format!(
                "{}: new master key (32 bytes, mode 0600)\n",
                file.display()
            ))?;
            Ok(())
        }
        KeysCommand::Pseudonym {
            policy,
            tenant,
            field,
            value,
            at,
        } => {
            let compiled = scrim_policies::compile(&policy)?;
            let known = compiled
                .tenants()
                .iter()
                .any(|candidate| candidate.name == tenant);
            anyhow::ensure!(known, "{}: no tenant `{tenant}`", policy.display());
            anyhow::ensure!(
                scrim_event::field::named(&field).is_some(),
                "no field `{field}` in the catalogue (see `scrim fields`)"
            );
            let (master, rotation) = compiled
                .keys()
                .with_context(|| format!("{}: the policy has no [keys]", policy.display()))?;
            let at = at.unwrap_or_else(SystemTime::now);
            let nanos = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .context("dates before 1970 have no epoch")?
                .as_nanos();
            let nanos = i64::try_from(nanos).context("date out of range")?;
            let mut pseudonymizer = Pseudonymizer::new(master, &tenant, rotation);
            let pseudonym = pseudonymizer.pseudonymize(&field, value.as_bytes(), nanos);
            stdio::print(&format!("{pseudonym}\n"))?;
            Ok(())
        }
    }
}
