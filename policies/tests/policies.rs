//! The shipped examples pass; each invalid policy in the corpus fails with
//! its expected line, column and message.
use std::{fs, os::unix::fs::PermissionsExt as _, path::Path};

use scrim_policies::{Diagnostic, KeyUse, PolicyText, compile, parse};
use scrim_testkit::keys::directory_with_master_key;

#[test]
fn every_shipped_example_is_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in fs::read_dir(&examples).expect("examples folder") {
        let example = entry.expect("entry").path();
        if example.is_dir() {
            continue; // the cases folder
        }
        let directory = directory_with_master_key();
        let copy = directory
            .path()
            .join(example.file_name().expect("file name"));
        fs::copy(&example, &copy).expect("copy example");
        if let Err(error) = compile(&copy) {
            panic!("{} is invalid:\n{error}", example.display());
        }
        checked += 1;
    }
    assert_eq!(
        checked, 4,
        "default, kubernetes (in TOML and YAML) and strict"
    );
}

/// A valid policy that the cases below break one way each.
const VALID: &str = r#"version = 1

[defaults]
unknown_tenant = "drop"

[keys]
master_key_file = "master.key"
rotation = "30d"

[[tenant]]
name = "acme"
purpose = "security monitoring"
legal_basis = "legitimate_interests"
match = { cgroup_path = ["/acme/**"] }
capture = ["process", "network", "syscall:openat,connect"]
retention = { process = "30d", network = "7d", syscall = "7d" }
sinks = [{ parquet = { path = "/var/lib/scrim" } }]
special_categories = "test data only"
[tenant.fields]
"process.executable.path" = "keep"
"process.real_user.id" = "pseudonymize"
"network.peer.address" = { truncate = { ipv4 = 24, ipv6 = 48 } }
"time" = { coarsen = "1m" }
"file.path" = { generalize = { depth = 2 } }
"process.command_args" = "scrub_secrets"
"#;

fn check(source: &str) -> Result<(), Vec<Diagnostic>> {
    let directory = directory_with_master_key();
    parse(source, directory.path()).map(|_| ())
}

#[test]
fn the_base_of_the_corpus_is_valid() {
    check(VALID).unwrap_or_else(|errors| panic!("{errors:#?}"));
}

/// (what, replace this, with this, expected line:column, expected message part)
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "syntax error",
        "version = 1",
        "version = = 1",
        "1:11",
        "extra `=`",
    ),
    (
        "wrong version",
        "version = 1",
        "version = 2",
        "1:11",
        "unsupported policy version 2",
    ),
    (
        "misspelt top-level key",
        "[defaults]",
        "[defualts]",
        "3:2",
        "did you mean `defaults`?",
    ),
    (
        "misspelt tenant key",
        "purpose =",
        "purpse =",
        "12:1",
        "did you mean `purpose`?",
    ),
    (
        "misspelt key in keys",
        "rotation =",
        "rotaton =",
        "8:1",
        "did you mean `rotation`?",
    ),
    (
        "misspelt selector",
        "cgroup_path =",
        "cgroup_paht =",
        "14:11",
        "did you mean `cgroup_path`?",
    ),
    (
        "unknown action",
        "= \"keep\"",
        "= \"kep\"",
        "20:29",
        "did you mean `keep`?",
    ),
    (
        "unknown sink",
        "{ parquet =",
        "{ parquett =",
        "17:12",
        "did you mean `parquet`?",
    ),
    (
        "missing purpose",
        "purpose = \"security monitoring\"\n",
        "",
        "10:1",
        "missing field `purpose`",
    ),
    (
        "missing sinks",
        "sinks = [{ parquet = { path = \"/var/lib/scrim\" } }]\n",
        "",
        "10:1",
        "missing field `sinks`",
    ),
    (
        "version as text",
        "version = 1",
        "version = \"1\"",
        "1:11",
        "invalid type",
    ),
    (
        "unknown field name",
        "\"process.executable.path\" = \"keep\"",
        "\"process.executable.pth\" = \"keep\"",
        "20:1",
        "did you mean `process.executable.path`?",
    ),
    (
        "field of an uncaptured kind",
        "capture = [\"process\", \"network\", \"syscall:openat,connect\"]",
        "capture = [\"process\", \"network\"]",
        "24:1",
        "only syscall events carry",
    ),
    (
        "truncate on a path",
        "\"file.path\" = { generalize = { depth = 2 } }",
        "\"file.path\" = { truncate = { ipv4 = 8, ipv6 = 8 } }",
        "24:15",
        "`truncate` cannot apply to `file.path`",
    ),
    (
        "truncate beyond 32 bits",
        "ipv4 = 24",
        "ipv4 = 33",
        "22:26",
        "at most 32 IPv4",
    ),
    (
        "coarsen on an integer",
        "\"time\" = { coarsen = \"1m\" }",
        "\"process.pid\" = { coarsen = \"1m\" }",
        "23:17",
        "`coarsen` cannot apply to `process.pid`",
    ),
    (
        "coarsen without a duration",
        "coarsen = \"1m\"",
        "coarsen = \"often\"",
        "23:10",
        "coarsen takes a duration",
    ),
    (
        "generalize with nothing",
        "generalize = { depth = 2 }",
        "generalize = {}",
        "24:15",
        "needs a depth or prefixes",
    ),
    (
        "scrub_secrets on an integer",
        "\"process.command_args\" = \"scrub_secrets\"",
        "\"process.pid\" = \"scrub_secrets\"",
        "25:17",
        "`scrub_secrets` cannot apply to `process.pid`",
    ),
    (
        "pseudonymize a timestamp",
        "\"process.real_user.id\" = \"pseudonymize\"",
        "\"process.creation.time\" = \"pseudonymize\"",
        "21:27",
        "`pseudonymize` cannot apply",
    ),
    (
        "pseudonymize without keys",
        "[keys]\nmaster_key_file = \"master.key\"\nrotation = \"30d\"\n",
        "",
        "18:26",
        "pseudonymize needs a key",
    ),
    (
        "unknown event kind",
        "capture = [\"process\",",
        "capture = [\"proces\",",
        "15:12",
        "did you mean `process`?",
    ),
    (
        "unknown syscall",
        "syscall:openat,connect",
        "syscall:openat,conect",
        "15:34",
        "did you mean `connect`?",
    ),
    (
        "syscall without a list",
        "\"syscall:openat,connect\"]",
        "\"syscall\"]",
        "15:34",
        "needs the syscalls to capture",
    ),
    (
        "list on a non-syscall kind",
        "[\"process\", \"network\",",
        "[\"process:exec\", \"network\",",
        "15:12",
        "only syscall captures take a list",
    ),
    (
        "captures nothing",
        "capture = [\"process\", \"network\", \"syscall:openat,connect\"]",
        "capture = []",
        "11:8",
        "captures nothing",
    ),
    (
        "no retention for a kind",
        "retention = { process = \"30d\", network = \"7d\", syscall = \"7d\" }",
        "retention = { process = \"30d\", syscall = \"7d\" }",
        "11:8",
        "captures network events but sets no retention",
    ),
    (
        "misspelt retention kind",
        "network = \"7d\",",
        "netwrok = \"7d\",",
        "16:32",
        "did you mean `network`?",
    ),
    (
        "retention not a duration",
        "process = \"30d\",",
        "process = \"a month\",",
        "16:25",
        "is not a duration",
    ),
    (
        "zero retention",
        "process = \"30d\",",
        "process = \"0s\",",
        "16:25",
        "longer than zero",
    ),
    (
        "rotation not a duration",
        "rotation = \"30d\"",
        "rotation = \"monthly\"",
        "8:12",
        "key rotation \"monthly\" is not a duration",
    ),
    (
        "missing key file",
        "master_key_file = \"master.key\"",
        "master_key_file = \"absent.key\"",
        "7:19",
        "cannot be read",
    ),
    (
        "unknown tenant default",
        "unknown_tenant = \"drop\"",
        "unknown_tenant = \"acmee\"",
        "4:18",
        "did you mean `acme`?",
    ),
    (
        "empty sinks",
        "sinks = [{ parquet = { path = \"/var/lib/scrim\" } }]",
        "sinks = []",
        "17:9",
        "has no sink",
    ),
    (
        "sink without a destination",
        "path = \"/var/lib/scrim\"",
        "path = \"\"",
        "17:10",
        "has no destination",
    ),
    (
        "archive in an unknown object store",
        "path = \"/var/lib/scrim\"",
        "path = \"gs://bucket/archive\"",
        "17:10",
        "neither a directory nor object storage",
    ),
    (
        "bucket URL without a bucket",
        "path = \"/var/lib/scrim\"",
        "path = \"s3:///archive\"",
        "17:10",
        "give a directory or s3://bucket/prefix",
    ),
    (
        "otlp endpoint without scheme",
        "{ parquet = { path = \"/var/lib/scrim\" } }",
        "{ otlp = { endpoint = \"gateway:4317\" } }",
        "17:10",
        "must start with http://",
    ),
    (
        "selector matching nothing",
        "match = { cgroup_path = [\"/acme/**\"] }",
        "match = {}",
        "14:9",
        "matches nothing",
    ),
    (
        "backwards uid range",
        "match = { cgroup_path = [\"/acme/**\"] }",
        "match = { uid_range = [2000, 1000] }",
        "14:23",
        "first <= last",
    ),
    (
        "tenant name unfit for a directory",
        "name = \"acme\"",
        "name = \"ac me\"",
        "11:8",
        "must be letters, digits",
    ),
    (
        "empty purpose",
        "purpose = \"security monitoring\"",
        "purpose = \" \"",
        "12:11",
        "empty purpose",
    ),
    (
        "a quota of nothing",
        "sinks = [{ parquet = { path = \"/var/lib/scrim\" } }]",
        "sinks = [{ parquet = { path = \"/var/lib/scrim\" } }]\nquota = { events_per_second = 0 }",
        "18:9",
        "quota must allow at least one event",
    ),
    (
        "relative cgroup path",
        "cgroup_path = [\"/acme/**\"]",
        "cgroup_path = [\"acme/**\"]",
        "14:26",
        "must start with `/`",
    ),
    (
        "broken cgroup glob",
        "cgroup_path = [\"/acme/**\"]",
        "cgroup_path = [\"/acme/[a\"]",
        "14:26",
        "not a cgroup path glob",
    ),
    (
        "legal basis not one of the six",
        "legal_basis = \"legitimate_interests\"",
        "legal_basis = \"because we can\"",
        "13:15",
        "unknown variant `because we can`, expected one of `consent`, `contract`, \
         `legal_obligation`, `vital_interests`, `public_task`, `legitimate_interests`",
    ),
    (
        "legal basis misspelt",
        "legal_basis = \"legitimate_interests\"",
        "legal_basis = \"legitimate_interest\"",
        "13:15",
        "did you mean `legitimate_interests`?",
    ),
    (
        "paths and arguments kept without the Art. 9 acknowledgement",
        "special_categories = \"test data only\"\n",
        "\n",
        "11:8",
        "special categories of personal data (GDPR Art. 9",
    ),
    (
        "an empty DPIA reference",
        "special_categories = \"test data only\"\n",
        "special_categories = \"test data only\"\ndpia = \"\"\n",
        "19:8",
        "empty dpia",
    ),
    (
        "generalize prefix without a wildcard",
        "{ generalize = { depth = 2 } }",
        "{ generalize = { prefixes = [\"/home\"] } }",
        "24:15",
        "hides nothing",
    ),
];

#[test]
fn each_invalid_policy_names_its_line_column_and_problem() {
    assert!(CASES.len() >= 30, "the corpus needs at least 30 cases");
    let mut mismatches = Vec::new();
    for (what, from, to, location, message) in CASES {
        assert!(VALID.contains(from), "{what}: the base has no {from:?}");
        let broken = VALID.replacen(from, to, 1);
        let errors = match check(&broken) {
            Ok(()) => {
                mismatches.push(format!("{what}: accepted"));
                continue;
            }
            Err(errors) => errors,
        };
        let found = errors.iter().any(|error| {
            format!("{}:{}", error.line, error.column) == *location
                && error.message.contains(message)
        });
        if !found {
            let got: Vec<String> = errors
                .iter()
                .map(|error| format!("{}:{} {}", error.line, error.column, error.message))
                .collect();
            mismatches.push(format!(
                "{what}: expected {location} {message:?}, got {got:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn overlapping_selectors_are_an_error_at_the_second_claim() {
    let second = r#"
[[tenant]]
name = "other"
purpose = "p"
legal_basis = "contract"
match = { cgroup_path = ["/acme/**"] }
capture = ["process"]
retention = { process = "1d" }
sinks = [{ jsonl = { path = "out" } }]
"#;
    let errors = check(&format!("{VALID}{second}")).expect_err("overlap accepted");
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains("already claimed by tenant `acme`")),
        "{errors:#?}"
    );
}

#[test]
fn overlapping_uid_ranges_are_an_error_at_the_second_tenant() {
    let source = VALID.replace(
        r#"match = { cgroup_path = ["/acme/**"] }"#,
        r#"match = { uid_range = [1000, 1999] }"#,
    );
    let second = r#"
[[tenant]]
name = "other"
purpose = "p"
legal_basis = "contract"
match = { uid_range = [1500, 2500] }
capture = ["process"]
retention = { process = "1d" }
sinks = [{ jsonl = { path = "out" } }]
"#;
    let errors = check(&format!("{source}{second}")).expect_err("overlap accepted");
    let overlap = errors
        .iter()
        .find(|error| error.message.contains("overlaps tenant `acme`'s"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert_eq!(overlap.line, source.lines().count() + 6, "{overlap:#?}");
}

#[test]
fn an_otlp_sink_needs_time() {
    let source = VALID
        .replace(
            r#"sinks = [{ parquet = { path = "/var/lib/scrim" } }]"#,
            r#"sinks = [{ otlp = { endpoint = "http://127.0.0.1:4317", protocol = "grpc" } }]"#,
        )
        .replace("\"time\" = { coarsen = \"1m\" }\n", "");
    let errors = check(&source).expect_err("an OTLP sink without time accepted");
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains("an OTLP sink needs `time`")),
        "{errors:#?}"
    );
    check(&VALID.replace(
        r#"sinks = [{ parquet = { path = "/var/lib/scrim" } }]"#,
        r#"sinks = [{ otlp = { endpoint = "http://127.0.0.1:4317", protocol = "grpc" } }]"#,
    ))
    .unwrap_or_else(|errors| panic!("{errors:#?}"));
}

#[test]
fn more_uid_rules_than_the_kernel_holds_is_an_error() {
    let uids: Vec<String> = (0..17).map(|uid| (60_000 + uid).to_string()).collect();
    let source = VALID.replacen(
        "version = 1\n",
        &format!(
            "version = 1\nopt_out = [{{ uid = [{}] }}]\n",
            uids.join(", ")
        ),
        1,
    );
    let errors = check(&source).expect_err("17 uid rules accepted");
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains("more than 16 uid rules")),
        "{errors:#?}"
    );
}

#[test]
fn an_empty_opt_out_is_an_error_where_it_stands() {
    let source = VALID.replacen("version = 1\n", "version = 1\nopt_out = [{}]\n", 1);
    let errors = check(&source).expect_err("empty opt-out accepted");
    assert!(
        errors
            .iter()
            .any(|error| (error.line, error.column) == (2, 12)
                && error.message.contains("lists no cgroup_path")),
        "{errors:#?}"
    );
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let directory = directory_with_master_key();
    let key = directory.path().join("master.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    let errors = parse(VALID, directory.path()).expect_err("open key accepted");
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains("chmod 600")),
        "{errors:#?}"
    );
}

/// A policy is checked where its master key must never be (a Git CI
/// job): pseudonyms are then made with a public test key.
#[test]
fn every_shipped_example_is_valid_without_its_master_key() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in [
        "default.toml",
        "kubernetes.toml",
        "kubernetes.yaml",
        "strict.toml",
    ] {
        let example = examples.join(name);
        assert!(!examples.join("master.key").exists());
        let text = PolicyText::read(&example).expect("read the example");
        if let Err(error) = text.compile(KeyUse::Test) {
            panic!("{name} needs its key to be checked:\n{error}");
        }
        let error = text.compile(KeyUse::Read).err();
        assert_eq!(
            error.is_some(),
            name != "default.toml",
            "{name}: without the file, reading the key fails: {error:?}"
        );
    }
}

#[test]
fn legitimate_interests_without_an_assessment_is_a_warning() {
    let directory = directory_with_master_key();
    let path = directory.path().join("policy.toml");
    fs::write(&path, VALID).expect("write");
    let text = PolicyText::read(&path).expect("read");
    let compiled = text
        .compile(KeyUse::Read)
        .expect("a warning refuses nothing");
    let warnings: Vec<String> = compiled
        .warnings()
        .iter()
        .map(|warning| format!("{}:{} {}", warning.line, warning.column, warning.message))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("13:15 tenant `acme` relies on legitimate interests"),
        "{warnings:?}"
    );
    fs::write(
        &path,
        VALID.replace(
            "legal_basis = \"legitimate_interests\"\n",
            "legal_basis = \"legitimate_interests\"\nlia = \"LIA-1\"\n",
        ),
    )
    .expect("write");
    let text = PolicyText::read(&path).expect("read");
    assert!(
        text.compile(KeyUse::Read)
            .expect("valid")
            .warnings()
            .is_empty()
    );
}

#[test]
fn load_names_the_file_in_every_error() {
    let directory = directory_with_master_key();
    let path = directory.path().join("bad.toml");
    fs::write(&path, VALID.replace("version = 1", "version = 9")).expect("write");
    let error = compile(&path).expect_err("bad version accepted");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1:11: unsupported policy version 9; this scrim reads version 1",
            path.display()
        )
    );
}
