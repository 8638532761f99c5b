//! The policy file, as written. Values that later checks must point at are
//! `Spanned`, so every error can name its line and column.
//!
//! ```toml
//! version = 1
//!
//! [defaults]
//! unknown_tenant = "drop"
//!
//! [[tenant]]
//! name = "acme"
//! purpose = "security monitoring"
//! legal_basis = "legitimate_interests"
//! legal_basis_detail = "detecting intrusions into our own systems (Recital 49)"
//! lia = "LIA-2026-07"
//! dpia = "DPIA-2026-03"
//! special_categories = "paths can name health or union files; read by the SOC only"
//! match = { cgroup_path = ["/acme/**"] }
//! capture = ["process", "syscall:openat,connect"]
//! retention = { process = "30d", syscall = "7d" }
//! sinks = [{ parquet = { path = "/var/lib/scrim/archive" } }]
//!
//! [tenant.fields]
//! "process.executable.path" = "keep"
//! "network.peer.address" = { truncate = { ipv4 = 24, ipv6 = 48 } }
//! ```
use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The only version this build reads.
pub const VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub defaults: Defaults,
    pub keys: Option<Keys>,
    /// Cgroups and uids never captured at all, whatever tenant they are in.
    #[serde(default, rename = "opt_out")]
    pub opt_outs: Vec<Spanned<OptOut>>,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<Tenant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// `"drop"`, or the name of the tenant that takes events no tenant's
    /// selector matches. Fields have no default: a field leaves only if a
    /// rule keeps it (privacy by default).
    pub unknown_tenant: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// At least 32 bytes, readable by its owner only.
    pub master_key_file: Spanned<String>,
    /// How often pseudonyms change, for example `"30d"`.
    pub rotation: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOut {
    #[serde(default)]
    pub cgroup_path: Vec<Spanned<String>>,
    #[serde(default)]
    pub k8s_namespace: Vec<Spanned<String>>,
    #[serde(default)]
    pub uid: Vec<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: Spanned<String>,
    /// Why the data is processed (GDPR Art. 5(1)(b)).
    pub purpose: Spanned<String>,
    /// On which of the six grounds of GDPR Art. 6(1): a closed list, so a
    /// typo or a made-up ground is an error rather than a record that
    /// looks lawful.
    pub legal_basis: Spanned<LegalBasis>,
    /// The ground in words: the law, the contract, the interest weighed.
    pub legal_basis_detail: Option<Spanned<String>>,
    /// Where the data protection impact assessment (Art. 35) of this
    /// processing is kept: a reference a reviewer can look up.
    pub dpia: Option<Spanned<String>>,
    /// Where the legitimate-interest assessment (the balancing test of
    /// Art. 6(1)(f)) is kept.
    pub lia: Option<Spanned<String>>,
    /// The Art. 9 acknowledgement: paths, arguments and syscall text can
    /// reveal special categories of data (health, religion, sex life,
    /// union membership...); a tenant that lets them out says here how
    /// that is handled. `scrim policy check` demands it then.
    pub special_categories: Option<Spanned<String>>,
    #[serde(rename = "match")]
    pub selector: Spanned<Selector>,
    /// Event kinds: `"process"`, `"network"`, `"syscall:NAME,NAME"`.
    pub capture: Vec<Spanned<String>>,
    /// A rule per field; fields without one never leave.
    #[serde(default)]
    pub fields: BTreeMap<Spanned<String>, Spanned<Action>>,
    /// How long each captured kind is kept, for example `{ process = "30d" }`.
    #[serde(default)]
    pub retention: BTreeMap<Spanned<String>, Spanned<String>>,
    pub sinks: Spanned<Vec<Spanned<Sink>>>,
    /// At most this many records a second, enforced in the kernel; the
    /// excess is dropped there and counted for the tenant.
    pub quota: Option<Spanned<Quota>>,
    /// The group (a numeric gid) that may read this tenant's archive
    /// directories; nobody else but scrim can.
    pub archive_group: Option<u32>,
}

/// The six lawful bases of GDPR Art. 6(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
}

impl LegalBasis {
    pub const ALL: [LegalBasis; 6] = [
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterests,
    ];

    /// How the policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::VitalInterests => "vital_interests",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::LegitimateInterests => "legitimate_interests",
        }
    }

    /// The ground as GDPR Art. 6(1) states it, with its point.
    pub fn article(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent of the data subject, Art. 6(1)(a)",
            LegalBasis::Contract => "performance of a contract, Art. 6(1)(b)",
            LegalBasis::LegalObligation => "compliance with a legal obligation, Art. 6(1)(c)",
            LegalBasis::VitalInterests => "vital interests, Art. 6(1)(d)",
            LegalBasis::PublicTask => "a task in the public interest, Art. 6(1)(e)",
            LegalBasis::LegitimateInterests => "legitimate interests, Art. 6(1)(f)",
        }
    }

    /// Whether data subjects have the right to object (Art. 21(1) covers
    /// points (e) and (f) only); under consent they withdraw it instead
    /// (Art. 7(3)).
    pub fn can_be_objected_to(self) -> bool {
        matches!(
            self,
            LegalBasis::PublicTask | LegalBasis::LegitimateInterests
        )
    }
}

/// A tenant's event budget: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub events_per_second: u32,
    /// Records allowed at once above the rate; defaults to one second's worth.
    pub burst: Option<u32>,
}

impl Quota {
    /// The burst, defaulted.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.events_per_second)
    }
}

/// Which processes belong to a tenant: any listed criterion matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// cgroup v2 path globs, relative to the root: `*` stays within one
    /// component, `**` crosses any number, and a trailing `/**` matches the
    /// directory itself too (`/team/**` places `/team`).
    #[serde(default)]
    pub cgroup_path: Vec<Spanned<String>>,
    #[serde(default)]
    pub k8s_namespace: Vec<Spanned<String>>,
    #[serde(default)]
    pub k8s_pod_labels: BTreeMap<String, String>,
    /// Inclusive `[first, last]`.
    pub uid_range: Option<Spanned<[u32; 2]>>,
}

/// What happens to one field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Keep,
    Drop,
    /// Keyed BLAKE3, per tenant and rotation epoch.
    Pseudonymize,
    /// Replace credentials and personal data, keeping the structure.
    ScrubSecrets,
    /// Keep an IP address's network prefix only.
    Truncate {
        ipv4: u8,
        ipv6: u8,
    },
    /// Round a time down, for example `"1m"`.
    Coarsen(String),
    /// Keep a path's first `depth` components, or replace what matches a
    /// prefix such as `/home/*`.
    Generalize {
        depth: Option<u8>,
        #[serde(default)]
        prefixes: Vec<String>,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::Pseudonymize => "pseudonymize",
            Action::ScrubSecrets => "scrub_secrets",
            Action::Truncate { .. } => "truncate",
            Action::Coarsen(_) => "coarsen",
            Action::Generalize { .. } => "generalize",
        }
    }
}

/// Where a tenant's records go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sink {
    Parquet {
        path: String,
    },
    Jsonl {
        path: String,
    },
    Otlp {
        endpoint: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// `"grpc"` or `"http/protobuf"`; default: what
        /// `OTEL_EXPORTER_OTLP_PROTOCOL` says, else gRPC.
        protocol: Option<OtlpProtocol>,
    },
}

/// How OTLP spans travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}
