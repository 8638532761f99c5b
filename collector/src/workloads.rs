//! What each cgroup's workload is, for OTLP resources: the semantic
//! conventions' `host.name`, `container.id`, `k8s.pod.name`, ... Tenancy
//! writes it as it places cgroups and learns of pods; the tenants'
//! pipelines read it when they send spans, which may be after the cgroup
//! is gone, so removed cgroups are remembered for a while.
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, RwLock},
};

use opentelemetry::KeyValue;
use scrim_kubernetes::{PodMetadata, pod_cgroup::PodCgroup};
use scrim_otlp::Resources;

/// Removed cgroups whose workloads are still remembered.
const REMEMBERED_REMOVED: usize = 4096;

#[derive(Default)]
struct Known {
    by_cgroup: HashMap<u64, Arc<[KeyValue]>>,
    removed: VecDeque<u64>,
}

/// Shared between tenancy (writer) and the pipelines (readers).
#[derive(Clone)]
pub struct Workloads {
    host: Arc<str>,
    known: Arc<RwLock<Known>>,
}

impl Workloads {
    pub fn new(host: &str) -> Self {
        Workloads {
            host: Arc::from(host),
            known: Arc::default(),
        }
    }

    /// Records what a cgroup runs: the pod and container its path names,
    /// with the pod's metadata if the API told it; `service` names a
    /// systemd unit otherwise.
    pub fn describe(
        &self,
        cgroup_id: u64,
        path: &str,
        pod_cgroup: Option<&PodCgroup>,
        pod: Option<&PodMetadata>,
    ) {
        let mut attributes = vec![KeyValue::new("host.name", self.host.to_string())];
        let service = pod
            .and_then(|pod| {
                ["app.kubernetes.io/name", "app"]
                    .into_iter()
                    .find_map(|label| pod.labels.get(label).cloned())
            })
            .or_else(|| {
                path.rsplit('/')
                    .find(|part| part.ends_with(".service"))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "unknown_service".to_owned());
        attributes.push(KeyValue::new("service.name", service));
        if let Some(pod_cgroup) = pod_cgroup {
            attributes.push(KeyValue::new("k8s.node.name", self.host.to_string()));
            attributes.push(KeyValue::new("k8s.pod.uid", pod_cgroup.pod_uid.clone()));
            if let Some(container) = &pod_cgroup.container {
                attributes.push(KeyValue::new("container.id", container.id.clone()));
                attributes.push(KeyValue::new(
                    "container.runtime.name",
                    container.runtime.as_str(),
                ));
            }
        }
        if let Some(pod) = pod {
            attributes.push(KeyValue::new("k8s.namespace.name", pod.namespace.clone()));
            attributes.push(KeyValue::new("k8s.pod.name", pod.name.clone()));
        }
        if let Ok(mut known) = self.known.write() {
            known.by_cgroup.insert(cgroup_id, attributes.into());
        }
    }

    /// The cgroup is gone; its spans may still be on their way.
    pub fn removed(&self, cgroup_id: u64) {
        if let Ok(mut known) = self.known.write() {
            known.removed.push_back(cgroup_id);
            while known.removed.len() > REMEMBERED_REMOVED {
                if let Some(oldest) = known.removed.pop_front() {
                    known.by_cgroup.remove(&oldest);
                }
            }
        }
    }
}

impl Resources for Workloads {
    fn of(&self, cgroup_id: u64) -> Vec<KeyValue> {
        let known = self
            .known
            .read()
            .ok()
            .and_then(|known| known.by_cgroup.get(&cgroup_id).cloned());
        match known {
            Some(attributes) => attributes.to_vec(),
            None => vec![
                KeyValue::new("host.name", self.host.to_string()),
                KeyValue::new("service.name", "unknown_service"),
            ],
        }
    }
}
