//! Kubernetes resource quantities (`500m`, `1.5Gi`, `1e3`, `2k`), parsed with
//! the full grammar of `k8s.io/apimachinery/pkg/api/resource`:
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | +<number> | -<number>
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= "e" <signedInteger> | "E" <signedInteger>
//! ```
//!
//! Values are kept exact (a decimal mantissa with power-of-ten and
//! power-of-two scales) and converted to integers the way Kubernetes does:
//! rounding **up** (`0.1m` of CPU is `1` millicore, `1.5` bytes is `2`).
//! Quantities are parsed once, at the edge; the rest of CloudOptim works in
//! integer `cpu_millis` and `memory_bytes`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Significant decimal digits a quantity may carry (the `u128` mantissa).
const MAX_SIGNIFICANT_DIGITS: usize = 38;

/// Why a string is not a valid Kubernetes quantity, or does not fit its use.
///
/// Each variant keeps the offending input whole; the message shows at most
/// its first [`ECHO_CHARS`] characters and its length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The empty string.
    #[error("empty quantity")]
    Empty,
    /// The string does not follow the quantity grammar.
    #[error("invalid quantity {}: {reason}", Echo(.input))]
    Syntax {
        /// The offending input.
        input: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// More significant digits than CloudOptim keeps exactly.
    #[error("quantity {} has more than {MAX_SIGNIFICANT_DIGITS} significant digits", Echo(.input))]
    TooPrecise {
        /// The offending input.
        input: String,
    },
    /// The value does not fit the integer unit it is converted to.
    #[error("quantity {} is out of range", Echo(.input))]
    OutOfRange {
        /// The offending input.
        input: String,
    },
    /// A negative value where only non-negative ones make sense (requests, capacity).
    #[error("quantity {} is negative", Echo(.input))]
    Negative {
        /// The offending input.
        input: String,
    },
}

/// How many characters of a value error messages repeat before cutting it short.
pub const ECHO_CHARS: usize = 64;

/// A value as error messages show it: quoted, and cut after [`ECHO_CHARS`]
/// characters with its length in bytes (`"123456…" … (70002 bytes)`), so a
/// huge value does not make a huge message.
pub(crate) struct Echo<'a>(pub(crate) &'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(ECHO_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}… ({} bytes)", &self.0[..cut], self.0.len()),
        }
    }
}

/// The notation a quantity was written with, kept so it prints back in the
/// same one (the binary suffix itself, or decimal SI vs exponent notation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Suffix {
    /// Powers of 1024 (`Ki` = 1, … `Ei` = 6), or none.
    Binary(u8),
    /// A decimal SI suffix or exponent, as a power of ten.
    Decimal(i32),
    /// An `e`/`E` exponent.
    Exponent(i32),
}

/// An exactly represented Kubernetes quantity.
///
/// `value = ±mantissa × 10^exp10 × 1024^binary_power`.
///
/// Equality and hashing are by value: `1Ki == 1024` and `250m == 0.25`,
/// whatever suffix each was written with.
#[derive(Clone, Debug)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    suffix: Suffix,
}

impl Quantity {
    /// Parse a quantity with the full Kubernetes grammar.
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        let syntax = |reason| QuantityError::Syntax {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bytes = input.as_bytes();
        let mut pos = 0;
        let mut negative = false;
        match bytes.first() {
            Some(b'+') => pos = 1,
            Some(b'-') => {
                negative = true;
                pos = 1;
            }
            _ => {}
        }
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_digits = &input[int_start..pos];
        let mut frac_digits = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_digits = &input[frac_start..pos];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(syntax("expected digits"));
        }
        let suffix = parse_suffix(&input[pos..]).ok_or_else(|| syntax("unknown suffix"))?;

        // Significant digits: drop leading zeros, then trailing zeros (moving
        // them into the exponent), so the mantissa is as small as possible.
        let frac_len = i32::try_from(frac_digits.len()).map_err(|_| QuantityError::TooPrecise {
            input: input.to_owned(),
        })?;
        let all_digits = int_digits.bytes().chain(frac_digits.bytes());
        let significant: Vec<u8> = all_digits.skip_while(|&d| d == b'0').collect();
        let trailing_zeros = significant.iter().rev().take_while(|&&d| d == b'0').count();
        let kept = &significant[..significant.len() - trailing_zeros];
        if kept.len() > MAX_SIGNIFICANT_DIGITS {
            return Err(QuantityError::TooPrecise {
                input: input.to_owned(),
            });
        }
        let mantissa = kept
            .iter()
            .fold(0u128, |acc, &d| acc * 10 + u128::from(d - b'0'));
        let suffix_exp10 = match suffix {
            Suffix::Binary(_) => 0,
            Suffix::Decimal(e) | Suffix::Exponent(e) => e,
        };
        let trailing = i32::try_from(trailing_zeros).unwrap_or(i32::MAX);
        let exp10 = if mantissa == 0 {
            0
        } else {
            suffix_exp10
                .checked_sub(frac_len)
                .and_then(|e| e.checked_add(trailing))
                .ok_or_else(|| QuantityError::OutOfRange {
                    input: input.to_owned(),
                })?
        };
        Ok(Quantity {
            negative: negative && mantissa != 0,
            mantissa,
            exp10,
            suffix,
        })
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value as `±odd × 2^twos × 5^fives`, with `odd` coprime to 10: one
    /// spelling per value, so two quantities are equal exactly when their keys are.
    fn value_key(&self) -> (bool, u128, i64, i64) {
        if self.mantissa == 0 {
            return (false, 0, 0, 0);
        }
        let mut odd = self.mantissa;
        let (mut twos, mut fives) = (0i64, 0i64);
        while odd.is_multiple_of(2) {
            odd /= 2;
            twos += 1;
        }
        while odd.is_multiple_of(5) {
            odd /= 5;
            fives += 1;
        }
        let binary_power = match self.suffix {
            Suffix::Binary(p) => i64::from(p),
            _ => 0,
        };
        let exp10 = i64::from(self.exp10);
        (
            self.negative,
            odd,
            twos + exp10 + 10 * binary_power,
            fives + exp10,
        )
    }

    /// `ceil(value × scale)` as an `i64`, the way apimachinery rounds.
    fn scaled_ceil(&self, scale: u128) -> Option<i64> {
        let binary_power = match self.suffix {
            Suffix::Binary(p) => u32::from(p),
            _ => 0,
        };
        let mut n = self
            .mantissa
            .checked_mul(1u128.checked_shl(10 * binary_power)?)?
            .checked_mul(scale)?;
        if self.exp10 >= 0 {
            n = n.checked_mul(10u128.checked_pow(self.exp10.unsigned_abs())?)?;
        } else {
            let divisor = 10u128.checked_pow(self.exp10.unsigned_abs());
            n = match divisor {
                Some(d) => {
                    let (q, r) = (n / d, n % d);
                    if r != 0 && !self.negative {
                        q + 1
                    } else {
                        q
                    }
                }
                // Smaller than any representable unit: ceil gives 1 (or 0 below zero).
                None => u128::from(n != 0 && !self.negative),
            };
        }
        let magnitude = i64::try_from(n).ok()?;
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The value in thousandths, rounded up (`MilliValue` in apimachinery).
    /// An error names the quantity's canonical spelling; [`parse_millis`]
    /// names the input as written.
    pub fn to_millis(&self) -> Result<i64, QuantityError> {
        self.scaled_ceil(1000)
            .ok_or_else(|| QuantityError::OutOfRange {
                input: self.to_string(),
            })
    }

    /// The value in whole units, rounded up (`Value` in apimachinery).
    /// An error names the quantity's canonical spelling; [`parse_units`]
    /// names the input as written.
    pub fn to_units(&self) -> Result<i64, QuantityError> {
        self.scaled_ceil(1)
            .ok_or_else(|| QuantityError::OutOfRange {
                input: self.to_string(),
            })
    }
}

fn parse_suffix(s: &str) -> Option<Suffix> {
    Some(match s {
        "" => Suffix::Decimal(0),
        "n" => Suffix::Decimal(-9),
        "u" => Suffix::Decimal(-6),
        "m" => Suffix::Decimal(-3),
        "k" => Suffix::Decimal(3),
        "M" => Suffix::Decimal(6),
        "G" => Suffix::Decimal(9),
        "T" => Suffix::Decimal(12),
        "P" => Suffix::Decimal(15),
        "E" => Suffix::Decimal(18),
        "Ki" => Suffix::Binary(1),
        "Mi" => Suffix::Binary(2),
        "Gi" => Suffix::Binary(3),
        "Ti" => Suffix::Binary(4),
        "Pi" => Suffix::Binary(5),
        "Ei" => Suffix::Binary(6),
        _ => {
            let rest = s.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Suffix::Exponent(rest.parse().ok()?)
        }
    })
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.value_key() == other.value_key()
    }
}

impl Eq for Quantity {}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value_key().hash(state);
    }
}

/// Decimal SI suffixes by power of ten, `n` (10⁻⁹) to `E` (10¹⁸).
const DECIMAL_SI: [(i64, &str); 10] = [
    (-9, "n"),
    (-6, "u"),
    (-3, "m"),
    (0, ""),
    (3, "k"),
    (6, "M"),
    (9, "G"),
    (12, "T"),
    (15, "P"),
    (18, "E"),
];

impl fmt::Display for Quantity {
    /// A canonical spelling, as Kubernetes prints quantities, that parses
    /// back to the same quantity:
    ///
    /// - binary quantities keep the suffix they were written with (`1.5Gi`);
    /// - decimal quantities take the largest power of ten that is a multiple
    ///   of 3 and keeps the digits whole, as an SI suffix (`250m`, `1k`,
    ///   `1500M`, `20E`), or as an exponent (`100e-12`, `1e21`) beyond `n`..`E`;
    /// - quantities written with an exponent keep that notation, with a
    ///   multiple of 3 (`1e3`, `250e-3`, and `1500` for `1.5e3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let binary = match self.suffix {
            Suffix::Binary(p) => ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                .get(usize::from(p))
                .copied(),
            _ => None,
        };
        match binary {
            Some(suffix) if self.exp10 >= 0 => {
                write!(f, "{}", self.mantissa)?;
                for _ in 0..self.exp10 {
                    f.write_str("0")?;
                }
                f.write_str(suffix)
            }
            Some(suffix) => {
                // No format width here: widths are `u16`, and a quantity may
                // have more fractional digits than that.
                let digits = self.mantissa.to_string();
                let point = usize::try_from(self.exp10.unsigned_abs()).map_err(|_| fmt::Error)?;
                match digits.len().checked_sub(point) {
                    Some(whole) if whole > 0 => {
                        let (i, frac) = digits.split_at(whole);
                        write!(f, "{i}.{frac}{suffix}")
                    }
                    _ => {
                        f.write_str("0.")?;
                        for _ in digits.len()..point {
                            f.write_str("0")?;
                        }
                        write!(f, "{digits}{suffix}")
                    }
                }
            }
            None => {
                // value = mantissa × 10^exp10 = (mantissa × 10^pad) × 10^exp3.
                let exp10 = i64::from(self.exp10);
                let exp3 = exp10.div_euclid(3) * 3;
                write!(f, "{}", self.mantissa)?;
                for _ in 0..exp10 - exp3 {
                    f.write_str("0")?;
                }
                let si = DECIMAL_SI.iter().find(|(e, _)| *e == exp3).map(|(_, s)| s);
                match (self.suffix, si) {
                    _ if self.mantissa == 0 || exp3 == 0 => Ok(()),
                    (Suffix::Decimal(_), Some(suffix)) => f.write_str(suffix),
                    _ => write!(f, "e{exp3}"),
                }
            }
        }
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Quantity::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A converted value as a `u64`; errors name `input`, the user's own spelling.
fn non_negative(input: &str, value: Result<i64, QuantityError>) -> Result<u64, QuantityError> {
    let input = || input.to_owned();
    let value = value.map_err(|e| match e {
        QuantityError::OutOfRange { .. } => QuantityError::OutOfRange { input: input() },
        other => other,
    })?;
    u64::try_from(value).map_err(|_| QuantityError::Negative { input: input() })
}

/// A non-negative quantity in thousandths, rounded up: CPU (`"250m"` → 250,
/// `"1.5"` → 1500) or GPUs (`"1"` → 1000). Errors name `input` as given.
pub fn parse_millis(input: &str) -> Result<u64, QuantityError> {
    non_negative(input, Quantity::parse(input)?.to_millis())
}

/// A non-negative quantity in whole units, rounded up: bytes of memory or
/// storage (`"1.5Gi"` → 1610612736), or a count (`"110"` pods). Errors name
/// `input` as given.
pub fn parse_units(input: &str) -> Result<u64, QuantityError> {
    non_negative(input, Quantity::parse(input)?.to_units())
}

/// Millicores as Kubernetes writes them: `"2"` for whole cores, else `"250m"`.
pub fn format_millis(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes with the largest binary suffix that divides them exactly
/// (`"512Mi"`, `"16Gi"`), or the plain number of bytes.
pub fn format_bytes(bytes: u64) -> String {
    const SUFFIXES: [(&str, u32); 6] = [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ];
    if bytes != 0 {
        for (suffix, shift) in SUFFIXES {
            if bytes.trailing_zeros() >= shift {
                return format!("{}{suffix}", bytes >> shift);
            }
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_kubernetes_spellings() {
        let cases: &[(&str, i64)] = &[
            ("100m", 100),
            ("0.1", 100),
            (".5", 500),
            ("1.", 1000),
            ("+2", 2000),
            ("2k", 2_000_000),
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("1e-3", 1),
            ("0.1m", 1),
            ("1n", 1),
            ("1u", 1),
            ("-1", -1000),
            ("-0.1m", 0),
            ("0", 0),
            ("000.000", 0),
        ];
        for &(s, millis) in cases {
            assert_eq!(
                Quantity::parse(s).unwrap().to_millis().unwrap(),
                millis,
                "{s}"
            );
        }
        let units: &[(&str, i64)] = &[
            ("512Mi", 512 << 20),
            ("1.5Gi", 3 << 29),
            ("1Ki", 1024),
            ("2M", 2_000_000),
            ("1E", 1_000_000_000_000_000_000),
            ("7Ei", 7 << 60),
            ("128974848", 128_974_848),
            ("1.5", 2),
            ("129e6", 129_000_000),
            ("15896988Ki", 15_896_988 * 1024),
        ];
        for &(s, value) in units {
            assert_eq!(
                Quantity::parse(s).unwrap().to_units().unwrap(),
                value,
                "{s}"
            );
        }
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        for s in [
            "",
            " ",
            "m",
            "1 m",
            "1mi",
            "1KI",
            "1e",
            "1e+",
            "1.2.3",
            "--1",
            "1K",
            "0x10",
            "1Gi ",
            ".",
            "+",
            "1e1.5",
            "1ee3",
            "١",
            "1e99999999999",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s:?} should not parse");
        }
        assert!(matches!(
            Quantity::parse("8Ei").unwrap().to_units(),
            Err(QuantityError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_units("-1Gi"),
            Err(QuantityError::Negative { .. })
        ));
        assert!(matches!(
            Quantity::parse("1234567890123456789012345678901234567890"),
            Err(QuantityError::TooPrecise { .. })
        ));
        // Zeros are not significant digits.
        assert_eq!(
            parse_units("0.00000000000000000000000000000000000000000001").unwrap(),
            1
        );
        assert_eq!(
            parse_units("100000000000000000000000000000000000000000000e-40").unwrap(),
            10_000
        );
    }

    #[test]
    fn formats_like_kubernetes() {
        assert_eq!(format_millis(250), "250m");
        assert_eq!(format_millis(2000), "2");
        assert_eq!(format_bytes(512 << 20), "512Mi");
        assert_eq!(format_bytes(16 << 30), "16Gi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
        let display = |s: &str| Quantity::parse(s).unwrap().to_string();
        assert_eq!(display("1.5Gi"), "1.5Gi");
        assert_eq!(display("0.001Ki"), "0.001Ki");
        // Decimal SI: the largest SI suffix whose power of ten keeps the digits whole.
        for (input, shown) in [
            ("250m", "250m"),
            ("0.25", "250m"),
            ("0.1", "100m"),
            ("1000", "1k"),
            ("1k", "1k"),
            ("1500", "1500"),
            ("2M", "2M"),
            ("1.5G", "1500M"),
            ("0.5k", "500"),
            ("3T", "3T"),
            ("7P", "7P"),
            ("2E", "2E"),
            ("20E", "20E"),
            ("100n", "100n"),
            ("1.5u", "1500n"),
            ("-250m", "-250m"),
            ("0", "0"),
            ("0.000k", "0"),
            // Beyond `n` and `E`: the exponent form, with a multiple of 3.
            ("0.1n", "100e-12"),
            ("1000E", "1e21"),
        ] {
            assert_eq!(display(input), shown, "{input}");
        }
        // Exponent notation stays exponent notation, as in Kubernetes.
        for (input, shown) in [
            ("1e3", "1e3"),
            ("25e-2", "250e-3"),
            ("1.5e3", "1500"),
            ("1E6", "1e6"),
            ("12e-10", "1200e-12"),
        ] {
            assert_eq!(display(input), shown, "{input}");
        }
    }

    #[test]
    fn conversion_errors_name_the_original_input() {
        for input in ["10000000000000000k", "9.3e18", "+8Ei", "0008Ei"] {
            let out_of_range = Err(QuantityError::OutOfRange {
                input: input.to_owned(),
            });
            assert_eq!(parse_units(input), out_of_range, "{input}");
            assert_eq!(parse_millis(input), out_of_range, "{input}");
        }
    }

    #[test]
    fn equality_and_hash_are_by_value() {
        use std::collections::HashSet;
        let q = |s: &str| Quantity::parse(s).unwrap();
        for same in [
            &["1Ki", "1024", "1.024k", "1024e0", "0.0009765625Mi"][..],
            &["250m", "0.25", "25e-2", "250000u"],
            &["1k", "1e3", "1000", "0.001M"],
            &["0", "-0", "0Gi", "0e7"],
            &["-1.5Gi", "-1536Mi"],
        ] {
            let set: HashSet<Quantity> = same.iter().map(|s| q(s)).collect();
            assert_eq!(set.len(), 1, "{same:?}");
            for s in same {
                assert_eq!(q(s), q(same[0]), "{s} = {}", same[0]);
            }
        }
        assert_ne!(q("1Ki"), q("1k"));
        assert_ne!(q("1"), q("-1"));
        assert_ne!(q("250m"), q("251m"));
        assert_ne!(q("1Mi"), q("1Ki"));
    }

    /// Issue 11: a format width panics past 65,535, and error messages
    /// repeated the whole value.
    #[test]
    fn huge_quantities_neither_panic_nor_make_huge_messages() {
        let zeros = "0".repeat(70_000);
        let mut cut_short = 0;
        for input in [
            format!("0.{zeros}1Ki"),
            format!("-0.{zeros}1Ki"),
            format!("0.{zeros}1"),
            format!("0.{zeros}12345678901234567890123456789012345678Ei"),
            format!("1.{zeros}1Gi"),
            format!("1{zeros}"),
            format!("1{zeros}Ei"),
            format!("x{zeros}"),
        ] {
            let outcome = Quantity::parse(&input).map(|q| {
                let shown = q.to_string();
                assert_eq!(Quantity::parse(&shown).as_ref(), Ok(&q), "round trip");
                (q.to_millis(), q.to_units())
            });
            let errors = match outcome {
                Ok((millis, units)) => vec![millis.err(), units.err()],
                Err(e) => vec![Some(e)],
            };
            let errors = errors.into_iter().flatten().chain(
                [parse_millis(&input), parse_units(&input)]
                    .into_iter()
                    .filter_map(Result::err),
            );
            for e in errors {
                let message = e.to_string();
                assert!(message.len() < 200, "{} bytes: {message}", message.len());
                cut_short += usize::from(message.contains("… (70"));
            }
        }
        assert!(cut_short > 0, "no message cut a huge value short");
    }

    fn suffix() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"
            ])
            .prop_map(str::to_owned),
            (-30i32..30).prop_map(|e| format!("e{e}")),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(s in ".{0,40}") {
            if let Ok(q) = Quantity::parse(&s) {
                let _ = q.to_millis();
                let _ = q.to_units();
                let _ = q.to_string();
            }
        }

        #[test]
        fn never_panics_on_quantity_like_strings(s in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?([numkMGTPE]|[KMGTPE]i|[eE][-+]?[0-9]{1,12})?") {
            if let Ok(q) = Quantity::parse(&s) {
                let _ = (q.to_millis(), q.to_units(), q.to_string());
            }
        }

        #[test]
        fn display_round_trips(sign in "[-+]?", int in "[0-9]{0,12}", frac in "(\\.[0-9]{0,12})?", suffix in suffix()) {
            let s = format!("{sign}{int}{frac}{suffix}");
            if let Ok(q) = Quantity::parse(&s) {
                let again = Quantity::parse(&q.to_string()).unwrap();
                prop_assert_eq!(&again, &q);
                prop_assert_eq!(again.to_millis(), q.to_millis());
                prop_assert_eq!(again.to_units(), q.to_units());
                prop_assert_eq!(again.to_string(), q.to_string());
            }
        }

        #[test]
        fn millis_and_bytes_round_trip(millis in any::<u64>().prop_map(|v| v >> 2), bytes in any::<u64>().prop_map(|v| v >> 2), shift in 0u32..40) {
            prop_assert_eq!(parse_millis(&format_millis(millis)).unwrap(), millis);
            prop_assert_eq!(parse_units(&format_bytes(bytes)).unwrap(), bytes);
            let aligned = (bytes >> shift) << shift;
            prop_assert_eq!(parse_units(&format_bytes(aligned)).unwrap(), aligned);
        }

        #[test]
        fn milli_suffix_is_exact(n in 0u64..=1_000_000_000_000u64) {
            prop_assert_eq!(parse_millis(&format!("{n}m")).unwrap(), n);
            prop_assert_eq!(parse_units(&format!("{n}Ki")).unwrap(), n * 1024);
        }
    }
}
