//! The account's side of the one executor contract: EC2 and Auto Scaling.
//!
//! [`Ec2Executor`] claims launches, terminations, tags, volume snapshots and
//! deletions, and observes instances, volumes (and the snapshots CloudOptim
//! took of them) and Auto Scaling groups, converted into the core's
//! [`inventory`](cloudoptim_core::inventory) types. It judges nothing:
//! the [`PlanRunner`](cloudoptim_core::execute::PlanRunner) evaluates every
//! precondition (not protected, node drained, group above its minimum) in
//! the core before a step is applied. Steps are idempotent: a launch whose
//! replacement already runs, or a termination of an instance already gone,
//! is a success. An instance of an Auto Scaling group is terminated through
//! the group with its desired capacity decremented, so the group does not
//! launch it again; without an [`AutoScaling`] client such a step is
//! claimed by nobody and the plan is refused.

use async_trait::async_trait;
use cloudoptim_core::execute::{ApplyContext, Executor, ExecutorError, Fact, Observation};
use cloudoptim_core::inventory::{InstanceState, Tags, VolumeState};
use cloudoptim_core::plan::{Action, Mode, StepOutcome};

use crate::autoscaling::{AutoScaling, GroupTermination};
use crate::ec2::{Ec2, LaunchRequest, SnapshotState};
use crate::error::AwsError;

/// Carries out the EC2 and Auto Scaling steps of plans.
#[derive(Clone, Debug)]
pub struct Ec2Executor {
    ec2: Ec2,
    autoscaling: Option<AutoScaling>,
    /// Launch template for new nodes (the cluster's node template).
    pub launch_template_id: Option<String>,
    /// AMI for new nodes when there is no launch template.
    pub image_id: Option<String>,
    /// How often a snapshot in progress is polled.
    pub snapshot_poll: std::time::Duration,
    /// How long a snapshot may take before the step fails (the volume is
    /// then left alone: its delete step needs a completed snapshot).
    pub snapshot_timeout: std::time::Duration,
}

impl Ec2Executor {
    /// An executor over EC2 only: it refuses (claims no) terminations
    /// through Auto Scaling groups.
    pub fn new(ec2: Ec2) -> Ec2Executor {
        Ec2Executor {
            ec2,
            autoscaling: None,
            launch_template_id: None,
            image_id: None,
            snapshot_poll: std::time::Duration::from_secs(5),
            snapshot_timeout: std::time::Duration::from_secs(30 * 60),
        }
    }

    /// Also terminate instances of Auto Scaling groups through their group.
    pub fn with_auto_scaling(mut self, autoscaling: AutoScaling) -> Ec2Executor {
        self.autoscaling = Some(autoscaling);
        self
    }

    async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<cloudoptim_core::inventory::Instance>, AwsError> {
        let ids = [instance_id];
        Ok(self
            .ec2
            .instances(&[("instance-id", &ids)])
            .await?
            .into_iter()
            .next())
    }

    async fn observe_fact(&self, fact: &Fact) -> Result<Observation, AwsError> {
        Ok(match fact {
            Fact::Instance { instance_id } => {
                Observation::Instance(self.instance(instance_id).await?.map(Box::new))
            }
            Fact::Volume { volume_id } => {
                Observation::Volume(self.ec2.volume(volume_id).await?.map(Box::new))
            }
            Fact::VolumeSnapshots { volume_id } => {
                let completed = self
                    .ec2
                    .snapshots_of(volume_id)
                    .await?
                    .iter()
                    .filter(|s| s.state == SnapshotState::Completed)
                    .count();
                Observation::VolumeSnapshots(u32::try_from(completed).unwrap_or(u32::MAX))
            }
            Fact::AutoScalingGroup { name } => match &self.autoscaling {
                Some(a) => Observation::AutoScalingGroup(a.group(name).await?.map(Box::new)),
                None => return Err(unsupported(fact)),
            },
            other => return Err(unsupported(other)),
        })
    }

    async fn done(&self, action: &Action) -> Result<Option<String>, AwsError> {
        Ok(match action {
            Action::LaunchInstance { count, tags, .. } => {
                let Some(replaces) = tags.get("cloudoptim.io/replaces") else {
                    return Ok(None);
                };
                let values = [replaces.as_str()];
                let existing = self
                    .ec2
                    .instances(&[
                        ("tag:cloudoptim.io/replaces", &values),
                        ("instance-state-name", &["pending", "running"]),
                    ])
                    .await?;
                existing
                    .first()
                    .filter(|_| existing.len() >= *count as usize)
                    .map(|first| {
                        format!(
                            "replacement for {replaces} already launched ({})",
                            first.instance_id
                        )
                    })
            }
            Action::TerminateInstance { instance_id, .. } => {
                match self.instance(instance_id).await? {
                    None => Some(format!("{instance_id} is already gone")),
                    Some(i)
                        if matches!(
                            i.state,
                            InstanceState::Terminated | InstanceState::ShuttingDown
                        ) =>
                    {
                        Some(format!("{instance_id} is already terminated"))
                    }
                    Some(_) => None,
                }
            }
            Action::SnapshotVolume { volume_id } => self
                .ec2
                .snapshots_of(volume_id)
                .await?
                .into_iter()
                .find(|s| s.state == SnapshotState::Completed)
                .map(|s| format!("{volume_id} already has snapshot {}", s.snapshot_id)),
            Action::DeleteVolume { volume_id } => match self.ec2.volume(volume_id).await? {
                None => Some(format!("{volume_id} is already gone")),
                Some(v) if matches!(v.state, VolumeState::Deleting | VolumeState::Deleted) => {
                    Some(format!("{volume_id} is already being deleted"))
                }
                Some(_) => None,
            },
            _ => None,
        })
    }

    async fn apply_action(&self, action: &Action, mode: Mode) -> Result<StepOutcome, AwsError> {
        let act = mode == Mode::Execute;
        match action {
            Action::LaunchInstance {
                instance_type,
                zone,
                capacity_type,
                count,
                tags: launch_tags,
            } => {
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
            Action::TerminateInstance {
                instance_id,
                auto_scaling_group: None,
                ..
            } => {
                let what = format!("terminate {instance_id}");
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                self.ec2
                    .terminate(std::slice::from_ref(instance_id))
                    .await?;
                Ok(StepOutcome::Done(what))
            }
            Action::TerminateInstance {
                instance_id,
                auto_scaling_group: Some(group),
                ..
            } => {
                let what = format!(
                    "terminate {instance_id} through Auto Scaling group {group}, decrementing its desired capacity"
                );
                let Some(autoscaling) = &self.autoscaling else {
                    return Err(unsupported_action(action));
                };
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                match autoscaling.terminate_in_group(instance_id, true).await? {
                    GroupTermination::Terminating {
                        desired_capacity, ..
                    } => Ok(StepOutcome::Done(format!(
                        "{what} (desired capacity now {desired_capacity})"
                    ))),
                    GroupTermination::AlreadyTerminating { group } => Ok(StepOutcome::Done(
                        format!("{instance_id} is already being terminated by {group}"),
                    )),
                    GroupTermination::NotInGroup => Ok(StepOutcome::Skipped(format!(
                        "{instance_id} is no longer in Auto Scaling group {group}; not terminated \
                         (a plain termination could be refilled by a group)"
                    ))),
                }
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
            Action::UntagResource { resource_id, keys } => {
                let what = format!("remove tags {} from {resource_id}", keys.join(","));
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                self.ec2
                    .untag(std::slice::from_ref(resource_id), keys)
                    .await?;
                Ok(StepOutcome::Done(what))
            }
            Action::SnapshotVolume { volume_id } => {
                let what = format!("snapshot {volume_id} and wait for the snapshot to complete");
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                let snapshot = self
                    .ec2
                    .snapshot_volume(volume_id, self.snapshot_poll, self.snapshot_timeout)
                    .await?;
                Ok(StepOutcome::Done(format!(
                    "{what}: {}",
                    snapshot.snapshot_id
                )))
            }
            Action::DeleteVolume { volume_id } => {
                let what = format!("delete volume {volume_id}");
                if !act {
                    return Ok(StepOutcome::WouldDo(what));
                }
                if self.ec2.delete_volume(volume_id).await? {
                    Ok(StepOutcome::Done(what))
                } else {
                    Ok(StepOutcome::Done(format!("{volume_id} is already gone")))
                }
            }
            other => Err(unsupported_action(other)),
        }
    }
}

#[async_trait]
impl Executor for Ec2Executor {
    fn name(&self) -> &'static str {
        "ec2"
    }

    fn claims(&self, action: &Action) -> bool {
        match action {
            Action::LaunchInstance { .. }
            | Action::TagResource { .. }
            | Action::UntagResource { .. }
            | Action::SnapshotVolume { .. }
            | Action::DeleteVolume { .. } => true,
            Action::TerminateInstance {
                auto_scaling_group, ..
            } => auto_scaling_group.is_none() || self.autoscaling.is_some(),
            // Cluster steps, or an action this version does not know: not ours (the runner refuses the plan).
            _ => false,
        }
    }

    fn observes(&self, fact: &Fact) -> bool {
        match fact {
            Fact::Instance { .. } | Fact::Volume { .. } | Fact::VolumeSnapshots { .. } => true,
            Fact::AutoScalingGroup { .. } => self.autoscaling.is_some(),
            _ => false,
        }
    }

    async fn observe(&self, fact: &Fact) -> Result<Observation, ExecutorError> {
        Ok(self.observe_fact(fact).await?)
    }

    async fn already_done(&self, action: &Action) -> Result<Option<String>, ExecutorError> {
        Ok(self.done(action).await?)
    }

    async fn apply(
        &self,
        action: &Action,
        context: &ApplyContext,
    ) -> Result<StepOutcome, ExecutorError> {
        Ok(self.apply_action(action, context.mode).await?)
    }
}

fn unsupported(fact: &Fact) -> AwsError {
    AwsError::NotHandled {
        what: format!("observing {fact}"),
    }
}

fn unsupported_action(action: &Action) -> AwsError {
    AwsError::NotHandled {
        what: format!("the {} action", action.kind()),
    }
}

fn describe(t: &Tags) -> String {
    t.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
