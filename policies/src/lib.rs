//! scrim's policy files: what each tenant's events may carry, why, how long
//! they are kept and where they go.
//!
//! [`PolicyText`] reads a policy (TOML, or YAML for `.yaml` and `.yml`
//! files); [`PolicyText::effective`] checks it in full, returning the policy
//! as it would run or every problem found, each with its file, line and
//! column, and [`PolicyText::compile`] goes on to what runs: keys loaded (or
//! a test key), every tenant's plans built, the file hashed.
//!
//! Every relative path in a policy (its master key file, its archive
//! directories, and the overrides of them) is relative to the policy
//! file's directory, wherever scrim is started.
// The JSON Schema is one `json!` literal, deeper than the default limit.
#![recursion_limit = "256"]
pub mod cases;
mod compile;
mod diagnostic;
pub mod model;
mod overrides;
mod paths;
mod placement;
mod plan;
mod record_plan;
mod schema;
mod validate;
mod version;
mod yaml;

use std::path::{Path, PathBuf};

pub use compile::{CompiledPolicy, TenantPolicy};
pub use diagnostic::{Diagnostic, PolicyError};
pub use model::{LegalBasis, PolicyFile};
pub use overrides::{ENV_PREFIX, Overrides, OverridesError, SinkOverrides};
pub use placement::{Placed, Placement, PodFacts, Rule, UidRule, Workload};
pub use plan::CapturePlan;
pub use record_plan::{POLICY_HASH_COLUMN, PlannedRecord, RecordPlan};
pub use schema::json_schema;
pub use version::{PolicyVersion, VersionError};

/// How a policy file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    Toml,
    Yaml,
}

impl Syntax {
    /// YAML for `.yaml` and `.yml` files, TOML otherwise.
    pub fn of(path: &Path) -> Syntax {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("yaml" | "yml") => Syntax::Yaml,
            _ => Syntax::Toml,
        }
    }
}

/// The policy `scrim run` uses when given none: `examples/default.toml`
/// (privacy by default: process events, no arguments, one tenant).
pub const DEFAULT_POLICY: &str = include_str!("../examples/default.toml");

/// The most a policy file may hold: 4 MiB. Real policies are a few KiB;
/// a larger file (or anything but a regular file: a FIFO, `/dev/zero`) is
/// refused without being read whole, so no file can make scrim wait or
/// fill its memory.
pub const MAX_POLICY_BYTES: u64 = 4 << 20;

/// A policy file as read: its text, from one descriptor and at most
/// [`MAX_POLICY_BYTES`], and that descriptor's owner and mode.
#[derive(Debug)]
pub struct PolicyText {
    path: PathBuf,
    source: String,
    metadata: std::fs::Metadata,
}

impl PolicyText {
    /// Reads the policy at `path` (symlinks followed) without blocking on
    /// it and within [`MAX_POLICY_BYTES`].
    pub fn read(path: &Path) -> Result<Self, PolicyError> {
        let at_start = |message: String| PolicyError {
            path: path.to_path_buf(),
            diagnostics: vec![Diagnostic {
                line: 1,
                column: 1,
                message,
            }],
        };
        let read = scrim_files::read_bounded(path, MAX_POLICY_BYTES)
            .map_err(|error| at_start(format!("cannot read the policy: {error}")))?;
        let source = String::from_utf8(read.bytes).map_err(|error| {
            let valid = error.utf8_error().valid_up_to();
            let before = std::str::from_utf8(&error.as_bytes()[..valid]).unwrap_or_default();
            PolicyError {
                path: path.to_path_buf(),
                diagnostics: vec![Diagnostic::at(
                    before,
                    valid..valid,
                    "not UTF-8 text: a policy is TOML or YAML",
                )],
            }
        })?;
        Ok(PolicyText {
            path: path.to_path_buf(),
            source,
            metadata: read.metadata,
        })
    }

    /// Refuses a file that anyone but root or scrim's user could change:
    /// its owner and mode as read, and every directory on the way to it.
    /// `scrim run` takes no other policy, since a policy decides whose
    /// command lines are captured and where they are written.
    pub fn check_trusted(&self) -> Result<(), scrim_files::FilesError> {
        scrim_files::check_trusted_file(&self.path, &self.metadata)?;
        scrim_files::check_trusted_path(&self.path)
    }

    /// Checks and compiles the policy into what runs, with the
    /// `SCRIM_POLICY_*` environment overrides applied; `keys` says whether
    /// the master key file is read.
    pub fn compile(&self, keys: KeyUse) -> Result<CompiledPolicy, PolicyError> {
        compile_text(
            &self.source,
            Syntax::of(&self.path),
            base_of(&self.path),
            &self.overrides()?,
            keys,
        )
        .map_err(|diagnostics| self.error(diagnostics))
    }

    /// The policy as [`PolicyText::compile`] would run it (the same
    /// overrides, paths and checks, and so the same hash), for readers of
    /// a policy (its explanation, its record of processing) who need not
    /// hold its master key: the key file is never touched.
    pub fn effective(&self) -> Result<EffectivePolicy, PolicyError> {
        let overrides = self.overrides()?;
        let prepared = prepare(
            &self.source,
            Syntax::of(&self.path),
            base_of(&self.path),
            &overrides,
            KeyUse::Test,
        )
        .map_err(|diagnostics| self.error(diagnostics))?;
        Ok(EffectivePolicy {
            policy: prepared.policy,
            hash: prepared.hash,
            overridden: !overrides.is_empty(),
        })
    }

    /// This process's `SCRIM_POLICY_*` variables: read here alone, so that
    /// what runs and what is reported are one reading of them.
    fn overrides(&self) -> Result<Overrides, PolicyError> {
        Overrides::from_env().map_err(|error| {
            self.error(vec![Diagnostic {
                line: 1,
                column: 1,
                message: error.to_string(),
            }])
        })
    }

    fn error(&self, diagnostics: Vec<Diagnostic>) -> PolicyError {
        PolicyError {
            path: self.path.clone(),
            diagnostics,
        }
    }
}

/// What is done with a policy's master key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// Read it, as `scrim run` must: it has to exist, be private to
    /// scrim's user and hold at least 32 bytes.
    Read,
    /// Never touch it, and pseudonymise with a public test key instead:
    /// `scrim policy check` and `scrim policy test` run where the real key
    /// must never be (a Git CI job), and a case expects `"<pseudonym>"`,
    /// never a particular one.
    Test,
}

/// The key `KeyUse::Test` pseudonymises with: derived from a public
/// string, so it is no secret, and never the key of a real collector.
fn test_master_key() -> [u8; 32] {
    blake3::derive_key("scrim policy test key v1; public, for checks only", b"")
}

/// A policy as it would run, not compiled: what explaining and reporting
/// it read.
#[derive(Debug)]
pub struct EffectivePolicy {
    /// The file with its overrides applied and its relative paths made
    /// relative to its directory.
    pub policy: PolicyFile,
    /// What [`CompiledPolicy::hash`] would be, every row's
    /// `scrim.policy.hash`, for a policy without keys; a policy with keys
    /// adds its master key's fingerprint, which only `scrim run` (or
    /// `scrim policy check --with-keys`) reads.
    pub hash: String,
    /// Whether `SCRIM_POLICY_*` overrides were applied.
    pub overridden: bool,
}

/// Reads, checks and compiles the policy at `path` into what runs, with
/// the `SCRIM_POLICY_*` environment overrides applied and its master key
/// read.
pub fn compile(path: &Path) -> Result<CompiledPolicy, PolicyError> {
    PolicyText::read(path)?.compile(KeyUse::Read)
}

/// [`compile`] for TOML text without overrides, with relative paths
/// starting at `base`.
pub fn compile_source(source: &str, base: &Path) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    compile_text(
        source,
        Syntax::Toml,
        base,
        &Overrides::default(),
        KeyUse::Read,
    )
}

/// [`compile`] for policy text. The hash is the BLAKE3 of `source` (what
/// `b3sum FILE` prints), or of `source` and the overrides when there are
/// any, and of the master key's fingerprint when its key file is read.
pub fn compile_text(
    source: &str,
    syntax: Syntax,
    base: &Path,
    overrides: &Overrides,
    keys: KeyUse,
) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    let prepared = prepare(source, syntax, base, overrides, keys)?;
    let text = prepared.toml.text(source);
    let key = match keys {
        KeyUse::Read => compile::KeySource::File,
        KeyUse::Test => compile::KeySource::Bytes(test_master_key()),
    };
    let version = PolicyVersion {
        hash: String::new(),
        syntax,
        base: base.to_path_buf(),
        source: source.to_owned(),
        overrides: overrides.clone(),
        master_key_fingerprint: None,
    };
    compile::compile(
        &prepared.policy,
        text,
        prepared.hasher,
        key,
        prepared.warnings,
        version,
    )
    .map_err(|diagnostics| prepared.toml.locate(diagnostics))
}

/// A policy parsed, with its overrides applied, its paths resolved and
/// checked, and hashed: the one reading that running, checking, testing,
/// explaining and reporting a policy share.
struct Prepared {
    toml: TomlText,
    policy: PolicyFile,
    /// Of the text and overrides: the hash of a policy without keys.
    hash: String,
    /// What made `hash`, for compiling to add the key's fingerprint to.
    hasher: blake3::Hasher,
    warnings: Vec<Diagnostic>,
}

fn prepare(
    source: &str,
    syntax: Syntax,
    base: &Path,
    overrides: &Overrides,
    keys: KeyUse,
) -> Result<Prepared, Vec<Diagnostic>> {
    let toml = as_toml(source, syntax).map_err(|diagnostic| vec![diagnostic])?;
    let text = toml.text(source);
    let mut policy = parse_unchecked(text).map_err(|diagnostics| toml.locate(diagnostics))?;
    let mut problems = overrides.apply(&mut policy);
    problems.extend(paths::resolve(&mut policy, base));
    if !problems.is_empty() {
        return Err(problems);
    }
    let checked = validate::validate(&policy, text, keys == KeyUse::Read);
    if !checked.errors.is_empty() {
        return Err(toml.locate(checked.errors));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(source.as_bytes());
    if !overrides.is_empty() {
        hasher.update(b"\n# overrides\n");
        hasher.update(overrides.canonical().as_bytes());
    }
    let hash = hasher.finalize().to_hex().to_string();
    let warnings = toml.locate(checked.warnings);
    Ok(Prepared {
        toml,
        policy,
        hash,
        hasher,
        warnings,
    })
}

/// A policy's TOML: the source itself, or the TOML a YAML source became.
enum TomlText {
    Source,
    FromYaml(yaml::Transcoded),
}

impl TomlText {
    fn text<'a>(&'a self, source: &'a str) -> &'a str {
        match self {
            TomlText::Source => source,
            TomlText::FromYaml(transcoded) => &transcoded.toml,
        }
    }

    /// Diagnostics about the TOML, placed in the source.
    fn locate(&self, diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
        match self {
            TomlText::Source => diagnostics,
            TomlText::FromYaml(transcoded) => {
                let mut located: Vec<Diagnostic> = diagnostics
                    .into_iter()
                    .map(|diagnostic| transcoded.to_yaml(diagnostic))
                    .collect();
                located.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
                located
            }
        }
    }
}

fn as_toml(source: &str, syntax: Syntax) -> Result<TomlText, Diagnostic> {
    match syntax {
        Syntax::Toml => Ok(TomlText::Source),
        Syntax::Yaml => yaml::transcode(source).map(TomlText::FromYaml),
    }
}

fn base_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// [`DEFAULT_POLICY`], compiled.
pub fn default_policy() -> Result<CompiledPolicy, PolicyError> {
    compile_source(DEFAULT_POLICY, Path::new(".")).map_err(|diagnostics| PolicyError {
        path: "<built-in default policy>".into(),
        diagnostics,
    })
}

/// Parses and checks TOML policy text (its key file included), with
/// relative paths starting at `base`.
pub fn parse(source: &str, base: &Path) -> Result<PolicyFile, Vec<Diagnostic>> {
    prepare(
        source,
        Syntax::Toml,
        base,
        &Overrides::default(),
        KeyUse::Read,
    )
    .map(|prepared| prepared.policy)
}

/// Parses TOML policy text, with no checks beyond its shape.
fn parse_unchecked(source: &str) -> Result<PolicyFile, Vec<Diagnostic>> {
    toml::from_str(source).map_err(|error| {
        let message = error.message().to_owned();
        let message = suggest_for_unknown_name(&message);
        let span = error.span().unwrap_or(0..0);
        vec![Diagnostic::at(source, span, message)]
    })
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
