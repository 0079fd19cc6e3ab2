//! OOM kills read from a snapshot, and the key that makes each count once.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::snapshot::{ClusterSnapshot, ContainerStatus, Pod, Termination};
use crate::usage::UsageHistory;

/// The reason the kubelet gives a container killed for memory.
pub const OOM_KILLED: &str = "OOMKilled";

/// Which pod an OOM kill happened in: by `metadata.uid` when the snapshot
/// has it, else by namespace and name (a pod deleted and recreated under
/// the same name, a StatefulSet's `db-0`, then looks like the same pod, and
/// its kills at the same restart count are taken for the old ones).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum PodIdentity {
    /// `metadata.uid`.
    Uid {
        /// The uid.
        uid: String,
    },
    /// No uid known: `namespace/name`.
    Name {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

impl PodIdentity {
    /// The identity of `pod`: its uid, else its namespace and name.
    pub fn of(pod: &Pod) -> PodIdentity {
        match pod.uid.as_deref().filter(|u| !u.is_empty()) {
            Some(uid) => PodIdentity::Uid {
                uid: uid.to_owned(),
            },
            None => PodIdentity::Name {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            },
        }
    }
}

/// One OOM kill, the same whichever observation shows it.
///
/// The kill a container shows as its current `terminated` state at
/// restart count `n` is the one it shows as `lastState.terminated` at
/// `n + 1` once the kubelet restarts it, so `restart` is `n + 1` for the
/// first and `n` for the second: the kill's ordinal among the container's
/// runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OomKey {
    /// The pod.
    pub pod: PodIdentity,
    /// Container name.
    pub container: String,
    /// The run that was killed (see above).
    pub restart: u32,
}

/// Where in the container status the kill was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeenAs {
    /// `state.terminated`: the container is down now.
    Current,
    /// `lastState.terminated`: it was restarted after the kill.
    LastTermination,
}

/// An OOM kill in a pod of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomKill {
    /// The kill's identity.
    pub key: OomKey,
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// The container's restart count when observed.
    pub restart_count: u32,
    /// Where it was seen.
    pub seen_as: SeenAs,
    /// When the killed run finished, if the status says.
    pub finished_at: Option<Timestamp>,
    /// Exit code (137 for SIGKILL).
    pub exit_code: i32,
    /// The pod's container memory request, bytes (0 when none).
    pub memory_request_bytes: u64,
    /// The pod's container memory limit, bytes.
    pub memory_limit_bytes: Option<u64>,
}

fn is_oom(t: &Termination) -> bool {
    t.reason.as_deref() == Some(OOM_KILLED)
}

/// Every OOM kill the snapshot's pods show, current and last, app
/// containers only, in snapshot order.
pub fn oom_kills(snapshot: &ClusterSnapshot) -> Vec<OomKill> {
    snapshot.pods.iter().flat_map(oom_kills_of_pod).collect()
}

/// The OOM kills one pod shows.
pub(crate) fn oom_kills_of_pod(pod: &Pod) -> Vec<OomKill> {
    let mut out = Vec::new();
    for status in &pod.container_statuses {
        kills_of(pod, status, &mut out);
    }
    out
}

fn kills_of(pod: &Pod, status: &ContainerStatus, out: &mut Vec<OomKill>) {
    let spec = pod.containers.iter().find(|c| c.name == status.name);
    let seen = [
        (
            &status.terminated,
            SeenAs::Current,
            status.restart_count.saturating_add(1),
        ),
        (
            &status.last_termination,
            SeenAs::LastTermination,
            status.restart_count,
        ),
    ];
    for (termination, seen_as, restart) in seen {
        let Some(t) = termination.as_ref().filter(|t| is_oom(t)) else {
            continue;
        };
        out.push(OomKill {
            key: OomKey {
                pod: PodIdentity::of(pod),
                container: status.name.clone(),
                restart,
            },
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            container: status.name.clone(),
            restart_count: status.restart_count,
            seen_as,
            finished_at: t.finished_at,
            exit_code: t.exit_code,
            memory_request_bytes: spec.map_or(0, |c| c.requests.memory_bytes),
            memory_limit_bytes: spec.and_then(|c| c.limits.memory_bytes),
        });
    }
}

/// Observed memory peaks (working set), bytes, per pod container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPeaks {
    peaks: BTreeMap<String, u64>,
}

impl MemoryPeaks {
    /// No peaks known.
    pub fn new() -> MemoryPeaks {
        MemoryPeaks::default()
    }

    /// Record a sample: the peak becomes the larger of the two.
    pub fn observe(&mut self, namespace: &str, pod: &str, container: &str, bytes: u64) {
        let entry = self
            .peaks
            .entry(format!("{namespace}/{pod}/{container}"))
            .or_default();
        *entry = (*entry).max(bytes);
    }

    /// The peak of every series of `usage` over the samples at or after
    /// `since` (all of them when `None`).
    pub fn from_usage(usage: &UsageHistory, since: Option<Timestamp>) -> MemoryPeaks {
        let mut peaks = MemoryPeaks::new();
        let skip = match (since, usage.start) {
            (Some(since), Some(start)) if usage.interval_seconds > 0 => {
                let seconds = since.as_second().saturating_sub(start.as_second()).max(0);
                usize::try_from(seconds.div_euclid(i64::from(usage.interval_seconds)))
                    .unwrap_or(usize::MAX)
            }
            _ => 0,
        };
        for c in &usage.containers {
            if let Some(max) = c.memory_bytes.iter().skip(skip).max() {
                peaks.observe(&c.namespace, &c.pod, &c.container, *max);
            }
        }
        peaks
    }

    /// The peak of one pod's container.
    pub fn get(&self, namespace: &str, pod: &str, container: &str) -> Option<u64> {
        self.peaks
            .get(&format!("{namespace}/{pod}/{container}"))
            .copied()
    }

    /// How many containers have a peak.
    pub fn len(&self) -> usize {
        self.peaks.len()
    }

    /// Whether no peak is known.
    pub fn is_empty(&self) -> bool {
        self.peaks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kill_seen_now_and_after_the_restart_has_one_key() {
        let mut demo = crate::demo::DemoEnvironment::generate(
            &crate::demo::DemoConfig::default(),
            crate::catalog::Catalog::embedded().unwrap(),
        )
        .unwrap();
        let pod = demo
            .snapshot
            .pods
            .iter_mut()
            .find(|p| p.was_oom_killed())
            .unwrap();
        let status = &mut pod.container_statuses[0];
        let last = status.last_termination.clone().unwrap();
        // Before the restart: the kill is the current state, one restart fewer.
        status.restart_count -= 1;
        status.terminated = Some(last);
        status.last_termination = None;
        let before = oom_kills(&demo.snapshot);
        let pod = demo
            .snapshot
            .pods
            .iter_mut()
            .find(|p| p.was_oom_killed())
            .unwrap();
        let status = &mut pod.container_statuses[0];
        status.restart_count += 1;
        status.last_termination = status.terminated.take();
        let after = oom_kills(&demo.snapshot);
        assert_eq!(before.len(), after.len());
        assert_eq!(before[0].key, after[0].key);
        assert_eq!(before[0].seen_as, SeenAs::Current);
        assert_eq!(after[0].seen_as, SeenAs::LastTermination);
        assert!(matches!(before[0].key.pod, PodIdentity::Uid { .. }));
    }

    #[test]
    fn peaks_take_the_largest_sample_in_the_window() {
        let usage = UsageHistory {
            start: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            interval_seconds: 60,
            containers: vec![crate::usage::ContainerUsage {
                namespace: "a".into(),
                pod: "p".into(),
                container: "c".into(),
                cpu_millis: vec![],
                memory_bytes: vec![900, 5, 7, 6],
            }],
        };
        assert_eq!(
            MemoryPeaks::from_usage(&usage, None).get("a", "p", "c"),
            Some(900)
        );
        let since = Some("2026-12-01T00:01:00Z".parse().unwrap());
        assert_eq!(
            MemoryPeaks::from_usage(&usage, since).get("a", "p", "c"),
            Some(7)
        );
        let late = Some("2026-12-02T00:00:00Z".parse().unwrap());
        assert_eq!(
            MemoryPeaks::from_usage(&usage, late).get("a", "p", "c"),
            None
        );
    }
}
