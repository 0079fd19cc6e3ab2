//! Observed resource usage over time, per container.

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
