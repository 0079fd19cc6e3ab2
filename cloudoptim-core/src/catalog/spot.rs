//! Spot advice: the savings and interruption frequency AWS's Spot Instance
//! Advisor reports for one instance type, region and operating system.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The operating system a Spot Advisor figure is for.
///
/// Serialized as in the feed: `"Linux"`, `"Windows"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OperatingSystem {
    /// Linux (what EKS nodes run, apart from Windows node groups).
    Linux,
    /// Windows.
    Windows,
}

impl OperatingSystem {
    /// Both operating systems, in a fixed order.
    pub const ALL: [OperatingSystem; 2] = [OperatingSystem::Linux, OperatingSystem::Windows];

    /// The name the Spot Advisor feed uses (`Linux`, `Windows`).
    pub fn feed_name(self) -> &'static str {
        match self {
            OperatingSystem::Linux => "Linux",
            OperatingSystem::Windows => "Windows",
        }
    }

    /// The value of the `kubernetes.io/os` node label (`linux`, `windows`).
    pub fn kubernetes_name(self) -> &'static str {
        match self {
            OperatingSystem::Linux => "linux",
            OperatingSystem::Windows => "windows",
        }
    }
}

impl fmt::Display for OperatingSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feed_name())
    }
}

/// How often AWS reclaimed Spot capacity of a type over the last month, in
/// the five ranges of the Spot Advisor feed's `ranges` list.
///
/// Serialized as the feed's label (`"<5%"`, `"5-10%"`, …). Ordered from the
/// least to the most interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InterruptionBucket {
    /// Fewer than 5 % of instances interrupted (feed index 0, `<5%`).
    #[serde(rename = "<5%")]
    Under5Percent,
    /// 5 to 10 % (feed index 1, `5-10%`).
    #[serde(rename = "5-10%")]
    From5To10Percent,
    /// 10 to 15 % (feed index 2, `10-15%`).
    #[serde(rename = "10-15%")]
    From10To15Percent,
    /// 15 to 20 % (feed index 3, `15-20%`).
    #[serde(rename = "15-20%")]
    From15To20Percent,
    /// More than 20 % (feed index 4, `>20%`).
    #[serde(rename = ">20%")]
    Over20Percent,
}

impl InterruptionBucket {
    /// Every bucket, in feed-index order.
    pub const ALL: [InterruptionBucket; 5] = [
        InterruptionBucket::Under5Percent,
        InterruptionBucket::From5To10Percent,
        InterruptionBucket::From10To15Percent,
        InterruptionBucket::From15To20Percent,
        InterruptionBucket::Over20Percent,
    ];

    /// The bucket with this index in the feed's `ranges` (0 to 4).
    pub fn from_index(index: u64) -> Option<InterruptionBucket> {
        usize::try_from(index)
            .ok()
            .and_then(|i| InterruptionBucket::ALL.get(i).copied())
    }

    /// The index of this bucket in the feed's `ranges` (0 to 4), also the
    /// number of "dots" the Spot Advisor page shows.
    pub fn index(self) -> u8 {
        match self {
            InterruptionBucket::Under5Percent => 0,
            InterruptionBucket::From5To10Percent => 1,
            InterruptionBucket::From10To15Percent => 2,
            InterruptionBucket::From15To20Percent => 3,
            InterruptionBucket::Over20Percent => 4,
        }
    }

    /// The feed's label for this bucket (`<5%`, `5-10%`, `10-15%`,
    /// `15-20%`, `>20%`).
    pub fn label(self) -> &'static str {
        match self {
            InterruptionBucket::Under5Percent => "<5%",
            InterruptionBucket::From5To10Percent => "5-10%",
            InterruptionBucket::From10To15Percent => "10-15%",
            InterruptionBucket::From15To20Percent => "15-20%",
            InterruptionBucket::Over20Percent => ">20%",
        }
    }

    /// A representative monthly interruption frequency for this bucket, in
    /// percent: the feed's own `max` value for the range (5, 11, 16, 22,
    /// 100).
    ///
    /// It is an upper bound, so using it as "the" interruption rate errs on
    /// the side of caution. The feed's bounds overlap the labels by one
    /// point (`5-10%` has `max` 11) and are reproduced as published.
    pub fn upper_bound_percent(self) -> u8 {
        match self {
            InterruptionBucket::Under5Percent => 5,
            InterruptionBucket::From5To10Percent => 11,
            InterruptionBucket::From10To15Percent => 16,
            InterruptionBucket::From15To20Percent => 22,
            InterruptionBucket::Over20Percent => 100,
        }
    }
}

impl fmt::Display for InterruptionBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What the Spot Advisor says about one instance type in one region for one
/// operating system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpotAdvice {
    /// Average saving of the Spot price over the on-demand price in the
    /// last 30 days, in whole percent (0 to 100; the feed's `s`).
    pub savings_percent: u8,
    /// How often Spot capacity was reclaimed (the feed's `r`).
    pub interruption: InterruptionBucket,
}
