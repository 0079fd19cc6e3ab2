//! Services: which pods a name's traffic reaches, and whether Kubernetes
//! already keeps that traffic in the caller's zone.

use serde::{Deserialize, Serialize};

use super::pod::Pod;
use super::scheduling::Labels;

/// Annotation that turns on topology-aware routing (`Auto`), Kubernetes
/// 1.27 and later.
pub const TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";
/// The same, before Kubernetes 1.27 (`auto`).
pub const TOPOLOGY_AWARE_HINTS: &str = "service.kubernetes.io/topology-aware-hints";

/// `spec.type` of a Service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceType {
    /// A virtual IP inside the cluster (the default).
    #[default]
    ClusterIP,
    /// Also a port on every node.
    NodePort,
    /// Also a cloud load balancer.
    LoadBalancer,
    /// A DNS alias to a name outside the cluster: no endpoints.
    ExternalName,
}

/// A Service, as far as where its traffic goes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.type`.
    #[serde(default)]
    pub service_type: ServiceType,
    /// `spec.selector`: the pods of the namespace whose labels hold all of
    /// these are its endpoints. Empty: endpoints are managed by hand, and
    /// no pod is known to back it.
    #[serde(default)]
    pub selector: Labels,
    /// `spec.trafficDistribution` (`PreferClose`; Kubernetes 1.31 and
    /// later), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: Labels,
}

impl Service {
    /// Whether the pod is one of its endpoints (by selector, in the same
    /// namespace; a Service without a selector selects no pod).
    pub fn selects(&self, pod: &Pod) -> bool {
        self.selects_labels(&pod.namespace, &pod.labels)
    }

    /// Whether a pod of `namespace` with `labels` is one of its endpoints
    /// (a pod template's labels, say).
    pub fn selects_labels(&self, namespace: &str, labels: &Labels) -> bool {
        self.service_type != ServiceType::ExternalName
            && !self.selector.is_empty()
            && namespace == self.namespace
            && self
                .selector
                .iter()
                .all(|(k, v)| labels.get(k.as_str()) == Some(v))
    }

    /// Whether Kubernetes already prefers endpoints in the caller's zone:
    /// `trafficDistribution: PreferClose` (or `PreferSameZone`), or the
    /// topology-aware routing annotation set to `auto`.
    pub fn prefers_same_zone(&self) -> bool {
        let annotated = |key: &str| {
            self.annotations
                .get(key)
                .is_some_and(|v| v.eq_ignore_ascii_case("auto"))
        };
        matches!(
            self.traffic_distribution.as_deref(),
            Some("PreferClose" | "PreferSameZone")
        ) || annotated(TOPOLOGY_MODE)
            || annotated(TOPOLOGY_AWARE_HINTS)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pod(namespace: &str, labels: &[(&str, &str)]) -> (String, Labels) {
        let mut l = Labels::new();
        for (k, v) in labels {
            l.insert((*k).into(), (*v).into());
        }
        (namespace.to_owned(), l)
    }

    trait Selects {
        fn selects_pod(&self, pod: &(String, Labels)) -> bool;
    }

    impl Selects for Service {
        fn selects_pod(&self, pod: &(String, Labels)) -> bool {
            self.selects_labels(&pod.0, &pod.1)
        }
    }

    fn service(selector: &[(&str, &str)]) -> Service {
        let mut s = Service {
            namespace: "prod".into(),
            name: "web".into(),
            ..Service::default()
        };
        for (k, v) in selector {
            s.selector.insert((*k).into(), (*v).into());
        }
        s
    }

    #[test]
    fn a_service_selects_pods_of_its_namespace_holding_every_selector_label() {
        let s = service(&[("app", "web"), ("tier", "front")]);
        assert!(s.selects_pod(&pod(
            "prod",
            &[("app", "web"), ("tier", "front"), ("x", "y")]
        )));
        assert!(!s.selects_pod(&pod("prod", &[("app", "web")])));
        assert!(!s.selects_pod(&pod("dev", &[("app", "web"), ("tier", "front")])));
        assert!(!service(&[]).selects_pod(&pod("prod", &[("app", "web")])));
        let mut external = s.clone();
        external.service_type = ServiceType::ExternalName;
        assert!(!external.selects_pod(&pod("prod", &[("app", "web"), ("tier", "front")])));
    }

    #[test]
    fn same_zone_preference_comes_from_the_field_or_the_annotations() {
        let mut s = service(&[("app", "web")]);
        assert!(!s.prefers_same_zone());
        s.traffic_distribution = Some("PreferClose".into());
        assert!(s.prefers_same_zone());
        s.traffic_distribution = None;
        s.annotations.insert(TOPOLOGY_MODE.into(), "Auto".into());
        assert!(s.prefers_same_zone());
        s.annotations
            .insert(TOPOLOGY_MODE.into(), "Disabled".into());
        assert!(!s.prefers_same_zone());
        s.annotations
            .insert(TOPOLOGY_AWARE_HINTS.into(), "auto".into());
        assert!(s.prefers_same_zone());
    }
}
