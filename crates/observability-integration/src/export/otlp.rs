//! OTLP exporters (gRPC and HTTP/protobuf), built on the integration's
//! runtime, and the setup probe of their endpoints.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::trace::SpanExporter;

use crate::accounting::MetricExportStats;
use crate::config::{ObservabilityConfig, OtlpProtocol};
use crate::runtime::ObsRuntime;

/// How long setup waits for an exporter to be built and an endpoint probed.
pub(crate) const SETUP_DEADLINE: Duration = Duration::from_secs(5);

/// The exporter's name in the status report.
pub(crate) fn otlp_name(p: OtlpProtocol) -> String {
    match p {
        OtlpProtocol::Grpc => "otlp-grpc".into(),
        OtlpProtocol::HttpProtobuf => "otlp-http".into(),
    }
}

/// A TCP connect to the endpoint's host and port and, for `https`, a TLS
/// handshake with the certificates exports will trust, bounded: tells a
/// user at setup that nothing is listening or that TLS fails, instead of
/// letting exports fail quietly.
pub(crate) fn probe(
    rt: &ObsRuntime,
    url: &str,
    protocol: OtlpProtocol,
    certificate: Option<&str>,
) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("no host")?.to_owned();
    let port = parsed.port_or_known_default().ok_or("no port")?;
    let tls = match parsed.scheme() {
        "https" => Some(super::tls::client_config(certificate, alpn(protocol))?),
        _ => None,
    };
    let result = rt.run_blocking(SETUP_DEADLINE, async move {
        let stream = match tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("connect timed out after 2s".to_owned()),
        };
        match tls {
            Some(config) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                super::tls::handshake(stream, host, config, Duration::from_secs(2)).await
            }
            None => Ok(()),
        }
    });
    result.unwrap_or_else(|| Err("probe did not finish".into()))
}

/// The ALPN protocols a protocol's client offers.
fn alpn(protocol: OtlpProtocol) -> &'static [&'static [u8]] {
    match protocol {
        OtlpProtocol::Grpc => &[b"h2"],
        OtlpProtocol::HttpProtobuf => &[b"http/1.1"],
    }
}

/// Builds an OTLP exporter (`SpanExporter` or `MetricExporter` builder) for
/// the configured protocol, on our runtime: tonic and hyper start their
/// workers on the runtime that builds them.
macro_rules! build_otlp {
    ($rt:expr, $cfg:expr, $url:expr, $cert:expr, $builder:expr, $what:literal) => {{
        #[allow(unused_imports)]
        use opentelemetry_otlp::WithExportConfig;
        let (url, timeout, headers, protocol) = (
            $url.to_owned(),
            $cfg.export_timeout,
            $cfg.otlp_headers.clone(),
            $cfg.otlp_protocol,
        );
        let https = url.starts_with("https://");
        let cert: Option<String> = $cert.map(str::to_owned);
        let built = $rt.run_blocking(
            SETUP_DEADLINE,
            futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async move {
                let b = $builder;
                match protocol {
                    #[cfg(feature = "otlp-grpc")]
                    OtlpProtocol::Grpc => {
                        use opentelemetry_otlp::WithTonicConfig;
                        let mut b = b
                            .with_tonic()
                            .with_endpoint(url)
                            .with_timeout(timeout)
                            .with_metadata(metadata(&headers)?);
                        if https {
                            b = b.with_tls_config(grpc_tls(cert.as_deref())?);
                        }
                        b.build().map_err(|e| e.to_string())
                    }
                    #[cfg(feature = "otlp-http")]
                    OtlpProtocol::HttpProtobuf => {
                        use opentelemetry_otlp::WithHttpConfig;
                        b.with_http()
                            .with_endpoint(url)
                            .with_timeout(timeout)
                            .with_headers(headers.into_iter().collect())
                            .with_http_client(http_client(cert.as_deref(), timeout)?)
                            .build()
                            .map_err(|e| e.to_string())
                    }
                    #[allow(unreachable_patterns)]
                    other => Err(format!(
                        "protocol {} not compiled in (enable the crate feature)",
                        other.as_str()
                    )),
                }
            })),
        );
        match built {
            None => Err(concat!("building the OTLP ", $what, " exporter timed out").to_owned()),
            Some(Err(_)) => Err(concat!(
                "building the OTLP ",
                $what,
                " exporter panicked (a bug: please report it)"
            )
            .to_owned()),
            Some(Ok(result)) => result,
        }
    }};
}

/// The OTLP span exporter for `url`.
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub(crate) fn build_otlp_spans(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    url: &str,
) -> Result<impl SpanExporter + 'static, String> {
    let exporter = build_otlp!(
        rt,
        cfg,
        url,
        cfg.traces_certificate(),
        opentelemetry_otlp::SpanExporter::builder(),
        "span"
    )?;
    Ok(exporter)
}

/// The OTLP metric reader for `url`: a periodic reader over the bridged
/// exporter.
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub(crate) fn build_otlp_metrics(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    url: &str,
    stats: Arc<MetricExportStats>,
) -> Result<impl MetricReader, String> {
    use opentelemetry_sdk::metrics::PeriodicReader;

    use super::bridge::BridgeMetricExporter;

    let exporter = build_otlp!(
        rt,
        cfg,
        url,
        cfg.metrics_certificate(),
        opentelemetry_otlp::MetricExporter::builder(),
        "metric"
    )?;
    let bridged = BridgeMetricExporter::new(exporter, rt.clone(), stats, cfg.export_timeout);
    Ok(PeriodicReader::builder(bridged)
        .with_interval(cfg.metrics_export_interval)
        .build())
}

#[cfg(feature = "otlp-grpc")]
fn metadata(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<tonic::metadata::MetadataMap, String> {
    let mut md = tonic::metadata::MetadataMap::new();
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("otlp header name {k:?} is not a valid gRPC metadata key"))?;
        let value = v.parse().map_err(|_| {
            format!("otlp header {k:?} has a value that is not valid gRPC metadata")
        })?;
        md.insert(key, value);
    }
    Ok(md)
}

#[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
const NOT_COMPILED: &str =
    "OTLP support not compiled in: enable the `otlp-grpc` or `otlp-http` feature";

#[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
pub(crate) fn build_otlp_spans(
    _: &ObsRuntime,
    _: &ObservabilityConfig,
    _: &str,
) -> Result<super::CountingSpanExporter, String> {
    Err(NOT_COMPILED.into())
}

#[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
pub(crate) fn build_otlp_metrics(
    _: &ObsRuntime,
    _: &ObservabilityConfig,
    _: &str,
    _: Arc<MetricExportStats>,
) -> Result<opentelemetry_sdk::metrics::ManualReader, String> {
    Err(NOT_COMPILED.into())
}

/// gRPC TLS: the system roots plus the user's certificate file.
#[cfg(feature = "otlp-grpc")]
fn grpc_tls(cert: Option<&str>) -> Result<tonic::transport::ClientTlsConfig, String> {
    let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
    if let Some(path) = cert {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
    }
    Ok(tls)
}

/// The HTTP client: hyper over rustls (ring) with the system roots plus
/// the user's certificate file; plain `http://` URLs stay plain.
#[cfg(feature = "otlp-http")]
fn http_client(
    cert: Option<&str>,
    timeout: Duration,
) -> Result<
    opentelemetry_http::hyper::HyperClient<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    >,
    String,
> {
    // No ALPN here: the connector sets it (http/1.1).
    let tls = super::tls::client_config(cert, &[])?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(opentelemetry_http::hyper::HyperClient::new(
        connector, timeout, None,
    ))
}
