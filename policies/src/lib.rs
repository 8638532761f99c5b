//! scrim's policy files: what each tenant's events may carry, why, how long
//! they are kept and where they go.
//!
//! [`load`] reads a TOML policy, checks it in full, and returns either the
//! policy or every problem found, each with its file, line and column.
mod diagnostic;
pub mod model;
mod plan;
mod schema;
mod validate;

use std::path::Path;

pub use diagnostic::{Diagnostic, PolicyError};
pub use model::PolicyFile;
pub use plan::CapturePlan;
pub use schema::json_schema;

/// Reads, parses and validates the policy at `path`. Relative paths inside
/// it (the master key file) are relative to its directory.
pub fn load(path: &Path) -> Result<PolicyFile, PolicyError> {
    let source = std::fs::read_to_string(path).map_err(|error| PolicyError {
        path: path.to_path_buf(),
        diagnostics: vec![Diagnostic {
            line: 1,
            column: 1,
            message: format!("cannot read the policy: {error}"),
        }],
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&source, base).map_err(|diagnostics| PolicyError {
        path: path.to_path_buf(),
        diagnostics,
    })
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
