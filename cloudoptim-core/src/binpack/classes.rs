//! Pods grouped by the nodes they may use.
//!
//! Pods with the same node selector, required node affinity and GPU need
//! can use exactly the same (instance type, zone) slots; the packer works
//! on these classes rather than re-evaluating selectors pod by pod.

use std::collections::HashMap;

use super::candidates::Candidate;
use super::requirement::PodRequirement;
use super::Unschedulable;
use crate::resources::Dimension;
use crate::snapshot::{node_labels, Labels, NodeAffinity};

/// One class of pods.
pub(crate) struct Class {
    /// `compatible[candidate * zones + zone]`.
    pub compatible: Vec<bool>,
    /// Candidates compatible in at least one zone, cheapest first.
    pub types: Vec<usize>,
    /// Why nothing matches, when nothing does.
    pub no_match: Option<Unschedulable>,
}

/// The classes of a pod list.
pub(crate) struct Classes {
    /// Class of each pod.
    pub of_pod: Vec<usize>,
    /// The classes.
    pub classes: Vec<Class>,
}

/// The labels of a node of each candidate in each zone.
pub(crate) fn slot_labels(candidates: &[Candidate], zones: &[String]) -> Vec<Labels> {
    let mut out = Vec::with_capacity(candidates.len() * zones.len());
    for c in candidates {
        for zone in zones {
            let mut labels = c.labels.clone();
            node_labels::insert_zone(&mut labels, zone);
            out.push(labels);
        }
    }
    out
}

fn describe(selector: &Labels, affinity: &NodeAffinity) -> String {
    let mut parts = Vec::new();
    if !selector.is_empty() {
        let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("nodeSelector {}", pairs.join(",")));
    }
    for term in &affinity.required {
        let exprs: Vec<String> = term
            .match_expressions
            .iter()
            .map(|r| format!("{} {:?} {:?}", r.key, r.operator, r.values))
            .collect();
        parts.push(format!("required node affinity [{}]", exprs.join(" AND ")));
    }
    parts.join(" and ")
}

/// Group pods into classes and find each class's compatible slots.
pub(crate) fn classify(
    pods: &[PodRequirement],
    candidates: &[Candidate],
    zones: &[String],
    slot_labels: &[Labels],
) -> Classes {
    let mut index: HashMap<(&Labels, &NodeAffinity, bool), usize> = HashMap::new();
    let mut classes = Vec::new();
    let mut of_pod = Vec::with_capacity(pods.len());
    for pod in pods {
        let needs_gpu = pod.requests.gpu_millis > 0;
        let key = (&pod.node_selector, &pod.node_affinity, needs_gpu);
        let class = *index.entry(key).or_insert_with(|| {
            classes.push(class_for(pod, needs_gpu, candidates, zones, slot_labels));
            classes.len() - 1
        });
        of_pod.push(class);
    }
    Classes { of_pod, classes }
}

fn class_for(
    pod: &PodRequirement,
    needs_gpu: bool,
    candidates: &[Candidate],
    zones: &[String],
    slot_labels: &[Labels],
) -> Class {
    let mut compatible = vec![false; candidates.len() * zones.len()];
    let mut types = Vec::new();
    let mut any_label_match = false;
    for (c, candidate) in candidates.iter().enumerate() {
        let has_gpu = candidate.allocatable.gpu_millis > 0;
        let mut any_zone = false;
        for z in 0..zones.len() {
            let slot = c * zones.len() + z;
            let Some(labels) = slot_labels.get(slot) else {
                continue;
            };
            let label_match = pod
                .node_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
                && pod.node_affinity.required_matches("", labels);
            any_label_match |= label_match;
            if label_match && (!needs_gpu || has_gpu) {
                compatible[slot] = true;
                any_zone = true;
            }
        }
        if any_zone {
            types.push(c);
        }
    }
    let no_match = types.is_empty().then(|| {
        if any_label_match && needs_gpu {
            Unschedulable::NoGpuInstanceType
        } else {
            Unschedulable::NoMatchingInstanceType {
                constraint: describe(&pod.node_selector, &pod.node_affinity),
            }
        }
    });
    Class {
        compatible,
        types,
        no_match,
    }
}

/// Why no compatible candidate can hold this pod, if none can.
pub(crate) fn too_large(
    pod: &PodRequirement,
    class: &Class,
    candidates: &[Candidate],
) -> Option<Unschedulable> {
    let mut best: Option<(usize, Dimension, u64)> = None;
    for &c in &class.types {
        let allocatable = &candidates.get(c)?.allocatable;
        let exceeding: Vec<Dimension> = Dimension::ALL
            .into_iter()
            .filter(|&d| pod.requests.get(d) > allocatable.get(d))
            .collect();
        let Some(&first) = exceeding.first() else {
            return None; // This one fits.
        };
        if best.is_none_or(|(n, _, _)| exceeding.len() < n) {
            best = Some((exceeding.len(), first, allocatable.get(first)));
        }
    }
    let (_, dimension, _) = best?;
    let largest = class
        .types
        .iter()
        .filter_map(|&c| candidates.get(c))
        .map(|c| c.allocatable.get(dimension))
        .max()
        .unwrap_or(0);
    Some(Unschedulable::TooLarge {
        dimension,
        requested: pod.requests.get(dimension),
        largest,
    })
}
