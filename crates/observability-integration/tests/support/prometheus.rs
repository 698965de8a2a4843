//! A real Prometheus server (Debian's `prometheus`), started on a free
//! loopback port with a 1 s scrape interval and exemplar storage.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: super::phoenix::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second (`None`, after
    /// `backend_missing`, without the binary).
    pub async fn start(target: std::net::SocketAddr) -> Option<Prometheus> {
        Self::start_with_rules(target, None).await
    }

    /// As [`start`](Self::start), evaluating the rules of `rules` (a rule
    /// file) every second too.
    pub async fn start_with_rules(
        target: std::net::SocketAddr,
        rules: Option<&std::path::Path>,
    ) -> Option<Prometheus> {
        let Some(bin) = which("prometheus") else {
            super::backend_missing("prometheus (Debian package prometheus)");
            return None;
        };
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("prom-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let rule_files = rules.map_or_else(String::new, |r| {
            format!("rule_files:\n  - '{}'\n", r.display())
        });
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            port,
            _dir: super::phoenix::TempDir(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !reqwest::get(format!("http://127.0.0.1:{port}/-/ready"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(p)
    }

    /// A `/api/v1` call's `data`.
    pub async fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let url = reqwest::Url::parse_with_params(
            &format!("http://127.0.0.1:{}{path}", self.port),
            params,
        )
        .unwrap();
        let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"].clone()
    }

    /// An instant query's single scalar result, if any.
    pub async fn query(&self, q: &str) -> Option<f64> {
        let data = self.api("/api/v1/query", &[("query", q.to_owned())]).await;
        let result = data["result"].as_array()?;
        let first = result.first()?;
        first["value"][1].as_str()?.parse().ok()
    }

    /// Waits (up to 30 s) until `q` evaluates to `want`.
    pub async fn wait_for(&self, q: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.query(q).await == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{q} never reached {want} (last {:?})",
                self.query(q).await
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

pub fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}
