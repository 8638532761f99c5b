//! Errors that point into the policy file.
use std::{fmt, ops::Range, path::PathBuf};

/// One problem, at one place in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at the byte span `span` of `source`.
    pub(crate) fn at(source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_and_column(source, span.start);
        Diagnostic {
            line,
            column,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let end = (0..=offset.min(source.len()))
        .rev()
        .find(|&index| source.is_char_boundary(index))
        .unwrap_or(0);
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Everything wrong with one policy file. A policy with any diagnostic is
/// never used.
#[derive(Debug, thiserror::Error)]
pub struct PolicyError {
    pub path: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.diagnostics.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                diagnostic.line,
                diagnostic.column,
                diagnostic.message
            )?;
        }
        Ok(())
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|(similarity, _)| *similarity >= 0.8)
        .max_by(|left, right| left.0.total_cmp(&right.0))
        .map(|(_, candidate)| candidate)
}

/// `message`, plus a "did you mean" when a candidate is close to `word`.
pub(crate) fn with_suggestion<'a>(
    message: String,
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match nearest(word, candidates) {
        Some(suggestion) => format!("{message}; did you mean `{suggestion}`?"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_columns_from_one() {
        let source = "a = 1\nbé = 2\n";
        assert_eq!(line_and_column(source, 0), (1, 1));
        assert_eq!(line_and_column(source, 6), (2, 1));
        assert_eq!(line_and_column(source, 9), (2, 3), "é is one column");
    }

    #[test]
    fn suggests_only_near_misses() {
        let names = ["purpose", "legal_basis", "retention"];
        assert_eq!(nearest("purpse", names), Some("purpose"));
        assert_eq!(nearest("retension", names), Some("retention"));
        assert_eq!(nearest("colour", names), None);
    }
}
