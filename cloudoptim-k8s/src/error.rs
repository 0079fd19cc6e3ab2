//! What can go wrong talking to a cluster.

use cloudoptim_core::kubectl::KubectlError;
use cloudoptim_core::snapshot::DuplicateObject;
use jiff::Timestamp;

/// An error from the Kubernetes adapter. Each names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// The client could not be configured (kubeconfig, in-cluster files,
    /// onboarding inputs).
    #[error("Kubernetes client configuration: {0}")]
    Config(String),
    /// A setting (an environment variable, say) has a value that cannot be used.
    #[error("{setting}={value:?} is not valid: {message}")]
    Setting {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        message: String,
    },
    /// RBAC refused a request: the ServiceAccount lacks a permission.
    #[error(
        "forbidden: the API refused `{verb}` on `{resource}`{} ({message}); \
         the ClusterRole in deploy/rbac.yaml grants what CloudOptim needs",
        target_suffix(.target)
    )]
    Forbidden {
        /// The verb refused (`list`, `patch`, `create`, …).
        verb: &'static str,
        /// The resource (`pods`, `pods/eviction`, `nodes`, …), with its
        /// API group when it has one (`deployments.apps`).
        resource: String,
        /// `namespace/name` or `name` of the object, empty for lists.
        target: String,
        /// What the API server said.
        message: String,
    },
    /// The API answered with an error status.
    #[error("`{verb}` on `{resource}`{} failed: HTTP {code} {reason}: {message}", target_suffix(.target))]
    Api {
        /// The verb.
        verb: &'static str,
        /// The resource.
        resource: String,
        /// `namespace/name` or `name` of the object, empty for lists.
        target: String,
        /// HTTP status code.
        code: u16,
        /// Kubernetes reason (`NotFound`, `Conflict`, …).
        reason: String,
        /// What the API server said.
        message: String,
    },
    /// A request could not be built or its answer not read.
    #[error("`{verb}` on `{resource}`{}: {message}", target_suffix(.target))]
    Client {
        /// The verb.
        verb: &'static str,
        /// The resource.
        resource: String,
        /// `namespace/name` or `name` of the object, empty for lists.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The Eviction API refused a pod for a reason waiting will not fix
    /// (the pod is covered by more than one PodDisruptionBudget, say).
    #[error("eviction of pod {pod} refused: {message}")]
    EvictionRefused {
        /// `namespace/name`.
        pod: String,
        /// What the API server said.
        message: String,
    },
    /// The API server did not answer (connection refused, timeout, 5xx),
    /// even after the configured retries.
    #[error(
        "`{verb}` on `{resource}`{}: the API server did not answer after {attempts} attempts: {message}",
        target_suffix(.target)
    )]
    Unavailable {
        /// The verb.
        verb: &'static str,
        /// The resource.
        resource: String,
        /// `namespace/name` or `name` of the object, empty for lists.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// An object from the API could not be read into a snapshot.
    #[error("reading the cluster: {0}")]
    Snapshot(#[from] KubectlError),
    /// The objects read from the cluster hold two of one identity (two
    /// pods of one namespace and name, say: a list continued across an
    /// expired token can overlap itself). No engine may plan on such a
    /// snapshot; observing again reads a consistent one.
    #[error("reading the cluster: {0}; observe again")]
    DuplicateObject(#[from] DuplicateObject),
    /// A drain did not finish before its deadline. The node stays cordoned
    /// (the plan's cordon step says so); running the plan again resumes.
    #[error(
        "drain of node {node} did not finish by {deadline}: {} pod(s) remain: {}",
        remaining.len(),
        remaining.join(", ")
    )]
    DrainDeadline {
        /// The node.
        node: String,
        /// The deadline.
        deadline: Timestamp,
        /// `namespace/name` of the pods still on the node, with why.
        remaining: Vec<String>,
    },
    /// A Prometheus server's answer could not be used.
    #[error("Prometheus at {at}: {error}")]
    Prometheus {
        /// Where the server is.
        at: String,
        /// What was wrong.
        error: cloudoptim_core::prometheus::PrometheusError,
    },
    /// A step this executor cannot carry out.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

fn target_suffix(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" ({target})")
    }
}

impl K8sError {
    /// Whether the error means the API server could not be reached, so
    /// running the same step again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, K8sError::Unavailable { .. })
    }

    /// The HTTP status of an API error, if it is one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            K8sError::Api { code, .. } => Some(*code),
            K8sError::Forbidden { .. } => Some(403),
            _ => None,
        }
    }
}
