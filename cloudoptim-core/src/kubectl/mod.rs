//! Snapshots from `kubectl` output, and back.
//!
//! [`read_list`] (or [`read_list_from`], from a reader) turns the JSON printed by
//!
//! ```text
//! kubectl get nodes,pods,pdb,pv,pvc,deploy,rs,sts,ds,job,cronjob -A -o json
//! ```
//!
//! (a `v1 List`) into a [`ClusterSnapshot`]. Items of other kinds are skipped
//! and counted; a malformed object is an error naming its position, kind,
//! name and the field that was wrong, and so is an object that repeats
//! another's kind and name. [`write_list`] does the reverse, so a
//! snapshot (the demo cluster, say) can be saved for `kubectl`-style tools
//! and read back unchanged.

mod export;
mod import;
mod segments;
mod wire;

use std::collections::BTreeMap;

pub use export::write_list;
pub use import::{read_list, read_list_from, ListReader};

use crate::snapshot::ClusterSnapshot;

/// What [`read_list`] produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubectlImport {
    /// The snapshot.
    pub snapshot: ClusterSnapshot,
    /// Items of kinds CloudOptim does not read, counted by `apiVersion/kind`.
    pub skipped_kinds: BTreeMap<String, usize>,
}

/// Why `kubectl` output could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubectlError {
    /// The input is not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// The input could not be read (from [`read_list_from`]'s reader).
    #[error("cannot read the input: {message}")]
    Read {
        /// What the reader said.
        message: String,
    },
    /// The input is JSON but not a `List` or a single object.
    #[error("expected a kubectl `List` with `items` (or a single object), found {found}")]
    NotAList {
        /// What was found instead.
        found: String,
    },
    /// One item is malformed.
    #[error("item {index} ({kind} {name}): field `{field}`: {message}")]
    Object {
        /// Position in `items`.
        index: usize,
        /// Its kind.
        kind: String,
        /// `namespace/name`, or the name of a cluster-scoped object.
        name: String,
        /// Path of the offending field (`spec.containers[0].resources.requests.cpu`).
        field: String,
        /// What was wrong.
        message: String,
    },
    /// Two items have one identity (two Nodes of one name, two pods of one
    /// namespace and name, two Deployments of one namespace and name, …;
    /// see [`ClusterSnapshot::check_unique`]).
    #[error("item {index} ({kind} {name}) repeats item {first_index}: the same {kind} twice")]
    Duplicate {
        /// Position of the repeat in `items`.
        index: usize,
        /// Position of the first of them in `items`.
        first_index: usize,
        /// Their kind.
        kind: String,
        /// `namespace/name`, or the name of a cluster-scoped object.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Services are read with their selector, type and zone preference,
    /// written back and read again unchanged; a bad type names its field.
    #[test]
    fn services_round_trip() {
        let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "prod",
            "annotations": {"service.kubernetes.io/topology-mode": "Auto"}},
           "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "prod"},
           "spec": {"selector": {"app": "api"}, "trafficDistribution": "PreferClose"}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "prod"},
           "spec": {"type": "ExternalName", "externalName": "example.com"}}
        ]}"#;
        let import = read_list(json).unwrap();
        let s = &import.snapshot;
        assert!(import.skipped_kinds.is_empty());
        assert_eq!(s.services.len(), 3);
        let web = &s.services[0];
        assert_eq!(web.service_type, crate::snapshot::ServiceType::LoadBalancer);
        assert_eq!(web.selector.get("app").map(String::as_str), Some("web"));
        assert!(web.prefers_same_zone());
        assert_eq!(
            s.services[1].traffic_distribution.as_deref(),
            Some("PreferClose")
        );
        assert!(s.services[2].selector.is_empty());
        let again = read_list(&write_list(s).unwrap()).unwrap();
        assert_eq!(&again.snapshot, s);

        let bad = json.replace("LoadBalancer", "Balancer");
        let err = read_list(&bad).unwrap_err().to_string();
        assert!(
            err.contains("spec.type") && err.contains("Balancer"),
            "{err}"
        );
    }

    /// Namespaces and HorizontalPodAutoscalers (v1 and v2) are read with
    /// their annotations and targets, written back, and read again unchanged.
    #[test]
    fn namespaces_and_autoscalers_round_trip() {
        let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev",
            "labels": {"env": "dev"},
            "annotations": {"cloudoptim.io/office-hours": "Mon-Fri 08:00-20:00 Europe/Berlin"}}},
          {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "dev"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 10,
                     "metrics": [
                       {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app",
                         "target": {"type": "Utilization", "averageUtilization": 70}}},
                       {"type": "External", "external": {"metric": {"name": "queue"}}}]}},
          {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "db", "namespace": "dev"},
            "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}, "maxReplicas": 3,
                     "targetCPUUtilizationPercentage": 60}}
        ]}"#;
        let import = read_list(json).unwrap();
        let s = &import.snapshot;
        assert!(
            import.skipped_kinds.is_empty(),
            "{:?}",
            import.skipped_kinds
        );
        let dev = s.namespace("dev").unwrap();
        assert_eq!(
            dev.annotations
                .get("cloudoptim.io/office-hours")
                .map(String::as_str),
            Some("Mon-Fri 08:00-20:00 Europe/Berlin")
        );
        assert_eq!(dev.labels.get("env").map(String::as_str), Some("dev"));
        use crate::snapshot::WorkloadKind;
        let web: Vec<_> = s
            .autoscalers_of(WorkloadKind::Deployment, "dev", "web")
            .collect();
        assert_eq!(
            (web.len(), web[0].min_replicas, web[0].max_replicas),
            (1, 2, 10)
        );
        // minReplicas left out defaults to 1, as the API server does.
        let db: Vec<_> = s
            .autoscalers_of(WorkloadKind::StatefulSet, "dev", "db")
            .collect();
        assert_eq!((db.len(), db[0].min_replicas), (1, 1));
        // What each scales on: the v2 metrics as listed, v1's CPU target.
        assert!(web[0].scales_on("memory", "app") && !web[0].scales_on("cpu", "app"));
        assert!(db[0].scales_on("cpu", "any") && !db[0].scales_on("memory", "any"));
        assert_eq!(
            s.autoscalers_of(WorkloadKind::Deployment, "dev", "db")
                .count(),
            0
        );
        let again = read_list(&write_list(s).unwrap()).unwrap().snapshot;
        assert_eq!(&again, s);
        // An HPA without a target name is an error naming the field.
        let bad = json.replace(r#""name": "web"}"#, r#""name": ""}"#);
        let e = read_list(&bad).unwrap_err();
        assert!(e.to_string().contains("spec.scaleTargetRef.name"), "{e}");
    }
}
