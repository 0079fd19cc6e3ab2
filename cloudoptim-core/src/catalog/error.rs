//! Why a catalog source was rejected.

/// A catalog source (a CSV table, a Spot Advisor feed, a Price List
/// answer) of the wrong shape,
/// or a catalog that would be empty.
///
/// An odd value in one entry of a source of the right shape is not an
/// error: the entry is skipped and reported as a
/// [`SkippedEntry`](super::SkippedEntry). Every variant names where the problem is — the JSON path, or the source,
/// line and column — so a bad refresh can be fixed without guessing. The
/// error is [`Clone`] so the shared result of [`Catalog::embedded`] can be
/// handed to every caller.
///
/// [`Catalog::embedded`]: super::Catalog::embedded
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The Spot Advisor feed is not JSON of the expected shape: a syntax
    /// error, a document that is not an object, `instance_types`, `ranges`
    /// or `spot_advisor` missing or not of their kind, or a `ranges` entry
    /// without a whole-number `index`.
    #[error("Spot Advisor feed, at `{path}`: {message}")]
    Feed {
        /// Where in the document, dot-separated, e.g.
        /// `spot_advisor.us-east-1.Linux.m5.large.r` (`.` for the root).
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A Price List GetProducts answer of the wrong shape: not JSON, not an
    /// object, or without a `PriceList` list of strings.
    #[error("Price List GetProducts answer, at `{path}`: {message}")]
    PriceList {
        /// Where in the answer, e.g. `pages[0].PriceList`.
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A CSV table of the wrong shape: a header without a column that is
    /// read, a line with more or fewer fields than the header, invalid
    /// UTF-8, no data rows, or no usable row at all.
    #[error("{source_name}, line {line}{}: {message}", column_suffix(.column))]
    Csv {
        /// Which table, e.g. `instance-types.csv`.
        source_name: &'static str,
        /// The 1-based line number in the table (the header is line 1).
        line: u64,
        /// The column the problem is in, when it is one column.
        column: Option<String>,
        /// What was wrong.
        message: String,
    },
    /// The feed has the right shape but cannot be used: its `ranges` are not
    /// the five known interruption buckets, it lists no instance types or
    /// no regions, or not one of its advice entries is usable.
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
