//! Arize Phoenix, a third-party OTLP trace receiver, started per test.
#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Phoenix {
    child: Child,
    pub grpc_port: u16,
    pub http_port: u16,
    _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Phoenix {
    /// Starts Phoenix on free loopback ports, or `None` when not installed
    /// (after `backend_missing`, which fails under CI=true).
    pub async fn start() -> Option<Phoenix> {
        let Some(python) = super::backend_python() else {
            super::backend_missing("arize-phoenix (.backends/venv)");
            return None;
        };
        let phoenix = python.with_file_name("phoenix");
        if !phoenix.exists() {
            super::backend_missing("arize-phoenix (.backends/venv/bin/phoenix)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "phoenix-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (grpc_port, http_port) = (super::free_port(), super::free_port());
        let child = Command::new(phoenix)
            .arg("serve")
            .env("PHOENIX_WORKING_DIR", &dir)
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http_port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start phoenix");
        let p = Phoenix {
            child,
            grpc_port,
            http_port,
            _dir: TempDir(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let up = reqwest::get(format!("http://127.0.0.1:{http_port}/healthz"))
                .await
                .is_ok_and(|r| r.status().is_success())
                && tokio::net::TcpStream::connect(("127.0.0.1", grpc_port))
                    .await
                    .is_ok();
            if up {
                return Some(p);
            }
            assert!(
                Instant::now() < deadline,
                "phoenix did not start within 90s"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The OTLP/HTTP base URL (Phoenix serves `/v1/traces` on its HTTP port).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Every stored span of the default project.
    pub async fn spans(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!(
                "http://127.0.0.1:{}/v1/projects/default/spans?limit=1000",
                self.http_port
            );
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            out.extend(body["data"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }

    /// Waits until `pred(spans)` holds, returning the spans.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans().await;
            if pred(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "phoenix: {what} not reached within {timeout:?}; have {} spans",
                spans.len()
            );
            if std::env::var("PHOENIX_DEBUG").is_ok() {
                eprintln!("waiting for {what}: {} spans", spans.len());
            }
            // Listing every span costs Phoenix CPU it needs for ingesting: poll gently.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        self.kill();
    }
}
