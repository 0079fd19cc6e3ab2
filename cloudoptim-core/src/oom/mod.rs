//! OOMKilled remediation: containers the kernel killed for memory get more,
//! on their controller's template, by the VPA recommender's rule, within
//! caps, at a bounded rate, each change explained.
//!
//! [`remediate`] reads the [`OomKill`]s of a snapshot (a container's current
//! `terminated` state or its `lastState`, with `reason: OOMKilled`), counts
//! each kill once across observations through the caller's [`OomLedger`]
//! (keyed per pod uid, container and run, [`OomKey`]), and per container of
//! a Deployment's or StatefulSet's pod template plans
//!
//! - `base = max(request, observed peak)`: the largest memory request of
//!   the pods killed (what they ran with) and the largest working-set peak
//!   any pod of the workload reached in that container ([`MemoryPeaks`]);
//!   like the VPA, an earlier bump's figure is not part of the base, so
//!   repeated kills do not compound beyond the request they raise;
//! - `needed = max(base × 1.2, base + 100 MiB)` ([`BumpRule`]), rounded up
//!   to a whole MiB, integer arithmetic throughout;
//! - the new request `min(needed, cap)`, where the cap is the policy's
//!   ([`OomPolicy::max_memory_request_bytes`]) and the memory the largest
//!   node the cluster could launch offers pods
//!   ([`largest_candidate`](crate::binpack::largest_candidate)); a request
//!   is never lowered, whatever the cap;
//! - the limit, when there is one, keeps its ratio to the request (as the
//!   VPA does), capped by the node but never below the request, nor below the
//!   limit it had; a container without a limit gets none;
//! - at most [`OomPolicy::max_bumps`] bumps per
//!   [`OomPolicy::rate_window_seconds`] per template container: past that
//!   the container is reported as an [`Decision::OomLoop`] and left alone
//!   (a leak, or a workload more memory does not help, should not ratchet
//!   to the node's size).
//!
//! Each bump is an [`Action::PatchResources`] step on the controller,
//! guarded by [`Precondition::ContainerMemoryIs`] (the template still has
//! the figures the plan was made from), with a reason that shows every
//! figure. Bare pods, Jobs, CronJobs, DaemonSets and ReplicaSets without a
//! Deployment are reported ([`Decision::NotPatched`]), not patched: a Job's
//! template is immutable, and the executors patch Deployments and
//! StatefulSets only (what `deploy/rbac.yaml` grants). Kills older than
//! [`OomPolicy::max_kill_age_seconds`] (24 h, the VPA's aggregation
//! interval) are shown but not acted on.
//!
//! The step's `usd_per_hour_delta` is zero: more memory may or may not
//! need more nodes, which the consolidation engine answers.
//!
//! Keep the returned ledger only once the plan has run: a dry run's ledger
//! would count kills and bumps that did not happen.
//!
//! ```
//! use cloudoptim_core::catalog::Catalog;
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//! use cloudoptim_core::oom::{remediate, Decision, MemoryPeaks, OomLedger, OomPolicy};
//!
//! let config = DemoConfig::default();
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&config, catalog)?;
//! let peaks = MemoryPeaks::from_usage(&demo.usage, None);
//! let report = remediate(&demo.snapshot, catalog, &peaks, &OomPolicy::default(),
//!                        &OomLedger::new(), config.now);
//! assert!(report.findings.iter().any(|f| f.decision == Decision::Bump));
//! // The same observation again, with the ledger kept: nothing is counted twice.
//! let again = remediate(&demo.snapshot, catalog, &peaks, &OomPolicy::default(),
//!                       &report.ledger, config.now);
//! assert!(again.plan.steps.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bump;
mod evidence;
mod ledger;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

pub use bump::{format_memory, scaled_limit, BumpRule};
pub use evidence::{oom_kills, MemoryPeaks, OomKey, OomKill, PodIdentity, SeenAs, OOM_KILLED};
pub use ledger::{OomLedger, TemplateContainer};

use crate::binpack::{largest_candidate, PackingPolicy};
use crate::catalog::Catalog;
use crate::environment::NodeEnvironment;
use crate::money::UsdPerHour;
use crate::plan::{Action, Plan, Precondition, ResourcePatch, WorkloadRef};
use crate::resources::Dimension;
use crate::snapshot::{ClusterSnapshot, Container, OwnerRef};

/// The name plans of this engine carry.
pub const ENGINE: &str = "oom-remediation";

/// How OOM kills are remediated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OomPolicy {
    /// How much a kill adds.
    pub bump: BumpRule,
    /// No memory request above this, bytes (`None`: only the node caps it).
    pub max_memory_request_bytes: Option<u64>,
    /// Bumps allowed per template container in the rate window.
    pub max_bumps: u32,
    /// The rate window, seconds.
    pub rate_window_seconds: u64,
    /// Kills that finished longer ago than this are shown, not acted on.
    pub max_kill_age_seconds: u64,
    /// How long the ledger remembers a counted kill, seconds (at least
    /// `max_kill_age_seconds`, or a kill could count twice).
    pub ledger_retention_seconds: u64,
    /// The base of the policy that decides which nodes the cluster could
    /// launch; the cluster's region, zones, architectures and DaemonSets are
    /// filled in from its nodes ([`NodeEnvironment::packing_policy`]).
    pub packing: PackingPolicy,
}

impl Default for OomPolicy {
    /// VPA's bump (×1.2, at least +100 MiB), no cap but the node, 3 bumps
    /// an hour, kills younger than 24 h, remembered for 7 days.
    fn default() -> Self {
        OomPolicy {
            bump: BumpRule::default(),
            max_memory_request_bytes: None,
            max_bumps: 3,
            rate_window_seconds: 3600,
            max_kill_age_seconds: 86_400,
            ledger_retention_seconds: 7 * 86_400,
            packing: PackingPolicy::default(),
        }
    }
}

/// What caps a memory request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum CapSource {
    /// [`OomPolicy::max_memory_request_bytes`].
    Policy,
    /// The largest node the cluster could launch.
    LargestNode {
        /// Its instance type.
        instance_type: String,
    },
    /// No launchable type is known (unpriced region, say): the largest
    /// node the cluster has, less the DaemonSets.
    ExistingNode {
        /// Node name.
        node: String,
    },
}

/// A cap on a memory request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryCap {
    /// Bytes.
    pub bytes: u64,
    /// Where it comes from.
    pub source: CapSource,
}

impl std::fmt::Display for MemoryCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = format_memory(self.bytes);
        match &self.source {
            CapSource::Policy => write!(f, "{bytes} (the policy's maximum)"),
            CapSource::LargestNode { instance_type } => {
                write!(f, "{bytes} (what a {instance_type}, the largest node the cluster could launch, offers pods)")
            }
            CapSource::ExistingNode { node } => {
                write!(
                    f,
                    "{bytes} (what node {node}, the largest the cluster has, offers pods)"
                )
            }
        }
    }
}

/// What was decided for one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// A bump is planned.
    Bump,
    /// The template already asks for what the kills call for.
    AlreadyRaised,
    /// The cap is at or below the current request: nothing left to add.
    AtCap,
    /// Bumped `bumps` times in the rate window already: left alone and reported.
    OomLoop {
        /// Bumps in the window.
        bumps: u32,
    },
    /// The owner is not patched (bare pod, Job, …).
    NotPatched {
        /// Why.
        why: String,
    },
    /// Every kill was counted in an earlier run.
    AlreadyCounted,
    /// Every kill is older than [`OomPolicy::max_kill_age_seconds`].
    Stale,
}

impl Decision {
    /// A short name (`bump`, `oom_loop`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Bump => "bump",
            Decision::AlreadyRaised => "already_raised",
            Decision::AtCap => "at_cap",
            Decision::OomLoop { .. } => "oom_loop",
            Decision::NotPatched { .. } => "not_patched",
            Decision::AlreadyCounted => "already_counted",
            Decision::Stale => "stale",
        }
    }
}

/// One container with OOM kills: the evidence, the figures and the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomFinding {
    /// Namespace.
    pub namespace: String,
    /// The pods' top-level owner (`None` for a bare pod).
    pub owner: Option<OwnerRef>,
    /// The controller whose template a bump patches.
    pub workload: Option<WorkloadRef>,
    /// Container name.
    pub container: String,
    /// Every kill seen, oldest first.
    pub kills: Vec<OomKill>,
    /// Of which counted in this run.
    pub new_kills: usize,
    /// The memory request now: the template's, else the pods'.
    pub current_request_bytes: u64,
    /// The memory limit now.
    pub current_limit_bytes: Option<u64>,
    /// The largest working set seen in any pod of the owner in this container.
    pub peak_bytes: Option<u64>,
    /// `max(request of the killed pods, peak)`.
    pub base_bytes: u64,
    /// The bump of the base before any cap.
    pub needed_bytes: u64,
    /// The cap that applies.
    pub cap: Option<MemoryCap>,
    /// The request after remediation (the current one when unchanged).
    pub new_request_bytes: u64,
    /// The limit after remediation.
    pub new_limit_bytes: Option<u64>,
    /// The decision.
    pub decision: Decision,
    /// Why, with the figures.
    pub reason: String,
}

/// The answer of [`remediate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OomReport {
    /// The bumps, one `PatchResources` step per container.
    pub plan: Plan,
    /// Every container with kills, in namespace, owner, container order.
    pub findings: Vec<OomFinding>,
    /// The ledger to keep once the plan has run.
    pub ledger: OomLedger,
    /// The node cap, when one is known.
    pub node_cap: Option<MemoryCap>,
    /// Things the reader should know (pods without uid, …).
    pub notes: Vec<String>,
}

fn seconds(s: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX))
}

/// How much of `dimension` (millicores for CPU, bytes for memory) the
/// largest node the cluster could launch offers pods, else the largest node
/// it has (after the DaemonSets), with where the figure comes from; `None`
/// when neither is known. The one rule for "no request above a node", used
/// by OOM remediation and rightsizing alike.
pub fn node_cap(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    base: PackingPolicy,
    dimension: Dimension,
) -> Option<(u64, CapSource)> {
    let env = NodeEnvironment::of(snapshot);
    let packing = env.packing_policy(base);
    if let Ok(largest) = largest_candidate(catalog, &packing, dimension) {
        return Some((
            largest.allocatable.get(dimension),
            CapSource::LargestNode {
                instance_type: largest.instance_type,
            },
        ));
    }
    let overhead = env.daemonset_overhead.unwrap_or_default().get(dimension);
    snapshot
        .nodes
        .iter()
        .max_by_key(|n| {
            (
                n.allocatable.get(dimension),
                std::cmp::Reverse(n.name.clone()),
            )
        })
        .map(|n| {
            (
                n.allocatable.get(dimension).saturating_sub(overhead),
                CapSource::ExistingNode {
                    node: n.name.clone(),
                },
            )
        })
}

/// The memory the largest node the cluster could launch offers pods, else
/// that of the largest node it has (after the DaemonSets); `None` when
/// neither is known ([`node_cap`] for memory).
pub fn node_memory_cap(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    base: PackingPolicy,
) -> Option<MemoryCap> {
    node_cap(snapshot, catalog, base, Dimension::Memory)
        .map(|(bytes, source)| MemoryCap { bytes, source })
}

/// Plan the remediation of the snapshot's OOM kills at `now`. See the
/// [module](self) for the rules.
pub fn remediate(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    peaks: &MemoryPeaks,
    policy: &OomPolicy,
    ledger: &OomLedger,
    now: Timestamp,
) -> OomReport {
    let mut ledger = ledger.clone();
    ledger.prune(
        now,
        seconds(
            policy
                .ledger_retention_seconds
                .max(policy.max_kill_age_seconds),
        ),
        seconds(policy.rate_window_seconds),
    );
    let node_cap = node_memory_cap(snapshot, catalog, policy.packing.clone());
    let policy_cap = policy.max_memory_request_bytes.map(|bytes| MemoryCap {
        bytes,
        source: CapSource::Policy,
    });
    let cap = match (policy_cap, node_cap.clone()) {
        (Some(p), Some(n)) => Some(if p.bytes <= n.bytes { p } else { n }),
        (p, n) => p.or(n),
    };
    let mut notes = Vec::new();
    if node_cap.is_none() {
        notes.push(
            "no node size is known (no launchable type, no nodes): bumps are capped by the policy only"
                .to_owned(),
        );
    }

    // Group the kills by namespace, owner and container.
    type Group = (String, Option<OwnerRef>, String, String);
    let mut groups: BTreeMap<Group, Vec<OomKill>> = BTreeMap::new();
    let mut without_uid = 0;
    for pod in &snapshot.pods {
        let kills: Vec<OomKill> = evidence::oom_kills_of_pod(pod);
        if kills.is_empty() {
            continue;
        }
        if pod.uid.as_deref().is_none_or(str::is_empty) {
            without_uid += 1;
        }
        let owner = pod.top_owner().cloned();
        // Bare pods are grouped by themselves.
        let bare = if owner.is_none() {
            pod.name.clone()
        } else {
            String::new()
        };
        for kill in kills {
            groups
                .entry((
                    pod.namespace.clone(),
                    owner.clone(),
                    bare.clone(),
                    kill.container.clone(),
                ))
                .or_default()
                .push(kill);
        }
    }
    if without_uid > 0 {
        notes.push(format!(
            "{without_uid} pod(s) with OOM kills have no metadata.uid in the snapshot: their kills \
             are told apart by namespace/name, so a pod recreated under the same name is taken for the old one"
        ));
    }

    let mut plan = Plan::new(ENGINE, now);
    let mut findings = Vec::new();
    let max_age = seconds(policy.max_kill_age_seconds);
    let oldest_fresh = now.checked_sub(max_age).unwrap_or(Timestamp::MIN);
    for ((namespace, owner, _, container), mut kills) in groups {
        kills.sort_by_key(|k| (k.finished_at, k.key.clone()));
        let fresh: Vec<&OomKill> = kills
            .iter()
            .filter(|k| k.finished_at.is_none_or(|t| t >= oldest_fresh))
            .collect();
        let new: Vec<&OomKill> = fresh
            .iter()
            .copied()
            .filter(|k| !ledger.counted(&k.key))
            .collect();
        let new_count = new.len();
        let workload = WorkloadRef::patchable_owner(owner.as_ref(), &namespace);
        let template = workload
            .as_ref()
            .ok()
            .and_then(|w| snapshot.workload(w.kind, &w.namespace, &w.name))
            .and_then(|w| w.template.containers.iter().find(|c| c.name == container));
        let from_pods = kills.iter().max_by_key(|k| k.memory_request_bytes);
        let (current_request, current_limit) = match template {
            Some(Container {
                requests, limits, ..
            }) => (requests.memory_bytes, limits.memory_bytes),
            None => (
                from_pods.map_or(0, |k| k.memory_request_bytes),
                from_pods.and_then(|k| k.memory_limit_bytes),
            ),
        };
        // The peak over every pod of this owner (bare: the pod itself).
        let peak = snapshot
            .pods
            .iter()
            .filter(|p| {
                p.namespace == namespace
                    && match &owner {
                        Some(o) => p.top_owner() == Some(o),
                        None => kills.iter().any(|k| k.pod == p.name),
                    }
            })
            .filter_map(|p| peaks.get(&p.namespace, &p.name, &container))
            .max();
        let driving: Vec<&OomKill> = if new.is_empty() {
            kills.iter().collect()
        } else {
            new.clone()
        };
        let killed_request = driving
            .iter()
            .map(|k| k.memory_request_bytes)
            .max()
            .unwrap_or(0);
        let base = killed_request.max(peak.unwrap_or(0));
        let needed = policy.bump.bumped(base);
        for k in &new {
            ledger.count(k.key.clone(), k.finished_at.unwrap_or(now));
        }
        let capped = cap.as_ref().map_or(needed, |c| needed.min(c.bytes));
        let new_request = capped.max(current_request);
        let new_limit = current_limit.map(|limit| {
            let scaled = if current_request == 0 {
                limit.max(new_request)
            } else {
                scaled_limit(limit, current_request, new_request)
            };
            // A limit beyond any node means nothing; the policy's cap is on requests.
            let ceiling = node_cap
                .as_ref()
                .map_or(u64::MAX, |c| c.bytes)
                .max(new_request);
            scaled.min(ceiling).max(limit).max(new_request)
        });
        let evidence_text = evidence_summary(&kills, new_count);
        let figures = format!(
            "base max(request {}, peak {}) = {}; max({} × {}%, {} + {}) = {}",
            format_memory(killed_request),
            peak.map_or("unknown".to_owned(), format_memory),
            format_memory(base),
            format_memory(base),
            100 + policy.bump.percent,
            format_memory(base),
            format_memory(policy.bump.min_bytes),
            format_memory(needed),
        );
        let target = workload.clone().ok().map(|w| TemplateContainer {
            workload: w,
            container: container.clone(),
        });
        let (decision, reason) = if new.is_empty() && !fresh.is_empty() {
            (
                Decision::AlreadyCounted,
                format!("{evidence_text}; every kill was counted in an earlier run"),
            )
        } else if new.is_empty() {
            (
                Decision::Stale,
                format!(
                    "{evidence_text}; every kill is older than {} h: not acted on",
                    policy.max_kill_age_seconds / 3600
                ),
            )
        } else if let Err(why) = &workload {
            (
                Decision::NotPatched { why: why.clone() },
                format!("{evidence_text}; {figures}; not patched: {why}"),
            )
        } else if let Some(bumps) = target
            .as_ref()
            .map(|t| {
                ledger
                    .bumps_within(t, now, seconds(policy.rate_window_seconds))
                    .len()
            })
            .filter(|n| *n >= policy.max_bumps as usize)
        {
            let bumps = u32::try_from(bumps).unwrap_or(u32::MAX);
            (
                Decision::OomLoop { bumps },
                format!(
                    "{evidence_text}; OOM loop: bumped {bumps} time(s) in the last {} min already \
                     (at most {}): left at {}, look for a leak or a load that more memory does not cure",
                    policy.rate_window_seconds / 60,
                    policy.max_bumps,
                    format_memory(current_request)
                ),
            )
        } else if current_request >= needed {
            (
                Decision::AlreadyRaised,
                format!(
                    "{evidence_text}; {figures}; the template already requests {}",
                    format_memory(current_request)
                ),
            )
        } else if new_request == current_request {
            let cap_text = cap.as_ref().map(ToString::to_string).unwrap_or_default();
            (
                Decision::AtCap,
                format!(
                    "{evidence_text}; {figures}; capped at {cap_text}, not above the current request {}: left as it is",
                    format_memory(current_request)
                ),
            )
        } else {
            let capped_text = match &cap {
                Some(c) if new_request < needed => format!(", capped at {c}"),
                _ => String::new(),
            };
            let limit_text = match (current_limit, new_limit) {
                (Some(old), Some(new)) if new != old => format!(
                    ", limit {} → {} (ratio to the request kept)",
                    format_memory(old),
                    format_memory(new)
                ),
                (Some(old), _) => format!(", limit {} kept", format_memory(old)),
                (None, _) => ", no limit".to_owned(),
            };
            let bumps = target.as_ref().map_or(0, |t| {
                ledger
                    .bumps_within(t, now, seconds(policy.rate_window_seconds))
                    .len()
            });
            (
                Decision::Bump,
                format!(
                    "{evidence_text}; {figures}; request {} → {}{capped_text}{limit_text}; bump {} of at most {} per {} min",
                    format_memory(current_request),
                    format_memory(new_request),
                    bumps + 1,
                    policy.max_bumps,
                    policy.rate_window_seconds / 60
                ),
            )
        };
        let changes = decision == Decision::Bump;
        if let (true, Some(target)) = (changes, &target) {
            let patch = ResourcePatch {
                memory_request_bytes: Some(new_request),
                memory_limit_bytes: new_limit.filter(|l| Some(*l) != current_limit),
                ..ResourcePatch::default()
            };
            plan.push(
                Action::PatchResources {
                    workload: target.workload.clone(),
                    container: container.clone(),
                    patch,
                },
                format!("{} {}", target.workload.kind, target.workload.name) + ": " + &reason,
                vec![Precondition::ContainerMemoryIs {
                    workload: target.workload.clone(),
                    container: container.clone(),
                    request_bytes: current_request,
                    limit_bytes: current_limit,
                }],
                UsdPerHour::ZERO,
            );
            ledger.record_bump(target.clone(), now);
        }
        findings.push(OomFinding {
            namespace,
            owner,
            workload: workload.ok(),
            container,
            new_kills: new_count,
            kills,
            current_request_bytes: current_request,
            current_limit_bytes: current_limit,
            peak_bytes: peak,
            base_bytes: base,
            needed_bytes: needed,
            cap: cap.clone(),
            new_request_bytes: if changes {
                new_request
            } else {
                current_request
            },
            new_limit_bytes: if changes { new_limit } else { current_limit },
            decision,
            reason,
        });
    }
    OomReport {
        plan,
        findings,
        ledger,
        node_cap,
        notes,
    }
}

fn evidence_summary(kills: &[OomKill], new: usize) -> String {
    let list: Vec<String> = kills
        .iter()
        .take(3)
        .map(|k| {
            let when = k
                .finished_at
                .map_or("at an unknown time".to_owned(), |t| format!("at {t}"));
            format!("{} run {} {when}", k.pod, k.key.restart)
        })
        .collect();
    let more = kills.len().saturating_sub(3);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "OOMKilled {}× ({} new): {}{more}",
        kills.len(),
        new,
        list.join(", ")
    )
}

#[cfg(test)]
mod tests;
