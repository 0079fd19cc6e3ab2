//! The instance facts table: EC2 DescribeInstanceTypes, one row per type.
//!
//! Columns read (others are ignored): `instance_type`, `vcpu`, `memory_mib`,
//! `architectures`, `gpu_count`, `gpu_name`, `gpu_memory_mib`,
//! `current_generation`, `bare_metal`, `burstable`, `max_enis`,
//! `ipv4_per_eni`. The GPU and ENI cells may be empty.

use std::collections::BTreeMap;

use super::csv_table::{for_each_row, OddCell, Row};
use super::error::CatalogError;
use super::instance_type::{
    split_name, Architecture, MAX_MEMORY_BYTES, MAX_VCPUS, MIN_MEMORY_BYTES,
};
use super::skipped::SkippedEntry;

/// The name errors about this table carry.
pub(super) const SOURCE_NAME: &str = "instance facts CSV";

const BYTES_PER_MIB: u64 = 1 << 20;
const EXPECTED_COUNT: &str = "a whole number, 0 or more";

/// What DescribeInstanceTypes says about one type.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct InstanceFacts {
    pub(super) vcpus: u32,
    pub(super) memory_bytes: u64,
    pub(super) architecture: Architecture,
    pub(super) gpus: u32,
    pub(super) gpu_model: Option<String>,
    pub(super) gpu_memory_bytes: u64,
    pub(super) current_generation: bool,
    pub(super) bare_metal: bool,
    pub(super) burstable: bool,
    /// `(max_enis, ipv4_per_eni)` when both are given.
    pub(super) eni_shape: Option<(u32, u32)>,
}

/// Parses the table into facts by instance type name, with the rows
/// skipped as odd: a bad name, zero or absurd vCPUs or memory, no known
/// architecture, a cell that is not what its column holds, or a type
/// listed again (the first row counts).
pub(super) fn parse(
    text: &str,
) -> Result<(BTreeMap<String, InstanceFacts>, Vec<SkippedEntry>), CatalogError> {
    let mut facts = BTreeMap::new();
    let skipped = for_each_row(
        SOURCE_NAME,
        text,
        &[
            "instance_type",
            "vcpu",
            "memory_mib",
            "architectures",
            "gpu_count",
            "gpu_name",
            "gpu_memory_mib",
            "current_generation",
            "bare_metal",
            "burstable",
            "max_enis",
            "ipv4_per_eni",
        ],
        |row| {
            let name = row.text("instance_type");
            if split_name(name).is_none() {
                return Err(row.odd("instance_type", "an instance type name like `m5.large`"));
            }
            let parsed = parse_row(row)?;
            if facts.contains_key(name) {
                return Err(row.odd("instance_type", "each instance type once (listed above)"));
            }
            facts.insert(name.to_owned(), parsed);
            Ok(())
        },
    )?;
    Ok((facts, skipped))
}

fn parse_row(row: &Row<'_>) -> Result<InstanceFacts, OddCell> {
    let expected_vcpus = format!("a number of vCPUs, a whole number from 1 to {MAX_VCPUS}");
    let vcpus: u32 = row.parse("vcpu", &expected_vcpus)?;
    if !(1..=MAX_VCPUS).contains(&vcpus) {
        return Err(row.odd("vcpu", expected_vcpus));
    }
    let (min_mib, max_mib) = (
        MIN_MEMORY_BYTES / BYTES_PER_MIB,
        MAX_MEMORY_BYTES / BYTES_PER_MIB,
    );
    let expected_memory =
        format!("a memory size in MiB, a whole number from {min_mib} to {max_mib}");
    let memory_mib: u64 = row.parse("memory_mib", &expected_memory)?;
    if !(min_mib..=max_mib).contains(&memory_mib) {
        return Err(row.odd("memory_mib", expected_memory));
    }
    let architecture = Architecture::from_ec2_list(row.text("architectures")).ok_or_else(|| {
        row.odd(
            "architectures",
            "a list of architectures naming x86_64 or arm64 (`|`- or `;`-separated)",
        )
    })?;
    let expected_gpu_memory =
        format!("a GPU memory size in MiB, a whole number from 0 to {max_mib}");
    let gpu_memory_mib: u64 = row
        .optional("gpu_memory_mib", &expected_gpu_memory)?
        .unwrap_or(0);
    if gpu_memory_mib > max_mib {
        return Err(row.odd("gpu_memory_mib", expected_gpu_memory));
    }
    let max_enis: Option<u32> = row.optional("max_enis", EXPECTED_COUNT)?;
    let ipv4_per_eni: Option<u32> = row.optional("ipv4_per_eni", EXPECTED_COUNT)?;
    Ok(InstanceFacts {
        vcpus,
        // Both at most 2^30 MiB, so neither product overflows.
        memory_bytes: memory_mib.saturating_mul(BYTES_PER_MIB),
        architecture,
        gpus: row.optional("gpu_count", EXPECTED_COUNT)?.unwrap_or(0),
        gpu_model: Some(row.text("gpu_name"))
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        gpu_memory_bytes: gpu_memory_mib.saturating_mul(BYTES_PER_MIB),
        current_generation: row.boolean("current_generation")?,
        bare_metal: row.boolean("bare_metal")?,
        burstable: row.boolean("burstable")?,
        eni_shape: max_enis.zip(ipv4_per_eni),
    })
}
