//! Money: one representation for every price and saving in CloudOptim.
//!
//! Prices are held as whole **micro-dollars per hour** in an `i64`, so sums
//! are exact, ordering is total and the same inputs always add up to the same
//! figure. A month is [`HOURS_PER_MONTH`] hours, the figure AWS uses in its
//! pricing pages.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Hours in the billing month AWS quotes (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

const MICROS_PER_USD: f64 = 1_000_000.0;

/// A rate in US dollars per hour, exact to the micro-dollar.
///
/// Negative values are allowed: a saving is a negative cost delta.
/// Arithmetic saturates at the `i64` range (about ±9.2 trillion $/h), far
/// beyond any real bill, so it never panics.
///
/// Serialized as a plain JSON number of dollars (`0.192`), which reads back
/// to the same value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsdPerHour {
    micro_usd: i64,
}

/// A dollar figure that is not a finite number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a finite dollar amount: {0}")]
pub struct NotFinite(pub f64);

impl UsdPerHour {
    /// Zero dollars per hour.
    pub const ZERO: UsdPerHour = UsdPerHour { micro_usd: 0 };

    /// From whole micro-dollars per hour.
    pub const fn from_micro_usd(micro_usd: i64) -> Self {
        UsdPerHour { micro_usd }
    }

    /// From dollars per hour, rounded to the nearest micro-dollar.
    pub fn from_usd(usd_per_hour: f64) -> Result<Self, NotFinite> {
        if !usd_per_hour.is_finite() {
            return Err(NotFinite(usd_per_hour));
        }
        // `as` saturates at the i64 range for out-of-range floats.
        Ok(UsdPerHour {
            micro_usd: (usd_per_hour * MICROS_PER_USD).round() as i64,
        })
    }

    /// Whole micro-dollars per hour.
    pub const fn micro_usd(self) -> i64 {
        self.micro_usd
    }

    /// Dollars per hour.
    pub fn usd(self) -> f64 {
        self.micro_usd as f64 / MICROS_PER_USD
    }

    /// Dollars per [`HOURS_PER_MONTH`]-hour month.
    pub fn usd_per_month(self) -> f64 {
        self.usd() * HOURS_PER_MONTH
    }

    /// This rate times a count (of nodes, replicas, …), saturating.
    pub fn times(self, count: u64) -> Self {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        UsdPerHour {
            micro_usd: self.micro_usd.saturating_mul(count),
        }
    }

    /// This rate scaled by `percent`/100, rounded to the micro-dollar
    /// (for example the spot price at a given discount).
    pub fn percent(self, percent: f64) -> Self {
        let scaled = (self.micro_usd as f64 * percent / 100.0).round();
        UsdPerHour {
            micro_usd: if scaled.is_finite() { scaled as i64 } else { 0 },
        }
    }

    /// The larger of zero and this value.
    pub fn max_zero(self) -> Self {
        UsdPerHour {
            micro_usd: self.micro_usd.max(0),
        }
    }
}

impl Add for UsdPerHour {
    type Output = UsdPerHour;
    fn add(self, rhs: Self) -> Self {
        UsdPerHour {
            micro_usd: self.micro_usd.saturating_add(rhs.micro_usd),
        }
    }
}

impl AddAssign for UsdPerHour {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl Sub for UsdPerHour {
    type Output = UsdPerHour;
    fn sub(self, rhs: Self) -> Self {
        UsdPerHour {
            micro_usd: self.micro_usd.saturating_sub(rhs.micro_usd),
        }
    }
}

impl SubAssign for UsdPerHour {
    fn sub_assign(&mut self, rhs: Self) {
        *self = *self - rhs;
    }
}

impl Neg for UsdPerHour {
    type Output = UsdPerHour;
    fn neg(self) -> Self {
        UsdPerHour {
            micro_usd: self.micro_usd.saturating_neg(),
        }
    }
}

impl Sum for UsdPerHour {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(UsdPerHour::ZERO, Add::add)
    }
}

impl fmt::Display for UsdPerHour {
    /// `$1.2345/h`, four decimals (sub-cent rates matter for small
    /// instances); negative as `-$0.0100/h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/h", dollars(self.usd(), 4))
    }
}

/// A dollar amount as people write it: sign first, thousands grouped,
/// `decimals` places: `dollars(-1234.5, 0)` is `-$1,235`, `dollars(0.012, 2)`
/// is `$0.01`, and an amount that rounds to zero has no sign. Every report
/// formats money with this (or [`UsdPerHour`]'s `Display`).
///
/// ```
/// use cloudoptim_core::money::dollars;
/// assert_eq!(dollars(33_361.4, 0), "$33,361");
/// assert_eq!(dollars(-0.0099, 2), "-$0.01");
/// assert_eq!(dollars(-0.001, 2), "$0.00");
/// assert_eq!(dollars(f64::NAN, 2), "$?");
/// ```
pub fn dollars(amount: f64, decimals: usize) -> String {
    if !amount.is_finite() {
        return "$?".into();
    }
    let decimals = decimals.min(12);
    let digits = format!("{:.*}", decimals, amount.abs());
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits.as_str(), None),
    };
    let zero = digits.bytes().all(|b| b == b'0' || b == b'.');
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 2);
    if amount < 0.0 && !zero {
        out.push('-');
    }
    out.push('$');
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

impl Serialize for UsdPerHour {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.usd())
    }
}

impl<'de> Deserialize<'de> for UsdPerHour {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let usd = f64::deserialize(deserializer)?;
        UsdPerHour::from_usd(usd).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_micro_dollars_and_back() {
        let p = UsdPerHour::from_usd(0.0052).unwrap();
        assert_eq!(p.micro_usd(), 5200);
        assert_eq!(p.to_string(), "$0.0052/h");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "0.0052");
        assert_eq!(serde_json::from_str::<UsdPerHour>(&json).unwrap(), p);
    }

    #[test]
    fn rejects_non_finite_and_saturates() {
        assert!(UsdPerHour::from_usd(f64::NAN).is_err());
        assert!(UsdPerHour::from_usd(f64::INFINITY).is_err());
        let max = UsdPerHour::from_micro_usd(i64::MAX);
        assert_eq!(max + max, max);
        assert_eq!(max.times(u64::MAX), max);
        assert_eq!(
            UsdPerHour::from_usd(0.192)
                .unwrap()
                .percent(30.0)
                .micro_usd(),
            57_600
        );
    }
}
