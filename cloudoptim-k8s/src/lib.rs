//! # cloudoptim-k8s
//!
//! The Kubernetes side of CloudOptim: build a
//! [`cloudoptim_core::ClusterSnapshot`] from a cluster's remote API (no agent
//! in the cluster) and execute the cluster steps of a
//! [`cloudoptim_core::Plan`] (cordon, evict, patch, scale).
//!
//! **Status:** the crate is a placeholder in the workspace; the kube-rs
//! client arrives with the Kubernetes adapter work. Until then, snapshots
//! come from `kubectl … -o json` output through [`cloudoptim_core::kubectl`].

pub use cloudoptim_core::kubectl::{read_list, write_list};
