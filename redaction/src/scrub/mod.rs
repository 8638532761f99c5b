//! Secret scrubbing: credentials and personal data replaced in text, with
//! the text's structure kept (`--password=[REDACTED:credential_flag]`,
//! `-p[REDACTED:client_password]`), so a command line stays readable.
//!
//! A line and a process's argument list go through the same rules: a line
//! is split into commands and arguments by a shell-like tokenizer that
//! keeps every byte's place ([`tokens`]), an argument list is taken as it
//! is, and then
//!
//! 1. the argument rules read each command as its tool does ([`argv`]):
//!    wrappers looked through ([`wrappers`]), the tool table's flags and
//!    positions ([`tools`]), the generic flag-name rule ([`flags`]), a
//!    secret after a positional key;
//! 2. the text rules find key/value forms ([`key_value`]), vendor token
//!    formats ([`vendors`]) and formats known by their shape ([`formats`]);
//! 3. a random-looking value after a weakly secret-ish name is the last
//!    line ([`entropy`]).
//!
//! Every pattern is a `regex` crate expression or a hand-written forward
//! scanner: linear time whatever the input. One pre-check expression runs
//! first; a line in which nothing is suspicious costs one scan. Past it,
//! one Aho-Corasick pass over every text rule's literals picks the rules
//! that can match, so a rule costs nothing on a line without its keyword.
mod argv;
mod entropy;
mod flags;
mod formats;
mod key_value;
mod tokens;
mod tools;
mod vendors;
mod wrappers;

use std::{borrow::Cow, cell::RefCell, ops::Range};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use vendors::VENDOR_RULES;

/// The detectors built into the engine (vendor formats are a table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Builtin {
    PrivateKey,
    ClientPassword,
    ToolCredential,
    CredentialFlag,
    PositionalSecret,
    UrlPassword,
    Authorization,
    Cookie,
    ConnectionString,
    UrlQuery,
    SecretAssignment,
    Jwt,
    HighEntropy,
    Email,
    CardNumber,
    Iban,
}

/// Built-in detectors listed before the vendor formats: where two claim
/// the same secret, the one listed first names it.
const BEFORE_VENDORS: [Builtin; 11] = [
    Builtin::PrivateKey,
    Builtin::ClientPassword,
    Builtin::ToolCredential,
    Builtin::CredentialFlag,
    Builtin::PositionalSecret,
    Builtin::UrlPassword,
    Builtin::Authorization,
    Builtin::Cookie,
    Builtin::ConnectionString,
    Builtin::UrlQuery,
    Builtin::SecretAssignment,
];
const AFTER_VENDORS: [Builtin; 5] = [
    Builtin::Jwt,
    Builtin::HighEntropy,
    Builtin::Email,
    Builtin::CardNumber,
    Builtin::Iban,
];
const DETECTORS: usize = BEFORE_VENDORS.len() + VENDOR_RULES.len() + AFTER_VENDORS.len();

/// One kind of secret the scrubber finds; its [`name`](Detector::name) is
/// what `[REDACTED:<name>]` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Detector(Id);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Id {
    Builtin(Builtin),
    Vendor(usize),
}

impl Detector {
    /// Every detector, in the order they claim overlapping matches.
    pub const ALL: [Detector; DETECTORS] = all();

    const fn builtin(builtin: Builtin) -> Self {
        Detector(Id::Builtin(builtin))
    }

    /// The name in `[REDACTED:<name>]`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Id::Vendor(index) => VENDOR_RULES[index].name,
            Id::Builtin(builtin) => match builtin {
                Builtin::PrivateKey => "private_key",
                Builtin::ClientPassword => "client_password",
                Builtin::ToolCredential => "tool_credential",
                Builtin::CredentialFlag => "credential_flag",
                Builtin::PositionalSecret => "positional_secret",
                Builtin::UrlPassword => "url_password",
                Builtin::Authorization => "authorization",
                Builtin::Cookie => "cookie",
                Builtin::ConnectionString => "connection_string",
                Builtin::UrlQuery => "url_query",
                Builtin::SecretAssignment => "secret_assignment",
                Builtin::Jwt => "jwt",
                Builtin::HighEntropy => "high_entropy",
                Builtin::Email => "email",
                Builtin::CardNumber => "card_number",
                Builtin::Iban => "iban",
            },
        }
    }

    /// What the detector finds, for `scrim redact --list`.
    pub fn description(self) -> Cow<'static, str> {
        let builtin = match self.0 {
            Id::Vendor(index) => {
                let rule = &VENDOR_RULES[index];
                return Cow::Owned(format!(
                    "a {} token in its published format ({})",
                    rule.vendor, rule.source
                ));
            }
            Id::Builtin(builtin) => builtin,
        };
        Cow::Borrowed(match builtin {
            Builtin::PrivateKey => "a PEM private-key block, from its BEGIN line to its END line",
            Builtin::ClientPassword => {
                "the password of a database client's `-p` (`mysql -pSECRET`, mysqldump, \
                 mariadb, ...) and of `sshpass -p`, wrappers (`sudo`, `timeout`, `sh -c`, `ssh`) \
                 looked through"
            }
            Builtin::ToolCredential => {
                "a secret where a known tool takes one: its password, token or key flag \
                 (`docker login -p`, `ldapsearch -w`, `curl -u user:SECRET`, `smbclient -U \
                 user%SECRET`, `openssl -passin pass:SECRET`) or position (`vault login TOKEN`, \
                 `rabbitmqctl add_user USER SECRET`), per the tool table in docs/secrets.md"
            }
            Builtin::CredentialFlag => {
                "the value of any tool's flag whose name ends in password, passwd, pass, \
                 passphrase, pwd, secret, token, key, credential or auth (`--password=x`, \
                 `--db-password x`, `--secret-key x`), unless the value is a number, a path, \
                 a reference (`$VAR`, `env:`, `file:`) or another flag"
            }
            Builtin::PositionalSecret => {
                "the argument after a positional key that names a secret (`aws configure set \
                 aws_secret_access_key SECRET`, `redis-cli SET api_token SECRET`), the value \
                 given to a secret store (`gh secret set NAME SECRET`, `fly secrets set \
                 NAME=SECRET`), and documented credential keys (`poetry config \
                 http-basic.REPO USER SECRET`, `composer config github-oauth.HOST SECRET`)"
            }
            Builtin::UrlPassword => {
                "the password in a URL's userinfo, any scheme (`https://user:x@host`, \
                 `redis://:x@host`)"
            }
            Builtin::Authorization => {
                "the credentials of an authorization (`Authorization: Bearer x`, `Basic x`, \
                 `token x`)"
            }
            Builtin::Cookie => {
                "the values of a cookie header or cookie flag (`Cookie: sessionid=x; csrftoken=y`, \
                 `curl -b 'sessionid=x'`), the cookie names kept"
            }
            Builtin::ConnectionString => {
                "a secret in a connection string (`Password=x;`, `AccountKey=x;`, \
                 `SharedAccessKey=x;`)"
            }
            Builtin::UrlQuery => "a secret URL query parameter (`?access_token=x`, `&sig=x`)",
            Builtin::SecretAssignment => {
                "the value of a `KEY=value`, `key: value`, JSON `\"key\": \"value\"` or property \
                 whose key names a secret (`DB_PASSWORD=x`, `-Djavax.net.ssl.keyStorePassword=x`), \
                 unless it is a reference or a path"
            }
            Builtin::Jwt => "a JSON Web Token (three base64url parts, the first `eyJ`)",
            Builtin::HighEntropy => {
                "a random-looking value after a weakly secret-ish name (bare `key`, `signature`, \
                 `cookie`, `session`) that no other rule claimed; hex digests, UUIDs and base64 \
                 images are left"
            }
            Builtin::Email => {
                "an e-mail address (not the `user@host:` of scp and git, nor a systemd unit \
                 such as `postgresql@15-main.service`)"
            }
            Builtin::CardNumber => {
                "a payment card number: 13 to 19 digits with an issuer's prefix and length that \
                 pass the Luhn check"
            }
            Builtin::Iban => "an IBAN that passes its mod-97 check",
        })
    }

    /// Where this detector stands in [`Detector::ALL`].
    fn rank(self) -> usize {
        match self.0 {
            Id::Vendor(index) => BEFORE_VENDORS.len() + index,
            Id::Builtin(builtin) => match BEFORE_VENDORS.iter().position(|b| *b == builtin) {
                Some(position) => position,
                None => {
                    BEFORE_VENDORS.len()
                        + VENDOR_RULES.len()
                        + AFTER_VENDORS
                            .iter()
                            .position(|b| *b == builtin)
                            .unwrap_or(AFTER_VENDORS.len())
                }
            },
        }
    }
}

const fn all() -> [Detector; DETECTORS] {
    let mut all = [Detector::builtin(Builtin::PrivateKey); DETECTORS];
    let mut at = 0;
    let mut index = 0;
    while index < BEFORE_VENDORS.len() {
        all[at] = Detector::builtin(BEFORE_VENDORS[index]);
        at += 1;
        index += 1;
    }
    index = 0;
    while index < VENDOR_RULES.len() {
        all[at] = Detector(Id::Vendor(index));
        at += 1;
        index += 1;
    }
    index = 0;
    while index < AFTER_VENDORS.len() {
        all[at] = Detector::builtin(AFTER_VENDORS[index]);
        at += 1;
        index += 1;
    }
    all
}

/// A text rule's match. The text rules run over bytes with ASCII classes
/// (`\s`, `\d`, `\b`, case folding): their automata stay small and fast,
/// and a secret in any script is still one run of non-space bytes. A
/// group that does not fall on character boundaries counts as absent.
pub(crate) struct Captures<'t> {
    text: &'t str,
    inner: regex::bytes::Captures<'t>,
}

/// One group of a [`Captures`].
#[derive(Clone, Copy)]
pub(crate) struct Group<'t> {
    text: &'t str,
    start: usize,
}

impl<'t> Group<'t> {
    pub fn as_str(&self) -> &'t str {
        self.text
    }
    pub fn start(&self) -> usize {
        self.start
    }
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
    pub fn range(&self) -> Range<usize> {
        self.start..self.end()
    }
}

impl<'t> Captures<'t> {
    fn group(&self, found: Option<regex::bytes::Match<'t>>) -> Option<Group<'t>> {
        let found = found?;
        Some(Group {
            text: self.text.get(found.range())?,
            start: found.start(),
        })
    }
    pub fn name(&self, name: &str) -> Option<Group<'t>> {
        self.group(self.inner.name(name))
    }
    pub fn get(&self, index: usize) -> Option<Group<'t>> {
        self.group(self.inner.get(index))
    }
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).unicode(false).build()
}

/// A secret found: where it lies in the scanned text, and who found it.
#[derive(Debug)]
pub(crate) struct Finding {
    pub span: Range<usize>,
    pub detector: Detector,
    /// Not a secret but a value the tool table says is none (`gcloud
    /// --secret=NAME`): what other rules found inside it is dropped.
    pub clears: bool,
}

/// What confirms a text rule's match and picks out the secret.
#[derive(Debug, Clone, Copy)]
enum Check {
    Whole,
    Named,
    Assignment,
    UrlPassword,
    Connection,
    Cookie,
    Authorization,
    Email,
    CardNumber,
    Iban,
}

#[derive(Debug)]
struct TextRule {
    detector: Detector,
    regex: Regex,
    check: Check,
    needs: Needs,
}

/// What a text must hold for a rule to have a chance: a cheaper test
/// than the rule's own scan, so that a line pays only for the rules whose
/// literal it carries.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// One of these literals (lowercase; compared ASCII case-insensitively).
    Literals(&'static [&'static str]),
    /// A shape no literal describes, tested by a forward scan.
    Shape(ShapeTest),
}

/// A forward scan saying whether a text may hold a shape.
type ShapeTest = fn(&[u8]) -> bool;

/// Room for one bit per text rule: every rule is a detector.
const RULE_WORDS: usize = DETECTORS.div_ceil(64);

/// A set of text rules, by their index in [`Scrubber::rules`].
#[derive(Clone, Copy, Debug, Default)]
struct RuleSet([u64; RULE_WORDS]);

impl RuleSet {
    fn insert(&mut self, index: usize) {
        if let Some(word) = self.0.get_mut(index / 64) {
            *word |= 1 << (index % 64);
        }
    }

    fn union(&mut self, other: &RuleSet) {
        for (word, other) in self.0.iter_mut().zip(other.0) {
            *word |= other;
        }
    }

    /// The indices in the set, ascending.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(at, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    at * 64 + bit
                })
            })
        })
    }
}

/// Which text rules can match a text, found in one pass: an Aho-Corasick
/// automaton over every rule's literals (vendor keywords and prefixes, the
/// built-in rules' words), each literal mapped to the rules that need it.
/// A vendor rule costs nothing on a line without its keyword, however many
/// rules the table grows to; the pass is linear in the text.
#[derive(Debug)]
struct Prefilter {
    literals: AhoCorasick,
    /// For each literal of `literals`, the rules that need it.
    owners: Vec<RuleSet>,
    /// Rules tested by their shape, and the test.
    shapes: Vec<(usize, ShapeTest)>,
}

impl Prefilter {
    fn new(rules: &[TextRule]) -> Self {
        let mut literals: Vec<&'static str> = Vec::new();
        let mut owners: Vec<RuleSet> = Vec::new();
        let mut shapes = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            match rule.needs {
                Needs::Literals(needed) => {
                    for &literal in needed {
                        let at = match literals.iter().position(|known| *known == literal) {
                            Some(at) => at,
                            None => {
                                literals.push(literal);
                                owners.push(RuleSet::default());
                                literals.len() - 1
                            }
                        };
                        owners[at].insert(index);
                    }
                }
                Needs::Shape(test) => shapes.push((index, test)),
            }
        }
        // A full DFA: one table lookup a byte (the default, an NFA,
        // costs several times that on a line).
        let literals = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&literals)
            // A few hundred short literals: far inside the automaton's limits.
            .expect("text rule literals build an automaton");
        Prefilter {
            literals,
            owners,
            shapes,
        }
    }

    /// The rules that may match in `text`.
    fn candidates(&self, text: &[u8]) -> RuleSet {
        let mut set = RuleSet::default();
        // Overlapping: a literal inside another (`pw` in `apw_`) still counts.
        for found in self.literals.find_overlapping_iter(text) {
            if let Some(owners) = self.owners.get(found.pattern().as_usize()) {
                set.union(owners);
            }
        }
        for &(index, test) in &self.shapes {
            if test(text) {
                set.insert(index);
            }
        }
        set
    }
}

/// Finds and replaces secrets. Build one and share it: compiling the
/// patterns takes milliseconds, scrubbing a clean line well under a
/// microsecond.
#[derive(Debug)]
pub struct Scrubber {
    /// Matches wherever any rule might: secret words, known tools in a
    /// command's place, a URL's userinfo, vendor keywords, the shapes.
    precheck: Regex,
    /// The built-in text rules, then the vendor formats.
    rules: Vec<TextRule>,
    /// Which of `rules` a text can match.
    prefilter: Prefilter,
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

impl Scrubber {
    pub fn new() -> Self {
        let builtin = |builtin, pattern: &str, check, needs| TextRule {
            detector: Detector::builtin(builtin),
            // The patterns are constants covered by the tests.
            regex: compile(pattern).expect("detector pattern compiles"),
            check,
            needs,
        };
        let literals = Needs::Literals;
        let mut rules = vec![
            builtin(
                Builtin::PrivateKey,
                formats::PRIVATE_KEY,
                Check::Whole,
                literals(&["-----begin"]),
            ),
            builtin(
                Builtin::SecretAssignment,
                key_value::ASSIGNMENT,
                Check::Assignment,
                literals(key_value::ASSIGNMENT_WORDS),
            ),
            builtin(
                Builtin::UrlPassword,
                key_value::URL_PASSWORD,
                Check::UrlPassword,
                literals(&["://"]),
            ),
            builtin(
                Builtin::ConnectionString,
                key_value::CONNECTION,
                Check::Connection,
                literals(&[";"]),
            ),
            builtin(
                Builtin::Cookie,
                key_value::COOKIE,
                Check::Cookie,
                literals(&["cookie"]),
            ),
            builtin(
                Builtin::Authorization,
                formats::AUTHORIZATION,
                Check::Authorization,
                literals(&["bearer", "basic", "authorization"]),
            ),
            builtin(Builtin::Jwt, formats::JWT, Check::Whole, literals(&["eyj"])),
            builtin(
                Builtin::Email,
                formats::EMAIL,
                Check::Email,
                literals(&["@"]),
            ),
            builtin(
                Builtin::CardNumber,
                formats::CARD_NUMBER,
                Check::CardNumber,
                Needs::Shape(formats::may_hold_card_number),
            ),
            builtin(
                Builtin::Iban,
                formats::IBAN,
                Check::Iban,
                Needs::Shape(formats::may_hold_iban),
            ),
        ];
        rules.extend(
            VENDOR_RULES
                .iter()
                .enumerate()
                .map(|(index, vendor)| TextRule {
                    detector: Detector(Id::Vendor(index)),
                    regex: compile(vendor.pattern).expect("vendor pattern compiles"),
                    check: Check::Named,
                    needs: literals(vendor.keywords),
                }),
        );
        let prefilter = Prefilter::new(&rules);
        let precheck = compile(&precheck_pattern()).expect("pre-check pattern compiles");
        Scrubber {
            precheck,
            rules,
            prefilter,
        }
    }

    /// Every detector this scrubber runs, in the order they claim
    /// overlapping matches.
    pub fn detectors() -> &'static [Detector] {
        &Detector::ALL
    }

    /// `text` with every secret replaced by `[REDACTED:<detector>]`;
    /// borrowed when there was none. A line is read as the commands it
    /// holds, so it gets the same answer as the same command's arguments.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.precheck.is_match(text.as_bytes()) {
            return Cow::Borrowed(text);
        }
        let mut found = Vec::new();
        for command in tokens::commands(text) {
            argv::scan(&command, &mut found, 0, &|text, out| {
                self.text_findings(text, out)
            });
        }
        self.text_findings(text, &mut found);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut scrubbed = String::with_capacity(text.len() + 32);
        let mut copied_to = 0;
        for (span, detector) in merge(found) {
            scrubbed.push_str(&text[copied_to..span.start]);
            push_redacted(&mut scrubbed, detector);
            copied_to = span.end;
        }
        scrubbed.push_str(&text[copied_to..]);
        Cow::Owned(scrubbed)
    }

    /// A command's arguments (`argv[0]` first), scrubbed by the same rules
    /// as a line, the argument boundaries known rather than guessed;
    /// `None` when there was nothing to scrub.
    pub fn scrub_args(&self, args: &[String]) -> Option<Vec<String>> {
        thread_local! {
            static JOINED: RefCell<String> = const { RefCell::new(String::new()) };
        }
        JOINED.with_borrow_mut(|joined| {
            // The arguments joined by spaces: the text rules see what they
            // would see in the line, and a clean list costs one scan.
            joined.clear();
            let mut starts = Vec::with_capacity(args.len());
            for (index, argument) in args.iter().enumerate() {
                if index > 0 {
                    joined.push(' ');
                }
                starts.push(joined.len());
                joined.push_str(argument);
            }
            if !self.precheck.is_match(joined.as_bytes()) {
                return None;
            }
            let list: Vec<tokens::Arg<'_>> = args
                .iter()
                .zip(&starts)
                .map(|(argument, &start)| tokens::Arg::plain(argument, start))
                .collect();
            let mut found = Vec::new();
            argv::scan(&list, &mut found, 0, &|text, out| {
                self.text_findings(text, out)
            });
            // A list split from a shell line keeps its control operators
            // as arguments (`echo h | xargs mysql -pX`): each command
            // between them is read too, as the line's tokenizer reads it.
            let operator = |arg: &tokens::Arg<'_>| {
                matches!(arg.text.as_ref(), "|" | "||" | "&&" | ";" | "&" | "|&")
            };
            if list.iter().any(operator) {
                for command in list.split(operator) {
                    argv::scan(command, &mut found, 0, &|text, out| {
                        self.text_findings(text, out)
                    });
                }
            }
            self.text_findings(joined, &mut found);
            if found.is_empty() {
                return None;
            }
            // Each replacement goes to the arguments it overlaps: the
            // marker to the first, the rest of the secret cut from the
            // others.
            let mut cuts: Vec<Vec<(Range<usize>, Option<Detector>)>> = vec![Vec::new(); args.len()];
            for (span, detector) in merge(found) {
                let mut marker = Some(detector);
                for (index, argument) in args.iter().enumerate() {
                    let (start, end) = (starts[index], starts[index] + argument.len());
                    if span.start < end && span.end > start {
                        let local = span.start.max(start) - start..span.end.min(end) - start;
                        cuts[index].push((local, marker.take()));
                    }
                }
            }
            Some(
                args.iter()
                    .zip(cuts)
                    .map(|(argument, cuts)| {
                        if cuts.is_empty() {
                            return argument.clone();
                        }
                        let mut out = String::with_capacity(argument.len() + 32);
                        let mut copied_to = 0;
                        for (range, marker) in cuts {
                            out.push_str(&argument[copied_to..range.start]);
                            if let Some(detector) = marker {
                                push_redacted(&mut out, detector);
                            }
                            copied_to = range.end;
                        }
                        out.push_str(&argument[copied_to..]);
                        out
                    })
                    .collect(),
            )
        })
    }

    /// The text rules' findings in `text`: only the rules whose literal or
    /// shape the text holds are run.
    fn text_findings(&self, text: &str, found: &mut Vec<Finding>) {
        for index in self.prefilter.candidates(text.as_bytes()).iter() {
            if let Some(rule) = self.rules.get(index) {
                rule.find(text, found);
            }
        }
    }
}

impl TextRule {
    /// Records this rule's confirmed matches in `text`.
    fn find(&self, text: &str, found: &mut Vec<Finding>) {
        let mut push = |span, detector| {
            found.push(Finding {
                span,
                detector,
                clears: false,
            })
        };
        match self.check {
            Check::Assignment => {
                for at in self.regex.find_iter(text.as_bytes()) {
                    if let Some((span, builtin)) = key_value::assignment(text, at.range()) {
                        push(span, Detector::builtin(builtin));
                    }
                }
            }
            Check::Whole => {
                for at in self.regex.find_iter(text.as_bytes()) {
                    if text.get(at.range()).is_some() {
                        push(at.range(), self.detector);
                    }
                }
            }
            _ => {
                for inner in self.regex.captures_iter(text.as_bytes()) {
                    let captures = Captures { text, inner };
                    if let Check::Cookie = self.check {
                        if let Some(list) = captures.name("secret") {
                            for span in key_value::cookies(text, list.range()) {
                                push(span, self.detector);
                            }
                        }
                    } else if let Some((span, detector)) = self.confirm(text, &captures) {
                        push(span, detector);
                    }
                }
            }
        }
    }

    fn confirm(&self, text: &str, captures: &Captures<'_>) -> Option<(Range<usize>, Detector)> {
        let detector = self.detector;
        let span = match self.check {
            Check::Whole | Check::Assignment | Check::Cookie => return None,
            Check::Named => captures.name("secret").or_else(|| captures.get(0))?.range(),
            Check::UrlPassword => key_value::url_password(captures)?,
            Check::Connection => key_value::connection(text, captures)?,
            Check::Authorization => formats::authorization(captures)?,
            Check::Email => formats::email(captures)?,
            Check::CardNumber => formats::card_number(text, captures)?,
            Check::Iban => formats::iban(captures)?,
        };
        Some((span, detector))
    }
}

/// The findings in text order, overlapping ones merged into one span
/// named by the earliest (and, at one start, the detector listed first):
/// no part of a secret is left because two rules saw it differently. An
/// address, card or IBAN overlapping a secret only yields to it (the
/// `user:pass@host` of a URL is not a mailbox).
fn merge(mut found: Vec<Finding>) -> Vec<(Range<usize>, Detector)> {
    let cleared: Vec<Range<usize>> = found
        .iter()
        .filter(|finding| finding.clears)
        .map(|finding| finding.span.clone())
        .collect();
    found.retain(|finding| {
        !cleared
            .iter()
            .any(|span| span.start <= finding.span.start && finding.span.end <= span.end)
    });
    found.sort_by_key(|finding| (finding.span.start, finding.detector.rank()));
    let mut merged: Vec<(Range<usize>, Detector)> = Vec::with_capacity(found.len());
    for finding in found {
        let personal = matches!(
            finding.detector.0,
            Id::Builtin(Builtin::Email | Builtin::CardNumber | Builtin::Iban)
        );
        match merged.last_mut() {
            Some((span, _)) if finding.span.start < span.end => {
                if !personal {
                    span.end = span.end.max(finding.span.end);
                }
            }
            _ => merged.push((finding.span, finding.detector)),
        }
    }
    merged
}

/// The pre-check: every rule needs one of these to be present.
fn precheck_pattern() -> String {
    let mut tools: Vec<&str> = tools::TOOLS
        .iter()
        .flat_map(|row| row.names.iter().copied())
        .chain(
            tools::CONFIG_KEYS
                .iter()
                .flat_map(|key| key.tools.iter().copied()),
        )
        .collect();
    tools.sort_unstable();
    tools.dedup();
    let tools: Vec<String> = tools.iter().map(|name| regex::escape(name)).collect();
    let mut keywords: Vec<String> = VENDOR_RULES
        .iter()
        .flat_map(|rule| rule.keywords.iter())
        .map(|keyword| regex::escape(keyword))
        .collect();
    // The words of the name rule, key/value forms and authorizations.
    keywords.extend(
        [
            "pass", "pwd", "pw", "secret", "token", "key", "cred", "auth", "psk", "bearer",
            "basic", "sig", "cookie", "session", "hmac",
        ]
        .map(String::from),
    );
    format!(
        concat!(
            r#"(?i:{keywords})"#,
            // A known tool where a command starts or an argument stands.
            r#"|(?:^|[\s/;|&(`'"])(?:{tools})(?:[\s'"]|$)"#,
            // URL userinfo, PEM, JWT, e-mail, card and IBAN shapes.
            r#"|://[^\s/]*@|-----BEGIN|eyJ|[A-Za-z0-9]@[A-Za-z0-9-]+\.|\d(?:[ -]?\d){{12}}|[A-Z]{{2}}\d{{2}}[A-Z0-9 ]{{11}}"#,
        ),
        keywords = keywords.join("|"),
        tools = tools.join("|"),
    )
}

fn push_redacted(out: &mut String, detector: Detector) {
    out.push_str("[REDACTED:");
    out.push_str(detector.name());
    out.push(']');
}

#[cfg(test)]
mod tests;
