//! Policy tests, as `scrim policy test FILE --cases DIR` runs them: each
//! case file gives an event (field by field, as the catalogue names them)
//! and the record the policy must turn it into, or that it must be dropped.
//! Like OPA's policy tests, they let a compliance team prove what a policy
//! does before any collector runs it.
//!
//! ```toml
//! # A payments process: arguments scrubbed, uid pseudonymised.
//! tenant = "payments"               # or: cgroup_path = "/payments/api"
//!                                   # (placed as scrim places it, with the
//!                                   # event's uid and, given
//!                                   # pod = { namespace = "pay", labels = { .. } },
//!                                   # the pod's namespace and labels)
//!
//! [event]
//! "event.name" = "process.exec"
//! time = "2026-11-25T18:00:00.123Z"
//! "process.real_user.id" = 1000
//! "process.command_args" = ["psql", "--password=hunter2"]
//!
//! [expect]                          # or: expect = "dropped"
//! "event.name" = "process.exec"
//! "process.real_user.id" = "<pseudonym>"
//! "process.command_args" = ["psql", "--password=[REDACTED:credential_flag]"]
//! ```
//!
//! The expected record must be exact: every column the policy lets out with
//! a value must be listed (`scrim.policy.hash` aside), so a case also proves
//! what does *not* leave.
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use scrim_event::{
    EventKind, FieldValue,
    field::FieldType,
    fixture::{FixtureValue, event_from_fields},
    record::Record,
    syscall_name,
    time::UtcDateTime,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    CompiledPolicy, POLICY_HASH_COLUMN, Placement, PodFacts, TenantPolicy, Workload, model::Action,
};

/// Stands for any pseudonym in an expectation: pseudonyms depend on the
/// master key, which a case must not need.
pub const ANY_PSEUDONYM: &str = "<pseudonym>";

/// Why the cases could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("policy test: cannot read the cases directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy test: no case files (*.toml) in {0}")]
    Empty(PathBuf),
}

/// One case's result: passed when `failures` is empty.
#[derive(Debug)]
pub struct CaseOutcome {
    pub path: PathBuf,
    pub failures: Vec<String>,
    /// When the policy drops the case's event, the rule that drops it: an
    /// expected drop passes for a reason the author can check.
    pub dropped_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    tenant: Option<String>,
    cgroup_path: Option<String>,
    /// The Kubernetes pod the cgroup belongs to, for namespace and label
    /// selectors.
    pod: Option<CasePod>,
    event: toml::Table,
    expect: Expectation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePod {
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Expectation {
    /// `expect = "dropped"`.
    Verdict(String),
    Record(toml::Table),
}

/// Runs every `*.toml` case in `directory`, in name order.
pub fn run_cases(
    policy: &CompiledPolicy,
    directory: &Path,
) -> Result<Vec<CaseOutcome>, CasesError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(directory)
        .map_err(|source| CasesError::Directory {
            path: directory.to_path_buf(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(CasesError::Empty(directory.to_path_buf()));
    }
    Ok(paths
        .into_iter()
        .map(|path| match run_case(policy, &path) {
            Ok((failures, dropped_by)) => CaseOutcome {
                path,
                failures,
                dropped_by,
            },
            Err(problem) => CaseOutcome {
                path,
                failures: vec![problem],
                dropped_by: None,
            },
        })
        .collect())
}

/// The case's failures and why its event is dropped (if it is), or why
/// the case could not run.
fn run_case(policy: &CompiledPolicy, path: &Path) -> Result<(Vec<String>, Option<String>), String> {
    let text = fs::read_to_string(path).map_err(|error| format!("cannot read: {error}"))?;
    let case: CaseFile = toml::from_str(&text).map_err(|error| error.to_string())?;
    let event = fixture_event(&case.event)?;
    let tenant = match (&case.tenant, &case.cgroup_path) {
        (Some(_), Some(_)) => return Err("give a tenant or a cgroup_path, not both".into()),
        (None, None) => return Err("give the tenant, or a cgroup_path to place".into()),
        (Some(_), None) if case.pod.is_some() => {
            return Err("a pod is placed with its cgroup_path, not with a tenant".into());
        }
        (Some(name), None) => Ok((
            policy
                .tenants()
                .iter()
                .position(|tenant| tenant.name == *name)
                .ok_or_else(|| format!("the policy has no tenant `{name}`"))?,
            format!("the case names tenant `{name}`"),
        )),
        (None, Some(cgroup_path)) => placed_tenant(
            policy,
            &Workload {
                cgroup_path,
                pod: case.pod.as_ref().map(|pod| PodFacts {
                    namespace: &pod.namespace,
                    labels: &pod.labels,
                }),
            },
            event.process().real_user_id,
        ),
    };
    let tenant = tenant.and_then(|(index, placed_by)| {
        captured_by(&policy.tenants()[index], &event).map(|()| (index, placed_by))
    });
    let mut plans = policy.record_plans();
    let outcome = tenant.and_then(|(index, placed_by)| {
        plans[index]
            .apply(&event)
            .map(|record| (index, placed_by, record))
            .ok_or_else(|| kind_not_captured(&policy.tenants()[index], &event))
    });
    match (case.expect, outcome) {
        (Expectation::Verdict(verdict), Err(dropped_by)) if verdict == "dropped" => {
            Ok((Vec::new(), Some(dropped_by)))
        }
        (Expectation::Verdict(verdict), Ok((index, placed_by, _))) if verdict == "dropped" => Ok((
            vec![format!(
                "expected the event to be dropped, but tenant `{}` exports it ({placed_by})",
                policy.tenants()[index].name
            )],
            None,
        )),
        (Expectation::Verdict(other), _) => Err(format!(
            "expect must be a table of fields or \"dropped\", not {other:?}"
        )),
        (Expectation::Record(_), Err(dropped_by)) => Ok((
            vec![format!(
                "expected a record, but the policy drops the event: {dropped_by}"
            )],
            Some(dropped_by),
        )),
        (Expectation::Record(expected), Ok((index, _, mut record))) => Ok((
            compare(&expected, &mut record, &policy.tenants()[index]),
            None,
        )),
    }
}

/// The tenant a process of `workload` is placed in, as the kernel places
/// it, and by what; or the rule that drops its events.
fn placed_tenant(
    policy: &CompiledPolicy,
    workload: &Workload,
    uid: u32,
) -> Result<(usize, String), String> {
    let placed = policy.place_process(workload, uid);
    match (placed.placement, policy.unknown_tenant()) {
        (Placement::OptedOut, _) => Err(format!("never captured: {placed} (uid {uid})")),
        (Placement::Tenant(index), _) => Ok((index, format!("placed by {placed}"))),
        (Placement::Unclaimed, Some(index)) => Ok((
            index,
            format!(
                "no tenant's selector matches; unknown_tenant = {:?}",
                policy.tenants()[index].name
            ),
        )),
        (Placement::Unclaimed, None) => Err(format!(
            "no tenant's selector matches cgroup {:?} (uid {uid}), and unknown_tenant = \"drop\"",
            workload.cgroup_path
        )),
    }
}

/// Whether the tenant's kernel filter lets a syscall event through: only
/// the syscalls its capture lists are read (other kinds are checked by
/// their plan).
fn captured_by(tenant: &TenantPolicy, event: &scrim_event::Event) -> Result<(), String> {
    match event {
        scrim_event::Event::Syscall(syscall)
            if tenant.capture.kinds.contains(&EventKind::Syscall)
                && !tenant.capture.syscalls.contains(&syscall.number) =>
        {
            Err(format!(
                "tenant `{}` does not capture syscall `{}` (its capture lists {})",
                tenant.name,
                syscall_name(syscall.number).unwrap_or("?"),
                listed_syscalls(tenant)
            ))
        }
        _ => Ok(()),
    }
}

fn listed_syscalls(tenant: &TenantPolicy) -> String {
    let names: Vec<&str> = tenant
        .capture
        .syscalls
        .iter()
        .filter_map(|number| syscall_name(*number))
        .collect();
    names.join(", ")
}

/// Why a tenant's plan makes no record of the event.
fn kind_not_captured(tenant: &TenantPolicy, event: &scrim_event::Event) -> String {
    format!(
        "tenant `{}` does not capture {} events",
        tenant.name,
        event.kind().as_str()
    )
}

fn fixture_event(table: &toml::Table) -> Result<scrim_event::Event, String> {
    let name = table
        .get("event.name")
        .and_then(toml::Value::as_str)
        .ok_or("the event needs its \"event.name\"")?;
    let mut fields = Vec::new();
    for (field, value) in table {
        let value = match value {
            toml::Value::Integer(number) => FixtureValue::Int(*number),
            toml::Value::Boolean(flag) => FixtureValue::Bool(*flag),
            toml::Value::String(text) => FixtureValue::Text(text.clone()),
            toml::Value::Datetime(at) => FixtureValue::Text(at.to_string()),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_integer) => {
                FixtureValue::Ints(items.iter().filter_map(toml::Value::as_integer).collect())
            }
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => {
                FixtureValue::Texts(
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect(),
                )
            }
            other => return Err(format!("`{field}`: unsupported value {}", shown(other))),
        };
        fields.push((field.as_str(), value));
    }
    event_from_fields(name, fields).map_err(|error| error.to_string())
}

/// Differences between the expected and the actual record: a field the
/// record lacks is explained by the tenant's rule for it (or its absence).
fn compare(expected: &toml::Table, record: &mut dyn Record, tenant: &TenantPolicy) -> Vec<String> {
    let schema = Arc::clone(record.schema());
    let mut actual: BTreeMap<&str, (FieldType, Value)> = BTreeMap::new();
    let mut columns = schema.columns.iter();
    record.visit_columns(&mut |value| {
        if let Some(column) = columns.next()
            && value != FieldValue::Null
            && column.name != POLICY_HASH_COLUMN.name
        {
            actual.insert(column.name, (column.field_type, json_value(value)));
        }
    });
    let mut failures = Vec::new();
    for (name, expected_value) in expected {
        let Some((field_type, actual_value)) = actual.remove(name.as_str()) else {
            let why = match tenant.field_actions.get(name.as_str()) {
                Some(Action::Drop) => format!(" (tenant `{}` drops it: rule `drop`)", tenant.name),
                Some(_) => String::new(),
                None => format!(
                    " (tenant `{}` has no rule for it, and a field without one never leaves)",
                    tenant.name
                ),
            };
            failures.push(format!(
                "`{name}`: expected {}, but the record has no value for it{why}",
                shown(expected_value)
            ));
            continue;
        };
        if !matches(expected_value, field_type, &actual_value) {
            failures.push(format!(
                "`{name}`: expected {}, got {actual_value}",
                shown(expected_value)
            ));
        }
    }
    for (name, (_, value)) in actual {
        failures.push(format!(
            "`{name}` leaves with {value}, but the case does not expect it"
        ));
    }
    failures
}

fn matches(expected: &toml::Value, field_type: FieldType, actual: &Value) -> bool {
    if let (Some(ANY_PSEUDONYM), Some(text)) = (expected.as_str(), actual.as_str()) {
        return text.starts_with(scrim_redaction::PSEUDONYM_PREFIX)
            && text.len() == scrim_redaction::PSEUDONYM_LEN;
    }
    if let (toml::Value::Array(items), Some(texts)) = (expected, actual.as_array())
        && items.len() == texts.len()
        && items
            .iter()
            .any(|item| item.as_str() == Some(ANY_PSEUDONYM))
    {
        return items
            .iter()
            .zip(texts)
            .all(|(item, text)| matches(item, field_type, text));
    }
    if field_type == FieldType::Timestamp {
        let expected_text = match expected {
            toml::Value::Datetime(at) => at.to_string(),
            toml::Value::String(text) => text.clone(),
            _ => return false,
        };
        return actual.as_str().and_then(nanos_of) == nanos_of(&expected_text);
    }
    serde_json::to_value(expected).is_ok_and(|expected| expected == *actual)
}

/// A TOML value as JSON text, for messages.
fn shown(value: &toml::Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

fn nanos_of(rfc3339: &str) -> Option<u128> {
    humantime::parse_rfc3339(rfc3339)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|since| since.as_nanos())
}

/// A column value as JSON, times in RFC 3339 (as JSON-lines archives have it).
fn json_value(value: FieldValue<'_>) -> Value {
    match value {
        FieldValue::Null => Value::Null,
        FieldValue::Int(number) => Value::from(number),
        FieldValue::Bool(flag) => Value::from(flag),
        FieldValue::String(text) => Value::from(text),
        FieldValue::StringList(texts) => Value::from(texts.to_vec()),
        FieldValue::IntList(numbers) => Value::from(numbers.to_vec()),
        FieldValue::Ip(address) => Value::from(address.to_string()),
        FieldValue::Timestamp(at) => Value::from(UtcDateTime::from_unix_nanos(at).rfc3339()),
    }
}
