//! `ClusterSummary` and node pricing on the realistic 4-node EKS cluster in
//! `tests/fixtures/kubectl-get-all.json` (see `tests/fixtures/README.md`).

use std::collections::BTreeMap;

use cloudoptim::catalog::OperatingSystem;
use cloudoptim::pricing::{node_price, Price, PriceSource};
use cloudoptim::snapshot::{node_labels, ClusterSnapshot, Node};
use cloudoptim::summary::{ClusterSummary, NodeGroupCost};
use cloudoptim::{Resources, UsdPerHour};

const REGION: &str = "us-east-1";
/// m5.large, us-east-1c, spot.
const SPOT: &str = "ip-10-0-71-9.ec2.internal";

const KI: u64 = 1 << 10;

#[cfg(test)]
mod support {
    use cloudoptim::catalog::{Catalog, InstanceType};
    use cloudoptim::kubectl::read_list;
    use cloudoptim::snapshot::{ClusterSnapshot, Node};
    use cloudoptim::UsdPerHour;

    const FIXTURE: &str = include_str!("fixtures/kubectl-get-all.json");

    pub fn fixture() -> ClusterSnapshot {
        read_list(FIXTURE)
            .expect("the fixture is valid kubectl output")
            .snapshot
    }

    pub fn catalog() -> &'static Catalog {
        Catalog::embedded().expect("the embedded catalog loads")
    }

    pub fn instance_type(name: &str) -> &'static InstanceType {
        catalog()
            .get(name)
            .unwrap_or_else(|| panic!("{name} is in the catalog"))
    }

    pub fn on_demand(name: &str) -> UsdPerHour {
        instance_type(name)
            .on_demand_usd_per_hour(super::REGION)
            .unwrap_or_else(|| panic!("{name} has an on-demand price"))
    }

    pub fn node_mut<'a>(snapshot: &'a mut ClusterSnapshot, name: &str) -> &'a mut Node {
        snapshot
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The first catalog type (in name order) that `pick` accepts.
    pub fn first_type(pick: impl Fn(&InstanceType) -> bool) -> &'static InstanceType {
        catalog()
            .instance_types()
            .find(|it| pick(it))
            .expect("the catalog has such a type")
    }
}

use support::{catalog, first_type, fixture, instance_type, node_mut, on_demand};

fn row_total(rows: &BTreeMap<String, NodeGroupCost>) -> (usize, UsdPerHour) {
    (
        rows.values().map(|c| c.nodes).sum(),
        rows.values().map(|c| c.usd_per_hour).sum(),
    )
}

fn spot_estimate(name: &str, os: OperatingSystem) -> Option<UsdPerHour> {
    instance_type(name).spot_usd_per_hour_estimate(REGION, os)
}

/// Make the fixture's spot node a spot node of another type.
fn retype_spot_node(snapshot: &mut ClusterSnapshot, instance_type: &str) -> Node {
    let node = node_mut(snapshot, SPOT);
    node.labels
        .insert(node_labels::INSTANCE_TYPE.into(), instance_type.into());
    node.labels
        .insert(node_labels::INSTANCE_TYPE_BETA.into(), instance_type.into());
    node.derive_from_labels();
    node.clone()
}

#[test]
fn fixture_summary_counts_nodes_and_prices_the_spot_node_as_an_estimate() {
    let s = fixture();
    let summary = ClusterSummary::new(&s, catalog(), REGION);

    assert_eq!(summary.region, REGION);
    assert_eq!(summary.nodes, 4);
    assert_eq!(summary.cordoned_nodes, 1, "ip-10-0-88-201 is cordoned");
    assert!(
        summary.unpriced_nodes.is_empty(),
        "{:?}",
        summary.unpriced_nodes
    );
    assert_eq!(summary.spot_estimated_nodes, 1);
    assert_eq!(summary.spot_priced_at_on_demand_nodes, 0);

    // The spot m5.large costs the Spot Advisor estimate, below on-demand.
    let spot = spot_estimate("m5.large", OperatingSystem::Linux).expect("m5.large has advice");
    assert!(spot < on_demand("m5.large"));
    let spot_node = s.node(SPOT).expect("spot node");
    assert_eq!(
        node_price(spot_node, catalog(), REGION),
        Some(Price {
            usd_per_hour: spot,
            source: PriceSource::SpotEstimate
        })
    );
    assert_eq!(
        summary.by_capacity_type.get("spot"),
        Some(&NodeGroupCost {
            nodes: 1,
            usd_per_hour: spot
        })
    );
    assert_eq!(summary.by_instance_type["m5.large"].usd_per_hour, spot);

    // The total is the three on-demand list prices plus the spot estimate …
    let expected =
        on_demand("m5.xlarge") + on_demand("m5.2xlarge") + on_demand("c6i.2xlarge") + spot;
    assert_eq!(summary.usd_per_hour, expected);
    // … and the sum of the rows of every breakdown.
    for rows in [
        &summary.by_instance_type,
        &summary.by_zone,
        &summary.by_capacity_type,
    ] {
        assert_eq!(row_total(rows), (4, summary.usd_per_hour), "{rows:?}");
    }
    let types: Vec<(&str, usize)> = summary
        .by_instance_type
        .iter()
        .map(|(t, c)| (t.as_str(), c.nodes))
        .collect();
    assert_eq!(
        types,
        [
            ("c6i.2xlarge", 1),
            ("m5.2xlarge", 1),
            ("m5.large", 1),
            ("m5.xlarge", 1)
        ]
    );
    let zones: Vec<(&str, usize)> = summary
        .by_zone
        .iter()
        .map(|(z, c)| (z.as_str(), c.nodes))
        .collect();
    assert_eq!(
        zones,
        [("us-east-1a", 1), ("us-east-1b", 1), ("us-east-1c", 2)]
    );
    assert_eq!(summary.by_capacity_type["on-demand"].nodes, 3);
}

#[test]
fn fixture_summary_sums_requests_and_allocatable() {
    let s = fixture();
    let summary = ClusterSummary::new(&s, catalog(), REGION);

    // The four nodes' `status.allocatable`, as written in the fixture.
    assert_eq!(
        summary.allocatable,
        Resources {
            cpu_millis: 3920 + 7910 + 1930 + 7910,
            memory_bytes: (14_902_172 + 31_391_588 + 7_220_188 + 14_725_364) * KI,
            pods: 58 + 58 + 29 + 58,
            gpu_millis: 0,
            ephemeral_storage_bytes: 3 * 76_224_326_324 + 18_181_869_977,
        }
    );

    // 19 running pods: the pending pod (no node) and the finished Job pod do not count.
    assert_eq!(summary.requested.pods, 19);
    assert_eq!(summary.requested.cpu_millis, 5050);
    assert_eq!(summary.requested.memory_bytes, 11_471_143_424);
    let by_node = s
        .requested_by_node()
        .into_values()
        .fold(Resources::ZERO, Resources::saturating_add);
    assert_eq!(summary.requested, by_node);

    assert_eq!(summary.unscheduled_pods, 1);
    assert_eq!(summary.pods_by_phase.get("Running"), Some(&19));
    assert_eq!(summary.pods_by_phase.get("Pending"), Some(&1));
    assert_eq!(summary.pods_by_phase.get("Succeeded"), Some(&1));
}

#[test]
fn a_spot_node_without_advice_is_priced_at_on_demand_and_counted() {
    let no_advice = first_type(|it| {
        it.on_demand_usd_per_hour(REGION).is_some()
            && it.spot_advice(REGION, OperatingSystem::Linux).is_none()
    });
    let mut s = fixture();
    let node = retype_spot_node(&mut s, &no_advice.name);
    let price = on_demand(&no_advice.name);
    assert_eq!(
        node_price(&node, catalog(), REGION),
        Some(Price {
            usd_per_hour: price,
            source: PriceSource::SpotAtOnDemand
        }),
        "{}",
        no_advice.name
    );

    let summary = ClusterSummary::new(&s, catalog(), REGION);
    assert_eq!(summary.spot_priced_at_on_demand_nodes, 1);
    assert_eq!(summary.spot_estimated_nodes, 0);
    assert!(summary.unpriced_nodes.is_empty());
    assert_eq!(summary.by_capacity_type["spot"].usd_per_hour, price);
    assert_eq!(
        summary.usd_per_hour,
        on_demand("m5.xlarge") + on_demand("m5.2xlarge") + on_demand("c6i.2xlarge") + price
    );
}

#[test]
fn a_windows_spot_node_uses_the_windows_advice() {
    let mut s = fixture();
    node_mut(&mut s, SPOT)
        .labels
        .insert(node_labels::OS.into(), "windows".into());
    let node = s.node(SPOT).expect("spot node").clone();
    let windows = spot_estimate("m5.large", OperatingSystem::Windows).expect("Windows advice");
    let linux = spot_estimate("m5.large", OperatingSystem::Linux).expect("Linux advice");
    assert_ne!(windows, linux, "the two feeds differ for m5.large");
    assert_eq!(
        node_price(&node, catalog(), REGION),
        Some(Price {
            usd_per_hour: windows,
            source: PriceSource::SpotEstimate
        })
    );
    assert_eq!(
        ClusterSummary::new(&s, catalog(), REGION).by_capacity_type["spot"].usd_per_hour,
        windows
    );

    // A type with Linux advice only: a Windows spot node of it has no estimate.
    let linux_only = first_type(|it| {
        it.on_demand_usd_per_hour(REGION).is_some()
            && it.spot_advice(REGION, OperatingSystem::Linux).is_some()
            && it.spot_advice(REGION, OperatingSystem::Windows).is_none()
    });
    let node = retype_spot_node(&mut s, &linux_only.name);
    assert_eq!(
        node_price(&node, catalog(), REGION),
        Some(Price {
            usd_per_hour: on_demand(&linux_only.name),
            source: PriceSource::SpotAtOnDemand
        }),
        "{}",
        linux_only.name
    );
}

#[test]
fn on_demand_nodes_are_priced_on_demand_whatever_their_os() {
    let mut s = fixture();
    let general = "ip-10-0-17-142.ec2.internal";
    node_mut(&mut s, general)
        .labels
        .insert(node_labels::OS.into(), "windows".into());
    let node = s.node(general).expect("node");
    assert_eq!(
        node_price(node, catalog(), REGION),
        Some(Price {
            usd_per_hour: on_demand("m5.xlarge"),
            source: PriceSource::OnDemand
        })
    );
}
