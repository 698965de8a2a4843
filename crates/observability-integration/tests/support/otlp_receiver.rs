//! An OTLP receiver built on the official `opentelemetry-proto` Python
//! package (its generated gRPC services and protobuf messages), for metrics
//! and traces over gRPC and HTTP/protobuf: `otlp_receiver.py`.

use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Receiver {
    child: Child,
    out: std::path::PathBuf,
    pub grpc: u16,
    pub http: u16,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// Starts the receiver (`None`, after `backend_missing`, without the venv).
pub fn start_receiver() -> Option<Receiver> {
    let Some(python) = super::backend_python() else {
        super::backend_missing("opentelemetry-proto receiver (.backends/venv)");
        return None;
    };
    let (grpc, http) = (super::free_port(), super::free_port());
    let out = std::env::temp_dir().join(format!("otlp-{}-{grpc}.jsonl", std::process::id()));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/otlp_receiver.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(&out)
        .arg(grpc.to_string())
        .arg(http.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start receiver");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "READY", "receiver did not start");
    Some(Receiver {
        child,
        out,
        grpc,
        http,
    })
}

/// The metrics requests received over `transport` (`grpc` or `http`).
pub fn requests(r: &Receiver, transport: &str) -> Vec<Value> {
    received(r, transport, "metrics")
}

/// The requests of `signal` (`metrics` or `traces`) received over `transport`.
pub fn received(r: &Receiver, transport: &str, signal: &str) -> Vec<Value> {
    std::fs::read_to_string(&r.out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["transport"] == transport && v["signal"] == signal)
        .map(|v| v["request"].clone())
        .collect()
}
