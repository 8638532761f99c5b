//! What ships in `deploy/` for running scrim elsewhere, checked by the
//! tools that run it.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use scrim_testkit::archive::{command_or_skip, program_or_skip};
use serde_json::{Value, json};

const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");
const UNIT: &str = include_str!("../../deploy/systemd/scrim.service");

#[test]
fn the_systemd_unit_verifies_and_bounds_scrims_capabilities() {
    let test = "the_systemd_unit_verifies_and_bounds_scrims_capabilities";
    // What scrim keeps after start must be within the unit's bounding set.
    let bounding = UNIT
        .lines()
        .find_map(|line| line.strip_prefix("CapabilityBoundingSet="))
        .expect("a capability bounding set");
    for kept in ["CAP_BPF", "CAP_PERFMON", "CAP_CHOWN"] {
        assert!(bounding.split_whitespace().any(|cap| cap == kept), "{kept}");
    }
    assert!(UNIT.contains("\nProtectSystem=strict\n"));
    // Every flag the unit gives `scrim run` is one it takes.
    let exec = UNIT
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart=/usr/local/bin/scrim run "))
        .expect("ExecStart runs scrim run");
    assert_scrim_run_takes(exec.split_whitespace());
    if !program_or_skip(test, "systemd-analyze") {
        return;
    }
    // systemd-analyze checks that the command exists: point it at this build.
    let directory = tempfile::tempdir().expect("tempdir");
    let unit = directory.path().join("scrim.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/scrim", SCRIM)).expect("unit");
    let verified = succeeds(Command::new("systemd-analyze").arg("verify").arg(&unit));
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(said.trim().is_empty(), "warnings: {said}");
}

/// The kustomizations shipped in `deploy/kubernetes`.
const KUSTOMIZATIONS: [&str; 2] = ["base", "overlays/example"];

/// `kubectl kustomize` of a shipped kustomization, written to a file in
/// `directory`.
fn kustomize(directory: &Path, kustomization: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/kubernetes")
        .join(kustomization);
    let built = succeeds(Command::new("kubectl").arg("kustomize").arg(&source));
    let rendered = directory.join(format!("{}.yaml", kustomization.replace('/', "-")));
    std::fs::write(&rendered, &built.stdout).expect("write the manifests");
    rendered
}

/// Every document of a YAML file, as JSON (read by PyYAML, which
/// kubernetes-validate brings).
fn documents(file: &Path) -> Vec<Value> {
    let read = succeeds(
        Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml\n\
                 print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            ])
            .arg(file),
    );
    serde_json::from_slice(&read.stdout).expect("JSON")
}

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents
        .iter()
        .filter(|document| document["kind"] == kind)
        .collect()
}

#[test]
fn the_kubernetes_manifests_validate_and_grant_only_what_scrim_needs() {
    let test = "the_kubernetes_manifests_validate_and_grant_only_what_scrim_needs";
    if !command_or_skip(test, "kubectl", &["kustomize", "--help"])
        || !program_or_skip(test, "kubernetes-validate")
    {
        return;
    }
    let directory = tempfile::tempdir().expect("tempdir");
    for kustomization in KUSTOMIZATIONS {
        let rendered = kustomize(directory.path(), kustomization);
        // Every manifest against the Kubernetes schemas, unknown fields
        // refused.
        let validated = succeeds(
            Command::new("kubernetes-validate")
                .arg("--strict")
                .arg(&rendered),
        );
        let said = String::from_utf8_lossy(&validated.stdout).into_owned()
            + &String::from_utf8_lossy(&validated.stderr);
        let manifests = documents(&rendered);
        assert_eq!(
            said.matches(" passed for resource ").count(),
            manifests.len(),
            "{kustomization}: {said}"
        );
        println!("{kustomization}:\n{said}");

        let daemonset = of_kind(&manifests, "DaemonSet");
        let pod = &daemonset.first().expect("a DaemonSet")["spec"]["template"]["spec"];
        assert_eq!(pod["hostPID"], true);
        let container = &pod["containers"][0];
        let security = &container["securityContext"];
        assert_eq!(security["privileged"], false, "{kustomization}");
        assert_eq!(security["allowPrivilegeEscalation"], false);
        assert_eq!(security["readOnlyRootFilesystem"], true);
        assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
        // The capabilities are exactly the systemd unit's bounding set.
        let mut added: Vec<String> = security["capabilities"]["add"]
            .as_array()
            .expect("added capabilities")
            .iter()
            .map(|cap| format!("CAP_{}", cap.as_str().expect("a name")))
            .collect();
        added.sort();
        let mut bounding: Vec<String> = UNIT
            .lines()
            .find_map(|line| line.strip_prefix("CapabilityBoundingSet="))
            .expect("a bounding set")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        bounding.sort();
        assert_eq!(added, bounding, "{kustomization}");
        // Kernel and cgroup views read-only; only the state directory is
        // written.
        let host_paths: Vec<(&str, &str)> = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .filter_map(|volume| {
                Some((
                    volume["name"].as_str()?,
                    volume["hostPath"]["path"].as_str()?,
                ))
            })
            .collect();
        for mount in container["volumeMounts"].as_array().expect("mounts") {
            let name = mount["name"].as_str().expect("a name");
            let host = host_paths.iter().find(|(volume, _)| *volume == name);
            match host {
                Some((_, "/var/lib/scrim")) => assert_ne!(mount["readOnly"], true),
                _ => assert_eq!(mount["readOnly"], true, "{name} is writable"),
            }
        }
        let paths: Vec<&str> = host_paths.iter().map(|(_, path)| *path).collect();
        for needed in ["/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup"] {
            assert!(paths.contains(&needed), "{needed} is not mounted");
        }
        let key = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|volume| volume["secret"].is_object())
            .expect("the master key's Secret");
        assert_eq!(key["secret"]["defaultMode"], 0o400);
        for limit in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    container["resources"][limit][resource].is_string(),
                    "{limit}.{resource}"
                );
            }
        }
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(container[probe]["httpGet"]["path"], "/metrics", "{probe}");
        }
        let args = container["args"].as_array().expect("args");
        assert_scrim_run_takes(args.iter().map(|arg| arg.as_str().expect("text")));

        // Read-only access to pods and namespaces, nothing else.
        for role in of_kind(&manifests, "ClusterRole") {
            for rule in role["rules"].as_array().expect("rules") {
                assert_eq!(rule["apiGroups"], json!([""]));
                assert_eq!(rule["resources"], json!(["pods", "namespaces"]));
                assert_eq!(rule["verbs"], json!(["get", "list", "watch"]));
            }
        }

        // The policy in the ConfigMap checks clean (with a key of our own
        // where the Secret would be mounted).
        let config_maps = of_kind(&manifests, "ConfigMap");
        let policy = config_maps
            .iter()
            .find_map(|map| map["data"]["policy.toml"].as_str())
            .expect("the policy ConfigMap");
        let keys = scrim_testkit::keys::directory_with_master_key();
        let policy_file = keys.path().join("policy.toml");
        std::fs::write(
            &policy_file,
            policy.replace(
                "/etc/scrim/keys/master.key",
                &keys.path().join("master.key").display().to_string(),
            ),
        )
        .expect("policy");
        succeeds(
            Command::new(SCRIM)
                .args(["policy", "check"])
                .arg(&policy_file),
        );
        // The dashboard ConfigMap is the shipped dashboard.
        let dashboard = config_maps
            .iter()
            .find_map(|map| map["data"]["scrim.json"].as_str())
            .expect("the dashboard ConfigMap");
        assert_eq!(dashboard, include_str!("../../deploy/grafana/scrim.json"));
    }
}

/// Runs `command`, which must succeed; what it printed is in the panic if
/// not.
fn succeeds(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every flag among `words` (a manifest's arguments to `scrim`, `--flag`
/// or `--flag=value`) is one `scrim run` takes.
fn assert_scrim_run_takes<'a>(words: impl IntoIterator<Item = &'a str>) {
    let help = succeeds(Command::new(SCRIM).args(["run", "--help"])).stdout;
    let help = String::from_utf8_lossy(&help);
    for word in words.into_iter().filter(|word| word.starts_with("--")) {
        let flag = word.split('=').next().unwrap_or(word);
        assert!(help.contains(flag), "scrim run has no {flag}");
    }
}

const DOCKERFILE: &str = include_str!("../../deploy/container/Dockerfile");

#[test]
fn the_dockerfile_lints_clean_and_runs_scrim_with_flags_it_takes() {
    let test = "the_dockerfile_lints_clean_and_runs_scrim_with_flags_it_takes";
    // Two stages: the build, and a base with only the binary.
    assert_eq!(
        DOCKERFILE
            .lines()
            .filter(|line| line.starts_with("FROM "))
            .count(),
        2
    );
    assert!(DOCKERFILE.contains("scripts/setup.sh --build-only"));
    let command = DOCKERFILE
        .lines()
        .find_map(|line| line.strip_prefix("CMD "))
        .expect("a CMD");
    let words: Vec<String> = serde_json::from_str(command).expect("CMD in exec form");
    assert_eq!(words[0], "run");
    assert_scrim_run_takes(words.iter().map(String::as_str));
    // No Docker engine runs here: the image is checked by its linter.
    if !program_or_skip(test, "hadolint") {
        return;
    }
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/container/Dockerfile");
    succeeds(
        Command::new("hadolint")
            .args(["--no-color", "--failure-threshold", "info"])
            .arg(&dockerfile),
    );
}

#[test]
fn the_alert_rules_are_well_formed() {
    let test = "the_alert_rules_are_well_formed";
    if !scrim_testkit::archive::python_module_or_skip(test, "yaml") {
        return;
    }
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alerts.yaml");
    let documents = documents(&rules);
    let groups = documents[0]["groups"].as_array().expect("rule groups");
    let mut alerts = Vec::new();
    for rule in groups
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules"))
    {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        assert!(
            rule["expr"]
                .as_str()
                .is_some_and(|expr| expr.contains("scrim_")),
            "{name}"
        );
        assert!(
            ["warning", "critical"].contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
            "{name}"
        );
        assert!(rule["annotations"]["summary"].is_string(), "{name}");
        alerts.push(name.to_owned());
    }
    let before = alerts.len();
    alerts.sort();
    alerts.dedup();
    assert_eq!(alerts.len(), before, "alert names are unique");
}
