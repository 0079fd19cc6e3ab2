//! Pod disruption budgets.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::scheduling::{LabelSelector, Labels};

/// An absolute number or a percentage (`2` or `"50%"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntOrPercent {
    /// An absolute count.
    Count(i32),
    /// A percentage of the expected pods.
    Percent(u32),
}

impl IntOrPercent {
    /// The absolute value for `total` pods; percentages round up, as the
    /// disruption controller does for `minAvailable` and `maxUnavailable`.
    pub fn resolve(self, total: u32) -> u32 {
        match self {
            IntOrPercent::Count(n) => u32::try_from(n).unwrap_or(0),
            IntOrPercent::Percent(p) => {
                let scaled = u64::from(total) * u64::from(p);
                u32::try_from(scaled.div_ceil(100)).unwrap_or(u32::MAX)
            }
        }
    }
}

/// A PodDisruptionBudget (policy/v1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodDisruptionBudget {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Which pods it protects: `None` (no `spec.selector`) covers no pod,
    /// while an empty selector (`{}`) covers every pod of the namespace, as
    /// in policy/v1.
    pub selector: Option<LabelSelector>,
    /// `spec.minAvailable`.
    pub min_available: Option<IntOrPercent>,
    /// `spec.maxUnavailable`.
    pub max_unavailable: Option<IntOrPercent>,
    /// `status.disruptionsAllowed`: evictions the API server admits now.
    pub disruptions_allowed: u32,
    /// `status.currentHealthy`.
    pub current_healthy: u32,
    /// `status.desiredHealthy`.
    pub desired_healthy: u32,
    /// `status.expectedPods`.
    pub expected_pods: u32,
    /// Labels.
    pub labels: Labels,
}

impl PodDisruptionBudget {
    /// Whether the budget covers a pod in `namespace` with `labels`: never
    /// without a selector; every pod of the namespace with an empty one.
    pub fn covers(&self, namespace: &str, labels: &Labels) -> bool {
        self.namespace == namespace && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

/// A list of PDBs indexed by namespace and the first of their
/// `matchLabels`, so finding the PDBs that cover a pod does not scan them
/// all. It holds positions in the list it was built from, and stays valid
/// for any list with the same selectors in the same order (a copy whose
/// disruption counts change, say).
pub(crate) struct PdbIndex<'a> {
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
    by_namespace: HashMap<&'a str, Vec<usize>>,
}

impl<'a> PdbIndex<'a> {
    /// Index `pdbs`.
    pub(crate) fn new(pdbs: &'a [PodDisruptionBudget]) -> PdbIndex<'a> {
        let mut index = PdbIndex {
            by_label: HashMap::new(),
            by_namespace: HashMap::new(),
        };
        for (at, pdb) in pdbs.iter().enumerate() {
            // A missing selector covers nothing.
            let Some(selector) = &pdb.selector else {
                continue;
            };
            match selector.match_labels.iter().next() {
                Some((k, v)) => index
                    .by_label
                    .entry((pdb.namespace.as_str(), k.as_str(), v.as_str()))
                    .or_default()
                    .push(at),
                None => index
                    .by_namespace
                    .entry(pdb.namespace.as_str())
                    .or_default()
                    .push(at),
            }
        }
        index
    }

    /// Positions in `pdbs` (the indexed list, or one like it) of the PDBs
    /// covering a pod of `namespace` with `labels`: those found through
    /// each of the pod's labels in turn, then those of the namespace
    /// without `matchLabels`.
    pub(crate) fn covering(
        &self,
        pdbs: &[PodDisruptionBudget],
        namespace: &str,
        labels: &Labels,
    ) -> Vec<usize> {
        labels
            .iter()
            .filter_map(|(k, v)| self.by_label.get(&(namespace, k.as_str(), v.as_str())))
            .flatten()
            .chain(self.by_namespace.get(namespace).into_iter().flatten())
            .copied()
            .filter(|&at| pdbs.get(at).is_some_and(|b| b.covers(namespace, labels)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(IntOrPercent::Percent(50).resolve(3), 2);
        assert_eq!(IntOrPercent::Percent(0).resolve(3), 0);
        assert_eq!(IntOrPercent::Count(-1).resolve(3), 0);
        assert_eq!(IntOrPercent::Count(2).resolve(3), 2);
    }

    #[test]
    fn a_missing_selector_covers_nothing_and_an_empty_one_everything() {
        let pdb = |selector| PodDisruptionBudget {
            namespace: "prod".into(),
            name: "web".into(),
            selector,
            min_available: Some(IntOrPercent::Count(1)),
            max_unavailable: None,
            disruptions_allowed: 0,
            current_healthy: 0,
            desired_healthy: 0,
            expected_pods: 0,
            labels: Labels::new(),
        };
        let web: Labels = [("app".to_owned(), "web".to_owned())].into();
        assert!(!pdb(None).covers("prod", &web));
        assert!(!pdb(None).covers("prod", &Labels::new()));
        assert!(pdb(Some(LabelSelector::default())).covers("prod", &web));
        assert!(pdb(Some(LabelSelector::default())).covers("prod", &Labels::new()));
        assert!(!pdb(Some(LabelSelector::default())).covers("dev", &web));
        let app = LabelSelector {
            match_labels: web.clone(),
            match_expressions: vec![],
        };
        assert!(pdb(Some(app.clone())).covers("prod", &web));
        assert!(!pdb(Some(app)).covers("prod", &Labels::new()));
    }
}
