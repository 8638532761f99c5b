//! `scrim audit verify`: checks the audit log's hash chain.
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::capture::{audit_log_path, default_state_dir};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check that no entry was changed, inserted or removed; print the
    /// number of entries, the torn entries that appends recovered, and the
    /// last hash (keep it elsewhere to detect a cut-off tail later).
    Verify {
        /// The log; default: the state directory's.
        file: Option<PathBuf>,
        /// The state directory (the same default as `scrim run`).
        #[arg(long, env = "SCRIM_STATE_DIR", default_value_os_t = default_state_dir())]
        state_dir: PathBuf,
    },
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify { file, state_dir } => {
            let path = file.unwrap_or_else(|| audit_log_path(&state_dir));
            let verified = scrim_audit::verify(&path)?;
            println!(
                "{}: {} entries, chain intact; last hash {}",
                path.display(),
                verified.entries,
                verified.last_hash
            );
            for recovery in &verified.recoveries {
                println!("{}: {recovery}", path.display());
            }
            Ok(())
        }
    }
}
