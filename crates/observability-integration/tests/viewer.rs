//! The trace viewer over real HTTP: runs recorded with no exporter, the
//! JSON API (filters, a trace with its spans and log lines, OTLP/JSON),
//! errors that name the parameter, the loopback `Host` check, the pages'
//! security headers, and a router mounted in the application's own app.

mod support;

use std::time::Duration;

use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use primitives_core::{lambda, Error, Fallback, PrimitiveExt, Retry, WorkflowContext};
use serde_json::Value;
use support::Lines;
use tracing_subscriber::layer::SubscriberExt;

fn stack(max_bytes: usize) -> Observability {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("viewer-test")
        .prometheus_port(0u16)
        .enable_viewer(true)
        .viewer_max_bytes(max_bytes)
        .schedule_delay(Duration::from_millis(20))
        .max_queue_size(1usize << 16)
        .build()
        .unwrap();
    let lines = Lines::default();
    ObservabilityBuilder::new(cfg)
        .log_writer(move || lines.clone())
        .build()
}

async fn get(url: &str) -> (u16, Value) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Waits until `/api/runs` lists `n` runs.
async fn runs_listed(base: &str, n: usize) -> Value {
    for _ in 0..200 {
        let (_, body) = get(&format!("{base}api/runs")).await;
        if body["matched"].as_u64() == Some(n as u64) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the viewer never listed {n} runs");
}

#[tokio::test]
async fn runs_traces_and_logs_over_http() {
    let obs = stack(8 << 20);
    let report = obs.report().clone();
    assert!(report.all_live(), "{report}");
    let base = report.viewer_url().expect("viewer url");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let subscriber = tracing_subscriber::registry().with(obs.layer());
    let _sub = tracing::subscriber::set_default(subscriber);

    let flaky = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let f = flaky.clone();
    let step = lambda("flaky_step", move |x: u32| {
        let f = f.clone();
        async move {
            if f.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 0 {
                tracing::warn!(attempt_input = x, "flaky step failed once");
                Err(Error::with_error_type("transient", "first try fails"))
            } else {
                tracing::info!(x, "flaky step worked");
                Ok(x + 1)
            }
        }
    });
    let retried = Retry::new(step)
        .max_attempts(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .jitter(false)
        .named("retry_flaky");
    let primary = lambda("primary", |x: u32| async move {
        if x > 100 {
            Err(Error::with_error_type(
                "too_big",
                "primary refuses big inputs",
            ))
        } else {
            Ok(x)
        }
    });
    let backup = lambda("backup", |x: u32| async move {
        if x > 1000 {
            Err(Error::with_error_type(
                "too_big",
                "backup refuses huge inputs too",
            ))
        } else {
            Ok(x)
        }
    });
    let wf = (retried >> Fallback::new(primary, backup).named("pick"))
        .named("order")
        .into_workflow();
    let tel = obs.telemetry();
    for (i, input) in [1u32, 500, 5000].into_iter().enumerate() {
        let ctx = WorkflowContext::new()
            .with_telemetry(tel.clone())
            .with_correlation_id(format!("ord-{i}"));
        let _ = wf.run(&ctx, input).await;
    }

    let all = runs_listed(&base, 3).await;
    let rows = all["runs"].as_array().unwrap();
    // Newest first.
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["correlation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ord-2", "ord-1", "ord-0"]);
    for r in rows {
        assert_eq!(r["name"], "primitive.order");
        assert!(r["duration_ms"].as_f64().unwrap() > 0.0);
        assert!(r["span_count"].as_u64().unwrap() >= 4, "{r}");
        assert_eq!(r["trace_id"].as_str().unwrap().len(), 32);
        assert!(r["start"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(rows[0]["status"], "error");
    // Both failed: the fallback reports the primary's error.
    assert_eq!(rows[0]["error"], "primary refuses big inputs");
    assert_eq!(rows[1]["status"], "ok");

    // Filters.
    let count = |q: &str| {
        let url = format!("{base}api/runs?{q}");
        async move { get(&url).await.1["matched"].as_u64().unwrap() }
    };
    assert_eq!(count("status=error").await, 1);
    assert_eq!(count("status=ok").await, 2);
    assert_eq!(count("correlation_id=ord-1").await, 1);
    assert_eq!(count("correlation_id=ord").await, 0, "exact, not a prefix");
    assert_eq!(
        count("name=ORDER").await,
        3,
        "name is a case-insensitive substring"
    );
    assert_eq!(count("name=nothing").await, 0);
    assert_eq!(
        count("q=primary+refuses").await,
        2,
        "status messages are searched"
    );
    assert_eq!(
        count("q=flaky+step+worked").await,
        3,
        "log lines are searched"
    );
    assert_eq!(count("min_duration_ms=100000").await, 0);
    assert_eq!(count("min_duration_ms=0").await, 3);
    let (_, limited) = get(&format!("{base}api/runs?limit=1")).await;
    assert_eq!(limited["runs"].as_array().unwrap().len(), 1);
    assert_eq!(limited["matched"], 3);
    for (bad, names) in [
        ("status=weird", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("min_duration_ms=-3", "min_duration_ms"),
        ("colour=red", "colour"),
    ] {
        let (code, body) = get(&format!("{base}api/runs?{bad}")).await;
        assert_eq!(code, 400, "{bad}");
        assert!(
            body["error"].as_str().unwrap().contains(names),
            "{bad}: {body}"
        );
    }

    // One trace: every span with its parent in the trace, the retry and
    // fallback attributes, the log lines linked to spans of the trace.
    let failed = rows[0]["trace_id"].as_str().unwrap();
    let (code, t) = get(&format!("{base}api/traces/{failed}")).await;
    assert_eq!(code, 200);
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(spans.len() as u64, rows[0]["span_count"].as_u64().unwrap());
    let ids: std::collections::HashSet<&str> = spans
        .iter()
        .map(|s| s["span_id"].as_str().unwrap())
        .collect();
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s["parent_span_id"].is_null())
        .collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0]["name"], "primitive.order");
    for s in spans {
        if let Some(p) = s["parent_span_id"].as_str() {
            assert!(ids.contains(p), "orphan {s}");
        }
        assert!(s["start_ms"].as_f64().unwrap() >= 0.0);
    }
    let attempts: Vec<&Value> = spans
        .iter()
        .filter(|s| s["attributes"]["retry.attempt"].is_number())
        .collect();
    assert_eq!(attempts.len(), 2, "two attempts of the flaky step");
    assert!(spans
        .iter()
        .any(|s| s["attributes"]["fallback.role"] == "fallback"));
    let backup = spans
        .iter()
        .find(|s| s["name"] == "primitive.backup")
        .unwrap();
    assert_eq!(backup["status"], "error");
    assert_eq!(backup["status_message"], "backup refuses huge inputs too");
    assert!(backup["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "exception"));
    let logs = t["logs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l["message"] == "flaky step failed once"
        && l["level"] == "WARN"
        && l["fields"]["attempt_input"] == 5000));
    for l in logs {
        assert!(ids.contains(l["span_id"].as_str().unwrap()), "{l}");
    }
    let times: Vec<f64> = logs.iter().map(|l| l["at_ms"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // The same trace as OTLP/JSON.
    let (code, otlp) = get(&format!("{base}api/traces/{failed}/otlp")).await;
    assert_eq!(code, 200);
    let rs = &otlp["resourceSpans"][0];
    let service = rs["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "service.name")
        .unwrap();
    assert_eq!(service["value"]["stringValue"], "viewer-test");
    let otlp_spans: Vec<&Value> = rs["scopeSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["spans"].as_array().unwrap())
        .collect();
    assert_eq!(otlp_spans.len(), spans.len());
    assert!(otlp_spans.iter().all(|s| s["traceId"] == failed));
    otlp_json_is_an_export_request(&otlp, spans.len());

    // Unknown and malformed ids.
    let (code, body) = get(&format!("{base}api/traces/{}", "ab".repeat(16))).await;
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().contains("viewer_max_bytes"));
    let (code, _) = get(&format!("{base}api/traces/not-hex")).await;
    assert_eq!(code, 400);
    let (code, _) = get(&format!("{base}api/traces/{}", failed.to_uppercase())).await;
    assert_eq!(
        code, 400,
        "trace ids are lowercase, as the runs list gives them"
    );

    // The store's accounting.
    let (_, stats) = get(&format!("{base}api/stats")).await;
    assert_eq!(stats["traces"], 3);
    assert!(stats["bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["max_bytes"], 8 << 20);
    let v = obs.viewer().unwrap().stats();
    assert_eq!(
        v.evicted_ordinary + v.evicted_slow + v.evicted_expensive + v.evicted_failed,
        0
    );
    obs.shutdown(Duration::from_secs(5));
}

/// The official protobuf JSON parser (Python `opentelemetry-proto`) reads
/// the OTLP/JSON form as an `ExportTraceServiceRequest`: every field name
/// and type is one OTLP has. (It reads the hex ids OTLP/JSON uses as
/// base64, so the ids are checked above, not here.)
fn otlp_json_is_an_export_request(otlp: &Value, spans: usize) {
    let Some(python) = support::backend_python() else {
        support::backend_missing("the backends venv (opentelemetry-proto)");
        return;
    };
    let script = r#"
import json, sys
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
req = json_format.Parse(sys.stdin.read(), ExportTraceServiceRequest())
spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
assert all(s.start_time_unix_nano > 0 and s.end_time_unix_nano >= s.start_time_unix_nano for s in spans)
assert all(s.kind == 1 for s in spans), [s.kind for s in spans]
assert any(s.status.code == 2 for s in spans)
print(len(spans))
"#;
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", script]);
    let out = support::with_stdin(cmd, otlp.to_string().as_bytes());
    assert!(
        out.status.success(),
        "protobuf refused the OTLP/JSON: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        spans.to_string()
    );
}

#[tokio::test]
async fn pages_assets_headers_and_host_check() {
    let obs = stack(1 << 20);
    let base = obs.report().viewer_url().unwrap();
    let addr = obs.report().metrics_addr.unwrap();
    let client = reqwest::Client::new();
    for (path, kind) in [
        ("", "text/html"),
        ("traces/0123456789abcdef0123456789abcdef", "text/html"),
        ("assets/viewer.js", "text/javascript"),
        ("assets/viewer.css", "text/css"),
        ("api/runs", "application/json"),
    ] {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    let page = client
        .get(&base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<base href="./">"#) && page.contains("assets/viewer.js"));
    let trace_page = client
        .get(format!("{base}traces/0123456789abcdef0123456789abcdef"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(trace_page.contains(r#"<base href="../">"#));
    // Beside the viewer: metrics and health, and a 404 that says where.
    assert_eq!(
        client
            .get(format!("{base}metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let missing = client.get(format!("{base}nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let text = missing.text().await.unwrap();
    assert!(
        text.contains("/metrics") && text.contains("viewer"),
        "{text}"
    );
    // A name other than loopback (DNS rebinding) is refused; Prometheus,
    // which scrapes by whatever name, is not.
    for host in ["evil.example", &format!("attacker.example:{}", addr.port())] {
        let res = client
            .get(format!("{base}api/runs"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{host}");
    }
    for host in [
        format!("localhost:{}", addr.port()),
        format!("[::1]:{}", addr.port()),
    ] {
        let res = client
            .get(format!("{base}api/runs"))
            .header("host", host.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
    let scrape = client
        .get(format!("{base}metrics"))
        .header("host", "prometheus.internal:9464")
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    obs.shutdown(Duration::from_secs(5));
}

#[tokio::test]
async fn mounted_in_the_applications_own_router() {
    let obs = stack(1 << 20);
    let tel = obs.telemetry();
    let wf = lambda("mounted_step", |x: u8| async move { Ok::<_, Error>(x) }).into_workflow();
    let _ = wf.run(&WorkflowContext::new().with_telemetry(tel), 1).await;
    let app = axum::Router::new().nest("/debug/viewer", obs.viewer().unwrap().router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Nested, axum serves the runs page at the prefix without a slash: its
    // `<base>` must still lead to the assets and the API under the prefix.
    let runs_page = format!("http://{addr}/debug/viewer");
    let html = reqwest::get(&runs_page)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = html
        .split(r#"<base href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert_eq!(href, "viewer/");
    let resolved = url::Url::parse(&runs_page).unwrap().join(href).unwrap();
    for rel in ["assets/viewer.js", "assets/viewer.css", "api/runs"] {
        let res = reqwest::get(resolved.join(rel).unwrap()).await.unwrap();
        assert_eq!(res.status(), 200, "{rel} from the nested runs page");
    }
    let base = resolved.to_string();
    assert_eq!(base, format!("http://{addr}/debug/viewer/"));
    let listed = runs_listed(&base, 1).await;
    let id = listed["runs"][0]["trace_id"].as_str().unwrap().to_owned();
    let page = reqwest::get(format!("{base}traces/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<base href="../">"#));
    let js = reqwest::get(format!("{base}assets/viewer.js"))
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    // Mounted, it answers any host: the application's own access control
    // applies.
    let res = reqwest::Client::new()
        .get(format!("{base}api/runs"))
        .header("host", "app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    obs.shutdown(Duration::from_secs(5));
}

#[test]
fn viewer_on_by_environment_and_metrics_path_checked() {
    let build = |pairs: &[(&str, &str)]| {
        ObservabilityConfig::builder()
            .env(support::env(pairs))
            .build()
    };
    assert!(
        build(&[]).unwrap().viewer_enabled(),
        "development by default"
    );
    assert!(!build(&[("OBSERVABILITY_ENVIRONMENT", "production")])
        .unwrap()
        .viewer_enabled());
    assert!(build(&[
        ("OBSERVABILITY_ENVIRONMENT", "production"),
        ("OBSERVABILITY_ENABLE_VIEWER", "true")
    ])
    .unwrap()
    .viewer_enabled());
    assert!(!build(&[("OBSERVABILITY_ENABLE_VIEWER", "off")])
        .unwrap()
        .viewer_enabled());
    let size = build(&[("OBSERVABILITY_VIEWER_MAX_BYTES", "8MiB")]).unwrap();
    assert_eq!(size.viewer_max_bytes, 8 << 20);
    let e = build(&[("OBSERVABILITY_VIEWER_MAX_BYTES", "8 parsecs")]).unwrap_err();
    assert!(
        e.to_string().contains("OBSERVABILITY_VIEWER_MAX_BYTES"),
        "{e}"
    );
    let e = build(&[("OBSERVABILITY_VIEWER_MAX_BYTES", "1000")]).unwrap_err();
    assert!(e.to_string().contains("65536"), "{e}");
    for clash in ["/", "/api/metrics", "/v1/metrics", "/traces", "/assets/m"] {
        let e = build(&[("OBSERVABILITY_PROMETHEUS_ENDPOINT", clash)]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("prometheus_endpoint") && text.contains("enable_viewer"),
            "{clash}: {text}"
        );
        // Without the viewer these paths are the user's to take.
        build(&[
            ("OBSERVABILITY_PROMETHEUS_ENDPOINT", clash),
            ("OBSERVABILITY_ENABLE_VIEWER", "false"),
        ])
        .unwrap();
    }
}
