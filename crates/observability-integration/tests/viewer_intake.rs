//! The viewer takes other processes' spans over OTLP/HTTP: protobuf, JSON
//! and gzip bodies over real HTTP, bad input refused with the status OTLP
//! clients expect (400, 413, 415) or counted as rejected spans, a Python
//! process with the official OpenTelemetry SDK, and the cross-service
//! example's two processes as one trace. Also the access token: 401
//! without it, the bearer header or the login form's cookie with it, and a
//! config error for a viewer beyond loopback without one.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{json, Value};

const TOKEN: &str = "0123456789abcdef-viewer";

fn stack(token: Option<&str>) -> Observability {
    let mut b = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("intake-test")
        .prometheus_port(0u16)
        .enable_viewer(true)
        .schedule_delay(Duration::from_millis(20));
    if let Some(t) = token {
        b = b.viewer_token(t);
    }
    ObservabilityBuilder::new(b.build().unwrap())
        .logs(false)
        .build()
}

fn base(obs: &Observability) -> String {
    obs.report().viewer_url().expect("the viewer is served")
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A request with one trace from `service`: a root and a child, the child
/// failing.
fn request(service: &str, trace: [u8; 16]) -> ExportTraceServiceRequest {
    let span = |id: u8, parent: Option<u8>, name: &str, error: bool| Span {
        trace_id: trace.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(id) * 1_000_000,
        end_time_unix_nano: 1_700_000_000_050_000_000,
        attributes: vec![kv("order.items", any_value::Value::IntValue(3))],
        status: error.then(|| opentelemetry_proto::tonic::trace::v1::Status {
            message: "card declined".into(),
            code: 2,
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue(service.into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(1, None, "remote.order", false),
                    span(2, Some(1), "remote.charge", true),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post(
    url: &str,
    content_type: &str,
    gzip: bool,
    body: Vec<u8>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.body(body).send().await.unwrap()
}

fn gzipped(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Waits until `/api/runs?name=…` lists a run of `name`; returns it.
async fn run_named(base: &str, name: &str) -> Value {
    for _ in 0..300 {
        let body = get_json(&format!("{base}api/runs?name={name}")).await;
        if let Some(r) = body["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == name))
        {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no run {name} in the viewer");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_everything_but_the_login_form_needs_it() {
    let obs = stack(Some(TOKEN));
    let base = base(&obs);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "",
        "api/runs",
        "api/stats",
        "api/metrics",
        "dashboard",
        "traces/01010101010101010101010101010101",
    ] {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 401, "/{path}");
        assert!(res.headers().contains_key("www-authenticate"), "/{path}");
        let res = client
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 401, "/{path} with the token");
    }
    // A browser gets the login form with the 401.
    let res = client
        .get(&base)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("name=\"token\""));
    let res = post(
        &format!("{base}v1/traces"),
        "application/x-protobuf",
        false,
        request("x", [5; 16]).encode_to_vec(),
        None,
    )
    .await;
    assert_eq!(res.status(), 401);
    let res = post(
        &format!("{base}v1/traces"),
        "application/x-protobuf",
        false,
        request("x", [5; 16]).encode_to_vec(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!("{base}api/runs"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The login form: a wrong token gets the form again, the right one a
    // cookie that opens the API.
    let login = |token: &'static str| {
        client
            .post(format!("{base}login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    assert_eq!(login("nope").await.unwrap().status(), 401);
    let res = login(TOKEN).await.unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is a session, not the token"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let status = |path: &str, cookie: Option<&str>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(status("api/runs", Some(&pair)).await, 200);
    // The static assets and /metrics stay open.
    for open in [
        "assets/viewer.css",
        "assets/viewer.js",
        "metrics",
        "healthz",
    ] {
        assert_eq!(status(open, None).await, 200, "/{open}");
    }
    obs.shutdown(Duration::from_secs(5));
}

#[test]
fn a_viewer_beyond_loopback_needs_a_token() {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .prometheus_host("0.0.0.0")
        .enable_viewer(true)
        .build();
    let e = cfg.unwrap_err().to_string();
    assert!(e.contains("viewer_token") && e.contains("0.0.0.0"), "{e}");
    let short = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .viewer_token("tiny-x")
        .build();
    let e = short.unwrap_err().to_string();
    assert!(
        e.contains("viewer_token") && !e.contains("tiny-x"),
        "the token is never printed: {e}"
    );
    let ok = ObservabilityConfig::builder()
        .env(support::env(&[
            ("OBSERVABILITY_VIEWER_TOKEN", TOKEN),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ]))
        .enable_viewer(true)
        .build()
        .unwrap();
    assert!(!format!("{ok:?}").contains(TOKEN), "Debug hides the token");
    assert_eq!(ok.viewer_token.as_ref().map(|t| t.expose()), Some(TOKEN));
}
