//! Entries of a catalog source that were left out because their value made
//! no sense, reported to the caller instead of failing the whole source.

use std::fmt;

use crate::excerpt::excerpt;

/// An entry of a catalog source that was skipped: a Spot Advisor advice or
/// instance type, or a CSV row, whose value is out of range or not what the
/// source's format says it holds.
///
/// The rest of the source is used. The loaders return these (see
/// [`Catalog::with_spot_advisor_feed`] and [`CatalogBuilder::build`]) so
/// that callers can log them; a source of the wrong *shape* is an error
/// instead ([`CatalogError`]).
///
/// Displays on one line, e.g. `Spot Advisor feed, at
/// spot_advisor.ca-central-1.Linux.p5.48xlarge.s: -62, expected a savings
/// percentage, a whole number from 0 to 100`.
///
/// [`Catalog::with_spot_advisor_feed`]: super::Catalog::with_spot_advisor_feed
/// [`CatalogBuilder::build`]: super::CatalogBuilder::build
/// [`CatalogError`]: super::CatalogError
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedEntry {
    /// Which source, e.g. `Spot Advisor feed` or `on-demand prices CSV`.
    pub source_name: &'static str,
    /// Where the offending value is.
    pub location: EntryLocation,
    /// The value as written: JSON text for the feed (strings keep their
    /// quotes), the cell's text for a CSV table. Whitespace runs are shown
    /// as one space, and a huge value is cut as by
    /// [`excerpt`](crate::excerpt::excerpt) (its first 64 bytes, then
    /// `… (N bytes)`).
    pub value: String,
    /// What the source's format expects there, in words (e.g. `a savings
    /// percentage, a whole number from 0 to 100`).
    pub expected: String,
}

/// Where a [`SkippedEntry`] is in its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryLocation {
    /// A value in a JSON source: the Spot Advisor feed, or a product of a
    /// Price List GetProducts answer.
    Feed {
        /// The dot-separated JSON path, e.g.
        /// `spot_advisor.us-east-1.Linux.m5.large.s` or
        /// `pages[0].PriceList[3].terms.OnDemand`.
        path: String,
    },
    /// A cell of a CSV table; the whole row is skipped.
    Csv {
        /// The 1-based line number in the table (the header is line 1).
        line: u64,
        /// The column of the offending cell.
        column: String,
    },
}

impl SkippedEntry {
    /// An entry of `source_name` at `location`, with `value` (as written,
    /// shortened here if it is long) and what was `expected`.
    pub(super) fn new(
        source_name: &'static str,
        location: EntryLocation,
        value: &str,
        expected: impl Into<String>,
    ) -> Self {
        SkippedEntry {
            source_name,
            location,
            value: excerpt(&one_line(value)),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for SkippedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            EntryLocation::Feed { path } => write!(
                f,
                "{}, at {path}: {}, expected {}",
                self.source_name, self.value, self.expected
            ),
            EntryLocation::Csv { line, column } => write!(
                f,
                "{}, line {line}, column `{column}`: {:?}, expected {}",
                self.source_name, self.value, self.expected
            ),
        }
    }
}

impl fmt::Display for EntryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryLocation::Feed { path } => f.write_str(path),
            EntryLocation::Csv { line, column } => write!(f, "line {line}, column `{column}`"),
        }
    }
}

/// `text` on one line: trimmed, each whitespace run (a pretty-printed
/// feed's newlines and indentation) shown as one space.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str) -> String {
        let location = EntryLocation::Feed {
            path: "spot_advisor".to_owned(),
        };
        SkippedEntry::new("Spot Advisor feed", location, text, "x").value
    }

    #[test]
    fn short_values_are_kept_as_written() {
        assert_eq!(value_of("-62"), "-62");
        assert_eq!(value_of("\"3\""), "\"3\"");
        assert_eq!(value_of("{\"s\": 1,\n   \"r\": 2}"), "{\"s\": 1, \"r\": 2}");
        assert_eq!(value_of(""), "");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let cut = value_of(&"é".repeat(100));
        assert!(cut.starts_with(&"é".repeat(32)), "{cut}");
        assert!(cut.ends_with("… (200 bytes)"), "{cut}");
        assert_eq!(value_of(&"x".repeat(64)), "x".repeat(64));
    }
}
