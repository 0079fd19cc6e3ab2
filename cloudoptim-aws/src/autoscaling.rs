//! EC2 Auto Scaling: the groups node groups run on, and terminating an
//! instance through its group so the group shrinks instead of replacing it.
//!
//! IAM: `autoscaling:DescribeAutoScalingGroups` (no resource-level
//! permissions, `Resource: *`) for [`AutoScaling::groups`],
//! [`AutoScaling::group`] and the checks before a termination;
//! `autoscaling:TerminateInstanceInAutoScalingGroup` for
//! [`AutoScaling::terminate_in_group`] (`deploy/iam-policy.json` limits it to
//! groups tagged `eks:cluster-name`).

use aws_config::SdkConfig;
use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::types::LifecycleState;

use cloudoptim_core::inventory::{AutoScalingGroup, Tags};

use crate::error::{from_sdk, AwsError};

/// An EC2 Auto Scaling client.
#[derive(Clone, Debug)]
pub struct AutoScaling {
    client: aws_sdk_autoscaling::Client,
}

/// What [`AutoScaling::terminate_in_group`] did. Every variant is a success:
/// asking again for an instance already on its way out is not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupTermination {
    /// The group is terminating the instance.
    Terminating {
        /// The group.
        group: String,
        /// Its desired capacity from now on: one less when decremented,
        /// unchanged otherwise (the group then launches a replacement).
        desired_capacity: u32,
    },
    /// The group was already terminating the instance; nothing was asked.
    AlreadyTerminating {
        /// The group.
        group: String,
    },
    /// No group holds the instance (gone, detached, or never in one);
    /// nothing was asked.
    NotInGroup,
}

/// Where an instance stands in its group.
enum Membership {
    /// Not in any group, or leaving it (detaching, detached).
    None,
    /// In the group, already terminating.
    Terminating(AutoScalingGroup),
    /// In the group, in service (or pending, standby, …).
    Member(AutoScalingGroup),
}

fn terminating(state: Option<&LifecycleState>) -> bool {
    matches!(
        state,
        Some(
            LifecycleState::Terminating
                | LifecycleState::TerminatingWait
                | LifecycleState::TerminatingProceed
                | LifecycleState::TerminatingRetained
                | LifecycleState::Terminated
        )
    )
}

fn leaving(state: Option<&LifecycleState>) -> bool {
    terminating(state)
        || matches!(
            state,
            Some(LifecycleState::Detaching | LifecycleState::Detached)
        )
}

/// Held by a lifecycle hook, or in the warm pool: on the way in or out.
fn waiting(state: Option<&LifecycleState>) -> bool {
    matches!(
        state,
        Some(
            LifecycleState::PendingWait
                | LifecycleState::PendingProceed
                | LifecycleState::TerminatingWait
                | LifecycleState::TerminatingProceed
                | LifecycleState::WarmedPending
                | LifecycleState::WarmedPendingWait
                | LifecycleState::WarmedPendingProceed
                | LifecycleState::WarmedRunning
                | LifecycleState::WarmedStopped
                | LifecycleState::WarmedHibernated
                | LifecycleState::WarmedTerminating
                | LifecycleState::WarmedTerminatingWait
                | LifecycleState::WarmedTerminatingProceed
                | LifecycleState::WarmedTerminated
        )
    )
}

/// A described group with the lifecycle state of each of its instances.
struct Described {
    group: AutoScalingGroup,
    instances: Vec<(String, Option<LifecycleState>)>,
}

fn described(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> Result<Described, AwsError> {
    let invalid = |field| AwsError::Invalid {
        operation: "DescribeAutoScalingGroups",
        field,
    };
    let size = |v: Option<i32>, field| {
        v.and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| invalid(field))
    };
    let instances: Vec<(String, Option<LifecycleState>)> = g
        .instances()
        .iter()
        .filter_map(|i| Some((i.instance_id()?.to_owned(), i.lifecycle_state().cloned())))
        .collect();
    let tags: Tags = g
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    Ok(Described {
        group: AutoScalingGroup {
            name: g
                .auto_scaling_group_name()
                .ok_or_else(|| invalid("AutoScalingGroupName"))?
                .to_owned(),
            min_size: size(g.min_size(), "MinSize")?,
            max_size: size(g.max_size(), "MaxSize")?,
            desired_capacity: size(g.desired_capacity(), "DesiredCapacity")?,
            instance_ids: instances
                .iter()
                .filter(|(_, state)| !leaving(state.as_ref()))
                .map(|(id, _)| id.clone())
                .collect(),
            lifecycle_wait_instance_ids: instances
                .iter()
                .filter(|(_, state)| waiting(state.as_ref()))
                .map(|(id, _)| id.clone())
                .collect(),
            tags,
        },
        instances,
    })
}

impl AutoScaling {
    /// A client for the given SDK configuration.
    pub fn new(config: &SdkConfig) -> AutoScaling {
        AutoScaling {
            client: aws_sdk_autoscaling::Client::new(config),
        }
    }

    /// Every Auto Scaling group of the region, every page.
    pub async fn groups(&self) -> Result<Vec<AutoScalingGroup>, AwsError> {
        Ok(self
            .describe(None)
            .await?
            .into_iter()
            .map(|d| d.group)
            .collect())
    }

    /// The group of that name, if there is one.
    pub async fn group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
        Ok(self
            .describe(Some(name))
            .await?
            .into_iter()
            .map(|d| d.group)
            .find(|g| g.name == name))
    }

    async fn describe(&self, name: Option<&str>) -> Result<Vec<Described>, AwsError> {
        let mut call = self.client.describe_auto_scaling_groups();
        if let Some(name) = name {
            call = call.auto_scaling_group_names(name);
        }
        let mut pages = call.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("DescribeAutoScalingGroups", e))?;
            for g in page.auto_scaling_groups() {
                out.push(described(g)?);
            }
        }
        Ok(out)
    }

    async fn membership(&self, instance_id: &str) -> Result<Membership, AwsError> {
        for d in self.describe(None).await? {
            let state = d
                .instances
                .iter()
                .find(|(id, _)| id == instance_id)
                .map(|(_, state)| state.as_ref());
            match state {
                None => continue,
                Some(s) if terminating(s) => return Ok(Membership::Terminating(d.group)),
                Some(s) if leaving(s) => return Ok(Membership::None),
                Some(_) => return Ok(Membership::Member(d.group)),
            }
        }
        Ok(Membership::None)
    }

    /// Terminate an instance through its Auto Scaling group
    /// (`TerminateInstanceInAutoScalingGroup`). With `decrement` the group's
    /// desired capacity drops by one and nothing replaces the instance;
    /// without it the group launches a replacement.
    ///
    /// The group is looked up first: an instance in no group, or one its
    /// group is already terminating, is reported as such and nothing is
    /// asked, so calling again is safe. Decrementing a group already at its
    /// minimum size is [`AwsError::BelowMinSize`], whether this check sees it
    /// or AWS does (its `ValidationError` when the group changed in
    /// between); moto does not enforce the minimum, so the check here is
    /// what keeps both the same.
    pub async fn terminate_in_group(
        &self,
        instance_id: &str,
        decrement: bool,
    ) -> Result<GroupTermination, AwsError> {
        let group = match self.membership(instance_id).await? {
            Membership::None => return Ok(GroupTermination::NotInGroup),
            Membership::Terminating(group) => {
                return Ok(GroupTermination::AlreadyTerminating { group: group.name })
            }
            Membership::Member(group) => group,
        };
        let below_min = || AwsError::BelowMinSize {
            instance_id: instance_id.to_owned(),
            group: group.name.clone(),
            min_size: group.min_size,
        };
        if decrement && !group.can_shrink() {
            return Err(below_min());
        }
        let result = self
            .client
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance_id)
            .should_decrement_desired_capacity(decrement)
            .send()
            .await;
        match result {
            Ok(_) => Ok(GroupTermination::Terminating {
                desired_capacity: if decrement {
                    group.desired_capacity.saturating_sub(1)
                } else {
                    group.desired_capacity
                },
                group: group.name,
            }),
            Err(e) => {
                let message = e.message().unwrap_or_default().to_ascii_lowercase();
                if e.code() == Some("ValidationError") {
                    // "Currently, desiredSize equals minSize (1). Terminating
                    // instance without replacement will violate group's min
                    // size constraint. …"
                    if message.contains("min size") || message.contains("minsize") {
                        return Err(below_min());
                    }
                    // "Instance Id not found - No managed instance found for
                    // instance ID: i-…": it left the group in between.
                    if message.contains("not found") {
                        return Ok(GroupTermination::NotInGroup);
                    }
                }
                Err(from_sdk("TerminateInstanceInAutoScalingGroup", e))
            }
        }
    }
}
