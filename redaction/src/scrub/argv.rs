//! The argument rules: one command's arguments, with their boundaries,
//! read as the tool reads them — wrappers looked through, the tool's row
//! of the table applied, then the generic flag-name rule and the
//! positional-after-key rule for every other argument.
use std::ops::Range;

use super::{
    Builtin, Finding,
    flags::{self, Strength},
    key_value,
    tokens::Arg,
    tools::{self, EQUALS, GLUED, NEXT, Tool, Value},
    wrappers::{self, Inner},
};
use crate::scrub::entropy;

/// `sh -c "ssh h 'sudo mysql ...'"` nests; deeper than this is not a
/// command line anyone types.
const MAX_DEPTH: usize = 6;

/// The text rules, run on a shell string's unquoted text.
pub(crate) type TextRules<'r> = &'r dyn Fn(&str, &mut Vec<Finding>);

/// The secrets in a shell command string held by `arg` (`sh -c STRING`,
/// `rsync -e STRING`): its commands' argument rules, and the text rules
/// on its unquoted text when quoting hid it from the outer scan.
fn scan_shell(arg: &Arg<'_>, found: &mut Vec<Finding>, depth: usize, text_rules: TextRules<'_>) {
    for inner in arg.commands() {
        scan(&inner, found, depth + 1, text_rules);
    }
    if !arg.is_plain() {
        let mut inner = Vec::new();
        text_rules(&arg.text, &mut inner);
        for finding in inner {
            if let Some(span) = arg.span(finding.span) {
                found.push(Finding { span, ..finding });
            }
        }
    }
}

/// Records the secrets in one command (`args[0]` the program).
pub(crate) fn scan(
    args: &[Arg<'_>],
    found: &mut Vec<Finding>,
    depth: usize,
    text_rules: TextRules<'_>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let skip = args
        .iter()
        .take_while(|arg| wrappers::is_assignment(&arg.text))
        .count();
    let args = &args[skip..];
    let Some(first) = args.first() else {
        return;
    };
    let texts: Vec<&str> = args.iter().map(|arg| arg.text.as_ref()).collect();
    let tool = base_name(&first.text);
    for index in 1..args.len().saturating_sub(1) {
        if wrappers::command_flag(tool, texts[index]) {
            scan_shell(&args[index + 1], found, depth, text_rules);
        }
    }
    let mut command = Command {
        args,
        texts: &texts,
        claimed: vec![false; args.len()],
        found,
    };
    if let Some(inner) = wrappers::inner(tool, &texts) {
        let (Inner::Args(start) | Inner::Shell(start)) = inner;
        if let Some(row) = tools::row(tool, &texts[..start]) {
            command.apply_row(row, start);
        }
        let found = command.found;
        match inner {
            Inner::Args(start) => scan(&args[start..], found, depth + 1, text_rules),
            Inner::Shell(index) => scan_shell(&args[index], found, depth, text_rules),
        }
        return;
    }
    let row = tools::row(tool, &texts);
    if let Some(row) = row {
        command.apply_row(row, texts.len());
    }
    command.apply_generic(row);
}

/// `/usr/bin/mysql` is `mysql`.
fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

struct Command<'c, 'a> {
    args: &'c [Arg<'a>],
    texts: &'c [&'c str],
    /// Arguments a rule has read (a flag and its value), which the later
    /// rules leave alone.
    claimed: Vec<bool>,
    found: &'c mut Vec<Finding>,
}

impl Command<'_, '_> {
    fn report(&mut self, index: usize, range: Range<usize>, builtin: Builtin) {
        if let Some(span) = self.args[index].span(range) {
            self.found.push(Finding {
                span,
                detector: super::Detector::builtin(builtin),
                clears: false,
            });
        }
    }

    /// The secret part of `value` (at `offset` in its argument), as the
    /// table says, unless it is a reference.
    fn report_value(&mut self, index: usize, offset: usize, value: Value, builtin: Builtin) {
        let text = &self.texts[index][offset..];
        let range = match value {
            Value::Secret => Some(0..text.len()),
            Value::After(separator) => text
                .find(separator)
                .map(|at| at + separator.len_utf8()..text.len()),
            Value::Logon => match text.find('/') {
                Some(slash) if slash > 0 => {
                    let end = text[slash..].find('@').map_or(text.len(), |at| slash + at);
                    Some(slash + 1..end)
                }
                _ => None,
            },
            Value::Openssl => text.strip_prefix("pass:").map(|_| 5..text.len()),
            Value::UserOption => {
                let mut at = 0;
                let mut range = None;
                for option in text.split(',') {
                    if let Some(credentials) = option.strip_prefix("user=")
                        && let Some(colon) = credentials.find(':')
                    {
                        range = Some(at + 5 + colon + 1..at + option.len());
                    }
                    at += option.len() + 1;
                }
                range
            }
            Value::Cookies => {
                if text.contains('=') {
                    for range in key_value::cookies(text, 0..text.len()) {
                        self.report(index, offset + range.start..offset + range.end, builtin);
                    }
                }
                None
            }
        };
        if let Some(range) = range
            && !range.is_empty()
            && !flags::is_reference(&text[range.clone()])
        {
            self.report(index, offset + range.start..offset + range.end, builtin);
        }
    }

    /// The row's flags wherever they stand, then its positions and
    /// keywords. `end` bounds the arguments that are the tool's own (a
    /// wrapper's command follows).
    fn apply_row(&mut self, row: &'static Tool, end: usize) {
        let builtin = if row.client {
            Builtin::ClientPassword
        } else {
            Builtin::ToolCredential
        };
        let mut index = 1;
        let mut options_ended = false;
        while index < end {
            if !options_ended && self.texts[index] == "--" {
                options_ended = true;
            }
            index = if options_ended {
                index + 1
            } else {
                self.row_flag(row, index, end, builtin)
            };
        }
        // `htpasswd -b`, also bundled (`-nbB`).
        let switched = |switch: char| {
            self.texts[1..end].iter().any(|text| {
                text.len() > 1
                    && text.starts_with('-')
                    && !text.starts_with("--")
                    && text[1..].contains(switch)
            })
        };
        if !row.positional.is_empty() && row.positional_needs.is_none_or(switched) {
            let positionals: Vec<usize> = tools::positionals(row, &self.texts[..end])
                .skip(row.subcommand.len())
                .collect();
            for &position in row.positional {
                if let Some(&index) = positionals.get(position)
                    && !self.claimed[index]
                    && !self.texts[index].contains('=')
                {
                    self.claimed[index] = true;
                    self.report_value(index, 0, row.positional_value, builtin);
                }
            }
        }
        if !row.keywords.is_empty() {
            for index in 1..end.saturating_sub(1) {
                if row
                    .keywords
                    .iter()
                    .any(|word| self.texts[index].eq_ignore_ascii_case(word))
                    && !self.texts[index + 1].starts_with('-')
                {
                    // `AUTH [user] password`: every word after it.
                    for value in index + 1..end {
                        if self.texts[value].starts_with('-') {
                            break;
                        }
                        self.claimed[value] = true;
                        self.report_value(value, 0, Value::Secret, builtin);
                        if row.names[0] != "redis-cli" {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Reads the argument at `index` against the row's flags; returns
    /// the next index to read.
    fn row_flag(
        &mut self,
        row: &'static Tool,
        index: usize,
        end: usize,
        builtin: Builtin,
    ) -> usize {
        let text = self.texts[index];
        for flag in row.flags {
            if text == flag.name {
                self.claimed[index] = true;
                if flag.forms & NEXT == 0 {
                    return index + 1; // alone, it prompts
                }
                let next = index + 1;
                if next < end && !self.texts[next].starts_with('-') {
                    self.claimed[next] = true;
                    self.report_value(next, 0, flag.value, builtin);
                    return next + 1;
                }
                return index + 1;
            }
        }
        for flag in row.flags {
            let equals = flag.forms & EQUALS != 0
                && text.len() > flag.name.len()
                && text.starts_with(flag.name)
                && text.as_bytes()[flag.name.len()] == b'=';
            if equals {
                self.claimed[index] = true;
                self.report_value(index, flag.name.len() + 1, flag.value, builtin);
                return index + 1;
            }
        }
        for flag in row.flags {
            if flag.forms & GLUED != 0
                && text.len() > flag.name.len()
                && text.starts_with(flag.name)
            {
                self.claimed[index] = true;
                self.report_value(index, flag.name.len(), flag.value, builtin);
                return index + 1;
            }
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, _)) => (name, true),
            None => (text, false),
        };
        if row.switches.contains(&text) || (inline && row.value_flags.contains(&name)) {
            self.claimed[index] = true;
            // The table overrides the name rule (`gcloud --secret=NAME`):
            // nothing found in the value is a secret.
            if inline
                && flags::strength(name) != Strength::None
                && let Some(span) = self.args[index].span(0..text.len())
            {
                self.found.push(Finding {
                    span,
                    detector: super::Detector::builtin(builtin),
                    clears: true,
                });
            }
        } else if row.value_flags.contains(&text) && index + 1 < end {
            self.claimed[index] = true;
            self.claimed[index + 1] = true;
            return index + 2;
        }
        index + 1
    }

    /// The generic flag-name rule, then the positional-after-key rule,
    /// for what no row claimed.
    fn apply_generic(&mut self, row: Option<&'static Tool>) {
        let count = self.texts.len();
        let mut index = 1;
        while index < count {
            let text = self.texts[index];
            if text == "--" {
                break;
            }
            index = if self.claimed[index] {
                index + 1
            } else {
                self.generic_flag(index)
            };
        }
        // `... set some_secret_key VALUE`
        for index in 1..count.saturating_sub(1) {
            let (key, value) = (self.texts[index], self.texts[index + 1]);
            if self.claimed[index] || self.claimed[index + 1] {
                continue;
            }
            if row.is_some_and(|row| row.pattern_and_files) {
                break;
            }
            let verb = index > 1 && is_set_verb(self.texts[index - 1]);
            if names_secret_positionally(key, verb)
                && !value.starts_with('-')
                && !flags::plainly_not_secret(value)
                && !is_file_name(value)
                && row.is_none_or(|row| !row.keywords.contains(&key))
            {
                self.claimed[index + 1] = true;
                self.report(index + 1, 0..value.len(), Builtin::PositionalSecret);
            }
        }
        if row.is_none_or(|row| !row.pattern_and_files) {
            self.secret_store();
            self.config_keys();
        }
    }

    /// `gh secret set NAME VALUE`, `doppler secrets set NAME VALUE`,
    /// `dotnet user-secrets set KEY VALUE`, `fly secrets set NAME=VALUE`,
    /// `az keyvault secret set --name N --value V`: after a secret store's
    /// set verb, the value is a secret whatever the name says (a number
    /// too: a PIN), unless it is a reference or a path.
    fn secret_store(&mut self) {
        let not_secret = |value: &str| {
            flags::is_reference(value) || flags::is_path(value) || value.starts_with('-')
        };
        let count = self.texts.len();
        let Some(verb) = (1..count).find(|&index| {
            let text = self.texts[index];
            if is_store_verb(text) {
                return index > 1 && is_secret_noun(self.texts[index - 1]);
            }
            // `eas secret:create`, `firebase functions:secrets:set`: a
            // joined form names no file, so `create` counts there.
            !text.starts_with('-')
                && text.contains(':')
                && text.rsplit_once(':').is_some_and(|(noun, verb)| {
                    is_secret_noun(noun.rsplit(':').next().unwrap_or(noun))
                        && (is_store_verb(verb) || verb.eq_ignore_ascii_case("create"))
                })
        }) else {
            return;
        };
        let mut index = verb + 1;
        let mut name_seen = false;
        while index < count {
            let text = self.texts[index];
            if self.claimed[index] {
                index += 1;
                continue;
            }
            if let Some((name, inline)) = flags::split_flag(text) {
                // The value flags of secret stores (`--value`, `--body`).
                let value_flag = matches!(name, "--value" | "--body" | "--data");
                match inline {
                    Some((offset, value)) if value_flag && !not_secret(value) => {
                        self.claimed[index] = true;
                        self.report(index, offset..text.len(), Builtin::PositionalSecret);
                    }
                    None if value_flag && index + 1 < count => {
                        let value = self.texts[index + 1];
                        if !self.claimed[index + 1] && !not_secret(value) {
                            self.claimed[index + 1] = true;
                            self.report(index + 1, 0..value.len(), Builtin::PositionalSecret);
                        }
                        index += 1;
                    }
                    // A flag of unknown arity: what follows may be its value.
                    None if !name_seen => index += 1,
                    // The value comes right after the name, or not at all.
                    _ if name_seen => return,
                    _ => {}
                }
                index += 1;
                continue;
            }
            if let Some((name, value)) = text.split_once('=')
                && !name.is_empty()
                && wrappers::is_assignment(text)
            {
                if !not_secret(value) {
                    self.claimed[index] = true;
                    self.report(index, name.len() + 1..text.len(), Builtin::PositionalSecret);
                }
                name_seen = true;
            } else if !name_seen {
                name_seen = true;
            } else {
                if !not_secret(text) {
                    self.claimed[index] = true;
                    self.report(index, 0..text.len(), Builtin::PositionalSecret);
                }
                return;
            }
            index += 1;
        }
    }

    /// Configuration keys whose documented values are credentials though
    /// their names do not say so (`poetry config http-basic.REPO USER
    /// PASS`, `composer config github-oauth.HOST TOKEN`, `bundle config set
    /// HOST USER:PASS`, `rclone config create NAME TYPE pass PASS`).
    fn config_keys(&mut self) {
        let tool = base_name(self.texts[0]);
        let Some(config) = self.texts.iter().position(|text| *text == "config") else {
            return;
        };
        let positionals: Vec<usize> = (config + 1..self.texts.len())
            .filter(|&index| !self.texts[index].starts_with('-') && !self.claimed[index])
            .collect();
        let report = |command: &mut Self, index: usize, value: Value| {
            command.claimed[index] = true;
            command.report_value(index, 0, value, Builtin::PositionalSecret);
        };
        for (at, &index) in positionals.iter().enumerate() {
            let key = self.texts[index];
            // Bundler's other dotted keys (`mirror.URL`, `build.GEM`,
            // `local.GEM`) hold no credential.
            let host = key.contains('.')
                && !["mirror.", "build.", "local."]
                    .iter()
                    .any(|prefix| key.starts_with(prefix));
            let Some(rule) = tools::CONFIG_KEYS.iter().find(|rule| {
                rule.tools.contains(&tool)
                    && if rule.prefix.is_empty() {
                        host
                    } else {
                        key.starts_with(rule.prefix)
                    }
            }) else {
                continue;
            };
            if let Some(&value) = positionals.get(at + 1 + rule.secret)
                && !self.texts[value].contains("://")
                && !flags::plainly_not_secret(self.texts[value])
            {
                report(self, value, rule.value);
            }
            return;
        }
        // `rclone config create|update|password NAME [TYPE] KEY VALUE ...`:
        // a key naming a secret takes the value after it.
        if tool == "rclone" {
            for pair in positionals.windows(2) {
                let (key, value) = (self.texts[pair[0]], pair[1]);
                if flags::strength(key) == Strength::Secret
                    && !flags::plainly_not_secret(self.texts[value])
                {
                    report(self, value, Value::Secret);
                }
            }
        }
    }

    /// The flag at `index` by its name; returns the next index to read.
    fn generic_flag(&mut self, index: usize) -> usize {
        let text = self.texts[index];
        let Some((name, inline)) = flags::split_flag(text) else {
            return index + 1;
        };
        let strength = flags::strength(name);
        if strength == Strength::None {
            return index + 1;
        }
        let (value_index, offset, next) = match inline {
            Some((offset, _)) => (index, offset, index + 1),
            None if index + 1 < self.texts.len() && !self.claimed[index + 1] => {
                (index + 1, 0, index + 2)
            }
            None => return index + 1,
        };
        let mut value = &self.texts[value_index][offset..];
        let mut offset = offset;
        // OpenSSL's `pass:SECRET` convention, for any tool.
        if let Some(rest) = value.strip_prefix("pass:") {
            value = rest;
            offset += 5;
        }
        if flags::plainly_not_secret(value) {
            return index + 1;
        }
        let builtin = match strength {
            Strength::Secret => Builtin::CredentialFlag,
            _ if entropy::looks_random(value) => Builtin::HighEntropy,
            _ => return index + 1,
        };
        self.claimed[index] = true;
        self.claimed[value_index] = true;
        self.report(value_index, offset..offset + value.len(), builtin);
        next
    }
}

/// `set` and `put`, alone or ending a joined subcommand (`env:set`,
/// `config:set`).
fn is_set_verb(text: &str) -> bool {
    let verb = text.rsplit(':').next().unwrap_or(text);
    verb.eq_ignore_ascii_case("set") || verb.eq_ignore_ascii_case("put")
}

/// A secret store's noun (`gh secret`, `doppler secrets`, `dotnet
/// user-secrets`, `firebase functions:secrets:set`).
fn is_secret_noun(text: &str) -> bool {
    ["secret", "secrets", "user-secrets"]
        .iter()
        .any(|noun| noun.eq_ignore_ascii_case(text))
}

/// The verbs that give a secret store a value (`create` is not one:
/// `docker secret create NAME FILE` names a file).
fn is_store_verb(text: &str) -> bool {
    ["set", "add", "put", "update"]
        .iter()
        .any(|verb| verb.eq_ignore_ascii_case(text))
}

/// Whether a positional argument is a key naming a secret, written as a
/// key is (`db_password`, `API_TOKEN`, `dbPassword`, `Db:Password`,
/// `app/db_password`, `user.password`), or any secret name after a `set`
/// or `put` verb. A kebab-case word (`fix-password`, a branch; `db-password`,
/// a Kubernetes secret's name) and a file name (`token.txt`) are not.
/// A file's name (`token.txt`, `db_pass.json`): it names where a secret
/// is, not the secret (`docker secret create NAME FILE`).
fn is_file_name(text: &str) -> bool {
    const FILE_EXTENSIONS: &[&str] = &[
        "txt", "json", "yaml", "yml", "pem", "key", "crt", "cer", "env", "conf", "cfg", "ini",
        "toml", "xml", "gpg", "asc", "enc", "age", "sh", "py", "js", "ts", "rs", "go", "md", "log",
        "csv", "db", "p12", "pfx", "jks", "der", "pub", "bak", "tmp", "html", "rb", "java",
    ];
    text.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty() && FILE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
    })
}

fn names_secret_positionally(key: &str, after_verb: bool) -> bool {
    if key.is_empty()
        || key.starts_with('-')
        || flags::is_path(key)
        || !key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.:/-".contains(&byte))
    {
        return false;
    }
    if is_file_name(key) {
        return false;
    }
    if flags::strength(key) != Strength::Secret {
        return false;
    }
    if after_verb {
        return true;
    }
    let tail = key.rsplit(['/', ':', '.']).next().unwrap_or(key);
    let camel = tail
        .as_bytes()
        .windows(2)
        .any(|pair| pair[0].is_ascii_lowercase() && pair[1].is_ascii_uppercase());
    tail.contains('_')
        || camel
        || (tail.len() < key.len()
            && !tail.contains('-')
            && flags::strength(tail) == Strength::Secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_written_as_keys() {
        for key in [
            "db_password",
            "API_TOKEN",
            "dbPassword",
            "Db:Password",
            "app/db_password",
            "user.password",
            "aws_secret_access_key",
            "//registry.example/:_authToken",
        ] {
            assert!(names_secret_positionally(key, false), "{key}");
        }
        for key in [
            "fix-password",
            "db-password",
            "password",
            "token.txt",
            "secret.key",
            "passwords",
            "token_ttl",
        ] {
            assert!(!names_secret_positionally(key, false), "{key}");
        }
        assert!(names_secret_positionally("password", true));
    }
}
