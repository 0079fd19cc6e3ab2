//! The ENI limits table: the EKS pod limit of each instance type.
//!
//! Columns read (others are ignored): `instance_type`, `eks_max_pods`.

use std::collections::BTreeMap;

use super::csv_table::for_each_row;
use super::error::CatalogError;
use super::instance_type::split_name;
use super::skipped::SkippedEntry;

/// The name errors about this table carry.
pub(super) const SOURCE_NAME: &str = "ENI limits CSV";

/// Parses the table into EKS max pods by instance type name, with the rows
/// skipped as odd: a bad name, a pod count that is zero or not a whole
/// number, or a type listed again (the first row counts).
pub(super) fn parse(
    text: &str,
) -> Result<(BTreeMap<String, u32>, Vec<SkippedEntry>), CatalogError> {
    let mut max_pods = BTreeMap::new();
    let skipped = for_each_row(
        SOURCE_NAME,
        text,
        &["instance_type", "eks_max_pods"],
        |row| {
            let name = row.text("instance_type");
            if split_name(name).is_none() {
                return Err(row.odd("instance_type", "an instance type name like `m5.large`"));
            }
            let expected = "a number of pods, a whole number from 1 up";
            let pods: u32 = row.parse("eks_max_pods", expected)?;
            if pods == 0 {
                return Err(row.odd("eks_max_pods", expected));
            }
            if max_pods.contains_key(name) {
                return Err(row.odd("instance_type", "each instance type once (listed above)"));
            }
            max_pods.insert(name.to_owned(), pods);
            Ok(())
        },
    )?;
    Ok((max_pods, skipped))
}
