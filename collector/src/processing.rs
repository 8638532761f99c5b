//! What a policy makes scrim do with personal data, tenant by tenant:
//! the one reading of a policy that `scrim policy explain` and `scrim
//! policy report` both print, so the two cannot tell different stories.
//! It reads the policy as it runs ([`scrim_policies::EffectivePolicy`]):
//! overrides applied, relative paths resolved.
use scrim_event::{EventKind, field, field::DataCategory};
use scrim_policies::{
    CapturePlan, LegalBasis, PolicyFile,
    model::{Action, Sink, Tenant},
};
use scrim_probes::CaptureFields;
use toml::Spanned;

use crate::report_text::Text;

/// A policy's processing, as a whole.
pub struct Processing {
    /// What happens to events no tenant selects.
    pub unknown_tenant: Text,
    /// What is never captured, for any tenant: dropped in the kernel.
    pub opted_out: Vec<Text>,
    /// How often pseudonyms change, if the policy pseudonymises.
    pub key_rotation: Option<String>,
    pub tenants: Vec<TenantProcessing>,
}

/// One tenant's processing activity.
pub struct TenantProcessing {
    pub name: String,
    pub purpose: String,
    pub legal_basis: LegalBasis,
    /// The ground in words, if the policy gives them.
    pub legal_basis_detail: Option<String>,
    /// Where the DPIA (Art. 35) is kept.
    pub dpia: Option<String>,
    /// Where the legitimate-interest assessment is kept.
    pub lia: Option<String>,
    /// How paths, arguments and syscall text that can reveal special
    /// categories (Art. 9) are handled.
    pub special_categories: Option<String>,
    /// Whose processes: cgroups, namespaces, pod labels, uid ranges.
    pub selects: Text,
    /// The event kinds (and syscalls) captured, in words.
    pub captures: Text,
    /// The event kinds captured.
    pub kinds: Vec<EventKind>,
    /// How long each captured kind is kept in scrim's archives, as the
    /// policy writes it (a retention for a kind the tenant does not
    /// capture keeps nothing, so it is not listed).
    pub retention: Vec<(EventKind, String)>,
    /// Events a second and burst, enforced in the kernel.
    pub quota: Option<(u32, u32)>,
    pub recipients: Vec<Recipient>,
    /// The group that alone may read the tenant's archive directories.
    pub archive_group: Option<u32>,
    /// Every field that leaves, in catalogue order.
    pub exported: Vec<FieldUse>,
    /// Fields the kernel delivers but no rule lets out.
    pub not_exported: Vec<&'static str>,
    /// Fields the kernel never even reads for this tenant.
    pub never_read: Vec<&'static str>,
}

/// One field that leaves, and in what form.
pub struct FieldUse {
    pub field: &'static field::Field,
    pub action: Action,
    /// Read in the kernel only because a rule asks for it (otherwise it
    /// comes with every event of its kind).
    pub asked_for: bool,
}

/// Where a tenant's records go.
pub struct Recipient {
    /// "Parquet archive", "OTLP (gRPC)", ...
    pub kind: String,
    /// A directory (relative ones from the policy file's), a bucket URL,
    /// or a backend's address.
    pub location: String,
    /// How it is protected in transit and at rest, as far as scrim knows.
    pub protection: String,
    /// Who answers access and erasure requests over what it holds.
    pub answered_by: Answerer,
}

/// Who can find and remove a data subject's records in a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answerer {
    /// `scrim archive export` and `erase`: Parquet archives, on disk or
    /// in object storage.
    Scrim,
    /// Nobody through scrim: `scrim archive` refuses JSON-lines archives
    /// (they are for debugging), so they are searched and edited by hand.
    ByHand,
    /// The backend: scrim keeps no copy of a span once it is delivered.
    Backend,
}

impl Processing {
    pub fn of(policy: &PolicyFile) -> Self {
        let unknown = policy
            .defaults
            .unknown_tenant
            .as_ref()
            .map_or("drop", |tenant| tenant.get_ref().as_str());
        let unknown_tenant = if unknown == "drop" {
            Text::from("dropped")
        } else {
            Text::from("handled as tenant ").code(unknown)
        };
        let opted_out = policy
            .opt_outs
            .iter()
            .flat_map(|opt_out| {
                let opt_out = opt_out.get_ref();
                let mut never = groups(&opt_out.cgroup_path, &opt_out.k8s_namespace);
                never.extend(
                    opt_out
                        .uid
                        .iter()
                        .map(|uid| Text::from("uid ").code(uid.to_string())),
                );
                never
            })
            .collect();
        Processing {
            unknown_tenant,
            opted_out,
            key_rotation: policy
                .keys
                .as_ref()
                .map(|keys| keys.rotation.get_ref().clone()),
            tenants: policy.tenants.iter().map(TenantProcessing::of).collect(),
        }
    }
}

impl TenantProcessing {
    fn of(tenant: &Tenant) -> Self {
        let plan = CapturePlan::of(tenant);
        // What the kernel reads for this tenant: the union of its rules' needs.
        let kernel_mask = plan.fields.iter().fold(CaptureFields::NONE, |mask, kept| {
            mask | CaptureFields::needed_for(kept)
        });
        let (mut exported, mut not_exported, mut never_read) = (Vec::new(), Vec::new(), Vec::new());
        for field in field::ALL
            .iter()
            .filter(|field| field.kinds.iter().any(|kind| plan.kinds.contains(kind)))
        {
            let rule = tenant
                .fields
                .iter()
                .find(|(name, _)| name.get_ref() == field.name)
                .map(|(_, action)| action.get_ref());
            let needs = CaptureFields::needed_for(field.name);
            let masked = needs != CaptureFields::NONE;
            match rule {
                Some(action) if *action != Action::Drop => exported.push(FieldUse {
                    field,
                    action: action.clone(),
                    asked_for: masked,
                }),
                _ if masked && !kernel_mask.contains(needs) => never_read.push(field.name),
                _ => not_exported.push(field.name),
            }
        }
        TenantProcessing {
            name: tenant.name.get_ref().clone(),
            purpose: tenant.purpose.get_ref().clone(),
            legal_basis: *tenant.legal_basis.get_ref(),
            legal_basis_detail: text_of(&tenant.legal_basis_detail),
            dpia: text_of(&tenant.dpia),
            lia: text_of(&tenant.lia),
            special_categories: text_of(&tenant.special_categories),
            selects: selection(tenant),
            captures: captures(&plan),
            kinds: plan.kinds.iter().copied().collect(),
            retention: tenant
                .retention
                .iter()
                .filter_map(|(kind, duration)| {
                    let kind = EventKind::ALL
                        .into_iter()
                        .find(|known| known.as_str() == kind.get_ref())
                        .filter(|kind| plan.kinds.contains(kind))?;
                    Some((kind, duration.get_ref().clone()))
                })
                .collect(),
            quota: plan.rate_limit,
            recipients: tenant
                .sinks
                .get_ref()
                .iter()
                .map(|sink| Recipient::of(sink.get_ref()))
                .collect(),
            archive_group: tenant.archive_group,
            exported,
            not_exported,
            never_read,
        }
    }

    /// The exported fields of each data category, most sensitive first.
    pub fn by_category(&self) -> Vec<(DataCategory, Vec<&FieldUse>)> {
        let mut categories: Vec<(DataCategory, Vec<&FieldUse>)> = Vec::new();
        for used in &self.exported {
            match categories
                .iter_mut()
                .find(|(category, _)| *category == used.field.category)
            {
                Some((_, fields)) => fields.push(used),
                None => categories.push((used.field.category, vec![used])),
            }
        }
        categories.sort_by_key(|(category, _)| std::cmp::Reverse(*category));
        categories
    }

    /// Who answers access and erasure requests over each of the
    /// tenant's recipients, with their locations.
    pub fn answered_by(&self, answerer: Answerer) -> Vec<&str> {
        self.recipients
            .iter()
            .filter(|recipient| recipient.answered_by == answerer)
            .map(|recipient| recipient.location.as_str())
            .collect()
    }

    /// Whether any field is pseudonymised, scrubbed, truncated, coarsened
    /// or generalised: what the measures section lists.
    pub fn transforms(&self, wanted: fn(&Action) -> bool) -> Vec<&'static str> {
        self.exported
            .iter()
            .filter(|used| wanted(&used.action))
            .map(|used| used.field.name)
            .collect()
    }
}

impl Recipient {
    fn of(sink: &Sink) -> Self {
        match sink {
            Sink::Parquet { path } | Sink::Jsonl { path } => {
                let (format, answered_by) = match sink {
                    Sink::Jsonl { .. } => ("JSON-lines archive", Answerer::ByHand),
                    _ => ("Parquet archive", Answerer::Scrim),
                };
                let protection = if scrim_sinks::is_bucket_url(path) {
                    "object storage: access by the bucket's own policy; uploaded over \
                     HTTPS unless AWS_ALLOW_HTTP allows plain HTTP to the endpoint"
                } else {
                    "local disk of each node: directories readable by scrim and, where \
                     set, the tenant's archive group only"
                };
                Recipient {
                    kind: format.to_owned(),
                    location: path.clone(),
                    protection: protection.to_owned(),
                    answered_by,
                }
            }
            Sink::Otlp {
                endpoint,
                protocol,
                headers,
            } => {
                let transport = match protocol {
                    Some(scrim_policies::model::OtlpProtocol::HttpProtobuf) => "HTTP/protobuf",
                    Some(scrim_policies::model::OtlpProtocol::Grpc) => "gRPC",
                    None => "gRPC unless OTEL_EXPORTER_OTLP_PROTOCOL says otherwise",
                };
                let encrypted = if endpoint.starts_with("https://") {
                    "encrypted in transit (TLS)"
                } else {
                    "not encrypted in transit (plain http: keep it inside the cluster)"
                };
                let tenant_headers = if headers.is_empty() {
                    String::new()
                } else {
                    let names: Vec<&str> = headers.keys().map(String::as_str).collect();
                    format!("; sent with {}", names.join(", "))
                };
                Recipient {
                    kind: format!("OTLP backend ({transport})"),
                    location: endpoint.clone(),
                    protection: format!("{encrypted}{tenant_headers}"),
                    answered_by: Answerer::Backend,
                }
            }
        }
    }
}

/// What happens to a field, in words.
pub fn describe(action: &Action) -> Text {
    match action {
        Action::Keep => "kept as is".into(),
        Action::Drop => "dropped".into(),
        Action::Pseudonymize => "pseudonymised (keyed BLAKE3)".into(),
        Action::ScrubSecrets => "secrets and personal data scrubbed".into(),
        Action::Truncate { ipv4, ipv6 } => {
            format!("truncated to /{ipv4} (IPv4) or /{ipv6} (IPv6)").into()
        }
        Action::Coarsen(granularity) => Text::from("rounded down to ").code(granularity),
        Action::Generalize { depth, prefixes } => {
            let kept = depth.map(|depth| Text::from(format!("first {depth} path components kept")));
            let hidden = (!prefixes.is_empty())
                .then(|| Text::codes(prefixes.iter().cloned()).plain(" generalised"));
            Text::join(kept.into_iter().chain(hidden), "; ")
        }
    }
}

/// An optional free text of the policy, as written.
fn text_of(value: &Option<Spanned<String>>) -> Option<String> {
    value.as_ref().map(|value| value.get_ref().clone())
}

fn selection(tenant: &Tenant) -> Text {
    let selector = tenant.selector.get_ref();
    let mut parts = groups(&selector.cgroup_path, &selector.k8s_namespace);
    parts.extend(
        selector
            .k8s_pod_labels
            .iter()
            .map(|(key, value)| Text::from("pods labelled ").code(format!("{key}={value}"))),
    );
    if let Some(range) = &selector.uid_range {
        let [first, last] = range.get_ref();
        parts.push(Text::from("uids ").code(format!("{first}-{last}")));
    }
    Text::join(parts, ", ")
}

/// "cgroup `/a/**`", "namespace `web`", ...
fn groups(cgroup_paths: &[Spanned<String>], namespaces: &[Spanned<String>]) -> Vec<Text> {
    let cgroups = cgroup_paths
        .iter()
        .map(|path| Text::from("cgroup ").code(path.get_ref()));
    let namespaces = namespaces
        .iter()
        .map(|ns| Text::from("namespace ").code(ns.get_ref()));
    cgroups.chain(namespaces).collect()
}

fn captures(plan: &CapturePlan) -> Text {
    let kinds = plan.kinds.iter().map(|kind| match kind {
        EventKind::Syscall => {
            let names = plan
                .syscalls
                .iter()
                .filter_map(|&number| scrim_event::syscall_name(number));
            Text::from("syscalls (").then(Text::codes(names)).plain(")")
        }
        other => Text::from(format!("{} events", other.as_str())),
    });
    Text::join(kinds, ", ")
}
