//! Carrying out the EC2 steps of a plan: launch, terminate, tag.
//!
//! Dry-run is the default mode: the result says what would be done. Before
//! acting, the executor re-checks what the account can tell: an instance
//! tagged `cloudoptim.io/protect=true` is never terminated, a step past its
//! `Before` deadline is skipped. Preconditions about the cluster (node
//! drained, PDBs) are the Kubernetes executor's, which runs the plan's
//! steps in order. Steps are idempotent: a launch whose replacement is
//! already running, or a termination of an instance already gone, is a
//! success. Steps that are not EC2's (cordon, evict, …) are left alone.

use cloudoptim_core::inventory::{tags, InstanceState, Tags};
use cloudoptim_core::plan::{Action, Mode, Plan, Precondition, Step, StepOutcome};

use crate::ec2::{Ec2, LaunchRequest};
use crate::error::AwsError;

/// Executes the EC2 steps of plans.
#[derive(Clone, Debug)]
pub struct Ec2Executor {
    ec2: Ec2,
    mode: Mode,
    /// Launch template for new nodes (the cluster's node template).
    pub launch_template_id: Option<String>,
    /// AMI for new nodes when there is no launch template.
    pub image_id: Option<String>,
}

impl Ec2Executor {
    /// An executor in `mode`.
    pub fn new(ec2: Ec2, mode: Mode) -> Ec2Executor {
        Ec2Executor {
            ec2,
            mode,
            launch_template_id: None,
            image_id: None,
        }
    }

    /// Run every EC2 step of `plan` in order; one outcome per step.
    pub async fn run(&self, plan: &Plan) -> Vec<Result<StepOutcome, AwsError>> {
        let mut out = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            out.push(self.step(&step.action, &step.preconditions).await);
        }
        out
    }

    /// Run one step (EC2 steps only; others are [`StepOutcome::NotMine`]).
    /// With the Kubernetes adapter, `KubeExecutor::run_with` calls this for
    /// each EC2 step of a plan once the step's cluster preconditions hold.
    pub async fn execute_step(&self, step: &Step) -> Result<StepOutcome, AwsError> {
        self.step(&step.action, &step.preconditions).await
    }

    async fn instance_state(&self, instance_id: &str) -> Result<Found, AwsError> {
        let ids = [instance_id];
        let found = self.ec2.instances(&[("instance-id", &ids)]).await?;
        Ok(match found.first() {
            None => Found::Gone,
            Some(i) if i.tags.get(tags::PROTECT).is_some_and(|v| v == "true") => Found::Protected,
            Some(i) => Found::State(i.state),
        })
    }

    async fn step(
        &self,
        action: &Action,
        preconditions: &[Precondition],
    ) -> Result<StepOutcome, AwsError> {
        let act = self.mode == Mode::Execute;
        let now = jiff::Timestamp::now();
        if let Some(deadline) = preconditions.iter().find_map(|p| match p {
            Precondition::Before { deadline } if now > *deadline => Some(*deadline),
            _ => None,
        }) {
            return Ok(StepOutcome::Skipped(format!(
                "its deadline {deadline} has passed"
            )));
        }
        match action {
            Action::LaunchInstance {
                instance_type,
                zone,
                capacity_type,
                count,
                tags: launch_tags,
            } => {
                // Idempotent: a replacement with the same tags already running counts.
                if let Some(replaces) = launch_tags.get("cloudoptim.io/replaces") {
                    let values = [replaces.as_str()];
                    let existing = self
                        .ec2
                        .instances(&[
                            ("tag:cloudoptim.io/replaces", &values),
                            ("instance-state-name", &["pending", "running"]),
                        ])
                        .await?;
                    if let Some(first) = existing
                        .first()
                        .filter(|_| existing.len() >= *count as usize)
                    {
                        return Ok(StepOutcome::Done(format!(
                            "replacement for {replaces} already launched ({})",
                            first.instance_id
                        )));
                    }
                }
                let what = format!("launch {count} × {instance_type} ({capacity_type}) in {zone}");
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                let ids = self
                    .ec2
                    .launch(&LaunchRequest {
                        instance_type: instance_type.clone(),
                        zone: (!zone.is_empty()).then(|| zone.clone()),
                        capacity_type: *capacity_type,
                        count: *count,
                        tags: launch_tags.clone(),
                        launch_template_id: self.launch_template_id.clone(),
                        image_id: self.image_id.clone(),
                    })
                    .await?;
                Ok(StepOutcome::Done(format!("{what}: {}", ids.join(", "))))
            }
            Action::TerminateInstance { instance_id, .. } => {
                match self.instance_state(instance_id).await? {
                    Found::Protected => {
                        return Ok(StepOutcome::Skipped(format!(
                            "{instance_id} is tagged {}=true",
                            tags::PROTECT
                        )))
                    }
                    Found::Gone
                    | Found::State(InstanceState::Terminated)
                    | Found::State(InstanceState::ShuttingDown) => {
                        return Ok(StepOutcome::Done(format!(
                            "{instance_id} is already terminated"
                        )))
                    }
                    Found::State(_) => {}
                }
                let what = format!("terminate {instance_id}");
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                self.ec2
                    .terminate(std::slice::from_ref(instance_id))
                    .await?;
                Ok(StepOutcome::Done(what))
            }
            Action::TagResource {
                resource_id,
                tags: new_tags,
            } => {
                let what = format!("tag {resource_id} with {}", describe(new_tags));
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                self.ec2
                    .tag(std::slice::from_ref(resource_id), new_tags)
                    .await?;
                Ok(StepOutcome::Done(what))
            }
            _ => Ok(StepOutcome::NotMine),
        }
    }
}

/// What DescribeInstances says of one instance.
enum Found {
    Gone,
    Protected,
    State(InstanceState),
}

fn describe(t: &Tags) -> String {
    t.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
