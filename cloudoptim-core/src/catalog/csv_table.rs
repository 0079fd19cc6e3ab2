//! Reading a CSV table by column name, row by row: a table of the wrong
//! shape is an error pointing at its line, a row with an odd value is
//! skipped and reported with its line and column.

use std::str::FromStr;

use csv::StringRecord;

use super::error::CatalogError;
use super::skipped::{EntryLocation, SkippedEntry};

/// One data row of a table, with the positions of the columns asked for.
pub(super) struct Row<'a> {
    record: &'a StringRecord,
    columns: &'a [(&'static str, usize)],
}

/// Why a row is skipped: the cell of `column` does not hold what was
/// `expected`.
#[derive(Debug)]
pub(super) struct OddCell {
    column: &'static str,
    value: String,
    expected: String,
}

impl Row<'_> {
    /// The trimmed text of `column`, one of the columns the table was read
    /// with (any other reads as empty).
    pub(super) fn text(&self, column: &str) -> &str {
        self.columns
            .iter()
            .find(|(name, _)| *name == column)
            .and_then(|(_, index)| self.record.get(*index))
            .map_or("", str::trim)
    }

    /// Skips this row: `column` does not hold what was `expected`.
    pub(super) fn odd(&self, column: &'static str, expected: impl Into<String>) -> OddCell {
        OddCell {
            column,
            value: self.text(column).to_owned(),
            expected: expected.into(),
        }
    }

    /// The value of `column`, which must be present and parse as `T`
    /// (described to the user as `expected`).
    pub(super) fn parse<T: FromStr>(
        &self,
        column: &'static str,
        expected: &str,
    ) -> Result<T, OddCell> {
        self.optional(column, expected)?
            .ok_or_else(|| self.odd(column, expected))
    }

    /// The value of `column` parsed as `T`, or `None` if the cell is empty.
    pub(super) fn optional<T: FromStr>(
        &self,
        column: &'static str,
        expected: &str,
    ) -> Result<Option<T>, OddCell> {
        let text = self.text(column);
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| self.odd(column, expected))
    }

    /// The value of a `true`/`false` column (case-insensitive).
    pub(super) fn boolean(&self, column: &'static str) -> Result<bool, OddCell> {
        let text = self.text(column);
        if text.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if text.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.odd(column, "`true` or `false`"))
        }
    }
}

/// Calls `each_row` for every data row of the CSV `text`, whose header must
/// name every one of `columns` (in any order; other columns are ignored).
///
/// A row `each_row` finds odd is skipped and returned as a
/// [`SkippedEntry`]. Rejects a table that does not parse as CSV (with rows
/// as long as the header), a table without data rows, and one whose every
/// row is odd (the columns are likely not what their names say).
pub(super) fn for_each_row(
    source_name: &'static str,
    text: &str,
    columns: &[&'static str],
    mut each_row: impl FnMut(&Row<'_>) -> Result<(), OddCell>,
) -> Result<Vec<SkippedEntry>, CatalogError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| from_csv_error(source_name, &e))?
        .clone();
    let mut positions = Vec::with_capacity(columns.len());
    for &column in columns {
        let index = header
            .iter()
            .position(|name| name.trim() == column)
            .ok_or_else(|| CatalogError::Csv {
                source_name,
                line: 1,
                column: Some(column.to_owned()),
                message: "the header has no such column".to_owned(),
            })?;
        positions.push((column, index));
    }

    let mut record = StringRecord::new();
    let mut rows = 0_usize;
    let mut skipped = Vec::new();
    let mut first_odd = None;
    while reader
        .read_record(&mut record)
        .map_err(|e| from_csv_error(source_name, &e))?
    {
        let line = record.position().map_or(0, csv::Position::line);
        let row = Row {
            record: &record,
            columns: &positions,
        };
        if let Err(odd) = each_row(&row) {
            first_odd.get_or_insert((line, odd.column));
            skipped.push(SkippedEntry::new(
                source_name,
                EntryLocation::Csv {
                    line,
                    column: odd.column.to_owned(),
                },
                &odd.value,
                odd.expected,
            ));
        }
        rows = rows.saturating_add(1);
    }
    if rows == 0 {
        return Err(CatalogError::Csv {
            source_name,
            line: 1,
            column: None,
            message: "the table has no data rows".to_owned(),
        });
    }
    if let (true, Some((line, column)), Some(first)) =
        (skipped.len() == rows, first_odd, skipped.first())
    {
        return Err(CatalogError::Csv {
            source_name,
            line,
            column: Some(column.to_owned()),
            message: format!(
                "no usable row: all {rows} rows are odd, this one has {:?}, expected {}",
                first.value, first.expected
            ),
        });
    }
    Ok(skipped)
}

fn from_csv_error(source_name: &'static str, error: &csv::Error) -> CatalogError {
    let line = error.position().map_or(1, csv::Position::line);
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields like the header, found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8: {err}"),
        _ => error.to_string(),
    };
    CatalogError::Csv {
        source_name,
        line,
        column: None,
        message,
    }
}
