//! Exporters: OTLP (gRPC, HTTP/protobuf), console and counting exporters,
//! and the bridges that run every export on the integration's runtime with
//! a deadline and settle it into the accounting.

pub(crate) mod bridge;
mod console;
pub(crate) mod otlp;
pub(crate) mod tls;

pub use console::{ConsoleSpanExporter, CountingSpanExporter};
