//! Scheduling constraints as Kubernetes expresses them: label selectors,
//! taints and tolerations, node affinity, pod (anti-)affinity and topology
//! spread. Matching follows the Kubernetes semantics.
//!
//! Types that mirror a Kubernetes API object one to one serialize with the
//! Kubernetes field names (`matchLabels`, `topologyKey`, …), so they read
//! and write `kubectl` JSON directly.

use serde::{Deserialize, Serialize};

pub use super::labels::Labels;

/// Operator of a label-selector requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's value, as an integer, is greater than the single value (node selectors only).
    Gt,
    /// The label's value, as an integer, is less than the single value (node selectors only).
    Lt,
}

/// One requirement of a selector: `key operator values`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the key's value is compared.
    pub operator: SelectorOperator,
    /// The values compared against (empty for `Exists`/`DoesNotExist`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl SelectorRequirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
            SelectorOperator::Gt | SelectorOperator::Lt => {
                let (Some(v), Some(bound)) = (value, self.values.first()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(b)) if self.operator == SelectorOperator::Gt => v > b,
                    (Ok(v), Ok(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

/// A label selector (`matchLabels` and `matchExpressions`, ANDed).
///
/// An empty selector matches everything, as in Kubernetes. Where Kubernetes
/// gives a missing selector its own meaning (it selects nothing in PDBs, pod
/// affinity terms and topology spread constraints), the field is an `Option`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub match_labels: Labels,
    /// Further requirements, all of which must hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no terms (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// Effect of a taint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaintEffect {
    /// New pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// The scheduler tries to avoid the node.
    PreferNoSchedule,
    /// Running pods that do not tolerate it are evicted.
    NoExecute,
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Taint effect.
    pub effect: TaintEffect,
}

/// Operator of a toleration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TolerationOperator {
    /// Key and value must match (the Kubernetes default).
    #[default]
    Equal,
    /// Any value of the key (or, with no key, every taint).
    Exists,
}

/// A pod's toleration of taints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// Key tolerated; none with `Exists` tolerates every key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// How the value is matched.
    pub operator: TolerationOperator,
    /// Value tolerated, for `Equal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Effect tolerated; none tolerates every effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    /// For `NoExecute`: how long the pod stays bound after the taint appears.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint` (Kubernetes `ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        match (&self.key, self.operator) {
            (None, TolerationOperator::Exists) => true,
            (None, TolerationOperator::Equal) => false,
            (Some(key), _) if *key != taint.key => false,
            (Some(_), TolerationOperator::Exists) => true,
            (Some(_), TolerationOperator::Equal) => {
                self.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    }
}

/// Whether `tolerations` tolerate every `NoSchedule`/`NoExecute` taint in `taints`
/// (`PreferNoSchedule` never blocks scheduling).
pub fn tolerates_all(tolerations: &[Toleration], taints: &[Taint]) -> bool {
    taints
        .iter()
        .filter(|t| t.effect != TaintEffect::PreferNoSchedule)
        .all(|t| tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// One term of a node selector: all requirements must hold.
///
/// A term with neither `matchExpressions` nor `matchFields` matches no node,
/// as in Kubernetes (`nodeSelectorTerms: [{}]` selects nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
    /// Requirements on node fields (only `metadata.name` exists in practice).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<SelectorRequirement>,
}

impl NodeSelectorTerm {
    /// Whether a node with this name and these labels satisfies the term
    /// (never, for an empty term).
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if self.is_empty() {
            return false;
        }
        let fields: Labels = [("metadata.name".to_owned(), node_name.to_owned())].into();
        self.match_expressions.iter().all(|r| r.matches(labels))
            && self.match_fields.iter().all(|r| r.matches(&fields))
    }

    /// Whether the term has no requirement at all (and so matches no node).
    pub fn is_empty(&self) -> bool {
        self.match_expressions.is_empty() && self.match_fields.is_empty()
    }
}

/// A preferred node-affinity term with its weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WeightedNodeSelectorTerm {
    /// Weight, 1–100.
    pub weight: i32,
    /// The preferred term.
    pub preference: NodeSelectorTerm,
}

/// Node affinity of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeAffinity {
    /// Required terms, ORed (`requiredDuringSchedulingIgnoredDuringExecution`);
    /// no term at all means no requirement, while an empty term matches no node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<NodeSelectorTerm>,
    /// Preferred terms with weights.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferred: Vec<WeightedNodeSelectorTerm>,
}

impl NodeAffinity {
    /// Whether a node satisfies the required terms.
    pub fn required_matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.required.is_empty() || self.required.iter().any(|t| t.matches(node_name, labels))
    }
}

/// A pod (anti-)affinity term: pods matching `label_selector` in the
/// namespaces of `namespaces` and `namespace_selector`, counted per
/// `topology_key` domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// Which pods the term is about; `None` (no `labelSelector`) selects no
    /// pod, while an empty selector (`{}`) selects every pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Namespaces of those pods, added to those `namespace_selector` picks;
    /// empty, with no `namespace_selector`, means the pod's own namespace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Labels of the namespaces of those pods (`namespaceSelector`), in
    /// addition to `namespaces`: `None` adds no namespace, while an empty
    /// selector (`Some({})`) means all namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// The node label defining a domain (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`).
    pub topology_key: String,
    /// For preferred terms, the weight (1–100); `None` for required terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// Pod affinity and anti-affinity of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct PodAffinity {
    /// Required affinity terms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<PodAffinityTerm>,
    /// Preferred affinity terms (with weights).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferred: Vec<PodAffinityTerm>,
    /// Required anti-affinity terms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anti_required: Vec<PodAffinityTerm>,
    /// Preferred anti-affinity terms (with weights).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anti_preferred: Vec<PodAffinityTerm>,
}

impl PodAffinity {
    /// Whether there is no term at all.
    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
            && self.preferred.is_empty()
            && self.anti_required.is_empty()
            && self.anti_preferred.is_empty()
    }
}

/// What to do when a spread constraint cannot be met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WhenUnsatisfiable {
    /// A hard constraint.
    #[default]
    DoNotSchedule,
    /// A soft preference.
    ScheduleAnyway,
}

/// A topology spread constraint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    /// Largest allowed difference in matching pods between two domains.
    pub max_skew: i32,
    /// The node label defining a domain.
    pub topology_key: String,
    /// Hard or soft.
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// Which pods are counted; `None` (no `labelSelector`) counts no pod,
    /// while an empty selector (`{}`) counts every pod of the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Minimum number of eligible domains, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tolerations_follow_kubernetes_rules() {
        let spot = Taint {
            key: "spot".into(),
            value: Some("true".into()),
            effect: TaintEffect::NoSchedule,
        };
        let exact = Toleration {
            key: Some("spot".into()),
            value: Some("true".into()),
            ..Default::default()
        };
        let wrong_value = Toleration {
            value: Some("false".into()),
            ..exact.clone()
        };
        let any = Toleration {
            operator: TolerationOperator::Exists,
            ..Default::default()
        };
        let wrong_effect = Toleration {
            effect: Some(TaintEffect::NoExecute),
            ..exact.clone()
        };
        assert!(exact.tolerates(&spot));
        assert!(!wrong_value.tolerates(&spot));
        assert!(any.tolerates(&spot));
        assert!(!wrong_effect.tolerates(&spot));
        assert!(!tolerates_all(&[], std::slice::from_ref(&spot)));
        let soft = Taint {
            effect: TaintEffect::PreferNoSchedule,
            ..spot
        };
        assert!(tolerates_all(&[], &[soft]));
    }

    #[test]
    fn selectors_and_node_terms_match() {
        let node = labels(&[("topology.kubernetes.io/zone", "us-east-1a"), ("gen", "6")]);
        let term = NodeSelectorTerm {
            match_expressions: vec![
                SelectorRequirement {
                    key: "topology.kubernetes.io/zone".into(),
                    operator: SelectorOperator::In,
                    values: vec!["us-east-1a".into(), "us-east-1b".into()],
                },
                SelectorRequirement {
                    key: "gen".into(),
                    operator: SelectorOperator::Gt,
                    values: vec!["5".into()],
                },
            ],
            match_fields: vec![],
        };
        assert!(term.matches("n1", &node));
        let affinity = NodeAffinity {
            required: vec![term],
            preferred: vec![],
        };
        assert!(affinity.required_matches("n1", &node));
        assert!(!affinity.required_matches("n1", &labels(&[("gen", "7")])));
        assert!(LabelSelector::default().matches(&node));
    }

    #[test]
    fn an_empty_node_selector_term_matches_no_node() {
        let node = labels(&[("topology.kubernetes.io/zone", "us-east-1a")]);
        assert!(!NodeSelectorTerm::default().matches("n1", &node));
        let affinity = NodeAffinity {
            required: vec![NodeSelectorTerm::default()],
            preferred: vec![],
        };
        assert!(!affinity.required_matches("n1", &node));
        // An empty term beside a matching one does not stop the other from matching.
        let zone = NodeSelectorTerm {
            match_expressions: vec![SelectorRequirement {
                key: "topology.kubernetes.io/zone".into(),
                operator: SelectorOperator::Exists,
                values: vec![],
            }],
            match_fields: vec![],
        };
        let either = NodeAffinity {
            required: vec![NodeSelectorTerm::default(), zone],
            preferred: vec![],
        };
        assert!(either.required_matches("n1", &node));
        // No required terms at all is no requirement.
        assert!(NodeAffinity::default().required_matches("n1", &node));
    }
}
