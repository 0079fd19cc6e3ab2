//! One observation of the account's side of a cluster: the instances and
//! volumes that may be the cluster's, and the Auto Scaling groups.
//!
//! The queries fetch a superset (anything carrying one of the tags a
//! cluster's instances and volumes carry); which of them really are the
//! cluster's, and what is waste, the core decides
//! ([`cloudoptim_core::waste`]).

use cloudoptim_core::inventory::{tags, AwsInventory};

use crate::autoscaling::AutoScaling;
use crate::ec2::Ec2;
use crate::error::AwsError;

/// Instance states worth looking at: billed or about to be.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// Read the instances and volumes that may belong to `cluster_name`, and
/// (with an Auto Scaling client) every Auto Scaling group of the region.
/// Any failed call fails the whole observation: a partial inventory is
/// never handed to the engines.
pub async fn observe_account(
    ec2: &Ec2,
    autoscaling: Option<&AutoScaling>,
    region: &str,
    cluster_name: &str,
) -> Result<AwsInventory, AwsError> {
    let cluster_tag = format!("{}{cluster_name}", tags::CLUSTER_PREFIX);
    let cluster_tag = [cluster_tag.as_str()];
    let name = [cluster_name];
    let eks_cluster = format!("tag:{}", tags::EKS_CLUSTER_NAME);
    let eks_eks_cluster = format!("tag:{}", tags::EKS_EKS_CLUSTER_NAME);
    let instances = ec2
        .instances_matching_any(
            &[
                ("tag-key", &cluster_tag),
                (eks_cluster.as_str(), &name),
                (eks_eks_cluster.as_str(), &name),
                ("tag-key", &[tags::AUTOSCALING_GROUP_NAME]),
                ("tag-key", &[tags::KARPENTER_NODEPOOL]),
            ],
            &LIVE_STATES,
        )
        .await?;
    let volumes = ec2
        .volumes_matching_any(&[
            ("tag-key", &cluster_tag),
            ("tag-key", &[tags::EBS_CSI_CLUSTER]),
            ("tag-key", &[tags::PVC_NAME]),
        ])
        .await?;
    let auto_scaling_groups = match autoscaling {
        Some(a) => a.groups().await?,
        None => Vec::new(),
    };
    Ok(AwsInventory {
        region: region.to_owned(),
        instances,
        volumes,
        auto_scaling_groups,
    })
}
