//! Semantic checks: everything a policy can get wrong that parsing cannot
//! see. All problems are collected, not just the first, so one run of
//! `scrim policy check` shows everything to fix.
//!
//! Tenant selectors are tried in file order and the first match wins; a
//! selector value that two tenants both list is an error, since the second
//! tenant could never get those processes.
use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Range,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::Path,
};

use scrim_event::{
    EventKind,
    field::{self, DataCategory, Field, FieldType},
    syscall_number,
};
use toml::Spanned;

use crate::{
    diagnostic::{Diagnostic, with_suggestion},
    model::{Action, LegalBasis, PolicyFile, Quota, Sink, Tenant, VERSION},
};

/// Bytes a master key needs at least.
const MASTER_KEY_BYTES: u64 = 32;

/// The longest name a file or directory can have (Linux `NAME_MAX`).
const NAME_MAX: usize = 255;

/// The longest tenant name: a tenant's directory is `tenant=<name>`, in
/// its archives and in the state directory's spools, and that one path
/// component must fit [`NAME_MAX`]; 248 bytes (tenant names are ASCII, so
/// characters) is what fits both.
const MAX_TENANT_NAME: usize = NAME_MAX - "tenant=".len();

/// The most tenants a policy can have: the kernel filters events in
/// [`scrim_abi::TENANT_SLOTS`] slots, and `scrim run` keeps slot 0 for the
/// cgroups no tenant claims, whatever `unknown_tenant` says.
const MAX_TENANTS: usize = scrim_abi::TENANT_SLOTS as usize - 1;

struct Checker<'a> {
    source: &'a str,
    diagnostics: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::at(self.source, span, message));
    }

    fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.warnings
            .push(Diagnostic::at(self.source, span, message));
    }
}

/// What the checks found: errors refuse the policy, warnings do not.
pub(crate) struct Checked {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// `read_key_file`: whether the master key file is looked at too (its
/// path already resolved); without it everything else is checked, for
/// checks that run where the key must never be.
pub(crate) fn validate(policy: &PolicyFile, source: &str, read_key_file: bool) -> Checked {
    let mut checker = Checker {
        source,
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    if *policy.version.get_ref() != VERSION {
        checker.error(
            policy.version.span(),
            format!(
                "unsupported policy version {}; this scrim reads version {VERSION}",
                policy.version.get_ref()
            ),
        );
    }
    check_tenant_names(&mut checker, policy);
    check_unknown_tenant(&mut checker, policy);
    if let Some(keys) = &policy.keys {
        check_duration(&mut checker, &keys.rotation, "key rotation");
        if read_key_file {
            check_key_file(&mut checker, &keys.master_key_file);
        }
    }
    for opt_out in &policy.opt_outs {
        let criteria = opt_out.get_ref();
        check_cgroup_globs(&mut checker, &criteria.cgroup_path);
        if criteria.cgroup_path.is_empty()
            && criteria.k8s_namespace.is_empty()
            && criteria.uid.is_empty()
        {
            checker.error(
                opt_out.span(),
                "this opt_out lists no cgroup_path, k8s_namespace or uid",
            );
        }
    }
    if policy.keys.is_none() {
        let pseudonymizing = policy
            .tenants
            .iter()
            .flat_map(|tenant| &tenant.fields)
            .find(|(_, action)| *action.get_ref() == Action::Pseudonymize);
        if let Some((_, action)) = pseudonymizing {
            checker.error(
                action.span(),
                "pseudonymize needs a key: add [keys] with master_key_file and rotation",
            );
        }
    }
    check_overlapping_selectors(&mut checker, policy);
    check_uid_rules(&mut checker, policy);
    for tenant in &policy.tenants {
        check_tenant(&mut checker, tenant);
    }
    checker.diagnostics.sort_by_key(|d| (d.line, d.column));
    checker.warnings.sort_by_key(|d| (d.line, d.column));
    Checked {
        errors: checker.diagnostics,
        warnings: checker.warnings,
    }
}

fn check_tenant_names(checker: &mut Checker, policy: &PolicyFile) {
    if let Some(first_over) = policy.tenants.get(MAX_TENANTS) {
        checker.error(
            first_over.name.span(),
            format!(
                "the policy has {} tenants; the kernel filter holds at most {MAX_TENANTS} \
                 (this is tenant {})",
                policy.tenants.len(),
                MAX_TENANTS + 1
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for tenant in &policy.tenants {
        let name = tenant.name.get_ref();
        if name.len() > MAX_TENANT_NAME {
            checker.error(
                tenant.name.span(),
                format!(
                    "tenant name of {} bytes is too long: at most {MAX_TENANT_NAME}, so that \
                     its directory `tenant=<name>` fits the {NAME_MAX} bytes of a file name",
                    name.len()
                ),
            );
        }
        let path_safe = !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
        if !path_safe {
            checker.error(
                tenant.name.span(),
                format!(
                    "tenant name {name:?} must be letters, digits, `.`, `_` and `-`, not \
                     starting with `.` (it names archive directories)"
                ),
            );
        }
        if !seen.insert(name.as_str()) {
            checker.error(
                tenant.name.span(),
                format!("tenant `{name}` is defined twice"),
            );
        }
    }
}

fn check_unknown_tenant(checker: &mut Checker, policy: &PolicyFile) {
    let Some(unknown) = &policy.defaults.unknown_tenant else {
        return;
    };
    let target = unknown.get_ref();
    let names: Vec<&str> = policy
        .tenants
        .iter()
        .map(|t| t.name.get_ref().as_str())
        .collect();
    if target != "drop" && !names.contains(&target.as_str()) {
        let message = format!("unknown_tenant is `{target}`, which is neither `drop` nor a tenant");
        let candidates = names.iter().copied().chain(["drop"]);
        checker.error(unknown.span(), with_suggestion(message, target, candidates));
    }
}

fn check_duration(checker: &mut Checker, value: &Spanned<String>, what: &str) -> bool {
    match humantime::parse_duration(value.get_ref()) {
        Ok(duration) if !duration.is_zero() => true,
        Ok(_) => {
            checker.error(value.span(), format!("{what} must be longer than zero"));
            false
        }
        Err(error) => {
            checker.error(
                value.span(),
                format!(
                    "{what} {:?} is not a duration ({error}); write it like \"30d\" or \"12h\"",
                    value.get_ref()
                ),
            );
            false
        }
    }
}

fn check_key_file(checker: &mut Checker, file: &Spanned<String>) {
    let path = Path::new(file.get_ref());
    let problem = match std::fs::metadata(path) {
        Err(error) => Some(format!(
            "master key file {} cannot be read: {error}",
            path.display()
        )),
        Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => Some(format!(
            "master key file {} is accessible to others (mode {:o}); run `chmod 600` on it",
            path.display(),
            metadata.permissions().mode() & 0o777
        )),
        Ok(metadata) if metadata.size() < MASTER_KEY_BYTES => Some(format!(
            "master key file {} holds {} bytes; a key needs at least {MASTER_KEY_BYTES}",
            path.display(),
            metadata.size()
        )),
        Ok(_) => None,
    };
    if let Some(problem) = problem {
        checker.error(file.span(), problem);
    }
}

fn check_cgroup_globs(checker: &mut Checker, patterns: &[Spanned<String>]) {
    for pattern in patterns {
        if !pattern.get_ref().starts_with('/') {
            checker.error(
                pattern.span(),
                format!(
                    "cgroup_path {:?} must start with `/` (paths are relative to the cgroup v2 root)",
                    pattern.get_ref()
                ),
            );
        } else if let Err(problem) = crate::placement::cgroup_glob(pattern.get_ref()) {
            checker.error(pattern.span(), format!("not a cgroup path glob: {problem}"));
        }
    }
}

fn check_overlapping_selectors(checker: &mut Checker, policy: &PolicyFile) {
    let mut claimed: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for tenant in &policy.tenants {
        let selector = tenant.selector.get_ref();
        let values = selector
            .cgroup_path
            .iter()
            .map(|value| ("cgroup_path", value))
            .chain(
                selector
                    .k8s_namespace
                    .iter()
                    .map(|value| ("k8s_namespace", value)),
            );
        for (criterion, value) in values {
            let owner = tenant.name.get_ref().as_str();
            if let Some(first) = claimed.insert((criterion, value.get_ref().as_str()), owner)
                && first != owner
            {
                checker.error(
                    value.span(),
                    format!(
                        "{criterion} {:?} is already claimed by tenant `{first}`; the first \
                         matching tenant wins, so `{owner}` would never get these processes",
                        value.get_ref()
                    ),
                );
            }
        }
    }
}

/// The kernel checks uid rules for every event, so it holds only a few; and
/// two tenants' ranges must not overlap, or the second never gets the
/// overlap.
fn check_uid_rules(checker: &mut Checker, policy: &PolicyFile) {
    let opted_out = policy
        .opt_outs
        .iter()
        .flat_map(|opt_out| opt_out.get_ref().uid.iter().map(|_| opt_out.span()));
    let ranges: Vec<(&str, &Spanned<[u32; 2]>)> = policy
        .tenants
        .iter()
        .filter_map(|tenant| {
            let range = tenant.selector.get_ref().uid_range.as_ref()?;
            Some((tenant.name.get_ref().as_str(), range))
        })
        .collect();
    let max = scrim_abi::MAX_UID_RULES as usize;
    if let Some(span) = opted_out
        .chain(ranges.iter().map(|(_, range)| range.span()))
        .nth(max)
    {
        checker.error(
            span,
            format!(
                "more than {max} uid rules (uid opt-outs and uid_range selectors together): the \
                 kernel checks them for every event and holds at most {max}"
            ),
        );
    }
    for (later, (name, range)) in ranges.iter().enumerate() {
        let [first, last] = *range.get_ref();
        if let Some((owner, _)) = ranges[..later].iter().find(|(_, earlier)| {
            let [earlier_first, earlier_last] = *earlier.get_ref();
            first <= earlier_last && earlier_first <= last
        }) {
            checker.error(
                range.span(),
                format!(
                    "uid_range [{first}, {last}] overlaps tenant `{owner}`'s; the first matching \
                     tenant wins, so `{name}` would never get the overlap"
                ),
            );
        }
    }
}

fn check_tenant(checker: &mut Checker, tenant: &Tenant) {
    let name = tenant.name.get_ref();
    let optional = [
        (&tenant.legal_basis_detail, "legal_basis_detail"),
        (&tenant.dpia, "dpia"),
        (&tenant.lia, "lia"),
        (&tenant.special_categories, "special_categories"),
    ];
    let given = optional
        .into_iter()
        .filter_map(|(value, what)| Some((value.as_ref()?, what)));
    for (value, what) in [(&tenant.purpose, "purpose")].into_iter().chain(given) {
        if value.get_ref().trim().is_empty() {
            checker.error(value.span(), format!("tenant `{name}` has an empty {what}"));
        }
    }
    check_accountability(checker, tenant);
    let selector = tenant.selector.get_ref();
    check_cgroup_globs(checker, &selector.cgroup_path);
    if selector.cgroup_path.is_empty()
        && selector.k8s_namespace.is_empty()
        && selector.k8s_pod_labels.is_empty()
        && selector.uid_range.is_none()
    {
        checker.error(
            tenant.selector.span(),
            format!("tenant `{name}` matches nothing: give match a cgroup_path, k8s_namespace, k8s_pod_labels or uid_range"),
        );
    }
    if let Some(range) = &selector.uid_range
        && range.get_ref()[0] > range.get_ref()[1]
    {
        checker.error(
            range.span(),
            "uid_range must be [first, last] with first <= last",
        );
    }
    let captured = check_capture(checker, tenant);
    for (field_name, action) in &tenant.fields {
        check_field_rule(checker, name, &captured, field_name, action);
    }
    check_retention(checker, tenant, &captured);
    if let Some(quota) = &tenant.quota {
        let Quota {
            events_per_second,
            burst,
        } = *quota.get_ref();
        if events_per_second == 0 || burst == Some(0) {
            checker.error(
                quota.span(),
                format!(
                    "tenant `{name}`'s quota must allow at least one event a second and a burst \
                     of one (to capture nothing, capture nothing)"
                ),
            );
        }
    }
    check_sinks(checker, tenant);
}

/// What a reviewer needs on record: the balancing test behind a
/// legitimate interest, and an Art. 9 acknowledgement wherever paths,
/// arguments or syscall text leave readable.
fn check_accountability(checker: &mut Checker, tenant: &Tenant) {
    let name = tenant.name.get_ref();
    if *tenant.legal_basis.get_ref() == LegalBasis::LegitimateInterests && tenant.lia.is_none() {
        checker.warn(
            tenant.legal_basis.span(),
            format!(
                "tenant `{name}` relies on legitimate interests but names no assessment: add \
                 lia = \"<where the legitimate-interest assessment is kept>\""
            ),
        );
    }
    if tenant.special_categories.is_some() {
        return;
    }
    let revealing: Vec<&str> = tenant
        .fields
        .iter()
        .filter(|(_, action)| !hides_special_categories(action.get_ref()))
        .filter_map(|(field_name, _)| field::named(field_name.get_ref()))
        .filter(|field| {
            matches!(
                field.category,
                DataCategory::Content | DataCategory::SecretBearing
            )
        })
        .map(|field| field.name)
        .collect();
    if !revealing.is_empty() {
        checker.error(
            tenant.name.span(),
            format!(
                "tenant `{name}` lets `{}` out readable: paths, arguments and syscall text can \
                 reveal special categories of personal data (GDPR Art. 9: health, religion, \
                 sex life, trade union membership...); say how that is handled in \
                 special_categories = \"...\" (or drop or pseudonymize them, or cut paths to two levels)",
                revealing.join("`, `")
            ),
        );
    }
}

/// Whether what leaves after `action` can no longer name a health, faith
/// or union matter: nothing, a pseudonym, or a path cut to two levels
/// (`/home/alice`, not `/home/alice/therapy-notes`).
fn hides_special_categories(action: &Action) -> bool {
    match action {
        Action::Drop | Action::Pseudonymize => true,
        Action::Generalize {
            depth: Some(depth), ..
        } => *depth <= 2,
        _ => false,
    }
}

/// The event kinds a tenant captures, checking each `capture` entry.
fn check_capture(checker: &mut Checker, tenant: &Tenant) -> BTreeSet<EventKind> {
    let mut kinds = BTreeSet::new();
    if tenant.capture.is_empty() {
        checker.error(
            tenant.name.span(),
            format!(
                "tenant `{}` captures nothing: list event kinds in capture",
                tenant.name.get_ref()
            ),
        );
    }
    let kind_names: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
    for entry in &tenant.capture {
        let (kind_name, syscalls) = match entry.get_ref().split_once(':') {
            Some((kind, syscalls)) => (kind, Some(syscalls)),
            None => (entry.get_ref().as_str(), None),
        };
        let Some(kind) = EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == kind_name)
        else {
            let message = format!("unknown event kind `{kind_name}` in capture");
            checker.error(
                entry.span(),
                with_suggestion(message, kind_name, kind_names.iter().copied()),
            );
            continue;
        };
        match (kind, syscalls) {
            (EventKind::Syscall, None) => checker.error(
                entry.span(),
                "capture \"syscall\" needs the syscalls to capture, as in \"syscall:openat,connect\"",
            ),
            (EventKind::Syscall, Some(names)) => {
                for syscall in names.split(',').map(str::trim) {
                    if syscall_number(syscall).is_none() {
                        let message = format!("unknown syscall `{syscall}` in capture");
                        let known = scrim_event::syscall_names();
                        checker.error(entry.span(), with_suggestion(message, syscall, known));
                    }
                }
            }
            (_, Some(_)) => checker.error(
                entry.span(),
                format!("only syscall captures take a list, not `{kind_name}`"),
            ),
            (_, None) => {}
        }
        kinds.insert(kind);
    }
    kinds
}

fn check_field_rule(
    checker: &mut Checker,
    tenant: &str,
    captured: &BTreeSet<EventKind>,
    field_name: &Spanned<String>,
    action: &Spanned<Action>,
) {
    let name = field_name.get_ref();
    let Some(field) = field::named(name) else {
        let message = format!("unknown field `{name}`");
        let names = field::ALL.iter().map(|field| field.name);
        checker.error(field_name.span(), with_suggestion(message, name, names));
        return;
    };
    if !field.kinds.iter().any(|kind| captured.contains(kind)) {
        let carriers: Vec<&str> = field.kinds.iter().map(|kind| kind.as_str()).collect();
        checker.error(
            field_name.span(),
            format!(
                "tenant `{tenant}` has a rule for `{name}`, which only {} events carry, \
                 but captures none of them",
                carriers.join(" and ")
            ),
        );
    }
    if let Some(problem) = misfit(field, action.get_ref()) {
        checker.error(action.span(), problem);
    }
}

/// Why `action` cannot apply to `field`, if it cannot.
fn misfit(field: &Field, action: &Action) -> Option<String> {
    let ty = field.field_type;
    let fits = match action {
        Action::Keep | Action::Drop => true,
        Action::Pseudonymize => !matches!(ty, FieldType::Timestamp | FieldType::Bool),
        Action::ScrubSecrets => matches!(
            ty,
            FieldType::String | FieldType::Path | FieldType::StringList
        ),
        Action::Truncate { ipv4, ipv6 } => {
            if *ipv4 > 32 || *ipv6 > 128 {
                return Some(format!(
                    "truncate keeps at most 32 IPv4 and 128 IPv6 prefix bits, not {ipv4} and {ipv6}"
                ));
            }
            ty == FieldType::IpAddress
        }
        Action::Coarsen(granularity) => {
            if humantime::parse_duration(granularity).is_err() {
                return Some(format!(
                    "coarsen takes a duration such as \"1m\" or \"1h\", not {granularity:?}"
                ));
            }
            ty == FieldType::Timestamp
        }
        Action::Generalize { depth, prefixes } => {
            if depth.is_none() && prefixes.is_empty() {
                return Some("generalize needs a depth or prefixes".into());
            }
            if let Err(problem) = scrim_redaction::PathGeneralizer::new(*depth, prefixes) {
                return Some(problem.to_string());
            }
            ty == FieldType::Path
        }
    };
    (!fits).then(|| {
        format!(
            "`{}` cannot apply to `{}`, a field of type {}",
            action.name(),
            field.name,
            ty.as_str()
        )
    })
}

fn check_retention(checker: &mut Checker, tenant: &Tenant, captured: &BTreeSet<EventKind>) {
    let name = tenant.name.get_ref();
    let kind_names: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
    let mut covered = BTreeSet::new();
    for (kind_name, duration) in &tenant.retention {
        match EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == kind_name.get_ref())
        {
            Some(kind) => {
                covered.insert(kind);
                check_duration(
                    checker,
                    duration,
                    &format!("retention of {}", kind.as_str()),
                );
            }
            None => {
                let message = format!("unknown event kind `{}` in retention", kind_name.get_ref());
                checker.error(
                    kind_name.span(),
                    with_suggestion(message, kind_name.get_ref(), kind_names.iter().copied()),
                );
            }
        }
    }
    for kind in captured.difference(&covered) {
        checker.error(
            tenant.name.span(),
            format!(
                "tenant `{name}` captures {} events but sets no retention for them",
                kind.as_str()
            ),
        );
    }
}

/// The length of the first component of a local archive path that no
/// directory can be named (`mkdir` would fail with `ENAMETOOLONG` at run
/// time), or 0. Object storage URLs are not directories: 0.
fn overlong_component(path: &str) -> usize {
    if path.contains("://") {
        return 0;
    }
    path.split('/')
        .map(str::len)
        .find(|&len| len > NAME_MAX)
        .unwrap_or(0)
}

fn check_sinks(checker: &mut Checker, tenant: &Tenant) {
    if tenant.sinks.get_ref().is_empty() {
        checker.error(
            tenant.sinks.span(),
            format!(
                "tenant `{}` has no sink: its events would go nowhere",
                tenant.name.get_ref()
            ),
        );
    }
    let keeps_time = tenant
        .fields
        .iter()
        .any(|(name, action)| name.get_ref() == "time" && *action.get_ref() != Action::Drop);
    for sink in tenant.sinks.get_ref() {
        let problem = match sink.get_ref() {
            Sink::Otlp { .. } if !keeps_time => Some(
                "an OTLP sink needs `time`: spans are placed in time by it; keep or coarsen \
                 \"time\" in [tenant.fields]"
                    .to_owned(),
            ),
            Sink::Parquet { path } | Sink::Jsonl { path } if path.trim().is_empty() => {
                Some("this sink has no destination: give it a path".to_owned())
            }
            Sink::Parquet { path } | Sink::Jsonl { path } if overlong_component(path) > 0 => {
                Some(format!(
                    "archive path {path:?} has a component of {} bytes; a directory name holds \
                     at most {NAME_MAX}",
                    overlong_component(path)
                ))
            }
            Sink::Parquet { path } | Sink::Jsonl { path }
                if path.contains("://")
                    && !path
                        .strip_prefix("s3://")
                        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')) =>
            {
                Some(format!(
                    "archive path {path:?} is neither a directory nor object storage: \
                     give a directory or s3://bucket/prefix"
                ))
            }
            Sink::Otlp { endpoint, .. } if endpoint.trim().is_empty() => {
                Some("this sink has no destination: give it an endpoint".to_owned())
            }
            Sink::Otlp { endpoint, .. }
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) =>
            {
                Some(format!(
                    "OTLP endpoint {endpoint:?} must start with http:// or https://"
                ))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            checker.error(sink.span(), problem);
        }
    }
}
