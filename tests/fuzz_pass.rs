//! The fuzz targets (`fuzz/targets.rs`) as a bounded mutation pass on
//! stable: each target gets `CLOUDOPTIM_FUZZ_CASES` (default 1,500) inputs
//! made by mutating its seed corpus (`fuzz/corpus/NAME`, taken from the test
//! fixtures) with bit flips, deletions, duplications and tokens that break
//! parsers (signs, exponents, huge digit runs, JSON punctuation, multibyte
//! characters). The random seed is fixed and printed; set
//! `CLOUDOPTIM_FUZZ_SEED` (hex, 32 bytes) to run another, and give the
//! printed one back to reproduce a failure. A failing input is shrunk and
//! printed; save it in the corpus and add a regression test.
//!
//! The same bodies run unbounded under libFuzzer: `cargo +nightly fuzz run NAME`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

const DEFAULT_SEED: &str = "c10d0971c10d0971c10d0971c10d0971c10d0971c10d0971c10d0971c10d0971";

/// Pieces that break parsers.
fn tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "-",
        "+",
        ".",
        "e",
        "E",
        "e-",
        "0",
        "-1",
        "1.5",
        "NaN",
        "inf",
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "true",
        "false",
        "\"\"",
        "{}",
        "[]",
        "Ki",
        "Mi",
        "Ei",
        "m",
        "n",
        "u",
        "k",
        "e18",
        "E-30",
        "18446744073709551616",
        "9223372036854775808",
        "-9223372036854775808",
        "1099511627776",
        "\\u0000",
        "\\",
        "é",
        "日本",
        "\u{feff}",
        "\n",
        "\r\n",
        " ",
        "\t",
        "\"kind\":\"Pod\"",
        "\"kind\":\"Node\"",
        "\"items\":",
        "\"metadata\":{\"name\":\"x\"}",
        "\"cpu\":",
        "\"memory\":",
        "-0",
        "0.",
        ".0",
        "1e",
        "==== START logs for ",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push(vec![b'9'; 70_000]);
    let mut long_fraction = b"0.".to_vec();
    long_fraction.extend(std::iter::repeat_n(b'1', 70_000));
    t.push(long_fraction);
    let mut tiny = b"0.".to_vec();
    tiny.extend(std::iter::repeat_n(b'0', 70_000));
    tiny.push(b'1');
    t.push(tiny.clone());
    tiny.extend_from_slice(b"Ki");
    t.push(tiny);
    t
}

#[derive(Clone, Debug)]
enum Op {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, token: usize },
    Replace { at: usize, len: usize, token: usize },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize, to: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Op::Flip { at, bit }),
        (at, any::<usize>()).prop_map(|(at, token)| Op::Insert { at, token }),
        (at, 1usize..24, any::<usize>()).prop_map(|(at, len, token)| Op::Replace {
            at,
            len,
            token
        }),
        (at, 1usize..64).prop_map(|(at, len)| Op::Delete { at, len }),
        (at, 1usize..256, any::<usize>()).prop_map(|(at, len, to)| Op::Duplicate { at, len, to }),
    ]
}

fn apply(seed: &[u8], ops: &[Op], tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let n = b.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match *op {
            Op::Flip { at, bit } if n > 0 => b[at % n] ^= 1 << bit,
            Op::Flip { .. } => {}
            Op::Insert { at, token } => {
                let t = &tokens[token % tokens.len()];
                let p = pos(at);
                b.splice(p..p, t.iter().copied());
            }
            Op::Replace { at, len, token } => {
                let t = &tokens[token % tokens.len()];
                let p = pos(at);
                let end = (p + len).min(n);
                b.splice(p..end, t.iter().copied());
            }
            Op::Delete { at, len } => {
                let p = pos(at);
                let end = (p + len).min(n);
                b.drain(p..end);
            }
            Op::Duplicate { at, len, to } => {
                let p = pos(at);
                let end = (p + len).min(n);
                let piece: Vec<u8> = b[p..end].to_vec();
                let q = pos(to);
                b.splice(q..q, piece);
            }
        }
    }
    b
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/fuzz/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "{dir} is empty");
    seeds
}

fn seed() -> [u8; 32] {
    let hex = std::env::var("CLOUDOPTIM_FUZZ_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| panic!("CLOUDOPTIM_FUZZ_SEED must be 64 hex digits, not {hex:?}"));
    }
    out
}

/// The passes run one at a time: each silences the panic hook while it runs.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(name: &str, target: fn(&[u8])) {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seeds = corpus(name);
    let tokens = tokens();
    // The corpus itself first: every seed must pass as it is.
    for s in &seeds {
        target(s);
    }
    let cases = std::env::var("CLOUDOPTIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let rng_seed = seed();
    let hex: String = rng_seed.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!(
        "fuzz pass {name}: {} seeds, {cases} cases, CLOUDOPTIM_FUZZ_SEED={hex}",
        seeds.len()
    );
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed));
    let strategy = (0..seeds.len(), prop::collection::vec(op(), 1..6));
    // Shrinking re-runs failing inputs many times: report each once, below.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = runner.run(&strategy, |(i, ops)| {
        let input = apply(&seeds[i], &ops, &tokens);
        std::panic::catch_unwind(|| target(&input)).map_err(|e| {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let shown = String::from_utf8_lossy(&input);
            let shown: String = shown.chars().take(2_000).collect();
            TestCaseError::fail(format!(
                "{name}: {why}\ninput ({} bytes): {shown}",
                input.len()
            ))
        })
    });
    std::panic::set_hook(report);
    if let Err(e) = result {
        panic!("fuzz pass {name} failed (CLOUDOPTIM_FUZZ_SEED={hex}): {e}");
    }
}

#[test]
fn fuzz_pass_quantity() {
    run("quantity", targets::quantity);
}

#[test]
fn fuzz_pass_kubectl_list() {
    run("kubectl_list", targets::kubectl_list);
}

#[test]
fn fuzz_pass_spot_advisor_feed() {
    run("spot_advisor_feed", targets::spot_advisor_feed);
}

#[test]
fn fuzz_pass_eventbridge_event() {
    run("eventbridge_event", targets::eventbridge_event);
}

#[test]
fn fuzz_pass_pod_csv() {
    run("pod_csv", targets::pod_csv);
}

#[test]
fn every_target_has_a_pass() {
    let names: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "quantity",
            "kubectl_list",
            "spot_advisor_feed",
            "eventbridge_event",
            "pod_csv"
        ]
    );
}
