//! Record plans applied to events: what leaves is exactly what the rules
//! say, in the form they say, and nothing else.
use std::path::Path;

use proptest::prelude::*;
use scrim_event::{
    Direction, Event, EventKind, FieldValue, NetworkEvent, NetworkEventKind, ProcessContext,
    ProcessEvent, ProcessEventKind, SocketAddress, SyscallEvent,
    field::{self, FieldType},
    record::Record,
};
use scrim_policies::{CompiledPolicy, compile_source};
use scrim_testkit::keys::directory_with_master_key;

const MINUTE_NANOS: i64 = 60_000_000_000;

/// A policy capturing every kind, with `rules` as its field rules.
fn policy_with_rules(rules: &str, directory: &Path) -> CompiledPolicy {
    let source = format!(
        r#"version = 1
[keys]
master_key_file = "master.key"
rotation = "30d"

[[tenant]]
name = "acme"
purpose = "testing"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["/acme/**"] }}
capture = ["process", "network", "syscall:openat"]
retention = {{ process = "1d", network = "1d", syscall = "1d" }}
sinks = [{{ parquet = {{ path = "archive" }} }}]

[tenant.fields]
{rules}
"#
    );
    compile_source(&source, directory).unwrap_or_else(|errors| panic!("{errors:#?}\n{source}"))
}

/// A column's value as text, for comparing.
fn text(value: FieldValue<'_>) -> String {
    match value {
        FieldValue::Null => "null".into(),
        FieldValue::Int(number) => number.to_string(),
        FieldValue::Bool(flag) => flag.to_string(),
        FieldValue::String(text) => text.to_owned(),
        FieldValue::StringList(texts) => texts.join(" "),
        FieldValue::IntList(numbers) => format!("{numbers:?}"),
        FieldValue::Ip(address) => address.to_string(),
        FieldValue::Timestamp(at) => at.to_string(),
    }
}

/// The record as (column, value text) pairs.
fn columns(record: &mut dyn Record) -> Vec<(&'static str, String)> {
    let schema = std::sync::Arc::clone(record.schema());
    let mut values = Vec::new();
    record.visit_columns(&mut |value| values.push(text(value)));
    assert_eq!(
        values.len(),
        schema.columns.len(),
        "one value per schema column"
    );
    schema
        .columns
        .iter()
        .map(|column| column.name)
        .zip(values)
        .collect()
}

fn exec_event() -> Event {
    Event::Process(ProcessEvent {
        kind: ProcessEventKind::Exec,
        time: 1_795_633_169_123_456_789,
        process: ProcessContext {
            pid: 4242,
            parent_pid: 1,
            real_user_id: 1000,
            real_group_id: 1000,
            cgroup_id: 77,
            executable_name: Some("psql".into()),
            creation_time: 1_795_633_169_000_000_000,
        },
        executable_path: Some("/home/alice/bin/psql".into()),
        executable_path_truncated: false,
        command_args: Some(vec!["psql".into(), "--password=hunter2".into()]),
        command_args_truncated: false,
        exit: None,
    })
}

#[test]
fn applies_each_rule_and_drops_every_unruled_field() {
    let directory = directory_with_master_key();
    let policy = policy_with_rules(
        r#""time" = { coarsen = "1m" }
"event.name" = "keep"
"process.pid" = "pseudonymize"
"process.executable.path" = { generalize = { prefixes = ["/home/*"] } }
"process.command_args" = "scrub_secrets"
"process.real_user.id" = "drop""#,
        directory.path(),
    );
    let mut plans = policy.record_plans();
    let event = exec_event();
    let mut record = plans[0].apply(&event).expect("process is captured");
    let columns = columns(&mut record);
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "time",
            "event.name",
            "process.pid",
            "process.executable.path",
            "process.command_args",
            "scrim.policy.hash"
        ]
    );
    let value = |name: &str| &columns.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_eq!(
        value("time"),
        &(1_795_633_169_123_456_789 / MINUTE_NANOS * MINUTE_NANOS).to_string()
    );
    assert_eq!(value("event.name"), "process.exec");
    assert!(value("process.pid").starts_with("p1_"));
    assert_eq!(value("process.pid").len(), 35);
    assert_eq!(value("process.executable.path"), "/home/*/bin/psql");
    assert_eq!(
        value("process.command_args"),
        "psql --password=[REDACTED:credential_flag]"
    );
    assert_eq!(value("scrim.policy.hash"), policy.hash());
    assert_eq!(policy.hash().len(), 64);
}

#[test]
fn the_same_uid_has_the_same_pseudonym_in_a_tenant_and_another_in_the_next() {
    let directory = directory_with_master_key();
    let rules = r#""process.real_user.id" = "pseudonymize""#;
    let policy = policy_with_rules(rules, directory.path());
    let mut plans = policy.record_plans();
    let pseudonym_of = |plans: &mut Vec<scrim_policies::RecordPlan>, event: &Event| {
        let mut record = plans[0].apply(event).expect("captured");
        columns(&mut record)[0].1.clone()
    };
    let first = pseudonym_of(&mut plans, &exec_event());
    let Event::Process(mut later) = exec_event() else {
        unreachable!()
    };
    later.time += MINUTE_NANOS;
    assert_eq!(
        first,
        pseudonym_of(&mut plans, &Event::Process(later.clone()))
    );
    later.time += 31 * 24 * 60 * MINUTE_NANOS;
    assert_ne!(first, pseudonym_of(&mut plans, &Event::Process(later)));
}

#[test]
fn kinds_a_tenant_does_not_capture_become_no_record() {
    let directory = directory_with_master_key();
    let source = r#"version = 1
[[tenant]]
name = "acme"
purpose = "testing"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = { cgroup_path = ["/**"] }
capture = ["network"]
retention = { network = "1d" }
sinks = [{ parquet = { path = "archive" } }]
"#;
    let policy = compile_source(source, directory.path()).expect("valid");
    let mut plans = policy.record_plans();
    assert!(plans[0].apply(&exec_event()).is_none());
    assert!(plans[0].schema(EventKind::Network).is_some());
}

// Property: whatever the event and whatever the rules, a record has a
// column only for fields some rule keeps in some form, and the text of a
// field no rule keeps is nowhere in it.

fn context() -> impl Strategy<Value = ProcessContext> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        "[a-z]{1,15}",
        any::<i64>(),
    )
        .prop_map(
            |(pid, uid, gid, cgroup_id, name, creation_time)| ProcessContext {
                pid,
                parent_pid: pid / 2,
                real_user_id: uid,
                real_group_id: gid,
                cgroup_id,
                executable_name: Some(format!("comm-{name}")),
                creation_time,
            },
        )
}

fn socket() -> impl Strategy<Value = Option<SocketAddress>> {
    proptest::option::of(
        (any::<std::net::IpAddr>(), any::<u16>())
            .prop_map(|(address, port)| SocketAddress { address, port }),
    )
}

fn event() -> impl Strategy<Value = Event> {
    let process = (
        context(),
        0..3u8,
        any::<i64>(),
        "[a-z/]{0,40}",
        proptest::collection::vec("[ -~]{0,20}", 0..4),
    )
        .prop_map(|(process, kind, time, path, args)| {
            Event::Process(ProcessEvent {
                kind: [
                    ProcessEventKind::Fork,
                    ProcessEventKind::Exec,
                    ProcessEventKind::Exit,
                ][usize::from(kind)],
                time,
                process,
                executable_path: Some(format!("/exe-path/{path}")),
                executable_path_truncated: false,
                command_args: Some(args.into_iter().map(|arg| format!("arg-{arg}")).collect()),
                command_args_truncated: false,
                exit: None,
            })
        });
    let syscall = (
        context(),
        any::<i64>(),
        "[a-z/]{0,40}",
        socket(),
        socket(),
        proptest::collection::vec(any::<i64>(), 0..3),
    )
        .prop_map(|(process, time, path, peer, local, ids)| {
            Event::Syscall(SyscallEvent {
                time,
                process,
                number: 257,
                path: Some(format!("/file-path/{path}")),
                second_path: Some(format!("/second-path/{path}")),
                text: Some(format!("text-{path}")),
                fd: Some(3),
                ids: Some(ids),
                peer,
                local,
                ..SyscallEvent::default()
            })
        });
    let network =
        (context(), any::<i64>(), socket(), socket()).prop_map(|(process, time, local, peer)| {
            Event::Network(NetworkEvent {
                kind: NetworkEventKind::Close,
                time,
                process,
                direction: Direction::Outbound,
                local,
                peer,
                bytes_sent: Some(1),
                bytes_received: Some(2),
                duration_ns: Some(3),
            })
        });
    prop_oneof![process, syscall, network]
}

/// The actions that fit each field's type, as TOML values.
fn fitting_actions(field_type: FieldType) -> Vec<&'static str> {
    let mut actions = vec!["\"keep\"", "\"drop\""];
    actions.extend(match field_type {
        FieldType::Int | FieldType::IntList => vec!["\"pseudonymize\""],
        FieldType::String | FieldType::StringList => vec!["\"pseudonymize\"", "\"scrub_secrets\""],
        FieldType::Path => vec![
            "\"pseudonymize\"",
            "\"scrub_secrets\"",
            "{ generalize = { depth = 1 } }",
        ],
        FieldType::IpAddress => vec!["\"pseudonymize\"", "{ truncate = { ipv4 = 8, ipv6 = 16 } }"],
        FieldType::Timestamp => vec!["{ coarsen = \"1h\" }"],
        FieldType::Bool => vec![],
    });
    actions
}

/// For each catalogued field, no rule or one fitting action.
fn rules() -> impl Strategy<Value = Vec<Option<&'static str>>> {
    let per_field: Vec<_> = field::ALL
        .iter()
        .map(|field| {
            proptest::option::of(proptest::sample::select(fitting_actions(field.field_type)))
        })
        .collect();
    per_field
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn nothing_leaves_that_no_rule_keeps(event in event(), chosen in rules()) {
        let directory = directory_with_master_key();
        let rules: String = field::ALL
            .iter()
            .zip(&chosen)
            .filter_map(|(field, action)| action.map(|action| format!("{:?} = {action}\n", field.name)))
            .collect();
        let policy = policy_with_rules(&rules, directory.path());
        let kept: Vec<&str> = field::ALL
            .iter()
            .zip(&chosen)
            .filter(|(_, action)| matches!(action, Some(action) if *action != "\"drop\""))
            .map(|(field, _)| field.name)
            .collect();
        let mut plans = policy.record_plans();
        let mut record = plans[0].apply(&event).expect("every kind is captured");
        let columns = columns(&mut record);
        for (name, _) in &columns {
            prop_assert!(*name == "scrim.policy.hash" || kept.contains(name), "{name} left without a rule");
        }
        // Text values carry a marker naming their field: none of an
        // unkept field's may appear anywhere.
        let everything: String = columns.iter().map(|(_, value)| value.as_str()).collect::<Vec<_>>().join("\n");
        for (marker, field_name) in [
            ("comm-", "process.executable.name"),
            ("/exe-path/", "process.executable.path"),
            ("arg-", "process.command_args"),
            ("/file-path/", "file.path"),
            ("/second-path/", "scrim.syscall.second_path"),
            ("text-", "scrim.syscall.text"),
        ] {
            if !kept.contains(&field_name) {
                prop_assert!(!everything.contains(marker), "{field_name} leaked: {everything}");
            }
        }
    }
}

#[test]
fn the_yaml_example_compiles_to_what_its_toml_twin_does() {
    let directory = directory_with_master_key();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let compiled = |name: &str| {
        let copy = directory.path().join(name);
        std::fs::copy(examples.join(name), &copy).expect("copy example");
        scrim_policies::compile(&copy).unwrap_or_else(|error| panic!("{error}"))
    };
    let toml = compiled("kubernetes.toml");
    let yaml = compiled("kubernetes.yaml");
    assert_eq!(toml.tenants().len(), yaml.tenants().len());
    for (from_toml, from_yaml) in toml.tenants().iter().zip(yaml.tenants()) {
        assert_eq!(from_toml.name, from_yaml.name);
        assert_eq!(from_toml.capture, from_yaml.capture);
        assert_eq!(from_toml.retention, from_yaml.retention);
        assert_eq!(from_toml.sinks, from_yaml.sinks);
    }
    let (mut toml_plans, mut yaml_plans) = (toml.record_plans(), yaml.record_plans());
    for kind in EventKind::ALL {
        let schemas = |plans: &Vec<scrim_policies::RecordPlan>| {
            plans
                .iter()
                .map(|plan| plan.schema(kind).map(|schema| schema.columns.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(schemas(&toml_plans), schemas(&yaml_plans), "{kind:?}");
    }
    let exec = exec_event();
    let mut from_toml = toml_plans[0].apply(&exec).expect("payments captures exec");
    let mut from_yaml = yaml_plans[0].apply(&exec).expect("payments captures exec");
    let names = |columns: Vec<(&'static str, String)>| {
        columns
            .into_iter()
            .filter(|(name, _)| *name != "scrim.policy.hash")
            .collect::<Vec<_>>()
    };
    let toml_columns = names(columns(&mut from_toml));
    let yaml_columns = names(columns(&mut from_yaml));
    // Same columns; pseudonyms agree too (same key, tenant and epoch).
    assert_eq!(toml_columns, yaml_columns);
}

#[test]
fn yaml_errors_point_into_the_yaml() {
    let directory = directory_with_master_key();
    let path = directory.path().join("policy.yaml");
    std::fs::write(
        &path,
        "version: 1\ntenant:\n  - name: acme\n    purpose: p\n    legal_basis: contract\n    match: { cgroup_path: [\"/a/**\"] }\n    capture: [process]\n    retention: { process: 1d }\n    sinks: [{ parquet: { path: out } }]\n    fields:\n      process.executable.pth: keep\n      time: { coarsen: soon }\n",
    )
    .expect("write policy");
    let error = scrim_policies::compile(&path).expect_err("invalid");
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "{}:11:7: unknown field `process.executable.pth`",
            path.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("did you mean `process.executable.path`?"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:12:13: coarsen takes a duration",
            path.display()
        )),
        "{text}"
    );
}
