//! `scrim`: privacy-aware runtime telemetry for multi-tenant Linux nodes.
mod archive;
mod audit;
mod bench;
mod capture;
mod cli_values;
mod control;
mod dispatch;
mod erase_bench;
mod explain;
mod fields;
mod kept_keys;
mod keys;
mod logging;
mod metrics;
mod outputs;
mod pipeline_bench;
mod place;
mod policy;
mod policy_source;
mod policy_versions;
mod privileges;
mod processing;
mod reach;
mod redact;
mod report;
mod report_text;
mod retention;
mod status;
mod stdio;
mod summary;
mod tenancy;
mod tenant_pipeline;
mod upload;
mod workloads;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's malloc: the pipelines allocate and free
/// many small values per event (record texts, span attributes, protobuf
/// messages) from several threads, and glibc's consolidation of freed
/// chunks and trimming of the heap showed up as a fifth of OTLP export's
/// time (`cargo bench -p scrim-otlp --bench export`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "scrim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture events from the kernel and write what the policy lets out, per
    /// tenant, until Ctrl-C, SIGTERM or --duration.
    Run(capture::RunArgs),
    /// Print the catalogue of fields scrim can collect, with their types and
    /// data categories, as one Markdown table per event kind.
    Fields,
    /// Measure scrim on this machine.
    Bench(bench::BenchArgs),
    /// Check, explain, test policy files; print their JSON Schema.
    Policy(policy::PolicyArgs),
    /// Generate a master key; find the pseudonym a value had.
    Keys(keys::KeysArgs),
    /// Apply retention to the archives now.
    Archive(archive::ArchiveArgs),
    /// Verify the audit log.
    Audit(audit::AuditArgs),
    /// Ask the collector running on a state directory what it is doing:
    /// its policy, its counts, and where it placed each of this host's
    /// cgroups (and by which rule).
    Status(status::StatusArgs),
    /// Scrub secrets from stdin to stdout, line by line, as `scrub_secrets` does.
    ///
    /// One line out for each line in, whatever the input holds, each with
    /// its ending as it came (`\n`, `\r\n`, or none on a last line). A line
    /// that is not valid UTF-8 is scrubbed too: each invalid byte sequence
    /// in it becomes U+FFFD (the rest of the line is kept), and how many
    /// lines were changed so is printed to stderr at the end.
    Redact {
        /// List the detectors instead.
        #[arg(long)]
        detectors: bool,
    },
}

fn block_on(task: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(task))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => block_on(capture::run(args)),
        Command::Bench(args) => block_on(bench::run(args)),
        Command::Policy(args) => policy::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Archive(args) => archive::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Status(args) => status::run(args),
        Command::Redact { detectors } => redact::run(detectors),
        Command::Fields => stdio::print(&fields::catalogue()).map_err(anyhow::Error::from),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if matches!(error.downcast_ref(), Some(stdio::StdoutError::Closed)) => {
            ExitCode::from(stdio::CLOSED_STDOUT_STATUS)
        }
        Err(error) => {
            stdio::say(format_args!("scrim: {error:#}"));
            ExitCode::FAILURE
        }
    }
}
