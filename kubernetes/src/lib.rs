//! Kubernetes for scrim: which pod a cgroup belongs to.
//!
//! - [`pod_cgroup`]: the pod UID and container id in the cgroup paths that
//!   containerd, CRI-O and Docker make under the kubelet's systemd and
//!   cgroupfs drivers;
//! - [`PodWatch`]: the namespace and labels of this node's pods, from the
//!   Kubernetes API, so that policies can select tenants by them.
pub mod pod_cgroup;
mod pods;

pub use pods::{PodChange, PodMetadata, PodWatch};

/// Why pod metadata is not available.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error(
        "kubernetes: no API to ask for pods ({0}); inside a cluster, run scrim with a service \
         account; outside, set KUBECONFIG"
    )]
    NoConfig(#[source] kube::config::InferConfigError),

    #[error("kubernetes: cannot make an API client: {0}")]
    Client(#[source] kube::Error),

    #[error("kubernetes: watching the pods of node `{node}` failed (retrying): {detail}")]
    Watch { node: String, detail: String },
}
