//! What an EBS volume costs per month, from the bundled us-east-1 price
//! table (`data/ebs-prices-us-east-1.csv`, see `data/ATTRIBUTION.md` for
//! its source and date).
//!
//! Amounts are integer micro-dollars, so a figure is exact: a gp3 volume
//! of 1,000 GB with 6,000 IOPS and 250 MB/s costs $80 + $15 + $5 = $100.00.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::inventory::Volume;

const TABLE_CSV: &str = include_str!("../../data/ebs-prices-us-east-1.csv");

/// A priced dimension of a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dimension {
    Gb,
    Iops,
    Mibps,
    SnapshotGb,
}

struct Row<'a> {
    region: &'a str,
    volume_type: &'a str,
    dimension: Dimension,
    from_units: u64,
    micro_usd_per_unit_month: u64,
}

/// Tiers (start, micro-dollars per unit-month), sorted by start, of each
/// region, volume type and dimension; read once per process.
type Table = BTreeMap<&'static str, BTreeMap<&'static str, BTreeMap<Dimension, Vec<(u64, u64)>>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Table::new();
        for r in read_rows() {
            table
                .entry(r.region)
                .or_default()
                .entry(r.volume_type)
                .or_default()
                .entry(r.dimension)
                .or_default()
                .push((r.from_units, r.micro_usd_per_unit_month));
        }
        for tiers in table
            .values_mut()
            .flat_map(|t| t.values_mut())
            .flat_map(|d| d.values_mut())
        {
            tiers.sort_unstable();
        }
        table
    })
}

fn read_rows() -> Vec<Row<'static>> {
    TABLE_CSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let mut f = line.split(',');
            let region = f.next()?;
            let volume_type = f.next()?;
            let dimension = match f.next()? {
                "gb" => Dimension::Gb,
                "iops" => Dimension::Iops,
                "mibps" => Dimension::Mibps,
                "snapshot_gb" => Dimension::SnapshotGb,
                _ => return None,
            };
            Some(Row {
                region,
                volume_type,
                dimension,
                from_units: f.next()?.trim().parse().ok()?,
                micro_usd_per_unit_month: f.next()?.trim().parse().ok()?,
            })
        })
        .collect()
}

/// Units above each tier's start, each at its tier's price: tiers sorted
/// by start, a tier ends where the next begins.
fn tiered(units: u64, tiers: &[(u64, u64)]) -> Option<u64> {
    let mut total = 0u64;
    for (i, &(from, price)) in tiers.iter().enumerate() {
        let to = tiers.get(i + 1).map_or(u64::MAX, |t| t.0);
        let n = units.min(to).saturating_sub(from);
        total = total.checked_add(n.checked_mul(price)?)?;
    }
    Some(total)
}

fn dimension_tiers(region: &str, volume_type: &str, dimension: Dimension) -> &'static [(u64, u64)] {
    table()
        .get(region)
        .and_then(|types| types.get(volume_type))
        .and_then(|dimensions| dimensions.get(&dimension))
        .map_or(&[], Vec::as_slice)
}

/// The monthly price of `volume` in `region`, micro-dollars: size, plus
/// provisioned IOPS and throughput where its type bills them. `None` when
/// the table has no price for its type in that region ("cannot tell"),
/// or when its type bills IOPS (io1, io2) and the inventory does not say
/// how many. gp3 volumes with no IOPS/throughput reported are priced at
/// the included baseline (3,000 IOPS, 125 MB/s). Magnetic (`standard`)
/// volumes' per-I/O charge is not counted.
///
/// ```
/// use cloudoptim_core::inventory::{Volume, VolumeState};
/// use cloudoptim_core::waste::ebs_prices::volume_micro_usd_per_month;
///
/// let v = Volume {
///     volume_id: "vol-1".into(), size_gib: 1_000, volume_type: "gp3".into(),
///     zone: "us-east-1a".into(), state: VolumeState::Available,
///     attached_instance_ids: vec![], created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
///     iops: Some(6_000), throughput_mib_per_second: Some(250), tags: Default::default(),
/// };
/// assert_eq!(volume_micro_usd_per_month(&v, "us-east-1"), Some(100_000_000));
/// assert_eq!(volume_micro_usd_per_month(&v, "eu-west-1"), None);
/// ```
pub fn volume_micro_usd_per_month(volume: &Volume, region: &str) -> Option<u64> {
    let t = volume.volume_type.as_str();
    let gb = dimension_tiers(region, t, Dimension::Gb);
    if gb.is_empty() {
        return None;
    }
    let mut total = tiered(u64::from(volume.size_gib), gb)?;
    let iops = dimension_tiers(region, t, Dimension::Iops);
    if !iops.is_empty() {
        let base = iops.iter().map(|t| t.0).min().unwrap_or(0);
        let n = match volume.iops {
            Some(n) => u64::from(n),
            None if base > 0 => base,
            None => return None,
        };
        total = total.checked_add(tiered(n, iops)?)?;
    }
    let mibps = dimension_tiers(region, t, Dimension::Mibps);
    if !mibps.is_empty() {
        let n = volume.throughput_mib_per_second.map(u64::from).unwrap_or(0);
        total = total.checked_add(tiered(n, mibps)?)?;
    }
    Some(total)
}

/// What a full snapshot of `size_gib` costs per month in `region`,
/// micro-dollars (an upper bound: snapshots store used blocks only).
pub fn snapshot_micro_usd_per_month(size_gib: u32, region: &str) -> Option<u64> {
    let tiers = dimension_tiers(region, "snapshot", Dimension::SnapshotGb);
    if tiers.is_empty() {
        return None;
    }
    tiered(u64::from(size_gib), tiers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::VolumeState;

    fn vol(t: &str, gib: u32, iops: Option<u32>, mibps: Option<u32>) -> Volume {
        Volume {
            volume_id: "vol-1".into(),
            size_gib: gib,
            volume_type: t.into(),
            zone: "us-east-1a".into(),
            state: VolumeState::Available,
            attached_instance_ids: vec![],
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            iops,
            throughput_mib_per_second: mibps,
            tags: Default::default(),
        }
    }

    #[test]
    fn gp3_with_extra_iops_and_throughput_is_exactly_100_dollars() {
        let v = vol("gp3", 1_000, Some(6_000), Some(250));
        assert_eq!(
            volume_micro_usd_per_month(&v, "us-east-1"),
            Some(100_000_000)
        );
        // At the baseline only the size is billed.
        let v = vol("gp3", 1_000, Some(3_000), Some(125));
        assert_eq!(
            volume_micro_usd_per_month(&v, "us-east-1"),
            Some(80_000_000)
        );
        let v = vol("gp3", 1_000, None, None);
        assert_eq!(
            volume_micro_usd_per_month(&v, "us-east-1"),
            Some(80_000_000)
        );
    }

    #[test]
    fn io2_iops_are_tiered() {
        // 100 GB: $12.50; 70,000 IOPS: 32,000 × 0.065 + 32,000 × 0.0455 + 6,000 × 0.032.
        let v = vol("io2", 100, Some(70_000), None);
        let expected = 12_500_000 + 32_000 * 65_000 + 32_000 * 45_500 + 6_000 * 32_000;
        assert_eq!(volume_micro_usd_per_month(&v, "us-east-1"), Some(expected));
        // io1 is flat.
        let v = vol("io1", 100, Some(70_000), None);
        assert_eq!(
            volume_micro_usd_per_month(&v, "us-east-1"),
            Some(12_500_000 + 70_000 * 65_000)
        );
        // IOPS unknown on a type that bills them: cannot tell.
        assert_eq!(
            volume_micro_usd_per_month(&vol("io2", 100, None, None), "us-east-1"),
            None
        );
    }

    #[test]
    fn other_types_and_unknowns() {
        for (t, micro) in [
            ("gp2", 100_000),
            ("st1", 45_000),
            ("sc1", 15_000),
            ("standard", 50_000),
        ] {
            assert_eq!(
                volume_micro_usd_per_month(&vol(t, 500, None, None), "us-east-1"),
                Some(500 * micro),
                "{t}"
            );
        }
        assert_eq!(
            volume_micro_usd_per_month(&vol("gp9", 500, None, None), "us-east-1"),
            None
        );
        assert_eq!(
            volume_micro_usd_per_month(&vol("gp3", 500, None, None), "eu-west-1"),
            None
        );
        assert_eq!(
            snapshot_micro_usd_per_month(100, "us-east-1"),
            Some(5_000_000)
        );
        assert_eq!(snapshot_micro_usd_per_month(100, "eu-west-1"), None);
    }
}
