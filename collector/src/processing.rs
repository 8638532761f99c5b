//! What a policy makes scrim do with personal data, tenant by tenant:
//! the one reading of a policy that `scrim policy explain` and `scrim
//! policy report` both print, so the two cannot tell different stories.
use scrim_event::{EventKind, field, field::DataCategory};
use scrim_policies::{
    CapturePlan, PolicyFile,
    model::{Action, Sink, Tenant},
};
use scrim_probes::CaptureFields;
use toml::Spanned;

/// A policy's processing, as a whole.
pub struct Processing {
    /// What happens to events no tenant selects.
    pub unknown_tenant: String,
    /// What is never captured, for any tenant: dropped in the kernel.
    pub opted_out: Vec<String>,
    /// How often pseudonyms change, if the policy pseudonymises.
    pub key_rotation: Option<String>,
    pub tenants: Vec<TenantProcessing>,
}

/// One tenant's processing activity.
pub struct TenantProcessing {
    pub name: String,
    pub purpose: String,
    pub legal_basis: String,
    /// Whose processes: cgroups, namespaces, pod labels, uid ranges.
    pub selects: String,
    /// The event kinds (and syscalls) captured, in words.
    pub captures: String,
    /// The event kinds captured.
    pub kinds: Vec<EventKind>,
    /// How long each kind is kept, as the policy writes it.
    pub retention: Vec<(String, String)>,
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
    /// A directory, a bucket URL, or a backend's address.
    pub location: String,
    /// How it is protected in transit and at rest, as far as scrim knows.
    pub protection: String,
}

impl Processing {
    pub fn of(policy: &PolicyFile) -> Self {
        let unknown = policy
            .defaults
            .unknown_tenant
            .as_ref()
            .map_or("drop", |tenant| tenant.get_ref().as_str());
        let unknown_tenant = if unknown == "drop" {
            "dropped".to_owned()
        } else {
            format!("handled as tenant `{unknown}`")
        };
        let opted_out = policy
            .opt_outs
            .iter()
            .flat_map(|opt_out| {
                let opt_out = opt_out.get_ref();
                let mut never = groups(&opt_out.cgroup_path, &opt_out.k8s_namespace);
                never.extend(opt_out.uid.iter().map(|uid| format!("uid {uid}")));
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
            legal_basis: tenant.legal_basis.get_ref().clone(),
            selects: selection(tenant),
            captures: captures(&plan),
            kinds: plan.kinds.iter().copied().collect(),
            retention: tenant
                .retention
                .iter()
                .map(|(kind, duration)| (kind.get_ref().clone(), duration.get_ref().clone()))
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
                let format = match sink {
                    Sink::Jsonl { .. } => "JSON-lines archive",
                    _ => "Parquet archive",
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
                }
            }
        }
    }
}

/// What happens to a field, in words.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Keep => "kept as is".into(),
        Action::Drop => "dropped".into(),
        Action::Pseudonymize => "pseudonymised (keyed BLAKE3)".into(),
        Action::ScrubSecrets => "secrets and personal data scrubbed".into(),
        Action::Truncate { ipv4, ipv6 } => {
            format!("truncated to /{ipv4} (IPv4) or /{ipv6} (IPv6)")
        }
        Action::Coarsen(granularity) => format!("rounded down to {granularity}"),
        Action::Generalize { depth, prefixes } => match (depth, prefixes.is_empty()) {
            (Some(depth), true) => format!("first {depth} path components kept"),
            (Some(depth), false) => format!(
                "first {depth} path components kept; {} generalised",
                prefixes.join(", ")
            ),
            (None, _) => format!("{} generalised", prefixes.join(", ")),
        },
    }
}

fn selection(tenant: &Tenant) -> String {
    let selector = tenant.selector.get_ref();
    let mut parts = groups(&selector.cgroup_path, &selector.k8s_namespace);
    parts.extend(
        selector
            .k8s_pod_labels
            .iter()
            .map(|(key, value)| format!("pods labelled {key}={value}")),
    );
    if let Some(range) = &selector.uid_range {
        let [first, last] = range.get_ref();
        parts.push(format!("uids {first}-{last}"));
    }
    parts.join(", ")
}

/// "cgroup /a/**", "namespace web", ...
fn groups(cgroup_paths: &[Spanned<String>], namespaces: &[Spanned<String>]) -> Vec<String> {
    let cgroups = cgroup_paths
        .iter()
        .map(|path| format!("cgroup {}", path.get_ref()));
    let namespaces = namespaces
        .iter()
        .map(|ns| format!("namespace {}", ns.get_ref()));
    cgroups.chain(namespaces).collect()
}

fn captures(plan: &CapturePlan) -> String {
    plan.kinds
        .iter()
        .map(|kind| match kind {
            EventKind::Syscall => {
                let names: Vec<&str> = plan
                    .syscalls
                    .iter()
                    .filter_map(|&number| scrim_event::syscall_name(number))
                    .collect();
                format!("syscalls ({})", names.join(", "))
            }
            other => format!("{} events", other.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
