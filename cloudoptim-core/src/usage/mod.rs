//! Observed resource usage over time, per container, and the decaying
//! histograms the rightsizing engine reads it through.
//!
//! [`UsageHistory`] holds raw samples (the demo's 7 days, or what an adapter
//! collected). [`UsageHistograms`] turns any such samples, or any
//! `(timestamp, value)` series, into per-container, per-resource
//! [`DecayingHistogram`]s in the VPA recommender's shape: exponential
//! buckets ([`BucketScheme`]: 10 millicores or 10 MB first, each 5% wider,
//! 176 buckets), exponential decay with a 24 h half-life by default,
//! mergeable across replicas and windows, saved as compact integer
//! checkpoints ([`HistogramCheckpoint`]).
//!
//! # CPU and memory are aggregated differently
//!
//! CPU histograms take every sample, each with weight 1 (the VPA weighs CPU
//! samples by the container's request, so history fades when a request
//! grows; a caller wanting that passes weights to
//! [`DecayingHistogram::add_series`]). A CPU percentile is a percentile of
//! the time spent at each usage level, recent time counting more.
//!
//! Memory histograms take one sample per replica and **aggregation
//! interval**: the peak of that interval, dated at its end (the VPA's model:
//! memory is not compressible, a container needs its peak, not its typical
//! use). Intervals are aligned to the Unix epoch, so 24 h intervals are UTC
//! days. The interval decides what a memory percentile means; over 7 days
//! of one replica:
//!
//! - **24 h intervals** (the default, the VPA's): 7 peaks. "p95 over 7
//!   days" is in effect the largest daily peak: with a 24 h half-life the
//!   days weigh 1, ½, ¼ … 1/64 of the newest, so a peak holds 5% of the
//!   weight only if it is at most 3 days old (a 4-day-old peak holds 3.1%);
//!   p95 is the largest of the peaks of the last 4 days, or higher if an
//!   older day was higher still and the tail above it weighs 5% or more.
//! - **1 h intervals**: 168 peaks. p95 is a real percentile of hourly peaks:
//!   it passes over the worst ~8 hours of the week (fewer as they age).
//!
//! We keep the VPA's 24 h default: a memory request below what the
//! container reached in a recent day is an eviction or OOM risk rather than
//! a saving, the recommendations stay comparable with what VPA users see,
//! and 7 peaks per replica per week keep the memory histogram sparse. A
//! user who wants "memory a busy hour needs, ignoring rare spikes" sets 1 h
//! ([`UsageOptions::with_memory_peak_interval`]); the rightsizing engine
//! still never goes below the observed peak
//! ([`ContainerHistograms::max_memory_bytes`]).
//!
//! # State size
//!
//! A histogram is 48 bytes plus its `f32` bucket weights (704 bytes for 176
//! buckets) on the heap: 752 bytes per container and resource; its JSON
//! checkpoint holds only the span of occupied buckets (144 bytes on average,
//! 245 at most, for the demo's histograms; 319 bytes for a week of
//! one-minute CPU samples with spikes).

mod buckets;
mod checkpoint;
mod histogram;
mod ingest;

pub use buckets::{BucketScheme, BucketSchemeError, MAX_BUCKETS};
pub use checkpoint::{
    CheckpointError, HistogramCheckpoint, MAX_CHECKPOINT_WEIGHT, MAX_TOTAL_WEIGHT,
};
pub use histogram::{
    DecayingHistogram, HistogramError, HistogramOptions, SeriesReport, MAX_SAMPLE_WEIGHT,
};
pub use ingest::{
    ContainerCheckpoint, ContainerCheckpointError, ContainerHistograms, ContainerKey, IngestError,
    IngestReport, OpenPeak, UsageHistograms, UsageOptions, UsageOptionsError, UsageReading,
};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Usage samples of one container at a fixed interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerUsage {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// CPU used in millicores, one sample per interval.
    pub cpu_millis: Vec<u32>,
    /// Working-set memory in bytes, one sample per interval.
    pub memory_bytes: Vec<u64>,
}

/// Usage history of a cluster: per-container series on a common clock.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageHistory {
    /// Time of the first sample.
    pub start: Option<Timestamp>,
    /// Seconds between samples.
    pub interval_seconds: u32,
    /// One entry per container.
    pub containers: Vec<ContainerUsage>,
}

impl UsageHistory {
    /// Total samples over every container and both dimensions.
    pub fn sample_count(&self) -> usize {
        self.containers
            .iter()
            .map(|c| c.cpu_millis.len() + c.memory_bytes.len())
            .sum()
    }
}
