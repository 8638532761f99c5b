//! A policy as it was put in force, kept so that its rules can be rebuilt
//! later: every archived row names the policy it was written under
//! (`scrim.policy.hash`), and a data subject's rows written under an
//! earlier version are found only by that version's field rules (a uid kept
//! as a number then, pseudonymised now).
//!
//! A version holds what compiling needs and nothing secret: the exact text,
//! its syntax, the directory its relative paths started at, the overrides
//! it ran with and the fingerprint of its master key (never the key). It is
//! rebuilt without reading any key file, so it still compiles after the
//! key file moved or was replaced.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{
    CompiledPolicy, KeyUse, Overrides, Syntax,
    compile::{self, KeySource},
    prepare,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyVersion {
    /// What rows written under it carry as `scrim.policy.hash`.
    pub hash: String,
    pub syntax: Syntax,
    /// The directory its relative paths are relative to.
    pub base: PathBuf,
    pub source: String,
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
    pub master_key_fingerprint: Option<String>,
}

/// Why a stored version cannot be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("policy version {hash}: no longer compiles: {problems}")]
    Invalid { hash: String, problems: String },
    #[error(
        "policy version {hash}: its text, overrides and key fingerprint hash to {actual}; the \
         stored version was changed"
    )]
    Changed { hash: String, actual: String },
}

impl PolicyVersion {
    /// The policy's rules (tenants, field actions, retention, rotation) as
    /// they ran, checked against the version's hash. It holds no key: it
    /// is for reading rows written under the version, not for running.
    pub fn rebuild(&self) -> Result<CompiledPolicy, VersionError> {
        let invalid = |problems: Vec<crate::Diagnostic>| VersionError::Invalid {
            hash: self.hash.clone(),
            problems: problems
                .iter()
                .map(|problem| {
                    format!(
                        "line {}, column {}: {}",
                        problem.line, problem.column, problem.message
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        let prepared = prepare(
            &self.source,
            self.syntax,
            &self.base,
            &self.overrides,
            KeyUse::Test,
        )
        .map_err(invalid)?;
        let rebuilt = compile::compile(
            &prepared.policy,
            prepared.toml.text(&self.source),
            prepared.hasher,
            KeySource::Recorded(self.master_key_fingerprint.clone()),
            Vec::new(),
            self.clone(),
        )
        .map_err(|problems| invalid(prepared.toml.locate(problems)))?;
        if rebuilt.hash() != self.hash {
            return Err(VersionError::Changed {
                hash: self.hash.clone(),
                actual: rebuilt.hash().to_owned(),
            });
        }
        Ok(rebuilt)
    }

    /// Whether `other` is this policy with another master key and nothing
    /// else changed: a key change alone, which the audit log says as such.
    pub fn only_key_differs(&self, other: &PolicyVersion) -> bool {
        self.master_key_fingerprint != other.master_key_fingerprint
            && self.source == other.source
            && self.syntax == other.syntax
            && self.base == other.base
            && self.overrides == other.overrides
    }
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, compile_text};

    use super::*;

    const POLICY: &str = r#"version = 1
[keys]
master_key_file = "master.key"
rotation = "1d"
[[tenant]]
name = "acme"
purpose = "p"
legal_basis = "legitimate_interests"
match = { cgroup_path = ["/acme/**"] }
capture = ["process"]
retention = { process = "7d" }
sinks = [{ parquet = { path = "/tmp/archive" } }]
[tenant.fields]
"process.real_user.id" = "pseudonymize"
"#;

    #[test]
    fn rebuilds_the_rules_without_the_key_and_refuses_a_changed_version() {
        let keys = scrim_testkit::keys::directory_with_master_key();
        let compiled = compile_text(
            POLICY,
            Syntax::Toml,
            keys.path(),
            &Overrides::default(),
            KeyUse::Read,
        )
        .unwrap();
        // Rebuilt where the key file is no more.
        drop(keys);
        let version = compiled.version().clone();
        assert_eq!(version.hash, compiled.hash());
        assert_eq!(
            version.master_key_fingerprint.as_deref(),
            compiled.key_fingerprint()
        );
        assert_ne!(
            compiled.hash(),
            blake3::hash(POLICY.as_bytes()).to_hex().as_str(),
            "the key's fingerprint is in the hash"
        );
        let json = serde_json::to_string(&version).unwrap();
        let read: PolicyVersion = serde_json::from_str(&json).unwrap();
        let rebuilt = read.rebuild().unwrap();
        assert_eq!(rebuilt.hash(), compiled.hash());
        assert!(rebuilt.keys().is_none(), "no key in a rebuilt version");
        assert_eq!(
            rebuilt.key_rotation(),
            Some(std::time::Duration::from_secs(86_400))
        );
        assert_eq!(
            rebuilt.tenants()[0].field_actions["process.real_user.id"],
            crate::model::Action::Pseudonymize
        );

        let mut other_key = version.clone();
        other_key.master_key_fingerprint = Some("00".repeat(16));
        assert!(version.only_key_differs(&other_key));
        assert!(matches!(
            other_key.rebuild(),
            Err(VersionError::Changed { .. })
        ));
        let mut other_text = other_key.clone();
        other_text.source.push('\n');
        assert!(!version.only_key_differs(&other_text));
    }
}
