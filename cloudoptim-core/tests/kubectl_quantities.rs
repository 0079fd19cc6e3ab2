//! Quantities and numbers in `kubectl` JSON: what the reader accepts, and
//! what it says about what it refuses (issue 11).

use cloudoptim_core::kubectl::read_list;

/// A `v1 List` of one pod whose only container requests `cpu` (a JSON value, as written).
fn pod_requesting_cpu(cpu_json: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{{"apiVersion":"v1","kind":"Pod",
        "metadata":{{"name":"web","namespace":"shop"}},
        "spec":{{"containers":[{{"name":"app","resources":{{"requests":{{"cpu":{cpu_json}}}}}}}]}}}}]}}"#
    )
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
