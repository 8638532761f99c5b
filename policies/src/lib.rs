//! scrim's policy files: what each tenant's events may carry, why, how long
//! they are kept and where they go.
//!
//! [`load`] reads a TOML policy, checks it in full, and returns either the
//! policy or every problem found, each with its file, line and column.
pub mod cases;
mod compile;
mod diagnostic;
pub mod model;
mod plan;
mod record_plan;
mod schema;
mod validate;

use std::path::Path;

pub use compile::{CompiledPolicy, Placement, TenantPolicy};
pub use diagnostic::{Diagnostic, PolicyError};
pub use model::PolicyFile;
pub use plan::CapturePlan;
pub use record_plan::{POLICY_HASH_COLUMN, PlannedRecord, RecordPlan};
pub use schema::json_schema;

/// Reads, parses and validates the policy at `path`. Relative paths inside
/// it (the master key file) are relative to its directory.
pub fn load(path: &Path) -> Result<PolicyFile, PolicyError> {
    let source = read(path)?;
    parse(&source, base_of(path)).map_err(|diagnostics| PolicyError {
        path: path.to_path_buf(),
        diagnostics,
    })
}

/// Reads, checks and compiles the policy at `path` into what runs: the
/// master key is loaded, every plan built, the file hashed.
pub fn compile(path: &Path) -> Result<CompiledPolicy, PolicyError> {
    let source = read(path)?;
    compile_source(&source, base_of(path)).map_err(|diagnostics| PolicyError {
        path: path.to_path_buf(),
        diagnostics,
    })
}

/// The policy `scrim run` uses when given none: `examples/default.toml`
/// (privacy by default: process events, no arguments, one tenant).
pub const DEFAULT_POLICY: &str = include_str!("../examples/default.toml");

/// [`DEFAULT_POLICY`], compiled.
pub fn default_policy() -> Result<CompiledPolicy, PolicyError> {
    compile_source(DEFAULT_POLICY, Path::new(".")).map_err(|diagnostics| PolicyError {
        path: "<built-in default policy>".into(),
        diagnostics,
    })
}

/// [`compile`] for policy text, with relative paths starting at `base`.
pub fn compile_source(source: &str, base: &Path) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    let policy = parse(source, base)?;
    compile::compile(&policy, source, base)
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|error| PolicyError {
        path: path.to_path_buf(),
        diagnostics: vec![Diagnostic {
            line: 1,
            column: 1,
            message: format!("cannot read the policy: {error}"),
        }],
    })
}

fn base_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Parses and validates policy text.
pub fn parse(source: &str, base: &Path) -> Result<PolicyFile, Vec<Diagnostic>> {
    let policy: PolicyFile = toml::from_str(source).map_err(|error| {
        let message = error.message().to_owned();
        let message = suggest_for_unknown_name(&message);
        let span = error.span().unwrap_or(0..0);
        vec![Diagnostic::at(source, span, message)]
    })?;
    let diagnostics = validate::validate(&policy, source, base);
    if diagnostics.is_empty() {
        Ok(policy)
    } else {
        Err(diagnostics)
    }
}

/// serde names the valid choices for an unknown key or variant ("unknown
/// field `purpse`, expected `name` or `purpose`"): add the nearest one.
fn suggest_for_unknown_name(message: &str) -> String {
    let is_unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
    let Some((head, expected)) = message.split_once("expected").filter(|_| is_unknown) else {
        return message.to_owned();
    };
    let Some(word) = head.split('`').nth(1) else {
        return message.to_owned();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    diagnostic::with_suggestion(message.to_owned(), word, candidates)
}
