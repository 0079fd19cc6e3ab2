//! The engines an optimization cycle runs, in order, and the plan each
//! makes from one observation of the cluster and its account.

use std::collections::BTreeSet;

use cloudoptim_core::binpack::LpGuidedPacker;
use cloudoptim_core::catalog::Catalog;
use cloudoptim_core::consolidation::{plan_consolidation, Consolidation};
use cloudoptim_core::inventory::AwsInventory;
use cloudoptim_core::office_hours::plan::plan_office_hours;
use cloudoptim_core::plan::{Action, Plan};
use cloudoptim_core::snapshot::{CapacityType, ClusterSnapshot};
use cloudoptim_core::spot::conversion::plan_spot_conversion;
use cloudoptim_core::waste::{ghost_instances, zombie_volumes};

use super::controller::ControllerConfig;
use super::store::ClusterRecord;

/// An engine of the optimization cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// Instances of the cluster that back no node
    /// ([`ghost_instances`]): marked, then reported or terminated.
    GhostInstances,
    /// Volumes of the cluster's persistent volumes that nothing uses any
    /// more ([`zombie_volumes`]): marked, snapshotted, deleted after the
    /// grace period.
    ZombieVolumes,
    /// Workloads annotated with office hours, scaled down outside them
    /// and back up before they start.
    OfficeHours,
    /// Nodes removed or replaced by cheaper ones.
    Consolidation,
    /// On-demand nodes moved onto spot instances.
    SpotConversion,
}

impl Engine {
    /// Every engine, in the order a cycle runs them: the account's waste
    /// first (it moves no pod), then the scaling of workloads, then the
    /// engines that move pods between nodes (on what is left running).
    pub const ALL: [Engine; 5] = [
        Engine::GhostInstances,
        Engine::ZombieVolumes,
        Engine::OfficeHours,
        Engine::Consolidation,
        Engine::SpotConversion,
    ];

    /// Its name: the engine name of its plans (`consolidation`,
    /// `spot-conversion`, …), as the history shows it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::GhostInstances => "ghost-instances",
            Engine::ZombieVolumes => "zombie-volumes",
            Engine::OfficeHours => cloudoptim_core::office_hours::plan::ENGINE,
            Engine::Consolidation => "consolidation",
            Engine::SpotConversion => "spot-conversion",
        }
    }

    /// The engine of this name.
    pub fn from_name(name: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One observation of a cluster, as the engines read it.
pub(crate) struct Observed {
    /// Everything the API server returned.
    pub whole: ClusterSnapshot,
    /// Restricted to the cluster's node selector, when it has one.
    pub scoped: Option<ClusterSnapshot>,
    /// Kinds whose list is not one consistent view (see
    /// `Observation::resumed_kinds`).
    pub inconsistent: Vec<&'static str>,
    /// The account's side, when it could be read.
    pub account: Option<AwsInventory>,
}

impl Observed {
    /// What the node engines plan on: the managed nodes and their pods.
    fn managed(&self) -> &ClusterSnapshot {
        self.scoped.as_ref().unwrap_or(&self.whole)
    }
}

/// The spot pool (instance type, zone) step `index` of `plan` buys from,
/// if it is a spot launch: when that step failed, the pool is left out of
/// the next plans for a while.
pub(crate) fn spot_pool_launched(plan: &Plan, index: usize) -> Option<(String, String)> {
    match &plan.steps.get(index)?.action {
        Action::LaunchInstance {
            instance_type,
            zone,
            capacity_type: CapacityType::Spot,
            ..
        } => Some((instance_type.clone(), zone.clone())),
        _ => None,
    }
}

/// The plan `engine` makes for `record`'s cluster: `Ok(None)` when the
/// configuration leaves it out, `Err` with the reason when it cannot tell
/// (no account observation, a list read in pieces, another region).
pub(crate) fn plan(
    engine: Engine,
    config: &ControllerConfig,
    record: &ClusterRecord,
    observed: &Observed,
    unavailable_spot: &BTreeSet<(String, String)>,
    catalog: &Catalog,
    now: jiff::Timestamp,
) -> Result<Option<Plan>, String> {
    let account = observed.account.as_ref();
    let need_account = || account.ok_or_else(|| "the account could not be observed".to_owned());
    let consistent = |kind: &'static str| {
        if observed.inconsistent.contains(&kind) {
            Err(format!(
                "the {kind} list was read in pieces at different revisions"
            ))
        } else {
            Ok(())
        }
    };
    let region = record.region.clone();
    let plan = match engine {
        Engine::GhostInstances => {
            let Some(template) = &config.ghost_instances else {
                return Ok(None);
            };
            let policy = ghost_instances::GhostPolicy {
                cluster_name: record.name.clone(),
                region,
                ..template.clone()
            };
            consistent("Node")?;
            // Every node of the API server: an instance backing any of
            // them is no ghost, whatever the node selector says.
            let nodes = ghost_instances::NodeList::Complete(&observed.whole.nodes);
            let report = ghost_instances::classify(need_account()?, nodes, &policy, catalog, now)
                .map_err(|e| e.to_string())?;
            ghost_instances::plan(&report, &policy, now)
        }
        Engine::ZombieVolumes => {
            let Some(template) = &config.zombie_volumes else {
                return Ok(None);
            };
            let policy = zombie_volumes::ZombiePolicy {
                cluster_name: record.name.clone(),
                region,
                ..template.clone()
            };
            consistent("PersistentVolume")?;
            let report = zombie_volumes::classify(&observed.whole, need_account()?, &policy, now)
                .map_err(|e| e.to_string())?;
            zombie_volumes::plan(&report, &policy, now)
        }
        Engine::OfficeHours => {
            let Some(policy) = &config.office_hours else {
                return Ok(None);
            };
            plan_office_hours(observed.managed(), now, policy, None).plan
        }
        Engine::Consolidation | Engine::SpotConversion => {
            let template = match engine {
                Engine::Consolidation => &config.consolidation,
                _ => &config.spot_conversion,
            };
            let Some(template) = template else {
                return Ok(None);
            };
            let policy = cloudoptim_core::consolidation::ConsolidationPolicy {
                region,
                ..template.clone()
            };
            let c: Consolidation = if engine == Engine::Consolidation {
                plan_consolidation(
                    observed.managed(),
                    account,
                    catalog,
                    &LpGuidedPacker::for_consolidation(),
                    &policy,
                    now,
                )
            } else {
                plan_spot_conversion(
                    observed.managed(),
                    account,
                    catalog,
                    &policy,
                    unavailable_spot,
                    now,
                )
            };
            tracing::info!(
                engine = %engine,
                removes = c.removed_nodes.len(),
                replaces = c.replacements.len(),
                saves_usd_per_hour = c.savings.net_saved_usd_per_hour.usd(),
                "nodes planned"
            );
            c.plan
        }
    };
    Ok(Some(plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudoptim_core::inventory::Tags;
    use cloudoptim_core::money::UsdPerHour;

    #[test]
    fn only_a_spot_launch_names_a_pool() {
        let now = "2026-12-03T12:00:00Z".parse().unwrap_or_default();
        let mut plan = Plan::new("spot-conversion", now);
        for capacity_type in [CapacityType::Spot, CapacityType::OnDemand] {
            plan.push(
                Action::LaunchInstance {
                    instance_type: "m6a.large".into(),
                    zone: "us-east-1a".into(),
                    capacity_type,
                    count: 1,
                    tags: Tags::new(),
                },
                "launch",
                vec![],
                UsdPerHour::ZERO,
            );
        }
        plan.push(
            Action::Cordon { node: "n".into() },
            "cordon",
            vec![],
            UsdPerHour::ZERO,
        );
        assert_eq!(
            spot_pool_launched(&plan, 0),
            Some(("m6a.large".to_owned(), "us-east-1a".to_owned()))
        );
        assert_eq!(spot_pool_launched(&plan, 1), None);
        assert_eq!(spot_pool_launched(&plan, 2), None);
        assert_eq!(spot_pool_launched(&plan, 3), None);
    }
}
