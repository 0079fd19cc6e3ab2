//! The ENI limits table: the EKS pod limit of each instance type.
//!
//! Columns read (others are ignored): `instance_type`, `eks_max_pods`.

use std::collections::BTreeMap;

use super::csv_table::for_each_row;
use super::error::CatalogError;
use super::instance_type::split_name;

/// The name errors about this table carry.
pub(super) const SOURCE_NAME: &str = "ENI limits CSV";

/// Parses the table into EKS max pods by instance type name; a type listed
/// twice is an error.
pub(super) fn parse(text: &str) -> Result<BTreeMap<String, u32>, CatalogError> {
    let mut max_pods = BTreeMap::new();
    for_each_row(
        SOURCE_NAME,
        text,
        &["instance_type", "eks_max_pods"],
        |row| {
            let name = row.text("instance_type")?;
            if split_name(name).is_none() {
                return Err(row.error(
                    Some("instance_type"),
                    format!("{name:?} is not an instance type name like `m5.large`"),
                ));
            }
            let pods: u32 = row.parse("eks_max_pods")?;
            if pods == 0 {
                return Err(row.error(Some("eks_max_pods"), "zero pods"));
            }
            if max_pods.insert(name.to_owned(), pods).is_some() {
                return Err(row.error(Some("instance_type"), format!("{name} is listed twice")));
            }
            Ok(())
        },
    )?;
    Ok(max_pods)
}
