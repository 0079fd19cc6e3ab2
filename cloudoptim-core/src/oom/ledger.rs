//! What OOM remediation remembers between runs: the kills already counted
//! and the bumps already made. A small value the caller keeps (in a file,
//! a ConfigMap, memory) and passes back; nothing here reads a clock.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::evidence::OomKey;
use crate::plan::WorkloadRef;

/// A container of a workload's pod template: what one bump changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TemplateContainer {
    /// The controller.
    pub workload: WorkloadRef,
    /// Container name.
    pub container: String,
}

/// Kills counted and bumps made, to deduplicate kills across observations
/// and rate-limit bumps per workload container. Serializes to JSON as two
/// lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomLedger {
    /// Each counted kill, with when it happened (its `finishedAt`, else
    /// when it was first seen).
    #[serde(with = "pairs", default)]
    counted: BTreeMap<OomKey, Timestamp>,
    /// When each template container was bumped.
    #[serde(with = "pairs", default)]
    bumps: BTreeMap<TemplateContainer, Vec<Timestamp>>,
}

impl OomLedger {
    /// An empty ledger.
    pub fn new() -> OomLedger {
        OomLedger::default()
    }

    /// Whether this kill was counted already.
    pub fn counted(&self, key: &OomKey) -> bool {
        self.counted.contains_key(key)
    }

    /// Count a kill that happened (or was first seen) `at`.
    pub fn count(&mut self, key: OomKey, at: Timestamp) {
        self.counted.entry(key).or_insert(at);
    }

    /// Kills counted.
    pub fn kills_counted(&self) -> usize {
        self.counted.len()
    }

    /// Record a bump of `target` at `at`.
    pub fn record_bump(&mut self, target: TemplateContainer, at: Timestamp) {
        self.bumps.entry(target).or_default().push(at);
    }

    /// Bumps of `target` in the `window` up to `now`, oldest first.
    pub fn bumps_within(
        &self,
        target: &TemplateContainer,
        now: Timestamp,
        window: SignedDuration,
    ) -> Vec<Timestamp> {
        let from = now.checked_sub(window).unwrap_or(Timestamp::MIN);
        self.bumps
            .get(target)
            .into_iter()
            .flatten()
            .copied()
            .filter(|t| *t > from && *t <= now)
            .collect()
    }

    /// Forget kills that happened before `now − keep_kills` and bumps
    /// before `now − keep_bumps`, so the ledger stays small.
    pub fn prune(
        &mut self,
        now: Timestamp,
        keep_kills: SignedDuration,
        keep_bumps: SignedDuration,
    ) {
        let kills_from = now.checked_sub(keep_kills).unwrap_or(Timestamp::MIN);
        let bumps_from = now.checked_sub(keep_bumps).unwrap_or(Timestamp::MIN);
        self.counted.retain(|_, at| *at >= kills_from);
        for times in self.bumps.values_mut() {
            times.retain(|t| *t > bumps_from);
        }
        self.bumps.retain(|_, times| !times.is_empty());
    }
}

/// A map as a list of `[key, value]` pairs: JSON object keys must be
/// strings, these keys are structs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oom::evidence::PodIdentity;
    use crate::snapshot::WorkloadKind;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn round_trips_through_json_and_prunes_by_age() {
        let key = OomKey {
            pod: PodIdentity::Uid { uid: "u1".into() },
            container: "app".into(),
            restart: 3,
        };
        let target = TemplateContainer {
            workload: WorkloadRef {
                kind: WorkloadKind::Deployment,
                namespace: "prod".into(),
                name: "api".into(),
            },
            container: "app".into(),
        };
        let mut ledger = OomLedger::new();
        ledger.count(key.clone(), at("2026-12-01T10:00:00Z"));
        ledger.record_bump(target.clone(), at("2026-12-01T10:05:00Z"));
        ledger.record_bump(target.clone(), at("2026-12-01T11:30:00Z"));
        let json = serde_json::to_string(&ledger).unwrap();
        assert_eq!(serde_json::from_str::<OomLedger>(&json).unwrap(), ledger);
        assert!(ledger.counted(&key));
        let now = at("2026-12-01T12:00:00Z");
        let hour = SignedDuration::from_hours(1);
        assert_eq!(ledger.bumps_within(&target, now, hour).len(), 1);
        ledger.prune(now, hour, hour);
        assert!(!ledger.counted(&key));
        assert_eq!(
            ledger
                .bumps_within(&target, now, SignedDuration::from_hours(9))
                .len(),
            1
        );
        assert_eq!(
            serde_json::from_str::<OomLedger>("{}").unwrap(),
            OomLedger::new()
        );
    }
}
