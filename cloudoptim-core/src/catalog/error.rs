//! Why a catalog source was rejected.

/// A catalog source (a CSV table or a Spot Advisor feed) that could not be
/// read, or a catalog that would be empty.
///
/// Every variant names where the problem is — the JSON path, or the source,
/// line and column — so a bad refresh can be fixed without guessing. The
/// error is [`Clone`] so the shared result of [`Catalog::embedded`] can be
/// handed to every caller.
///
/// [`Catalog::embedded`]: super::Catalog::embedded
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The Spot Advisor feed is not JSON of the expected shape: a syntax
    /// error, a missing field or a value of the wrong type.
    #[error("Spot Advisor feed, at `{path}`: {message}")]
    Feed {
        /// Where in the document, dot-separated, e.g.
        /// `spot_advisor.us-east-1.Linux.m5.large.r` (`.` for the root).
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A CSV table has a malformed line or a value that does not parse.
    #[error("{source_name}, line {line}{}: {message}", column_suffix(.column))]
    Csv {
        /// Which table, e.g. `instance-types.csv`.
        source_name: &'static str,
        /// The 1-based line number in the table (the header is line 1).
        line: u64,
        /// The column the bad value is in, when the problem is one value.
        column: Option<String>,
        /// What was wrong.
        message: String,
    },
    /// A value has the right type but is not acceptable (a savings
    /// percentage above 100, an unknown interruption bucket, zero cores…).
    #[error("{source_name}, `{field}`: {message}")]
    Invalid {
        /// Which source, e.g. `Spot Advisor feed`.
        source_name: &'static str,
        /// The field, as a dot-separated path.
        field: String,
        /// Why the value was rejected.
        message: String,
    },
    /// The sources given describe no instance type at all.
    #[error("the catalog would contain no instance types")]
    Empty,
}

fn column_suffix(column: &Option<String>) -> String {
    match column {
        Some(column) => format!(", column `{column}`"),
        None => String::new(),
    }
}
