//! Carrying out the EC2 steps of a plan: launch, terminate, tag.
//!
//! Dry-run is the default mode: every step's preconditions are re-checked
//! against the account and the result says what would be done. Steps are
//! idempotent: a launch whose replacement is already running, or a
//! termination of an instance already gone, is a success. Steps that are
//! not EC2's (cordon, evict, …) are left to the Kubernetes executor.

use cloudoptim_core::inventory::{tags, InstanceState, Tags};
use cloudoptim_core::plan::{Action, Plan, Precondition};

use crate::ec2::{Ec2, LaunchRequest};
use crate::error::AwsError;

/// Whether to act.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Re-check and report, change nothing (the default).
    #[default]
    DryRun,
    /// Act.
    Execute,
}

/// What happened to one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Dry-run: this is what would be done.
    WouldDo(String),
    /// Done (or found already done).
    Done(String),
    /// Not done: a precondition no longer holds.
    Skipped(String),
    /// Not an EC2 step.
    NotEc2,
}

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

    async fn protected(&self, instance_id: &str) -> Result<Option<InstanceState>, AwsError> {
        let ids = [instance_id];
        let found = self.ec2.instances(&[("instance-id", &ids)]).await?;
        Ok(found.first().and_then(|i| {
            if i.tags.get(tags::PROTECT).is_some_and(|v| v == "true") {
                None
            } else {
                Some(i.state)
            }
        }))
    }

    async fn step(
        &self,
        action: &Action,
        preconditions: &[Precondition],
    ) -> Result<StepOutcome, AwsError> {
        let act = self.mode == Mode::Execute;
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
                    if existing.len() >= *count as usize {
                        return Ok(StepOutcome::Done(format!(
                            "replacement for {replaces} already launched ({})",
                            existing[0].instance_id
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
                let wants_unprotected = preconditions
                    .iter()
                    .any(|p| matches!(p, Precondition::NotProtected { .. }));
                match self.protected(instance_id).await? {
                    None if wants_unprotected => {
                        return Ok(StepOutcome::Skipped(format!(
                            "{instance_id} is gone or tagged {}=true",
                            tags::PROTECT
                        )))
                    }
                    Some(InstanceState::Terminated) | Some(InstanceState::ShuttingDown) => {
                        return Ok(StepOutcome::Done(format!(
                            "{instance_id} is already terminated"
                        )))
                    }
                    _ => {}
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
            _ => Ok(StepOutcome::NotEc2),
        }
    }
}

fn describe(t: &Tags) -> String {
    t.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
