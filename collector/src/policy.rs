//! `scrim policy`: work with policy files before any collector uses them.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

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
}

pub fn run(args: PolicyArgs) -> anyhow::Result<()> {
    match args.command {
        PolicyCommand::Check { files } => check(&files),
        PolicyCommand::Schema => {
            println!("{:#}", scrim_policies::json_schema());
            Ok(())
        }
        PolicyCommand::Test { file, cases } => test(&file, &cases),
        PolicyCommand::Explain { file } => {
            let policy = scrim_policies::load(&file)?;
            print!("{}", crate::explain::explain(&policy));
            Ok(())
        }
    }
}

fn test(file: &Path, cases: &Path) -> anyhow::Result<()> {
    let policy = scrim_policies::compile(file)?;
    let outcomes = scrim_policies::cases::run_cases(&policy, cases)?;
    let failed = outcomes
        .iter()
        .filter(|outcome| !outcome.failures.is_empty())
        .count();
    for outcome in &outcomes {
        let verdict = if outcome.failures.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        println!("{verdict} {}", outcome.path.display());
        for failure in &outcome.failures {
            println!("       {failure}");
        }
    }
    println!(
        "policy test: {} cases passed, {failed} failed",
        outcomes.len() - failed
    );
    match failed {
        0 => Ok(()),
        _ => anyhow::bail!("{failed} of {} cases failed", outcomes.len()),
    }
}

/// Checks in full, as `scrim run` would load them: keys are read and every
/// plan is built.
fn check(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut failed = 0;
    for file in files {
        match scrim_policies::compile(file) {
            Ok(policy) => println!(
                "{}: ok ({} tenants, blake3 {})",
                file.display(),
                policy.tenants().len(),
                policy.hash()
            ),
            Err(error) => {
                eprintln!("{error}");
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        _ => anyhow::bail!("{failed} of {} policy files are invalid", files.len()),
    }
}
