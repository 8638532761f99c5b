//! Which pod and container a cgroup belongs to, read from its path.
//!
//! The kubelet names a pod's cgroup after the pod's UID, and the container
//! runtime names each container's cgroup after the container id. Both
//! cgroup drivers are understood:
//!
//! | driver | runtime | container cgroup |
//! |---|---|---|
//! | systemd | containerd | `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope` |
//! | systemd | CRI-O | `…/kubepods-besteffort-pod<uid>.slice/crio-<id>.scope` (its monitor: `crio-conmon-<id>.scope`) |
//! | systemd | Docker (cri-dockerd) | `…/kubepods-pod<uid>.slice/docker-<id>.scope` |
//! | cgroupfs | containerd, Docker | `/kubepods/burstable/pod<uid>/<id>` |
//! | cgroupfs | CRI-O | `/kubepods/besteffort/pod<uid>/crio-<id>` |
//!
//! Anything above the `kubepods` level (a nested node such as kind's
//! `/kubelet.slice/kubelet-kubepods.slice`) is skipped, and cgroups below a
//! container's (a container that makes its own) belong to that container.
//! Static pods have a 32-digit hash instead of a UUID; the API's mirror
//! pod carries it in an annotation (see [`crate::PodMetadata`]).

/// What a cgroup path says about the pod and container it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodCgroup {
    /// The pod's UID as the kubelet names its cgroup (dashes, not the
    /// systemd driver's underscores), or a static pod's hash.
    pub pod_uid: String,
    /// `None` for the pod's own cgroup, and for a runtime's monitor
    /// process (CRI-O's conmon).
    pub container: Option<Container>,
}

/// A container's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The runtime's container id, as `crictl ps` and the pod's
    /// `containerStatuses[].containerID` (after `runtime://`) show it.
    pub id: String,
    pub runtime: Runtime,
}

/// The container runtime that named a container's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Containerd,
    CriO,
    Docker,
    /// The cgroupfs driver's bare id, which containerd and Docker share.
    Unnamed,
}

impl Runtime {
    /// The scheme of a `containerID` in the pod's status, where known.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Docker => "docker",
            Runtime::Unnamed => "unnamed",
        }
    }
}

/// The pod (and container) of the cgroup at `path` (relative to the cgroup
/// v2 root), or `None` for a cgroup outside any pod.
pub fn parse(path: &str) -> Option<PodCgroup> {
    let components: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let kubepods = components
        .iter()
        .position(|part| part.starts_with("kubepods") || part.ends_with("-kubepods.slice"))?;
    let (offset, pod_uid) = components[kubepods..]
        .iter()
        .enumerate()
        .find_map(|(offset, part)| Some((offset, pod_uid(part)?)))?;
    let container = components
        .get(kubepods + offset + 1)
        .and_then(|part| container(part));
    Some(PodCgroup { pod_uid, container })
}

/// The pod UID in a pod cgroup's name: `pod<uid>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<uid_with_underscores>.slice` (systemd).
fn pod_uid(component: &str) -> Option<String> {
    let uid = match component.strip_suffix(".slice") {
        Some(slice) => slice.rsplit_once("-pod")?.1.replace('_', "-"),
        None => component.strip_prefix("pod")?.to_owned(),
    };
    (is_uuid(&uid) || is_static_pod_hash(&uid)).then_some(uid)
}

fn container(component: &str) -> Option<Container> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    if name.starts_with("crio-conmon-") {
        return None;
    }
    let (runtime, id) = [
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
        ("docker-", Runtime::Docker),
    ]
    .into_iter()
    .find_map(|(prefix, runtime)| Some((runtime, name.strip_prefix(prefix)?)))
    .unwrap_or((Runtime::Unnamed, name));
    let plausible = (12..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit());
    plausible.then(|| Container {
        id: id.to_owned(),
        runtime,
    })
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A static pod's UID: the kubelet's 32-hex-digit hash of its manifest.
fn is_static_pod_hash(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0f3c1a2b-1111-4c2d-9e8f-0123456789ab";
    const ID: &str = "4d2b1f0e9c8a7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";

    fn in_pod(container: Option<(&str, Runtime)>) -> Option<PodCgroup> {
        Some(PodCgroup {
            pod_uid: UID.into(),
            container: container.map(|(id, runtime)| Container {
                id: id.into(),
                runtime,
            }),
        })
    }

    #[test]
    fn reads_the_systemd_drivers_names_for_each_runtime() {
        let pod = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
            UID.replace('-', "_")
        );
        for (scope, runtime) in [
            (format!("cri-containerd-{ID}.scope"), Runtime::Containerd),
            (format!("crio-{ID}.scope"), Runtime::CriO),
            (format!("docker-{ID}.scope"), Runtime::Docker),
        ] {
            assert_eq!(
                parse(&format!("{pod}/{scope}")),
                in_pod(Some((ID, runtime)))
            );
        }
        assert_eq!(parse(&pod), in_pod(None));
        assert_eq!(
            parse(&format!("{pod}/crio-conmon-{ID}.scope")),
            in_pod(None)
        );
    }

    #[test]
    fn reads_the_cgroupfs_drivers_names_in_every_qos_class() {
        for qos in ["/kubepods", "/kubepods/burstable", "/kubepods/besteffort"] {
            assert_eq!(
                parse(&format!("{qos}/pod{UID}/{ID}")),
                in_pod(Some((ID, Runtime::Unnamed)))
            );
            assert_eq!(
                parse(&format!("{qos}/pod{UID}/crio-{ID}")),
                in_pod(Some((ID, Runtime::CriO)))
            );
        }
    }

    #[test]
    fn a_guaranteed_pod_under_systemd_sits_right_under_kubepods() {
        let path = format!(
            "/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{ID}.scope",
            UID.replace('-', "_")
        );
        assert_eq!(parse(&path), in_pod(Some((ID, Runtime::Containerd))));
    }

    #[test]
    fn skips_what_lies_above_kubepods_and_keeps_the_container_of_nested_cgroups() {
        let nested = format!(
            "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/\
             kubelet-kubepods-besteffort-pod{}.slice/cri-containerd-{ID}.scope/init.scope",
            UID.replace('-', "_")
        );
        assert_eq!(parse(&nested), in_pod(Some((ID, Runtime::Containerd))));
        let under_a_test_root = format!("/scrim-test-7/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(
            parse(&under_a_test_root),
            in_pod(Some((ID, Runtime::Unnamed)))
        );
    }

    #[test]
    fn reads_a_static_pods_hash() {
        let hash = "6f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let parsed = parse(&format!("/kubepods/burstable/pod{hash}/{ID}")).expect("a pod");
        assert_eq!(parsed.pod_uid, hash);
    }

    #[test]
    fn anything_else_is_no_pod() {
        for path in [
            "/",
            "/system.slice/containerd.service",
            "/user.slice/user-1000.slice/session-2.scope",
            "/docker/4d2b1f0e9c8a",
            "/kubepods",
            "/kubepods/burstable",
            "/kubepods.slice/kubepods-burstable.slice",
            "/kubepods/burstable/podnot-a-uid/4d2b1f0e9c8a",
            "/payments/pod0f3c1a2b-1111-4c2d-9e8f-0123456789ab",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }

    #[test]
    fn a_container_cgroup_that_is_no_container_id_is_the_pods() {
        let path = format!("/kubepods/pod{UID}/not-hex");
        assert_eq!(parse(&path), in_pod(None));
    }
}
