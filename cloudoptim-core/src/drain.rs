//! Draining a node, or evicting one pod, as a state machine that does no
//! I/O, the way `quinn-proto` owns QUIC and `quinn` only drives it.
//!
//! [`Drain`] decides everything a drain decides: which pods it must evict
//! (DaemonSet, mirror and finished pods stay), whether it must refuse to
//! start (a pod annotated do-not-disrupt, or one no controller would
//! recreate, unless forced), when to cordon, which eviction requests to send
//! (by uid, so a StatefulSet's same-name replacement is left alone), what the
//! Eviction API's answers mean (a PDB's 429 and a 409 are retried every poll
//! interval), when the evicted pods are gone and when the deadline has
//! passed. A driver (the Kubernetes adapter) only lists pods, sends the
//! requests, sleeps until [`DrainNext::WaitUntil`] and passes `now` in.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

/// A pod as a drain sees it, read from the API by the driver.
///
/// The driver works out `do_not_disrupt` (see
/// [`crate::snapshot::DO_NOT_DISRUPT_ANNOTATIONS`]) and `has_controller`
/// (an owner reference with `controller: true`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`: the pod, not another of the same name.
    pub uid: Option<String>,
    /// Marked for deletion (`metadata.deletionTimestamp` is set).
    pub terminating: bool,
    /// Owned by a DaemonSet (a node drain leaves it).
    pub daemonset: bool,
    /// A mirror (static) pod (a node drain leaves it).
    pub mirror: bool,
    /// Phase `Succeeded` or `Failed` (a node drain leaves it).
    pub finished: bool,
    /// Annotated not to be disrupted.
    pub do_not_disrupt: bool,
    /// A controller (ReplicaSet, StatefulSet, Job, …) would recreate it.
    pub has_controller: bool,
}

impl DrainPod {
    /// `namespace/name`.
    pub fn key(&self) -> PodKey {
        PodKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether a node drain evicts it: it is not a DaemonSet pod, a mirror
    /// pod or a finished pod.
    pub fn must_evict(&self) -> bool {
        !(self.daemonset || self.mirror || self.finished)
    }

    /// Why an unforced drain must not evict it, if it must not.
    pub fn unmovable(&self) -> Option<Unmovable> {
        if self.do_not_disrupt {
            Some(Unmovable::DoNotDisrupt)
        } else if !self.has_controller {
            Some(Unmovable::NoController)
        } else {
            None
        }
    }
}

/// A pod's namespace and name; displayed `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Why an unforced drain does not evict a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmovable {
    /// Annotated do-not-disrupt.
    DoNotDisrupt,
    /// No controller would recreate it (`kubectl drain` wants `--force`).
    NoController,
}

impl fmt::Display for Unmovable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unmovable::DoNotDisrupt => "do-not-disrupt",
            Unmovable::NoController => "no controller would recreate it",
        })
    }
}

/// What the Eviction API answered to one [`EvictRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvictionAnswer {
    /// 201: the pod is being deleted (in a dry run: it would be).
    Accepted,
    /// 404: the pod is gone already.
    Gone,
    /// 429: a PodDisruptionBudget allows no disruption now (the message);
    /// retried after the poll interval.
    Refused(String),
    /// 409: the pod changed under the request (its uid no longer matches);
    /// retried after the poll interval.
    Conflict(String),
}

/// One eviction to request, for the pod with this uid only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvictRequest {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The uid to send as the eviction's precondition.
    pub uid: Option<String>,
}

/// Where a pod the drain is waiting for stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodState {
    /// No eviction requested yet.
    NotEvicted,
    /// The last eviction was refused (429, a PodDisruptionBudget): the
    /// message.
    Refused(String),
    /// The last eviction met a conflict (409): the message.
    Conflict(String),
    /// Being deleted: its eviction was accepted, or someone else deleted it.
    Terminating,
    /// Not evicted: it appeared after the drain started and an unforced drain
    /// does not evict it.
    Unmovable(Unmovable),
}

impl fmt::Display for PodState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodState::NotEvicted => f.write_str("not evicted yet"),
            PodState::Refused(message) => write!(f, "refused: {message}"),
            PodState::Conflict(message) => write!(f, "conflict, retrying: {message}"),
            PodState::Terminating => f.write_str("terminating"),
            PodState::Unmovable(why) => write!(f, "not evicted: {why}"),
        }
    }
}

/// How a drain behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainOptions {
    /// Evict do-not-disrupt pods and pods no controller would recreate too
    /// (a node going away regardless: a Spot interruption).
    pub force: bool,
    /// How long to wait between rounds: retrying refused evictions, looking
    /// again whether evicted pods are gone.
    pub poll_interval: Duration,
    /// Evictions are server-side dry runs, so no pod will go: after one
    /// round of requests the drain reports what would be evicted and ends.
    pub dry_run: bool,
}

/// What a finished drain did (in a dry run: would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods whose eviction was accepted (in a dry run: would be).
    pub evicted: Vec<PodKey>,
    /// Pods gone without an accepted eviction (gone before, a 404, a
    /// replacement of the same name seen instead, deleted by someone else).
    pub gone: Vec<PodKey>,
    /// Dry run only: pods still there that the round did not evict, with
    /// why (refused right now, terminating, …).
    pub not_evicted: Vec<(PodKey, PodState)>,
}

/// What the driver does next; see [`Drain::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainNext {
    /// List the pods (of the node, or the one pod) and pass them to
    /// [`Drain::observed`].
    Observe,
    /// Cordon this node, then poll again.
    Cordon(String),
    /// Request these evictions and pass each answer to [`Drain::answered`].
    Evict(Vec<EvictRequest>),
    /// Poll again at this time (never past the deadline).
    WaitUntil(Timestamp),
    /// Finished.
    Done(DrainReport),
    /// Not started (the node is not cordoned): an unforced drain must not
    /// evict these pods.
    Refused(Vec<(PodKey, Unmovable)>),
    /// The deadline passed with these pods still there.
    DeadlineExceeded {
        /// Each pod left and where it stands.
        remaining: Vec<(PodKey, PodState)>,
    },
}

impl DrainNext {
    /// Whether the drain is over (done, refused or past its deadline).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            DrainNext::Done(_) | DrainNext::Refused(_) | DrainNext::DeadlineExceeded { .. }
        )
    }
}

#[derive(Clone, Debug)]
enum Target {
    Node(String),
    Pod(PodKey),
}

#[derive(Clone, Debug)]
enum Phase {
    /// Waiting for the first observation.
    Check,
    /// A node drain that may start: cordon next.
    Cordon,
    /// Evicting and waiting.
    Drain,
    /// Over; `poll` repeats this.
    Finished(DrainNext),
}

#[derive(Clone, Debug)]
struct Tracked {
    /// The uid first seen under this name; another uid is a replacement.
    uid: Option<String>,
    state: PodState,
    accepted: bool,
    gone: bool,
}

impl Tracked {
    fn wants_eviction(&self) -> bool {
        !self.gone
            && matches!(
                self.state,
                PodState::NotEvicted | PodState::Refused(_) | PodState::Conflict(_)
            )
    }
}

/// A drain of one node, or the eviction of one pod, driven by a caller
/// that does the I/O.
///
/// Call [`Drain::poll`] with the current time and do what it says until it
/// says the drain is over ([`DrainNext::is_final`]).
///
/// ```
/// use std::time::Duration;
/// use cloudoptim_core::drain::{Drain, DrainNext, DrainOptions, DrainPod, EvictionAnswer};
/// use jiff::{SignedDuration, Timestamp};
///
/// let start: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
/// let options = DrainOptions { force: false, poll_interval: Duration::from_secs(2), dry_run: false };
/// let mut drain = Drain::node("node-a", start + SignedDuration::from_mins(5), options);
/// let web = DrainPod {
///     namespace: "shop".into(),
///     name: "web-1".into(),
///     uid: Some("u1".into()),
///     has_controller: true,
///     ..DrainPod::default()
/// };
/// // A toy cluster: the pod is gone once its eviction is accepted.
/// let mut on_node = vec![web];
/// let mut now = start;
/// let report = loop {
///     match drain.poll(now) {
///         DrainNext::Observe => drain.observed(on_node.clone()),
///         DrainNext::Cordon(_node) => {}
///         DrainNext::Evict(requests) => {
///             for r in requests {
///                 on_node.retain(|p| p.name != r.name);
///                 drain.answered(&r.namespace, &r.name, EvictionAnswer::Accepted);
///             }
///         }
///         DrainNext::WaitUntil(t) => now = t,
///         DrainNext::Done(report) => break report,
///         other => panic!("{other:?}"),
///     }
/// };
/// assert_eq!(report.evicted[0].to_string(), "shop/web-1");
/// ```
#[derive(Clone, Debug)]
pub struct Drain {
    target: Target,
    deadline: Timestamp,
    options: DrainOptions,
    phase: Phase,
    pods: BTreeMap<PodKey, Tracked>,
    /// An observation arrived since the last wait.
    fresh: bool,
    /// This round's evictions were requested.
    asked: bool,
    wait_until: Option<Timestamp>,
}

impl Drain {
    /// Drain `node` by `deadline`: refuse, or cordon it, evict its pods and
    /// wait until they are gone.
    pub fn node(node: impl Into<String>, deadline: Timestamp, options: DrainOptions) -> Drain {
        Drain::new(Target::Node(node.into()), deadline, options)
    }

    /// Evict one pod by `deadline` and wait until it is gone; done at once
    /// if it is gone already. Only the pod seen first is evicted, not a
    /// replacement of the same name. `options.force` plays no part: the
    /// step that asks for one eviction has checked the pod already.
    pub fn pod(
        namespace: impl Into<String>,
        name: impl Into<String>,
        deadline: Timestamp,
        options: DrainOptions,
    ) -> Drain {
        let key = PodKey {
            namespace: namespace.into(),
            name: name.into(),
        };
        Drain::new(Target::Pod(key), deadline, options)
    }

    fn new(target: Target, deadline: Timestamp, options: DrainOptions) -> Drain {
        Drain {
            target,
            deadline,
            options,
            phase: Phase::Check,
            pods: BTreeMap::new(),
            fresh: false,
            asked: false,
            wait_until: None,
        }
    }

    /// The deadline.
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }

    /// What the API shows now, after [`DrainNext::Observe`]: for a node, all
    /// its pods (the drain leaves those it must); for one pod, that pod or
    /// nothing. Pods seen before and missing now, or seen under another uid,
    /// are gone.
    pub fn observed(&mut self, pods: Vec<DrainPod>) {
        let present: BTreeMap<PodKey, DrainPod> = pods
            .into_iter()
            .filter(|p| match &self.target {
                Target::Node(_) => p.must_evict(),
                Target::Pod(key) => p.namespace == key.namespace && p.name == key.name,
            })
            .map(|p| (p.key(), p))
            .collect();
        match self.phase {
            Phase::Check => self.check(present),
            Phase::Drain => self.update(present),
            Phase::Cordon | Phase::Finished(_) => {}
        }
    }

    /// The first observation: may the drain start?
    fn check(&mut self, present: BTreeMap<PodKey, DrainPod>) {
        match &self.target {
            Target::Node(_) => {
                let unmovable: Vec<(PodKey, Unmovable)> = if self.options.force {
                    Vec::new()
                } else {
                    present
                        .values()
                        .filter(|p| !p.terminating)
                        .filter_map(|p| p.unmovable().map(|why| (p.key(), why)))
                        .collect()
                };
                self.phase = if unmovable.is_empty() {
                    Phase::Cordon
                } else {
                    Phase::Finished(DrainNext::Refused(unmovable))
                };
            }
            Target::Pod(key) => {
                if present.is_empty() {
                    self.phase = Phase::Finished(DrainNext::Done(DrainReport {
                        gone: vec![key.clone()],
                        ..DrainReport::default()
                    }));
                } else {
                    // The first look is this round's observation.
                    self.phase = Phase::Drain;
                    self.update(present);
                }
            }
        }
    }

    fn update(&mut self, present: BTreeMap<PodKey, DrainPod>) {
        for (key, tracked) in self.pods.iter_mut().filter(|(_, t)| !t.gone) {
            match present.get(key) {
                Some(pod) if pod.uid == tracked.uid => {
                    if pod.terminating {
                        tracked.state = PodState::Terminating;
                    }
                }
                // Gone, or replaced by a pod of the same name.
                _ => tracked.gone = true,
            }
        }
        for (key, pod) in present {
            if self.pods.contains_key(&key) {
                continue;
            }
            let state = if pod.terminating {
                PodState::Terminating
            } else {
                match (&self.target, self.options.force, pod.unmovable()) {
                    (Target::Node(_), false, Some(why)) => PodState::Unmovable(why),
                    _ => PodState::NotEvicted,
                }
            };
            let tracked = Tracked {
                uid: pod.uid,
                state,
                accepted: false,
                gone: false,
            };
            self.pods.insert(key, tracked);
        }
        self.fresh = true;
    }

    /// What the Eviction API answered to the request for
    /// `namespace/name`. An answer for a pod not asked about is ignored.
    pub fn answered(&mut self, namespace: &str, name: &str, answer: EvictionAnswer) {
        let key = PodKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let Some(tracked) = self.pods.get_mut(&key) else {
            return;
        };
        if tracked.gone || tracked.accepted {
            return;
        }
        match answer {
            EvictionAnswer::Accepted => {
                tracked.accepted = true;
                tracked.state = PodState::Terminating;
            }
            EvictionAnswer::Gone => tracked.gone = true,
            EvictionAnswer::Refused(message) => tracked.state = PodState::Refused(message),
            EvictionAnswer::Conflict(message) => tracked.state = PodState::Conflict(message),
        }
    }

    /// What to do next, `now`. Once the drain is over, it keeps returning
    /// the same final answer.
    pub fn poll(&mut self, now: Timestamp) -> DrainNext {
        match &self.phase {
            Phase::Finished(next) => return next.clone(),
            Phase::Check => return DrainNext::Observe,
            Phase::Cordon => {
                // Only a node drain gets here; the pods are listed again
                // once it is cordoned.
                self.phase = Phase::Drain;
                self.fresh = false;
                if let Target::Node(node) = &self.target {
                    return DrainNext::Cordon(node.clone());
                }
            }
            Phase::Drain => {}
        }
        if let Some(until) = self.wait_until {
            if now < until {
                return DrainNext::WaitUntil(until);
            }
            self.wait_until = None;
        }
        if !self.fresh {
            return DrainNext::Observe;
        }
        if self.pods.values().all(|t| t.gone) || (self.options.dry_run && self.asked) {
            return self.finish(DrainNext::Done(self.report()));
        }
        if now >= self.deadline {
            let remaining = self
                .pods
                .iter()
                .filter(|(_, t)| !t.gone)
                .map(|(key, t)| (key.clone(), t.state.clone()))
                .collect();
            return self.finish(DrainNext::DeadlineExceeded { remaining });
        }
        if !self.asked {
            self.asked = true;
            let requests: Vec<EvictRequest> = self
                .pods
                .iter()
                .filter(|(_, t)| t.wants_eviction())
                .map(|(key, t)| EvictRequest {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    uid: t.uid.clone(),
                })
                .collect();
            if !requests.is_empty() {
                return DrainNext::Evict(requests);
            }
        }
        if self.options.dry_run {
            return self.finish(DrainNext::Done(self.report()));
        }
        let until = now
            .checked_add(self.options.poll_interval)
            .map_or(self.deadline, |t| t.min(self.deadline));
        self.wait_until = Some(until);
        self.fresh = false;
        self.asked = false;
        DrainNext::WaitUntil(until)
    }

    fn finish(&mut self, next: DrainNext) -> DrainNext {
        self.phase = Phase::Finished(next.clone());
        next
    }

    fn report(&self) -> DrainReport {
        let mut report = DrainReport::default();
        for (key, t) in &self.pods {
            if t.accepted {
                report.evicted.push(key.clone());
            } else if t.gone {
                report.gone.push(key.clone());
            } else {
                report.not_evicted.push((key.clone(), t.state.clone()));
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn t0() -> Timestamp {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        t0() + SignedDuration::from_secs(secs)
    }

    fn options() -> DrainOptions {
        DrainOptions {
            force: false,
            poll_interval: Duration::from_secs(2),
            dry_run: false,
        }
    }

    fn pod(name: &str, uid: &str) -> DrainPod {
        DrainPod {
            namespace: "ns".into(),
            name: name.into(),
            uid: Some(uid.into()),
            has_controller: true,
            ..DrainPod::default()
        }
    }

    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn request(name: &str, uid: &str) -> EvictRequest {
        EvictRequest {
            namespace: "ns".into(),
            name: name.into(),
            uid: Some(uid.into()),
        }
    }

    /// Past the refusal check and the cordon, at `now`.
    fn started(pods: &[DrainPod], opts: DrainOptions, deadline: Timestamp) -> Drain {
        let mut drain = Drain::node("n1", deadline, opts);
        assert_eq!(drain.poll(t0()), DrainNext::Observe);
        drain.observed(pods.to_vec());
        assert_eq!(drain.poll(t0()), DrainNext::Cordon("n1".into()));
        assert_eq!(drain.poll(t0()), DrainNext::Observe);
        drain
    }

    #[test]
    fn a_pdb_refusing_three_times_then_accepting_finishes_the_drain() {
        let db = pod("db-0", "u1");
        let mut drain = started(std::slice::from_ref(&db), options(), at(300));
        let mut now = t0();
        for round in 0..3 {
            drain.observed(vec![db.clone()]);
            assert_eq!(
                drain.poll(now),
                DrainNext::Evict(vec![request("db-0", "u1")])
            );
            drain.answered("ns", "db-0", EvictionAnswer::Refused("budget".into()));
            let wait = drain.poll(now);
            assert_eq!(wait, DrainNext::WaitUntil(at(2 * (round + 1))), "{round}");
            now = at(2 * (round + 1));
            assert_eq!(drain.poll(now), DrainNext::Observe);
        }
        drain.observed(vec![db.clone()]);
        assert!(matches!(drain.poll(now), DrainNext::Evict(_)));
        drain.answered("ns", "db-0", EvictionAnswer::Accepted);
        assert_eq!(drain.poll(now), DrainNext::WaitUntil(at(8)));
        now = at(8);
        assert_eq!(drain.poll(now), DrainNext::Observe);
        drain.observed(vec![DrainPod {
            terminating: true,
            ..db
        }]);
        // Terminating: waited for, not evicted again.
        assert_eq!(drain.poll(now), DrainNext::WaitUntil(at(10)));
        now = at(10);
        assert_eq!(drain.poll(now), DrainNext::Observe);
        drain.observed(vec![]);
        match drain.poll(now) {
            DrainNext::Done(report) => {
                assert_eq!(report.evicted, vec![key("db-0")]);
                assert!(report.gone.is_empty() && report.not_evicted.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_deadline_passing_while_a_pdb_refuses_names_the_pod_and_the_message() {
        let db = pod("db-0", "u1");
        let mut drain = started(std::slice::from_ref(&db), options(), at(5));
        let mut now = t0();
        loop {
            match drain.poll(now) {
                DrainNext::Observe => drain.observed(vec![db.clone()]),
                DrainNext::Evict(_) => drain.answered(
                    "ns",
                    "db-0",
                    EvictionAnswer::Refused("would violate the pod's disruption budget".into()),
                ),
                DrainNext::WaitUntil(t) => now = t,
                DrainNext::DeadlineExceeded { remaining } => {
                    assert_eq!(
                        remaining,
                        vec![(
                            key("db-0"),
                            PodState::Refused("would violate the pod's disruption budget".into())
                        )]
                    );
                    assert_eq!(
                        remaining[0].1.to_string(),
                        "refused: would violate the pod's disruption budget"
                    );
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(now, at(5));
    }

    #[test]
    fn pods_that_never_terminate_exceed_the_deadline() {
        let pods = [pod("a", "ua"), pod("b", "ub")];
        let mut drain = started(&pods, options(), at(3));
        let mut now = t0();
        let mut evictions = 0;
        let remaining = loop {
            match drain.poll(now) {
                DrainNext::Observe => drain.observed(pods.to_vec()),
                DrainNext::Evict(requests) => {
                    evictions += 1;
                    for r in requests {
                        drain.answered(&r.namespace, &r.name, EvictionAnswer::Accepted);
                    }
                }
                DrainNext::WaitUntil(t) => now = t,
                DrainNext::DeadlineExceeded { remaining } => break remaining,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(evictions, 1, "accepted evictions are not sent again");
        assert_eq!(
            remaining,
            vec![
                (key("a"), PodState::Terminating),
                (key("b"), PodState::Terminating)
            ]
        );
    }

    #[test]
    fn a_same_name_replacement_is_not_evicted_and_counts_as_done() {
        let mut drain = Drain::pod("ns", "db-0", at(60), options());
        assert_eq!(drain.poll(t0()), DrainNext::Observe);
        drain.observed(vec![pod("db-0", "old")]);
        assert_eq!(
            drain.poll(t0()),
            DrainNext::Evict(vec![request("db-0", "old")])
        );
        drain.answered("ns", "db-0", EvictionAnswer::Accepted);
        assert_eq!(drain.poll(t0()), DrainNext::WaitUntil(at(2)));
        assert_eq!(drain.poll(at(2)), DrainNext::Observe);
        drain.observed(vec![pod("db-0", "new")]);
        match drain.poll(at(2)) {
            DrainNext::Done(report) => assert_eq!(report.evicted, vec![key("db-0")]),
            other => panic!("{other:?}"),
        }

        // On a node too: the replacement is not evicted.
        let mut drain = started(&[pod("db-0", "old")], options(), at(60));
        drain.observed(vec![pod("db-0", "old")]);
        assert!(matches!(drain.poll(t0()), DrainNext::Evict(_)));
        drain.answered("ns", "db-0", EvictionAnswer::Conflict("uid changed".into()));
        assert_eq!(drain.poll(t0()), DrainNext::WaitUntil(at(2)));
        assert_eq!(drain.poll(at(2)), DrainNext::Observe);
        drain.observed(vec![pod("db-0", "new")]);
        match drain.poll(at(2)) {
            DrainNext::Done(report) => assert_eq!(report.gone, vec![key("db-0")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn daemonset_mirror_and_finished_pods_are_left() {
        let pods = vec![
            DrainPod {
                daemonset: true,
                ..pod("agent", "u1")
            },
            DrainPod {
                mirror: true,
                has_controller: false,
                ..pod("static", "u2")
            },
            DrainPod {
                finished: true,
                has_controller: false,
                ..pod("job", "u3")
            },
            pod("web", "u4"),
        ];
        let mut drain = started(&pods, options(), at(60));
        drain.observed(pods.clone());
        assert_eq!(
            drain.poll(t0()),
            DrainNext::Evict(vec![request("web", "u4")])
        );
        drain.answered("ns", "web", EvictionAnswer::Accepted);
        assert!(matches!(drain.poll(t0()), DrainNext::WaitUntil(_)));
        assert_eq!(drain.poll(at(2)), DrainNext::Observe);
        drain.observed(pods[..3].to_vec());
        match drain.poll(at(2)) {
            DrainNext::Done(report) => assert_eq!(report.evicted, vec![key("web")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unforced_drain_refuses_do_not_disrupt_and_bare_pods_before_any_eviction() {
        let pods = vec![
            DrainPod {
                has_controller: false,
                ..pod("bare", "u1")
            },
            DrainPod {
                do_not_disrupt: true,
                ..pod("pinned", "u2")
            },
            pod("web", "u3"),
        ];
        let mut drain = Drain::node("n1", at(60), options());
        assert_eq!(drain.poll(t0()), DrainNext::Observe);
        drain.observed(pods);
        let refused = DrainNext::Refused(vec![
            (key("bare"), Unmovable::NoController),
            (key("pinned"), Unmovable::DoNotDisrupt),
        ]);
        assert_eq!(drain.poll(t0()), refused, "no cordon, no eviction");
        assert_eq!(drain.poll(at(1)), refused);
        assert!(refused.is_final());
    }

    #[test]
    fn a_forced_drain_evicts_do_not_disrupt_and_bare_pods() {
        let pods = vec![
            DrainPod {
                has_controller: false,
                ..pod("bare", "u1")
            },
            DrainPod {
                do_not_disrupt: true,
                ..pod("pinned", "u2")
            },
        ];
        let forced = DrainOptions {
            force: true,
            ..options()
        };
        let mut drain = started(&pods, forced, at(60));
        drain.observed(pods);
        assert_eq!(
            drain.poll(t0()),
            DrainNext::Evict(vec![request("bare", "u1"), request("pinned", "u2")])
        );
    }

    #[test]
    fn a_do_not_disrupt_pod_arriving_after_the_check_is_not_evicted() {
        let mut drain = started(&[], options(), at(4));
        drain.observed(vec![DrainPod {
            do_not_disrupt: true,
            ..pod("late", "u1")
        }]);
        let mut now = t0();
        loop {
            match drain.poll(now) {
                DrainNext::Observe => drain.observed(vec![DrainPod {
                    do_not_disrupt: true,
                    ..pod("late", "u1")
                }]),
                DrainNext::WaitUntil(t) => now = t,
                DrainNext::DeadlineExceeded { remaining } => {
                    assert_eq!(
                        remaining,
                        vec![(key("late"), PodState::Unmovable(Unmovable::DoNotDisrupt))]
                    );
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_already_gone_pod_is_done() {
        let mut drain = Drain::pod("ns", "web", at(60), options());
        assert_eq!(drain.poll(t0()), DrainNext::Observe);
        drain.observed(vec![]);
        let done = DrainNext::Done(DrainReport {
            gone: vec![key("web")],
            ..DrainReport::default()
        });
        assert_eq!(drain.poll(t0()), done);

        // A 404 to the eviction: gone too.
        let mut drain = Drain::pod("ns", "web", at(60), options());
        drain.poll(t0());
        drain.observed(vec![pod("web", "u1")]);
        assert!(matches!(drain.poll(t0()), DrainNext::Evict(_)));
        drain.answered("ns", "web", EvictionAnswer::Gone);
        assert_eq!(drain.poll(t0()), done);

        // An empty node: cordoned, nothing evicted.
        let mut drain = started(&[], options(), at(60));
        drain.observed(vec![]);
        assert_eq!(drain.poll(t0()), DrainNext::Done(DrainReport::default()));
    }

    #[test]
    fn a_dry_run_does_one_round_then_reports_what_would_be_evicted() {
        let pods = vec![
            pod("a", "ua"),
            pod("b", "ub"),
            DrainPod {
                terminating: true,
                ..pod("c", "uc")
            },
        ];
        let dry = DrainOptions {
            dry_run: true,
            ..options()
        };
        let mut drain = started(&pods, dry, at(60));
        drain.observed(pods);
        assert_eq!(
            drain.poll(t0()),
            DrainNext::Evict(vec![request("a", "ua"), request("b", "ub")])
        );
        drain.answered("ns", "a", EvictionAnswer::Accepted);
        drain.answered("ns", "b", EvictionAnswer::Refused("budget".into()));
        match drain.poll(t0()) {
            DrainNext::Done(report) => {
                assert_eq!(report.evicted, vec![key("a")]);
                assert_eq!(
                    report.not_evicted,
                    vec![
                        (key("b"), PodState::Refused("budget".into())),
                        (key("c"), PodState::Terminating)
                    ]
                );
            }
            other => panic!("{other:?}"),
        }

        // One pod, refused right now: answered at once, no waiting.
        let mut drain = Drain::pod("ns", "a", at(60), dry);
        drain.poll(t0());
        drain.observed(vec![pod("a", "ua")]);
        assert!(matches!(drain.poll(t0()), DrainNext::Evict(_)));
        drain.answered("ns", "a", EvictionAnswer::Refused("budget".into()));
        assert!(matches!(drain.poll(t0()), DrainNext::Done(r)
            if r.not_evicted == vec![(key("a"), PodState::Refused("budget".into()))]));
    }

    #[test]
    fn the_poll_interval_is_respected_and_no_wait_goes_past_the_deadline() {
        let db = pod("db-0", "u1");
        let mut drain = started(std::slice::from_ref(&db), options(), at(5));
        drain.observed(vec![db.clone()]);
        assert!(matches!(drain.poll(t0()), DrainNext::Evict(_)));
        drain.answered("ns", "db-0", EvictionAnswer::Refused("budget".into()));
        let now = at(1);
        assert_eq!(drain.poll(now), DrainNext::WaitUntil(at(3)));
        // Too early: the same wait, no eviction.
        assert_eq!(drain.poll(at(2)), DrainNext::WaitUntil(at(3)));
        assert_eq!(drain.poll(at(3)), DrainNext::Observe);
        drain.observed(vec![db.clone()]);
        assert!(matches!(drain.poll(at(3)), DrainNext::Evict(_)));
        drain.answered("ns", "db-0", EvictionAnswer::Refused("budget".into()));
        assert_eq!(drain.poll(at(4)), DrainNext::WaitUntil(at(5)), "capped");
        assert_eq!(drain.poll(at(5)), DrainNext::Observe);
        drain.observed(vec![db]);
        assert!(matches!(
            drain.poll(at(5)),
            DrainNext::DeadlineExceeded { .. }
        ));
    }

    #[test]
    fn a_single_pod_is_retried_on_429_until_it_is_accepted_and_gone() {
        let web = pod("web", "u1");
        let mut drain = Drain::pod("ns", "web", at(60), options());
        let mut now = t0();
        let mut refusals = 0;
        let mut accepted = false;
        let report = loop {
            match drain.poll(now) {
                DrainNext::Observe => drain.observed(if accepted && now >= at(10) {
                    vec![]
                } else {
                    vec![web.clone()]
                }),
                DrainNext::Evict(requests) => {
                    assert_eq!(requests, vec![request("web", "u1")]);
                    assert!(!accepted);
                    let answer = if refusals < 2 {
                        refusals += 1;
                        EvictionAnswer::Refused("budget".into())
                    } else {
                        accepted = true;
                        EvictionAnswer::Accepted
                    };
                    drain.answered("ns", "web", answer);
                }
                DrainNext::WaitUntil(t) => now = t,
                DrainNext::Done(report) => break report,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(report.evicted, vec![key("web")]);
        assert_eq!(now, at(10));
    }

    fn answer(code: u8) -> EvictionAnswer {
        match code % 4 {
            0 => EvictionAnswer::Accepted,
            1 => EvictionAnswer::Gone,
            2 => EvictionAnswer::Refused("budget".into()),
            _ => EvictionAnswer::Conflict("changed".into()),
        }
    }

    proptest! {
        /// Against a simulated cluster whose pods are replaced, linger and
        /// answer at random, with time advancing at random: the drain only
        /// evicts pods it was shown, never a uid again once accepted, and is
        /// over by its deadline.
        #[test]
        fn the_machine_evicts_only_what_it_saw_once_and_ends_by_the_deadline(
            flags in proptest::collection::vec(0u8..32, 0..5),
            answers in proptest::collection::vec(0u8..4, 1..32),
            lingers in proptest::collection::vec(0u8..4, 1..8),
            steps_ms in proptest::collection::vec(0i64..1500, 1..16),
            deadline_ms in 0i64..20_000,
            interval_ms in 1u64..3_000,
            force: bool,
            dry_run: bool,
            single: bool,
        ) {
            let deadline = t0() + SignedDuration::from_millis(deadline_ms);
            let opts = DrainOptions { force, poll_interval: Duration::from_millis(interval_ms), dry_run };
            // The cluster: pods by name, with uid and, once deleted, how
            // many more observations they linger for.
            let mut world: Vec<(DrainPod, Option<u8>)> = flags
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let p = DrainPod {
                        namespace: "ns".into(),
                        name: format!("p{i}"),
                        uid: Some(format!("p{i}-0")),
                        terminating: f & 1 != 0,
                        daemonset: f & 2 != 0,
                        finished: f & 4 != 0,
                        do_not_disrupt: f & 8 != 0,
                        has_controller: f & 16 == 0,
                        mirror: false,
                    };
                    (p, None)
                })
                .collect();
            let mut drain = if single {
                Drain::pod("ns", "p0", deadline, opts)
            } else {
                Drain::node("n1", deadline, opts)
            };
            let mut now = t0();
            let mut shown: BTreeSet<(String, Option<String>)> = BTreeSet::new();
            let mut accepted: BTreeSet<Option<String>> = BTreeSet::new();
            let (mut n_answer, mut n_step, mut n_linger, mut generation) = (0, 0, 0, 0);
            let mut past_deadline_polls = 0;
            let mut finished = None;
            for _ in 0..10_000 {
                let next = drain.poll(now);
                if now >= deadline {
                    past_deadline_polls += 1;
                    prop_assert!(past_deadline_polls <= 4, "still going past the deadline: {next:?}");
                }
                match next {
                    DrainNext::Observe => {
                        // Deleted pods linger, then go; a few come back under a new uid.
                        let mut shown_now = Vec::new();
                        for (p, linger) in world.iter_mut() {
                            if let Some(left) = linger {
                                if *left == 0 {
                                    generation += 1;
                                    if generation % 3 == 0 {
                                        p.uid = Some(format!("{}-{generation}", p.name));
                                        p.terminating = false;
                                        *linger = None;
                                    } else {
                                        continue;
                                    }
                                } else {
                                    *left -= 1;
                                }
                            }
                            if single && p.name != "p0" {
                                continue;
                            }
                            shown_now.push(p.clone());
                        }
                        shown = shown_now.iter().map(|p| (p.name.clone(), p.uid.clone())).collect();
                        drain.observed(shown_now);
                    }
                    DrainNext::Cordon(node) => prop_assert_eq!(node, "n1"),
                    DrainNext::Evict(requests) => {
                        for r in requests {
                            prop_assert!(shown.contains(&(r.name.clone(), r.uid.clone())),
                                "{r:?} was not in the last observation");
                            prop_assert!(!accepted.contains(&r.uid), "{r:?} evicted again");
                            let a = answer(answers[n_answer % answers.len()]);
                            n_answer += 1;
                            let Some((p, linger)) = world.iter_mut().find(|(p, _)| p.name == r.name) else {
                                continue;
                            };
                            match &a {
                                EvictionAnswer::Accepted => {
                                    accepted.insert(r.uid.clone());
                                    if !dry_run {
                                        p.terminating = true;
                                        *linger = Some(lingers[n_linger % lingers.len()]);
                                        n_linger += 1;
                                    }
                                }
                                EvictionAnswer::Gone => *linger = Some(0),
                                _ => {}
                            }
                            drain.answered(&r.namespace, &r.name, a);
                        }
                    }
                    DrainNext::WaitUntil(t) => {
                        prop_assert!(t <= deadline, "waits past the deadline");
                        prop_assert!(t >= now);
                        now = t;
                    }
                    done => {
                        prop_assert!(done.is_final());
                        prop_assert_eq!(drain.poll(now), done.clone(), "final answers repeat");
                        if matches!(done, DrainNext::DeadlineExceeded { .. }) {
                            prop_assert!(now >= deadline);
                        }
                        finished = Some(done);
                        break;
                    }
                }
                now += SignedDuration::from_millis(steps_ms[n_step % steps_ms.len()]);
                n_step += 1;
            }
            prop_assert!(finished.is_some(), "the drain never ended");
        }
    }
}
