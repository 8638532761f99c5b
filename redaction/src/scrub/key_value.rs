//! Key/value forms wherever they stand in text: `KEY=value`,
//! `KEY="value"`, `key: value`, JSON `"key": "value"`, connection strings
//! (`Password=x;`, `AccountKey=x;`, `SharedAccessKey=x;`, libpq
//! `password=x`), URL query parameters (`?access_token=x&`), Java system
//! and dotted properties (`-Djavax.net.ssl.keyStorePassword=x`,
//! `spring.datasource.password=x`), `--from-literal=password=x`, and the
//! password in a URL's userinfo in any scheme (`redis://:x@host`).
//!
//! Whether a key names a secret is decided by the same name rule as for
//! flags ([`super::flags::strength`]).
use std::ops::Range;

use super::Captures;

use super::{
    Builtin,
    flags::{self, Strength},
};
use crate::scrub::entropy;

/// The words one of which an [`ASSIGNMENT`]'s key holds: the literals
/// the pre-filter looks for before the pattern runs.
pub(crate) const ASSIGNMENT_WORDS: &[&str] = &[
    "pass", "pwd", "pw", "secret", "token", "key", "cred", "auth", "psk", "sig", "cookie",
    "session", "hmac",
];

/// A key holding one of the secret or weak words, an operator, and a
/// quoted or bare value.
pub(crate) const ASSIGNMENT: &str = r#"(?i)(?P<key>[a-z0-9_.\-]*(?:pass|pwd|pw|secret|token|key|cred|auth|psk|sig|cookie|session|hmac)[a-z0-9_.\-]*)["']?(?P<op>[ \t]*=>[ \t]*|[ \t]+=[ \t]*|=|[ \t]*:[ \t]*)(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s&;,'"<>)\]}]+))"#;

/// A `key=value` of a connection string: after a `;` (or where the string
/// starts), the value running to the next `;` or quote, commas and spaces
/// included (`Server=x;Uid=u;Pwd=a,b c;`).
pub(crate) const CONNECTION: &str = r#"(?i)(?P<lead>^|[;'"\s{])[ \t]*(?P<key>[a-z][a-z0-9_.\- ]{0,40}?)[ \t]*=(?P<secret>[^;'"\n]+)"#;

/// `Cookie: name=value; name2=value2` (and `Set-Cookie:`).
pub(crate) const COOKIE: &str = r#"(?i)\b(?:set-)?cookie["']?[ \t]*:[ \t]*(?P<secret>[^'"\n]+)"#;

/// `scheme://user:password@`, the user possibly empty.
pub(crate) const URL_PASSWORD: &str = r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s/:@]*:(?P<secret>[^\s/@]+)@";

/// A part of the scanned text.
#[derive(Clone, Copy)]
struct Part<'t> {
    text: &'t str,
    start: usize,
}

impl<'t> Part<'t> {
    fn as_str(&self) -> &'t str {
        self.text
    }
    fn start(&self) -> usize {
        self.start
    }
    fn end(&self) -> usize {
        self.start + self.text.len()
    }
    fn range(&self) -> Range<usize> {
        self.start..self.end()
    }
}

/// An [`ASSIGNMENT`] match taken apart by hand — key, operator, value,
/// whether quoted — as the pattern put it together: cheaper than the
/// regex engine's capture groups on every line with a `key=`.
fn split_assignment(text: &str, found: Range<usize>) -> Option<(Part<'_>, &str, Part<'_>, bool)> {
    let whole = text.get(found.clone())?;
    let bytes = whole.as_bytes();
    let key_end = bytes
        .iter()
        .position(|byte| !(byte.is_ascii_alphanumeric() || b"_.-".contains(byte)))?;
    let mut at = key_end;
    if matches!(bytes.get(at), Some(b'"' | b'\'')) {
        at += 1;
    }
    let op_start = at;
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at += match bytes.get(at..at + 2) {
        Some(b"=>") => 2,
        _ => 1,
    };
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    let op = whole.get(op_start..at)?.trim();
    let (value, quoted) = match bytes.get(at) {
        Some(quote @ (b'"' | b'\'')) if bytes.len() > at + 1 && bytes.last() == Some(quote) => {
            (at + 1..bytes.len() - 1, true)
        }
        _ => (at..bytes.len(), false),
    };
    let part = |range: Range<usize>| {
        Some(Part {
            text: whole.get(range.clone())?,
            start: found.start + range.start,
        })
    };
    Some((part(0..key_end)?, op, part(value)?, quoted))
}

/// The secret of an assignment match, and which detector reports it.
pub(crate) fn assignment(text: &str, found: Range<usize>) -> Option<(Range<usize>, Builtin)> {
    let (key, op, value, quoted) = split_assignment(text, found)?;
    let before = &text[..key.start()];
    // `https://token:x@host` is userinfo (its own rule); `Token::new` a
    // path; `password == x` a comparison.
    if before.ends_with("//")
        || (op == ":" && value.as_str().starts_with(':'))
        || value.as_str().starts_with('=')
        || value.as_str().is_empty()
    {
        return None;
    }
    let strength = flags::key_strength(key.as_str());
    // A signature in a URL query is the credential of a pre-signed URL,
    // whatever it looks like: AWS `X-Amz-Signature`
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
    // Azure SAS `sig` (https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas),
    // Google `X-Goog-Signature`.
    if before.ends_with(['?', '&'])
        && strength == Strength::Weak
        && flags::words(key.as_str())
            .last()
            .is_some_and(|word| word == "signature" || word == "sig")
    {
        return Some((value.range(), Builtin::UrlQuery));
    }
    let secret = value.as_str();
    if flags::is_reference(secret) || flags::is_path(secret) {
        return None;
    }
    // After a colon (YAML, logs, prose), an unquoted single lowercase word
    // is prose: "failed to read token: permission denied".
    if op == ":" && !quoted && secret.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return None;
    }
    let builtin = match strength {
        Strength::Secret => {
            let after = &text[value.end()..];
            if before.ends_with(['?', '&']) {
                Builtin::UrlQuery
            } else if before.trim_end().ends_with(';') || after.starts_with(';') {
                Builtin::ConnectionString
            } else {
                Builtin::SecretAssignment
            }
        }
        Strength::Weak if entropy::looks_random(secret) => Builtin::HighEntropy,
        _ => return None,
    };
    Some((value.range(), builtin))
}

/// The value of a connection string's secret key (`Password`, `Pwd`,
/// `AccountKey`, `SharedAccessKey`).
pub(crate) fn connection(text: &str, captures: &Captures<'_>) -> Option<Range<usize>> {
    let key = captures.name("key")?;
    let secret = captures.name("secret")?;
    let in_string = captures
        .name("lead")
        .is_some_and(|lead| lead.as_str() == ";")
        || text[secret.end()..].starts_with(';');
    let value = secret.as_str().trim();
    (in_string
        && flags::key_strength(key.as_str().trim()) == Strength::Secret
        && !value.is_empty()
        && !flags::is_reference(value))
    .then(|| secret.range())
}

/// Each value of a cookie list: `a=1; b=2` keeps its names.
pub(crate) fn cookies(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut at = range.start;
    for pair in text[range].split(';') {
        if let Some(equals) = pair.find('=') {
            let value = pair[equals + 1..].trim_end();
            if !value.is_empty() {
                let start = at + equals + 1;
                found.push(start..start + value.len());
            }
        }
        at += pair.len() + 1;
    }
    found
}

/// The password of a URL's userinfo, unless a reference (`${PASS}`).
pub(crate) fn url_password(captures: &Captures<'_>) -> Option<Range<usize>> {
    let secret = captures.name("secret")?;
    (!flags::is_reference(secret.as_str())).then(|| secret.range())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pre-filter skips [`ASSIGNMENT`] on a text without one of
    /// [`ASSIGNMENT_WORDS`]: they must be the words of its key.
    #[test]
    fn assignment_words_are_the_patterns() {
        let alternation = format!("(?:{})", ASSIGNMENT_WORDS.join("|"));
        assert!(ASSIGNMENT.contains(&alternation), "{alternation}");
    }
}
