//! Python bindings for CloudOptim (thin for now): quantity parsing and the
//! embedded instance catalog.
//!
//! All logic lives in `cloudoptim-core`; this crate only converts types.

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use cloudoptim_core::catalog::Catalog;
use cloudoptim_core::quantity;

/// Parse a Kubernetes quantity into thousandths, rounded up (`"250m"` → 250).
#[pyfunction]
fn parse_millis(quantity: &str) -> PyResult<u64> {
    quantity::parse_millis(quantity).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Parse a Kubernetes quantity into whole units, rounded up (`"1Gi"` → 1073741824).
#[pyfunction]
fn parse_units(quantity: &str) -> PyResult<u64> {
    quantity::parse_units(quantity).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Facts about one instance type of the embedded us-east-1 catalog, as JSON.
#[pyfunction]
fn instance_type_json(name: &str) -> PyResult<String> {
    let catalog = Catalog::embedded().map_err(|e| PyValueError::new_err(e.to_string()))?;
    let it = catalog
        .get(name)
        .ok_or_else(|| PyKeyError::new_err(format!("unknown instance type {name:?}")))?;
    serde_json::to_string(it).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The `cloudoptim._native` extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_millis, m)?)?;
    m.add_function(wrap_pyfunction!(parse_units, m)?)?;
    m.add_function(wrap_pyfunction!(instance_type_json, m)?)?;
    Ok(())
}
