//! Snapshots from `kubectl` output, and back.
//!
//! [`read_list`] (or [`read_list_from`], from a reader) turns the JSON printed by
//!
//! ```text
//! kubectl get nodes,pods,pdb,pv,pvc,deploy,rs,sts,ds,job,cronjob -A -o json
//! ```
//!
//! (a `v1 List`) into a [`ClusterSnapshot`]. Items of other kinds are skipped
//! and counted; a malformed object is an error naming its position, kind,
//! name and the field that was wrong, and so is an object that repeats
//! another's kind and name. [`write_list`] does the reverse, so a
//! snapshot (the demo cluster, say) can be saved for `kubectl`-style tools
//! and read back unchanged.

mod export;
mod import;
mod segments;
mod wire;

use std::collections::BTreeMap;

pub use export::write_list;
pub use import::{read_list, read_list_from, ListReader};

use crate::snapshot::ClusterSnapshot;

/// What [`read_list`] produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubectlImport {
    /// The snapshot.
    pub snapshot: ClusterSnapshot,
    /// Items of kinds CloudOptim does not read, counted by `apiVersion/kind`.
    pub skipped_kinds: BTreeMap<String, usize>,
}

/// Why `kubectl` output could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubectlError {
    /// The input is not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// The input could not be read (from [`read_list_from`]'s reader).
    #[error("cannot read the input: {message}")]
    Read {
        /// What the reader said.
        message: String,
    },
    /// The input is JSON but not a `List` or a single object.
    #[error("expected a kubectl `List` with `items` (or a single object), found {found}")]
    NotAList {
        /// What was found instead.
        found: String,
    },
    /// One item is malformed.
    #[error("item {index} ({kind} {name}): field `{field}`: {message}")]
    Object {
        /// Position in `items`.
        index: usize,
        /// Its kind.
        kind: String,
        /// `namespace/name`, or the name of a cluster-scoped object.
        name: String,
        /// Path of the offending field (`spec.containers[0].resources.requests.cpu`).
        field: String,
        /// What was wrong.
        message: String,
    },
    /// Two items have one identity (two Nodes of one name, two pods of one
    /// namespace and name, two Deployments of one namespace and name, …;
    /// see [`ClusterSnapshot::check_unique`]).
    #[error("item {index} ({kind} {name}) repeats item {first_index}: the same {kind} twice")]
    Duplicate {
        /// Position of the repeat in `items`.
        index: usize,
        /// Position of the first of them in `items`.
        first_index: usize,
        /// Their kind.
        kind: String,
        /// `namespace/name`, or the name of a cluster-scoped object.
        name: String,
    },
}
