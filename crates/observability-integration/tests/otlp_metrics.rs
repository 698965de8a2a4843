//! The OTLP metrics wire format, checked by a receiver built on the official
//! `opentelemetry-proto` Python package (its generated gRPC MetricsService
//! and protobuf messages): names, units, values and resource as sent, over
//! gRPC and HTTP/protobuf. Skips without the backends venv unless CI=true.

mod support;

use std::time::{Duration, Instant};

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, OtlpProtocol,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::otlp_receiver::{requests, start_receiver};

fn metric<'a>(req: &'a Value, name: &str) -> Option<&'a Value> {
    req["resourceMetrics"]
        .as_array()?
        .iter()
        .flat_map(|rm| rm["scopeMetrics"].as_array().into_iter().flatten())
        .flat_map(|sm| sm["metrics"].as_array().into_iter().flatten())
        .find(|m| m["name"] == name)
}

fn attrs(point: &Value) -> Vec<(String, String)> {
    point["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_owned(),
                kv["value"]["stringValue"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn resource_attr(req: &Value, key: &str) -> Option<String> {
    req["resourceMetrics"][0]["resource"]["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .and_then(|kv| kv["value"]["stringValue"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_arrive_over_grpc_and_http_as_sent() {
    let Some(receiver) = start_receiver() else {
        return;
    };
    for (protocol, endpoint, transport) in [
        (
            OtlpProtocol::Grpc,
            format!("http://127.0.0.1:{}", receiver.grpc),
            "grpc",
        ),
        (
            OtlpProtocol::HttpProtobuf,
            format!("http://127.0.0.1:{}", receiver.http),
            "http",
        ),
    ] {
        let cfg = ObservabilityConfig::builder()
            .env(EnvSource::None)
            .service_name(format!("metrics-{transport}"))
            .service_version("9.9.9")
            .environment("test")
            .otlp_endpoint(endpoint)
            .otlp_protocol(protocol)
            .enable_prometheus(false)
            .enable_viewer(false)
            .metrics_export_interval(Duration::from_secs(3600))
            .build()
            .unwrap();
        let obs = ObservabilityBuilder::new(cfg)
            .tracing(false)
            .logs(false)
            .build();
        assert!(obs.report().all_live(), "{}", obs.report());
        let step = lambda("measured", |x: u64| async move {
            if x % 4 == 0 {
                Err(Error::with_error_type("divisible", "divisible by four"))
            } else {
                Ok(x)
            }
        });
        for i in 0..12u64 {
            let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
            let _ = step.run(&ctx, i).await;
        }
        let shut = obs.shutdown(Duration::from_secs(10));
        assert!(shut.completed);

        let deadline = Instant::now() + Duration::from_secs(10);
        let req = loop {
            if let Some(r) = requests(&receiver, transport).into_iter().last() {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "no {transport} metrics request arrived"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            resource_attr(&req, "service.name").as_deref(),
            Some(format!("metrics-{transport}").as_str())
        );
        assert_eq!(
            resource_attr(&req, "service.version").as_deref(),
            Some("9.9.9")
        );
        assert_eq!(
            resource_attr(&req, "deployment.environment.name").as_deref(),
            Some("test")
        );

        let exec = metric(&req, "primitive_executions").expect("primitive_executions");
        assert_eq!(exec["unit"], "1");
        assert_eq!(exec["sum"]["isMonotonic"], true);
        let mut by_status = std::collections::BTreeMap::new();
        for p in exec["sum"]["dataPoints"].as_array().unwrap() {
            let a = attrs(p);
            assert!(
                a.contains(&("primitive".into(), "measured".into())),
                "{a:?}"
            );
            assert!(a.contains(&("type".into(), "lambda".into())), "{a:?}");
            let status = a.iter().find(|(k, _)| k == "status").unwrap().1.clone();
            let v: u64 = p["asInt"].as_str().unwrap().parse().unwrap();
            by_status.insert(status, v);
        }
        assert_eq!(by_status.get("ok"), Some(&9), "{transport}: {by_status:?}");
        assert_eq!(
            by_status.get("error"),
            Some(&3),
            "{transport}: {by_status:?}"
        );

        let dur = metric(&req, "primitive_duration").expect("primitive_duration");
        assert_eq!(dur["unit"], "s");
        let point = &dur["histogram"]["dataPoints"][0];
        assert_eq!(point["count"].as_str().unwrap(), "12");
        let bounds: Vec<f64> = point["explicitBounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_f64().unwrap())
            .collect();
        assert_eq!(bounds, primitives_core::semconv::DURATION_BUCKETS);

        let errors = metric(&req, "primitive_errors").expect("primitive_errors");
        let p = &errors["sum"]["dataPoints"][0];
        assert!(attrs(p).contains(&("error_type".into(), "divisible".into())));
        assert_eq!(p["asInt"].as_str().unwrap(), "3");

        let active = metric(&req, "primitive_active").expect("primitive_active");
        assert!(
            !active["sum"]["isMonotonic"].as_bool().unwrap_or(false),
            "an up-down counter is not monotonic"
        );
    }
}
