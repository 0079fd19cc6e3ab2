//! EC2: instances, volumes, spot prices, launches, terminations, tags.

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{
    Filter, InstanceMarketOptionsRequest, InstanceStateName, MarketType, Placement, ResourceType,
    Tag, TagSpecification,
};
use jiff::Timestamp;

use cloudoptim_core::inventory::{tags, Instance, InstanceState, Tags, Volume, VolumeState};
use cloudoptim_core::money::UsdPerHour;
use cloudoptim_core::snapshot::CapacityType;
use cloudoptim_core::spot::risk::SpotPrice;

use crate::error::{from_sdk, AwsError};

/// AWS keeps 90 days of spot price history.
pub const SPOT_HISTORY_MAX_DAYS: i64 = 90;

/// An EC2 client.
#[derive(Clone, Debug)]
pub struct Ec2 {
    client: aws_sdk_ec2::Client,
}

/// What to launch.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchRequest {
    /// Instance type.
    pub instance_type: String,
    /// Zone, if it matters.
    pub zone: Option<String>,
    /// On-demand or spot.
    pub capacity_type: CapacityType,
    /// How many.
    pub count: u32,
    /// Tags for the instances.
    pub tags: Tags,
    /// A launch template (id) carrying the AMI, user data and networking of
    /// the cluster's nodes; without it `image_id` is required.
    pub launch_template_id: Option<String>,
    /// The AMI, when no launch template is given.
    pub image_id: Option<String>,
}

fn ts(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<Timestamp> {
    Timestamp::from_second(t?.secs()).ok()
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn aws_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl Ec2 {
    /// A client for the given SDK configuration.
    pub fn new(config: &SdkConfig) -> Ec2 {
        Ec2 {
            client: aws_sdk_ec2::Client::new(config),
        }
    }

    /// Instances matching the filters (`("tag:eks:cluster-name", ["prod"])`),
    /// every page.
    pub async fn instances(&self, filters: &[(&str, &[&str])]) -> Result<Vec<Instance>, AwsError> {
        let mut pages = self
            .client
            .describe_instances()
            .set_filters(ec2_filters(filters))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("DescribeInstances", e))?;
            for reservation in page.reservations() {
                for i in reservation.instances() {
                    out.push(instance(i)?);
                }
            }
        }
        Ok(out)
    }

    /// Instances matching any of the filters (each one query: EC2 ANDs the
    /// filters of one call, and a union is needed to find instances that
    /// carry any of several tags), each instance once, in id order.
    pub async fn instances_matching_any(
        &self,
        filters: &[(&str, &[&str])],
        states: &[&str],
    ) -> Result<Vec<Instance>, AwsError> {
        let mut found = std::collections::BTreeMap::new();
        for filter in filters {
            let query = [*filter, ("instance-state-name", states)];
            let query = if states.is_empty() {
                &query[..1]
            } else {
                &query[..]
            };
            for i in self.instances(query).await? {
                found.entry(i.instance_id.clone()).or_insert(i);
            }
        }
        Ok(found.into_values().collect())
    }

    /// Launch instances; returns their ids.
    pub async fn launch(&self, request: &LaunchRequest) -> Result<Vec<String>, AwsError> {
        let count = i32::try_from(request.count).unwrap_or(i32::MAX);
        let mut call = self
            .client
            .run_instances()
            .instance_type(request.instance_type.as_str().into())
            .min_count(count)
            .max_count(count)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(aws_tags(&request.tags)))
                    .build(),
            );
        if let Some(id) = &request.launch_template_id {
            call = call.launch_template(
                aws_sdk_ec2::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(id)
                    .build(),
            );
        }
        if let Some(image) = &request.image_id {
            call = call.image_id(image);
        }
        if let Some(zone) = &request.zone {
            call = call.placement(Placement::builder().availability_zone(zone).build());
        }
        if request.capacity_type == CapacityType::Spot {
            call = call.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .build(),
            );
        }
        let out = call.send().await.map_err(|e| from_sdk("RunInstances", e))?;
        Ok(out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }

    /// Terminate instances. Terminating one already gone is not an error.
    pub async fn terminate(&self, instance_ids: &[String]) -> Result<(), AwsError> {
        if instance_ids.is_empty() {
            return Ok(());
        }
        match self.terminate_batch(instance_ids).await {
            Err(AwsError::Service { message, .. })
                if message.contains("InvalidInstanceID.NotFound") && instance_ids.len() > 1 =>
            {
                // EC2 refuses the whole batch when one id is gone: do them one by one.
                for id in instance_ids {
                    match self.terminate_batch(std::slice::from_ref(id)).await {
                        Err(AwsError::Service { message, .. })
                            if message.contains("InvalidInstanceID.NotFound") => {}
                        other => other?,
                    }
                }
                Ok(())
            }
            Err(AwsError::Service { message, .. })
                if message.contains("InvalidInstanceID.NotFound") =>
            {
                Ok(())
            }
            other => other,
        }
    }

    async fn terminate_batch(&self, instance_ids: &[String]) -> Result<(), AwsError> {
        self.client
            .terminate_instances()
            .set_instance_ids(Some(instance_ids.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("TerminateInstances", e))
    }

    /// Set tags on resources (instances, volumes).
    pub async fn tag(&self, resource_ids: &[String], tags: &Tags) -> Result<(), AwsError> {
        self.client
            .create_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(aws_tags(tags)))
            .send()
            .await
            .map_err(|e| from_sdk("CreateTags", e))?;
        Ok(())
    }

    /// Remove tags (by key, whatever their value) from resources.
    pub async fn untag(&self, resource_ids: &[String], keys: &[String]) -> Result<(), AwsError> {
        self.client
            .delete_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(
                keys.iter().map(|k| Tag::builder().key(k).build()).collect(),
            ))
            .send()
            .await
            .map_err(|e| from_sdk("DeleteTags", e))?;
        Ok(())
    }

    /// EBS volumes matching the filters (`("tag-key", ["ebs.csi.aws.com/cluster"])`,
    /// `("status", ["available"])`; none: every volume), every page.
    pub async fn volumes(&self, filters: &[(&str, &[&str])]) -> Result<Vec<Volume>, AwsError> {
        let mut pages = self
            .client
            .describe_volumes()
            .set_filters(ec2_filters(filters))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("DescribeVolumes", e))?;
            for v in page.volumes() {
                out.push(volume(v)?);
            }
        }
        Ok(out)
    }

    /// Volumes matching any of the filters (a union of one query per
    /// filter), each volume once, in id order.
    pub async fn volumes_matching_any(
        &self,
        filters: &[(&str, &[&str])],
    ) -> Result<Vec<Volume>, AwsError> {
        let mut found = std::collections::BTreeMap::new();
        for filter in filters {
            for v in self.volumes(std::slice::from_ref(filter)).await? {
                found.entry(v.volume_id.clone()).or_insert(v);
            }
        }
        Ok(found.into_values().collect())
    }

    /// One volume by id; `None` when it does not exist (any more).
    pub async fn volume(&self, volume_id: &str) -> Result<Option<Volume>, AwsError> {
        let ids = [volume_id];
        Ok(self
            .volumes(&[("volume-id", &ids)])
            .await?
            .into_iter()
            .find(|v| v.volume_id == volume_id))
    }

    /// Snapshots of a volume that CloudOptim took before deleting it (tagged
    /// [`tags::SNAPSHOT_OF`] with the volume id), every page.
    pub async fn snapshots_of(&self, volume_id: &str) -> Result<Vec<VolumeSnapshot>, AwsError> {
        let ids = [volume_id];
        let tag_filter = format!("tag:{}", tags::SNAPSHOT_OF);
        let mut pages = self
            .client
            .describe_snapshots()
            .owner_ids("self")
            .set_filters(ec2_filters(&[
                ("volume-id", &ids),
                (tag_filter.as_str(), &ids),
            ]))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("DescribeSnapshots", e))?;
            for s in page.snapshots() {
                out.push(snapshot(s)?);
            }
        }
        Ok(out)
    }

    /// Snapshot a volume and wait (polling every `poll`, at most `timeout`)
    /// until the snapshot completes. A snapshot of ours still in progress is
    /// waited for rather than taken again. Returns the completed snapshot.
    pub async fn snapshot_volume(
        &self,
        volume_id: &str,
        poll: std::time::Duration,
        timeout: std::time::Duration,
    ) -> Result<VolumeSnapshot, AwsError> {
        let pending = self
            .snapshots_of(volume_id)
            .await?
            .into_iter()
            .find(|s| s.state == SnapshotState::Pending);
        let snapshot_id = match pending {
            Some(s) => s.snapshot_id,
            None => {
                let tags: Tags = [(tags::SNAPSHOT_OF.to_owned(), volume_id.to_owned())].into();
                self.client
                    .create_snapshot()
                    .volume_id(volume_id)
                    .description(format!(
                        "CloudOptim: {volume_id} before deleting it as a zombie volume"
                    ))
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Snapshot)
                            .set_tags(Some(aws_tags(&tags)))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| from_sdk("CreateSnapshot", e))?
                    .snapshot_id()
                    .ok_or(AwsError::Invalid {
                        operation: "CreateSnapshot",
                        field: "SnapshotId",
                    })?
                    .to_owned()
            }
        };
        let started = std::time::Instant::now();
        loop {
            let found = self
                .snapshots_of(volume_id)
                .await?
                .into_iter()
                .find(|s| s.snapshot_id == snapshot_id);
            match found {
                Some(s) if s.state == SnapshotState::Completed => return Ok(s),
                Some(s) if s.state == SnapshotState::Error => {
                    return Err(AwsError::Service {
                        operation: "CreateSnapshot",
                        message: format!("snapshot {snapshot_id} of {volume_id} failed"),
                    })
                }
                _ if started.elapsed() >= timeout => {
                    return Err(AwsError::Service {
                        operation: "CreateSnapshot",
                        message: format!(
                            "snapshot {snapshot_id} of {volume_id} did not complete within {} s",
                            timeout.as_secs()
                        ),
                    })
                }
                _ => tokio::time::sleep(poll).await,
            }
        }
    }

    /// Delete a volume. One already gone (`InvalidVolume.NotFound`) is not
    /// an error: returns `false` then.
    pub async fn delete_volume(&self, volume_id: &str) -> Result<bool, AwsError> {
        match self
            .client
            .delete_volume()
            .volume_id(volume_id)
            .send()
            .await
            .map_err(|e| from_sdk("DeleteVolume", e))
        {
            Ok(_) => Ok(true),
            Err(AwsError::Service { message, .. })
                if message.contains("InvalidVolume.NotFound") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Linux spot prices of the types between `start` (clamped to 90 days
    /// before `end`) and `end`, every page: `(instance type, zone, price)`.
    pub async fn spot_price_history(
        &self,
        instance_types: &[String],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<(String, String, SpotPrice)>, AwsError> {
        let earliest = end
            .checked_sub(jiff::SignedDuration::from_hours(24 * SPOT_HISTORY_MAX_DAYS))
            .unwrap_or(start);
        let start = start.max(earliest);
        let mut pages = self
            .client
            .describe_spot_price_history()
            .set_instance_types(Some(
                instance_types.iter().map(|t| t.as_str().into()).collect(),
            ))
            .product_descriptions("Linux/UNIX")
            .start_time(aws_sdk_ec2::primitives::DateTime::from_secs(
                start.as_second(),
            ))
            .end_time(aws_sdk_ec2::primitives::DateTime::from_secs(
                end.as_second(),
            ))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("DescribeSpotPriceHistory", e))?;
            for p in page.spot_price_history() {
                let invalid = |field| AwsError::Invalid {
                    operation: "DescribeSpotPriceHistory",
                    field,
                };
                let price: f64 = p
                    .spot_price()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("SpotPrice"))?;
                out.push((
                    p.instance_type()
                        .map(|t| t.as_str().to_owned())
                        .ok_or_else(|| invalid("InstanceType"))?,
                    p.availability_zone().unwrap_or_default().to_owned(),
                    SpotPrice {
                        at: ts(p.timestamp()).ok_or_else(|| invalid("Timestamp"))?,
                        usd_per_hour: UsdPerHour::from_usd(price)
                            .map_err(|_| invalid("SpotPrice"))?,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Spot placement scores (1–10) per zone for running `target_capacity`
    /// instances of these types. Endpoints that do not implement it (moto)
    /// give [`AwsError::Unsupported`]; the engines work without scores.
    pub async fn spot_placement_scores(
        &self,
        instance_types: &[String],
        target_capacity: u32,
        region: &str,
    ) -> Result<Vec<(String, u8)>, AwsError> {
        let out = self
            .client
            .get_spot_placement_scores()
            .set_instance_types(Some(instance_types.to_vec()))
            .target_capacity(i32::try_from(target_capacity).unwrap_or(i32::MAX))
            .region_names(region)
            .single_availability_zone(true)
            .send()
            .await
            .map_err(|e| from_sdk("GetSpotPlacementScores", e))?;
        Ok(out
            .spot_placement_scores()
            .iter()
            .map(|s| {
                (
                    s.availability_zone_id()
                        .or(s.region())
                        .unwrap_or_default()
                        .to_owned(),
                    s.score().and_then(|v| u8::try_from(v).ok()).unwrap_or(0),
                )
            })
            .collect())
    }
}

fn instance(i: &aws_sdk_ec2::types::Instance) -> Result<Instance, AwsError> {
    let invalid = |field| AwsError::Invalid {
        operation: "DescribeInstances",
        field,
    };
    Ok(Instance {
        instance_id: i
            .instance_id()
            .ok_or_else(|| invalid("InstanceId"))?
            .to_owned(),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_owned())
            .ok_or_else(|| invalid("InstanceType"))?,
        zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_owned(),
        state: match i.state().and_then(|s| s.name()) {
            Some(InstanceStateName::Pending) => InstanceState::Pending,
            Some(InstanceStateName::Stopping) => InstanceState::Stopping,
            Some(InstanceStateName::Stopped) => InstanceState::Stopped,
            Some(InstanceStateName::ShuttingDown) => InstanceState::ShuttingDown,
            Some(InstanceStateName::Terminated) => InstanceState::Terminated,
            _ => InstanceState::Running,
        },
        capacity_type: match i.instance_lifecycle().map(|l| l.as_str()) {
            Some("spot") => CapacityType::Spot,
            _ => CapacityType::OnDemand,
        },
        launched_at: ts(i.launch_time()).unwrap_or(Timestamp::UNIX_EPOCH),
        private_dns_name: i
            .private_dns_name()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        tags: tags_of(i.tags()),
    })
}

/// EC2 filters from `(name, values)` pairs; `None` for no filter.
fn ec2_filters(filters: &[(&str, &[&str])]) -> Option<Vec<Filter>> {
    (!filters.is_empty()).then(|| {
        filters
            .iter()
            .map(|(name, values)| {
                Filter::builder()
                    .name(*name)
                    .set_values(Some(values.iter().map(|v| (*v).to_owned()).collect()))
                    .build()
            })
            .collect()
    })
}

fn volume(v: &aws_sdk_ec2::types::Volume) -> Result<Volume, AwsError> {
    Ok(Volume {
        volume_id: v
            .volume_id()
            .ok_or(AwsError::Invalid {
                operation: "DescribeVolumes",
                field: "VolumeId",
            })?
            .to_owned(),
        size_gib: v.size().and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
        volume_type: v
            .volume_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        iops: v.iops().and_then(|i| u32::try_from(i).ok()),
        throughput_mib_per_second: v.throughput().and_then(|t| u32::try_from(t).ok()),
        zone: v.availability_zone().unwrap_or_default().to_owned(),
        state: match v.state().map(|s| s.as_str()) {
            Some("creating") => VolumeState::Creating,
            Some("in-use") => VolumeState::InUse,
            Some("deleting") => VolumeState::Deleting,
            Some("deleted") => VolumeState::Deleted,
            Some("error") => VolumeState::Error,
            _ => VolumeState::Available,
        },
        attached_instance_ids: v
            .attachments()
            .iter()
            .filter_map(|a| a.instance_id().map(str::to_owned))
            .collect(),
        created_at: ts(v.create_time()).unwrap_or(Timestamp::UNIX_EPOCH),
        tags: tags_of(v.tags()),
    })
}

/// State of an EBS snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotState {
    /// Being taken.
    Pending,
    /// Complete: the volume's data is safe in it.
    Completed,
    /// Failed.
    Error,
}

/// An EBS snapshot of a volume.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeSnapshot {
    /// Snapshot id (`snap-…`).
    pub snapshot_id: String,
    /// The volume it was taken of.
    pub volume_id: String,
    /// State.
    pub state: SnapshotState,
    /// When it was started.
    pub started_at: Option<Timestamp>,
}

fn snapshot(s: &aws_sdk_ec2::types::Snapshot) -> Result<VolumeSnapshot, AwsError> {
    let invalid = |field| AwsError::Invalid {
        operation: "DescribeSnapshots",
        field,
    };
    Ok(VolumeSnapshot {
        snapshot_id: s
            .snapshot_id()
            .ok_or_else(|| invalid("SnapshotId"))?
            .to_owned(),
        volume_id: s.volume_id().unwrap_or_default().to_owned(),
        state: match s.state().map(|st| st.as_str()) {
            Some("completed") => SnapshotState::Completed,
            Some("error") | Some("recoverable") | Some("recovering") => SnapshotState::Error,
            _ => SnapshotState::Pending,
        },
        started_at: ts(s.start_time()),
    })
}
