//! Deployment settings set from the environment, over what the policy file
//! says: the same policy can then be shipped to every cluster while each
//! node points at its own key file and backends.
//!
//! | variable | sets |
//! |---|---|
//! | `SCRIM_POLICY_MASTER_KEY_FILE` | `keys.master_key_file` |
//! | `SCRIM_POLICY_SINKS__<TENANT>__PARQUET` | the path of the tenant's Parquet sinks |
//! | `SCRIM_POLICY_SINKS__<TENANT>__JSONL` | the path of the tenant's JSON-lines sinks |
//! | `SCRIM_POLICY_SINKS__<TENANT>__OTLP` | the endpoint of the tenant's OTLP sinks |
//!
//! `<TENANT>` is the tenant's name in any case, with `-` and `.` written as
//! `_`. figment reads the variables (nesting at `__`). Overridden values are
//! checked like any other; a variable that names no tenant, or a sink kind
//! the tenant lacks, is an error. The policy hash covers the overrides too.
use std::collections::BTreeMap;

use figment::{Figment, providers::Env};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{
    Diagnostic,
    diagnostic::with_suggestion,
    model::{PolicyFile, Sink},
};

/// The prefix of every override variable.
pub const ENV_PREFIX: &str = "SCRIM_POLICY_";

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Overrides {
    pub master_key_file: Option<String>,
    /// By normalised tenant name (lowercase, `-` and `.` as `_`).
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkOverrides>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SinkOverrides {
    pub parquet: Option<String>,
    pub jsonl: Option<String>,
    pub otlp: Option<String>,
}

/// An environment that cannot be read as overrides.
#[derive(Debug, thiserror::Error)]
#[error("policy overrides from the environment ({ENV_PREFIX}*): {0}")]
pub struct OverridesError(Box<figment::Error>);

impl Overrides {
    /// The `SCRIM_POLICY_*` variables of this process.
    pub fn from_env() -> Result<Self, OverridesError> {
        Figment::from(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|error| OverridesError(Box::new(error)))
    }

    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }

    /// A stable text of the overrides, hashed with the file.
    pub(crate) fn canonical(&self) -> String {
        let mut text = String::new();
        if let Some(path) = &self.master_key_file {
            text.push_str(&format!("master_key_file={path}\n"));
        }
        for (tenant, sinks) in &self.sinks {
            for (kind, value) in sinks.entries() {
                text.push_str(&format!("sinks.{tenant}.{kind}={value}\n"));
            }
        }
        text
    }

    /// Writes the overrides into `policy`. Each replaced value keeps the
    /// span of the one it replaces, so problems with it point at the
    /// setting it overrides.
    pub(crate) fn apply(&self, policy: &mut PolicyFile) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let mut problem = |message: String| {
            problems.push(Diagnostic {
                line: 1,
                column: 1,
                message,
            })
        };
        if let Some(path) = &self.master_key_file {
            match &mut policy.keys {
                Some(keys) => {
                    keys.master_key_file = Spanned::new(keys.master_key_file.span(), path.clone());
                }
                None => problem(format!(
                    "{ENV_PREFIX}MASTER_KEY_FILE is set, but the policy has no [keys] to set it in"
                )),
            }
        }
        for (tenant_key, sinks) in &self.sinks {
            let Some(tenant) = policy
                .tenants
                .iter_mut()
                .find(|tenant| normalise(tenant.name.get_ref()) == *tenant_key)
            else {
                let names: Vec<String> = policy
                    .tenants
                    .iter()
                    .map(|tenant| normalise(tenant.name.get_ref()))
                    .collect();
                let message = format!(
                    "{ENV_PREFIX}SINKS__{}__*: the policy has no tenant `{tenant_key}`",
                    tenant_key.to_uppercase()
                );
                problem(with_suggestion(
                    message,
                    tenant_key,
                    names.iter().map(String::as_str),
                ));
                continue;
            };
            for (kind, value) in sinks.entries() {
                let mut replaced = false;
                let span = tenant.sinks.span();
                let mut list: Vec<Spanned<Sink>> = std::mem::take(tenant.sinks.get_mut());
                for sink in &mut list {
                    let updated = match (sink.get_ref(), kind) {
                        (Sink::Parquet { .. }, "parquet") => Sink::Parquet {
                            path: value.to_owned(),
                        },
                        (Sink::Jsonl { .. }, "jsonl") => Sink::Jsonl {
                            path: value.to_owned(),
                        },
                        (
                            Sink::Otlp {
                                headers, protocol, ..
                            },
                            "otlp",
                        ) => Sink::Otlp {
                            endpoint: value.to_owned(),
                            headers: headers.clone(),
                            protocol: *protocol,
                        },
                        _ => continue,
                    };
                    *sink = Spanned::new(sink.span(), updated);
                    replaced = true;
                }
                tenant.sinks = Spanned::new(span, list);
                if !replaced {
                    problem(format!(
                        "{ENV_PREFIX}SINKS__{}__{}: tenant `{}` has no {kind} sink to override",
                        tenant_key.to_uppercase(),
                        kind.to_uppercase(),
                        tenant.name.get_ref()
                    ));
                }
            }
        }
        problems
    }
}

impl SinkOverrides {
    fn entries(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("parquet", &self.parquet),
            ("jsonl", &self.jsonl),
            ("otlp", &self.otlp),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.as_deref().map(|value| (kind, value)))
    }
}

/// A tenant name as an environment variable can spell it.
fn normalise(name: &str) -> String {
    name.to_lowercase().replace(['-', '.'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"version = 1
[keys]
master_key_file = "master.key"
rotation = "30d"
[[tenant]]
name = "team-a"
purpose = "p"
legal_basis = "contract"
match = { cgroup_path = ["/a/**"] }
capture = ["process"]
retention = { process = "1d" }
sinks = [{ parquet = { path = "/var/lib/scrim" } }, { otlp = { endpoint = "http://old:4317" } }]
"#;

    fn parsed() -> PolicyFile {
        toml::from_str(POLICY).unwrap()
    }

    #[test]
    fn replaces_key_file_and_sink_destinations() {
        let mut policy = parsed();
        let overrides = Overrides {
            master_key_file: Some("/etc/scrim/master.key".into()),
            sinks: BTreeMap::from([(
                "team_a".into(),
                SinkOverrides {
                    parquet: Some("/data/archive".into()),
                    otlp: Some("http://collector:4317".into()),
                    jsonl: None,
                },
            )]),
        };
        assert_eq!(overrides.apply(&mut policy), []);
        let keys = policy.keys.as_ref().unwrap();
        assert_eq!(keys.master_key_file.get_ref(), "/etc/scrim/master.key");
        let sinks: Vec<&Sink> = policy.tenants[0]
            .sinks
            .get_ref()
            .iter()
            .map(Spanned::get_ref)
            .collect();
        assert_eq!(
            sinks[0],
            &Sink::Parquet {
                path: "/data/archive".into()
            }
        );
        assert!(
            matches!(sinks[1], Sink::Otlp { endpoint, .. } if endpoint == "http://collector:4317")
        );
        assert!(
            overrides
                .canonical()
                .contains("sinks.team_a.parquet=/data/archive")
        );
    }

    #[test]
    fn names_what_an_override_cannot_set() {
        let mut policy = parsed();
        let overrides = Overrides {
            master_key_file: None,
            sinks: BTreeMap::from([
                (
                    "team_b".into(),
                    SinkOverrides {
                        parquet: Some("/x".into()),
                        ..SinkOverrides::default()
                    },
                ),
                (
                    "team_a".into(),
                    SinkOverrides {
                        jsonl: Some("/x".into()),
                        ..SinkOverrides::default()
                    },
                ),
            ]),
        };
        let problems: Vec<String> = overrides
            .apply(&mut policy)
            .into_iter()
            .map(|problem| problem.message)
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("tenant `team-a` has no jsonl sink"),
            "{problems:?}"
        );
        assert!(problems[1].contains("no tenant `team_b`"), "{problems:?}");
        assert!(
            problems[1].contains("did you mean `team_a`?"),
            "{problems:?}"
        );
    }
}
