//! Reading a traffic matrix from JSON or CSV text.
//!
//! Both forms hold the same records: a sending service, a receiving
//! service and the average rate between them in bytes per second.
//!
//! **CSV**: a header row, then one flow per row. Columns are found by name,
//! in any order: `from`, `to` and `bytes_per_second` are required,
//! `from_namespace` and `to_namespace` optional; any other column is an
//! error (a misspelt `bytes_per_sec` must not be read as zero traffic).
//! Lines starting with `#` are comments.
//!
//! ```text
//! from_namespace,from,to_namespace,to,bytes_per_second
//! prod,frontend,prod,checkout,125000
//! prod,checkout,prod,payments,4200.5
//! ```
//!
//! **JSON**: `{"flows": [{"from": "frontend", "from_namespace": "prod",
//! "to": "checkout", "to_namespace": "prod", "bytes_per_second": 125000}]}`,
//! the same fields, no others.
//!
//! A namespace left out (or empty) is `default`, as for `kubectl`.
//!
//! Rules, the same for both forms:
//! - a rate must be a finite number, ≥ 0 and at most
//!   [`MAX_BYTES_PER_SECOND`] (10 TB/s, more than any service sends);
//!   `NaN`, infinities, negatives and larger figures are refused, naming
//!   the line (CSV) or entry (JSON), the field and the value;
//! - a name must not be empty;
//! - an ordered pair listed twice is **refused**, naming both places: the
//!   two rows may be one measurement exported twice or two windows of it,
//!   and summing them would silently double the bill. Aggregate first.
//! - a flow from a service to itself is allowed (replicas calling each other).
//!
//! Whether the services exist is not known here: [`super::analyze`] reports
//! flows whose services have no pods in the snapshot.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

use crate::traffic::{ServiceRef, TrafficFlow, TrafficMatrix};

/// The largest rate accepted, in bytes per second (10 TB/s).
pub const MAX_BYTES_PER_SECOND: f64 = 1e13;

/// The namespace of a flow that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Where in the input a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A CSV line, counting from 1 (the header is line 1).
    Line(u64),
    /// A JSON entry of `flows`, counting from 0.
    Entry(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Entry(index) => write!(f, "flows[{index}]"),
        }
    }
}

/// Why a traffic matrix could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrafficInputError {
    /// CSV that does not parse (unbalanced quotes, a row of the wrong width, …).
    #[error("CSV {at}: {message}")]
    Csv {
        /// Where.
        at: Location,
        /// The reader's message.
        message: String,
    },
    /// The CSV header lacks a required column.
    #[error("CSV header: no {column:?} column (need from, to, bytes_per_second; optional from_namespace, to_namespace)")]
    MissingColumn {
        /// The column.
        column: &'static str,
    },
    /// The CSV header has a column this format does not know, or one twice.
    #[error("CSV header: column {column:?} is unknown or repeated (columns: from, to, bytes_per_second, from_namespace, to_namespace)")]
    UnknownColumn {
        /// The column as written.
        column: String,
    },
    /// JSON that does not parse or does not have the expected shape.
    #[error("JSON at {path} (line {line}, column {column}): {message}")]
    Json {
        /// Path of the offending value (`flows[3].bytes_per_second`).
        path: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// The reader's message.
        message: String,
    },
    /// A rate that is not a finite number in `0..=MAX_BYTES_PER_SECOND`.
    #[error("{at}: bytes_per_second {value:?} {reason}")]
    BadRate {
        /// Where.
        at: Location,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An empty service name.
    #[error("{at}: field {field} is empty")]
    EmptyName {
        /// Where.
        at: Location,
        /// `from` or `to`.
        field: &'static str,
    },
    /// An ordered pair listed twice.
    #[error("{at}: flow {from} -> {to} is already listed at {first}; give each ordered pair once (aggregate the rows)")]
    Duplicate {
        /// Where the second one is.
        at: Location,
        /// Where the first one is.
        first: Location,
        /// Sender.
        from: Box<ServiceRef>,
        /// Receiver.
        to: Box<ServiceRef>,
    },
}

/// One flow as written, before checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFlow {
    from: String,
    #[serde(default)]
    from_namespace: Option<String>,
    to: String,
    #[serde(default)]
    to_namespace: Option<String>,
    bytes_per_second: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonMatrix {
    flows: Vec<JsonFlow>,
}

/// Checks records one by one and refuses repeated pairs.
#[derive(Default)]
struct Collector {
    flows: Vec<TrafficFlow>,
    seen: HashMap<(ServiceRef, ServiceRef), Location>,
}

impl Collector {
    fn push(
        &mut self,
        at: Location,
        (from_namespace, from): (Option<&str>, &str),
        (to_namespace, to): (Option<&str>, &str),
        rate: Result<f64, String>,
    ) -> Result<(), TrafficInputError> {
        let service = |namespace: Option<&str>, name: &str, field| {
            let name = name.trim();
            if name.is_empty() {
                return Err(TrafficInputError::EmptyName { at, field });
            }
            let namespace = namespace
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .unwrap_or(DEFAULT_NAMESPACE);
            Ok(ServiceRef::new(namespace, name))
        };
        let from = service(from_namespace, from, "from")?;
        let to = service(to_namespace, to, "to")?;
        let bytes_per_second = check_rate(at, rate)?;
        let key = (from, to);
        if let Some(first) = self.seen.get(&key) {
            return Err(TrafficInputError::Duplicate {
                at,
                first: *first,
                from: Box::new(key.0),
                to: Box::new(key.1),
            });
        }
        self.seen.insert(key.clone(), at);
        self.flows.push(TrafficFlow {
            from: key.0,
            to: key.1,
            bytes_per_second,
        });
        Ok(())
    }
}

/// A parsed rate, or the text that did not parse.
fn check_rate(at: Location, rate: Result<f64, String>) -> Result<f64, TrafficInputError> {
    let bad = |value: String, reason| TrafficInputError::BadRate { at, value, reason };
    let value = rate.map_err(|text| bad(text, "is not a number"))?;
    if !value.is_finite() {
        return Err(bad(value.to_string(), "is not finite"));
    }
    if value < 0.0 {
        return Err(bad(value.to_string(), "is negative"));
    }
    if value > MAX_BYTES_PER_SECOND {
        return Err(bad(value.to_string(), "is above 10 TB/s"));
    }
    // `-0.0` reads as zero traffic.
    Ok(value.abs())
}

/// Read a traffic matrix from CSV text (format in the [module docs](self)).
///
/// ```
/// use cloudoptim_core::cross_az::read_traffic_csv;
///
/// let m = read_traffic_csv("from,to,bytes_per_second\nweb,api,1000\n")?;
/// assert_eq!(m.flows[0].from.to_string(), "default/web");
/// assert_eq!(m.flows[0].bytes_per_second, 1000.0);
/// assert!(read_traffic_csv("from,to,bytes_per_second\nweb,api,-1\n").is_err());
/// # Ok::<(), cloudoptim_core::cross_az::TrafficInputError>(())
/// ```
pub fn read_traffic_csv(text: &str) -> Result<TrafficMatrix, TrafficInputError> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| TrafficInputError::Csv {
        at: Location::Line(e.position().map(|p| p.line()).unwrap_or(1)),
        message: e.to_string(),
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let mut columns: [Option<usize>; 5] = [None; 5];
    const NAMES: [&str; 5] = [
        "from",
        "to",
        "bytes_per_second",
        "from_namespace",
        "to_namespace",
    ];
    for (index, name) in header.iter().enumerate() {
        let slot = NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| columns.get_mut(i))
            .filter(|slot| slot.is_none())
            .ok_or_else(|| TrafficInputError::UnknownColumn {
                column: name.to_owned(),
            })?;
        *slot = Some(index);
    }
    let [Some(from), Some(to), Some(rate), from_ns, to_ns] = columns else {
        let missing = NAMES
            .iter()
            .zip(columns)
            .find(|(_, c)| c.is_none())
            .map(|(n, _)| *n)
            .unwrap_or("from");
        return Err(TrafficInputError::MissingColumn { column: missing });
    };
    let mut out = Collector::default();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let at = Location::Line(record.position().map(|p| p.line()).unwrap_or(0));
        let field = |i: usize| record.get(i).unwrap_or("");
        let rate_text = field(rate);
        out.push(
            at,
            (from_ns.map(field), field(from)),
            (to_ns.map(field), field(to)),
            rate_text.parse::<f64>().map_err(|_| rate_text.to_owned()),
        )?;
    }
    Ok(TrafficMatrix { flows: out.flows })
}

/// Read a traffic matrix from JSON text (format in the [module docs](self)).
///
/// ```
/// use cloudoptim_core::cross_az::read_traffic_json;
///
/// let m = read_traffic_json(r#"{"flows": [{"from": "web", "from_namespace": "shop",
///     "to": "api", "to_namespace": "shop", "bytes_per_second": 2.5e6}]}"#)?;
/// assert_eq!(m.flows[0].to.to_string(), "shop/api");
/// # Ok::<(), cloudoptim_core::cross_az::TrafficInputError>(())
/// ```
pub fn read_traffic_json(text: &str) -> Result<TrafficMatrix, TrafficInputError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed: JsonMatrix = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        TrafficInputError::Json {
            path,
            line: inner.line(),
            column: inner.column(),
            message: inner.to_string(),
        }
    })?;
    let mut out = Collector::default();
    for (index, flow) in parsed.flows.iter().enumerate() {
        out.push(
            Location::Entry(index),
            (flow.from_namespace.as_deref(), &flow.from),
            (flow.to_namespace.as_deref(), &flow.to),
            Ok(flow.bytes_per_second),
        )?;
    }
    Ok(TrafficMatrix { flows: out.flows })
}

/// Read JSON if the text starts with `{` (after whitespace), CSV otherwise.
pub fn read_traffic(text: &str) -> Result<TrafficMatrix, TrafficInputError> {
    if text.trim_start().starts_with('{') {
        read_traffic_json(text)
    } else {
        read_traffic_csv(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn csv_columns_in_any_order_with_namespaces_and_comments() {
        let m = read_traffic_csv(
            "# exported from the mesh\nbytes_per_second,to,from,to_namespace\n10,b,a,shop\n0,a,a,\n",
        )
        .unwrap();
        assert_eq!(m.flows.len(), 2);
        assert_eq!(m.flows[0].from, ServiceRef::new("default", "a"));
        assert_eq!(m.flows[0].to, ServiceRef::new("shop", "b"));
        assert_eq!(m.flows[1].to, ServiceRef::new("default", "a"));
        assert_eq!(m.flows[1].bytes_per_second, 0.0);
    }

    #[test]
    fn csv_errors_name_line_field_and_value() {
        let e = read_traffic_csv("from,to,bytes_per_second\na,b,1\nc,d,NaN\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: bytes_per_second \"NaN\" is not finite"
        );
        let e = read_traffic_csv("from,to,bytes_per_second\na,b,12kb\n").unwrap_err();
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("12kb"),
            "{e}"
        );
        let e = read_traffic_csv("from,to,bytes_per_second\na,b,-3\n").unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = read_traffic_csv("from,to,bytes_per_second\na,b,1e30\n").unwrap_err();
        assert!(e.to_string().contains("10 TB/s"), "{e}");
        let e = read_traffic_csv("from,to,bytes_per_second\n,b,1\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: field from is empty");
        let e = read_traffic_csv("from,to,bytes_per_sec\na,b,1\n").unwrap_err();
        assert!(matches!(e, TrafficInputError::UnknownColumn { .. }), "{e}");
        let e = read_traffic_csv("from,bytes_per_second\na,1\n").unwrap_err();
        assert_eq!(e, TrafficInputError::MissingColumn { column: "to" });
        let e = read_traffic_csv("from,to,bytes_per_second\na,b\n").unwrap_err();
        assert!(
            matches!(
                e,
                TrafficInputError::Csv {
                    at: Location::Line(2),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_repeated_pair_is_refused_naming_both_places() {
        let e = read_traffic_csv("from,to,bytes_per_second\na,b,1\nb,a,1\n a ,b,2\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 4: flow default/a -> default/b is already listed at line 2; give each ordered pair once (aggregate the rows)"
        );
        let e = read_traffic_json(
            r#"{"flows":[{"from":"a","to":"b","bytes_per_second":1},{"from":"a","from_namespace":"default","to":"b","bytes_per_second":1}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                TrafficInputError::Duplicate {
                    at: Location::Entry(1),
                    first: Location::Entry(0),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn json_errors_name_the_path() {
        let e = read_traffic_json(r#"{"flows":[{"from":"a","to":"b","bytes_per_second":"x"}]}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("JSON at flows[0].bytes_per_second"),
            "{e}"
        );
        let e = read_traffic_json(r#"{"flows":[{"from":"a","to":"b","bytes_per_second":1e400}]}"#)
            .unwrap_err();
        assert!(matches!(e, TrafficInputError::Json { .. }), "{e}");
        let e = read_traffic_json(r#"{"flows":[{"from":"a","to":"b","rate":1}]}"#).unwrap_err();
        assert!(e.to_string().contains("rate"), "{e}");
        let e = read_traffic_json(r#"{"flows":[{"from":"a","to":"b","bytes_per_second":-1}]}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "flows[0]: bytes_per_second \"-1\" is negative"
        );
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,8}"
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = read_traffic(&text);
            let _ = read_traffic_csv(&format!("from,to,bytes_per_second\n{text}"));
        }

        #[test]
        fn csv_and_json_read_the_same_flows(
            flows in proptest::collection::btree_map((name(), name(), name()), 0.0f64..1e12, 0..20),
        ) {
            let mut csv = String::from("from_namespace,from,to,bytes_per_second\n");
            let mut json = Vec::new();
            for ((ns, from, to), rate) in &flows {
                csv.push_str(&format!("{ns},{from},{to},{rate:?}\n"));
                json.push(serde_json::json!({"from": from, "from_namespace": ns, "to": to, "bytes_per_second": rate}));
            }
            let json = serde_json::json!({ "flows": json }).to_string();
            let a = read_traffic_csv(&csv).unwrap();
            let b = read_traffic_json(&json).unwrap();
            // serde_json reads decimals to within an ulp, not always exactly.
            prop_assert_eq!(a.flows.len(), b.flows.len());
            for (x, y) in a.flows.iter().zip(&b.flows) {
                prop_assert_eq!((&x.from, &x.to), (&y.from, &y.to));
                prop_assert!((x.bytes_per_second - y.bytes_per_second).abs() <= 1e-12 * x.bytes_per_second);
            }
            prop_assert_eq!(a.flows.len(), flows.len());
            for (flow, ((ns, from, to), rate)) in a.flows.iter().zip(&flows) {
                prop_assert_eq!(&flow.from, &ServiceRef::new(ns.as_str(), from.as_str()));
                prop_assert_eq!(&flow.to, &ServiceRef::new(DEFAULT_NAMESPACE, to.as_str()));
                prop_assert_eq!(flow.bytes_per_second, *rate);
            }
        }

        #[test]
        fn hostile_rates_are_refused_naming_their_line(
            good in 0usize..5,
            rate in prop_oneof![
                Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY),
                -1e300f64..-1e-300, 1.0001e13f64..1e300,
            ],
        ) {
            let mut csv = String::from("from,to,bytes_per_second\n");
            for i in 0..good {
                csv.push_str(&format!("s{i},t,1\n"));
            }
            csv.push_str(&format!("x,y,{rate}\n"));
            let e = read_traffic_csv(&csv).unwrap_err();
            let is_bad_rate = matches!(e, TrafficInputError::BadRate { at: Location::Line(l), .. } if l == good as u64 + 2);
            prop_assert!(is_bad_rate, "{}", e);
        }
    }
}
