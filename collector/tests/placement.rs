//! Placement you can see, on real cgroups: `scrim policy place` lists which
//! cgroup went to which tenant and by which rule, `scrim run` logs each
//! placement at debug level and, when the kernel dropped events of cgroups
//! nobody claims, says so at the end; `scrim policy test` says why a case's
//! event is dropped.
mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Duration,
};

use common::{SCRIM, policy_file, start_with_policy_and};
use scrim_testkit::{cgroup::TestCgroup, gate};

/// Child groups made inside a test cgroup, removed before it.
struct Children(Vec<PathBuf>);

impl Children {
    fn make(parent: &TestCgroup, names: &[&str]) -> Self {
        let made = names
            .iter()
            .map(|name| {
                let path = parent.path().join(name);
                fs::create_dir(&path).expect("create a child cgroup");
                path
            })
            .collect();
        Children(made)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for path in &self.0 {
            for _ in 0..50 {
                if fs::remove_dir(path).is_ok() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Two tenants placed by path under `parent`: `team-a` and what is below
/// it, and `team-b` exactly; everything else dropped in the kernel.
fn two_tenants(parent: &str) -> String {
    let tenant = |name: &str, glob: &str| {
        format!(
            r#"[[tenant]]
name = "{name}"
purpose = "testing placement"
legal_basis = "legitimate_interests"
special_categories = "test paths only"
match = {{ cgroup_path = ["{glob}"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ jsonl = {{ path = "unused" }} }}]
[tenant.fields]
"process.executable.path" = "keep"
"#
        )
    };
    format!(
        "version = 1\n[defaults]\nunknown_tenant = \"drop\"\n{}{}",
        tenant("a", &format!("{parent}/team-a/**")),
        tenant("b", &format!("{parent}/team-b")),
    )
}

fn place(policy: &Path, format: &str) -> (bool, String, String) {
    let output = Command::new(SCRIM)
        .args(["policy", "place", "--format", format])
        .arg(policy)
        .output()
        .expect("run scrim policy place");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn policy_place_lists_two_tenants_placed_by_path_and_an_unclaimed_cgroup() {
    let test = "policy_place_lists_two_tenants_placed_by_path_and_an_unclaimed_cgroup";
    if !gate::root_or_skip(test) {
        return;
    }
    let Some(parent) = gate::or_skip(test, TestCgroup::create("place")) else {
        return;
    };
    let _children = Children::make(&parent, &["team-a", "team-b", "other"]);
    let root = parent.relative_path().expect("relative path");
    let policy = policy_file(&two_tenants(&root));
    let policy_path = policy.path().join("policy.toml");

    let (ok, stdout, stderr) = place(&policy_path, "text");
    assert!(ok, "{stderr}");
    // No pod selector: the Kubernetes API is not asked, and nothing is said.
    assert!(stderr.is_empty(), "{stderr}");
    let ours: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|line| line.contains(&root))
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .collect()
        })
        .collect();
    let team_a = format!("{root}/team-a");
    let team_b = format!("{root}/team-b");
    let other = format!("{root}/other");
    let a_rule = format!("cgroup_path \"{root}/team-a/**\"");
    let b_rule = format!("cgroup_path \"{root}/team-b\"");
    let unclaimed = "unclaimed, dropped in the kernel";
    assert_eq!(
        ours,
        [
            vec!["a", a_rule.as_str(), team_a.as_str()],
            vec!["b", b_rule.as_str(), team_b.as_str()],
            vec!["-", unclaimed, root.as_str()],
            vec!["-", unclaimed, other.as_str()],
        ],
        "{stdout}"
    );
    // Unclaimed ones come after every placed one, of the whole host.
    let lines: Vec<&str> = stdout.lines().collect();
    let first_unclaimed = lines
        .iter()
        .position(|line| line.contains(unclaimed))
        .expect("an unclaimed line");
    assert!(
        lines[first_unclaimed..lines.len() - 1]
            .iter()
            .all(|line| line.contains(unclaimed)),
        "{stdout}"
    );
    let summary = lines.last().expect("a summary line");
    assert!(summary.starts_with("policy place "), "{summary}");
    assert!(
        summary.contains(" 2 placed in a tenant, 0 opted out,"),
        "{summary}"
    );

    let (ok, stdout, stderr) = place(&policy_path, "json");
    assert!(ok, "{stderr}");
    let listing: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let entry = |path: &str| {
        listing["cgroups"]
            .as_array()
            .expect("cgroups")
            .iter()
            .find(|entry| entry["cgroup"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{path} not listed: {stdout}"))
    };
    assert_eq!(
        entry(&team_a),
        serde_json::json!({
            "cgroup": team_a, "placement": "tenant", "tenant": "a",
            "rule": a_rule, "pod": null,
        })
    );
    assert_eq!(entry(&team_b)["tenant"], "b");
    assert_eq!(
        entry(&other),
        serde_json::json!({
            "cgroup": other, "placement": "unclaimed", "tenant": null,
            "rule": null, "pod": null,
        })
    );
    assert_eq!(listing["unknown_tenant"], serde_json::Value::Null);
}

/// The rows of `listing` (text of `policy place` or `status`) under `root`.
fn rows_under<'a>(listing: &'a str, root: &str) -> Vec<Vec<&'a str>> {
    listing
        .lines()
        .filter(|line| line.contains(root))
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .collect()
        })
        .collect()
}

fn status(state: &Path, format: &str) -> (bool, String, String) {
    let output = Command::new(SCRIM)
        .args(["status", "--format", format, "--state-dir"])
        .arg(state)
        .output()
        .expect("run scrim status");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn status_lists_where_a_running_collector_placed_two_tenants_and_an_unclaimed_cgroup() {
    let test = "status_lists_where_a_running_collector_placed_two_tenants_and_an_unclaimed_cgroup";
    if !gate::root_or_skip(test) {
        return;
    }
    let Some(parent) = gate::or_skip(test, TestCgroup::create("status")) else {
        return;
    };
    let _before = Children::make(&parent, &["team-a", "other"]);
    let root = parent.relative_path().expect("relative path");
    let policy = policy_file(&two_tenants(&root));
    let state = tempfile::tempdir().expect("state");
    let (ok, _, said) = status(state.path(), "text");
    assert!(!ok && said.contains("no collector runs on"), "{said}");

    let Some(collector) = start_with_policy_and(
        test,
        &policy,
        None,
        &["--state-dir", state.path().to_str().expect("utf-8")],
    ) else {
        return;
    };
    // One made while it runs: followed, and listed too.
    let _after = Children::make(&parent, &["team-b"]);
    thread::sleep(Duration::from_millis(300));
    let (ok, stdout, stderr) = status(state.path(), "text");
    assert!(ok, "{stderr}");
    let policy_path = policy.path().join("policy.toml");
    assert!(
        stdout.starts_with(&format!(
            "collector pid {}, policy {} (hash ",
            collector.child.id(),
            policy_path.display()
        )),
        "{stdout}"
    );
    let unclaimed = "unclaimed, dropped in the kernel";
    let a_rule = format!("cgroup_path \"{root}/team-a/**\"");
    let b_rule = format!("cgroup_path \"{root}/team-b\"");
    let (team_a, team_b, other) = (
        format!("{root}/team-a"),
        format!("{root}/team-b"),
        format!("{root}/other"),
    );
    assert_eq!(
        rows_under(&stdout, &root),
        [
            vec!["a", a_rule.as_str(), team_a.as_str()],
            vec!["b", b_rule.as_str(), team_b.as_str()],
            vec!["-", unclaimed, root.as_str()],
            vec!["-", unclaimed, other.as_str()],
        ],
        "{stdout}"
    );
    assert!(stdout.contains("tenant `a`: 0 received"), "{stdout}");

    let (ok, stdout, stderr) = status(state.path(), "json");
    assert!(ok, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let placed = value["placement"]["cgroups"]
        .as_array()
        .expect("cgroups")
        .iter()
        .find(|entry| entry["cgroup"] == team_b)
        .cloned()
        .unwrap_or_else(|| panic!("{team_b} not listed: {stdout}"));
    assert_eq!(placed["tenant"], "b", "{stdout}");
    assert_eq!(value["tenants"]["b"]["lost"], 0, "{stdout}");
    let (status, _) = collector.stop();
    assert!(status.success());
}

#[test]
fn a_run_that_only_saw_unclaimed_cgroups_says_so_and_logs_each_placement() {
    let test = "a_run_that_only_saw_unclaimed_cgroups_says_so_and_logs_each_placement";
    if !gate::root_or_skip(test) {
        return;
    }
    let Some(parent) = gate::or_skip(test, TestCgroup::create("unclaimed")) else {
        return;
    };
    let _children = Children::make(&parent, &["team-a", "team-b"]);
    let root = parent.relative_path().expect("relative path");
    let policy = policy_file(&two_tenants(&root));
    let Some(collector) = start_with_policy_and(test, &policy, None, &["--log-level", "debug"])
    else {
        return;
    };
    // Events of an unclaimed cgroup, dropped in the kernel.
    let (_, code) = parent
        .run(&["/bin/true"])
        .expect("run in the unclaimed cgroup");
    assert_eq!(code, Some(0));
    thread::sleep(Duration::from_millis(300));
    let (status, summary, lines) = collector.stop_with_log();
    assert!(status.success(), "scrim exited with {status}");
    let log = lines.join("\n");
    let numbers = common::summary_numbers(&summary);
    assert_eq!(numbers.events_in, 0, "{summary}");
    assert!(numbers.unknown_cgroup > 0, "{summary}");
    assert!(
        log.contains(&format!(
            "cgroup {root}/team-a: tenant `a`, placed by cgroup_path \"{root}/team-a/**\""
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("cgroup {root}: unclaimed (dropped in the kernel)")),
        "{log}"
    );
    let hint = lines
        .iter()
        .find(|line| line.starts_with("scrim: nothing was captured"))
        .unwrap_or_else(|| panic!("no end hint in:\n{log}"));
    assert!(hint.contains("of cgroups no tenant claims"), "{hint}");
    assert!(hint.contains("unknown cgroup"), "{hint}");
    assert!(
        hint.contains(&format!(
            "`scrim policy place {}`",
            policy.path().join("policy.toml").display()
        )),
        "{hint}"
    );
    assert!(!hint.contains("no process was created"), "{hint}");
}

#[test]
fn policy_test_prints_the_rule_that_drops_a_case() {
    let policy = policy_file(&two_tenants("/t"));
    let cases = tempfile::tempdir().expect("tempdir");
    fs::write(
        cases.path().join("elsewhere.toml"),
        "cgroup_path = \"/t/team-c\"\nexpect = \"dropped\"\n\
         [event]\n\"event.name\" = \"process.exit\"\n\"process.pid\" = 1\n",
    )
    .expect("write case");
    let output = Command::new(SCRIM)
        .args(["policy", "test"])
        .arg(policy.path().join("policy.toml"))
        .arg("--cases")
        .arg(cases.path())
        .output()
        .expect("run scrim policy test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("ok   "), "{stdout}");
    assert!(
        first.ends_with(
            "elsewhere.toml (dropped: no tenant's selector matches cgroup \"/t/team-c\" (uid 0), \
             and unknown_tenant = \"drop\")"
        ),
        "{stdout}"
    );
}
