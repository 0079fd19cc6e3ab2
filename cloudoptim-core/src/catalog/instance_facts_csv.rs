//! The instance facts table: EC2 DescribeInstanceTypes, one row per type.
//!
//! Columns read (others are ignored): `instance_type`, `vcpu`, `memory_mib`,
//! `architectures`, `gpu_count`, `gpu_name`, `gpu_memory_mib`,
//! `current_generation`, `bare_metal`, `burstable`, `max_enis`,
//! `ipv4_per_eni`. The GPU and ENI cells may be empty.

use std::collections::BTreeMap;

use super::csv_table::{for_each_row, Row};
use super::error::CatalogError;
use super::instance_type::{split_name, Architecture};

/// The name errors about this table carry.
pub(super) const SOURCE_NAME: &str = "instance facts CSV";

const BYTES_PER_MIB: u64 = 1 << 20;

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

/// Parses the table into facts by instance type name; a type listed twice
/// is an error.
pub(super) fn parse(text: &str) -> Result<BTreeMap<String, InstanceFacts>, CatalogError> {
    let mut facts = BTreeMap::new();
    for_each_row(
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
            let name = row.text("instance_type")?;
            if split_name(name).is_none() {
                return Err(row.error(
                    Some("instance_type"),
                    format!("{name:?} is not an instance type name like `m5.large`"),
                ));
            }
            let parsed = parse_row(row)?;
            if facts.insert(name.to_owned(), parsed).is_some() {
                return Err(row.error(Some("instance_type"), format!("{name} is listed twice")));
            }
            Ok(())
        },
    )?;
    Ok(facts)
}

fn parse_row(row: &Row<'_>) -> Result<InstanceFacts, CatalogError> {
    let vcpus: u32 = row.parse("vcpu")?;
    if vcpus == 0 {
        return Err(row.error(Some("vcpu"), "zero vCPUs"));
    }
    let memory_bytes = mib_to_bytes(row, "memory_mib", row.parse("memory_mib")?)?;
    if memory_bytes == 0 {
        return Err(row.error(Some("memory_mib"), "zero memory"));
    }
    let architectures = row.text("architectures")?;
    let architecture = Architecture::from_ec2_list(architectures).ok_or_else(|| {
        row.error(
            Some("architectures"),
            format!("{architectures:?} names neither x86_64 nor arm64"),
        )
    })?;
    let gpu_memory_mib = row.optional("gpu_memory_mib")?.unwrap_or(0);
    let max_enis: Option<u32> = row.optional("max_enis")?;
    let ipv4_per_eni: Option<u32> = row.optional("ipv4_per_eni")?;
    Ok(InstanceFacts {
        vcpus,
        memory_bytes,
        architecture,
        gpus: row.optional("gpu_count")?.unwrap_or(0),
        gpu_model: Some(row.text("gpu_name")?)
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        gpu_memory_bytes: mib_to_bytes(row, "gpu_memory_mib", gpu_memory_mib)?,
        current_generation: row.boolean("current_generation")?,
        bare_metal: row.boolean("bare_metal")?,
        burstable: row.boolean("burstable")?,
        eni_shape: max_enis.zip(ipv4_per_eni),
    })
}

fn mib_to_bytes(row: &Row<'_>, column: &str, mib: u64) -> Result<u64, CatalogError> {
    mib.checked_mul(BYTES_PER_MIB)
        .ok_or_else(|| row.error(Some(column), format!("{mib} MiB is too large")))
}
