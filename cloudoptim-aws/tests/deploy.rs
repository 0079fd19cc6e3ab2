//! The onboarding artifacts in `deploy/` parse and cover what the adapter does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

const POLICY: &str = include_str!("../../deploy/iam-policy.json");
const TEMPLATE: &str = include_str!("../../deploy/cloudformation.json");

#[test]
fn the_iam_policy_covers_every_call_the_adapter_makes() {
    let policy: Value = serde_json::from_str(POLICY).unwrap();
    let actions: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap())
        .collect();
    for needed in [
        "ec2:RunInstances",
        "ec2:TerminateInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeSpotPriceHistory",
        "ec2:GetSpotPlacementScores",
        "ec2:CreateTags",
        "ec2:DescribeVolumes",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ] {
        assert!(actions.contains(&needed), "{needed} missing");
    }
    let queue_statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "CloudOptimInterruptionQueue")
        .unwrap();
    assert_eq!(queue_statement["Resource"], "arn:aws:sqs:*:*:cloudoptim-*");
    // Terminating through a group is limited to EKS node groups' groups.
    let shrink = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Action"][0] == "autoscaling:TerminateInstanceInAutoScalingGroup")
        .unwrap();
    assert_eq!(
        shrink["Condition"]["Null"]["autoscaling:ResourceTag/eks:cluster-name"],
        "false"
    );
}

#[test]
fn the_template_wires_four_rules_to_one_queue() {
    let t: Value = serde_json::from_str(TEMPLATE).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    assert_eq!(resources["InterruptionQueue"]["Type"], "AWS::SQS::Queue");
    assert!(t["Parameters"]["QueueName"]["Default"]
        .as_str()
        .unwrap()
        .starts_with("cloudoptim-"));
    let rules: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
        .collect();
    assert_eq!(rules.len(), 4);
    let allowed = &resources["InterruptionQueuePolicy"]["Properties"]["PolicyDocument"]
        ["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"];
    for (name, rule) in rules {
        let props = &rule["Properties"];
        assert!(props["EventPattern"]["source"].is_array(), "{name}");
        assert_eq!(
            props["Targets"][0]["Arn"]["Fn::GetAtt"][0],
            "InterruptionQueue"
        );
        assert!(
            allowed
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["Fn::GetAtt"][0] == name.as_str()),
            "{name} may not send to the queue"
        );
    }
    // The spot rule is the seed's pattern.
    assert_eq!(
        resources["SpotInterruptionRule"]["Properties"]["EventPattern"],
        serde_json::json!({
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Spot Instance Interruption Warning"],
            "detail": {"instance-id": [{"prefix": ""}]}
        })
    );
}
