//! `examples/cross_service` against a real Phoenix: both processes export
//! there, and one order is one trace across them.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::phoenix::Phoenix;

/// An attribute, flat or nested the way Phoenix stores dotted keys.
fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let attrs = &span["attributes"];
    attrs
        .get(key)
        .or_else(|| key.split('.').try_fold(attrs, |v, part| v.get(part)))
}

/// The example binary `cargo test` built (`None`, after `backend_missing`,
/// when it isn't there).
fn binary() -> Option<std::path::PathBuf> {
    let p = super::workspace_root().join("target/debug/examples/cross_service");
    if p.exists() {
        Some(p)
    } else {
        super::backend_missing("the cross_service example (cargo build --example cross_service)");
        None
    }
}

/// Runs the example with its traces sent to `phoenix`, then checks one
/// order's trace across both services, the parent links, the correlation
/// id in both services' JSON logs and the baggage in B.
pub fn check(rt: &tokio::runtime::Runtime, phoenix: &Phoenix) {
    let Some(bin) = binary() else {
        return;
    };
    let started = std::time::Instant::now();
    let out = Command::new(bin)
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            phoenix.grpc_endpoint(),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cross_service failed:\n{stdout}\n{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );

    // Both services' JSON log lines carry the order's correlation id; B's
    // carry the baggage it received.
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let logged = |target: &str| {
        lines
            .iter()
            .find(|l| l["target"] == target && l["correlation_id"] == "order-0")
            .unwrap_or_else(|| panic!("no {target} line for order-0 in:\n{stdout}"))
    };
    let b_line = logged("service_b");
    assert_eq!(b_line["fields"]["tenant"], "acme", "{b_line}");
    let a_line = logged("service_a");
    assert_eq!(
        a_line["trace_id"], b_line["trace_id"],
        "one trace id in both logs"
    );

    let correlated =
        |s: &Value| attr(s, "workflow.correlation_id").and_then(Value::as_str) == Some("order-0");
    let spans = rt.block_on(phoenix.wait_for(
        "the cross-service order",
        Duration::from_secs(60),
        |spans| {
            spans.iter().filter(|s| correlated(s)).count() >= 2
                && spans.iter().any(|s| s["name"] == "POST /inventory/{sku}")
        },
    ));
    let roots: Vec<&Value> = spans.iter().filter(|s| correlated(s)).collect();
    let root = |name: &str| {
        *roots
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} root for order-0: {roots:#?}"))
    };
    let (checkout, reserve_stock) = (root("primitive.checkout"), root("primitive.reserve_stock"));
    let trace = checkout["context"]["trace_id"].as_str().unwrap();
    assert_eq!(
        reserve_stock["context"]["trace_id"], trace,
        "one trace across both processes"
    );
    assert_eq!(a_line["trace_id"], trace);
    let in_trace: Vec<&Value> = spans
        .iter()
        .filter(|s| s["context"]["trace_id"] == trace)
        .collect();
    let by_name = |name: &str| {
        *in_trace
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in the trace: {in_trace:#?}"))
    };
    let step = by_name("primitive.reserve");
    let client = by_name("POST");
    let server = by_name("POST /inventory/{sku}");
    let id = |s: &Value| s["context"]["span_id"].clone();
    assert_eq!(step["parent_id"], id(checkout));
    assert_eq!(
        client["parent_id"],
        id(step),
        "A's CLIENT span under its step"
    );
    assert_eq!(
        server["parent_id"],
        id(client),
        "B's SERVER span under A's CLIENT span"
    );
    assert_eq!(
        reserve_stock["parent_id"],
        id(server),
        "B's workflow under its SERVER span"
    );
    assert_eq!(
        attr(server, "http.route").and_then(Value::as_str),
        Some("/inventory/{sku}")
    );
}
