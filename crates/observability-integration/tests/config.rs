//! Config layering (defaults < file < environment < code) and every
//! rejected value, with the error text asserted.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use observability_integration::config::Origin;
use observability_integration::{ConfigError, EnvSource, ObservabilityConfig, OtlpProtocol};
use support::env;

fn file(text: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(text)
}

mod tempfile_path {
    use std::path::PathBuf;
    pub(crate) struct TempFile(pub(crate) PathBuf);
    impl TempFile {
        pub(crate) fn new(text: &str) -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("obs-config-{}-{n}.toml", std::process::id()));
            std::fs::write(&p, text).unwrap();
            TempFile(p)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn build_err(b: observability_integration::ConfigBuilder) -> ConfigError {
    b.build().expect_err("config must be rejected")
}

#[test]
fn defaults_follow_the_spec() {
    let c = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .build()
        .unwrap();
    assert_eq!(c, ObservabilityConfig::default());
    assert_eq!(c.service_version, "1.0.0");
    assert_eq!(c.environment, "development");
    assert!(c.enable_prometheus);
    assert_eq!(c.prometheus_port, 9464);
    assert_eq!(c.prometheus_host, "127.0.0.1", "loopback by default");
    assert_eq!(c.prometheus_endpoint, "/metrics");
    assert_eq!(c.trace_sample_rate, 1.0);
    assert!(c.trace_parent_based);
    assert_eq!(c.log_level, "info");
    assert!(c.structured_logging && c.log_correlation && c.batch_span_processor);
    assert_eq!(c.max_export_batch_size, 512);
    assert_eq!(c.max_queue_size, 2048);
    assert_eq!(c.otlp_endpoint, None);
    assert_eq!(c.otlp_protocol, OtlpProtocol::Grpc);
}

#[test]
fn layers_file_then_env_then_code() {
    let f = file(
        r#"
service_name = "from-file"
service_version = "2.0.0"
environment = "staging"
prometheus_port = 9000
trace_sample_rate = 0.5
max_queue_size = 4096
otlp_protocol = "http/protobuf"
export_timeout_ms = 1500

[resource_attributes]
team = "ml"
"#,
    );
    let c = ObservabilityConfig::builder()
        .file(&f.0)
        .env(env(&[
            ("OTEL_SERVICE_NAME", "from-env"),
            ("PROMETHEUS_PORT", "9100"),
        ]))
        .prometheus_port(9200u16)
        .build()
        .unwrap();
    assert_eq!(c.service_name, "from-env", "env beats file");
    assert_eq!(c.service_version, "2.0.0", "file beats default");
    assert_eq!(c.environment, "staging");
    assert_eq!(c.prometheus_port, 9200, "code beats env");
    assert_eq!(c.trace_sample_rate, 0.5);
    assert_eq!(c.max_queue_size, 4096);
    assert_eq!(c.otlp_protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(c.export_timeout, Duration::from_millis(1500));
    assert_eq!(c.resource_attributes["team"], "ml");
}

#[test]
fn a_files_resource_attributes_set_the_fields_they_name() {
    let f = file(
        r#"
environment = "staging"

[resource_attributes]
"service.name" = "from-table"
"deployment.environment.name" = "prod"
team = "ml"
"#,
    );
    let c = ObservabilityConfig::builder()
        .file(&f.0)
        .env(env(&[]))
        .build()
        .unwrap();
    assert_eq!(c.service_name, "from-table");
    assert_eq!(c.environment, "staging", "the file's own key wins");
    assert_eq!(
        c.resource_attributes.len(),
        1,
        "{:?}",
        c.resource_attributes
    );
    assert_eq!(c.resource_attributes["team"], "ml");
}

#[test]
fn map_setters_merge_with_lower_layers() {
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("b".to_owned(), "2".to_owned());
    let c = ObservabilityConfig::builder()
        .env(env(&[("OTEL_RESOURCE_ATTRIBUTES", "a=1")]))
        .resource_attributes(extra)
        .build()
        .unwrap();
    assert_eq!(
        c.resource_attributes.len(),
        2,
        "{:?}",
        c.resource_attributes
    );
}

#[test]
fn otel_environment_variables() {
    let c = ObservabilityConfig::builder()
        .env(env(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=res-name,service.version=3.1,deployment.environment.name=prod,region=eu%2Cwest"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9999/custom"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret%20value,x-tenant=acme"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10000"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "9500"),
            ("PROMETHEUS_PORT", "9600"),
            ("OTEL_LOG_LEVEL", "debug"),
            ("RUST_LOG", "warn,my_app=debug"),
            ("OBSERVABILITY_LOG_CORRELATION", "false"),
            ("OBSERVABILITY_STRUCTURED_LOGGING", "false"),
            ("OBSERVABILITY_ENABLE_PROMETHEUS", "false"),
        ]))
        .build()
        .unwrap();
    assert_eq!(c.service_name, "res-name");
    assert_eq!(c.service_version, "3.1");
    assert_eq!(c.environment, "prod");
    assert_eq!(
        c.resource_attributes["region"], "eu,west",
        "percent-decoded"
    );
    assert_eq!(
        c.traces_url().unwrap(),
        "http://collector:4318/v1/traces",
        "base URL + signal path"
    );
    assert_eq!(
        c.metrics_url().unwrap(),
        "http://metrics:9999/custom",
        "signal-specific used as given"
    );
    assert_eq!(c.otlp_headers["api-key"], "secret value");
    assert_eq!(c.otlp_headers["x-tenant"], "acme");
    assert_eq!(c.export_timeout, Duration::from_millis(2500));
    assert!(c.trace_parent_based);
    assert_eq!(c.trace_sample_rate, 0.25);
    assert_eq!(c.max_queue_size, 10_000);
    assert_eq!(c.max_export_batch_size, 1000);
    assert_eq!(c.schedule_delay, Duration::from_millis(200));
    assert_eq!(c.prometheus_host, "0.0.0.0");
    assert_eq!(
        c.prometheus_port, 9500,
        "the OTel name wins over PROMETHEUS_PORT"
    );
    assert_eq!(c.sdk_log_level, "debug");
    assert_eq!(c.log_level, "warn,my_app=debug", "RUST_LOG wins");
    assert!(!c.log_correlation && !c.structured_logging && !c.enable_prometheus);

    let c = ObservabilityConfig::builder()
        .env(env(&[
            ("PROMETHEUS_PORT", "9600"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored"),
        ]))
        .build()
        .unwrap();
    assert_eq!(
        c.prometheus_port, 9600,
        "the Python original's alias alone works"
    );
    assert_eq!(
        c.service_name, "svc",
        "OTEL_SERVICE_NAME wins over the resource attribute"
    );

    let grpc = ObservabilityConfig::builder()
        .env(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4317",
        )]))
        .build()
        .unwrap();
    assert_eq!(grpc.traces_url().unwrap(), "http://collector:4317");

    for (sampler, rate, parent) in [
        ("always_on", 1.0, false),
        ("always_off", 0.0, false),
        ("parentbased_always_on", 1.0, true),
        ("parentbased_always_off", 0.0, true),
        ("traceidratio", 1.0, false),
    ] {
        let c = ObservabilityConfig::builder()
            .env(env(&[("OTEL_TRACES_SAMPLER", sampler)]))
            .build()
            .unwrap();
        assert_eq!(
            (c.trace_sample_rate, c.trace_parent_based),
            (rate, parent),
            "{sampler}"
        );
    }
    let off = ObservabilityConfig::builder()
        .env(env(&[("OTEL_SDK_DISABLED", "true")]))
        .build()
        .unwrap();
    assert!(off.sdk_disabled);
}

fn assert_rejects(e: ConfigError, field: &str, value: &str, origin: Origin, accepted_part: &str) {
    let text = e.to_string();
    assert_eq!(e.field, field, "{text}");
    assert_eq!(e.value, value, "{text}");
    assert_eq!(e.origin, origin, "{text}");
    assert!(e.accepted.contains(accepted_part), "{text}");
    assert!(
        text.contains(field) && text.contains(value) && text.contains(accepted_part),
        "{text}"
    );
}

fn env_origin(v: &str) -> Origin {
    Origin::Env(v.into())
}

#[test]
fn rejected_environment_values_name_variable_value_and_accepted_values() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "OTEL_TRACES_SAMPLER",
            "sometimes",
            "trace_sampler",
            "parentbased_traceidratio",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "otlp_protocol",
            "grpc, http/protobuf",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "udp",
            "otlp_protocol",
            "grpc, http/protobuf",
        ),
        (
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            "70000",
            "prometheus_port",
            "1..=65535",
        ),
        ("PROMETHEUS_PORT", "nine", "prometheus_port", "1..=65535"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "not a url",
            "otlp_endpoint",
            "http://host:port",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://collector:21",
            "otlp_endpoint",
            "http://host:port",
        ),
        (
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "-1",
            "max_queue_size",
            "positive whole number",
        ),
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "10s",
            "export_timeout",
            "milliseconds",
        ),
        (
            "OBSERVABILITY_LOG_CORRELATION",
            "maybe",
            "log_correlation",
            "true, false",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "novalue",
            "otlp_headers",
            "key=value",
        ),
        (
            "OTEL_EXPORTER_PROMETHEUS_HOST",
            "my host",
            "prometheus_host",
            "127.0.0.1",
        ),
        ("OTEL_LOG_LEVEL", "loud", "sdk_log_level", "warn"),
        (
            "OBSERVABILITY_PROMETHEUS_ENDPOINT",
            "metrics",
            "prometheus_endpoint",
            "/metrics",
        ),
    ];
    for (var, value, field, accepted) in cases {
        let e = build_err(ObservabilityConfig::builder().env(env(&[(var, value)])));
        assert_rejects(e, field, value, env_origin(var), accepted);
    }
    let e = build_err(ObservabilityConfig::builder().env(env(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ])));
    assert_rejects(
        e,
        "trace_sample_rate",
        "1.5",
        env_origin("OTEL_TRACES_SAMPLER_ARG"),
        "0.0..=1.0",
    );
    let e = build_err(ObservabilityConfig::builder().env(env(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
    ])));
    assert_rejects(
        e,
        "max_export_batch_size",
        "512",
        env_origin("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
        "1..=100",
    );
    let e = build_err(ObservabilityConfig::builder().env(env(&[("RUST_LOG", "info,[[[")])));
    assert_eq!(e.field, "log_level");
    assert_eq!(e.origin, env_origin("RUST_LOG"));
}

#[test]
fn rejected_code_and_file_values() {
    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .trace_sample_rate(-0.1),
    );
    assert_rejects(e, "trace_sample_rate", "-0.1", Origin::Code, "0.0..=1.0");

    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .otlp_endpoint("http://localhost:4317")
            .batch_span_processor(false),
    );
    assert_rejects(
        e.clone(),
        "batch_span_processor",
        "false",
        Origin::Code,
        "true with OTLP",
    );
    assert!(e.problem.contains("one request per span"), "says why: {e}");
    // Unbatched export is fine with the console exporter.
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_console_exporter(true)
        .batch_span_processor(false)
        .build()
        .unwrap();

    let f = file("prometheus_port = 123456\n");
    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .file(&f.0),
    );
    assert_rejects(
        e,
        "prometheus_port",
        "123456",
        Origin::File(f.0.clone()),
        "1..=65535",
    );

    let f = file("sample_rate = 0.5\n");
    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .file(&f.0),
    );
    assert_eq!(e.problem, "unknown key");
    assert!(
        e.accepted.contains("trace_sample_rate"),
        "lists the accepted keys: {e}"
    );

    let f = file("service_name = [1, 2]\n");
    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .file(&f.0),
    );
    assert!(e.problem.contains("array"), "{e}");

    let f = file("this is not toml");
    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .file(&f.0),
    );
    assert!(e.problem.contains("not valid TOML"), "{e}");

    let e = build_err(
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .file("/nonexistent/obs.toml"),
    );
    assert!(e.problem.contains("cannot read"), "{e}");

    let mut c = ObservabilityConfig::default();
    c.max_queue_size = 0;
    let e = c.validate().unwrap_err();
    assert_eq!(e.field, "max_queue_size");
}

#[test]
fn env_var_table_covers_every_variable_read() {
    let names: BTreeMap<_, _> = observability_integration::config::FIELDS
        .iter()
        .flat_map(|f| {
            f.env
                .iter()
                .map(move |v| (v.split(':').next().unwrap(), f.name))
        })
        .collect();
    for required in [
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_SDK_DISABLED",
        "OTEL_EXPORTER_PROMETHEUS_HOST",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
        "PROMETHEUS_PORT",
        "OTEL_LOG_LEVEL",
        "RUST_LOG",
        "OBSERVABILITY_LOG_CORRELATION",
        "OBSERVABILITY_STRUCTURED_LOGGING",
        "OBSERVABILITY_ENABLE_PROMETHEUS",
    ] {
        assert!(names.contains_key(required), "{required} documented");
    }
}

/// `docs/configuration.md` holds the tables the field table renders; run
/// with `UPDATE_DOCS=1` to rewrite them after changing a field.
#[test]
fn the_configuration_doc_is_the_field_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (start, end) = ("<!-- fields:start -->\n", "<!-- fields:end -->");
    let (Some(a), Some(b)) = (doc.find(start), doc.find(end)) else {
        panic!("{path} lacks the {start:?} and {end:?} markers");
    };
    let expected = observability_integration::config::markdown_tables();
    let current = &doc[a + start.len()..b];
    if current != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..a + start.len()], &doc[b..]);
            std::fs::write(path, updated).unwrap();
        } else {
            panic!(
                "docs/configuration.md's tables differ from the field table; rerun with UPDATE_DOCS=1 to regenerate\n--- expected ---\n{expected}"
            );
        }
    }
    for field in observability_integration::config::FIELDS {
        assert!(
            !field.doc.is_empty() && !field.file_key.is_empty(),
            "{}",
            field.name
        );
    }
}
