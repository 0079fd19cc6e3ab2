//! Quantities and numbers in `kubectl` JSON: what the reader accepts, and
//! what it says about what it refuses (issue 11).

use cloudoptim_core::kubectl::{read_list, KubectlError, KubectlImport, ListReader};

/// A `v1 List` of one pod whose only container requests `cpu` (a JSON value, as written).
fn pod_requesting_cpu(cpu_json: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{{"apiVersion":"v1","kind":"Pod",
        "metadata":{{"name":"web","namespace":"shop"}},
        "spec":{{"containers":[{{"name":"app","resources":{{"requests":{{"cpu":{cpu_json}}}}}}}]}}}}]}}"#
    )
}

/// A `v1 List` of one PodDisruptionBudget with `minAvailable` (a JSON value, as written).
fn pdb_with_min_available(min_available_json: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{{"apiVersion":"policy/v1",
        "kind":"PodDisruptionBudget","metadata":{{"name":"web","namespace":"shop"}},
        "spec":{{"minAvailable":{min_available_json},"selector":{{"matchLabels":{{"app":"web"}}}}}}}}]}}"#
    )
}

/// A `v1 List` of one pod with an `emptyDir` volume of `sizeLimit` (a JSON value).
fn pod_with_size_limit(size_limit_json: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{{"apiVersion":"v1","kind":"Pod",
        "metadata":{{"name":"web","namespace":"shop"}},
        "spec":{{"containers":[{{"name":"app"}}],
        "volumes":[{{"name":"scratch","emptyDir":{{"sizeLimit":{size_limit_json}}}}}]}}}}]}}"#
    )
}

/// Helpers panic with a useful message; clippy allows panics in tests only
/// inside `#[cfg(test)]` items.
#[cfg(test)]
mod support {
    use super::*;

    /// The field and message of an object error, or a panic naming what came instead.
    pub fn object_error(json: &str) -> (String, String) {
        match read_list(json) {
            Err(KubectlError::Object { field, message, .. }) => (field, message),
            other => panic!("expected an object error, got {other:?}"),
        }
    }

    /// The import, or a panic naming the error.
    pub fn read(json: &str) -> KubectlImport {
        read_list(json).unwrap_or_else(|e| panic!("{e}"))
    }
}

use support::{object_error, read};

const CPU: &str = "spec.containers[0].resources.requests.cpu";

#[test]
fn a_quantity_of_the_wrong_type_says_which_field_what_value_and_what_is_expected() {
    for (json, shown) in [
        ("true", "true"),
        ("false", "false"),
        ("null", "null"),
        ("[1]", "[1]"),
        (r#"{"value":"1"}"#, r#"{"value":"1"}"#),
    ] {
        let (field, message) = object_error(&pod_requesting_cpu(json));
        assert_eq!(field, CPU, "{json}");
        assert!(
            message.starts_with(&format!("{shown} is not a quantity")),
            "{json}: {message}"
        );
        assert!(
            message.contains("expected a quantity such as 500m or 1Gi"),
            "{json}: {message}"
        );
        assert!(
            !message.contains("untagged") && !message.contains("Raw"),
            "{message}"
        );
        let whole = read_list(&pod_requesting_cpu(json))
            .unwrap_err()
            .to_string();
        assert!(
            whole.contains("Pod shop/web") && whole.contains(CPU),
            "{whole}"
        );
    }
}

#[test]
fn quantities_written_as_json_numbers_are_read_as_written() {
    for (cpu, millis) in [
        ("2", 2000),
        ("0.5", 500),
        ("1e-3", 1),
        ("0.30000000000000004", 301),
        ("\" 500m \"", 500),
        ("0", 0),
    ] {
        let import = read(&pod_requesting_cpu(cpu));
        assert_eq!(
            import.snapshot.pods[0].containers[0].requests.cpu_millis, millis,
            "{cpu}"
        );
    }
    // Too large: out of range, named as written (the parser's float would
    // have been 1.8446744073709552e19).
    for cpu in ["18446744073709551616", "1e19", "9223372036854775808"] {
        let (field, message) = object_error(&pod_requesting_cpu(cpu));
        assert_eq!(field, CPU);
        assert!(
            message.contains(&format!("{cpu:?} is out of range")),
            "{message}"
        );
        assert!(!message.contains("1.8446744073709552"), "{message}");
    }
    // Negative however small.
    for cpu in ["-1", "-0.5", "\"-5n\"", "\"-500m\""] {
        let (field, message) = object_error(&pod_requesting_cpu(cpu));
        assert_eq!(field, CPU);
        assert!(message.contains("is negative"), "{cpu}: {message}");
    }
}

#[test]
fn a_single_object_reads_numbers_as_written_too() {
    let list = pod_requesting_cpu("18446744073709551616");
    let start = list
        .find(r#"{"apiVersion":"v1","kind":"Pod""#)
        .expect("the pod");
    let pod = &list[start..list.len() - 2];
    match read_list(pod) {
        Err(KubectlError::Object { message, .. }) => {
            assert!(
                message.contains("\"18446744073709551616\" is out of range"),
                "{message}"
            )
        }
        other => panic!("expected an object error, got {other:?}"),
    }
}

#[test]
fn field_errors_carry_no_line_and_column_of_the_item() {
    let (field, message) = object_error(&pod_requesting_cpu("\"12x\""));
    assert_eq!(field, CPU);
    assert!(
        message.contains("12x") && !message.contains(" at line "),
        "{message}"
    );
    let bad_type = r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"Pod",
        "metadata":{"name":"web"},"spec":{"containers":"app"}}]}"#;
    let (field, message) = object_error(bad_type);
    assert_eq!(field, "spec.containers");
    assert!(!message.contains(" at line "), "{message}");
}

#[test]
fn a_field_given_twice_is_an_error_naming_it() {
    let twice = r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"Pod",
        "metadata":{"name":"web"},"spec":{"containers":[]},"spec":{"containers":[]}}]}"#;
    let (_, message) = object_error(twice);
    assert!(message.contains("duplicate field `spec`"), "{message}");
}

#[test]
fn a_min_available_beyond_32_bits_is_out_of_range() {
    for json in [
        "1099511627776",
        "18446744073709551616",
        "\"1099511627776\"",
        "2147483648",
    ] {
        let (field, message) = object_error(&pdb_with_min_available(json));
        assert_eq!(field, "spec.minAvailable", "{json}");
        let written = json.trim_matches('"');
        assert!(
            message.starts_with(&format!("{written} is out of range")),
            "{json}: {message}"
        );
        assert!(message.contains("at most 2147483647"), "{json}: {message}");
        assert!(!message.contains("neither"), "{json}: {message}");
    }
    let (_, message) = object_error(&pdb_with_min_available("-2147483649"));
    assert!(message.contains("at least -2147483648"), "{message}");
    for json in ["1.5", "1e3", "true", "\"abc%\"", "\"many\""] {
        let (field, message) = object_error(&pdb_with_min_available(json));
        assert_eq!(field, "spec.minAvailable", "{json}");
        assert!(
            message.contains("neither an integer nor a percentage"),
            "{json}: {message}"
        );
    }
    let import = read(&pdb_with_min_available("2147483647"));
    assert!(import.snapshot.pdbs[0].min_available.is_some());
}

#[test]
fn an_empty_dir_size_limit_number_is_exact_or_refused() {
    for (json, bytes) in [("1e3", 1000), ("1048576", 1 << 20), ("\"1Gi\"", 1 << 30)] {
        let import = read(&pod_with_size_limit(json));
        let volume = format!("{:?}", import.snapshot.pods[0].volumes[0]);
        assert!(
            volume.contains(&format!("size_limit_bytes: Some({bytes})")),
            "{json}: {volume}"
        );
    }
    // Volume sources are read as a JSON tree: a float that may not be what
    // was written is refused, with how to fix it.
    let (field, message) = object_error(&pod_with_size_limit("18446744073709551616"));
    assert_eq!(field, "spec.volumes[0].emptyDir.sizeLimit");
    assert!(
        message.contains("write the quantity as a string"),
        "{message}"
    );
}

#[test]
fn pushed_json_trees_read_quantities_too() {
    let list: serde_json::Value =
        serde_json::from_str(&pod_requesting_cpu("\"250m\"")).expect("json");
    let mut reader = ListReader::new();
    reader.push(list["items"][0].clone()).expect("a pod");
    let import = reader.finish();
    assert_eq!(
        import.snapshot.pods[0].containers[0].requests.cpu_millis,
        250
    );
    let mut reader = ListReader::new();
    let list: serde_json::Value = serde_json::from_str(&pod_requesting_cpu("true")).expect("json");
    match reader.push(list["items"][0].clone()) {
        Err(KubectlError::Object { field, message, .. }) => {
            assert_eq!(field, CPU);
            assert!(
                message.contains("expected a quantity such as 500m or 1Gi"),
                "{message}"
            );
        }
        other => panic!("expected an object error, got {other:?}"),
    }
}

/// Issue 11: a 70,000-digit fractional quantity made `read_list` panic
/// (a format width beyond `u16`).
#[test]
fn a_seventy_thousand_digit_request_is_read_or_refused_never_a_panic() {
    let zeros = "0".repeat(70_000);
    for cpu in [
        format!("0.{zeros}1"),
        format!("0.{zeros}1Ki"),
        format!("0.{zeros}12345678901234567890123456789012345678Ei"),
        format!("1.{zeros}1"),
        format!("1{zeros}"),
        format!("-0.{zeros}1Ki"),
    ] {
        match read_list(&pod_requesting_cpu(&format!("\"{cpu}\""))) {
            Ok(import) => {
                let pod = &import.snapshot.pods[0];
                assert!(pod.containers[0].requests.cpu_millis <= 1, "{cpu:.20}");
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.len() < 400,
                    "{} bytes: {message:.400}",
                    message.len()
                );
                assert!(
                    message.contains("spec.containers[0].resources.requests.cpu"),
                    "{message}"
                );
            }
        }
    }
}
