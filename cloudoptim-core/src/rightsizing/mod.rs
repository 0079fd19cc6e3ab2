//! Workload rightsizing: CPU and memory requests (and, by policy, limits)
//! from observed usage, in the manner of the VPA recommender, explained
//! figure by figure, as a plan of `PatchResources` steps on the owning
//! controllers.
//!
//! [`recommend`] reads the [`UsageHistograms`] of each container (one key
//! per namespace, workload and container: every replica's samples together)
//! and computes, per resource:
//!
//! - **target** = the policy's percentile (p95 by default) of the decayed
//!   histogram × (1 + safety margin, 15%), rounded up (CPU to a millicore,
//!   memory to a MiB);
//! - for memory, never below the largest sample observed × (1 + margin), nor
//!   below what a recent OOM kill calls for (the [`BumpRule`] of OOM
//!   remediation over `max(request, peak)`, for kills younger than
//!   [`RightsizingPolicy::oom_lookback_seconds`]);
//! - never below the floors (10 millicores, 100 MiB by default), never above
//!   the policy's maximum nor what the largest node the cluster could launch
//!   offers pods ([`node_cap`]);
//! - **lower and upper bounds** with the VPA's confidence rule: `confidence
//!   = min(days of history, samples / 1440)`; lower = p50 × (1 + margin) ×
//!   (1 + 0.001 / c)⁻², upper = p95 × (1 + margin) × (1 + 1 / c) (the VPA's
//!   multipliers), with the target inside them.
//!
//! A resource is changed only when the target moves its request by at
//! least [`RightsizingPolicy::min_change_percent`] (10%); a container
//! without a request gets one. Limits follow [`LimitPolicy`]: by default
//! they keep their ratio to the request, as the VPA's `RequestsAndLimits`
//! does, and never fall below the new request. A resource an HPA scales on
//! ([`HorizontalPodAutoscaler::scales_on`](crate::snapshot::HorizontalPodAutoscaler::scales_on))
//! is reported, not patched: the HPA's utilization is a share of the
//! request, so a new request would change how it scales. Containers with
//! under [`RightsizingPolicy::min_history_seconds`] (24 h) of samples get no
//! recommendation unless the policy forces one, and the finding says so.
//! Only Deployments and StatefulSets are patched
//! ([`WorkloadRef::patchable_owner`], the rule OOM remediation uses too).
//!
//! The $/h saved is the change in requests priced at the cluster's
//! [`ResourceRates`] (its nodes' price per core-hour and GiB-hour), times the
//! pods running; without priced nodes it is `None`, never a guess. It is
//! what the freed requests are worth: it reaches the bill when
//! consolidation removes the nodes they free.
//!
//! Each step is guarded by [`Precondition::ContainerCpuIs`] and
//! [`Precondition::ContainerMemoryIs`]: the template still has the figures
//! the plan was made from.
//!
//! ```
//! use cloudoptim_core::catalog::Catalog;
//! use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
//! use cloudoptim_core::rightsizing::{recommend, Decision, RightsizingPolicy};
//! use cloudoptim_core::usage::{UsageHistograms, UsageOptions};
//!
//! let config = DemoConfig::default();
//! let catalog = Catalog::embedded()?;
//! let demo = DemoEnvironment::generate(&config, catalog)?;
//! let mut usage = UsageHistograms::new(UsageOptions::default());
//! usage.ingest_history(&demo.usage, &demo.snapshot)?;
//! let report = recommend(&demo.snapshot, catalog, &demo.region, &usage,
//!                        &RightsizingPolicy::default(), config.now);
//! assert!(report.findings.iter().any(|f| f.decision == Decision::Patch));
//! // Memory is never recommended below what the container was seen using.
//! for f in &report.findings {
//!     let peak = usage.get(&f.key).unwrap().max_memory_bytes;
//!     if f.decision == Decision::Patch {
//!         assert!(f.memory.new_request as f64 >= peak, "{}", f.key);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod figures;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use figures::{confidence, Bounds};

use crate::binpack::PackingPolicy;
use crate::catalog::Catalog;
use crate::money::UsdPerHour;
use crate::oom::{format_memory, node_cap, oom_kills, BumpRule, CapSource};
use crate::plan::{Action, Plan, Precondition, ResourcePatch, WorkloadRef};
use crate::pricing::ResourceRates;
use crate::resources::Dimension;
use crate::snapshot::{ClusterSnapshot, Workload, WorkloadKind};
use crate::usage::{ContainerHistograms, ContainerKey, UsageHistograms};

/// The name plans of this engine carry.
pub const ENGINE: &str = "rightsizing";

const MIB: u64 = 1 << 20;

/// What happens to limits when a request changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitPolicy {
    /// A limit keeps its ratio to the request (the VPA's
    /// `RequestsAndLimits`); a container without a limit gets none.
    #[default]
    KeepRatio,
    /// Limits are left as they are, except one below the new request,
    /// which is raised to it (Kubernetes refuses a request above its limit).
    Keep,
}

/// How requests are recommended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RightsizingPolicy {
    /// CPU percentile the target is taken at, 0–1.
    pub cpu_percentile: f64,
    /// Memory percentile (of the interval peaks), 0–1.
    pub memory_percentile: f64,
    /// Added on top of the percentile, percent.
    pub safety_margin_percent: u32,
    /// No CPU request below this, millicores.
    pub min_cpu_millis: u64,
    /// No memory request below this, bytes.
    pub min_memory_bytes: u64,
    /// No CPU request above this, millicores (`None`: only the node caps it).
    pub max_cpu_millis: Option<u64>,
    /// No memory request above this, bytes (`None`: only the node caps it).
    pub max_memory_bytes: Option<u64>,
    /// A request is changed only when the target differs from it by at
    /// least this share of it, percent.
    pub min_change_percent: u32,
    /// Containers with less history than this get no recommendation,
    /// seconds.
    pub min_history_seconds: u64,
    /// Recommend even with less history (the finding still says how much).
    pub force: bool,
    /// What limits do.
    pub limits: LimitPolicy,
    /// How much memory an OOM kill calls for (OOM remediation's rule).
    pub oom_bump: BumpRule,
    /// OOM kills younger than this keep memory at least at their bump,
    /// seconds.
    pub oom_lookback_seconds: u64,
    /// The base of the policy deciding which nodes the cluster could launch
    /// (the cap); region, zones, architectures and DaemonSets come from its
    /// nodes.
    pub packing: PackingPolicy,
}

impl Default for RightsizingPolicy {
    /// p95 + 15%, floors 10m / 100Mi, ≥ 10% changes, 24 h of history,
    /// limits keep their ratio, OOM kills of the last 24 h respected.
    fn default() -> Self {
        RightsizingPolicy {
            cpu_percentile: 0.95,
            memory_percentile: 0.95,
            safety_margin_percent: 15,
            min_cpu_millis: 10,
            min_memory_bytes: 100 * MIB,
            max_cpu_millis: None,
            max_memory_bytes: None,
            min_change_percent: 10,
            min_history_seconds: 86_400,
            force: false,
            limits: LimitPolicy::KeepRatio,
            oom_bump: BumpRule::default(),
            oom_lookback_seconds: 86_400,
            packing: PackingPolicy::default(),
        }
    }
}

/// What became of one resource's recommendation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The request (and limit) are patched.
    Patch,
    /// The target is within the threshold of the request.
    WithinThreshold,
    /// An HPA scales on this resource: reported, not patched.
    HpaScalesOn {
        /// The HPA's name.
        hpa: String,
    },
    /// No samples of this resource.
    NoData,
    /// The container as a whole is not patched (see its [`Decision`]).
    NotApplied,
}

/// One resource of one container: where it is, where it should be, and why.
/// Amounts are in the resource's unit: millicores for CPU, bytes for memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// CPU or memory.
    pub resource: Dimension,
    /// The request now (the template's; the pods' without a template), 0
    /// when none is set.
    pub current_request: u64,
    /// The limit now.
    pub current_limit: Option<u64>,
    /// The percentile read from the histogram, before margin and floors.
    pub percentile: Option<f64>,
    /// The recommended request, with every rule applied.
    pub target: u64,
    /// Bounds around the target.
    pub bounds: Bounds,
    /// The request after the plan (the current one when not patched).
    pub new_request: u64,
    /// The limit after the plan.
    pub new_limit: Option<u64>,
    /// What becomes of it.
    pub change: Change,
    /// The figures behind the target.
    pub why: String,
}

/// What was decided for one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// At least one resource is patched.
    Patch,
    /// Nothing moves by the threshold, or what would move is HPA-managed.
    NoChange,
    /// Less history than the policy asks for.
    NotEnoughHistory {
        /// Hours of history there are.
        hours: u64,
    },
    /// The owner is not patched (bare pod, Job, …); the figures are still
    /// shown.
    NotPatched {
        /// Why.
        why: String,
    },
}

impl Decision {
    /// A short name (`patch`, `no_change`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Patch => "patch",
            Decision::NoChange => "no_change",
            Decision::NotEnoughHistory { .. } => "not_enough_history",
            Decision::NotPatched { .. } => "not_patched",
        }
    }
}

/// One container of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RightsizingFinding {
    /// Namespace, workload and container.
    pub key: ContainerKey,
    /// The controller a patch goes to.
    pub workload: Option<WorkloadRef>,
    /// Pods of the workload in the snapshot (what the saving is multiplied by).
    pub replicas: u32,
    /// Hours between the first and last sample.
    pub history_hours: f64,
    /// CPU samples, over every replica.
    pub samples: u64,
    /// The VPA's confidence: `min(days of history, samples / 1440)`.
    pub confidence: f64,
    /// CPU, millicores.
    pub cpu: Recommendation,
    /// Memory, bytes.
    pub memory: Recommendation,
    /// The decision.
    pub decision: Decision,
    /// $/h saved by the planned change over every replica (negative when
    /// requests grow); `None` when no node of the cluster is priced.
    pub usd_per_hour_saved: Option<UsdPerHour>,
    /// $/h the targets would save if every resource were applied (HPA or
    /// threshold aside), `None` without prices.
    pub usd_per_hour_potential: Option<UsdPerHour>,
}

/// The answer of [`recommend`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RightsizingReport {
    /// One `PatchResources` step per container to change.
    pub plan: Plan,
    /// Every container with usage, in key order.
    pub findings: Vec<RightsizingFinding>,
    /// The prices the savings come from (`None`: no priced node, savings
    /// cannot be told).
    pub rates: Option<ResourceRates>,
    /// The cap on CPU requests, millicores, and where it comes from.
    pub cpu_cap: Option<(u64, CapSource)>,
    /// The cap on memory requests, bytes, and where it comes from.
    pub memory_cap: Option<(u64, CapSource)>,
    /// Things the reader should know.
    pub notes: Vec<String>,
}

impl RightsizingReport {
    /// $/h the plan saves, `None` without prices.
    pub fn usd_per_hour_saved(&self) -> Option<UsdPerHour> {
        self.rates?;
        Some(
            self.findings
                .iter()
                .filter_map(|f| f.usd_per_hour_saved)
                .fold(UsdPerHour::ZERO, |a, b| a + b),
        )
    }
}

/// Facts about one key gathered from the snapshot.
struct Current {
    cpu_request_millis: u64,
    cpu_limit_millis: Option<u64>,
    memory_request_bytes: u64,
    memory_limit_bytes: Option<u64>,
    replicas: u32,
    /// What a recent OOM kill calls for, bytes.
    oom_floor_bytes: Option<u64>,
}

/// Recommend requests for every container of `usage` at `now`, prices from
/// the nodes of `snapshot` in `region`. See the [module](self) for the rules.
pub fn recommend(
    snapshot: &ClusterSnapshot,
    catalog: &Catalog,
    region: &str,
    usage: &UsageHistograms,
    policy: &RightsizingPolicy,
    now: Timestamp,
) -> RightsizingReport {
    let mut notes = Vec::new();
    let rates = ResourceRates::of_cluster(&snapshot.nodes, catalog, region);
    if rates.is_none() {
        notes.push(format!(
            "no node is priced in {region}: savings cannot be told (recommendations stand)"
        ));
    }
    let cpu_cap = node_cap(snapshot, catalog, policy.packing.clone(), Dimension::Cpu);
    let memory_cap = node_cap(snapshot, catalog, policy.packing.clone(), Dimension::Memory);
    if memory_cap.is_none() {
        notes.push("no node size is known: requests are capped by the policy only".to_owned());
    }
    let currents = current_state(snapshot, policy, now);
    let mut plan = Plan::new(ENGINE, now);
    let mut findings = Vec::new();
    for (key, histograms) in usage.iter() {
        // No pod running now (scaled to zero, between rollouts): the
        // template still says what the requests are.
        let from_template = if currents.contains_key(key) {
            None
        } else {
            template_state(snapshot, key)
        };
        let current = currents.get(key).or(from_template.as_ref());
        let finding = recommend_one(
            snapshot,
            key,
            histograms,
            current,
            policy,
            rates.as_ref(),
            (cpu_cap.as_ref(), memory_cap.as_ref()),
        );
        if finding.decision == Decision::Patch {
            push_step(&mut plan, &finding);
        }
        findings.push(finding);
    }
    let missing = currents.keys().filter(|k| usage.get(k).is_none()).count();
    if missing > 0 {
        notes.push(format!(
            "{missing} container(s) in the snapshot have no usage samples: nothing is recommended for them"
        ));
    }
    RightsizingReport {
        plan,
        findings,
        rates,
        cpu_cap,
        memory_cap,
        notes,
    }
}

/// Requests, limits, replicas and OOM floors per key, from the snapshot.
fn current_state(
    snapshot: &ClusterSnapshot,
    policy: &RightsizingPolicy,
    now: Timestamp,
) -> BTreeMap<ContainerKey, Current> {
    let lookback = jiff::SignedDuration::from_secs(
        i64::try_from(policy.oom_lookback_seconds).unwrap_or(i64::MAX),
    );
    let oldest = now.checked_sub(lookback).unwrap_or(Timestamp::MIN);
    let mut kills: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    let oom = oom_kills(snapshot);
    for k in &oom {
        if k.finished_at.is_none_or(|t| t >= oldest) {
            let e = kills
                .entry((k.namespace.as_str(), k.pod.as_str(), k.container.as_str()))
                .or_default();
            *e = (*e).max(k.memory_request_bytes);
        }
    }
    let workloads: HashMap<(WorkloadKind, &str, &str), &Workload> = snapshot
        .workloads
        .iter()
        .map(|w| ((w.kind, w.namespace.as_str(), w.name.as_str()), w))
        .collect();
    let mut out: BTreeMap<ContainerKey, Current> = BTreeMap::new();
    for pod in snapshot.pods.iter().filter(|p| !p.phase.is_terminal()) {
        let owner = pod
            .top_owner()
            .cloned()
            .unwrap_or_else(|| crate::snapshot::OwnerRef {
                kind: "Pod".into(),
                name: pod.name.clone(),
            });
        let template = WorkloadRef::patchable_owner(pod.top_owner(), &pod.namespace)
            .ok()
            .and_then(|w| {
                workloads
                    .get(&(w.kind, w.namespace.as_str(), w.name.as_str()))
                    .copied()
            });
        for c in &pod.containers {
            let key = ContainerKey {
                namespace: pod.namespace.clone(),
                owner: owner.clone(),
                container: c.name.clone(),
            };
            let from_template =
                template.and_then(|w| w.template.containers.iter().find(|t| t.name == c.name));
            let source = from_template.unwrap_or(c);
            let killed = kills.get(&(pod.namespace.as_str(), pod.name.as_str(), c.name.as_str()));
            let entry = out.entry(key).or_insert(Current {
                cpu_request_millis: 0,
                cpu_limit_millis: None,
                memory_request_bytes: 0,
                memory_limit_bytes: None,
                replicas: 0,
                oom_floor_bytes: None,
            });
            entry.replicas = entry.replicas.saturating_add(1);
            // The template's figures, else the largest any pod runs with.
            if from_template.is_some() || source.requests.cpu_millis > entry.cpu_request_millis {
                entry.cpu_request_millis = source.requests.cpu_millis;
                entry.cpu_limit_millis = source.limits.cpu_millis;
            }
            if from_template.is_some() || source.requests.memory_bytes > entry.memory_request_bytes
            {
                entry.memory_request_bytes = source.requests.memory_bytes;
                entry.memory_limit_bytes = source.limits.memory_bytes;
            }
            if let Some(&request) = killed {
                let base = request.max(c.requests.memory_bytes);
                let bump = policy.oom_bump.bumped(base);
                entry.oom_floor_bytes = Some(entry.oom_floor_bytes.unwrap_or(0).max(bump));
            }
        }
    }
    out
}

/// The requests of `key`'s container on its controller's template, with
/// no replicas running.
fn template_state(snapshot: &ClusterSnapshot, key: &ContainerKey) -> Option<Current> {
    let w = WorkloadRef::patchable_owner(Some(&key.owner), &key.namespace).ok()?;
    let c = snapshot
        .workload(w.kind, &w.namespace, &w.name)?
        .template
        .containers
        .iter()
        .find(|c| c.name == key.container)?;
    Some(Current {
        cpu_request_millis: c.requests.cpu_millis,
        cpu_limit_millis: c.limits.cpu_millis,
        memory_request_bytes: c.requests.memory_bytes,
        memory_limit_bytes: c.limits.memory_bytes,
        replicas: 0,
        oom_floor_bytes: None,
    })
}

type Caps<'a> = (Option<&'a (u64, CapSource)>, Option<&'a (u64, CapSource)>);

fn recommend_one(
    snapshot: &ClusterSnapshot,
    key: &ContainerKey,
    h: &ContainerHistograms,
    current: Option<&Current>,
    policy: &RightsizingPolicy,
    rates: Option<&ResourceRates>,
    (cpu_cap, memory_cap): Caps<'_>,
) -> RightsizingFinding {
    let history_seconds = match (h.first_sample, h.last_sample) {
        (Some(a), Some(b)) => b.as_second().saturating_sub(a.as_second()).max(0),
        _ => 0,
    };
    let history_hours = history_seconds as f64 / 3600.0;
    let confidence = confidence(history_seconds, h.cpu_samples);
    let margin = 1.0 + f64::from(policy.safety_margin_percent) / 100.0;
    let (cpu_request, cpu_limit, memory_request, memory_limit, replicas, oom_floor) = current
        .map_or((0, None, 0, None, 0, None), |c| {
            (
                c.cpu_request_millis,
                c.cpu_limit_millis,
                c.memory_request_bytes,
                c.memory_limit_bytes,
                c.replicas,
                c.oom_floor_bytes,
            )
        });

    let mut cpu = figures::cpu(
        &h.cpu_millis,
        policy,
        margin,
        confidence,
        cpu_cap,
        cpu_request,
        cpu_limit,
    );
    let mut memory = figures::memory(
        h,
        policy,
        margin,
        confidence,
        memory_cap,
        oom_floor,
        memory_request,
        memory_limit,
    );

    let workload = WorkloadRef::patchable_owner(Some(&key.owner), &key.namespace);
    let enough =
        policy.force || u64::try_from(history_seconds).unwrap_or(0) >= policy.min_history_seconds;
    let decision = if !enough {
        Decision::NotEnoughHistory {
            hours: u64::try_from(history_seconds / 3600).unwrap_or(0),
        }
    } else if let Err(why) = &workload {
        Decision::NotPatched { why: why.clone() }
    } else {
        // HPAs on the same resource.
        if let Ok(w) = &workload {
            for hpa in snapshot.autoscalers_of(w.kind, &w.namespace, &w.name) {
                for r in [&mut cpu, &mut memory] {
                    let name = match r.resource {
                        Dimension::Cpu => "cpu",
                        _ => "memory",
                    };
                    if r.change == Change::Patch && hpa.scales_on(name, &key.container) {
                        r.change = Change::HpaScalesOn {
                            hpa: hpa.name.clone(),
                        };
                    }
                }
            }
        }
        if cpu.change == Change::Patch || memory.change == Change::Patch {
            Decision::Patch
        } else {
            Decision::NoChange
        }
    };
    if decision != Decision::Patch {
        for r in [&mut cpu, &mut memory] {
            if r.change == Change::Patch {
                r.change = Change::NotApplied;
            }
        }
    }
    for r in [&mut cpu, &mut memory] {
        if r.change != Change::Patch {
            r.new_request = r.current_request;
            r.new_limit = r.current_limit;
        }
    }
    let saved = |cpu_to: u64, memory_to: u64| {
        rates.map(|rates| {
            let cores = (cpu_request as f64 - cpu_to as f64) / 1000.0;
            let gib = (memory_request as f64 - memory_to as f64) / (1u64 << 30) as f64;
            let usd = (cores * rates.usd_per_cpu_hour + gib * rates.usd_per_gib_hour)
                * f64::from(replicas);
            UsdPerHour::from_usd(usd).unwrap_or(UsdPerHour::ZERO)
        })
    };
    let usd_per_hour_saved = saved(cpu.new_request, memory.new_request);
    let usd_per_hour_potential = saved(cpu.target, memory.target);
    RightsizingFinding {
        key: key.clone(),
        workload: workload.ok(),
        replicas,
        history_hours,
        samples: h.cpu_samples,
        confidence,
        cpu,
        memory,
        decision,
        usd_per_hour_saved,
        usd_per_hour_potential,
    }
}

fn push_step(plan: &mut Plan, f: &RightsizingFinding) {
    let Some(workload) = &f.workload else {
        return;
    };
    let patched = |r: &Recommendation| r.change == Change::Patch;
    let patch = ResourcePatch {
        cpu_request_millis: patched(&f.cpu).then_some(f.cpu.new_request),
        cpu_limit_millis: f
            .cpu
            .new_limit
            .filter(|l| patched(&f.cpu) && Some(*l) != f.cpu.current_limit),
        memory_request_bytes: patched(&f.memory).then_some(f.memory.new_request),
        memory_limit_bytes: f
            .memory
            .new_limit
            .filter(|l| patched(&f.memory) && Some(*l) != f.memory.current_limit),
    };
    let mut reason = format!(
        "{} {}: container {}",
        workload.kind, workload.name, f.key.container
    );
    for r in [&f.cpu, &f.memory] {
        reason.push_str("; ");
        reason.push_str(&describe(r));
    }
    reason.push_str(&format!(
        "; confidence {:.2} ({:.0} h, {} samples)",
        f.confidence, f.history_hours, f.samples
    ));
    plan.push(
        Action::PatchResources {
            workload: workload.clone(),
            container: f.key.container.clone(),
            patch,
        },
        reason,
        vec![
            Precondition::ContainerCpuIs {
                workload: workload.clone(),
                container: f.key.container.clone(),
                request_millis: f.cpu.current_request,
                limit_millis: f.cpu.current_limit,
            },
            Precondition::ContainerMemoryIs {
                workload: workload.clone(),
                container: f.key.container.clone(),
                request_bytes: f.memory.current_request,
                limit_bytes: f.memory.current_limit,
            },
        ],
        -f.usd_per_hour_saved.unwrap_or(UsdPerHour::ZERO),
    );
}

/// An amount in the resource's unit as Kubernetes writes it (`250m`, `512Mi`).
pub fn format_amount(resource: Dimension, amount: u64) -> String {
    match resource {
        Dimension::Cpu => format!("{amount}m"),
        _ => format_memory(amount),
    }
}

/// One line for a resource: `cpu 500m → 120m (p95 98m × 1.15; bounds 60m–300m)`.
pub fn describe(r: &Recommendation) -> String {
    let name = match r.resource {
        Dimension::Cpu => "cpu",
        _ => "memory",
    };
    let fmt = |v: u64| format_amount(r.resource, v);
    let what = match &r.change {
        Change::Patch => format!("{name} {} → {}", fmt(r.current_request), fmt(r.new_request)),
        Change::WithinThreshold => format!(
            "{name} {} kept (target {} within the threshold)",
            fmt(r.current_request),
            fmt(r.target)
        ),
        Change::HpaScalesOn { hpa } => format!(
            "{name} {} kept: HPA {hpa} scales on it (target {})",
            fmt(r.current_request),
            fmt(r.target)
        ),
        Change::NoData => format!("{name} {} kept: no samples", fmt(r.current_request)),
        Change::NotApplied => format!(
            "{name} {} (target {}, not applied)",
            fmt(r.current_request),
            fmt(r.target)
        ),
    };
    let limit = match (r.current_limit, r.new_limit) {
        (Some(a), Some(b)) if a != b => format!(", limit {} → {}", fmt(a), fmt(b)),
        _ => String::new(),
    };
    format!(
        "{what}{limit} ({}; bounds {}–{})",
        r.why,
        fmt(r.bounds.lower),
        fmt(r.bounds.upper)
    )
}
