//! `scrim policy`: work with policy files before any collector uses them.
use std::path::PathBuf;

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
        PolicyCommand::Explain { file } => {
            let policy = scrim_policies::load(&file)?;
            print!("{}", crate::explain::explain(&policy));
            Ok(())
        }
    }
}

fn check(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut failed = 0;
    for file in files {
        match scrim_policies::load(file) {
            Ok(policy) => println!("{}: ok ({} tenants)", file.display(), policy.tenants.len()),
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
