//! The text of what scrim writes about a policy (its explanation and its
//! record of processing): words, code and emphasis kept apart until they
//! are rendered, so that a value from the policy (a glob such as
//! `/team/**`, a purpose holding `<` or `_`) comes out as the literal text
//! it is, in HTML and in Markdown alike, and is never read as markup.
use std::fmt::Write as _;

/// A run of text: plain words, code, emphasis and blanks, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(Vec<Span>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Span {
    Plain(String),
    Code(String),
    Strong(String),
    /// What the controller must fill in: [`BLANK`].
    Blank,
}

/// What the controller fills in.
pub const BLANK: &str = "⟨to be filled in by the controller⟩";

impl Text {
    /// Appends words, as they are.
    pub fn plain(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::Plain(text.into()));
        self
    }

    /// Appends a value (a name, a path, a glob) as code.
    pub fn code(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::Code(text.into()));
        self
    }

    /// Appends words in bold.
    pub fn strong(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::Strong(text.into()));
        self
    }

    /// Appends the controller's blank.
    pub fn blank(mut self) -> Self {
        self.0.push(Span::Blank);
        self
    }

    /// Appends another text.
    pub fn then(mut self, other: Text) -> Self {
        self.0.extend(other.0);
        self
    }

    /// `parts` with `separator` (plain words) between them.
    pub fn join(parts: impl IntoIterator<Item = Text>, separator: &str) -> Text {
        let mut joined = Text::default();
        for (index, part) in parts.into_iter().enumerate() {
            if index > 0 {
                joined = joined.plain(separator);
            }
            joined = joined.then(part);
        }
        joined
    }

    /// "`a`, `b`": names as code.
    pub fn codes<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Text {
        Text::join(
            names.into_iter().map(|name| Text::default().code(name)),
            ", ",
        )
    }

    /// CommonMark (and GitHub's tables): plain text and emphasis have
    /// every character that could start markup escaped, code is fenced
    /// with more backticks than it holds. Line breaks in a value become
    /// spaces, so that a value cannot end the list item or table row it
    /// stands in.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Plain(text) => escape_markdown(&mut out, text),
                Span::Strong(text) => {
                    out.push_str("**");
                    escape_markdown(&mut out, text);
                    out.push_str("**");
                }
                Span::Code(text) => code_markdown(&mut out, text),
                Span::Blank => out.push_str(BLANK),
            }
        }
        // A text that starts a line must not start a heading, a list or a
        // quote.
        match out.chars().next() {
            Some('#' | '+' | '-' | '=' | '>') => out.insert(0, '\\'),
            Some(first) if first.is_ascii_digit() => {
                let digits = out.chars().take_while(char::is_ascii_digit).count();
                if matches!(out[digits..].chars().next(), Some('.' | ')')) {
                    out.insert(digits, '\\');
                }
            }
            _ => {}
        }
        out
    }

    /// HTML: every span escaped, code in `<code>`, emphasis in `<strong>`.
    pub fn html(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Plain(text) => out.push_str(&escape_html(text)),
                Span::Code(text) => {
                    let _ = write!(out, "<code>{}</code>", escape_html(text));
                }
                Span::Strong(text) => {
                    let _ = write!(out, "<strong>{}</strong>", escape_html(text));
                }
                Span::Blank => {
                    let _ = write!(out, "<span class=\"blank\">{}</span>", escape_html(BLANK));
                }
            }
        }
        out
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Text::default().plain(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text::default().plain(text)
    }
}

/// Characters that start inline markup anywhere in a line (CommonMark's
/// emphasis, code, links, autolinks, entities and raw HTML; GitHub's
/// strikethrough). `|` is left to tables, which escape it in every cell.
fn escape_markdown(out: &mut String, text: &str) {
    for character in text.chars() {
        match character {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '~' => {
                out.push('\\');
                out.push(character);
            }
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
}

/// A code span that holds `text` exactly: fenced with one backtick more
/// than its longest run, padded with a space where it starts or ends with
/// one (CommonMark strips one space each side).
fn code_markdown(out: &mut String, text: &str) {
    let text = text.replace(['\n', '\r'], " ");
    let mut longest = 0;
    let mut run = 0;
    for character in text.chars() {
        run = if character == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.is_empty() {
        " "
    } else {
        ""
    };
    let _ = write!(out, "{fence}{pad}{text}{pad}{fence}");
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_literal_in_both_formats() {
        let text = Text::from("cgroup ")
            .code("/team/**")
            .plain(", purpose *a_b* <x> & [y](z)");
        assert_eq!(
            text.markdown(),
            "cgroup `/team/**`, purpose \\*a\\_b\\* \\<x\\> \\& \\[y\\](z)"
        );
        assert_eq!(
            text.html(),
            "cgroup <code>/team/**</code>, purpose *a_b* &lt;x&gt; &amp; [y](z)"
        );
        assert_eq!(
            Text::default().code("a`b").markdown(),
            "``a`b``",
            "a backtick inside"
        );
        assert_eq!(Text::default().code("`x").markdown(), "`` `x ``");
        assert_eq!(
            Text::from("# not a heading").markdown(),
            "\\# not a heading"
        );
        assert_eq!(Text::from("1. not a list").markdown(), "1\\. not a list");
        assert_eq!(Text::from("two\nlines").markdown(), "two lines");
        assert_eq!(
            Text::default().blank().html(),
            format!("<span class=\"blank\">{BLANK}</span>")
        );
    }
}
