//! The AWS adapter against moto's server mode, which `./scripts/test`
//! installs and starts on loopback (`CLOUDOPTIM_MOTO_ENDPOINT`). These tests
//! fail, not skip, when moto is not there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use cloudoptim_aws::ec2::LaunchRequest;
use cloudoptim_aws::{
    AutoScaling, AwsError, AwsSettings, Ec2, GroupTermination, PriceListFetcher, SqsConsumer,
    SqsSettings,
};
use cloudoptim_core::catalog::{Catalog, OperatingSystem};
use cloudoptim_core::inventory::{AwsInventory, InstanceState, Tags};
use cloudoptim_core::snapshot::CapacityType;
use cloudoptim_core::spot::interruption::{InterruptionHandler, InterruptionPolicy, Outcome};

fn endpoint() -> String {
    std::env::var("CLOUDOPTIM_MOTO_ENDPOINT").expect(
        "CLOUDOPTIM_MOTO_ENDPOINT is not set: run ./scripts/test, which installs and starts moto",
    )
}

async fn config() -> SdkConfig {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint()),
        ..AwsSettings::default()
    }
    .sdk_config()
    .await
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

async fn any_image(config: &SdkConfig) -> String {
    let out = aws_sdk_ec2::Client::new(config)
        .describe_images()
        .send()
        .await
        .unwrap();
    out.images()[0].image_id().unwrap().to_owned()
}

#[tokio::test]
async fn instances_launch_describe_tag_and_terminate() {
    let config = config().await;
    let ec2 = Ec2::new(&config);
    let run = unique("lifecycle");
    let tags: Tags = [("cloudoptim-test".to_owned(), run.clone())].into();
    let ids = ec2
        .launch(&LaunchRequest {
            instance_type: "m5.large".into(),
            zone: Some("us-east-1b".into()),
            capacity_type: CapacityType::Spot,
            count: 2,
            tags: tags.clone(),
            launch_template_id: None,
            image_id: Some(any_image(&config).await),
        })
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let filter_values = [run.as_str()];
    let found = ec2
        .instances(&[("tag:cloudoptim-test", &filter_values)])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    for i in &found {
        assert_eq!(i.instance_type, "m5.large");
        assert_eq!(i.zone, "us-east-1b");
        assert_eq!(i.capacity_type, CapacityType::Spot);
        assert_eq!(i.tags.get("cloudoptim-test"), Some(&run));
    }
    ec2.tag(&ids, &[("team".to_owned(), "platform".to_owned())].into())
        .await
        .unwrap();
    let tagged = ec2.instances(&[("tag:team", &["platform"])]).await.unwrap();
    assert!(ids
        .iter()
        .all(|id| tagged.iter().any(|i| &i.instance_id == id)));
    ec2.terminate(&ids).await.unwrap();
    // Again: already gone is not an error.
    ec2.terminate(&ids).await.unwrap();
    let after = ec2
        .instances(&[("tag:cloudoptim-test", &filter_values)])
        .await
        .unwrap();
    assert!(after.iter().all(|i| matches!(
        i.state,
        InstanceState::Terminated | InstanceState::ShuttingDown
    )));
}

#[tokio::test]
async fn spot_price_history_pages_and_placement_scores_are_unsupported() {
    let config = config().await;
    let ec2 = Ec2::new(&config);
    let end = jiff::Timestamp::from_second(1_795_446_000).unwrap();
    let start = end
        .checked_sub(jiff::SignedDuration::from_hours(24 * 120))
        .unwrap();
    let prices = ec2
        .spot_price_history(&["m5.large".into(), "c5.large".into()], start, end)
        .await
        .unwrap();
    // moto serves placeholder prices: the parsing is what is tested here.
    assert!(!prices.is_empty());
    assert!(prices
        .iter()
        .all(|(t, _, p)| !t.is_empty() && p.usd_per_hour.micro_usd() >= 0));
    let scores = ec2
        .spot_placement_scores(&["m5.large".into()], 10, "us-east-1")
        .await;
    assert!(
        matches!(scores, Err(AwsError::Unsupported { .. })),
        "{scores:?}"
    );
}

/// moto 5.2.5 has no Price List service (it answers GetProducts with an
/// HTML error page), so only the error path is exercised here; the reading
/// of GetProducts answers is proven on recorded answers by the core's
/// `tests/price_list.rs`.
#[tokio::test]
async fn the_price_list_is_unsupported_by_moto_and_said_so() {
    let config = config().await;
    let fetcher = PriceListFetcher::new(&config, "eu-west-1").unwrap();
    let got = fetcher
        .on_demand_prices("eu-west-1", OperatingSystem::Linux)
        .await;
    match got {
        Err(e @ AwsError::Unsupported { .. }) => {
            assert!(
                e.to_string()
                    .starts_with("GetProducts is not supported by this endpoint"),
                "{e}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[tokio::test]
async fn eventbridge_to_sqs_to_an_interruption_plan() {
    let config = config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let name = unique("cloudoptim-interruptions");
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    // The seed's rule, as deploy/cloudformation.json creates it.
    let template: serde_json::Value =
        serde_json::from_str(include_str!("../../deploy/cloudformation.json")).unwrap();
    let pattern =
        template["Resources"]["SpotInterruptionRule"]["Properties"]["EventPattern"].to_string();
    events
        .put_rule()
        .name(&name)
        .event_pattern(&pattern)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("sqs")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let snapshot = cloudoptim_core::kubectl::read_list(include_str!(
        "../../tests/fixtures/kubectl-get-all.json"
    ))
    .unwrap()
    .snapshot;
    let node = snapshot.node("ip-10-0-45-23.ec2.internal").unwrap();
    let instance = node.instance_id.clone().unwrap();
    let detail = format!(r#"{{"instance-id":"{instance}","instance-action":"terminate"}}"#);
    // The same warning delivered twice, and a message that is no event.
    for _ in 0..2 {
        let out = events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source("aws.ec2")
                    .detail_type("EC2 Spot Instance Interruption Warning")
                    .detail(&detail)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_entry_count(), 0);
    }
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("not an event")
        .send()
        .await
        .unwrap();

    let consumer = SqsConsumer::new(
        &config,
        SqsSettings {
            wait_seconds: 1,
            ..SqsSettings::from_env(queue_url.clone())
        },
    );
    let catalog = Catalog::embedded().unwrap();
    let policy = InterruptionPolicy::default();
    let mut handler = InterruptionHandler::new();
    let (mut plans, mut duplicates, mut malformed) = (0, 0, 0);
    let started = Instant::now();
    while plans + duplicates + malformed < 3 && started.elapsed() < Duration::from_secs(20) {
        for m in consumer.receive().await.unwrap() {
            match &m.event {
                Ok(event) => {
                    let now = event.time;
                    match handler.handle(event, &snapshot, catalog, &policy, now) {
                        Outcome::Plan { plan, .. } => {
                            plans += 1;
                            assert_eq!(plan.steps[0].action.kind(), "cordon");
                            assert!(plan.steps.iter().any(|s| s.action.kind() == "evict"));
                        }
                        Outcome::Duplicate { .. } => duplicates += 1,
                        Outcome::Ignored { reason } => panic!("ignored: {reason}"),
                        Outcome::InvalidSnapshot { duplicate } => {
                            panic!("invalid snapshot: {duplicate}")
                        }
                    }
                }
                Err(_) => {
                    malformed += 1;
                    // Logged and deleted, by the default policy.
                    assert!(consumer.discard_malformed(&m).await.unwrap());
                    continue;
                }
            }
            // Handled: delete it.
            consumer.ack(&m.receipt_handle).await.unwrap();
        }
    }
    assert_eq!((plans, duplicates, malformed), (1, 1, 1));
    assert!(consumer.receive().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_executor_dry_runs_by_default_and_rechecks_protection() {
    use cloudoptim_aws::{Ec2Executor, Mode, StepOutcome};
    use cloudoptim_core::execute::PlanRunner;
    use cloudoptim_core::money::UsdPerHour;
    use cloudoptim_core::plan::{Action, Plan, Precondition, Resource};

    let config = config().await;
    let ec2 = Ec2::new(&config);
    let run = unique("executor");
    let image = any_image(&config).await;
    let launch = |protect: bool| {
        let mut tags: Tags = [("cloudoptim-test".to_owned(), run.clone())].into();
        if protect {
            tags.insert("cloudoptim.io/protect".into(), "true".into());
        }
        LaunchRequest {
            instance_type: "m5.large".into(),
            zone: None,
            capacity_type: CapacityType::OnDemand,
            count: 1,
            tags,
            launch_template_id: None,
            image_id: Some(image.clone()),
        }
    };
    let plain = ec2.launch(&launch(false)).await.unwrap().remove(0);
    let protected = ec2.launch(&launch(true)).await.unwrap().remove(0);
    let now = jiff::Timestamp::from_second(1_795_446_000).unwrap();
    let mut plan = Plan::new("test", now);
    for id in [&plain, &protected] {
        plan.push(
            Action::TerminateInstance {
                instance_id: id.clone(),
                node: None,
                auto_scaling_group: None,
            },
            "test",
            vec![Precondition::NotProtected {
                resource: Resource::Instance {
                    instance_id: id.clone(),
                },
            }],
            UsdPerHour::ZERO,
        );
    }
    plan.push(
        Action::LaunchInstance {
            instance_type: "c5.large".into(),
            zone: "us-east-1a".into(),
            capacity_type: CapacityType::Spot,
            count: 1,
            tags: [("cloudoptim.io/replaces".to_owned(), run.clone())].into(),
        },
        "replacement",
        vec![],
        UsdPerHour::ZERO,
    );
    // A cluster step no executor here carries out: the plan is refused whole.
    let mut with_cordon = plan.clone();
    with_cordon.push(
        Action::Cordon { node: "n".into() },
        "k8s",
        vec![],
        UsdPerHour::ZERO,
    );
    let mut executor = Ec2Executor::new(ec2.clone());
    executor.image_id = Some(image.clone());
    let clock = jiff::Timestamp::now;
    let dry_runner = PlanRunner::new(&clock).with(&executor);
    let refused = dry_runner.run(&with_cordon).await.unwrap_err();
    assert_eq!(
        refused.problems,
        ["step 4 (cordon): no executor carries out this action"]
    );

    // Dry-run (the default): nothing changes.
    let dry = dry_runner.run(&plan).await.unwrap();
    let outcomes: Vec<&StepOutcome> = dry.steps.iter().map(|s| &s.outcome).collect();
    assert!(matches!(outcomes[0], StepOutcome::WouldDo(_)), "{dry}");
    assert!(
        matches!(outcomes[1], StepOutcome::Skipped(m) if m.contains("protected")),
        "{dry}"
    );
    assert!(matches!(outcomes[2], StepOutcome::WouldDo(_)), "{dry}");
    let ids = [plain.as_str()];
    let still = ec2.instances(&[("instance-id", &ids)]).await.unwrap();
    assert_eq!(still[0].state, InstanceState::Running);

    // Execute, twice: the second run finds everything done.
    let runner = PlanRunner::new(&clock).with(&executor).mode(Mode::Execute);
    let first = runner.run(&plan).await.unwrap();
    let outcomes: Vec<&StepOutcome> = first.steps.iter().map(|s| &s.outcome).collect();
    assert!(matches!(outcomes[0], StepOutcome::Done(_)), "{first}");
    assert!(matches!(outcomes[1], StepOutcome::Skipped(_)), "{first}");
    assert!(matches!(outcomes[2], StepOutcome::Done(_)), "{first}");
    let second = runner.run(&plan).await.unwrap();
    let outcomes: Vec<&StepOutcome> = second.steps.iter().map(|s| &s.outcome).collect();
    assert!(
        matches!(outcomes[0], StepOutcome::Done(m) if m.contains("already")),
        "{second}"
    );
    assert!(
        matches!(outcomes[2], StepOutcome::Done(m) if m.contains("already")),
        "{second}"
    );
    let protected_ids = [protected.as_str()];
    let kept = ec2
        .instances(&[("instance-id", &protected_ids)])
        .await
        .unwrap();
    assert_eq!(kept[0].state, InstanceState::Running);
}

#[tokio::test]
async fn assume_role_with_an_external_id_reaches_ec2() {
    let config = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint()),
        assume_role_arn: Some("arn:aws:iam::123456789012:role/cloudoptim".into()),
        external_id: Some("customer-external-id".into()),
    }
    .sdk_config()
    .await;
    // The assumed credentials sign a real call.
    let ec2 = Ec2::new(&config);
    ec2.instances(&[]).await.unwrap();
    let creds = aws_credential_types::provider::ProvideCredentials::provide_credentials(
        &config.credentials_provider().unwrap(),
    )
    .await
    .unwrap();
    // moto's STS hands out temporary credentials, not the static test ones.
    assert_ne!(creds.access_key_id(), "testing");
    assert!(creds.session_token().is_some());
}

/// Put an object in moto's S3, public, with the boto3 that comes with moto.
fn put_public_object(bucket: &str, key: &str, body: &str) {
    let python = std::env::var("CLOUDOPTIM_MOTO_PYTHON")
        .expect("CLOUDOPTIM_MOTO_PYTHON is not set: run ./scripts/test");
    let script = format!(
        "import boto3, sys\n\
         s3 = boto3.client('s3', region_name='us-east-1', endpoint_url='{}')\n\
         try:\n    s3.create_bucket(Bucket='{bucket}')\nexcept Exception:\n    pass\n\
         s3.put_object(Bucket='{bucket}', Key='{key}', Body=sys.stdin.buffer.read(), ACL='public-read')\n",
        endpoint()
    );
    let mut child = std::process::Command::new(python)
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn the_spot_advisor_feed_is_fetched_conditionally_and_validated() {
    use cloudoptim_aws::{AdvisorFetcher, FeedCache, FeedSource};

    let bucket = unique("advisor");
    let key = "spot-advisor-data.json";
    let feed = include_str!("../../cloudoptim-core/data/spot-advisor-us-east-1.json");
    put_public_object(&bucket, key, feed);
    let url = format!("{}/{bucket}/{key}", endpoint());
    let fetcher = AdvisorFetcher::new(&url, Duration::from_secs(5)).unwrap();
    let base = Catalog::embedded().unwrap();
    let mut cache = FeedCache::default();

    let (catalog, source) = fetcher.refresh(&mut cache, base).await;
    assert_eq!(source, FeedSource::Fetched);
    assert!(cache.etag.is_some() && cache.body.is_some());
    assert!(catalog
        .get("m5.large")
        .unwrap()
        .spot_advice(
            "us-east-1",
            cloudoptim_core::catalog::OperatingSystem::Linux
        )
        .is_some());

    // Unchanged: a conditional request, answered 304.
    let (_, source) = fetcher.refresh(&mut cache, base).await;
    assert_eq!(source, FeedSource::NotModified);

    // The whole live feed, odd entry included (a savings figure of -62 %):
    // used without that entry, which is logged.
    let live = include_str!("../../cloudoptim-core/tests/data/spot-advisor-data.json");
    put_public_object(&bucket, key, live);
    let (catalog, source) = fetcher.refresh(&mut cache, base).await;
    assert_eq!(source, FeedSource::Fetched);
    assert_eq!(cache.body.as_deref(), Some(live));
    let linux = cloudoptim_core::catalog::OperatingSystem::Linux;
    let advice = |name: &str, region: &str| {
        catalog
            .get(name)
            .unwrap()
            .spot_advice(region, linux)
            .copied()
    };
    assert!(advice("m5.large", "ca-central-1").is_some());
    assert_eq!(advice("p5.48xlarge", "ca-central-1"), None);
    assert!(advice("p5.48xlarge", "us-east-1").is_some());

    // A broken feed is rejected, naming the field, and the last good copy stays.
    put_public_object(
        &bucket,
        key,
        r#"{"instance_types": {}, "ranges": [], "spot_advisor": []}"#,
    );
    let (_, source) = fetcher.refresh(&mut cache, base).await;
    assert!(
        matches!(&source, FeedSource::Cached { reason } if reason.contains("invalid")),
        "{source:?}"
    );

    // Offline with nothing cached: the embedded snapshot.
    let offline =
        AdvisorFetcher::new("http://127.0.0.1:9/feed.json", Duration::from_millis(500)).unwrap();
    let (catalog, source) = offline.refresh(&mut FeedCache::default(), base).await;
    assert!(matches!(source, FeedSource::Embedded { .. }));
    assert_eq!(catalog.len(), base.len());
}

/// A launch template and an Auto Scaling group (min 1, desired 2, max 3)
/// whose instances carry `cloudoptim-test=<run>`; waits for its 2 instances.
async fn auto_scaling_group(config: &SdkConfig, run: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let template = ec2
        .create_launch_template()
        .launch_template_name(run)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(any_image(config).await)
                .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_owned();
    let asg = aws_sdk_autoscaling::Client::new(config);
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(run)
        .min_size(1)
        .desired_capacity(2)
        .max_size(3)
        .availability_zones("us-east-1a")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(template)
                .build(),
        )
        .tags(
            aws_sdk_autoscaling::types::Tag::builder()
                .key("cloudoptim-test")
                .value(run)
                .propagate_at_launch(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let autoscaling = AutoScaling::new(config);
    let started = Instant::now();
    loop {
        let group = autoscaling.group(run).await.unwrap().unwrap();
        if group.instance_ids.len() == 2 {
            return run.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the group never got its 2 instances: {group:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The test's instances (by their propagated tag) that are pending or running.
async fn live_instances(ec2: &Ec2, run: &str) -> Vec<String> {
    ec2.instances(&[("tag:cloudoptim-test", &[run])])
        .await
        .unwrap()
        .into_iter()
        .filter(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
        .map(|i| i.instance_id)
        .collect()
}

async fn delete_group(config: &SdkConfig, name: &str) {
    let asg = aws_sdk_autoscaling::Client::new(config);
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(0)
        .desired_capacity(0)
        .send()
        .await
        .unwrap();
    asg.delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .unwrap();
}

// What moto 5.2.5 does for Auto Scaling, as these tests rely on it:
// - CreateAutoScalingGroup launches the desired instances at once (InService
//   in the first DescribeAutoScalingGroups), tagged `aws:autoscaling:groupName`
//   plus the tags with PropagateAtLaunch.
// - TerminateInstanceInAutoScalingGroup detaches the instance (removing its
//   `aws:autoscaling:groupName` tag), terminates it in EC2 at once
//   (`terminated`, never a Terminating lifecycle state in the group), and
//   with ShouldDecrementDesiredCapacity lowers the desired capacity by one and
//   launches nothing; without it launches a replacement at once.
// - It does NOT enforce the minimum size: decrementing a group at its minimum
//   succeeds and leaves desired below min (1 → 0 with min 1, group empty),
//   where AWS answers ValidationError "Currently, desiredSize equals minSize
//   (1). Terminating instance without replacement will violate group's min
//   size constraint. …". The adapter checks the minimum itself before calling.
// - For an instance in no group it fails with HTTP 500 and an HTML page (a
//   Python StopIteration), where AWS answers ValidationError "Instance Id not
//   found"; the adapter looks the instance up first and does not call.

#[tokio::test]
async fn terminating_through_the_group_shrinks_it_down_to_its_minimum() {
    let config = config().await;
    let ec2 = Ec2::new(&config);
    let autoscaling = AutoScaling::new(&config);
    let run = unique("asg-shrink");
    let name = auto_scaling_group(&config, &run).await;

    let groups = autoscaling.groups().await.unwrap();
    let group = groups.iter().find(|g| g.name == name).unwrap();
    assert_eq!(
        (group.min_size, group.desired_capacity, group.max_size),
        (1, 2, 3)
    );
    assert_eq!(group.tags.get("cloudoptim-test"), Some(&run));
    assert!(group.can_shrink());
    let ids = group.instance_ids.clone();
    let mut live = live_instances(&ec2, &run).await;
    live.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(live, sorted);
    // The inventory helper finds the group of each instance.
    let inventory = AwsInventory {
        auto_scaling_groups: groups.clone(),
        ..AwsInventory::default()
    };
    assert_eq!(inventory.group_of(&ids[0]).map(|g| &g.name), Some(&name));

    // One instance goes, and the group shrinks instead of replacing it.
    let done = autoscaling.terminate_in_group(&ids[0], true).await.unwrap();
    assert_eq!(
        done,
        GroupTermination::Terminating {
            group: name.clone(),
            desired_capacity: 1
        }
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let group = autoscaling.group(&name).await.unwrap().unwrap();
    assert_eq!(group.desired_capacity, 1);
    assert_eq!(group.instance_ids, [ids[1].clone()]);
    assert!(!group.can_shrink());
    assert_eq!(live_instances(&ec2, &run).await, [ids[1].clone()]);

    // Again: it is in no group any more; not an error, nothing asked.
    assert_eq!(
        autoscaling.terminate_in_group(&ids[0], true).await.unwrap(),
        GroupTermination::NotInGroup
    );
    // An instance that never was in a group, likewise.
    assert_eq!(
        autoscaling
            .terminate_in_group("i-0000000000000000f", true)
            .await
            .unwrap(),
        GroupTermination::NotInGroup
    );

    // The last one cannot go without a replacement: the group is at its minimum.
    let refused = autoscaling.terminate_in_group(&ids[1], true).await;
    assert_eq!(
        refused,
        Err(AwsError::BelowMinSize {
            instance_id: ids[1].clone(),
            group: name.clone(),
            min_size: 1
        })
    );
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("below its minimum size 1"));
    let group = autoscaling.group(&name).await.unwrap().unwrap();
    assert_eq!(group.desired_capacity, 1);
    assert_eq!(group.instance_ids, [ids[1].clone()]);
    assert_eq!(live_instances(&ec2, &run).await, [ids[1].clone()]);

    // Without decrementing it may go, and the group replaces it.
    assert_eq!(
        autoscaling
            .terminate_in_group(&ids[1], false)
            .await
            .unwrap(),
        GroupTermination::Terminating {
            group: name.clone(),
            desired_capacity: 1
        }
    );
    let group = autoscaling.group(&name).await.unwrap().unwrap();
    assert_eq!(group.desired_capacity, 1);
    assert_eq!(group.instance_ids.len(), 1);
    assert_ne!(group.instance_ids[0], ids[1]);

    delete_group(&config, &name).await;
    assert_eq!(autoscaling.group(&name).await.unwrap(), None);
}

async fn create_volume(config: &SdkConfig, run: &str, extra: &[(&str, &str)]) -> String {
    let mut tags = vec![aws_sdk_ec2::types::Tag::builder()
        .key("cloudoptim-test")
        .value(run)
        .build()];
    for (k, v) in extra {
        tags.push(aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
    }
    aws_sdk_ec2::Client::new(config)
        .create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .iops(6000)
        .throughput(250)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn volumes_are_found_by_tag_snapshotted_untagged_and_deleted_once() {
    let config = config().await;
    let ec2 = Ec2::new(&config);
    let run = unique("volumes");
    let a = create_volume(&config, &run, &[("ebs.csi.aws.com/cluster", "true")]).await;
    let b = create_volume(&config, &run, &[]).await;
    let values = [run.as_str()];
    let mut mine: Vec<String> = ec2
        .volumes(&[("tag:cloudoptim-test", &values)])
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.volume_id)
        .collect();
    mine.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(mine, expected);
    let csi = ec2
        .volumes(&[
            ("tag:cloudoptim-test", &values),
            ("tag-key", &["ebs.csi.aws.com/cluster"]),
        ])
        .await
        .unwrap();
    assert_eq!(csi.len(), 1);
    assert_eq!(csi[0].volume_id, a);
    assert_eq!(csi[0].size_gib, 100);
    assert_eq!(csi[0].volume_type, "gp3");

    // Tag, then untag by key.
    let mark: Tags = [("cloudoptim.io/delete-after".to_owned(), "x".to_owned())].into();
    ec2.tag(std::slice::from_ref(&a), &mark).await.unwrap();
    assert!(ec2
        .volume(&a)
        .await
        .unwrap()
        .unwrap()
        .tags
        .contains_key("cloudoptim.io/delete-after"));
    ec2.untag(
        std::slice::from_ref(&a),
        &["cloudoptim.io/delete-after".to_owned()],
    )
    .await
    .unwrap();
    assert!(!ec2
        .volume(&a)
        .await
        .unwrap()
        .unwrap()
        .tags
        .contains_key("cloudoptim.io/delete-after"));

    // Only CloudOptim's own snapshots count.
    assert!(ec2.snapshots_of(&a).await.unwrap().is_empty());
    aws_sdk_ec2::Client::new(&config)
        .create_snapshot()
        .volume_id(&a)
        .send()
        .await
        .unwrap();
    assert!(ec2.snapshots_of(&a).await.unwrap().is_empty());
    let poll = Duration::from_millis(50);
    let snap = ec2
        .snapshot_volume(&a, poll, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(snap.volume_id, a);
    let ours = ec2.snapshots_of(&a).await.unwrap();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].snapshot_id, snap.snapshot_id);

    // Delete: once done, twice already gone; a volume never there is gone too.
    assert!(ec2.delete_volume(&a).await.unwrap());
    assert!(ec2.volume(&a).await.unwrap().is_none());
    assert!(!ec2.delete_volume(&a).await.unwrap());
    assert!(!ec2.delete_volume("vol-0123456789abcdef0").await.unwrap());
    assert!(ec2.volume(&b).await.unwrap().is_some());
    ec2.delete_volume(&b).await.unwrap();
}

#[tokio::test]
async fn the_account_of_a_cluster_is_observed_by_its_tags_with_iops() {
    let config = config().await;
    let ec2 = Ec2::new(&config);
    let run = unique("account");
    let cluster = format!("{run}-cluster");
    let cluster_tag = format!("kubernetes.io/cluster/{cluster}");
    let csi = create_volume(
        &config,
        &run,
        &[
            (cluster_tag.as_str(), "owned"),
            ("ebs.csi.aws.com/cluster", "true"),
            ("kubernetes.io/created-for/pvc/name", "data-0"),
        ],
    )
    .await;
    let unrelated = create_volume(&config, &run, &[]).await;
    let image = any_image(&config).await;
    let launch = |tags: Tags| LaunchRequest {
        instance_type: "m5.large".into(),
        zone: Some("us-east-1a".into()),
        capacity_type: CapacityType::OnDemand,
        count: 1,
        tags,
        launch_template_id: None,
        image_id: Some(image.clone()),
    };
    let tagged: Tags = [
        ("cloudoptim-test".to_owned(), run.clone()),
        (cluster_tag.clone(), "owned".to_owned()),
    ]
    .into();
    let eks: Tags = [
        ("cloudoptim-test".to_owned(), run.clone()),
        ("eks:cluster-name".to_owned(), cluster.clone()),
    ]
    .into();
    let other: Tags = [("cloudoptim-test".to_owned(), run.clone())].into();
    let by_cluster_tag = ec2.launch(&launch(tagged)).await.unwrap().remove(0);
    let by_eks_tag = ec2.launch(&launch(eks)).await.unwrap().remove(0);
    let not_ours = ec2.launch(&launch(other)).await.unwrap().remove(0);

    let inventory = cloudoptim_aws::observe_account(&ec2, None, "us-east-1", &cluster)
        .await
        .unwrap();
    let ids: Vec<&str> = inventory
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    assert!(ids.contains(&by_cluster_tag.as_str()), "{ids:?}");
    assert!(ids.contains(&by_eks_tag.as_str()), "{ids:?}");
    assert!(!ids.contains(&not_ours.as_str()), "{ids:?}");
    let volume = inventory
        .volumes
        .iter()
        .find(|v| v.volume_id == csi)
        .unwrap();
    assert_eq!(
        (volume.iops, volume.throughput_mib_per_second),
        (Some(6000), Some(250))
    );
    assert!(inventory.volumes.iter().all(|v| v.volume_id != unrelated));
    assert_eq!(inventory.region, "us-east-1");
    ec2.terminate(&[by_cluster_tag, by_eks_tag, not_ours])
        .await
        .unwrap();
    for v in [csi, unrelated] {
        ec2.delete_volume(&v).await.unwrap();
    }
}
