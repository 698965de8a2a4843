//! Property tests over bad input (proptest; `PROPTEST_CASES`, default 256):
//! config values from the environment and from a file, `OTEL_*` strings,
//! metric and label names and values, attribute keys and values, primitive
//! names and instrument descriptions. Every case ends in a clear error or
//! a valid exposition, read back in both formats by the official
//! Prometheus client's parsers; none panics.

mod support;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use observability_integration::config::{Origin, FIELDS};
use observability_integration::prometheus::{PrometheusMetrics, PrometheusOptions};
use observability_integration::{ConfigError, EnvSource, ObservabilityConfig};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use primitives_core::{lambda, Error, PrimitiveExt, Telemetry, WorkflowContext};
use proptest::prelude::*;
use support::ExpositionParser;

/// Every environment variable the table reads (list entries as their list).
fn variables() -> Vec<(&'static str, &'static str)> {
    let mut vars: Vec<_> = FIELDS
        .iter()
        .flat_map(|f| {
            f.env
                .iter()
                .map(move |v| (f.name, v.split(':').next().unwrap_or(v)))
        })
        .collect();
    vars.push(("trace_sample_rate", "OTEL_TRACES_SAMPLER_ARG"));
    vars
}

/// Values a user might really type, and hostile ones.
fn raw_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "-?[0-9]{1,25}(\\.[0-9]{0,5})?",
        Just(String::new()),
        Just("  ".to_owned()),
        "[a-z_.]{1,12}=[^,]{0,12}(,[a-z_.]{0,12}=?[^,]{0,12}){0,4}",
        "(https?|grpc|ftp)://[a-z0-9.:\\[\\]%/@-]{0,30}",
        "/[a-z{}:*/%.~-]{0,20}",
    ]
}

/// A clear error names the field, the value, where it came from and what
/// is accepted.
fn assert_clear(e: &ConfigError) {
    let text = e.to_string();
    assert!(!e.field.is_empty() && text.contains(e.field), "{text}");
    assert!(!e.problem.is_empty() && !e.accepted.is_empty(), "{text}");
    if let Origin::Env(var) = &e.origin {
        assert!(text.contains(var.as_str()), "{text}");
    }
}

proptest! {
    // Cases from PROPTEST_CASES (default 256); failures are printed with
    // their minimal input, not persisted.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn environment_values_give_a_config_or_a_clear_error(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), raw_value()), 1..4)
    ) {
        let vars = variables();
        let mut map = BTreeMap::new();
        for (i, v) in &picks {
            let (_, var) = vars[i.index(vars.len())];
            map.insert(var.to_owned(), v.clone());
        }
        let built = catch_unwind(AssertUnwindSafe(|| {
            ObservabilityConfig::builder().env(EnvSource::Map(map.clone())).build()
        }));
        let built = built.unwrap_or_else(|_| panic!("panicked on {map:?}"));
        match built {
            Ok(cfg) => prop_assert!(cfg.validate().is_ok()),
            Err(e) => {
                assert_clear(&e);
                prop_assert!(matches!(&e.origin, Origin::Env(v) if map.contains_key(v)), "{e}");
            }
        }
    }

    #[test]
    fn file_values_give_a_config_or_a_clear_error(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), raw_value(), 0u8..5), 1..4)
    ) {
        let mut doc = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, v, kind) in &picks {
            let f = &FIELDS[i.index(FIELDS.len())];
            if !seen.insert(f.file_key) {
                continue;
            }
            let quoted = toml_string(v);
            let value = match kind {
                0 => quoted,
                1 => v.trim().parse::<i64>().map_or(quoted, |n| n.to_string()),
                2 => "true".to_owned(),
                3 => format!("{{ k = {} }}", toml_string(v)),
                _ => "-1.5".to_owned(),
            };
            doc.push_str(&format!("{} = {value}\n", f.file_key));
        }
        let path = std::env::temp_dir().join(format!(
            "obs-prop-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::write(&path, &doc).unwrap();
        let built = catch_unwind(AssertUnwindSafe(|| {
            ObservabilityConfig::builder().env(EnvSource::None).file(&path).build()
        }));
        let _ = std::fs::remove_file(&path);
        let built = built.unwrap_or_else(|_| panic!("panicked on\n{doc}"));
        match built {
            Ok(cfg) => prop_assert!(cfg.validate().is_ok()),
            Err(e) => assert_clear(&e),
        }
    }

    #[test]
    fn any_names_values_and_descriptions_give_a_valid_exposition(
        name in prop_oneof![any::<String>(), "[a-zA-Z_][a-zA-Z0-9_.:/-]{0,40}"],
        description in any::<String>(),
        attrs in proptest::collection::vec((any::<String>(), any::<String>()), 0..5),
        primitive in any::<String>(),
        unit in prop_oneof![Just(""), Just("s"), Just("By"), Just("1"), Just("{req}"), Just("ms")],
    ) {
        let (text, om) = catch_unwind(AssertUnwindSafe(|| {
            expositions(&name, &description, &attrs, &primitive, unit)
        }))
        .unwrap_or_else(|_| panic!("panicked on {name:?} {description:?} {attrs:?} {primitive:?}"));
        let mut parser = PARSER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = parser.as_mut() {
            if let Err(e) = p.parse(false, &text) {
                panic!("0.0.4 rejected ({e}) for {name:?} {description:?} {attrs:?}:\n{text}");
            }
            if let Err(e) = p.parse(true, &om) {
                panic!("OpenMetrics rejected ({e}) for {name:?} {description:?} {attrs:?}:\n{om}");
            }
        }
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

static PARSER: std::sync::LazyLock<Mutex<Option<ExpositionParser>>> =
    std::sync::LazyLock::new(|| Mutex::new(ExpositionParser::start()));

/// `v` as a TOML basic string.
fn toml_string(v: &str) -> String {
    let mut out = String::from('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Records one instrument of each kind and one step, then encodes both
/// formats.
fn expositions(
    name: &str,
    description: &str,
    attrs: &[(String, String)],
    primitive: &str,
    unit: &str,
) -> (String, String) {
    let prom = PrometheusMetrics::new(PrometheusOptions::default());
    let mp = SdkMeterProvider::builder()
        .with_reader(prom.reader())
        .build();
    let meter = mp.meter("prop");
    let kvs: Vec<KeyValue> = attrs
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let counter = meter
        .u64_counter(name.to_owned())
        .with_description(description.to_owned())
        .with_unit(unit.to_owned())
        .build();
    counter.add(1, &kvs);
    meter
        .f64_histogram(format!("{name}_h"))
        .with_description(description.to_owned())
        .with_unit(unit.to_owned())
        .build()
        .record(0.5, &kvs);
    meter
        .i64_up_down_counter(format!("{name}_g"))
        .with_description(description.to_owned())
        .build()
        .add(-1, &kvs);
    let telemetry = Telemetry::builder()
        .meter_provider(&mp)
        .duration_observer(prom.duration_observer().unwrap())
        .in_process_metrics(true)
        .build();
    let ctx = WorkflowContext::new().with_telemetry(telemetry);
    let step = lambda(
        primitive.to_owned(),
        |x: u32| async move { Ok::<_, Error>(x) },
    );
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(step.run(&ctx, 1))
        .unwrap();
    (prom.encode_text(), prom.encode_openmetrics())
}
