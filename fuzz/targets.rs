//! The fuzz targets' bodies, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`, nightly, `cargo +nightly fuzz run NAME`) and
//! the bounded mutation pass the test command runs on stable
//! (`tests/fuzz_pass.rs`). Each takes arbitrary bytes and panics only when
//! the library breaks a promise: a panic inside the library, or an
//! invariant below that does not hold.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cloudoptim_core::binpack::read_openb_pods;
use cloudoptim_core::catalog::Catalog;
use cloudoptim_core::kubectl::{read_list, write_list};
use cloudoptim_core::quantity::{parse_millis, parse_units, Quantity};
use cloudoptim_core::spot::events::parse_event;

/// A target: arbitrary bytes in, a panic only on a broken promise.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory (`fuzz/corpus/NAME`).
pub const TARGETS: [(&str, Target); 5] = [
    ("quantity", quantity),
    ("kubectl_list", kubectl_list),
    ("spot_advisor_feed", spot_advisor_feed),
    ("eventbridge_event", eventbridge_event),
    ("pod_csv", pod_csv),
];

/// `Quantity::parse`, its `Display`, and the millis/units readers: what
/// parses prints as something that parses back to the same value.
pub fn quantity(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_millis(text);
    let _ = parse_units(text);
    if let Ok(q) = Quantity::parse(text) {
        let shown = q.to_string();
        let again = Quantity::parse(&shown)
            .unwrap_or_else(|e| panic!("{text:?} prints as {shown:?}, which does not parse: {e}"));
        assert_eq!(again, q, "{text:?} prints as {shown:?}, another value");
    }
}

/// `kubectl::read_list`: what reads writes back to a list that reads to
/// the same snapshot.
pub fn kubectl_list(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(import) = read_list(text) {
        let written =
            write_list(&import.snapshot).expect("a snapshot that was read can be written");
        let again = read_list(&written)
            .unwrap_or_else(|e| panic!("written back, it does not read: {e}\n{written}"));
        assert_eq!(
            again.snapshot, import.snapshot,
            "written and read back, it differs"
        );
    }
}

/// The Spot Advisor feed, loaded over the embedded catalog.
pub fn spot_advisor_feed(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = Catalog::embedded().expect("the embedded catalog loads");
    let _ = catalog.with_spot_advisor_feed(text);
}

/// One SQS message body holding an EventBridge event.
pub fn eventbridge_event(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_event(text);
}

/// The openb pod CSV reader: every pod read has a name and one pod slot.
pub fn pod_csv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pods) = read_openb_pods(text) {
        for p in pods {
            assert!(!p.name.is_empty());
            assert_eq!(p.requests.pods, 1);
        }
    }
}
