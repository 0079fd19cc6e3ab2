//! Pod lists as CSV, in the Alibaba `openb` trace format
//! (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,…`; other columns are
//! ignored): what the packer's benchmarks and `binpack --pods` read.
//!
//! Every value is checked: a negative, fractional or non-numeric value, or
//! one whose bytes or GPU milli-units overflow, is an error naming the line,
//! the pod, the column, the value as written and what was expected. Nothing
//! wraps or silently becomes zero.
//!
//! ```
//! use cloudoptim_core::binpack::read_openb_pods;
//!
//! let pods = read_openb_pods("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,500,1024,1,250\n")?;
//! assert_eq!(pods[0].requests.memory_bytes, 1 << 30);
//! assert_eq!(pods[0].requests.gpu_millis, 250);
//! let err = read_openb_pods("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,-1,1024,0,0\n").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "line 2 (pod p0), column cpu_milli: \"-1\" is not a whole number of millicores (0 or more)"
//! );
//! # Ok::<(), cloudoptim_core::binpack::PodListError>(())
//! ```

use super::PodRequirement;
use crate::excerpt::excerpt;
use crate::resources::Resources;

/// The columns read, in the order of the trace.
const COLUMNS: [&str; 5] = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"];

/// Why a pod list could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PodListError {
    /// The header lacks a column.
    #[error(
        "the header has no column {column} (expected name,cpu_milli,memory_mib,num_gpu,gpu_milli)"
    )]
    MissingColumn {
        /// The column.
        column: &'static str,
    },
    /// The text is not CSV (unbalanced quotes, a row of another width, bytes
    /// that are not UTF-8).
    #[error("line {line}: not a CSV row: {message}")]
    Csv {
        /// Line in the file (1 is the header).
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// A value is not what its column holds.
    #[error("line {line} (pod {pod}), column {column}: {value:?} is not {expected}")]
    Value {
        /// Line in the file (1 is the header).
        line: u64,
        /// The pod's name (its row's `name`).
        pod: String,
        /// The column.
        column: &'static str,
        /// The value as written (shortened when huge).
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
}

/// Read an openb pod list: one [`PodRequirement`] per row, named by `name`,
/// requesting `cpu_milli` millicores, `memory_mib` MiB and
/// `num_gpu × gpu_milli` GPU milli-units (GPU pods go only to GPU types).
pub fn read_openb_pods(text: &str) -> Result<Vec<PodRequirement>, PodListError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| PodListError::Csv {
        line: e.position().map_or(1, csv::Position::line),
        message: e.to_string(),
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let mut index = [0usize; COLUMNS.len()];
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h == column)
            .ok_or(PodListError::MissingColumn { column })?;
    }
    let mut pods = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |i: usize| record.get(index[i]).unwrap_or("");
        let pod = excerpt(cell(0));
        let number = |i: usize, expected: &'static str| -> Result<u64, PodListError> {
            let text = cell(i);
            text.parse::<u64>().map_err(|_| PodListError::Value {
                line,
                pod: pod.clone(),
                column: COLUMNS[i],
                value: excerpt(text),
                expected,
            })
        };
        let cpu_millis = number(1, "a whole number of millicores (0 or more)")?;
        let memory_mib = number(2, "a whole number of MiB (0 or more)")?;
        let gpus = number(3, "a whole number of GPUs (0 or more)")?;
        let gpu_milli = number(4, "a whole number of GPU milli-units (0 or more)")?;
        let too_big = |i: usize, expected: &'static str| PodListError::Value {
            line,
            pod: pod.clone(),
            column: COLUMNS[i],
            value: excerpt(cell(i)),
            expected,
        };
        let memory_bytes = memory_mib
            .checked_mul(1 << 20)
            .ok_or_else(|| too_big(2, "a memory size that fits in 16 EiB"))?;
        let gpu_millis = gpus
            .checked_mul(gpu_milli)
            .ok_or_else(|| too_big(4, "a GPU share whose product with num_gpu fits in 64 bits"))?;
        if cell(0).is_empty() {
            return Err(PodListError::Value {
                line,
                pod: String::new(),
                column: "name",
                value: String::new(),
                expected: "a pod name",
            });
        }
        pods.push(PodRequirement::new(
            cell(0),
            Resources {
                cpu_millis,
                memory_bytes,
                pods: 1,
                gpu_millis,
                ephemeral_storage_bytes: 0,
            },
        ));
    }
    Ok(pods)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n";

    fn err(row: &str) -> PodListError {
        read_openb_pods(&format!("{HEADER}{row}\n")).unwrap_err()
    }

    #[test]
    fn values_are_checked_and_named() {
        for (row, column, value) in [
            ("p,-1,1,0,0,,LS", "cpu_milli", "-1"),
            ("p,1,1.5,0,0,,LS", "memory_mib", "1.5"),
            ("p,1,1,NaN,0,,LS", "num_gpu", "NaN"),
            ("p,1,17592186044416,0,0,,LS", "memory_mib", "17592186044416"),
            ("p,1,1,4294967296,4294967296,,LS", "gpu_milli", "4294967296"),
            (
                "p,1,1,0,18446744073709551616,,LS",
                "gpu_milli",
                "18446744073709551616",
            ),
        ] {
            let e = err(row);
            let PodListError::Value {
                line,
                pod,
                column: c,
                value: v,
                ..
            } = &e
            else {
                panic!("{row}: {e:?}");
            };
            assert_eq!(
                (*line, pod.as_str(), *c, v.as_str()),
                (2, "p", column, value),
                "{e}"
            );
        }
        let huge = format!("p,{},1,0,0,,LS", "9".repeat(100_000));
        let shown = err(&huge).to_string();
        assert!(shown.len() < 400, "{}", shown.len());
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(
            read_openb_pods("name,cpu\np,1\n").unwrap_err(),
            PodListError::MissingColumn {
                column: "cpu_milli"
            }
        );
        assert!(matches!(
            read_openb_pods(&format!("{HEADER}p,1,1\n")),
            Err(PodListError::Csv { line: 2, .. })
        ));
        assert!(matches!(
            err(",1,1,0,0,,LS"),
            PodListError::Value { column: "name", .. }
        ));
        assert_eq!(read_openb_pods(HEADER).unwrap(), vec![]);
    }

    #[test]
    fn the_trace_format_reads() {
        let pods = read_openb_pods(&format!(
            "{HEADER}openb-pod-0000,12500,57344,0,0,,LS\nopenb-pod-0001,8000,30000,2,1000,V100M32,LS\n"
        ))
        .unwrap();
        assert_eq!(pods.len(), 2);
        assert_eq!(pods[0].requests.cpu_millis, 12_500);
        assert_eq!(pods[0].requests.memory_bytes, 57_344 << 20);
        assert_eq!(pods[1].requests.gpu_millis, 2_000);
    }
}
