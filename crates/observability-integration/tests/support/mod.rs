//! Shared helpers: backends, ports, exporters for fault tests.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// An environment of exactly these variables.
pub fn env(pairs: &[(&str, &str)]) -> observability_integration::EnvSource {
    observability_integration::EnvSource::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The value of the series written exactly as `series` (name and sorted
/// labels) in an exposition, if served.
pub fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len() + 1..].split(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `GET /metrics` on `addr` over real HTTP, with `accept` as the Accept
/// header if given; the body of a successful answer.
pub async fn scrape(addr: std::net::SocketAddr, accept: Option<&str>) -> String {
    let mut req = reqwest::Client::new().get(format!("http://{addr}/metrics"));
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.text().await.unwrap()
}

/// `promtool check metrics` on `text`: panics with promtool's words when it
/// rejects it (after `backend_missing` without promtool).
pub fn promtool_accepts(text: &str) {
    let Some(promtool) = prometheus::which("promtool") else {
        backend_missing("promtool (Debian package prometheus)");
        return;
    };
    let mut cmd = std::process::Command::new(promtool);
    cmd.args(["check", "metrics"]);
    let out = with_stdin(cmd, text.as_bytes());
    assert!(
        out.status.success(),
        "promtool rejected the text:\n{}\n{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` with `input` on its stdin; its output once it exits.
pub fn with_stdin(mut cmd: std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Under CI=true a missing backend fails the test; otherwise it skips.
pub fn backend_missing(what: &str) {
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("backend {what} is required under CI=true but was not found; run scripts/install-backends.sh");
    }
    eprintln!(
        "SKIPPED: backend {what} not found (run scripts/install-backends.sh, or ./scripts/test.sh)"
    );
}

/// The Python of the backends venv, if installed.
pub fn backend_python() -> Option<PathBuf> {
    let p = workspace_root().join(".backends/venv/bin/python");
    p.exists().then_some(p)
}

/// An exporter that stores spans, optionally slowly.
#[derive(Debug, Clone, Default)]
pub struct Collect {
    pub spans: Arc<Mutex<Vec<SpanData>>>,
    pub delay: Duration,
}

impl SpanExporter for Collect {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let spans = self.spans.clone();
        let delay = self.delay;
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            spans.lock().unwrap().extend(batch);
            Ok(())
        }
    }
}

/// An exporter that never answers.
#[derive(Debug, Clone, Default)]
pub struct Stall {
    pub calls: Arc<AtomicU64>,
}

impl SpanExporter for Stall {
    fn export(
        &self,
        _batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending()
    }
}
pub mod chat;
pub mod cross_service;
pub mod fault_proxy;
pub mod otlp_receiver;
pub mod phoenix;
pub mod prometheus;
pub mod tls_proxy;

/// A log writer that keeps what was written, for `log_writer(move || lines.clone())`.
#[derive(Clone, Default)]
pub struct Lines(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The official Prometheus Python client's parsers, in one long-lived
/// process: reads our expositions back in both formats.
pub struct ExpositionParser {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ExpositionParser {
    /// Starts the parser (`None`, after `backend_missing`, without the venv).
    pub fn start() -> Option<ExpositionParser> {
        let Some(python) = backend_python() else {
            backend_missing("the backends venv (prometheus-client parser)");
            return None;
        };
        let script = workspace_root()
            .join("crates/observability-integration/tests/support/parse_exposition.py");
        let mut child = std::process::Command::new(python)
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the exposition parser");
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        Some(ExpositionParser {
            child,
            stdin,
            stdout,
        })
    }

    /// Parses `body` as `openmetrics` or `text` (0.0.4): the number of
    /// samples, or the parser's complaint.
    pub fn parse(&mut self, openmetrics: bool, body: &str) -> Result<usize, String> {
        use std::io::{BufRead, Write};
        let fmt = if openmetrics { "openmetrics" } else { "text" };
        write!(self.stdin, "{fmt} {}\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        match answer.trim_end().split_once(' ') {
            Some(("ok", n)) => Ok(n.parse().unwrap()),
            Some(("err", e)) => Err(e.to_owned()),
            _ => panic!("parser answered {answer:?}"),
        }
    }
}

impl Drop for ExpositionParser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
