//! Secret scrubbing: credentials and personal data replaced in text, with
//! the text's structure kept (`--password=[REDACTED:credential_flag]`), so a
//! command line stays readable.
//!
//! Every detector is one regular expression of the `regex` crate (linear
//! time, whatever the input), some with a check on what matched (Luhn for
//! card numbers, mod-97 for IBANs). A [`RegexSet`] of all of them runs first:
//! a line in which nothing is suspicious costs one scan.
use std::borrow::Cow;

use regex::{Regex, RegexSet};

/// What the scrubber looks for. [`Detector::description`] documents each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detector {
    CredentialFlag,
    ClientPassword,
    SecretAssignment,
    UrlPassword,
    Authorization,
    Jwt,
    AwsAccessKeyId,
    GithubToken,
    GitlabToken,
    SlackToken,
    PrivateKey,
    Email,
    CardNumber,
    Iban,
}

impl Detector {
    /// Every detector, in the order they claim overlapping matches.
    pub const ALL: [Detector; 14] = [
        Detector::PrivateKey,
        Detector::CredentialFlag,
        Detector::ClientPassword,
        Detector::SecretAssignment,
        Detector::UrlPassword,
        Detector::Authorization,
        Detector::Jwt,
        Detector::AwsAccessKeyId,
        Detector::GithubToken,
        Detector::GitlabToken,
        Detector::SlackToken,
        Detector::Email,
        Detector::CardNumber,
        Detector::Iban,
    ];

    /// The name in `[REDACTED:<name>]`.
    pub fn name(self) -> &'static str {
        match self {
            Detector::CredentialFlag => "credential_flag",
            Detector::ClientPassword => "client_password",
            Detector::SecretAssignment => "secret_assignment",
            Detector::UrlPassword => "url_password",
            Detector::Authorization => "authorization",
            Detector::Jwt => "jwt",
            Detector::AwsAccessKeyId => "aws_access_key_id",
            Detector::GithubToken => "github_token",
            Detector::GitlabToken => "gitlab_token",
            Detector::SlackToken => "slack_token",
            Detector::PrivateKey => "private_key",
            Detector::Email => "email",
            Detector::CardNumber => "card_number",
            Detector::Iban => "iban",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Detector::CredentialFlag => {
                "the value of a flag whose name says password, passwd, pass, pwd, secret, token, \
                 api key, access key, private key or credentials (`--password=x`, `--db-password x`, \
                 `--token x`, `-api-key=x`)"
            }
            Detector::ClientPassword => {
                "a password glued to `-p` for mysql-style clients (`mysql -pSECRET`, mysqldump, \
                 mysqladmin, mariadb), and the one after `sshpass -p`"
            }
            Detector::SecretAssignment => {
                "the value of a `KEY=value` or `key: value` whose key says password, secret, token, \
                 api key, access key, private key, credentials or auth (`DB_PASSWORD=x`, \
                 `AWS_SECRET_ACCESS_KEY=x`), unless the key describes a secret without holding \
                 one (`TOKEN_TTL`, `PASSWORD_FILE`) or the value is a reference (`$VAR`) or a \
                 mode (`none`, `prompt`)"
            }
            Detector::UrlPassword => "the password in a URL's userinfo (`https://user:x@host`)",
            Detector::Authorization => {
                "the credentials of a Bearer or Basic authorization (`Authorization: Bearer x`)"
            }
            Detector::Jwt => "a JSON Web Token (three base64url parts, the first `eyJ`)",
            Detector::AwsAccessKeyId => {
                "an AWS access key id (`AKIA`, `ASIA`, `AIDA` or `AROA` and 16 more)"
            }
            Detector::GithubToken => {
                "a GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`)"
            }
            Detector::GitlabToken => "a GitLab personal access token (`glpat-`)",
            Detector::SlackToken => {
                "a Slack token (`xoxb-`, `xoxp-`, `xoxa-`, `xoxo-`, `xoxs-`, `xoxr-`)"
            }
            Detector::PrivateKey => "a PEM private-key block, from its BEGIN line to its END line",
            Detector::Email => {
                "an e-mail address (not the `user@host:` of scp and git, nor a systemd unit \
                 such as `postgresql@15-main.service`)"
            }
            Detector::CardNumber => {
                "a payment card number: 13 to 19 digits with an issuer's prefix and length that \
                 pass the Luhn check"
            }
            Detector::Iban => "an IBAN that passes its mod-97 check",
        }
    }

    fn pattern(self) -> Cow<'static, str> {
        // One alternation, shared by the flag and the assignment patterns.
        const SECRET_WORD: &str = "(?:password|passwd|pass|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)";
        let pattern: &'static str = match self {
            Detector::CredentialFlag => return Cow::Owned(
                r"(?i)(?:^|\s)--?(?:[a-z0-9]+[-_])*SECRET_WORD(?:=|\s+)(?P<secret>[^\s-]\S*)"
                    .replace("SECRET_WORD", SECRET_WORD),
            ),
            Detector::ClientPassword => {
                r"(?:\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mariadb|mariadb-dump)\b\S*(?:\s+\S+)*?\s+-p(?P<secret>[^\s-]\S*))|(?:\bsshpass\s+-p\s*(?P<secret2>\S+))"
            }
            Detector::SecretAssignment => return Cow::Owned(
                r"(?i)\b(?P<key>[a-z0-9_.-]*?(?:SECRET_WORD|auth)[a-z0-9_.-]*)\s*[=:]\s*(?P<secret>[^\s&;,'\x22]+)"
                    .replace("SECRET_WORD", SECRET_WORD),
            ),
            Detector::UrlPassword => {
                r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/:@]+:(?P<secret>[^\s/@]+)@"
            }
            Detector::Authorization => {
                r"(?i)\b(?:bearer|basic)\s+(?P<secret>[a-z0-9\-._~+/]{8,}=*)"
            }
            Detector::Jwt => r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
            Detector::AwsAccessKeyId => r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b",
            Detector::GithubToken => {
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"
            }
            Detector::GitlabToken => r"\bglpat-[A-Za-z0-9_-]{20,}",
            Detector::SlackToken => r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
            Detector::PrivateKey => {
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)"
            }
            Detector::Email => {
                r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b(?P<scp>:)?"
            }
            // Grouped as printed (4-4-4-4, or 4-6-5 for American Express) or
            // written out: a greedy "any digits and spaces" would swallow
            // the expiry after a number and fail the Luhn check.
            Detector::CardNumber => {
                r"\b(?:\d{4}(?:[ -]\d{4}){3}|\d{4}[ -]\d{6}[ -]\d{5}|\d{13,19})\b"
            }
            // Compact, or in groups of four as printed.
            Detector::Iban => {
                r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b"
            }
        };
        Cow::Borrowed(pattern)
    }

    /// A check on what matched, for detectors whose pattern alone would
    /// catch too much.
    fn confirms(self, secret: &str, captures: &regex::Captures<'_>) -> bool {
        match self {
            Detector::CardNumber => passes_luhn(secret) && plausible_card(secret),
            Detector::Iban => passes_mod97(secret),
            // `git@github.com:org/repo` is a host to copy from and
            // `postgresql@15-main.service` a systemd unit, not mailboxes.
            Detector::Email => captures.name("scp").is_none() && !is_systemd_unit(secret),
            Detector::CredentialFlag => is_secret_value(secret),
            Detector::SecretAssignment => {
                is_secret_value(secret)
                    && captures
                        .name("key")
                        .is_some_and(|key| is_secret_key(key.as_str()))
            }
            _ => true,
        }
    }
}

/// `name@instance.service` and the other systemd unit types.
fn is_systemd_unit(text: &str) -> bool {
    const UNIT_TYPES: &[&str] = &[
        "service",
        "socket",
        "timer",
        "mount",
        "automount",
        "target",
        "slice",
        "scope",
        "path",
        "device",
        "swap",
    ];
    text.rsplit('.')
        .next()
        .is_some_and(|suffix| UNIT_TYPES.contains(&suffix))
}

/// Values that say how a secret is given rather than being one: `none`,
/// `prompt`, a `$VARIABLE` reference.
fn is_secret_value(value: &str) -> bool {
    const NOT_SECRETS: &[&str] = &[
        "none", "null", "nil", "true", "false", "yes", "no", "on", "off", "bearer", "basic",
        "required", "optional", "prompt", "stdin", "env", "file", "-", "''", "\"\"",
    ];
    !value.starts_with('$') && !NOT_SECRETS.contains(&value.to_ascii_lowercase().as_str())
}

/// Whether a `KEY=` names a secret: the secret word ends the key or is
/// followed by a qualifier (`_RO`, `_PROD`), not by what describes a secret
/// without holding it (`TOKEN_TTL`, `PASSWORD_FILE`) or a longer word
/// (`passthrough`, `tokenizer`).
fn is_secret_key(key: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "accesskey",
        "access_key",
        "access-key",
        "privatekey",
        "private_key",
        "private-key",
        "credentials",
        "credential",
        "pass",
        "pwd",
        "auth",
    ];
    const DESCRIPTIONS: &[&str] = &[
        "file",
        "path",
        "dir",
        "ttl",
        "type",
        "url",
        "uri",
        "length",
        "len",
        "size",
        "expiry",
        "expires",
        "expiration",
        "timeout",
        "id",
        "name",
        "mode",
        "policy",
        "count",
        "format",
        "endpoint",
        "header",
        "field",
        "version",
        "method",
        "command",
        "cmd",
        "env",
        "var",
    ];
    let key = key.to_ascii_lowercase();
    WORDS.iter().any(|word| {
        key.match_indices(word).any(|(start, _)| {
            let rest = &key[start + word.len()..];
            match rest.chars().next() {
                None => true,
                Some('_' | '-' | '.') => {
                    let qualifier = rest[1..].split(['_', '-', '.']).next().unwrap_or_default();
                    !DESCRIPTIONS.contains(&qualifier)
                }
                Some(_) => false,
            }
        })
    })
}

/// Card numbers start with an issuer's prefix and have its length: Visa 4
/// (13, 16 or 19 digits), Mastercard 51-55 and 2221-2720 (16), American
/// Express 34 and 37 (15), Discover and others 6 (16 to 19), Diners 36 and
/// 38 (14). Order numbers and millisecond timestamps mostly do not.
fn plausible_card(candidate: &str) -> bool {
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    let prefix = |length: usize| digits[..length].parse::<u32>().unwrap_or(0);
    match (digits.as_bytes().first(), digits.len()) {
        (Some(b'4'), 13 | 16 | 19) => true,
        (Some(b'5'), 16) => (51..=55).contains(&prefix(2)),
        (Some(b'2'), 16) => (2221..=2720).contains(&prefix(4)),
        (Some(b'3'), 15) => matches!(prefix(2), 34 | 37),
        (Some(b'3'), 14) => matches!(prefix(2), 36 | 38),
        (Some(b'6'), 16..=19) => true,
        _ => false,
    }
}

/// The flags whose value is the next argument when the value stands apart
/// (`--password x` as two arguments).
fn is_bare_credential_flag(argument: &str) -> bool {
    let Some(name) = argument
        .strip_prefix("--")
        .or_else(|| argument.strip_prefix('-'))
    else {
        return false;
    };
    // Checked for every argument that starts with `-`: compare without
    // lowercasing into a new string.
    let last = name.rsplit(['-', '_']).next().unwrap_or_default();
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.is_char_boundary(name.len() - suffix.len())
            && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    [
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "credentials",
        "credential",
        "apikey",
    ]
    .iter()
    .any(|word| last.eq_ignore_ascii_case(word))
        || ["api-key", "api_key", "access-key", "private-key"]
            .into_iter()
            .any(ends_with)
}

fn passes_luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &digit)| {
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn passes_mod97(candidate: &str) -> bool {
    let compact: Vec<char> = candidate.chars().filter(|c| *c != ' ').collect();
    if compact.len() < 15 {
        return false;
    }
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut remainder = 0u32;
    for c in rearranged {
        let value = match c.to_digit(36) {
            Some(value) => value,
            None => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[derive(Debug)]
struct Rule {
    detector: Detector,
    regex: Regex,
}

/// Finds and replaces secrets. Build one and share it: compiling the
/// patterns takes milliseconds, scrubbing a clean line well under a
/// microsecond.
#[derive(Debug)]
pub struct Scrubber {
    rules: Vec<Rule>,
    any: RegexSet,
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

impl Scrubber {
    pub fn new() -> Self {
        let rules: Vec<Rule> = Detector::ALL
            .into_iter()
            .map(|detector| Rule {
                detector,
                // The patterns are constants covered by the tests below.
                regex: Regex::new(&detector.pattern()).expect("detector pattern compiles"),
            })
            .collect();
        let any = RegexSet::new(rules.iter().map(|rule| rule.regex.as_str()))
            .expect("detector patterns compile");
        Scrubber { rules, any }
    }

    /// `text` with every secret replaced by `[REDACTED:<detector>]`;
    /// borrowed when there was none.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // The common case, nothing suspicious, costs one forward scan; which
        // detectors matched is only worked out when one did.
        if !self.any.is_match(text) {
            return Cow::Borrowed(text);
        }
        let matched = self.any.matches(text);
        let mut found: Vec<(usize, usize, Detector)> = Vec::new();
        for index in matched.iter() {
            let rule = &self.rules[index];
            for captures in rule.regex.captures_iter(text) {
                let Some(secret) = captures
                    .name("secret")
                    .or_else(|| captures.name("secret2"))
                    .or_else(|| captures.get(0))
                else {
                    continue;
                };
                if rule.detector.confirms(secret.as_str(), &captures) {
                    found.push((secret.start(), secret.end(), rule.detector));
                }
            }
        }
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        // Earliest first; at one start, the detector listed first wins.
        found.sort_by_key(|&(start, _, detector)| {
            let rank = Detector::ALL.iter().position(|d| *d == detector);
            (start, rank)
        });
        let mut scrubbed = String::with_capacity(text.len() + 32);
        let mut copied_to = 0;
        for (start, end, detector) in found {
            if start < copied_to {
                continue; // inside a secret already replaced
            }
            scrubbed.push_str(&text[copied_to..start]);
            push_redacted(&mut scrubbed, detector);
            copied_to = end;
        }
        scrubbed.push_str(&text[copied_to..]);
        Cow::Owned(scrubbed)
    }

    /// A command's arguments (`argv[0]` first), each scrubbed, plus what
    /// only the list shows: a credential flag's value in the next argument
    /// (`--password`, `x`), and the password of `sshpass -p x` or
    /// `mysql -pSECRET`.
    pub fn scrub_args(&self, args: &[String]) -> Option<Vec<String>> {
        let program = args
            .first()
            .map(|first| first.rsplit('/').next().unwrap_or(first))
            .unwrap_or_default();
        let mysql_style = matches!(
            program,
            "mysql"
                | "mysqldump"
                | "mysqladmin"
                | "mysqlimport"
                | "mysqlshow"
                | "mysqlcheck"
                | "mariadb"
                | "mariadb-dump"
        );
        if !mysql_style && program != "sshpass" && !self.any_suspicious(args) {
            return None;
        }
        let mut scrubbed: Option<Vec<String>> = None;
        for (index, argument) in args.iter().enumerate() {
            let previous = index.checked_sub(1).map(|i| args[i].as_str());
            let replacement: Option<Cow<str>> = if previous.is_some_and(is_bare_credential_flag)
                || (program == "sshpass" && previous == Some("-p"))
            {
                Some(Cow::Owned(redacted(Detector::CredentialFlag)))
            } else if mysql_style && argument.len() > 2 && argument.starts_with("-p") {
                Some(Cow::Owned(format!(
                    "-p{}",
                    redacted(Detector::ClientPassword)
                )))
            } else {
                match self.scrub(argument) {
                    Cow::Borrowed(_) => None,
                    owned => Some(owned),
                }
            };
            if let Some(replacement) = replacement {
                let list = scrubbed.get_or_insert_with(|| args.to_vec());
                list[index] = replacement.into_owned();
            }
        }
        scrubbed
    }
}

impl Scrubber {
    /// One scan over all the arguments, newline-separated, for the common
    /// case: nothing to scrub. Every match within one argument is also a
    /// match in the joined text (a newline is whitespace and a word
    /// boundary), so a clean result is final.
    fn any_suspicious(&self, args: &[String]) -> bool {
        thread_local! {
            static JOINED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        if args
            .iter()
            .any(|argument| argument.starts_with('-') && is_bare_credential_flag(argument))
        {
            return true;
        }
        JOINED.with_borrow_mut(|joined| {
            joined.clear();
            for argument in args {
                joined.push_str(argument);
                joined.push('\n');
            }
            self.any.is_match(joined)
        })
    }
}

fn push_redacted(out: &mut String, detector: Detector) {
    out.push_str("[REDACTED:");
    out.push_str(detector.name());
    out.push(']');
}

fn redacted(detector: Detector) -> String {
    let mut out = String::new();
    push_redacted(&mut out, detector);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(text: &str) -> String {
        Scrubber::new().scrub(text).into_owned()
    }

    #[test]
    fn every_pattern_compiles() {
        for detector in Detector::ALL {
            Regex::new(&detector.pattern()).unwrap();
        }
    }

    #[test]
    fn replaces_credentials_keeping_the_structure() {
        let cases = [
            (
                "psql --password=hunter2 -h db",
                "psql --password=[REDACTED:credential_flag] -h db",
            ),
            (
                "tool --db-password hunter2",
                "tool --db-password [REDACTED:credential_flag]",
            ),
            (
                "mysql -u root -pS3cret db",
                "mysql -u root -p[REDACTED:client_password] db",
            ),
            (
                "sshpass -p hunter2 ssh host",
                "sshpass -p [REDACTED:client_password] ssh host",
            ),
            (
                "env DB_PASSWORD=hunter2 run",
                "env DB_PASSWORD=[REDACTED:secret_assignment] run",
            ),
            (
                "git clone https://bob:pa55@example.com/r.git",
                "git clone https://bob:[REDACTED:url_password]@example.com/r.git",
            ),
            (
                "curl -H 'Authorization: Bearer abcdef123456'",
                "curl -H 'Authorization: Bearer [REDACTED:authorization]'",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE here",
                "key [REDACTED:aws_access_key_id] here",
            ),
            ("mail alice@example.org now", "mail [REDACTED:email] now"),
            (
                "pay 4111 1111 1111 1111 ok",
                "pay [REDACTED:card_number] ok",
            ),
            ("iban GB82WEST12345698765432", "iban [REDACTED:iban]"),
        ];
        for (line, expected) in cases {
            assert_eq!(scrubbed(line), expected, "{line}");
        }
    }

    #[test]
    fn leaves_look_alikes_alone() {
        for line in [
            "ls -la /usr/lib/x86_64-linux-gnu",
            "gcc -pthread -O2 main.c",
            "git checkout 3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098",
            "echo 550e8400-e29b-41d4-a716-446655440000",
            "pay 4111 1111 1111 1112 ok",
            "curl --pass-through http://example.com/",
        ] {
            assert_eq!(scrubbed(line), line);
        }
    }

    #[test]
    fn scrubs_argument_lists_across_arguments() {
        let args: Vec<String> = ["mysql", "--user", "root", "-pS3cret", "--password", "x1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scrubbed = Scrubber::new().scrub_args(&args).unwrap();
        assert_eq!(
            scrubbed,
            [
                "mysql",
                "--user",
                "root",
                "-p[REDACTED:client_password]",
                "--password",
                "[REDACTED:credential_flag]"
            ]
        );
        let clean: Vec<String> = vec!["ls".into(), "-l".into()];
        assert_eq!(Scrubber::new().scrub_args(&clean), None);
    }

    #[test]
    fn checks_cards_and_ibans() {
        assert!(passes_luhn("4111111111111111"));
        assert!(!passes_luhn("4111111111111112"));
        assert!(passes_mod97("GB82 WEST 1234 5698 7654 32"));
        assert!(!passes_mod97("GB82WEST12345698765433"));
    }
}
