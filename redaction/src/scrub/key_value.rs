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

use regex::Captures;

use super::{
    Builtin,
    flags::{self, Strength},
};
use crate::scrub::entropy;

/// A key holding one of the secret or weak words, an operator, and a
/// quoted or bare value.
pub(crate) const ASSIGNMENT: &str = r#"(?i)(?P<key>[a-z0-9_.\-]*(?:pass|pwd|pw|secret|token|key|cred|auth|psk|sig|cookie|session|hmac)[a-z0-9_.\-]*)["']?(?P<op>[ \t]*=>[ \t]*|[ \t]*=[ \t]*|[ \t]*:[ \t]*)(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s&;,'"<>)\]}]+))"#;

/// `scheme://user:password@`, the user possibly empty.
pub(crate) const URL_PASSWORD: &str = r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s/:@]*:(?P<secret>[^\s/@]+)@";

/// The secret of an assignment match, and which detector reports it.
pub(crate) fn assignment(text: &str, captures: &Captures<'_>) -> Option<(Range<usize>, Builtin)> {
    let key = captures.name("key")?;
    let op = captures.name("op")?.as_str().trim();
    let (value, quoted) = match (
        captures.name("dq"),
        captures.name("sq"),
        captures.name("bare"),
    ) {
        (Some(value), _, _) | (_, Some(value), _) => (value, true),
        (_, _, Some(value)) => (value, false),
        _ => return None,
    };
    let before = &text[..key.start()];
    // `https://token:x@host` is userinfo (its own rule); `Token::new` a
    // path; `password == x` a comparison.
    if before.ends_with("//") || value.as_str().starts_with([':', '=']) || value.is_empty() {
        return None;
    }
    let strength = flags::strength(key.as_str());
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

/// The password of a URL's userinfo, unless a reference (`${PASS}`).
pub(crate) fn url_password(captures: &Captures<'_>) -> Option<Range<usize>> {
    let secret = captures.name("secret")?;
    (!flags::is_reference(secret.as_str())).then(|| secret.range())
}
