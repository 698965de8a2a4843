//! One request across services is one trace: a tower layer for HTTP
//! servers ([`ObservabilityLayer`], axum and any tower HTTP service) and a
//! reqwest middleware for clients ([`ObservabilityMiddleware`]), both
//! carrying W3C trace context, baggage and the correlation id
//! ([`crate::propagation`]), with the HTTP semantic conventions' spans and
//! duration histograms. Feature `http` (on by default).
//!
//! Neither copies user data into spans or labels: the server records the
//! route template (`/users/{id}`), never the raw path; the client records
//! the server's address and port, never the URL's path or query.

mod client;
mod instruments;
mod server;

pub use client::ObservabilityMiddleware;
pub use server::{ObservabilityLayer, ObservabilityService, TracedContext};

/// Attribute and instrument names (HTTP semantic conventions).
pub mod names {
    /// `GET`, `POST`, … (`_OTHER` for anything else).
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// The matched route template, e.g. `/users/{id}`.
    pub const HTTP_ROUTE: &str = "http.route";
    /// The response status code.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// `http` or `https`.
    pub const URL_SCHEME: &str = "url.scheme";
    /// The server's host name.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// The server's port.
    pub const SERVER_PORT: &str = "server.port";
    /// A status code of 500 and above (server) or 400 and above (client),
    /// or the transport error's kind.
    pub const ERROR_TYPE: &str = "error.type";
    /// Histogram (s): server request duration.
    pub const SERVER_DURATION: &str = "http.server.request.duration";
    /// Histogram (s): client request duration.
    pub const CLIENT_DURATION: &str = "http.client.request.duration";
}

/// The HTTP semantic conventions' duration buckets (s).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The method as the conventions record it: the known ones as is,
/// anything else `_OTHER` (bounded cardinality).
pub(crate) fn method_name(m: &::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    }
}
