//! The viewer takes other processes' spans over OTLP/HTTP: protobuf, JSON
//! and gzip bodies over real HTTP, bad input refused with the status OTLP
//! clients expect (400, 413, 415) or counted as rejected spans, a Python
//! process with the official OpenTelemetry SDK, and the cross-service
//! example's two processes as one trace. The token is tests/viewer_token.rs.

#[path = "support/intake.rs"]
mod intake;
mod support;

use std::process::Command;
use std::time::Duration;

use intake::{base, get_json, gzipped, post, request, run_named, stack};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_json_and_gzip_bodies_are_taken_in_and_bad_ones_refused() {
    let obs = stack(None);
    let base = base(&obs);
    let url = format!("{base}v1/traces");

    // Protobuf: the answer is an empty ExportTraceServiceResponse.
    let res = post(
        &url,
        "application/x-protobuf",
        false,
        request("billing", [1; 16]).encode_to_vec(),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(res.bytes().await.unwrap()).unwrap();
    assert!(answer.partial_success.is_none(), "{answer:?}");
    let row = run_named(&base, "remote.order").await;
    assert_eq!(row["service"], "billing", "{row}");
    assert_eq!(row["trace_id"], "01010101010101010101010101010101");
    let trace = get_json(&format!(
        "{base}api/traces/01010101010101010101010101010101"
    ))
    .await;
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let charge = spans.iter().find(|s| s["name"] == "remote.charge").unwrap();
    assert_eq!(charge["service"], "billing");
    assert_eq!(charge["status_message"], "card declined");
    assert_eq!(charge["kind"], "server");
    assert_eq!(charge["attributes"]["order.items"], 3);
    assert_eq!(charge["parent_span_id"], "0000000000000001");

    // The OTLP form of that trace names the sender's resource.
    let otlp = get_json(&format!(
        "{base}api/traces/01010101010101010101010101010101/otlp"
    ))
    .await;
    let attrs = &otlp["resourceSpans"][0]["resource"]["attributes"];
    assert!(
        attrs
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["value"]["stringValue"] == "billing"),
        "{otlp}"
    );

    // Gzip protobuf.
    let res = post(
        &url,
        "application/x-protobuf",
        true,
        gzipped(&request("gz", [2; 16]).encode_to_vec()),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);

    // JSON, as the OTLP JSON mapping writes it (hex ids, 64-bit integers
    // as strings, enums as numbers), gzip too.
    let body = json!({ "resourceSpans": [{
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "js-front" } }] },
        "scopeSpans": [{ "scope": { "name": "web" }, "spans": [{
            "traceId": "03030303030303030303030303030303", "spanId": "0303030303030303",
            "name": "GET /cart", "kind": 2,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000020000000",
            "attributes": [{ "key": "http.response.status_code", "value": { "intValue": "200" } }],
            "status": {}
        }]}]
    }]});
    let res = post(
        &url,
        "application/json",
        true,
        gzipped(body.to_string().as_bytes()),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let row = run_named(&base, "GET /cart").await;
    assert_eq!(row["service"], "js-front");
    assert_eq!(row["duration_ms"], 20.0);

    // A span with a bad id is rejected and counted; the others are kept.
    let mut req = request("partial", [4; 16]);
    req.resource_spans[0].scope_spans[0].spans[1].span_id = vec![1, 2, 3];
    let res = post(
        &url,
        "application/x-protobuf",
        false,
        req.encode_to_vec(),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let answer = ExportTraceServiceResponse::decode(res.bytes().await.unwrap()).unwrap();
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("spanId"),
        "{}",
        partial.error_message
    );

    // Refused: not OTLP (400), another format (415), another encoding
    // (415), too large on the wire or after gzip (413).
    let res = post(
        &url,
        "application/x-protobuf",
        false,
        b"\xff\xff\xff".to_vec(),
        None,
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("ExportTraceServiceRequest"));
    let res = post(&url, "text/plain", false, b"{}".to_vec(), None).await;
    assert_eq!(res.status(), 415);
    let res = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let res = post(
        &url,
        "application/x-protobuf",
        false,
        vec![0; (16 << 20) + 1],
        None,
    )
    .await;
    assert_eq!(res.status(), 413);
    let bomb = gzipped(&vec![0u8; 17 << 20]);
    assert!(bomb.len() < 1 << 20);
    let res = post(&url, "application/x-protobuf", true, bomb, None).await;
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains("after gzip"));

    let stats = obs.viewer().unwrap().stats();
    assert_eq!(
        (stats.spans_received, stats.spans_rejected),
        (2 + 2 + 1 + 1, 1),
        "{stats:?}"
    );
    // Taken-in spans are stored only: the pipeline saw none of them.
    let counts = obs.span_counts();
    let (_, viewer) = counts.iter().find(|(n, _)| n == "viewer").unwrap();
    assert_eq!(viewer.ended, 0, "{viewer:?}");
    obs.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_process_with_the_official_sdk_shows_in_the_viewer() {
    let Some(python) = support::backend_python() else {
        support::backend_missing("python venv with opentelemetry-sdk and the OTLP/HTTP exporter");
        return;
    };
    let obs = stack(None);
    let base = base(&obs);
    let script = support::workspace_root()
        .join("crates/observability-integration/tests/support/py_export.py");
    for gzip in ["plain", "gzip"] {
        let out = Command::new(&python)
            .arg(&script)
            .arg(format!("{base}v1/traces"))
            .arg(gzip)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("Failed to export"), "{stderr}");
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = printed["trace_id"].as_str().unwrap().to_owned();
        let mut trace = Value::Null;
        for _ in 0..100 {
            trace = get_json(&format!("{base}api/traces/{id}")).await;
            if trace["spans"].as_array().is_some_and(|s| s.len() == 3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let spans = trace["spans"]
            .as_array()
            .unwrap_or_else(|| panic!("{trace}"));
        assert_eq!(spans.len(), 3, "{trace}");
        assert_eq!(trace["run"]["name"], "py.job");
        assert_eq!(trace["run"]["service"], "py-worker");
        let by = |n: &str| spans.iter().find(|s| s["name"] == n).unwrap();
        assert_eq!(by("py.job")["attributes"]["job.items"], 3);
        assert_eq!(by("py.step")["attributes"]["step.tags"], json!(["a", "b"]));
        assert_eq!(by("py.step")["events"][0]["name"], "checkpoint");
        assert_eq!(by("py.step")["parent_span_id"], by("py.job")["span_id"]);
        assert_eq!(by("py.flaky")["status_message"], "flaky failed");
        assert_eq!(by("py.job")["service"], "py-worker");
    }
    let listed = get_json(&format!("{base}api/runs?name=py.job")).await;
    assert_eq!(listed["matched"], 2, "{listed}");
    obs.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cross_service_example_is_one_trace_across_its_two_processes() {
    let bin = support::workspace_root().join("target/debug/examples/cross_service");
    if !bin.exists() {
        support::backend_missing("the cross_service example (cargo build --example cross_service)");
        return;
    }
    let obs = stack(None);
    let base = base(&obs);
    let out = Command::new(bin)
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{base}v1/traces"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = run_named(&base, "primitive.checkout").await;
    let id = row["trace_id"].as_str().unwrap().to_owned();
    let mut services = Vec::new();
    let mut trace = Value::Null;
    for _ in 0..100 {
        trace = get_json(&format!("{base}api/traces/{id}")).await;
        services = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["service"].as_str().map(str::to_owned))
            .collect();
        services.sort();
        services.dedup();
        if services.len() >= 2
            && trace["spans"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "primitive.reserve_stock")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        services.len() >= 2,
        "one trace across both services: {services:?}\n{trace}"
    );
    let spans = trace["spans"].as_array().unwrap();
    let by = |n: &str| {
        spans
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {trace}"))
    };
    let (checkout, server, stock) = (
        by("primitive.checkout"),
        by("POST /inventory/{sku}"),
        by("primitive.reserve_stock"),
    );
    assert_ne!(checkout["service"], server["service"], "{trace}");
    assert_eq!(stock["parent_span_id"], server["span_id"]);
    assert_eq!(
        trace["run"]["name"], "primitive.checkout",
        "the row is A's root, not B's server span"
    );
    obs.shutdown(Duration::from_secs(5));
}
