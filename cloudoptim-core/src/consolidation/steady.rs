//! Consolidation iterated to a steady state: plan, apply the plan in the
//! simulator, plan again on the result, until no plan saves the threshold.
//!
//! This is what the runtime's controller reaches over its cycles (one
//! budgeted plan per cycle, each on a fresh observation), computed ahead
//! on the simulated cluster, so a reader sees every round and the cost the
//! cluster settles at.
//!
//! ```
//! use cloudoptim_core::binpack::LpGuidedPacker;
//! use cloudoptim_core::catalog::Catalog;
//! use cloudoptim_core::consolidation::{until_steady, ConsolidationPolicy};
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//!
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&DemoConfig::default(), catalog)?;
//! let steady = until_steady(&demo.snapshot, Some(&demo.aws), catalog,
//!     &LpGuidedPacker::default(), &ConsolidationPolicy::default(), demo.config.now, 50)?;
//! assert!(steady.converged);
//! // Each round saves, and the rounds add up to the whole saving.
//! assert!(steady.rounds.iter().all(|r| r.saved_usd_per_hour > cloudoptim_core::UsdPerHour::ZERO));
//! let saved: cloudoptim_core::UsdPerHour = steady.rounds.iter().map(|r| r.saved_usd_per_hour).sum();
//! assert_eq!(saved, steady.saved_usd_per_hour());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use jiff::Timestamp;
use serde::Serialize;

use super::{
    consolidation_bound, plan_consolidation, Consolidation, ConsolidationBound, ConsolidationPolicy,
};
use crate::binpack::Packer;
use crate::catalog::Catalog;
use crate::inventory::AwsInventory;
use crate::money::UsdPerHour;
use crate::simulate::{simulate, SimulationError};
use crate::snapshot::ClusterSnapshot;

/// One plan of the iteration, applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Round {
    /// Nodes the plan removed.
    pub removed_nodes: usize,
    /// Nodes it launched (replacements, single or multi-node).
    pub launched_nodes: usize,
    /// Steps of the plan.
    pub steps: usize,
    /// What the plan saves, as it reports it.
    pub saved_usd_per_hour: UsdPerHour,
}

/// Where the iteration stopped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SteadyState {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// The cluster after the last round.
    pub snapshot: ClusterSnapshot,
    /// The account after the last round.
    pub account: Option<AwsInventory>,
    /// Whether the last plan found nothing that saves the threshold (false:
    /// the round limit stopped it, or a simulated round was not safe).
    pub converged: bool,
    /// Why it stopped without converging, if it did.
    pub stopped: Option<String>,
    /// A lower bound on the cost of any cluster that keeps the nodes that
    /// must stay at the end ([`consolidation_bound`], from the last plan
    /// made); `None` when it cannot be told.
    pub bound: Option<ConsolidationBound>,
    /// The last plan made, on the cluster as it ends: the one that found
    /// nothing worth doing, or the one not applied. Its `blocked` says why
    /// each remaining node stays.
    pub last_plan: Consolidation,
}

impl SteadyState {
    /// What all rounds save together.
    pub fn saved_usd_per_hour(&self) -> UsdPerHour {
        self.rounds.iter().map(|r| r.saved_usd_per_hour).sum()
    }
}

/// Consolidate `snapshot` plan after plan, each applied in the simulator,
/// until a plan saves less than `policy.min_savings_usd_per_hour` (or is
/// empty), at most `max_rounds` plans. A plan whose simulated result
/// leaves a pod pending or lost, or breaks a PDB or a do-not-disrupt
/// annotation, is not applied: it is made again for half as many nodes,
/// and when even a plan for one node is not safe, the iteration stops
/// before it and says so.
pub fn until_steady(
    snapshot: &ClusterSnapshot,
    account: Option<&AwsInventory>,
    catalog: &Catalog,
    packer: &dyn Packer,
    policy: &ConsolidationPolicy,
    now: Timestamp,
    max_rounds: usize,
) -> Result<SteadyState, SimulationError> {
    let mut current = snapshot.clone();
    let mut account = account.cloned();
    let mut rounds = Vec::new();
    let mut stopped = None;
    let mut converged = false;
    // The last plan made on `current`, if it is still current.
    let mut last = None;
    // A plan the simulator finds unsafe is made again with half the nodes
    // (its destinations were chosen offline; placed one by one, pods can
    // strand), down to one node; after a round that is applied, the whole
    // budget again.
    let mut budget = policy.max_disrupted_nodes;
    while rounds.len() < max_rounds {
        let halved = ConsolidationPolicy {
            max_disrupted_nodes: budget,
            ..policy.clone()
        };
        let c = plan_consolidation(&current, account.as_ref(), catalog, packer, &halved, now);
        let saved = c.savings.net_saved_usd_per_hour;
        if c.plan.steps.is_empty() || saved < policy.min_savings_usd_per_hour {
            converged = true;
            last = Some(c);
            break;
        }
        let after = simulate(&current, account.as_ref(), &c.plan, catalog, now)?;
        if !after.is_safe() && budget > 1 && c.removed_nodes.len() > 1 {
            budget = (c.removed_nodes.len() / 2).max(1);
            continue;
        }
        if !after.is_safe() {
            stopped = Some(format!(
                "round {} would leave {} pod(s) pending and {} lost, break {} PDB(s) and disrupt {} do-not-disrupt pod(s) in the simulator: not applied",
                rounds.len() + 1,
                after.pending.len(),
                after.lost.len(),
                after.pdbs_exceeded.len(),
                after.disrupted_do_not_disrupt.len()
            ));
            last = Some(c);
            break;
        }
        rounds.push(Round {
            removed_nodes: c.removed_nodes.len(),
            launched_nodes: c.replacements.len()
                + c.multi_replacements
                    .iter()
                    .map(|m| m.new_nodes.len())
                    .sum::<usize>(),
            steps: c.plan.steps.len(),
            saved_usd_per_hour: saved,
        });
        current = after.snapshot;
        account = after.account;
        budget = policy.max_disrupted_nodes;
    }
    if !converged && stopped.is_none() {
        stopped = Some(format!("stopped after {max_rounds} rounds"));
    }
    let last = last.unwrap_or_else(|| {
        plan_consolidation(&current, account.as_ref(), catalog, packer, policy, now)
    });
    let bound = consolidation_bound(&current, catalog, policy, &last);
    Ok(SteadyState {
        rounds,
        snapshot: current,
        account,
        converged,
        stopped,
        bound,
        last_plan: last,
    })
}
