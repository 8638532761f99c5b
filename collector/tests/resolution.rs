//! Tenant resolution end to end, under the real kernel with real cgroups:
//! pods placed by the namespace and labels a Kubernetes API server on
//! loopback tells (their cgroups named as containerd, CRI-O and Docker name
//! them), and processes placed by uid in the kernel.
mod common;

use std::{
    collections::BTreeMap,
    os::unix::process::CommandExt as _,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use common::{
    Collector, policy_file, start_capturing_with_env, start_with_policy, summary_numbers, two_sinks,
};
use scrim_testkit::{
    archive::{Row, parquet_rows},
    cgroup::TestCgroup,
    kube_api::{FakeKubeApi, FakePod},
};

const NODE: &str = "node-a";

fn pod(uid: &str, namespace: &str, node: &str, labels: &[(&str, &str)]) -> FakePod {
    FakePod {
        uid: uid.into(),
        namespace: namespace.into(),
        name: format!("{namespace}-{}", &uid[..8]),
        node: node.into(),
        labels: labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    }
}

/// A tenant keeping what the assertions read.
fn tenant(name: &str, selector: &str, sink: &Path) -> String {
    format!(
        r#"
[[tenant]]
name = "{name}"
purpose = "testing resolution"
legal_basis = "legitimate_interests"
match = {{ {selector} }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"scrim.cgroup.id" = "keep"
"#,
        sink.display()
    )
}

/// Runs `/bin/true` `times` times in `group` as `uid`; returns the pids.
fn run_in(group: &TestCgroup, uid: u32, times: usize) -> Vec<String> {
    (0..times)
        .map(|_| {
            let mut child = group
                .command("/bin/true")
                .expect("command in cgroup")
                .uid(uid)
                .spawn()
                .expect("spawn");
            let pid = child.id();
            assert!(child.wait().expect("wait").success());
            pid.to_string()
        })
        .collect()
}

/// The pids among `rows` (execs and exits both counted).
fn pids(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|row| row["process.pid"].as_str()).collect()
}

/// Polls the metrics until `series` reads `expected`.
fn wait_for_metric(collector: &Collector, series: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = collector.scrape_metrics();
        let value = metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<u64>().ok());
        if value == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {expected}:\n{metrics}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn systemd_uid(uid: &str) -> String {
    uid.replace('-', "_")
}

#[test]
fn places_pods_by_the_namespace_and_labels_the_api_tells_and_follows_their_changes() {
    let test = "places_pods_by_the_namespace_and_labels_the_api_tells_and_follows_their_changes";
    let api = FakeKubeApi::start().expect("fake Kubernetes API");
    let payments = "0f3c1a2b-1111-4c2d-9e8f-0123456789ab";
    let web = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let system = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e";
    let elsewhere = "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b";
    let late = "9c8b7a6d-5e4f-4321-8fed-cba987654321";
    api.apply_pod(pod(payments, "payments-eu", NODE, &[]));
    api.apply_pod(pod(web, "storefront", NODE, &[("tier", "frontend")]));
    api.apply_pod(pod(system, "kube-system", NODE, &[("tier", "frontend")]));
    // Another node's pod: the watch of this node must never be told of it.
    api.apply_pod(pod(elsewhere, "payments", "node-b", &[]));

    let (_sinks, sink_payments, sink_web) = two_sinks("payments", "web");
    let policy = policy_file(&format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[[opt_out]]
k8s_namespace = ["kube-system"]
{}{}"#,
        tenant(
            "payments",
            r#"k8s_namespace = ["payments", "payments-*"]"#,
            &sink_payments
        ),
        tenant(
            "web",
            r#"k8s_pod_labels = { tier = "frontend" }"#,
            &sink_web
        ),
    ));
    let policy_path = policy.path().join("policy.toml");
    let kubeconfig = api.kubeconfig();
    let Some(mut collector) = start_capturing_with_env(
        test,
        None,
        &[
            "--policy",
            policy_path.to_str().expect("utf-8 path"),
            "--node-name",
            NODE,
        ],
        &[("KUBECONFIG", kubeconfig.as_os_str())],
    ) else {
        return;
    };
    collector
        .wait_for("3 pods listed")
        .unwrap_or_else(|seen| panic!("the watch never listed this node's pods:\n{seen}"));

    // Each pod's container, named as its runtime and cgroup driver name it.
    let id = |digit: char| digit.to_string().repeat(64);
    let groups = [
        // containerd, systemd driver
        format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{}.scope",
            systemd_uid(payments),
            id('1')
        ),
        // CRI-O, systemd driver
        format!(
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/crio-{}.scope",
            systemd_uid(web),
            id('2')
        ),
        // Docker or containerd, cgroupfs driver
        format!("kubepods/burstable/pod{system}/{}", id('3')),
        format!("kubepods/besteffort/pod{elsewhere}/{}", id('4')),
        // CRI-O, cgroupfs driver
        format!("kubepods/pod{late}/crio-{}", id('5')),
    ]
    .map(|path| TestCgroup::create_nested("k8s", &path).expect("container cgroup"));
    let [
        payments_group,
        web_group,
        system_group,
        elsewhere_group,
        late_group,
    ] = &groups;
    thread::sleep(Duration::from_millis(300));

    let payments_pids = run_in(payments_group, 0, 3);
    let web_before = run_in(web_group, 0, 3);
    let system_pids = run_in(system_group, 0, 3);
    let elsewhere_pids = run_in(elsewhere_group, 0, 3);
    let late_before = run_in(late_group, 0, 3);

    // The late pod's metadata arrives; the web pod loses its label.
    api.apply_pod(pod(late, "payments", NODE, &[]));
    api.apply_pod(pod(web, "storefront", NODE, &[("tier", "backend")]));
    for change in [
        "payments/payments-9c8b7a6d changed",
        "storefront/storefront-7a1b2c3d changed",
    ] {
        let line = collector
            .wait_for(change)
            .unwrap_or_else(|seen| panic!("no `{change}`:\n{seen}"));
        assert!(
            line.contains("2 cgroups re-placed"),
            "pod and container: {line}"
        );
    }
    let late_after = run_in(late_group, 0, 3);
    let web_after = run_in(web_group, 0, 3);
    thread::sleep(Duration::from_millis(300));
    wait_for_metric(&collector, "scrim_kubernetes_pods", 4);
    wait_for_metric(&collector, r#"scrim_cgroups{placement="awaiting_pod"}"#, 2);

    let (status, summary, tenants) = collector.stop_with_tenants();
    assert!(status.success());
    for (name, [received, exported, dropped, lost, _]) in &tenants {
        assert_eq!(*received, exported + dropped + lost, "tenant {name}");
    }
    assert!(
        summary_numbers(&summary).opted_out >= 6,
        "the kube-system pod's execs and exits are opted out in the kernel: {summary}"
    );

    let in_payments = parquet_rows(&sink_payments).expect("payments' archive");
    let in_web = parquet_rows(&sink_web).expect("web's archive");
    let (payments_seen, web_seen) = (pids(&in_payments), pids(&in_web));
    for pid in payments_pids.iter().chain(&late_after) {
        assert_eq!(
            payments_seen.iter().filter(|seen| *seen == pid).count(),
            2,
            "exec and exit of {pid} in payments: {in_payments:#?}"
        );
    }
    for pid in &web_before {
        assert_eq!(web_seen.iter().filter(|seen| *seen == pid).count(), 2);
    }
    let nowhere = web_after
        .iter()
        .chain(&system_pids)
        .chain(&elsewhere_pids)
        .chain(&late_before);
    for pid in nowhere {
        assert!(
            !payments_seen.contains(&pid.as_str()) && !web_seen.contains(&pid.as_str()),
            "{pid} must not be exported"
        );
    }
    let ids = |groups: &[&TestCgroup]| -> Vec<String> {
        groups.iter().map(|group| group.id().to_string()).collect()
    };
    let payments_ids = ids(&[payments_group, late_group]);
    assert!(
        in_payments
            .iter()
            .all(|row| payments_ids.contains(&row["scrim.cgroup.id"]))
    );
    assert!(
        in_web
            .iter()
            .all(|row| row["scrim.cgroup.id"] == web_group.id().to_string())
    );

    // Least data: metadata only, this node's pods only.
    let requests = api.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(
            request.starts_with("GET /api/v1/pods?")
                && request.contains("fieldSelector=spec.nodeName%3Dnode-a")
                && request.contains("as=PartialObjectMetadata"),
            "{request}"
        );
    }
}

#[test]
fn a_uid_range_claims_unplaced_processes_and_a_uid_opt_out_wins_over_every_tenant() {
    let test = "a_uid_range_claims_unplaced_processes_and_a_uid_opt_out_wins_over_every_tenant";
    let (_sinks, sink_uid, sink_path) = two_sinks("uid", "path");
    let me = std::process::id();
    let policy = policy_file(&format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[[opt_out]]
uid = [{OPTED_OUT}]
{}{}"#,
        tenant("by-uid", "uid_range = [52200, 52209]", &sink_uid),
        tenant(
            "by-path",
            &format!(r#"cgroup_path = ["/scrim-test-uid-path-{me}-*"]"#),
            &sink_path
        ),
    ));
    let Some(collector) = start_with_policy(test, &policy) else {
        return;
    };
    let unclaimed = TestCgroup::create("uid-free").expect("cgroup");
    let claimed = TestCgroup::create("uid-path").expect("cgroup");
    thread::sleep(Duration::from_millis(300));
    let mut runs = BTreeMap::new();
    for (name, group) in [("unclaimed", &unclaimed), ("claimed", &claimed)] {
        for uid in [IN_RANGE, OPTED_OUT, 0] {
            runs.insert((name, uid), run_in(group, uid, 3));
        }
    }
    thread::sleep(Duration::from_millis(300));
    let (status, summary) = collector.stop();
    assert!(status.success());
    assert!(
        summary_numbers(&summary).opted_out >= 12,
        "six processes of the opted-out uid, exec and exit each: {summary}"
    );

    let exported = |sink: &Path| -> Vec<String> {
        let rows = parquet_rows(sink).expect("archive");
        let mut seen: Vec<String> = pids(&rows).into_iter().map(str::to_owned).collect();
        seen.sort();
        seen
    };
    let twice = |keys: &[(&str, u32)]| -> Vec<String> {
        let mut expected: Vec<String> = keys
            .iter()
            .flat_map(|key| runs[key].iter().flat_map(|pid| [pid.clone(), pid.clone()]))
            .collect();
        expected.sort();
        expected
    };
    // The range claims the unclaimed cgroup's processes of its uids; the
    // cgroup selector keeps its own whatever their uid; the opted-out uid
    // leaves nowhere.
    assert_eq!(exported(&sink_uid), twice(&[("unclaimed", IN_RANGE)]));
    assert_eq!(
        exported(&sink_path),
        twice(&[("claimed", IN_RANGE), ("claimed", 0)])
    );
}

/// Uids no real account has.
const IN_RANGE: u32 = 52_201;
const OPTED_OUT: u32 = 52_205;
