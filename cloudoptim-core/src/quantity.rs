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
//! Values are kept exact (up to [`MAX_SIGNIFICANT_DIGITS`] significant
//! digits) and converted to integers the way Kubernetes does:
//! rounding **away from zero** (`0.1m` of CPU is `1` millicore, `1.5` bytes
//! is `2`, `-9.01` is `-10`). [`Quantity`]'s `Display` is Kubernetes'
//! canonical form (`1024Mi` prints `1Gi`, `1.5` prints `1500m`).
//! Quantities are parsed once, at the edge; the rest of CloudOptim works in
//! integer `cpu_millis` and `memory_bytes`.
//!
//! # Where CloudOptim differs from apimachinery, on purpose
//!
//! Checked against apimachinery's own test tables (`tests/fixtures/apimachinery-quantity`):
//!
//! - **Exact below a nano.** Kubernetes rounds a value to a whole nano
//!   (away from zero) as it parses it: `0.5n` becomes `1n`. CloudOptim keeps
//!   `0.5n` exactly (it prints `500e-12`); conversions to millis and units
//!   round it the same way, so the integers agree.
//! - **No clamping at 2⁶³.** Kubernetes caps a binary quantity at
//!   `9223372036854775807` (`9Ei` parses as that); CloudOptim keeps `9Ei`,
//!   and converting it to an `i64` is [`QuantityError::OutOfRange`].
//! - **One rounding rule.** apimachinery rounds negative values away from
//!   zero for values it holds as 64-bit integers, but its arbitrary-precision
//!   path (more than 18 digits, below a nano, a fractional binary value) adds
//!   one to the value truncated toward zero, so that `-1n` has a `MilliValue`
//!   of `+1`. CloudOptim rounds away from zero everywhere.
//! - **Digits required.** apimachinery reads a number without digits (`.`,
//!   `-.`, `+`, even a bare `m`) as zero; CloudOptim follows the grammar
//!   above and refuses them. It also refuses an exponent beyond 32 bits
//!   (apimachinery truncates it) and more than 38 significant digits
//!   ([`QuantityError::TooPrecise`]; apimachinery rounds them to a nano).

use std::cmp::Ordering;
use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// Significant decimal digits a quantity's value may have (`1.5Gi` is
/// 1610612736: 10). Kubernetes keeps any number; a bound keeps the exact
/// arithmetic here small.
pub const MAX_SIGNIFICANT_DIGITS: usize = 64;

/// Significant digits a quantity may be written with: more than the value
/// may have, since a binary quantity's canonical spelling can need more
/// digits than its value (`1e24Ki` prints as `953674316406250000Gi`).
const MAX_WRITTEN_DIGITS: usize = 2 * MAX_SIGNIFICANT_DIGITS;

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
    /// More significant digits than CloudOptim keeps exactly (see
    /// [`MAX_SIGNIFICANT_DIGITS`]).
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

/// JSON text as error messages show it: as written (`true`, `{"a":1}`),
/// cut like [`Echo`].
pub(crate) struct EchoJson<'a>(pub(crate) &'a str);

impl fmt::Display for EchoJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(ECHO_CHARS) {
            None => f.write_str(self.0),
            Some((cut, _)) => write!(f, "{}… ({} bytes)", &self.0[..cut], self.0.len()),
        }
    }
}

/// The notation of a quantity, which decides how it prints (apimachinery's
/// `Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantityFormat {
    /// Decimal SI suffixes (`500m`, `2k`, `1G`) or none (`12`).
    DecimalSi,
    /// Binary SI suffixes (`512Mi`, `1Gi`). A binary quantity strictly
    /// between -1 and 1, other than zero, is [`DecimalSi`](Self::DecimalSi),
    /// as in Kubernetes.
    BinarySi,
    /// An `e`/`E` exponent (`1e3`, `5E-3`).
    DecimalExponent,
}

/// The suffix a quantity was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Suffix {
    /// Powers of 1024 (`Ki` = 1, … `Ei` = 6).
    Binary(u8),
    /// A decimal SI suffix (or none), as a power of ten.
    Decimal(i32),
    /// An `e`/`E` exponent.
    Exponent(i32),
}

/// An exactly represented Kubernetes quantity.
///
/// Equality, ordering and hashing are by value: `1Ki == 1024`, `250m ==
/// 0.25` and `1Ki < 1.1k`, whatever suffix each was written with.
#[derive(Clone, Debug)]
pub struct Quantity {
    /// Below zero (never for zero).
    negative: bool,
    /// The absolute value.
    magnitude: Decimal,
    /// How it prints.
    format: QuantityFormat,
}

impl Quantity {
    /// Parse a quantity with the full Kubernetes grammar.
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        let syntax = |reason| QuantityError::Syntax {
            input: input.to_owned(),
            reason,
        };
        let too_precise = || QuantityError::TooPrecise {
            input: input.to_owned(),
        };
        if input.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, unsigned) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input.strip_prefix('+').unwrap_or(input)),
        };
        let int_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, rest) = unsigned.split_at(int_len);
        let (frac_digits, suffix_text) = match rest.strip_prefix('.') {
            Some(after_point) => {
                let frac_len = after_point.bytes().take_while(u8::is_ascii_digit).count();
                after_point.split_at(frac_len)
            }
            None => ("", rest),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(syntax("expected digits"));
        }
        let suffix = parse_suffix(suffix_text).ok_or_else(|| syntax("unknown suffix"))?;

        // Significant digits: drop leading zeros, then trailing zeros (moving
        // them into the exponent).
        let all_digits = int_digits.bytes().chain(frac_digits.bytes());
        let significant: Vec<u8> = all_digits.skip_while(|&d| d == b'0').collect();
        let trailing = significant.iter().rev().take_while(|&&d| d == b'0').count();
        let kept = significant
            .get(..significant.len() - trailing)
            .unwrap_or_default();
        if kept.len() > MAX_WRITTEN_DIGITS {
            return Err(too_precise());
        }
        let mut digits = Big::default();
        for &digit in kept {
            digits.mul_small(10);
            digits.add_small(u32::from(digit - b'0'));
        }
        let (suffix_exp10, binary_power) = match suffix {
            Suffix::Binary(p) => (0, p),
            Suffix::Decimal(e) | Suffix::Exponent(e) => (e, 0),
        };
        digits.mul_pow(2, 10 * u64::from(binary_power));
        let exp = i64::try_from(frac_digits.len())
            .ok()
            .and_then(|frac| i64::from(suffix_exp10).checked_sub(frac))
            .and_then(|e| e.checked_add(i64::try_from(trailing).ok()?))
            .ok_or_else(|| QuantityError::OutOfRange {
                input: input.to_owned(),
            })?;
        let magnitude = Decimal::new(digits, exp);
        if magnitude.digits.decimal_len() > MAX_SIGNIFICANT_DIGITS {
            return Err(too_precise());
        }
        let format = match suffix {
            // As in Kubernetes, a binary quantity strictly between -1 and 1
            // (other than zero) is decimal.
            Suffix::Binary(_) if !magnitude.digits.is_zero() && magnitude < Decimal::one() => {
                QuantityFormat::DecimalSi
            }
            Suffix::Binary(_) => QuantityFormat::BinarySi,
            Suffix::Decimal(_) => QuantityFormat::DecimalSi,
            Suffix::Exponent(_) => QuantityFormat::DecimalExponent,
        };
        Ok(Quantity {
            negative: negative && !magnitude.digits.is_zero(),
            magnitude,
            format,
        })
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.magnitude.digits.is_zero()
    }

    /// The notation the quantity was written in, which decides how it prints.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// `|value| × 10^scale`, rounded away from zero, with the value's sign,
    /// if it fits an `i64`.
    fn scaled(&self, scale: i64) -> Option<i64> {
        let Decimal { digits, exp } = self.magnitude.clone();
        if digits.is_zero() {
            return Some(0);
        }
        let exp = exp.checked_add(scale)?;
        let magnitude = if exp >= 0 {
            // At least 10^19, more than any i64.
            if exp >= 19 {
                return None;
            }
            let mut n = digits;
            n.mul_pow(10, exp.unsigned_abs());
            n.to_u128()?
        } else if exp.unsigned_abs() > u64::try_from(digits.decimal_len()).unwrap_or(u64::MAX) {
            // Below one: rounds to one, away from zero.
            1
        } else {
            let mut n = digits;
            let mut inexact = false;
            for _ in 0..exp.unsigned_abs() {
                inexact |= n.div_rem(TEN) != 0;
            }
            n.to_u128()?.checked_add(u128::from(inexact))?
        };
        let magnitude = i128::try_from(magnitude).ok()?;
        i64::try_from(if self.negative { -magnitude } else { magnitude }).ok()
    }

    /// The value in thousandths, rounded away from zero (`MilliValue` in
    /// apimachinery: `0.1m` → 1, `-0.1m` → -1). An error names the
    /// quantity's canonical spelling; [`parse_millis`] names the input as written.
    pub fn to_millis(&self) -> Result<i64, QuantityError> {
        self.scaled(3).ok_or_else(|| QuantityError::OutOfRange {
            input: self.to_string(),
        })
    }

    /// The value in whole units, rounded away from zero (`Value` in
    /// apimachinery: `1.5` → 2, `-9.01` → -10). An error names the
    /// quantity's canonical spelling; [`parse_units`] names the input as written.
    pub fn to_units(&self) -> Result<i64, QuantityError> {
        self.scaled(0).ok_or_else(|| QuantityError::OutOfRange {
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
        self.cmp(other).is_eq()
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    /// By value, exactly (apimachinery's `Cmp`).
    fn cmp(&self, other: &Quantity) -> Ordering {
        let sign = |q: &Quantity| match (q.is_zero(), q.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal if self.negative => other.magnitude.cmp(&self.magnitude),
            Ordering::Equal => self.magnitude.cmp(&other.magnitude),
            unequal => unequal,
        }
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The decimal form is unique per value, so equal values hash alike.
        (self.negative, &self.magnitude.digits.0, self.magnitude.exp).hash(state);
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

/// Binary SI suffixes by power of 1024.
const BINARY_SI: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// Write `count` zeros, without a format width (widths stop at 65,535).
fn write_zeros(f: &mut fmt::Formatter<'_>, mut count: u64) -> fmt::Result {
    const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    while count > 0 {
        let n = usize::try_from(count)
            .unwrap_or(ZEROS.len())
            .min(ZEROS.len());
        f.write_str(&ZEROS[..n])?;
        count = count.saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
    }
    Ok(())
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form (apimachinery's `String()`), which parses
    /// back to the same value:
    ///
    /// - zero is `0`;
    /// - a binary quantity that is a whole number of at least 1024 (in
    ///   absolute value) takes the largest binary suffix that keeps the
    ///   digits whole (`1024Mi` → `1Gi`, `1.5Gi` → `1536Mi`, `1536` → `1536`);
    ///   any other binary quantity prints as decimal SI (`0.5Ki` → `512`,
    ///   `0.001Ki` → `1024m`);
    /// - a decimal quantity takes the largest power of ten that is a multiple
    ///   of 3 and keeps the digits whole, as an SI suffix (`250m`, `1k`,
    ///   `1500M`, `20E`), or as an exponent (`100e-12`, `1e21`) beyond `n`..`E`;
    /// - a quantity written with an exponent keeps that notation, with a
    ///   multiple of 3 (`1e3`, `250e-3`, and `1500` for `1.5e3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let format = self.format;
        let whole_kibis = self.magnitude.exp >= 0 && self.magnitude >= Decimal::kibi();
        let Decimal { mut digits, exp } = self.magnitude.clone();
        if format == QuantityFormat::BinarySi && whole_kibis {
            // A whole number, digits × 10^exp = digits × 5^exp × 2^exp:
            // divide out the largest power of 1024 it has, up to `Ei`.
            let exp = exp.unsigned_abs();
            let twos = digits.trailing_zero_bits().saturating_add(exp);
            let power = (twos / 10).min(6);
            let shift = 10 * power;
            if exp >= shift {
                // digits × 5^shift × 10^(exp - shift)
                digits.mul_pow(5, shift);
                f.write_str(&digits.to_decimal())?;
                write_zeros(f, exp - shift)?;
            } else {
                // digits / 2^(shift - exp) × 5^exp: digits has those twos.
                for _ in exp..shift {
                    digits.div_rem(TWO);
                }
                digits.mul_pow(5, exp);
                f.write_str(&digits.to_decimal())?;
            }
            let suffix = usize::try_from(power)
                .ok()
                .and_then(|p| BINARY_SI.get(p))
                .ok_or(fmt::Error)?;
            return f.write_str(suffix);
        }
        // digits × 10^exp, with the exponent lowered to a multiple of 3.
        let pad = exp.rem_euclid(3);
        let exp3 = exp.saturating_sub(pad);
        digits.mul_pow(10, pad.unsigned_abs());
        f.write_str(&digits.to_decimal())?;
        let si = DECIMAL_SI.iter().find(|(e, _)| *e == exp3).map(|(_, s)| *s);
        match (format, si) {
            _ if exp3 == 0 => Ok(()),
            (QuantityFormat::DecimalExponent, _) | (_, None) => write!(f, "e{exp3}"),
            (_, Some(suffix)) => f.write_str(suffix),
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
    /// The canonical string (see `Display`), as Kubernetes writes quantities.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// A string, with surrounding whitespace ignored, or a number, as
    /// Kubernetes reads quantities from JSON (`"500m"`, `" 1"`, `1`, `-1`,
    /// `0.5`).
    ///
    /// serde_json (without its `arbitrary_precision` feature, which
    /// CloudOptim does not enable) hands over a number with a fraction or an
    /// exponent, or an integer beyond 64 bits, as the nearest `f64`, not as
    /// written. Such a number is taken when the float says for certain what
    /// was written: when its shortest decimal has at most 15 significant
    /// digits, as every decimal of up to 15 digits does (`0.5`, `1e3`,
    /// `2.25`). Otherwise (`0.30000000000000004`, `18446744073709551616`) it
    /// is an error asking for the quantity as a string. The kubectl reader
    /// ([`crate::kubectl::read_list`]) reads quantities from the JSON text
    /// itself and takes any number exactly as written.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// Reads a quantity from a string or a number.
struct QuantityVisitor;

impl<'de> serde::de::Visitor<'de> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED_QUANTITY)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
        Quantity::parse(v.trim()).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
        Quantity::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
        Quantity::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Quantity, E> {
        Quantity::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Quantity, E> {
        Quantity::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
        let text = float_as_written(v).ok_or_else(|| E::custom(INEXACT_NUMBER))?;
        Quantity::parse(&text).map_err(E::custom)
    }
}

/// What a quantity field expects, in the words of error messages.
pub(crate) const EXPECTED_QUANTITY: &str = "a quantity such as 500m or 1Gi";

/// Why a JSON number read as a float is refused.
pub(crate) const INEXACT_NUMBER: &str =
    "this JSON number has more than 15 significant digits (or is an \
     integer beyond 64 bits), and the JSON parser keeps only the nearest 64-bit float of it: \
     write the quantity as a string";

/// The decimal a JSON number was written as, from the `f64` a JSON parser
/// made of it, when the float tells for certain: its shortest decimal has at
/// most 15 significant digits (every decimal of up to 15 significant digits
/// comes back from its nearest `f64` unchanged). Written without an exponent
/// (`1e3` → `1000`), since the notation is lost anyway.
pub(crate) fn float_as_written(v: f64) -> Option<String> {
    if !(v == 0.0 || v.is_normal()) {
        return None;
    }
    let scientific = format!("{v:e}");
    let mantissa = scientific.split('e').next().unwrap_or_default();
    let significant = mantissa.bytes().filter(u8::is_ascii_digit).count();
    (significant <= 15).then(|| format!("{v}"))
}

/// `|value| = digits × 10^exp`, with `digits` not a multiple of ten (zero is
/// `0 × 10^0`): one spelling per value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Decimal {
    digits: Big,
    exp: i64,
}

impl Decimal {
    /// One.
    fn one() -> Decimal {
        Decimal::new(Big::from_u128(1), 0)
    }

    /// 1024, where binary suffixes start.
    fn kibi() -> Decimal {
        Decimal::new(Big::from_u128(1024), 0)
    }

    /// `digits × 10^exp`, normalized.
    fn new(mut digits: Big, mut exp: i64) -> Decimal {
        if digits.is_zero() {
            return Decimal { digits, exp: 0 };
        }
        loop {
            let mut shorter = digits.clone();
            if shorter.div_rem(TEN) != 0 {
                break;
            }
            digits = shorter;
            exp = exp.saturating_add(1);
        }
        Decimal { digits, exp }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.digits.is_zero(), other.digits.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // A value of `len` digits lies in [10^(len - 1 + exp), 10^(len + exp)).
        let top = |d: &Decimal| {
            i128::from(d.exp) + i128::try_from(d.digits.decimal_len()).unwrap_or(i128::MAX)
        };
        top(self).cmp(&top(other)).then_with(|| {
            // Same decade: the exponents differ by no more than the digit
            // counts do, so aligning them stays small.
            let exp = self.exp.min(other.exp);
            let aligned = |d: &Decimal| {
                let mut digits = d.digits.clone();
                digits.mul_pow(10, d.exp.abs_diff(exp));
                digits
            };
            aligned(self).cmp(&aligned(other))
        })
    }
}

/// Ten, as a divisor.
const TEN: NonZeroU32 = match NonZeroU32::new(10) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
/// Two, as a divisor.
const TWO: NonZeroU32 = match NonZeroU32::new(2) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
/// 10⁹, the largest power of ten in a limb, as a divisor.
const BILLION: NonZeroU32 = match NonZeroU32::new(1_000_000_000) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// An unsigned integer of any size, just enough arithmetic for exact
/// conversions, comparisons and printing: little-endian base-2³² limbs, with
/// no zero limb at the top (zero has no limbs), so equal values are equal
/// vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Big) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Big) -> Ordering {
        // No zero limb at the top: more limbs is larger.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}

/// The low 32 bits of `n`.
fn low_half(n: u64) -> u32 {
    let [a, b, c, d, ..] = n.to_le_bytes();
    u32::from_le_bytes([a, b, c, d])
}

impl Big {
    fn from_u128(n: u128) -> Big {
        let b = n.to_le_bytes();
        let mut limbs: Vec<u32> = b
            .chunks_exact(4)
            .map(|c| {
                c.iter()
                    .rev()
                    .fold(0u32, |acc, &byte| acc << 8 | u32::from(byte))
            })
            .collect();
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// `self × k`.
    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            // At most (2³² - 1)² + 2³² - 1 < 2⁶⁴.
            let product = u64::from(*limb) * u64::from(k) + carry;
            *limb = low_half(product);
            carry = product >> 32;
        }
        if carry != 0 {
            self.0.push(low_half(carry));
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// `self + k`.
    fn add_small(&mut self, k: u32) {
        let mut carry = k;
        for limb in &mut self.0 {
            if carry == 0 {
                return;
            }
            let (sum, overflow) = limb.overflowing_add(carry);
            *limb = sum;
            carry = u32::from(overflow);
        }
        if carry != 0 {
            self.0.push(carry);
        }
    }

    /// `self × base^exp`, for the small exponents of exact conversions.
    fn mul_pow(&mut self, base: u32, exp: u64) {
        if self.is_zero() {
            return;
        }
        for _ in 0..exp {
            self.mul_small(base);
        }
    }

    /// `self / d`, in place; returns the remainder.
    fn div_rem(&mut self, d: NonZeroU32) -> u32 {
        let divisor = u64::from(d.get());
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            // rem < divisor ≤ 2³², so the quotient fits a limb.
            let current = rem << 32 | u64::from(*limb);
            *limb = low_half(current / divisor);
            rem = current % divisor;
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        low_half(rem)
    }

    /// The number of factors of two.
    fn trailing_zero_bits(&self) -> u64 {
        let mut bits = 0;
        for &limb in &self.0 {
            if limb != 0 {
                return bits + u64::from(limb.trailing_zeros());
            }
            bits += 32;
        }
        bits
    }

    fn to_u128(&self) -> Option<u128> {
        if self.0.len() > 4 {
            return None;
        }
        Some(
            self.0
                .iter()
                .rev()
                .fold(0u128, |acc, &limb| acc << 32 | u128::from(limb)),
        )
    }

    /// The number of decimal digits (zero has none).
    fn decimal_len(&self) -> usize {
        if self.is_zero() {
            0
        } else {
            self.to_decimal().len()
        }
    }

    fn to_decimal(&self) -> String {
        let mut rest = self.clone();
        let mut groups = Vec::new();
        while !rest.is_zero() {
            groups.push(rest.div_rem(BILLION));
        }
        let mut out = groups
            .pop()
            .map(|g| g.to_string())
            .unwrap_or_else(|| "0".into());
        for group in groups.iter().rev() {
            // A fixed width of 9: the digits of one group.
            out.push_str(&format!("{group:09}"));
        }
        out
    }
}

/// A non-negative quantity converted by `convert`; errors name `input`, the
/// user's own spelling. A negative value is [`QuantityError::Negative`]
/// however small (`-5n`, `-0.5`), not rounded to zero.
fn non_negative(
    input: &str,
    convert: fn(&Quantity) -> Result<i64, QuantityError>,
) -> Result<u64, QuantityError> {
    let quantity = Quantity::parse(input)?;
    if quantity.is_negative() {
        return Err(QuantityError::Negative {
            input: input.to_owned(),
        });
    }
    convert(&quantity)
        .ok()
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| QuantityError::OutOfRange {
            input: input.to_owned(),
        })
}

/// A non-negative quantity in thousandths, rounded up: CPU (`"250m"` → 250,
/// `"1.5"` → 1500) or GPUs (`"1"` → 1000). Errors name `input` as given; a
/// negative quantity is [`QuantityError::Negative`].
pub fn parse_millis(input: &str) -> Result<u64, QuantityError> {
    non_negative(input, Quantity::to_millis)
}

/// A non-negative quantity in whole units, rounded up: bytes of memory or
/// storage (`"1.5Gi"` → 1610612736), or a count (`"110"` pods). Errors name
/// `input` as given; a negative quantity is [`QuantityError::Negative`].
pub fn parse_units(input: &str) -> Result<u64, QuantityError> {
    non_negative(input, Quantity::to_units)
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
            ("-0.1m", -1),
            ("-1m", -1),
            ("-9.01", -9010),
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
            Quantity::parse("12345678901234567890123456789012345678901234567890123456789012345"),
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
        // Binary: the largest binary suffix that keeps a whole number of at
        // least 1024 whole; anything else as decimal SI.
        for (input, shown) in [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("307200Ki", "300Mi"),
            ("1023Ki", "1023Ki"),
            ("1536", "1536"),
            ("2048Ki", "2Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("0.001Ki", "1024m"),
            ("0.1Ki", "102400m"),
            ("0Ki", "0"),
            ("-0Gi", "0"),
            ("-1024Mi", "-1Gi"),
            ("-0.5Ki", "-512"),
            ("8Ei", "8Ei"),
            ("16Ei", "16Ei"),
            ("1048576Ei", "1048576Ei"),
            ("1000Ki", "1000Ki"),
            ("10000Ki", "10000Ki"),
            ("1.00000Ki", "1Ki"),
        ] {
            assert_eq!(display(input), shown, "{input}");
        }
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
    fn negative_values_round_away_from_zero() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        for (input, millis, units) in [
            ("-9.01", -9010, -10),
            ("-9", -9000, -9),
            ("-0.5", -500, -1),
            ("-5n", -1, -1),
            ("-1932e-2", -19320, -20),
            ("-1900e-2", -19000, -19),
            ("-0.025Ti", -27_487_790_694_400, -27_487_790_695),
            ("9.01", 9010, 10),
            ("5n", 1, 1),
        ] {
            assert_eq!(q(input).to_millis(), Ok(millis), "{input}");
            assert_eq!(q(input).to_units(), Ok(units), "{input}");
        }
    }

    #[test]
    fn small_negatives_are_negative_not_zero() {
        for input in ["-0.5", "-500m", "-5n", "-1e-30", "-0.001Ki", "-1"] {
            let negative = Err(QuantityError::Negative {
                input: input.to_owned(),
            });
            assert_eq!(parse_millis(input), negative, "{input}");
            assert_eq!(parse_units(input), negative, "{input}");
        }
        assert_eq!(parse_units("-0"), Ok(0));
        assert_eq!(parse_millis("-0.000m"), Ok(0));
    }

    #[test]
    fn the_whole_i64_range_converts() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("-9223372036854775808").to_units(), Ok(i64::MIN));
        assert_eq!(q("-9223372036854775808m").to_millis(), Ok(i64::MIN));
        assert_eq!(q("-8Ei").to_units(), Ok(i64::MIN));
        assert_eq!(q("9223372036854775807").to_units(), Ok(i64::MAX));
        assert_eq!(q("9223372036854775807m").to_millis(), Ok(i64::MAX));
        for out in [
            "9223372036854775808",
            "-9223372036854775809",
            "8Ei",
            "-9223372036854775808.5",
        ] {
            assert!(
                matches!(q(out).to_units(), Err(QuantityError::OutOfRange { .. })),
                "{out}"
            );
        }
        assert_eq!(parse_units("9223372036854775807"), Ok(i64::MAX as u64));
        // Exact however the digits are spread (38 significant digits and `Ei`).
        assert_eq!(
            q("0.000000000012345678901234567890123456789012345678Ei").to_units(),
            Ok(14_233_599)
        );
    }

    #[test]
    fn ordering_is_by_value() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        let ascending = [
            "-1e30", "-8Ei", "-1Gi", "-1G", "-1", "-999m", "-1n", "-1e-30", "0", "1e-300", "0.5n",
            "1n", "1m", "0.999", "1", "1000", "1Ki", "1.025k", "1G", "1Gi", "10000T", "1e30",
            "1e300",
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(q(a).cmp(&q(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(q("1Ki").cmp(&q("1024")), Ordering::Equal);
        assert_eq!(q("-0").cmp(&q("0Gi")), Ordering::Equal);
        assert!(q("10000T") > q("100Gi"));
    }

    #[test]
    fn format_is_the_notation_written() {
        let format = |s: &str| Quantity::parse(s).unwrap().format();
        assert_eq!(format("1Gi"), QuantityFormat::BinarySi);
        assert_eq!(format("0Ki"), QuantityFormat::BinarySi);
        assert_eq!(format(".001Ki"), QuantityFormat::BinarySi);
        assert_eq!(format(".0001Ki"), QuantityFormat::DecimalSi);
        assert_eq!(format("-0.0005Ki"), QuantityFormat::DecimalSi);
        assert_eq!(format("1"), QuantityFormat::DecimalSi);
        assert_eq!(format("5E"), QuantityFormat::DecimalSi);
        assert_eq!(format("5E3"), QuantityFormat::DecimalExponent);
    }

    #[test]
    fn json_strings_and_numbers_are_quantities() {
        let read = |json: &str| serde_json::from_str::<Quantity>(json);
        let q = |s: &str| Quantity::parse(s).unwrap();
        for (json, value) in [
            ("\"500m\"", "500m"),
            ("\" 1\"", "1"),
            ("\"1 \"", "1"),
            ("1", "1"),
            ("-1", "-1"),
            ("0.5", "500m"),
            ("1e3", "1k"),
            ("2.25", "2250m"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("1e300", "1e300"),
        ] {
            assert_eq!(read(json).unwrap(), q(value), "{json}");
        }
        assert_eq!(serde_json::to_string(&q("1024Mi")).unwrap(), "\"1Gi\"");
        // Read as the nearest f64, not as written: refused, not approximated.
        for json in [
            "18446744073709551616",
            "0.30000000000000004",
            "1.2345678901234567e30",
        ] {
            let message = read(json).unwrap_err().to_string();
            assert!(message.contains("as a string"), "{json}: {message}");
        }
        for json in ["true", "null", "[]", "{}", "\"1x\""] {
            assert!(read(json).is_err(), "{json}");
        }
        let message = read("true").unwrap_err().to_string();
        assert!(
            message.contains("a quantity such as 500m or 1Gi"),
            "{message}"
        );
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
        fn ordering_agrees_with_equality_and_conversions(
            a_sign in "[-+]?", a in "[0-9]{0,8}(\\.[0-9]{0,8})?", a_suffix in suffix(),
            b_sign in "[-+]?", b in "[0-9]{0,8}(\\.[0-9]{0,8})?", b_suffix in suffix(),
        ) {
            let (a, b) = (format!("{a_sign}{a}{a_suffix}"), format!("{b_sign}{b}{b_suffix}"));
            if let (Ok(a), Ok(b)) = (Quantity::parse(&a), Quantity::parse(&b)) {
                prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
                prop_assert_eq!(a.cmp(&b).is_eq(), a == b);
                if let (Ok(x), Ok(y)) = (a.to_millis(), b.to_millis()) {
                    if a <= b { prop_assert!(x <= y, "{} {} {} {}", a, b, x, y); }
                }
                let text = (a.to_string(), b.to_string());
                prop_assert_eq!(a.cmp(&b), Quantity::parse(&text.0).unwrap().cmp(&Quantity::parse(&text.1).unwrap()));
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
