//! Reading a CSV table by column name, with errors that point at the line
//! and column of the bad value.

use std::fmt::Display;
use std::str::FromStr;

use csv::StringRecord;

use super::error::CatalogError;

/// One data row of a table, with the positions of the columns asked for.
pub(super) struct Row<'a> {
    source_name: &'static str,
    line: u64,
    record: &'a StringRecord,
    columns: &'a [(&'static str, usize)],
}

impl Row<'_> {
    /// An error about this row, in `column` if given.
    pub(super) fn error(&self, column: Option<&str>, message: impl Into<String>) -> CatalogError {
        CatalogError::Csv {
            source_name: self.source_name,
            line: self.line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The trimmed text of `column` (one of the columns the table was read
    /// with).
    pub(super) fn text(&self, column: &str) -> Result<&str, CatalogError> {
        self.columns
            .iter()
            .find(|(name, _)| *name == column)
            .and_then(|(_, index)| self.record.get(*index))
            .map(str::trim)
            .ok_or_else(|| self.error(Some(column), "no such column"))
    }

    /// The value of `column`, which must be present and parse as `T`.
    pub(super) fn parse<T>(&self, column: &str) -> Result<T, CatalogError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(column)?
            .ok_or_else(|| self.error(Some(column), "missing value"))
    }

    /// The value of `column` parsed as `T`, or `None` if the cell is empty.
    pub(super) fn optional<T>(&self, column: &str) -> Result<Option<T>, CatalogError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self.text(column)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|e| self.error(Some(column), format!("{text:?}: {e}")))
    }

    /// The value of a `true`/`false` column (case-insensitive).
    pub(super) fn boolean(&self, column: &str) -> Result<bool, CatalogError> {
        let text = self.text(column)?;
        if text.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if text.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.error(Some(column), format!("{text:?} is neither true nor false")))
        }
    }
}

/// Calls `each_row` for every data row of the CSV `text`, whose header must
/// name every one of `columns` (in any order; other columns are ignored).
///
/// Rejects a table without data rows. Returns the number of rows read.
pub(super) fn for_each_row(
    source_name: &'static str,
    text: &str,
    columns: &[&'static str],
    mut each_row: impl FnMut(&Row<'_>) -> Result<(), CatalogError>,
) -> Result<usize, CatalogError> {
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
    while reader
        .read_record(&mut record)
        .map_err(|e| from_csv_error(source_name, &e))?
    {
        let line = record.position().map_or(0, csv::Position::line);
        each_row(&Row {
            source_name,
            line,
            record: &record,
            columns: &positions,
        })?;
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
    Ok(rows)
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
