//! Shared by the viewer's intake and token tests: a stack with the viewer
//! on, OTLP requests built from the official protobuf types, posting,
//! reading the API.
#![allow(dead_code)]

use std::io::Write;
use std::time::Duration;

use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::Value;

pub(crate) const TOKEN: &str = "0123456789abcdef-viewer";

pub(crate) fn stack(token: Option<&str>) -> Observability {
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

pub(crate) fn base(obs: &Observability) -> String {
    obs.report().viewer_url().expect("the viewer is served")
}

pub(crate) fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A request with one trace from `service`: a root and a child, the child
/// failing.
pub(crate) fn request(service: &str, trace: [u8; 16]) -> ExportTraceServiceRequest {
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

pub(crate) async fn post(
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

pub(crate) fn gzipped(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Waits until `/api/runs?name=…` lists a run of `name`; returns it.
pub(crate) async fn run_named(base: &str, name: &str) -> Value {
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
