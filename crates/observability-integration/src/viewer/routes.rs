//! The viewer's routes: the pages (`/`, `/traces/{id}`, `/dashboard`),
//! their assets, the JSON API they use (`/api/runs`, `/api/traces/{id}`,
//! `/api/traces/{id}/otlp`, `/api/stats`, `/api/metrics`), the OTLP/HTTP
//! intake (`POST /v1/traces`) and, with a token, `/login`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use opentelemetry::trace::TraceId;
use serde_json::json;

use super::detail::{self, TraceCopy};
use super::query::{self, RunFilter};
use super::store::Store;
use super::{access, intake, summary, Viewer};
use crate::prometheus::PrometheusMetrics;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/viewer.js");
const STYLE: &str = include_str!("assets/viewer.css");

/// Who may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hosts {
    /// Any `Host` header (the viewer mounted in the application's own app,
    /// or a server bound beyond loopback).
    Any,
    /// Only `localhost`, `127.0.0.1` and `[::1]`: a page elsewhere that
    /// points a DNS name at 127.0.0.1 (DNS rebinding) can't read the traces.
    Loopback,
}

/// Where the metrics page reads from: the registry `/metrics` serves,
/// once setup has made it, and the snapshots of earlier polls.
#[derive(Debug, Default)]
pub(crate) struct MetricsState {
    pub(crate) prometheus: std::sync::OnceLock<PrometheusMetrics>,
    history: summary::History,
}

pub(crate) type MetricsSource = Arc<MetricsState>;

/// The viewer's router.
pub(crate) fn router(viewer: &Viewer, hosts: Hosts) -> Router {
    let store = viewer.store.clone();
    let intake_route = Router::new()
        .route("/v1/traces", post(take_spans))
        .layer(DefaultBodyLimit::max(intake::MAX_BODY))
        .with_state(store.clone());
    let metrics_route = Router::new()
        .route("/api/metrics", get(metrics))
        .with_state(viewer.metrics.clone());
    let mut app = Router::new()
        .route("/", get(runs_page))
        .route("/traces/{id}", get(|| async { page("../") }))
        .route("/dashboard", get(|| async { page("./") }))
        .route(
            "/assets/viewer.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/viewer.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/runs", get(runs))
        .route("/api/stats", get(stats))
        .route("/api/traces/{id}", get(trace))
        .route("/api/traces/{id}/otlp", get(trace_otlp))
        .with_state(store)
        .merge(intake_route)
        .merge(metrics_route);
    if let Some(a) = &viewer.access {
        app = app
            .merge(
                Router::new()
                    .route("/login", get(access::login_form).post(access::login))
                    .with_state(a.clone()),
            )
            .layer(axum::middleware::from_fn_with_state(
                a.clone(),
                access::require,
            ));
    }
    let app = app.layer(axum::middleware::from_fn(headers));
    match hosts {
        Hosts::Any => app,
        Hosts::Loopback => app.layer(axum::middleware::from_fn(loopback_only)),
    }
}

/// The runs page. Nested under a prefix (`.nest("/viewer", …)`), axum
/// serves it at `/viewer`, without the slash, so its relative links are
/// based on that last segment.
async fn runs_page(OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    if path.ends_with('/') {
        return page("./");
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    let escaped: String = last
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    page(&format!("{escaped}/"))
}

/// The page shell; `base` makes its relative links work wherever the
/// router is mounted.
fn page(base: &str) -> Response {
    let html = INDEX.replace("{{BASE}}", base);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A refused request: its status and why.
type Refused = (StatusCode, String);

fn refused((status, message): Refused) -> Response {
    json_response(status, &json!({ "error": message }))
}

fn bad_request(message: String) -> Response {
    refused((StatusCode::BAD_REQUEST, message))
}

async fn runs(State(store): State<Arc<Store>>, req: Request) -> Response {
    let params: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let filter = match RunFilter::parse(&params) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let limit = filter.limit;
    let listed = off_runtime(move || {
        store.read(|inner| {
            let (rows, matched) = query::runs(inner, &filter);
            (rows, matched, inner.version)
        })
    })
    .await;
    match listed {
        Ok((rows, matched, version)) => json_response(
            StatusCode::OK,
            &json!({ "version": version, "matched": matched, "limit": limit, "runs": rows }),
        ),
        Err(r) => refused(r),
    }
}

/// Runs `f` (a scan or copy under the store's lock) on the blocking pool,
/// so a long read never holds the runtime's worker thread, which also
/// drives exports and scrapes.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refused> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the store failed: {e}"),
        )
    })
}

async fn stats(State(store): State<Arc<Store>>) -> Response {
    json_response(StatusCode::OK, &json!(store.stats()))
}

fn trace_id(id: &str) -> Result<TraceId, Refused> {
    (id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| TraceId::from_hex(id).ok())
        .flatten()
        .filter(|t| *t != TraceId::INVALID)
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("{id:?} is not a trace id: 32 lowercase hex digits"),
            )
        })
}

async fn copy(store: Arc<Store>, id: &str) -> Result<TraceCopy, Refused> {
    let tid = trace_id(id)?;
    off_runtime(move || {
        store.read(|inner| {
            inner
                .traces
                .get(&tid)
                .map(|t| TraceCopy::of(t, &inner.service))
        })
    })
        .await?
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no trace {id} in the viewer (never seen, or evicted to stay within viewer_max_bytes)"),
            )
        })
}

async fn trace(State(store): State<Arc<Store>>, Path(id): Path<String>) -> Response {
    match copy(store.clone(), &id).await {
        Ok(c) => json_response(StatusCode::OK, &detail::render(&id, c, &store.resource())),
        Err(r) => refused(r),
    }
}

async fn trace_otlp(State(store): State<Arc<Store>>, Path(id): Path<String>) -> Response {
    match copy(store.clone(), &id).await {
        Ok(c) => json_response(StatusCode::OK, &detail::otlp(c.spans, &store.resource())),
        Err(r) => refused(r),
    }
}

/// `POST /v1/traces`: decoding and storing run on the blocking pool.
async fn take_spans(State(store): State<Arc<Store>>, headers: HeaderMap, body: Bytes) -> Response {
    match off_runtime(move || intake::take(&store, &headers, &body)).await {
        Ok(r) => r,
        Err(r) => refused(r),
    }
}

/// `GET /api/metrics`: the metrics page's numbers.
async fn metrics(State(source): State<MetricsSource>) -> Response {
    let Some(prom) = source.prometheus.get().cloned() else {
        return json_response(
            StatusCode::OK,
            &json!({ "enabled": false, "why": "Prometheus metrics are off (enable_prometheus = false); the metrics page reads the registry /metrics serves" }),
        );
    };
    match off_runtime(move || source.history.summarize(&prom.encode_text())).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(r) => refused(r),
    }
}

/// What every viewer response carries: its own scripts and styles only,
/// never framed, no referrer, no content sniffing.
async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Whether `host` (a `Host` header value) names this machine's loopback.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    crate::config::is_loopback_name(name)
}

async fn loopback_only(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if is_loopback_host(host) {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "the viewer answers to localhost, 127.0.0.1 and [::1] only while its server binds loopback\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:9464",
            "127.0.0.1:9464",
            "[::1]:9464",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:9464",
            "10.0.0.1",
            "",
            "localhost.evil.example",
            "[::2]:1",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
