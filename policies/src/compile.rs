//! A checked policy turned into what runs: per tenant, the kernel capture
//! plan, the cgroup selectors and the record plans; and the policy's hash,
//! which every record carries.
use std::{collections::BTreeMap, ops::Range, path::Path, sync::Arc, time::Duration};

use scrim_event::{EventKind, field};
use scrim_redaction::{MasterKey, PathGeneralizer, Pseudonymizer, Scrubber};
use toml::Spanned;

use crate::{
    CapturePlan, Diagnostic, PolicyVersion,
    model::{Action, PolicyFile, Sink, Tenant},
    placement::{OptOuts, TenantSelector, UidRule, uid_rules},
    record_plan::{KindPlan, RecordPlan, Step},
};

/// One tenant of a compiled policy.
#[derive(Debug)]
pub struct TenantPolicy {
    pub name: String,
    /// The group that may read the tenant's archive directories.
    pub archive_group: Option<u32>,
    pub capture: CapturePlan,
    pub retention: BTreeMap<EventKind, Duration>,
    pub sinks: Vec<Sink>,
    /// What happens to each catalogued field that has a rule (a field
    /// without one never leaves): for finding a subject's rows.
    pub field_actions: BTreeMap<&'static str, Action>,
    pub(crate) selector: TenantSelector,
    kinds: [Option<Arc<KindPlan>>; 3],
}

/// A policy ready to run. Build it with [`crate::compile`].
#[derive(Debug)]
pub struct CompiledPolicy {
    hash: Arc<str>,
    pub(crate) tenants: Vec<TenantPolicy>,
    unknown_tenant: Option<usize>,
    pub(crate) opt_outs: OptOuts,
    pub(crate) uid_rules: Vec<UidRule>,
    master_key: Option<Arc<MasterKey>>,
    /// The rotation of `[keys]`, if the policy has keys.
    rotation: Option<Duration>,
    key_fingerprint: Option<String>,
    version: PolicyVersion,
    scrubber: Arc<Scrubber>,
    warnings: Vec<Diagnostic>,
}

/// Where a compiled policy's master key comes from.
pub(crate) enum KeySource {
    /// The policy's master key file, read.
    File,
    /// These bytes: the public test key.
    Bytes([u8; 32]),
    /// No key at all: a stored version rebuilt for its rules alone, whose
    /// key (if it had one) had this fingerprint.
    Recorded(Option<String>),
}

impl CompiledPolicy {
    /// The BLAKE3 hash of the policy file's bytes (and of its overrides,
    /// if any, and of its master key's fingerprint, if it has keys and the
    /// key was read rather than the public test key), in hex: every
    /// record's `scrim.policy.hash`. A replaced key changes it, since every
    /// pseudonym changes with the key.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The public fingerprint of the master key pseudonyms are made with
    /// (see [`MasterKey::fingerprint`]), if the policy has keys (and they
    /// are not the public test key).
    pub fn key_fingerprint(&self) -> Option<&str> {
        self.key_fingerprint.as_deref()
    }

    /// How often pseudonym keys rotate, if the policy has keys (also for a
    /// version rebuilt without its key, see [`PolicyVersion::rebuild`]).
    pub fn key_rotation(&self) -> Option<Duration> {
        self.rotation
    }

    /// What rebuilds this policy's rules later, without its key file.
    pub fn version(&self) -> &PolicyVersion {
        &self.version
    }

    /// What the checks advise without refusing the policy.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    pub fn tenants(&self) -> &[TenantPolicy] {
        &self.tenants
    }

    /// The tenant that takes events of cgroups no selector claims, or
    /// `None` when they are dropped.
    pub fn unknown_tenant(&self) -> Option<usize> {
        self.unknown_tenant
    }

    /// The master key and rotation period pseudonyms are made with, if the
    /// policy has keys.
    pub fn keys(&self) -> Option<(Arc<MasterKey>, Duration)> {
        Some((Arc::clone(self.master_key.as_ref()?), self.rotation?))
    }

    /// A fresh record plan for each tenant, index for index. Each thread
    /// that applies plans takes its own set.
    pub fn record_plans(&self) -> Vec<RecordPlan> {
        self.tenants
            .iter()
            .map(|tenant| {
                let pseudonymizer = self
                    .keys()
                    .map(|(master, rotation)| Pseudonymizer::new(master, &tenant.name, rotation));
                RecordPlan::new(
                    tenant.kinds.clone(),
                    pseudonymizer,
                    Arc::clone(&self.scrubber),
                    Arc::clone(&self.hash),
                )
            })
            .collect()
    }
}

/// Builds the runnable policy from a checked one (`source` is the TOML its
/// spans point into, `hasher` has hashed its text and overrides), its
/// paths resolved. Pseudonyms are made with the key `keys` says; reading
/// the key file fails with diagnostics for what only reading it shows (a
/// key file owned by someone else). The key's fingerprint completes the
/// hash, which `version` is stamped with.
pub(crate) fn compile(
    policy: &PolicyFile,
    source: &str,
    mut hasher: blake3::Hasher,
    keys: KeySource,
    warnings: Vec<Diagnostic>,
    mut version: PolicyVersion,
) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut error = |span: Range<usize>, message: String| {
        diagnostics.push(Diagnostic::at(source, span, message));
    };
    let (master_key, rotation, key_fingerprint) = match (&policy.keys, keys) {
        (Some(file), KeySource::Recorded(fingerprint)) => {
            (None, Some(duration(&file.rotation)), fingerprint)
        }
        (Some(file), source) => {
            let loaded = match source {
                KeySource::Bytes(bytes) => MasterKey::from_bytes(bytes.to_vec()),
                _ => MasterKey::load(Path::new(file.master_key_file.get_ref())),
            };
            let master = match loaded {
                Ok(master) => Some(Arc::new(master)),
                Err(problem) => {
                    error(file.master_key_file.span(), problem.to_string());
                    None
                }
            };
            // The public test key is no master key: what `policy check`,
            // `test` and `place` say is the hash of the text alone.
            let fingerprint = match source {
                KeySource::Bytes(_) => None,
                _ => master.as_ref().map(|master| master.fingerprint()),
            };
            (master, Some(duration(&file.rotation)), fingerprint)
        }
        (None, KeySource::Recorded(fingerprint)) => (None, None, fingerprint),
        (None, _) => (None, None, None),
    };
    if let Some(fingerprint) = &key_fingerprint {
        hasher.update(b"\n# master key\n");
        hasher.update(fingerprint.as_bytes());
    }
    let hash = hasher.finalize().to_hex().to_string();
    version.hash.clone_from(&hash);
    version.master_key_fingerprint.clone_from(&key_fingerprint);
    let opt_outs = OptOuts::compile(&policy.opt_outs, &mut error);
    let uid_rules = uid_rules(
        &policy.opt_outs,
        policy.tenants.iter().map(|tenant| {
            tenant
                .selector
                .get_ref()
                .uid_range
                .as_ref()
                .map(|range| *range.get_ref())
        }),
    );
    let tenants = policy
        .tenants
        .iter()
        .map(|tenant| compile_tenant(tenant, &mut error))
        .collect();
    let unknown_tenant = policy.defaults.unknown_tenant.as_ref().and_then(|name| {
        policy
            .tenants
            .iter()
            .position(|tenant| tenant.name.get_ref() == name.get_ref())
    });
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(CompiledPolicy {
        hash: Arc::from(hash),
        tenants,
        unknown_tenant,
        opt_outs,
        uid_rules,
        master_key,
        rotation,
        key_fingerprint,
        version,
        scrubber: shared_scrubber(),
        warnings,
    })
}

/// One scrubber for every policy a process compiles: its patterns never
/// change, and compiling them is most of a small policy's compile time.
fn shared_scrubber() -> Arc<Scrubber> {
    static SCRUBBER: std::sync::OnceLock<Arc<Scrubber>> = std::sync::OnceLock::new();
    Arc::clone(SCRUBBER.get_or_init(|| Arc::new(Scrubber::new())))
}

fn compile_tenant(tenant: &Tenant, error: &mut impl FnMut(Range<usize>, String)) -> TenantPolicy {
    let capture = CapturePlan::of(tenant);
    let rules: Vec<(&'static field::Field, Step)> = tenant
        .fields
        .iter()
        .filter_map(|(name, action)| {
            let field = field::named(name.get_ref())?;
            let step = match action.get_ref() {
                Action::Drop => return None,
                Action::Keep => Step::Keep,
                Action::Pseudonymize => Step::Pseudonymize,
                Action::ScrubSecrets => Step::ScrubSecrets,
                Action::Truncate { ipv4, ipv6 } => Step::Truncate {
                    ipv4: *ipv4,
                    ipv6: *ipv6,
                },
                Action::Coarsen(granularity) => Step::Coarsen {
                    granularity_nanos: humantime::parse_duration(granularity)
                        .map(|granularity| {
                            i64::try_from(granularity.as_nanos()).unwrap_or(i64::MAX)
                        })
                        .unwrap_or(0),
                },
                Action::Generalize { depth, prefixes } => {
                    match PathGeneralizer::new(*depth, prefixes) {
                        Ok(generalizer) => Step::Generalize(generalizer),
                        Err(problem) => {
                            error(action.span(), problem.to_string());
                            return None;
                        }
                    }
                }
            };
            Some((field, step))
        })
        .collect();
    let kinds = EventKind::ALL.map(|kind| {
        capture
            .kinds
            .contains(&kind)
            .then(|| Arc::new(KindPlan::new(kind, &rules)))
    });
    let retention = tenant
        .retention
        .iter()
        .filter_map(|(kind_name, period)| {
            let kind = EventKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == kind_name.get_ref())?;
            Some((kind, duration(period)))
        })
        .collect();
    TenantPolicy {
        name: tenant.name.get_ref().clone(),
        archive_group: tenant.archive_group,
        capture,
        retention,
        sinks: tenant
            .sinks
            .get_ref()
            .iter()
            .map(|sink| sink.get_ref().clone())
            .collect(),
        field_actions: tenant
            .fields
            .iter()
            .filter_map(|(name, action)| {
                let field = field::named(name.get_ref())?;
                Some((field.name, action.get_ref().clone()))
            })
            .collect(),
        selector: TenantSelector::compile(tenant.selector.get_ref(), error),
        kinds,
    }
}

/// A duration validation has already checked.
fn duration(value: &Spanned<String>) -> Duration {
    humantime::parse_duration(value.get_ref()).unwrap_or_default()
}
