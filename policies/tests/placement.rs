//! Placement as `scrim run` and `scrim policy place` see it: which cgroup
//! path globs place which cgroups, the rule each placement names, and the
//! reasons `scrim policy test` gives for a dropped event.
use std::{collections::BTreeMap, fs, path::Path};

use scrim_policies::{
    CompiledPolicy, Placed, Placement, PodFacts, Rule, Workload, cases::run_cases, compile_source,
};

const POLICY: &str = r#"version = 1

[defaults]
unknown_tenant = "drop"

[[opt_out]]
cgroup_path = ["/team/secret/**"]
k8s_namespace = ["kube-system"]
uid = [7]

[[tenant]]
name = "team"
purpose = "testing placement"
legal_basis = "legitimate_interests"
special_categories = "test paths only"
match = { cgroup_path = ["/team/**", "/also/team"] }
capture = ["process", "syscall:openat"]
retention = { process = "1d", syscall = "1d" }
sinks = [{ jsonl = { path = "unused" } }]

[tenant.fields]
"event.name" = "keep"
"process.executable.path" = "keep"
"process.pid" = "drop"

[[tenant]]
name = "shop"
purpose = "testing placement"
legal_basis = "legitimate_interests"
special_categories = "test paths only"
match = { k8s_namespace = ["shop-*"], uid_range = [1000, 1999] }
capture = ["network"]
retention = { network = "1d" }
sinks = [{ jsonl = { path = "unused" } }]

[[tenant]]
name = "everything"
purpose = "testing placement"
legal_basis = "legitimate_interests"
special_categories = "test paths only"
match = { cgroup_path = ["/**"] }
capture = ["process"]
retention = { process = "1d" }
sinks = [{ jsonl = { path = "unused" } }]
"#;

fn policy(source: &str) -> CompiledPolicy {
    compile_source(source, Path::new(".")).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

fn by_path(path: &str) -> Workload<'_> {
    Workload {
        cgroup_path: path,
        pod: None,
    }
}

#[test]
fn a_trailing_double_star_places_the_directory_itself_and_everything_below() {
    let policy = policy(POLICY);
    let team = Placed {
        placement: Placement::Tenant(0),
        rule: Some(Rule::CgroupPath("/team/**")),
    };
    for path in ["/team", "/team/a", "/team/a/b.scope"] {
        assert_eq!(policy.place_explained(&by_path(path)), team, "{path}");
    }
    // Only the directory, not names that merely start with it.
    for path in ["/teamx", "/teams/a", "/"] {
        assert_ne!(policy.place(&by_path(path)), Placement::Tenant(0), "{path}");
    }
    // `/**` is the root's directory form: it places `/` too.
    assert_eq!(
        policy.place_explained(&by_path("/")),
        Placed {
            placement: Placement::Tenant(2),
            rule: Some(Rule::CgroupPath("/**")),
        }
    );
    // A pattern without `/**` is exact.
    assert_eq!(policy.place(&by_path("/also/team")), Placement::Tenant(0));
    assert_eq!(policy.place(&by_path("/also/team/x")), Placement::Tenant(2));
    // Opt-outs read globs the same way, and win over any tenant.
    for path in ["/team/secret", "/team/secret/x"] {
        let placed = policy.place_explained(&by_path(path));
        assert_eq!(placed.placement, Placement::OptedOut, "{path}");
        assert_eq!(
            placed.to_string(),
            r#"opt_out cgroup_path "/team/secret/**""#
        );
    }
}

#[test]
fn each_placement_names_the_rule_that_made_it() {
    let compiled = policy(POLICY);
    let labels = BTreeMap::new();
    let pod = |namespace| Workload {
        cgroup_path: "/kubepods/pod1/c1",
        pod: Some(PodFacts {
            namespace,
            labels: &labels,
        }),
    };
    let placed = compiled.place_explained(&pod("shop-eu"));
    assert_eq!(placed.placement, Placement::Tenant(1));
    assert_eq!(placed.to_string(), r#"k8s_namespace "shop-*""#);
    let placed = compiled.place_explained(&pod("kube-system"));
    assert_eq!(placed.to_string(), r#"opt_out k8s_namespace "kube-system""#);
    assert_eq!(
        compiled.place_explained(&by_path("/team/x")).to_string(),
        r#"cgroup_path "/team/**""#
    );
    // The uid rules: an opt-out wins over any cgroup; a uid_range takes
    // the processes of cgroups nobody claims.
    let lone = policy(&POLICY.replace(r#"cgroup_path = ["/**"]"#, r#"cgroup_path = ["/x"]"#));
    assert_eq!(
        lone.place_process(&by_path("/team/a"), 7).to_string(),
        "opt_out uid 7"
    );
    let placed = lone.place_process(&by_path("/elsewhere"), 1500);
    assert_eq!(placed.placement, Placement::Tenant(1));
    assert_eq!(placed.to_string(), "uid_range [1000, 1999]");
    assert_eq!(
        lone.place_process(&by_path("/team/a"), 1500).placement,
        Placement::Tenant(0)
    );
    let unclaimed = lone.place_process(&by_path("/elsewhere"), 5);
    assert_eq!(
        (unclaimed.placement, unclaimed.rule),
        (Placement::Unclaimed, None)
    );
}

#[test]
fn policy_test_says_which_rule_drops_an_event() {
    let policy = policy(&POLICY.replace(r#"cgroup_path = ["/**"]"#, r#"cgroup_path = ["/x"]"#));
    let cases = tempfile::tempdir().expect("tempdir");
    let exec = "[event]\n\"event.name\" = \"process.exec\"\n\"process.pid\" = 3\n\
                \"process.executable.path\" = \"/bin/true\"\n";
    let write = |name: &str, text: String| {
        fs::write(cases.path().join(name), text).expect("write case");
    };
    write(
        "1-opted-out.toml",
        format!("cgroup_path = \"/team/secret\"\nexpect = \"dropped\"\n{exec}"),
    );
    write(
        "2-unclaimed.toml",
        format!("cgroup_path = \"/nobody\"\nexpect = \"dropped\"\n{exec}"),
    );
    write(
        "3-kind.toml",
        format!("tenant = \"shop\"\nexpect = \"dropped\"\n{exec}"),
    );
    write(
        "4-syscall.toml",
        "cgroup_path = \"/team\"\nexpect = \"dropped\"\n[event]\n\"event.name\" = \"syscall\"\n\
         \"scrim.syscall.name\" = \"unlinkat\"\n"
            .to_owned(),
    );
    write(
        "5-field.toml",
        format!(
            "cgroup_path = \"/team/a\"\n{exec}[expect]\n\"event.name\" = \"process.exec\"\n\
             \"process.pid\" = 3\n\"process.executable.path\" = \"/bin/true\"\n\
             \"process.parent_pid\" = 1\n"
        ),
    );
    write(
        "6-not-dropped.toml",
        format!("cgroup_path = \"/team/a\"\nexpect = \"dropped\"\n{exec}"),
    );
    let outcomes = run_cases(&policy, cases.path()).expect("run cases");
    let said: Vec<(Vec<String>, Option<String>)> = outcomes
        .into_iter()
        .map(|outcome| (outcome.failures, outcome.dropped_by))
        .collect();
    let dropped = |reason: &str| (Vec::new(), Some(reason.to_owned()));
    assert_eq!(
        said,
        [
            dropped(r#"never captured: opt_out cgroup_path "/team/secret/**" (uid 0)"#),
            dropped(
                r#"no tenant's selector matches cgroup "/nobody" (uid 0), and unknown_tenant = "drop""#
            ),
            dropped("tenant `shop` does not capture process events"),
            dropped("tenant `team` does not capture syscall `unlinkat` (its capture lists openat)"),
            (
                vec![
                    "`process.parent_pid`: expected 1, but the record has no value for it \
                     (tenant `team` has no rule for it, and a field without one never leaves)"
                        .to_owned(),
                    "`process.pid`: expected 3, but the record has no value for it \
                     (tenant `team` drops it: rule `drop`)"
                        .to_owned(),
                ],
                None
            ),
            (
                vec![
                    r#"expected the event to be dropped, but tenant `team` exports it (placed by cgroup_path "/team/**")"#
                        .to_owned()
                ],
                None
            ),
        ]
    );
}
