//! One request across services is one trace: a real axum server behind
//! `ObservabilityLayer` and a real reqwest client behind
//! `ObservabilityMiddleware`, over loopback HTTP. Span parents, the route
//! template, the correlation id and baggage across the hop, the duration
//! histograms on a real scrape, and hostile headers.

mod support;

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use observability_integration::http::{ObservabilityLayer, ObservabilityMiddleware, TracedContext};
use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use primitives_core::{lambda, lambda_with_context, Error, PrimitiveExt, WorkflowContext};
use support::{series_value, Collect};

fn setup(name: &str) -> (Observability, Collect) {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name(name)
        .prometheus_port(0u16)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    (obs, sink)
}

/// Service B: `/users/{id}` runs a workflow in the request's context and
/// answers with what it saw: correlation id, baggage, trace id.
async fn serve(obs: &Observability) -> std::net::SocketAddr {
    async fn user(Path(id): Path<u32>, TracedContext(ctx): TracedContext) -> String {
        let lookup = lambda(
            "handle_user",
            |id: u32| async move { Ok::<_, Error>(id * 2) },
        );
        let v = lookup.run(&ctx, id).await.unwrap();
        let tenant = ctx
            .baggage()
            .get("tenant")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let members = ctx.baggage().len();
        format!("{v} {} {tenant} {members}", ctx.correlation_id())
    }
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "no") }),
        )
        .layer(ObservabilityLayer::for_stack(obs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn attr<'a>(s: &'a SpanData, k: &str) -> Option<&'a Value> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == k)
        .map(|kv| &kv.value)
}

fn spans(obs: &Observability, sink: &Collect) -> Vec<SpanData> {
    assert!(obs.force_flush(Duration::from_secs(5)));
    sink.spans.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_across_a_real_http_hop() {
    let (server_obs, server_sink) = setup("service-b");
    let (client_obs, client_sink) = setup("service-a");
    let addr = serve(&server_obs).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ObservabilityMiddleware::for_stack(&client_obs))
        .build();
    let call = lambda_with_context("service_a", move |ctx: WorkflowContext, id: u32| {
        let client = client.clone();
        async move {
            let resp = client
                .get(format!("http://{addr}/users/{id}"))
                .with_extension(ctx.clone())
                .send()
                .await
                .map_err(|e| Error::with_error_type("http", e.to_string()))?;
            let echoed = resp
                .headers()
                .get("x-correlation-id")
                .map(|v| v.to_str().unwrap().to_owned());
            Ok::<_, Error>((echoed, resp.text().await.unwrap()))
        }
    });
    let ctx = WorkflowContext::new()
        .with_telemetry(client_obs.telemetry())
        .with_correlation_id("req-42")
        .with_baggage("tenant", "acme");
    let (echoed, body) = call.run(&ctx, 7).await.unwrap();
    assert_eq!(
        echoed.as_deref(),
        Some("req-42"),
        "the correlation id is echoed"
    );
    assert_eq!(
        body, "14 req-42 acme 1",
        "B saw A's correlation id and baggage"
    );

    let a = spans(&client_obs, &client_sink);
    let b = spans(&server_obs, &server_sink);
    let one = |all: &[SpanData], name: &str| -> SpanData {
        let found: Vec<_> = all.iter().filter(|s| s.name == name).cloned().collect();
        assert_eq!(
            found.len(),
            1,
            "{name}: {:?}",
            all.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        found[0].clone()
    };
    let root_a = one(&a, "primitive.service_a");
    let client_span = one(&a, "GET");
    let server_span = one(&b, "GET /users/{id}");
    let root_b = one(&b, "primitive.handle_user");
    let trace = root_a.span_context.trace_id();
    for s in [&client_span, &server_span, &root_b] {
        assert_eq!(
            s.span_context.trace_id(),
            trace,
            "{} in the same trace",
            s.name
        );
    }
    assert_eq!(client_span.parent_span_id, root_a.span_context.span_id());
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert!(server_span.parent_span_is_remote);
    assert_eq!(root_b.parent_span_id, server_span.span_context.span_id());
    assert_eq!(client_span.span_kind, SpanKind::Client);
    assert_eq!(server_span.span_kind, SpanKind::Server);
    assert_eq!(root_a.parent_span_id, SpanId::INVALID);
    // The route template, never the raw path.
    assert_eq!(
        attr(&server_span, "http.route")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("/users/{id}")
    );
    assert!(
        !format!("{:?}", server_span.attributes).contains("/users/7"),
        "no raw path: {:?}",
        server_span.attributes
    );
    assert_eq!(
        attr(&server_span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attr(&client_span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attr(&root_b, "workflow.correlation_id")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("req-42")
    );
    // Level 2: a new trace sets the random flag, and it crosses the hop.
    assert_eq!(root_a.span_context.trace_flags().to_u8() & 0x02, 0x02);
    assert_eq!(server_span.span_context.trace_flags().to_u8() & 0x02, 0x02);

    // Both duration histograms, on real scrapes.
    let text = support::scrape(server_obs.report().metrics_addr.unwrap(), None).await;
    assert_eq!(
        series_value(
            &text,
            "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/{id}\",url_scheme=\"http\"}"
        ),
        Some(1.0),
        "{text}"
    );
    support::promtool_accepts(&text);
    let text = support::scrape(client_obs.report().metrics_addr.unwrap(), None).await;
    let port = addr.port();
    assert_eq!(
        series_value(
            &text,
            &format!("http_client_request_duration_seconds_count{{http_request_method=\"GET\",http_response_status_code=\"200\",server_address=\"127.0.0.1\",server_port=\"{port}\",url_scheme=\"http\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    server_obs.shutdown(Duration::from_secs(2));
    client_obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_get_a_new_trace_or_the_valid_part() {
    let (obs, sink) = setup("service-b-hostile");
    let addr = serve(&obs).await;
    let client = reqwest::Client::new();
    let tp = "00-12345678901234567890123456789012-1234567890123456-01";
    let get = |headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        async move {
            let mut req = client.get(format!("http://{addr}/users/1"));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.send().await.unwrap();
            let id = resp
                .headers()
                .get("x-correlation-id")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap();
            (id, resp.text().await.unwrap())
        }
    };
    // A hostile correlation id is replaced; a valid one kept.
    for bad in ["a\tb", &"x".repeat(129), "a/b", "{\"x\":1}"] {
        let (id, _) = get(vec![("x-correlation-id", bad.to_owned())]).await;
        assert_ne!(id, bad);
        assert!(
            observability_integration::propagation::valid_correlation_id(&id),
            "{id}"
        );
    }
    let (id, _) = get(vec![("x-correlation-id", "ok-1".into())]).await;
    assert_eq!(id, "ok-1");
    // 65 baggage members: 64 arrive.
    let members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let (_, body) = get(vec![("baggage", members.join(","))]).await;
    assert!(body.ends_with(" 64"), "{body}");
    // Two traceparent fields: a new trace.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.append("traceparent", tp.parse().unwrap());
    headers.append("traceparent", tp.parse().unwrap());
    let resp = client
        .get(format!("http://{addr}/users/2"))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    // A valid one is continued; oversized, non-ASCII and truncated ones
    // start new traces.
    for v in [
        tp.to_owned(),
        format!("{tp}{}", "0".repeat(10_000)),
        "00-1234567890123456789012345678901é-1234567890123456-01".to_owned(),
        tp[..40].to_owned(),
    ] {
        let resp = client
            .get(format!("http://{addr}/users/3"))
            .header("traceparent", v.as_bytes())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    let all = spans(&obs, &sink);
    let servers: Vec<&SpanData> = all
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .collect();
    let continued = servers
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == "12345678901234567890123456789012")
        .count();
    assert_eq!(continued, 1, "only the one valid traceparent was continued");
    // A child of a remote parent keeps its random flag: off here (flags
    // 01), so the workflow root under the SERVER span has it off too.
    let root_b = all
        .iter()
        .find(|s| {
            s.name == "primitive.handle_user"
                && s.span_context.trace_id().to_string() == "12345678901234567890123456789012"
        })
        .unwrap();
    assert_eq!(root_b.span_context.trace_flags().to_u8(), 0x01);
    // A failing route: error.type on the span.
    let resp = client
        .get(format!("http://{addr}/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    let all = spans(&obs, &sink);
    let fail = all.iter().find(|s| s.name == "GET /fail").unwrap();
    assert_eq!(
        attr(fail, "error.type")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("502")
    );
    obs.shutdown(Duration::from_secs(2));
}
