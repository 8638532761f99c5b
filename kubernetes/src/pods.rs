//! The pods of this node, from the Kubernetes API: a list-then-watch of
//! their metadata only (namespace, name, labels), restricted to the node by
//! a field selector. It needs nothing but `list` and `watch` on pods, and
//! never sees a pod's spec, environment or status.
use std::{collections::BTreeMap, pin::Pin};

use futures_util::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    core::PartialObjectMeta,
    runtime::{WatchStreamExt as _, watcher},
};

use crate::KubernetesError;

/// The annotation a static pod's mirror carries: the UID the kubelet named
/// the pod's cgroups by.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What scrim knows of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodMetadata {
    /// The UID the pod's cgroups are named by: the API's UID, or for a
    /// static pod's mirror, the kubelet's hash.
    pub cgroup_uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl PodMetadata {
    fn from_api(pod: PartialObjectMeta<Pod>) -> Option<Self> {
        let metadata = pod.metadata;
        let mirror = metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(MIRROR_ANNOTATION).cloned());
        Some(PodMetadata {
            cgroup_uid: mirror.or(metadata.uid)?,
            namespace: metadata.namespace.unwrap_or_default(),
            name: metadata.name.unwrap_or_default(),
            labels: metadata.labels.unwrap_or_default(),
        })
    }
}

/// A change to the pods of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodChange {
    /// A pod appeared, or its metadata changed.
    Applied(PodMetadata),
    /// A pod was deleted.
    Deleted(PodMetadata),
    /// The watch (re)started and listed every pod of the node: a pod known
    /// before and missing here is gone.
    Listed(Vec<PodMetadata>),
}

type PodEvents = Pin<
    Box<dyn Stream<Item = Result<watcher::Event<PartialObjectMeta<Pod>>, watcher::Error>> + Send>,
>;

/// A watch of one node's pods. Failed requests are retried with backoff;
/// each failure is returned once, so that it can be counted and logged.
pub struct PodWatch {
    node: String,
    events: PodEvents,
    /// Pods of a listing in progress.
    listing: Vec<PodMetadata>,
}

impl PodWatch {
    /// Connects with what the environment offers: the pod's service account
    /// inside a cluster, or `KUBECONFIG` (or `~/.kube/config`) outside.
    pub async fn connect(node: &str) -> Result<Self, KubernetesError> {
        let config = kube::Config::infer()
            .await
            .map_err(KubernetesError::NoConfig)?;
        let client = Client::try_from(config).map_err(KubernetesError::Client)?;
        Ok(Self::with_client(client, node))
    }

    /// Watches the pods of `node` through `client`.
    pub fn with_client(client: Client, node: &str) -> Self {
        let pods: Api<PartialObjectMeta<Pod>> = Api::all(client);
        let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
        PodWatch {
            node: node.to_owned(),
            events: watcher(pods, config).default_backoff().boxed(),
            listing: Vec::new(),
        }
    }

    /// The next change, or a failure (after which the watch goes on).
    pub async fn next(&mut self) -> Result<PodChange, KubernetesError> {
        loop {
            let event = self
                .events
                .next()
                .await
                // The watcher's stream never ends; this is for its contract.
                .ok_or_else(|| self.failure("the watch ended".to_owned()))?
                .map_err(|error| self.failure(error.to_string()))?;
            match event {
                watcher::Event::Init => self.listing.clear(),
                watcher::Event::InitApply(pod) => self.listing.extend(PodMetadata::from_api(pod)),
                watcher::Event::InitDone => {
                    return Ok(PodChange::Listed(std::mem::take(&mut self.listing)));
                }
                watcher::Event::Apply(pod) => {
                    if let Some(pod) = PodMetadata::from_api(pod) {
                        return Ok(PodChange::Applied(pod));
                    }
                }
                watcher::Event::Delete(pod) => {
                    if let Some(pod) = PodMetadata::from_api(pod) {
                        return Ok(PodChange::Deleted(pod));
                    }
                }
            }
        }
    }

    fn failure(&self, detail: String) -> KubernetesError {
        KubernetesError::Watch {
            node: self.node.clone(),
            detail,
        }
    }
}
