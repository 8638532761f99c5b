//! The generic rule, for any tool: what a flag's or a key's *name* says
//! about its value, and which values are plainly not secrets.
//!
//! A name is split into words (`--db-password`, `DB_PASSWORD`,
//! `dbPassword`, `spring.datasource.password` all end in `password`). It
//! names a secret when its **last** word is a secret word, or a secret
//! word followed only by a word saying "the value itself"
//! (`--secret-string`, `token_value`). So `--password-file`, `--key-size`,
//! `TOKEN_TTL`, `--secret-name` describe a secret without holding one, and
//! need no list of their own. The exceptions are written out below:
//! qualifiers that make a key or token something else (`sort_key`,
//! `public_key`, `next_token`), and switches that act on a secret
//! (`--ask-pass`, `--no-password`, `--with-token`).

/// How strongly a name says its value is a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strength {
    /// The value is a secret unless it is plainly not one.
    Secret,
    /// The value is a secret only if it looks random (bare `key`,
    /// `signature`, `cookie`): the entropy rule decides.
    Weak,
    None,
}

/// Words that name a secret when they end a name.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "pw",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "creds",
    "auth",
    "psk",
];

/// Suffixes that, ending a single word, still name a secret
/// (`dbpassword`, `clientsecret`, `accesstoken`).
const SECRET_SUFFIXES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credentials",
    "apikey",
];

/// Single words ending in `key` or `pass` that name a secret
/// (connection-string and keytool conventions); other words ending so
/// (`hotkey`, `bypass`, `compass`) do not.
const SECRET_COMPOUNDS: &[&str] = &[
    "accesskey",
    "secretkey",
    "privatekey",
    "accountkey",
    "sharedaccesskey",
    "masterkey",
    "clientkey",
    "appkey",
    "authkey",
    "encryptionkey",
    "licensekey",
    "subscriptionkey",
    "storagekey",
    "signingsecret",
    "storepass",
    "keypass",
    "dbpass",
    "rootpass",
    "adminpass",
    "smtppass",
    "ftppass",
    "mailpass",
    // Redis's password directives, set with `CONFIG SET`
    // (https://redis.io/docs/latest/operate/oss_and_stack/management/config-file/).
    "requirepass",
    "masterauth",
];

/// Words after a secret word that still mean the secret itself.
const VALUE_WORDS: &[&str] = &[
    "value",
    "string",
    "str",
    "plain",
    "plaintext",
    "text",
    "literal",
    "raw",
    "base64",
    "b64",
    "hex",
    "binary",
];

/// Words before `key` that make it something other than a secret.
const NOT_SECRET_KEYS: &[&str] = &[
    "public",
    "pub",
    "host",
    "sort",
    "partition",
    "primary",
    "foreign",
    "cache",
    "hash",
    "range",
    "group",
    "routing",
    "order",
    "shard",
    "row",
    "index",
    "lookup",
    "dedup",
    "idempotency",
    "map",
    "column",
    "field",
    "label",
    "meta",
    "metric",
    "tag",
    "match",
    "join",
    "unique",
    "natural",
    "composite",
    "object",
    "s3",
    "gpg",
    "pgp",
    "ssh",
    "dict",
    "json",
    "cluster",
];

/// Words before `token` that make it a cursor or an idempotency marker
/// (AWS `--next-token`, `--starting-token`, `--client-token`).
const NOT_SECRET_TOKENS: &[&str] = &[
    "next",
    "page",
    "pagination",
    "continuation",
    "starting",
    "start",
    "sync",
    "resume",
    "idempotency",
    "client",
    "request",
    "cancel",
    "marker",
    "max",
    "cursor",
];

/// First words of switches that act on a secret and take no value
/// (`--ask-pass`, `--no-password`, `--with-token`, `--generate-secret`).
const ACTIONS: &[&str] = &[
    "ask",
    "prompt",
    "no",
    "require",
    "show",
    "hide",
    "mask",
    "reset",
    "change",
    "generate",
    "gen",
    "rotate",
    "verify",
    "validate",
    "list",
    "print",
    "allow",
    "disable",
    "enable",
    "skip",
    "save",
    "store",
    "remember",
    "forget",
    "keep",
    "include",
    "exclude",
    "strip",
    "redact",
    "refresh",
    "renew",
    "revoke",
    "check",
    "with",
    "read",
    "from",
    "use",
    "insecure",
    "empty",
    "stdin",
    "interactive",
];

/// Words after a secret word that only say which one (`GITHUB_TOKEN_RO`,
/// `DB_PASSWORD_PROD`, `API_KEY_2`).
const QUALIFIERS: &[&str] = &[
    "ro",
    "rw",
    "prod",
    "production",
    "dev",
    "development",
    "stage",
    "staging",
    "test",
    "qa",
    "old",
    "new",
    "current",
    "prev",
    "previous",
    "secondary",
    "backup",
    "admin",
    "root",
    "readonly",
    "readwrite",
    "main",
    "alt",
    "local",
    "remote",
    "internal",
    "external",
    "live",
    "sandbox",
    "primary",
];

/// Words after a secret word in a variable's name that say the value
/// describes a secret rather than holding one (`TOKEN_TTL`,
/// `PASSWORD_FILE`, `AUTH_PROVIDER`).
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
    "bits",
    "expiry",
    "expires",
    "expiration",
    "timeout",
    "lifetime",
    "duration",
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
    "ref",
    "method",
    "command",
    "cmd",
    "env",
    "var",
    "prompt",
    "hash",
    "provider",
    "source",
    "store",
    "helper",
    "arn",
    "alias",
    "label",
    "algorithm",
    "alg",
    "rotation",
    "reset",
    "required",
    "enabled",
    "disabled",
    "enable",
    "disable",
    "max",
    "min",
    "limit",
    "stdin",
    "fd",
    "prefix",
    "suffix",
    "pattern",
    "regex",
    "hint",
    "audience",
    "issuer",
    "scope",
    "scopes",
    "grant",
    "kind",
    "class",
    "level",
    "strength",
    "rules",
    "backend",
    "server",
    "host",
    "port",
    "user",
    "username",
    "login",
    "email",
    "through",
    "location",
    "region",
    "template",
    "generator",
    "manager",
    "mount",
    "service",
    "vault",
    "key",
    "index",
    "status",
    "error",
    "errors",
    "valid",
    "check",
    "usage",
];

/// Words that make a value weakly secret-ish: only a random-looking
/// value after them is scrubbed.
const WEAK_WORDS: &[&str] = &["key", "signature", "sig", "cookie", "session", "hmac"];

/// `name` split into lowercase words at `-`, `_`, `.`, `:`, `/`, spaces
/// and camelCase boundaries.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            current.push(c.to_ascii_lowercase());
        } else {
            previous_lower = false;
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// What a variable's or key's name says about its value: as for a flag,
/// or a secret word followed only by words that say which one
/// (`GITHUB_TOKEN_RO`, `TF_TOKEN_app_terraform_io`) rather than what
/// describes it (`TOKEN_TTL`, `PASSWORD_FILE_PATH`).
pub(crate) fn key_strength(name: &str) -> Strength {
    let strict = strength(name);
    if strict != Strength::None || !may_name_secret(name) {
        return strict;
    }
    let words = words(name);
    if words.len() > 1 && ACTIONS.contains(&words[0].as_str()) {
        return Strength::None;
    }
    let Some(at) = words
        .iter()
        .rposition(|word| SECRET_WORDS.contains(&word.as_str()) && word != "auth" && word != "pw")
    else {
        return Strength::None;
    };
    let rest = &words[at + 1..];
    let qualified = rest.iter().all(|word| {
        QUALIFIERS.contains(&word.as_str())
            || is_number(word)
            || (!DESCRIPTIONS.contains(&word.as_str()) && !VALUE_WORDS.contains(&word.as_str()))
    });
    if qualified && strength(&words[..=at].join("_")) == Strength::Secret {
        Strength::Secret
    } else {
        Strength::None
    }
}

/// Whether `name` holds, in any case, a piece every secret and weak word
/// contains (`pass`, `pw`, `secret`, `token`, `key`, `cred`, `auth`,
/// `psk`, `sig`, `cookie`, `session`, `hmac`): a name without one names
/// nothing secret, and most flags are told so without being split.
fn may_name_secret(name: &str) -> bool {
    const PIECES: &[&[u8]] = &[
        b"pass", b"pw", b"secret", b"token", b"key", b"cred", b"auth", b"psk", b"sig", b"cookie",
        b"session", b"hmac",
    ];
    let bytes = name.as_bytes();
    (0..bytes.len()).any(|at| {
        matches!(
            bytes[at].to_ascii_lowercase(),
            b'p' | b's' | b't' | b'k' | b'c' | b'a' | b'h'
        ) && PIECES.iter().any(|piece| {
            bytes
                .get(at..at + piece.len())
                .is_some_and(|window| window.eq_ignore_ascii_case(piece))
        })
    })
}

/// What a one-word name (`--password`, `TOKEN`, `-pass`) says, told
/// without splitting it; `None` when the name has more than one word.
fn one_word_strength(name: &str) -> Option<Strength> {
    let word = name.trim_start_matches('-').as_bytes();
    let mut lower = [0u8; 24];
    let one_case =
        word.iter().all(u8::is_ascii_lowercase) || word.iter().all(u8::is_ascii_uppercase);
    if word.is_empty() || word.len() > lower.len() || !one_case {
        return None;
    }
    for (into, byte) in lower.iter_mut().zip(word) {
        *into = byte.to_ascii_lowercase();
    }
    let word = std::str::from_utf8(&lower[..word.len()]).ok()?;
    Some(if word == "key" || WEAK_WORDS.contains(&word) {
        Strength::Weak
    } else if SECRET_WORDS.contains(&word)
        || SECRET_COMPOUNDS.contains(&word)
        || SECRET_SUFFIXES.iter().any(|suffix| word.ends_with(suffix))
    {
        Strength::Secret
    } else {
        Strength::None
    })
}

/// What a flag's or key's name says about its value.
pub(crate) fn strength(name: &str) -> Strength {
    if !may_name_secret(name) {
        return Strength::None;
    }
    if let Some(strength) = one_word_strength(name) {
        return strength;
    }
    let mut words = words(name);
    // `GITHUB_TOKEN_RO`, `--db-password-prod`, `API_KEY_2`.
    while words.len() > 1
        && words
            .last()
            .is_some_and(|word| QUALIFIERS.contains(&word.as_str()) || is_number(word))
    {
        words.pop();
    }
    let Some(last) = words.len().checked_sub(1) else {
        return Strength::None;
    };
    // The secret word, allowing one trailing "value" word.
    let at = if last > 0 && VALUE_WORDS.contains(&words[last].as_str()) {
        last - 1
    } else {
        last
    };
    let word = words[at].as_str();
    let before = at.checked_sub(1).map(|index| words[index].as_str());
    if words.len() > 1 && ACTIONS.contains(&words[0].as_str()) {
        return Strength::None;
    }
    if word == "key" {
        return match before {
            Some(qualifier) if NOT_SECRET_KEYS.contains(&qualifier) => Strength::None,
            Some(_) => Strength::Secret,
            None => Strength::Weak,
        };
    }
    if word == "token" && before.is_some_and(|qualifier| NOT_SECRET_TOKENS.contains(&qualifier)) {
        return Strength::None;
    }
    if SECRET_WORDS.contains(&word)
        || SECRET_COMPOUNDS.contains(&word)
        || SECRET_SUFFIXES.iter().any(|suffix| word.ends_with(suffix))
    {
        return Strength::Secret;
    }
    if WEAK_WORDS.contains(&word) {
        return Strength::Weak;
    }
    Strength::None
}

/// Values that say how a secret is given, or stand in for one, rather
/// than being one: a mode (`none`, `prompt`), a reference to a variable
/// or a file, a template, a mask, an earlier redaction.
pub(crate) fn is_reference(value: &str) -> bool {
    const MODES: &[&str] = &[
        "none",
        "null",
        "nil",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "bearer",
        "basic",
        "required",
        "optional",
        "prompt",
        "stdin",
        "env",
        "file",
        "-",
        "''",
        "\"\"",
        "ask",
        "interactive",
        "changeme",
        "redacted",
        "hidden",
        "masked",
        "unset",
        "empty",
        "default",
    ];
    let value = value.trim();
    if value.is_empty() {
        return true;
    }
    if MODES.iter().any(|mode| mode.eq_ignore_ascii_case(value)) {
        return true;
    }
    let first = value.as_bytes()[0];
    // `$VAR`, `${VAR}`, `$(cmd)`, `%VAR%`, `{{ .Values.x }}`, `<password>`,
    // `@file` (curl), `[REDACTED:...]`.
    if first == b'$'
        || (first == b'%' && value.len() > 2 && value.ends_with('%'))
        || value.starts_with("{{")
        || (first == b'<' && value.ends_with('>'))
        || value.starts_with("[REDACTED")
        || value.strip_prefix('@').is_some_and(is_path)
    {
        return true;
    }
    // Key-file and environment references in the conventions of openssl
    // and keytool (`file:`, `env:`, `fd:`).
    if ["file:", "env:", "fd:", "stdin:"].iter().any(|prefix| {
        value
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    }) {
        return true;
    }
    // A mask: `****`, `xxxx`, `•••`.
    value.chars().all(|c| matches!(c, '*' | '•' | '.' | '#'))
        || (value.len() >= 3 && value.bytes().all(|byte| matches!(byte, b'x' | b'X')))
}

/// A path: absolute, relative with `./`, `../` or `~/`, or a Windows
/// drive path.
pub(crate) fn is_path(value: &str) -> bool {
    let bytes = value.as_bytes();
    (value.starts_with('/') && !value.starts_with("//"))
        || (value.ends_with('/') && value.len() > 1)
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with("~/")
        || (bytes.len() > 2
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && matches!(bytes[2], b'\\' | b'/'))
}

/// A plain decimal number (`2048`, `4096`, `3600`).
pub(crate) fn is_number(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit())
}

/// Whether a value after a secret-named flag or key is plainly not a
/// secret: a reference, a path or a file (`@file`, curl's and the Azure
/// CLI's convention), a number, or another flag.
pub(crate) fn plainly_not_secret(value: &str) -> bool {
    is_reference(value)
        || is_path(value)
        || is_number(value)
        || value.starts_with('-')
        || (value.starts_with('@') && value.len() > 1)
}

/// A flag's name and inline value: `--name=value` gives both, `--name`
/// the name alone. `None` for what is not a flag (`-`, `--`, `-5`).
pub(crate) fn split_flag(arg: &str) -> Option<(&str, Option<(usize, &str)>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() || !body.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    Some(match arg.find('=') {
        Some(equals) => (&arg[..equals], Some((equals + 1, &arg[equals + 1..]))),
        None => (arg, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_into_words() {
        assert_eq!(words("--db-password"), ["db", "password"]);
        assert_eq!(words("dbPassword"), ["db", "password"]);
        assert_eq!(
            words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
        assert_eq!(
            words("javax.net.ssl.keyStorePassword").last().unwrap(),
            "password"
        );
    }

    #[test]
    fn the_last_word_decides() {
        for name in [
            "--password",
            "--db-password",
            "--secret-key",
            "--access-key",
            "--client-secret",
            "--secret-string",
            "--api-token",
            "-token",
            "DB_PASS",
            "AccountKey",
            "SharedAccessKey",
            "--sasl-password",
            "--oauth2-bearer-token",
            "--apitoken",
        ] {
            assert_eq!(strength(name), Strength::Secret, "{name}");
        }
        for name in [
            "--password-file",
            "--key-file",
            "--token-file",
            "--password-stdin",
            "--key-size",
            "--max-tokens",
            "--token-ttl",
            "--secret-name",
            "--api-key-id",
            "--auth-type",
            "--pass-through",
            "--ask-pass",
            "--no-password",
            "--with-token",
            "--sort-key",
            "--public-key",
            "--next-token",
            "--routing-key",
            "--tokenizer",
            "--secret-version",
            "--secret-ref",
        ] {
            assert_eq!(strength(name), Strength::None, "{name}");
        }
        assert_eq!(strength("--key"), Strength::Weak);
        assert_eq!(strength("GITHUB_TOKEN_RO"), Strength::Secret);
        assert_eq!(strength("--signing-key"), Strength::Secret);
        assert_eq!(key_strength("TF_TOKEN_app_terraform_io"), Strength::Secret);
        assert_eq!(key_strength("PASSWORD_FILE_PATH"), Strength::None);
        assert_eq!(key_strength("TOKEN_TTL"), Strength::None);
        assert_eq!(strength("--signature"), Strength::Weak);
    }

    /// The quick test before a name is split must pass every word the
    /// rule knows, or it would hide them.
    #[test]
    fn every_secret_word_passes_the_quick_test() {
        for word in SECRET_WORDS
            .iter()
            .chain(SECRET_SUFFIXES)
            .chain(SECRET_COMPOUNDS)
            .chain(WEAK_WORDS)
        {
            assert!(may_name_secret(word), "{word}");
            assert!(may_name_secret(&word.to_ascii_uppercase()), "{word}");
        }
        assert!(!may_name_secret("--dbname"));
        // The one-word shortcut agrees with splitting.
        for name in [
            "--password",
            "PASSWORD",
            "-pass",
            "token",
            "--key",
            "signature",
            "--apikey",
            "requirepass",
            "bypass",
            "--passwords",
            "secretary",
        ] {
            let split = {
                let words = words(name);
                let word = words[0].as_str();
                if word == "key" || WEAK_WORDS.contains(&word) {
                    Strength::Weak
                } else if SECRET_WORDS.contains(&word)
                    || SECRET_COMPOUNDS.contains(&word)
                    || SECRET_SUFFIXES.iter().any(|suffix| word.ends_with(suffix))
                {
                    Strength::Secret
                } else {
                    Strength::None
                }
            };
            assert_eq!(one_word_strength(name), Some(split), "{name}");
        }
        assert_eq!(one_word_strength("--db-password"), None);
        assert_eq!(one_word_strength("dbPassword"), None);
        assert!(!may_name_secret("--username"));
    }

    #[test]
    fn values_that_are_plainly_not_secrets() {
        for value in [
            "2048",
            "/run/secrets/db",
            "./key.pem",
            "$DB_PASSWORD",
            "${TOKEN}",
            "env:PASS",
            "file:/x",
            "prompt",
            "--verbose",
            "****",
            "[REDACTED:credential_flag]",
            "{{ .Values.password }}",
            "<password>",
            "@token.txt",
        ] {
            assert!(plainly_not_secret(value), "{value}");
        }
        for value in ["hunter2", "S3cr3t!", "a/b+c=", "x7"] {
            assert!(!plainly_not_secret(value), "{value}");
        }
    }

    #[test]
    fn splits_flags() {
        assert_eq!(
            split_flag("--password=x"),
            Some(("--password", Some((11, "x"))))
        );
        assert_eq!(split_flag("-p"), Some(("-p", None)));
        assert_eq!(split_flag("--"), None);
        assert_eq!(split_flag("-5"), None);
        assert_eq!(split_flag("value"), None);
    }
}
