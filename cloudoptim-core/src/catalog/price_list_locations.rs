//! The region codes of the Price List's `location` names.
//!
//! Product documents name their region by `location` (`US East (N.
//! Virginia)`); newer documents (those of 2022 on) also carry `regionCode`
//! (`us-east-1`), older ones (of 2021 and before, and recordings of them)
//! do not. This table
//! reads those older documents. It holds the names of AWS Regions as the
//! Price List spells them, both the `EU (…)` names of older documents and
//! the `Europe (…)` names of newer ones. Local Zones, Wavelength Zones and
//! Outposts are not regions and are not listed: a product located there
//! without `regionCode` is reported, not guessed.

/// `(location, region code)`, as the Price List names AWS Regions.
const LOCATIONS: [(&str, &str); 43] = [
    ("US East (N. Virginia)", "us-east-1"),
    ("US East (Ohio)", "us-east-2"),
    ("US West (N. California)", "us-west-1"),
    ("US West (Oregon)", "us-west-2"),
    ("AWS GovCloud (US-East)", "us-gov-east-1"),
    ("AWS GovCloud (US-West)", "us-gov-west-1"),
    ("Africa (Cape Town)", "af-south-1"),
    ("Asia Pacific (Hong Kong)", "ap-east-1"),
    ("Asia Pacific (Taipei)", "ap-east-2"),
    ("Asia Pacific (Tokyo)", "ap-northeast-1"),
    ("Asia Pacific (Seoul)", "ap-northeast-2"),
    ("Asia Pacific (Osaka)", "ap-northeast-3"),
    ("Asia Pacific (Osaka-Local)", "ap-northeast-3"),
    ("Asia Pacific (Mumbai)", "ap-south-1"),
    ("Asia Pacific (Hyderabad)", "ap-south-2"),
    ("Asia Pacific (Singapore)", "ap-southeast-1"),
    ("Asia Pacific (Sydney)", "ap-southeast-2"),
    ("Asia Pacific (Jakarta)", "ap-southeast-3"),
    ("Asia Pacific (Melbourne)", "ap-southeast-4"),
    ("Asia Pacific (Malaysia)", "ap-southeast-5"),
    ("Asia Pacific (Thailand)", "ap-southeast-7"),
    ("Canada (Central)", "ca-central-1"),
    ("Canada West (Calgary)", "ca-west-1"),
    ("EU (Frankfurt)", "eu-central-1"),
    ("Europe (Frankfurt)", "eu-central-1"),
    ("EU (Zurich)", "eu-central-2"),
    ("Europe (Zurich)", "eu-central-2"),
    ("EU (Stockholm)", "eu-north-1"),
    ("Europe (Stockholm)", "eu-north-1"),
    ("EU (Milan)", "eu-south-1"),
    ("Europe (Milan)", "eu-south-1"),
    ("EU (Spain)", "eu-south-2"),
    ("Europe (Spain)", "eu-south-2"),
    ("EU (Ireland)", "eu-west-1"),
    ("Europe (Ireland)", "eu-west-1"),
    ("EU (London)", "eu-west-2"),
    ("Europe (London)", "eu-west-2"),
    ("EU (Paris)", "eu-west-3"),
    ("Europe (Paris)", "eu-west-3"),
    ("Israel (Tel Aviv)", "il-central-1"),
    ("Middle East (UAE)", "me-central-1"),
    ("Middle East (Bahrain)", "me-south-1"),
    ("South America (Sao Paulo)", "sa-east-1"),
];

/// The region code of the Price List location `name` (`US East (N.
/// Virginia)` → `us-east-1`), if it names an AWS Region.
pub(super) fn region_of_location(name: &str) -> Option<&'static str> {
    LOCATIONS
        .iter()
        .find(|(location, _)| *location == name)
        .map(|(_, region)| *region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_regions_old_and_new_spellings_alike() {
        assert_eq!(
            region_of_location("US East (N. Virginia)"),
            Some("us-east-1")
        );
        assert_eq!(region_of_location("EU (Ireland)"), Some("eu-west-1"));
        assert_eq!(region_of_location("Europe (Ireland)"), Some("eu-west-1"));
        assert_eq!(region_of_location("US East (Boston)"), None, "a Local Zone");
        assert_eq!(region_of_location("us-east-1"), None);
    }

    #[test]
    fn each_name_once_and_every_code_well_formed() {
        let mut names: Vec<&str> = LOCATIONS.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LOCATIONS.len());
        for (_, region) in LOCATIONS {
            assert_eq!(
                crate::snapshot::region_of_zone(&format!("{region}a")),
                Some(region),
                "{region}"
            );
        }
    }
}
