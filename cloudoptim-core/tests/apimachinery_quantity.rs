//! Kubernetes' own quantity test tables (apimachinery's `quantity_test.go`,
//! `amount_test.go` and `quantity_example_test.go`, as data in
//! `tests/fixtures/apimachinery-quantity`, provenance in its README) run
//! against `cloudoptim_core::quantity`: parsing, rejection, the value, the
//! notation, the canonical spelling, `MilliValue`/`Value`, comparison,
//! formatting and JSON.
//!
//! Where CloudOptim differs from apimachinery on purpose (see the
//! `quantity` module docs), the case is in [`DIFFERS_ON_PURPOSE`] under its
//! reason, which names the checks it explains. Every other difference fails
//! the test, listed; so does a listed case that no longer differs.

// Helpers panic with a useful message; clippy allows panics in tests only
// inside `#[cfg(test)]` items.
#[cfg(test)]
mod cases {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Debug;

    use cloudoptim_core::quantity::{
        format_bytes, format_millis, parse_millis, parse_units, Quantity, QuantityError,
        QuantityFormat,
    };
    use serde::Deserialize;

    const CASES: &str = include_str!("../../tests/fixtures/apimachinery-quantity/cases.json");

    /// Cases where CloudOptim differs from apimachinery on purpose (the
    /// `quantity` module docs say so too): for each reason, the checks it
    /// explains and the cases it covers. A case may have more than one reason.
    struct OnPurpose {
        reason: &'static str,
        checks: &'static [&'static str],
        cases: &'static [&'static str],
    }

    const DIFFERS_ON_PURPOSE: &[OnPurpose] = &[
        OnPurpose {
            reason:
                "exact below a nano: Kubernetes rounds a value to a whole nano (away from zero) \
                     as it parses it (0.5n is 1n); CloudOptim keeps it (500e-12)",
            checks: &["value", "canonical string"],
            cases: &[
                r#"TestQuantityParse "0.000000000001Ki""#,
                r#"TestQuantityParse "0.0000000001""#,
                r#"TestQuantityParse "0.0000000005""#,
                r#"TestQuantityParse "0.00000000050""#,
                r#"TestQuantityParse "0.00000012345""#,
                r#"TestQuantityParse "0.00000012354""#,
                r#"TestQuantityParse "0.5e-9""#,
                r#"TestQuantityParse "0.9n""#,
                r#"TestQuantityParse "1.1E-9""#,
                r#"TestQuantityParse "3.001n""#,
                r#"TestQuantityParse(+) "+0.000000000001Ki""#,
                r#"TestQuantityParse(+) "+0.0000000001""#,
                r#"TestQuantityParse(+) "+0.0000000005""#,
                r#"TestQuantityParse(+) "+0.00000000050""#,
                r#"TestQuantityParse(+) "+0.00000012345""#,
                r#"TestQuantityParse(+) "+0.00000012354""#,
                r#"TestQuantityParse(+) "+0.5e-9""#,
                r#"TestQuantityParse(+) "+0.9n""#,
                r#"TestQuantityParse(+) "+1.1E-9""#,
                r#"TestQuantityParse(+) "+3.001n""#,
                r#"TestQuantityParse(-) "-0.000000000001Ki""#,
                r#"TestQuantityParse(-) "-0.0000000001""#,
                r#"TestQuantityParse(-) "-0.0000000005""#,
                r#"TestQuantityParse(-) "-0.00000000050""#,
                r#"TestQuantityParse(-) "-0.00000012345""#,
                r#"TestQuantityParse(-) "-0.00000012354""#,
                r#"TestQuantityParse(-) "-0.5e-9""#,
                r#"TestQuantityParse(-) "-0.9n""#,
                r#"TestQuantityParse(-) "-1.1E-9""#,
                r#"TestQuantityParse(-) "-3.001n""#,
                r#"TestQuantityParseEmit ".000000000001Ki""#,
                r#"TestQuantityParseEmit(-) "-.000000000001Ki""#,
            ],
        },
        OnPurpose {
            reason: "one rounding rule: apimachinery's arbitrary-precision path (below a nano, a \
                     fractional binary value) truncates a negative value toward zero and adds one \
                     (-1n has a MilliValue of +1, -0.05Gi a Value of -53687090); CloudOptim rounds \
                     away from zero everywhere, as apimachinery's 64-bit path does",
            checks: &["MilliValue", "Value"],
            cases: &[
                r#"TestQuantityParse(-) "-0.000000000001Ki""#,
                r#"TestQuantityParse(-) "-0.0000000001""#,
                r#"TestQuantityParse(-) "-0.0000000005""#,
                r#"TestQuantityParse(-) "-0.00000000050""#,
                r#"TestQuantityParse(-) "-0.00000012345""#,
                r#"TestQuantityParse(-) "-0.00000012354""#,
                r#"TestQuantityParse(-) "-0.5e-9""#,
                r#"TestQuantityParse(-) "-0.9n""#,
                r#"TestQuantityParse(-) "-1.1E-9""#,
                r#"TestQuantityParse(-) "-3.001n""#,
                r#"TestQuantityParse(-) "-0.05Gi""#,
                r#"TestQuantityParse(-) "-100.035Ki""#,
                r#"TestQuantityParseEmit(-) "-.000000000001Ki""#,
                r#"TestQuantityParseEmit(-) "-.000000001Ki""#,
                r#"TestQuantityParseEmit(-) "-.000001Ki""#,
                r#"TestQuantityParseEmit(-) "-.001Ki""#,
            ],
        },
        OnPurpose {
            reason:
                "no clamping at 2^63: Kubernetes caps a binary quantity at 9223372036854775807 \
                     as it parses it; CloudOptim keeps 9Ei, and its Value is out of range",
            checks: &["value", "canonical string", "Value", "parse_units"],
            cases: &[
                r#"TestQuantityParse "9223372036854775807Ki""#,
                r#"TestQuantityParse "9Ei""#,
                r#"TestQuantityParse(+) "+9223372036854775807Ki""#,
                r#"TestQuantityParse(+) "+9Ei""#,
                r#"TestQuantityParse(-) "-9223372036854775807Ki""#,
                r#"TestQuantityParse(-) "-9Ei""#,
            ],
        },
        OnPurpose {
            reason: "digits required: apimachinery reads a number without digits as zero; the \
                     grammar, and CloudOptim, require a digit",
            checks: &["parses"],
            cases: &[
                r#"TestParseQuantityString(internal; ParseQuantity result derived) ".""#,
                r#"TestParseQuantityString(internal; ParseQuantity result derived) "-.""#,
            ],
        },
    ];

    #[derive(Deserialize)]
    struct Fixture {
        meta: Meta,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Meta {
        commit: String,
    }

    #[derive(Deserialize)]
    struct Case {
        category: String,
        source: String,
        input: String,
        asserted: Vec<String>,
        go_value: Option<String>,
        go_format: Option<String>,
        go_canonical: Option<String>,
        go_canonical_asserted: Option<String>,
        go_milli: Option<i64>,
        go_units: Option<i64>,
        scale: Option<i32>,
        rust_op: Option<String>,
        expected: Option<serde_json::Value>,
        go_overflow: Option<bool>,
        other: Option<String>,
        cmp: Option<i8>,
        note: Option<String>,
    }

    impl Case {
        /// A readable identity: the Go test, the input and what makes the case
        /// differ from others of that test.
        fn base_id(&self) -> String {
            let mut id = format!("{} {:?}", self.source, self.input);
            if let Some(scale) = self.scale {
                id.push_str(&format!(" scale {scale}"));
            }
            if let Some(other) = &self.other {
                id.push_str(&format!(" vs {other:?}"));
            }
            if self.category == "format_ctor" {
                let op = self.rust_op.as_deref().unwrap_or("none");
                id.push_str(&format!(" via {op}"));
            }
            id
        }
    }

    /// What running the cases found.
    #[derive(Default)]
    struct Run {
        cases: usize,
        checks: usize,
        /// Cases with no Rust operation to run (an apimachinery scale or
        /// format CloudOptim has no API for), by the data's own note.
        not_applicable: Vec<String>,
        /// `(id, check)` → what apimachinery says and what CloudOptim said.
        mismatches: BTreeMap<(String, String), (String, String)>,
    }

    impl Run {
        fn check<T: PartialEq + Debug>(&mut self, id: &str, check: &str, expected: T, got: T) {
            self.checks += 1;
            if expected != got {
                self.mismatches.insert(
                    (id.to_owned(), check.to_owned()),
                    (format!("{expected:?}"), format!("{got:?}")),
                );
            }
        }
    }

    fn go_format(name: &str) -> QuantityFormat {
        match name {
            "DecimalSI" => QuantityFormat::DecimalSi,
            "BinarySI" => QuantityFormat::BinarySi,
            "DecimalExponent" => QuantityFormat::DecimalExponent,
            other => panic!("unknown Go format {other}"),
        }
    }

    /// A quantity compared by value and shown by its canonical spelling.
    #[derive(PartialEq)]
    struct Value(Quantity);

    impl Debug for Value {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.0)
        }
    }

    fn parse(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn run_parse_valid(run: &mut Run, id: &str, case: &Case) {
        let q = match Quantity::parse(&case.input) {
            Ok(q) => q,
            Err(e) => {
                run.check(id, "parses", "a quantity".to_owned(), e.to_string());
                return;
            }
        };
        run.check(id, "parses", true, true);
        if let Some(value) = &case.go_value {
            run.check(id, "value", Value(parse(value)), Value(q.clone()));
        }
        if let Some(format) = &case.go_format {
            run.check(id, "format", go_format(format), q.format());
        }
        if let Some(canonical) = &case.go_canonical {
            run.check(id, "canonical string", canonical.clone(), q.to_string());
        }
        if let Some(asserted) = &case.go_canonical_asserted {
            run.check(
                id,
                "canonical string (asserted)",
                asserted.clone(),
                q.to_string(),
            );
        }
        if let Some(milli) = case.go_milli {
            run.check(id, "MilliValue", Ok(milli), q.to_millis());
        }
        if let Some(units) = case.go_units {
            run.check(id, "Value", Ok(units), q.to_units());
        }
        // CloudOptim's own contracts, on apimachinery's inputs.
        let again = Quantity::parse(&q.to_string());
        let shown = again.clone().map(Value);
        run.check(
            id,
            "canonical string parses back",
            Ok(Value(q.clone())),
            shown,
        );
        if let Ok(again) = again {
            run.check(
                id,
                "canonical string is stable",
                q.to_string(),
                again.to_string(),
            );
        }
        let json = serde_json::Value::String(case.input.clone());
        let from_json = serde_json::from_value::<Quantity>(json)
            .map(Value)
            .map_err(|e| e.to_string());
        run.check(
            id,
            "reads from a JSON string",
            Ok(Value(q.clone())),
            from_json,
        );
        let negative = || {
            Err(QuantityError::Negative {
                input: case.input.clone(),
            })
        };
        if q.is_negative() {
            run.check(
                id,
                "parse_millis refuses a negative",
                negative(),
                parse_millis(&case.input),
            );
            run.check(
                id,
                "parse_units refuses a negative",
                negative(),
                parse_units(&case.input),
            );
        } else {
            if let Some(milli) = case.go_milli {
                let expected = u64::try_from(milli).map_err(|_| ());
                run.check(
                    id,
                    "parse_millis",
                    expected,
                    parse_millis(&case.input).map_err(|_| ()),
                );
            }
            if let Some(units) = case.go_units {
                let expected = u64::try_from(units).map_err(|_| ());
                run.check(
                    id,
                    "parse_units",
                    expected,
                    parse_units(&case.input).map_err(|_| ()),
                );
            }
        }
    }

    fn run_rounding(run: &mut Run, id: &str, case: &Case) {
        let q = parse(&case.input);
        let got = match case.rust_op.as_deref() {
            Some("to_millis") => q.to_millis(),
            Some("to_units") => q.to_units(),
            Some(other) => panic!("{id}: unknown operation {other}"),
            None => {
                let note = case.note.as_deref().unwrap_or("no Rust operation");
                run.not_applicable.push(format!("{id}: {note}"));
                return;
            }
        };
        let expected = match (&case.expected, case.go_overflow) {
            (_, Some(true)) => Err("out of range".to_owned()),
            (Some(v), _) => Ok(v.as_i64().unwrap_or_else(|| panic!("{id}: expected {v}"))),
            (None, _) => panic!("{id}: no expected value"),
        };
        let got = got.map_err(|e| match e {
            QuantityError::OutOfRange { .. } => "out of range".to_owned(),
            other => other.to_string(),
        });
        run.check(id, "rounded", expected, got);
    }

    fn run_format_ctor(run: &mut Run, id: &str, case: &Case) {
        let expected = case
            .expected
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{id}: no expected string"))
            .to_owned();
        let number = || {
            case.input
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        let got = match case.rust_op.as_deref() {
            Some("display_parse") => parse(&case.input).to_string(),
            Some("format_bytes") => format_bytes(number()),
            Some("format_millis") => format_millis(number()),
            Some(other) => panic!("{id}: unknown operation {other}"),
            None => {
                let note = case.note.as_deref().unwrap_or("no Rust operation");
                run.not_applicable.push(format!("{id}: {note}"));
                return;
            }
        };
        run.check(id, "formatted", expected, got);
    }

    fn run_equality(run: &mut Run, id: &str, case: &Case) {
        let (a, b) = (
            parse(&case.input),
            parse(case.other.as_deref().unwrap_or("")),
        );
        let cmp = case.cmp.unwrap_or_else(|| panic!("{id}: no cmp"));
        run.check(id, "Cmp", cmp, a.cmp(&b) as i8);
        run.check(id, "Equal", cmp == 0, a == b);
    }

    fn run_json(run: &mut Run, id: &str, case: &Case) {
        let expected = case
            .expected
            .as_ref()
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let got = serde_json::from_str::<Quantity>(&case.input)
            .map(|q| q.to_string())
            .map_err(|e| e.to_string());
        run.check(
            id,
            "UnmarshalJSON, then String",
            expected.ok_or(String::new()),
            got,
        );
    }

    #[test]
    fn apimachinery_quantity_cases() {
        let fixture: Fixture = serde_json::from_str(CASES).expect("cases.json");
        let mut run = Run::default();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for case in &fixture.cases {
            assert!(
                !case.asserted.is_empty(),
                "{}: asserts nothing",
                case.base_id()
            );
            // Some tables list an input twice: number the repeats.
            let base = case.base_id();
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            let id = if *n == 1 {
                base
            } else {
                format!("{base} #{n}")
            };
            run.cases += 1;
            match case.category.as_str() {
                "parse_valid" => run_parse_valid(&mut run, &id, case),
                "parse_invalid" => {
                    let rejected = Quantity::parse(&case.input).map(|q| q.to_string());
                    run.check(&id, "rejected", true, rejected.is_err());
                }
                "rounding" => run_rounding(&mut run, &id, case),
                "format_ctor" => run_format_ctor(&mut run, &id, case),
                "equality" => run_equality(&mut run, &id, case),
                "json" => run_json(&mut run, &id, case),
                other => panic!("{id}: unknown category {other}"),
            }
        }

        // Each mismatch needs a reason; each listed case must still differ.
        let reason_for = |id: &str, check: &str| {
            DIFFERS_ON_PURPOSE
                .iter()
                .find(|p| p.cases.contains(&id) && p.checks.contains(&check))
                .map(|p| p.reason)
        };
        let mut on_purpose: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut unexpected = Vec::new();
        for ((id, check), (expected, got)) in &run.mismatches {
            match reason_for(id, check) {
                Some(reason) => {
                    on_purpose.entry(reason).or_default().insert(id);
                }
                None => unexpected.push(format!(
                    "  {id}: {check}: apimachinery {expected}, CloudOptim {got}"
                )),
            }
        }
        let stale: Vec<String> = DIFFERS_ON_PURPOSE
            .iter()
            .flat_map(|p| p.cases.iter().map(move |id| (p.reason, *id)))
            .filter(|(reason, id)| !on_purpose.get(reason).is_some_and(|ids| ids.contains(id)))
            .map(|(reason, id)| format!("  {id}: {reason}"))
            .collect();
        let allowed_checks: usize = run
            .mismatches
            .keys()
            .filter(|(id, check)| reason_for(id, check).is_some())
            .count();
        let allowed_cases: BTreeSet<&str> = on_purpose.values().flatten().copied().collect();
        println!(
            "apimachinery {}: {} cases ran, {} checks; {} cases ({} checks) differ on purpose; \
             {} cases have no Rust operation to run",
            fixture.meta.commit,
            run.cases,
            run.checks,
            allowed_cases.len(),
            allowed_checks,
            run.not_applicable.len(),
        );
        for (reason, ids) in &on_purpose {
            println!("  on purpose, {} cases: {reason}", ids.len());
        }
        for case in &run.not_applicable {
            println!("  not applicable: {case}");
        }
        assert_eq!(run.cases, 685, "the fixture's case count");
        assert!(
            unexpected.is_empty() && stale.is_empty(),
            "{} of {} checks differ from apimachinery:\n{}\n{} cases listed in DIFFERS_ON_PURPOSE no longer differ:\n{}",
            unexpected.len(),
            run.checks,
            unexpected.join("\n"),
            stale.len(),
            stale.join("\n"),
        );
    }
}
