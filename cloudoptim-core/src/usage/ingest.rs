//! Usage samples into per-container histograms: CPU samples as they come,
//! memory as one peak per aggregation interval (the VPA's model), replicas
//! of a workload aggregated under one key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::checkpoint::{CheckpointError, HistogramCheckpoint};
use super::histogram::{
    is_valid_value, DecayingHistogram, HistogramError, HistogramOptions, SeriesReport,
};
use super::UsageHistory;
use crate::snapshot::{ClusterSnapshot, OwnerRef};

/// Whose usage a histogram holds: a container name in the pods of one
/// workload (every replica's samples go to the same key). A pod without a
/// controller is its own owner, of kind `Pod`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerKey {
    /// Namespace.
    pub namespace: String,
    /// The owning workload (top-level controller), or the pod itself.
    pub owner: OwnerRef,
    /// Container name.
    pub container: String,
}

impl fmt::Display for ContainerKey {
    /// `namespace/Kind/name/container`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.namespace, self.owner.kind, self.owner.name, self.container
        )
    }
}

/// Why usage options are refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageOptionsError {
    /// The memory aggregation interval must be at least one second.
    #[error("memory peak interval {0} must be at least one second")]
    MemoryPeakInterval(SignedDuration),
}

/// How usage becomes histograms.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageOptions {
    cpu: Arc<HistogramOptions>,
    memory: Arc<HistogramOptions>,
    memory_peak_interval_seconds: i64,
}

impl Default for UsageOptions {
    /// The VPA's defaults: its bucket schemes, 24 h half-lives, and one
    /// memory peak per 24 h (see the [module docs](super) for why).
    fn default() -> Self {
        UsageOptions {
            cpu: Arc::new(HistogramOptions::cpu_millis()),
            memory: Arc::new(HistogramOptions::memory_bytes()),
            memory_peak_interval_seconds: Self::DEFAULT_MEMORY_PEAK_INTERVAL.as_secs(),
        }
    }
}

impl UsageOptions {
    /// One memory peak per UTC day, as the VPA.
    pub const DEFAULT_MEMORY_PEAK_INTERVAL: SignedDuration = SignedDuration::from_hours(24);

    /// Options from their parts; the interval is whole seconds (any
    /// fraction dropped), its windows aligned to the Unix epoch.
    pub fn new(
        cpu: HistogramOptions,
        memory: HistogramOptions,
        memory_peak_interval: SignedDuration,
    ) -> Result<UsageOptions, UsageOptionsError> {
        if memory_peak_interval.as_secs() < 1 {
            return Err(UsageOptionsError::MemoryPeakInterval(memory_peak_interval));
        }
        Ok(UsageOptions {
            cpu: Arc::new(cpu),
            memory: Arc::new(memory),
            memory_peak_interval_seconds: memory_peak_interval.as_secs(),
        })
    }

    /// The default options with another memory peak interval.
    pub fn with_memory_peak_interval(
        interval: SignedDuration,
    ) -> Result<UsageOptions, UsageOptionsError> {
        let defaults = UsageOptions::default();
        Self::new(
            HistogramOptions::clone(&defaults.cpu),
            HistogramOptions::clone(&defaults.memory),
            interval,
        )
    }

    /// CPU histogram options (millicores).
    pub fn cpu(&self) -> &Arc<HistogramOptions> {
        &self.cpu
    }

    /// Memory histogram options (bytes).
    pub fn memory(&self) -> &Arc<HistogramOptions> {
        &self.memory
    }

    /// Length of the interval each memory peak covers.
    pub fn memory_peak_interval(&self) -> SignedDuration {
        SignedDuration::from_secs(self.memory_peak_interval_seconds)
    }
}

/// The CPU and memory histograms of one [`ContainerKey`].
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerHistograms {
    /// CPU usage in millicores, every sample with weight 1.
    pub cpu_millis: DecayingHistogram,
    /// Memory peaks in bytes, one per replica and interval, each with weight
    /// 1 at the end of its interval.
    pub memory_peak_bytes: DecayingHistogram,
    /// The largest memory sample seen, in bytes (not decayed).
    pub max_memory_bytes: f64,
    /// Time of the first CPU sample.
    pub first_sample: Option<Timestamp>,
    /// Time of the last CPU sample.
    pub last_sample: Option<Timestamp>,
    /// CPU samples added (the VPA's sample count, for confidence).
    pub cpu_samples: u64,
    /// Per replica, the peak of the memory interval still open, already in
    /// [`memory_peak_bytes`](Self::memory_peak_bytes): live readings
    /// ([`UsageHistograms::add_readings`]) replace it when they are higher.
    pub open_memory_peaks: BTreeMap<String, OpenPeak>,
}

/// The peak so far of a replica's memory interval that is still open.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenPeak {
    /// The interval's end, where the peak is dated.
    pub interval_end: Timestamp,
    /// The largest reading in it, bytes.
    pub bytes: f64,
}

/// One live reading of a container's usage: what `metrics.k8s.io` serves
/// (a short window's average CPU, the working set now).
#[derive(Clone, Debug, PartialEq)]
pub struct UsageReading {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// When it was measured.
    pub at: Timestamp,
    /// CPU in use, millicores.
    pub cpu_millis: f64,
    /// Memory in use (working set), bytes.
    pub memory_bytes: f64,
}

impl ContainerHistograms {
    /// Empty histograms on these options.
    pub fn new(options: &UsageOptions) -> ContainerHistograms {
        ContainerHistograms {
            cpu_millis: DecayingHistogram::new(Arc::clone(&options.cpu)),
            memory_peak_bytes: DecayingHistogram::new(Arc::clone(&options.memory)),
            max_memory_bytes: 0.0,
            first_sample: None,
            last_sample: None,
            cpu_samples: 0,
            open_memory_peaks: BTreeMap::new(),
        }
    }

    /// Add another container's (a replica's, or another window's) state.
    pub fn merge(&mut self, other: &ContainerHistograms) -> Result<(), HistogramError> {
        self.cpu_millis.merge(&other.cpu_millis)?;
        self.memory_peak_bytes.merge(&other.memory_peak_bytes)?;
        self.max_memory_bytes = self.max_memory_bytes.max(other.max_memory_bytes);
        self.first_sample = min_some(self.first_sample, other.first_sample);
        self.last_sample = self.last_sample.max(other.last_sample);
        self.cpu_samples = self.cpu_samples.saturating_add(other.cpu_samples);
        for (pod, peak) in &other.open_memory_peaks {
            self.open_memory_peaks.entry(pod.clone()).or_insert(*peak);
        }
        Ok(())
    }

    /// Add one live memory reading of replica `pod`, bytes, the VPA's way:
    /// the first reading of an interval goes in as that interval's peak; a
    /// higher one in the same interval takes its place; a reading of an
    /// older interval than the open one is dropped (returns `false`).
    pub fn add_memory_reading(
        &mut self,
        pod: &str,
        at: Timestamp,
        bytes: f64,
        options: &UsageOptions,
    ) -> bool {
        if !is_valid_value(bytes) {
            return false;
        }
        let interval = options.memory_peak_interval_seconds;
        let end = at
            .as_second()
            .div_euclid(interval)
            .saturating_add(1)
            .saturating_mul(interval);
        let Ok(end_at) = Timestamp::from_second(end) else {
            return false;
        };
        self.max_memory_bytes = self.max_memory_bytes.max(bytes);
        match self.open_memory_peaks.get_mut(pod) {
            Some(open) if open.interval_end == end_at => {
                if bytes > open.bytes {
                    let _ = self
                        .memory_peak_bytes
                        .subtract_sample(open.bytes, 1.0, end_at);
                    let _ = self.memory_peak_bytes.add_sample(bytes, 1.0, end_at);
                    open.bytes = bytes;
                }
                true
            }
            Some(open) if open.interval_end > end_at => false,
            _ => {
                let _ = self.memory_peak_bytes.add_sample(bytes, 1.0, end_at);
                self.open_memory_peaks.insert(
                    pod.to_owned(),
                    OpenPeak {
                        interval_end: end_at,
                        bytes,
                    },
                );
                // Replicas gone for a whole interval are forgotten.
                self.open_memory_peaks
                    .retain(|_, p| p.interval_end.as_second() >= end.saturating_sub(interval));
                true
            }
        }
    }

    /// Bytes held: the struct and its histograms' heap (the shared options
    /// not counted).
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.cpu_millis.heap_bytes()
            + self.memory_peak_bytes.heap_bytes()
    }

    /// Add CPU samples in millicores.
    pub fn add_cpu_series(
        &mut self,
        samples: impl IntoIterator<Item = (Timestamp, f64)>,
    ) -> SeriesReport {
        self.add_cpu_seconds(samples.into_iter().map(|(t, v)| (t.as_second(), v)))
    }

    /// Add one replica's memory samples in bytes: one peak per interval.
    pub fn add_memory_series(
        &mut self,
        samples: impl IntoIterator<Item = (Timestamp, f64)>,
        options: &UsageOptions,
    ) -> SeriesReport {
        self.add_memory_seconds(
            samples.into_iter().map(|(t, v)| (t.as_second(), v)),
            options.memory_peak_interval_seconds,
        )
    }

    fn add_cpu_seconds(&mut self, samples: impl Iterator<Item = (i64, f64)>) -> SeriesReport {
        let mut first = i64::MAX;
        let mut last = i64::MIN;
        let report = self.cpu_millis.add_seconds(
            samples.inspect(|&(t, v)| {
                if is_valid_value(v) {
                    first = first.min(t);
                    last = last.max(t);
                }
            }),
            1.0,
        );
        if report.added > 0 {
            let first = Timestamp::from_second(first).ok();
            let last = Timestamp::from_second(last).ok();
            self.first_sample = min_some(self.first_sample, first);
            self.last_sample = self.last_sample.max(last);
            self.cpu_samples = self.cpu_samples.saturating_add(report.added as u64);
        }
        report
    }

    fn add_memory_seconds(
        &mut self,
        samples: impl Iterator<Item = (i64, f64)>,
        interval_seconds: i64,
    ) -> SeriesReport {
        let mut skipped = 0;
        let valid = samples.filter(|&(_, v)| {
            let ok = is_valid_value(v);
            skipped += usize::from(!ok);
            ok
        });
        let peaks = interval_peaks(valid, interval_seconds);
        if let Some(max) = peaks.iter().map(|p| p.1).reduce(f64::max) {
            self.max_memory_bytes = self.max_memory_bytes.max(max);
        }
        let added = self
            .memory_peak_bytes
            .add_seconds(peaks.into_iter(), 1.0)
            .added;
        SeriesReport { added, skipped }
    }
}

fn min_some(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The largest value in each interval `[k·interval, (k+1)·interval)`
/// seconds since the Unix epoch that holds a sample, dated at the
/// interval's end (where the VPA dates a peak), in time order. Samples may
/// come in any order.
pub(super) fn interval_peaks(
    samples: impl Iterator<Item = (i64, f64)>,
    interval_seconds: i64,
) -> Vec<(i64, f64)> {
    let interval = interval_seconds.max(1);
    let mut peaks: Vec<(i64, f64)> = Vec::new();
    let mut sorted = true;
    for (second, value) in samples {
        let window = second.div_euclid(interval);
        match peaks.last_mut() {
            Some((w, peak)) if *w == window => *peak = peak.max(value),
            last => {
                sorted &= last.is_none_or(|(w, _)| *w < window);
                peaks.push((window, value));
            }
        }
    }
    if !sorted {
        peaks.sort_by_key(|&(window, _)| window);
        peaks.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.max(later.1);
            }
            same
        });
    }
    for (window, _) in &mut peaks {
        *window = window.saturating_add(1).saturating_mul(interval);
    }
    peaks
}

/// Which workload each pod of a snapshot belongs to: the one rule keying
/// usage by owner.
struct Owners<'a>(BTreeMap<(&'a str, &'a str), Option<&'a OwnerRef>>);

impl<'a> Owners<'a> {
    fn of(snapshot: &'a ClusterSnapshot) -> Self {
        Owners(
            snapshot
                .pods
                .iter()
                .map(|p| ((p.namespace.as_str(), p.name.as_str()), p.top_owner()))
                .collect(),
        )
    }

    /// The key of a container of pod `namespace/pod`: its top-level owner,
    /// or the pod itself when it has none or is not in the snapshot
    /// (counted in `report`).
    fn key(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        report: &mut IngestReport,
    ) -> ContainerKey {
        let owner = match self.0.get(&(namespace, pod)) {
            Some(Some(owner)) => (*owner).clone(),
            found => {
                report.pods_not_in_snapshot += usize::from(found.is_none());
                OwnerRef {
                    kind: "Pod".into(),
                    name: pod.to_owned(),
                }
            }
        };
        ContainerKey {
            namespace: namespace.to_owned(),
            owner,
            container: container.to_owned(),
        }
    }
}

/// What [`UsageHistograms::ingest_history`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Container series read (one per container of each pod).
    pub series: usize,
    /// CPU samples added.
    pub cpu_samples: usize,
    /// Memory samples read into peaks.
    pub memory_samples: usize,
    /// Memory peaks added.
    pub memory_peaks: usize,
    /// Samples skipped (negative, NaN or infinite).
    pub skipped: usize,
    /// Series whose pod the snapshot does not know: keyed by the pod itself.
    pub pods_not_in_snapshot: usize,
}

/// Why a usage history cannot be ingested.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Samples without a start time cannot be dated.
    #[error("usage history field start is missing, but {containers} containers have samples")]
    NoStart {
        /// Containers with samples.
        containers: usize,
    },
    /// Samples need an interval between them.
    #[error("usage history field interval_seconds is 0")]
    ZeroInterval,
}

/// Per-container CPU and memory histograms, keyed by [`ContainerKey`].
///
/// ```
/// use cloudoptim_core::catalog::Catalog;
/// use cloudoptim_core::demo::{DemoConfig, DemoEnvironment};
/// use cloudoptim_core::usage::{UsageHistograms, UsageOptions};
///
/// let demo = DemoEnvironment::generate(&DemoConfig::default(), Catalog::embedded().unwrap()).unwrap();
/// let mut usage = UsageHistograms::new(UsageOptions::default());
/// let report = usage.ingest_history(&demo.usage, &demo.snapshot).unwrap();
/// assert!(report.cpu_samples > 0 && report.skipped == 0);
/// let (key, container) = usage.iter().next().unwrap();
/// let p95_millis = container.cpu_millis.percentile(0.95).unwrap();
/// assert!(p95_millis > 0.0, "{key}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct UsageHistograms {
    options: UsageOptions,
    containers: BTreeMap<ContainerKey, ContainerHistograms>,
}

impl UsageHistograms {
    /// No containers yet.
    pub fn new(options: UsageOptions) -> UsageHistograms {
        UsageHistograms {
            options,
            containers: BTreeMap::new(),
        }
    }

    /// Its options.
    pub fn options(&self) -> &UsageOptions {
        &self.options
    }

    /// The histograms of a key.
    pub fn get(&self, key: &ContainerKey) -> Option<&ContainerHistograms> {
        self.containers.get(key)
    }

    /// Every key and its histograms, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ContainerKey, &ContainerHistograms)> {
        self.containers.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.containers.len()
    }

    /// No keys.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    /// The histograms of a key, created empty if new.
    pub fn entry(&mut self, key: ContainerKey) -> &mut ContainerHistograms {
        let options = &self.options;
        self.containers
            .entry(key)
            .or_insert_with(|| ContainerHistograms::new(options))
    }

    /// Add CPU samples (millicores) of one replica of `key`.
    pub fn add_cpu_series(
        &mut self,
        key: ContainerKey,
        samples: impl IntoIterator<Item = (Timestamp, f64)>,
    ) -> SeriesReport {
        self.entry(key).add_cpu_series(samples)
    }

    /// Add memory samples (bytes) of one replica of `key`: one peak per
    /// interval of [`UsageOptions::memory_peak_interval`].
    pub fn add_memory_series(
        &mut self,
        key: ContainerKey,
        samples: impl IntoIterator<Item = (Timestamp, f64)>,
    ) -> SeriesReport {
        let interval = self.options.memory_peak_interval_seconds;
        self.entry(key).add_memory_seconds(
            samples.into_iter().map(|(t, v)| (t.as_second(), v)),
            interval,
        )
    }

    /// Add a cluster's usage history, each pod's containers keyed by the
    /// pod's top-level owner in `snapshot` (its controller when the owner is
    /// not resolved; the pod itself when it has neither or is not in the
    /// snapshot).
    pub fn ingest_history(
        &mut self,
        history: &UsageHistory,
        snapshot: &ClusterSnapshot,
    ) -> Result<IngestReport, IngestError> {
        let mut report = IngestReport::default();
        if history.containers.is_empty() {
            return Ok(report);
        }
        let start = history.start.ok_or(IngestError::NoStart {
            containers: history.containers.len(),
        })?;
        if history.interval_seconds == 0 {
            return Err(IngestError::ZeroInterval);
        }
        let owners = Owners::of(snapshot);
        let start = start.as_second();
        let step = i64::from(history.interval_seconds);
        let at = move |k: usize| start.saturating_add((k as i64).saturating_mul(step));
        let interval = self.options.memory_peak_interval_seconds;
        for series in &history.containers {
            let key = owners.key(
                &series.namespace,
                &series.pod,
                &series.container,
                &mut report,
            );
            let container = self.entry(key);
            let cpu = container.add_cpu_seconds(
                series
                    .cpu_millis
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (at(k), f64::from(v))),
            );
            let memory = container.add_memory_seconds(
                series
                    .memory_bytes
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (at(k), v as f64)),
                interval,
            );
            report.series += 1;
            report.cpu_samples += cpu.added;
            report.memory_samples += series.memory_bytes.len() - memory.skipped;
            report.memory_peaks += memory.added;
            report.skipped += cpu.skipped + memory.skipped;
        }
        Ok(report)
    }

    /// Add container series read from Prometheus
    /// ([`crate::prometheus::container_series`]): CPU in cores becomes
    /// millicores, memory working sets become one peak per interval, each
    /// pod keyed by its owner in `snapshot` as in [`Self::ingest_history`].
    pub fn ingest_container_series(
        &mut self,
        usage: &crate::prometheus::ContainerUsageSeries,
        snapshot: &ClusterSnapshot,
    ) -> IngestReport {
        use crate::prometheus::UsageMetric;
        let owners = Owners::of(snapshot);
        let mut report = IngestReport {
            skipped: usage.skipped_samples,
            ..IngestReport::default()
        };
        let interval = self.options.memory_peak_interval_seconds;
        for series in &usage.series {
            let k = &series.key;
            let key = owners.key(&k.namespace, &k.pod, &k.container, &mut report);
            let container = self.entry(key);
            let at = |s: &crate::prometheus::Sample| s.at.as_second();
            match series.metric {
                UsageMetric::CpuCores => {
                    let added = container
                        .add_cpu_seconds(series.samples.iter().map(|s| (at(s), s.value * 1000.0)));
                    report.cpu_samples += added.added;
                    report.skipped += added.skipped;
                }
                UsageMetric::MemoryWorkingSetBytes => {
                    let added = container.add_memory_seconds(
                        series.samples.iter().map(|s| (at(s), s.value)),
                        interval,
                    );
                    report.memory_samples += series.samples.len() - added.skipped;
                    report.memory_peaks += added.added;
                    report.skipped += added.skipped;
                }
            }
            report.series += 1;
        }
        report
    }

    /// Add live readings (one `metrics.k8s.io` poll, say), each pod keyed by
    /// its owner in `snapshot`: every reading is a CPU sample; memory keeps
    /// one peak per replica and interval, updated as readings come
    /// ([`ContainerHistograms::add_memory_reading`]). Polled every minute
    /// and kept with [`checkpoint`](Self::checkpoint) between runs, this
    /// builds the same histograms a week of Prometheus series would, with
    /// nothing installed in the cluster but metrics-server.
    ///
    /// ```
    /// use cloudoptim_core::snapshot::ClusterSnapshot;
    /// use cloudoptim_core::usage::{UsageHistograms, UsageOptions, UsageReading};
    ///
    /// let mut usage = UsageHistograms::new(UsageOptions::default());
    /// let reading = |minute: i64, memory_mib: f64| UsageReading {
    ///     namespace: "prod".into(), pod: "web-1".into(), container: "app".into(),
    ///     at: jiff::Timestamp::from_second(1_764_547_200 + 60 * minute).unwrap(),
    ///     cpu_millis: 250.0, memory_bytes: memory_mib * 1048576.0,
    /// };
    /// let snapshot = ClusterSnapshot::default();
    /// usage.add_readings([reading(0, 300.0), reading(1, 500.0), reading(2, 400.0)], &snapshot);
    /// let (_, h) = usage.iter().next().unwrap();
    /// assert_eq!(h.cpu_samples, 3);
    /// // One interval, one peak: the highest reading.
    /// assert_eq!(h.memory_peak_bytes.total_weight(), 1.0);
    /// assert_eq!(h.max_memory_bytes, 500.0 * 1048576.0);
    /// ```
    pub fn add_readings(
        &mut self,
        readings: impl IntoIterator<Item = UsageReading>,
        snapshot: &ClusterSnapshot,
    ) -> IngestReport {
        let owners = Owners::of(snapshot);
        let mut report = IngestReport::default();
        let options = self.options.clone();
        for r in readings {
            let key = owners.key(&r.namespace, &r.pod, &r.container, &mut report);
            let container = self.entry(key);
            let cpu = container.add_cpu_seconds(std::iter::once((r.at.as_second(), r.cpu_millis)));
            report.cpu_samples += cpu.added;
            report.skipped += cpu.skipped;
            if container.add_memory_reading(&r.pod, r.at, r.memory_bytes, &options) {
                report.memory_samples += 1;
            } else {
                report.skipped += 1;
            }
            report.series += 1;
        }
        report
    }

    /// Add every key of `other` (another window, another shard).
    pub fn merge(&mut self, other: &UsageHistograms) -> Result<(), HistogramError> {
        for (key, theirs) in &other.containers {
            self.entry(key.clone()).merge(theirs)?;
        }
        Ok(())
    }

    /// A serializable checkpoint of every key.
    pub fn checkpoint(&self) -> Vec<ContainerCheckpoint> {
        self.containers
            .iter()
            .map(|(key, c)| ContainerCheckpoint {
                key: key.clone(),
                cpu_millis: c.cpu_millis.checkpoint(),
                memory_peak_bytes: c.memory_peak_bytes.checkpoint(),
                max_memory_bytes: c.max_memory_bytes,
                first_sample: c.first_sample,
                last_sample: c.last_sample,
                cpu_samples: c.cpu_samples,
                open_memory_peaks: c.open_memory_peaks.clone(),
            })
            .collect()
    }

    /// Histograms restored from checkpoints (a key seen twice is merged).
    pub fn from_checkpoint(
        options: UsageOptions,
        checkpoints: &[ContainerCheckpoint],
    ) -> Result<UsageHistograms, ContainerCheckpointError> {
        let mut usage = UsageHistograms::new(options);
        for c in checkpoints {
            let error = |resource, source| ContainerCheckpointError::Histogram {
                key: c.key.to_string(),
                resource,
                source,
            };
            if !is_valid_value(c.max_memory_bytes) {
                return Err(ContainerCheckpointError::MaxMemory {
                    key: c.key.to_string(),
                    value: c.max_memory_bytes,
                });
            }
            let restored = ContainerHistograms {
                cpu_millis: DecayingHistogram::from_checkpoint(
                    Arc::clone(&usage.options.cpu),
                    &c.cpu_millis,
                )
                .map_err(|e| error("cpu_millis", e))?,
                memory_peak_bytes: DecayingHistogram::from_checkpoint(
                    Arc::clone(&usage.options.memory),
                    &c.memory_peak_bytes,
                )
                .map_err(|e| error("memory_peak_bytes", e))?,
                max_memory_bytes: c.max_memory_bytes,
                first_sample: c.first_sample,
                last_sample: c.last_sample,
                cpu_samples: c.cpu_samples,
                open_memory_peaks: c.open_memory_peaks.clone(),
            };
            // Same options on both sides: merging cannot fail.
            let _ = usage.entry(c.key.clone()).merge(&restored);
        }
        Ok(usage)
    }
}

/// One key's state, serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerCheckpoint {
    /// Whose state.
    pub key: ContainerKey,
    /// [`ContainerHistograms::cpu_millis`].
    pub cpu_millis: HistogramCheckpoint,
    /// [`ContainerHistograms::memory_peak_bytes`].
    pub memory_peak_bytes: HistogramCheckpoint,
    /// [`ContainerHistograms::max_memory_bytes`].
    pub max_memory_bytes: f64,
    /// [`ContainerHistograms::first_sample`].
    pub first_sample: Option<Timestamp>,
    /// [`ContainerHistograms::last_sample`].
    pub last_sample: Option<Timestamp>,
    /// [`ContainerHistograms::cpu_samples`].
    pub cpu_samples: u64,
    /// [`ContainerHistograms::open_memory_peaks`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open_memory_peaks: BTreeMap<String, OpenPeak>,
}

/// Why a container checkpoint cannot be loaded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerCheckpointError {
    /// One of its histograms is bad.
    #[error("checkpoint of {key}, {resource}: {source}")]
    Histogram {
        /// The container key.
        key: String,
        /// `cpu_millis` or `memory_peak_bytes`.
        resource: &'static str,
        /// What is wrong.
        #[source]
        source: CheckpointError,
    },
    /// Its largest memory sample is negative, NaN or infinite.
    #[error("checkpoint of {key}: field max_memory_bytes is {value}")]
    MaxMemory {
        /// The container key.
        key: String,
        /// The value.
        value: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Polling readings one by one builds the memory histogram a batch
        /// of the same samples builds: one peak per interval, the highest.
        #[test]
        fn readings_one_by_one_make_the_peaks_a_batch_makes(
            values in proptest::collection::vec(0.0f64..4e9, 10..400),
            // Up to 8 days: weights then span 2^8, well inside f32's precision.
            // (Over tens of half-lives a replaced peak's f32 subtraction can
            // swallow peaks 2^-24 lighter, which no percentile can see.)
            step_minutes in 1i64..30,
            interval_hours in 1i64..30,
        ) {
            let options =
                UsageOptions::with_memory_peak_interval(SignedDuration::from_hours(interval_hours))
                    .unwrap();
            let start = 1_764_547_200 + 37; // not aligned to any interval
            let at = |k: usize| Timestamp::from_second(start + 60 * step_minutes * k as i64).unwrap();
            let snapshot = ClusterSnapshot::default();
            let key = ContainerKey {
                namespace: "a".into(),
                owner: OwnerRef { kind: "Pod".into(), name: "p".into() },
                container: "c".into(),
            };
            let mut batch = UsageHistograms::new(options.clone());
            batch.add_memory_series(key.clone(), values.iter().enumerate().map(|(k, v)| (at(k), *v)));
            let mut polled = UsageHistograms::new(options);
            for (k, v) in values.iter().enumerate() {
                let report = polled.add_readings(
                    [UsageReading {
                        namespace: "a".into(),
                        pod: "p".into(),
                        container: "c".into(),
                        at: at(k),
                        cpu_millis: 1.0,
                        memory_bytes: *v,
                    }],
                    &snapshot,
                );
                prop_assert_eq!(report.skipped, 0);
            }
            let b = batch.get(&key).unwrap();
            let p = polled.get(&key).unwrap();
            prop_assert_eq!(b.max_memory_bytes, p.max_memory_bytes);
            prop_assert_eq!(p.cpu_samples, values.len() as u64);
            let tolerance = 1e-4 * b.memory_peak_bytes.total_weight().max(1.0);
            prop_assert!(
                (p.memory_peak_bytes.total_weight() - b.memory_peak_bytes.total_weight()).abs() <= tolerance,
                "{} vs {}", p.memory_peak_bytes.total_weight(), b.memory_peak_bytes.total_weight());
            for q in [0.25, 0.5, 0.9, 0.95] {
                prop_assert_eq!(b.memory_peak_bytes.percentile(q), p.memory_peak_bytes.percentile(q));
            }
            // A checkpoint keeps the open peak: a reading after a restart
            // still replaces the interval's peak instead of adding one.
            let restored = UsageHistograms::from_checkpoint(
                polled.options().clone(), &polled.checkpoint()).unwrap();
            prop_assert_eq!(&restored.get(&key).unwrap().open_memory_peaks, &p.open_memory_peaks);
        }
    }

    #[test]
    fn an_older_reading_than_the_open_interval_is_dropped_and_replicas_are_apart() {
        let mut usage = UsageHistograms::new(UsageOptions::default());
        let reading = |pod: &str, second: i64, mib: f64| UsageReading {
            namespace: "a".into(),
            pod: pod.into(),
            container: "c".into(),
            at: Timestamp::from_second(second).unwrap(),
            cpu_millis: 5.0,
            memory_bytes: mib * 1048576.0,
        };
        let day = 86_400;
        let s = ClusterSnapshot::default();
        usage.add_readings([reading("p", 2 * day + 10, 100.0)], &s);
        let late = usage.add_readings([reading("p", day + 10, 900.0)], &s);
        assert_eq!((late.memory_samples, late.skipped), (0, 1));
        // Another replica (its own key here, no owner known) has its own peak.
        usage.add_readings([reading("q", 2 * day + 20, 300.0)], &s);
        assert_eq!(usage.len(), 2);
        let total: f64 = usage
            .iter()
            .map(|(_, h)| h.memory_peak_bytes.total_weight())
            .sum();
        assert!((total - 2.0).abs() < 1e-9, "{total}");
    }
}
