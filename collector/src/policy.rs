//! `scrim policy`: work with policy files before any collector uses them.
use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use scrim_policies::{PolicyError, PolicyText};

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
    /// Check policy files in full; every problem is printed with its file,
    /// line and column, and any problem makes the exit status non-zero.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
    },
    /// Run a policy's test cases: each case file in DIR gives an event and the
    /// exact record the policy must make of it (or that it is dropped).
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
        PolicyCommand::Check { files } => check(&files),
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
            &read(&file)?.compile()?,
            &file,
            format,
            kubernetes,
            node_name,
        ),
        PolicyCommand::Report { file, format, to } => write_report(&file, format, to.as_deref()),
        PolicyCommand::Explain { file } => {
            let policy = read(&file)?.load_without_key()?;
            stdio::print(&crate::explain::explain(&Processing::of(&policy)))?;
            Ok(())
        }
    }
}

fn write_report(file: &Path, format: ReportFormat, to: Option<&Path>) -> anyhow::Result<()> {
    let text = read(file)?;
    let policy = text.load_without_key()?;
    let hash = blake3::hash(text.source().as_bytes()).to_hex();
    let generated = scrim_event::time::UtcDateTime::from_unix_nanos(unix_now()).rfc3339();
    let text = report(
        &Processing::of(&policy),
        &ReportSource {
            path: &file.display().to_string(),
            hash: &hash,
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
    let policy = read(file)?.compile()?;
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

/// Checks in full, as `scrim run` would load them: keys are read and every
/// plan is built.
fn check(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut stdout = Stdout::lock();
    for file in files {
        match read(file).and_then(|text| text.compile()) {
            Ok(policy) => stdout.line(format_args!(
                "{}: ok ({} tenants, blake3 {})",
                file.display(),
                policy.tenants().len(),
                policy.hash()
            ))?,
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
