//! `scrim policy`: work with policy files before any collector uses them.
use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use scrim_policies::{KeyUse, PolicyError, PolicyText};

use anyhow::Context as _;

use crate::{
    capture::KubernetesMode,
    place::{self, PlaceFormat},
    processing::Processing,
    report::{ReportFormat, ReportSource, report},
    stdio::{self, Stdout},
    tenant_pipeline::unix_now,
};

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Check policy files in full, as `scrim run` would load them but for
    /// the master key (pseudonyms are made with a public test key), so a
    /// policy can be checked where its key must never be; every problem is
    /// printed with its file, line and column, and any problem makes the
    /// exit status non-zero. Warnings are printed and refuse nothing.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check the master key files too, as `scrim run` does: present,
        /// private to this user and at least 32 bytes (on the node, not in
        /// CI).
        #[arg(long)]
        with_keys: bool,
    },
    /// Explain a policy as Markdown: per tenant, what is collected and why,
    /// how each field is transformed, how long it is kept, where it goes, and
    /// what the kernel never reads.
    Explain { file: PathBuf },
    /// Write a record of processing activities (GDPR Art. 30) from a
    /// policy: per tenant, purposes, legal bases, categories of data,
    /// transformations, what is never captured, retention, recipients and
    /// technical measures; the controller's own details are left blank.
    Report {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "html")]
        format: ReportFormat,
        /// Write here instead of to standard output.
        #[arg(long)]
        to: Option<PathBuf>,
        /// Read the master key, as `scrim run` does, and state the hash
        /// the rows carry, which covers the key's fingerprint (on the
        /// node; without it the report needs no secret).
        #[arg(long)]
        with_keys: bool,
    },
    /// Run a policy's test cases: each case file in DIR gives an event and the
    /// exact record the policy must make of it (or that it is dropped).
    /// Pseudonyms are made with a public test key: no master key is read.
    Test {
        file: PathBuf,
        /// Directory of case files (`*.toml`).
        #[arg(long)]
        cases: PathBuf,
    },
    /// Print the JSON Schema of policy files, for editors.
    Schema,
    /// List this host's cgroups with the tenant the policy places each in
    /// and the rule that placed it, the unclaimed ones last, as `scrim run`
    /// would place them (pods too, when the policy selects by namespace or
    /// labels and the Kubernetes API answers).
    Place {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: PlaceFormat,
        /// Pod metadata, as for `scrim run`: `auto` lists this node's pods
        /// when the policy selects by them; `off` never asks.
        #[arg(long, value_enum, default_value = "auto")]
        kubernetes: KubernetesMode,
        /// The node whose pods are listed. Default: this host's name.
        #[arg(long, env = "NODE_NAME")]
        node_name: Option<String>,
    },
}

pub fn run(args: PolicyArgs) -> anyhow::Result<()> {
    match args.command {
        PolicyCommand::Check { files, with_keys } => check(&files, with_keys),
        PolicyCommand::Schema => {
            stdio::print(&format!("{:#}\n", scrim_policies::json_schema()))?;
            Ok(())
        }
        PolicyCommand::Test { file, cases } => test(&file, &cases),
        PolicyCommand::Place {
            file,
            format,
            kubernetes,
            node_name,
        } => place::run(
            &read(&file)?.compile(KeyUse::Test)?,
            &file,
            format,
            kubernetes,
            node_name,
        ),
        PolicyCommand::Report {
            file,
            format,
            to,
            with_keys,
        } => write_report(&file, format, to.as_deref(), with_keys),
        PolicyCommand::Explain { file } => {
            let effective = read(&file)?.effective()?;
            stdio::print(&crate::explain::explain(&Processing::of(&effective.policy)))?;
            Ok(())
        }
    }
}

/// The record of processing of the policy as `scrim run` would run it in
/// this environment: the same overrides, so the same hash.
fn write_report(
    file: &Path,
    format: ReportFormat,
    to: Option<&Path>,
    with_keys: bool,
) -> anyhow::Result<()> {
    let text = read(file)?;
    let effective = text.effective()?;
    // With the key at hand, the hash is the one `scrim run` stamps.
    let hash = match with_keys {
        true => text.compile(KeyUse::Read)?.hash().to_owned(),
        false => effective.hash.clone(),
    };
    let generated = scrim_event::time::UtcDateTime::from_unix_nanos(unix_now()).rfc3339();
    let text = report(
        &Processing::of(&effective.policy),
        &ReportSource {
            path: &file.display().to_string(),
            hash: &hash,
            keyed: effective.policy.keys.is_some() && !with_keys,
            overridden: effective.overridden,
            generated: &generated,
        },
        format,
    );
    match to {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display())),
        None => Ok(stdio::print(&text)?),
    }
}

fn test(file: &Path, cases: &Path) -> anyhow::Result<()> {
    let policy = read(file)?.compile(KeyUse::Test)?;
    let outcomes = scrim_policies::cases::run_cases(&policy, cases)?;
    let failed = outcomes
        .iter()
        .filter(|outcome| !outcome.failures.is_empty())
        .count();
    let mut stdout = Stdout::lock();
    for outcome in &outcomes {
        let verdict = if outcome.failures.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        match &outcome.dropped_by {
            Some(rule) if outcome.failures.is_empty() => stdout.line(format_args!(
                "{verdict} {} (dropped: {rule})",
                outcome.path.display()
            ))?,
            _ => stdout.line(format_args!("{verdict} {}", outcome.path.display()))?,
        }
        for failure in &outcome.failures {
            stdout.line(format_args!("       {failure}"))?;
        }
    }
    stdout.line(format_args!(
        "policy test: {} cases passed, {failed} failed",
        outcomes.len() - failed
    ))?;
    stdout.finish()?;
    match failed {
        0 => Ok(()),
        _ => anyhow::bail!("{failed} of {} cases failed", outcomes.len()),
    }
}

/// Reads a policy within its limits (no FIFO waited on, no `/dev/zero`
/// read), and warns of a file that `scrim run` would refuse for who can
/// change it: these commands only read a policy (in a Git checkout, by an
/// ordinary user), so that is no reason to fail them.
fn read(file: &Path) -> Result<PolicyText, PolicyError> {
    let text = PolicyText::read(file)?;
    if let Err(untrusted) = text.check_trusted() {
        // A closed stderr loses the warning, not the command.
        let _ = writeln!(
            std::io::stderr(),
            "scrim: warning: `scrim run` would refuse this policy file: {untrusted}"
        );
    }
    Ok(text)
}

/// Checks in full, as `scrim run` would load them (the same overrides, so
/// the same hash), every plan built; the master key files only
/// `with_keys`.
fn check(files: &[PathBuf], with_keys: bool) -> anyhow::Result<()> {
    let keys = if with_keys {
        KeyUse::Read
    } else {
        KeyUse::Test
    };
    let mut failed = 0;
    let mut stdout = Stdout::lock();
    for file in files {
        match read(file).and_then(|text| text.compile(keys)) {
            Ok(policy) => {
                for warning in policy.warnings() {
                    stdio::say(format_args!(
                        "{}:{}:{}: warning: {}",
                        file.display(),
                        warning.line,
                        warning.column,
                        warning.message
                    ));
                }
                stdout.line(format_args!(
                    "{}: ok ({} tenants, blake3 {})",
                    file.display(),
                    policy.tenants().len(),
                    policy.hash()
                ))?
            }
            Err(error) => {
                stdio::say(format_args!("{error}"));
                failed += 1;
            }
        }
    }
    stdout.finish()?;
    match failed {
        0 => Ok(()),
        _ => anyhow::bail!("{failed} of {} policy files are invalid", files.len()),
    }
}
