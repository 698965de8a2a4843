//! The main demo seen in a real headless Chromium: `examples/full_stack`
//! runs its four requests and keeps serving; the runs page lists them,
//! filtering by `req-3` leaves the failed run, and its trace page shows
//! exactly the spans `/api/traces/{id}` returns, the failing step's error
//! and the run's log lines; the metrics page shows the demo's primitives
//! with the percentiles `/api/metrics` computes. Screenshots go to
//! `target/viewer-screenshots/`. Then SIGTERM stops the demo cleanly. A
//! second demo with `OBSERVABILITY_VIEWER_TOKEN` answers 401 without the
//! token and opens after the login form.

mod support;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use webdriver::Browser;

/// The demo process, killed if the test ends without stopping it.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo_binary() -> Option<std::path::PathBuf> {
    let p = support::workspace_root().join("target/debug/examples/full_stack");
    if p.exists() {
        Some(p)
    } else {
        support::backend_missing("the full_stack example (cargo build --example full_stack)");
        None
    }
}

async fn api(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Starts the demo on a free port (with `token` as its viewer token);
/// returns it, its stderr reader and the viewer URL once it serves.
fn start_demo(
    bin: &std::path::Path,
    token: Option<&str>,
) -> (Demo, std::thread::JoinHandle<String>, String) {
    let port = support::free_port();
    let mut cmd = Command::new(bin);
    if let Some(t) = token {
        cmd.env("OBSERVABILITY_VIEWER_TOKEN", t);
    } else {
        cmd.env_remove("OBSERVABILITY_VIEWER_TOKEN");
    }
    let mut demo = Demo(
        cmd.env("OTEL_EXPORTER_PROMETHEUS_PORT", port.to_string())
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OBSERVABILITY_ENVIRONMENT")
            .env_remove("OBSERVABILITY_ENABLE_VIEWER")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start full_stack"),
    );
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = BufReader::new(demo.0.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = format!("http://127.0.0.1:{port}/");
    let mut printed = false;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo printed no 'Serving until' line");
        printed |= line.contains(&format!("open {url}"));
        if line.contains("Serving until Ctrl-C or SIGTERM") {
            break;
        }
    }
    assert!(printed, "the demo did not print the viewer URL first");
    (demo, reader, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_a_real_browser() {
    let Some(bin) = demo_binary() else { return };
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (mut demo, reader, url) = start_demo(&bin, None);

    // The API first: four runs, req-3 failed.
    let mut runs = Value::Null;
    for _ in 0..100 {
        runs = api(&format!("{url}api/runs")).await;
        if runs["matched"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs["matched"], 4, "{runs}");
    let by_cid = |cid: &str| {
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["correlation_id"] == cid)
            .unwrap_or_else(|| panic!("no run {cid}"))
            .clone()
    };
    let failed = by_cid("req-3");
    assert_eq!(failed["status"], "error");
    let failed_id = failed["trace_id"].as_str().unwrap().to_owned();

    // The runs page.
    let shots = support::workspace_root().join("target/viewer-screenshots");
    browser.goto(&url).await;
    let rows = browser.wait_for("#runs tr.run", |n| n == 4).await;
    let mut cids = Vec::new();
    for row in &rows {
        cids.push(browser.attr(row, "data-trace-id").await.unwrap());
    }
    let api_ids: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(cids, api_ids, "the page lists the API's runs in its order");
    let table = browser.find_all("table.runs").await;
    let text = browser.text(&table[0]).await;
    for cid in ["req-0", "req-1", "req-2", "req-3"] {
        assert!(text.contains(cid), "{cid} not on the runs page:\n{text}");
    }
    assert!(text.contains("error") && text.contains("ok"));
    browser.screenshot(&shots.join("runs.png")).await;

    // Filter by req-3.
    let field = browser.find_all("#f-correlation_id").await;
    browser.type_into(&field[0], "req-3").await;
    let submit = browser.find_all("#filters button[type=submit]").await;
    browser.click(&submit[0]).await;
    let rows = browser.wait_for("#runs tr.run", |n| n == 1).await;
    assert_eq!(
        browser.attr(&rows[0], "data-trace-id").await.as_deref(),
        Some(failed_id.as_str())
    );
    assert!(browser.url().await.contains("correlation_id=req-3"));

    // Its trace page: exactly the API's spans, the error, the log lines.
    let link = browser.find_all("#runs tr.run a.run-link").await;
    browser.click(&link[0]).await;
    let trace = api(&format!("{url}api/traces/{failed_id}")).await;
    let spans = trace["spans"].as_array().unwrap();
    let rows = browser
        .wait_for("#waterfall .span-row", |n| n == spans.len())
        .await;
    assert!(browser
        .url()
        .await
        .ends_with(&format!("traces/{failed_id}")));
    let mut page_ids = Vec::new();
    for row in &rows {
        page_ids.push(browser.attr(row, "data-span-id").await.unwrap());
    }
    let mut want: Vec<String> = spans
        .iter()
        .map(|s| s["span_id"].as_str().unwrap().to_owned())
        .collect();
    let mut got = page_ids.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "the waterfall shows exactly the API's spans");
    for (row, id) in rows.iter().zip(&page_ids) {
        let span = spans.iter().find(|s| s["span_id"] == id.as_str()).unwrap();
        let text = browser.text(row).await;
        assert!(
            text.contains(span["name"].as_str().unwrap()),
            "row {id}: {text}"
        );
    }
    let step = spans
        .iter()
        .find(|s| s["name"] == "primitive.input_validator")
        .expect("the failing step");
    let error = step["status_message"].as_str().unwrap();
    assert_eq!(error, "the prompt is empty");
    let errors = browser.find_all(".span-row .span-error").await;
    let mut error_texts = Vec::new();
    for e in &errors {
        error_texts.push(browser.text(e).await);
    }
    assert!(error_texts.iter().any(|t| t == error), "{error_texts:?}");
    let detail = browser.find_all("#span-detail").await;
    assert_eq!(
        browser.attr(&detail[0], "data-span-id").await.as_deref(),
        step["span_id"].as_str(),
        "the failing step is selected"
    );
    let logs = trace["logs"].as_array().unwrap();
    assert!(logs
        .iter()
        .any(|l| l["message"] == "rejecting a blank prompt"));
    let log_rows = browser.wait_for("#logs tr.log", |n| n == logs.len()).await;
    for (row, log) in log_rows.iter().zip(logs) {
        let text = browser.text(row).await;
        assert!(
            text.contains(log["message"].as_str().unwrap()),
            "log line out of place: {text}"
        );
        assert_eq!(
            browser.attr(row, "data-span-ref").await.as_deref(),
            log["span_id"].as_str()
        );
    }
    browser.screenshot(&shots.join("trace-failed.png")).await;

    // A richer trace (router, timeout, cache miss) for the docs.
    let routed = by_cid("req-2");
    browser
        .goto(&format!(
            "{url}traces/{}",
            routed["trace_id"].as_str().unwrap()
        ))
        .await;
    let n = routed["span_count"].as_u64().unwrap() as usize;
    let rows = browser.wait_for("#waterfall .span-row", |c| c == n).await;
    let mut all = String::new();
    for row in &rows {
        all.push_str(&browser.text(row).await);
        all.push('\n');
    }
    for badge in ["route: quality", "cache miss"] {
        assert!(all.contains(badge), "no {badge:?} in:\n{all}");
    }
    browser.screenshot(&shots.join("trace.png")).await;

    // The metrics page: the demo's primitives with their percentiles.
    let metrics = api(&format!("{url}api/metrics")).await;
    let prims = metrics["primitives"].as_array().unwrap();
    assert!(prims.len() >= 3, "{metrics}");
    browser.goto(&format!("{url}dashboard")).await;
    let rows = browser
        .wait_for("#metrics-primitives tbody tr", |n| n == prims.len())
        .await;
    let table = browser.find_all("#metrics-primitives").await;
    let text = browser.text(&table[0]).await;
    for h in ["p50", "p95", "p99", "error rate"] {
        assert!(text.contains(h), "no {h} column:\n{text}");
    }
    for p in prims {
        assert!(
            text.contains(p["primitive"].as_str().unwrap()),
            "{p} missing:\n{text}"
        );
        assert!(p["p95_ms"].as_f64().is_some_and(|v| v > 0.0), "{p}");
    }
    let validator = rows.len();
    assert!(validator > 0);
    let first = browser.text(&rows[0]).await;
    assert!(
        first.contains(" ms") || first.contains(" s"),
        "percentiles shown: {first}"
    );
    let workflows = browser.find_all("#metrics-workflows tbody tr").await;
    assert!(!workflows.is_empty(), "runs per workflow shown");
    // After 5 s of polling the page shows the last minute's figures.
    let info = browser.find_all("#metrics-info").await;
    let mut said = String::new();
    for _ in 0..40 {
        said = browser.text(&info[0]).await;
        if said.contains("over the last") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(said.contains("over the last"), "no window: {said}");
    let rows = browser.find_all("#metrics-primitives tbody tr").await;
    assert_eq!(rows.len(), prims.len());
    browser.screenshot(&shots.join("metrics.png")).await;

    // SIGTERM: a clean shutdown that flushed everything.
    let pid = demo.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = demo.0.wait().unwrap();
    let out = reader.join().unwrap();
    assert!(status.success(), "demo exited {status}:\n{out}");
    assert!(out.contains("shutdown flushed everything"), "{out}");
    assert!(!out.contains("panicked"), "{out}");

    // With a token: 401 without it; the login form opens the runs page.
    let token = "browser-test-token-0123";
    let (_guarded, _reader, url) = start_demo(&bin, Some(token));
    let res = reqwest::get(format!("{url}api/runs")).await.unwrap();
    assert_eq!(res.status(), 401);
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 401);
    browser.goto(&url).await;
    let field = browser.wait_for("input[name=token]", |n| n == 1).await;
    browser.type_into(&field[0], token).await;
    let submit = browser.find_all("form button[type=submit]").await;
    browser.click(&submit[0]).await;
    browser.wait_for("#runs tr.run", |n| n == 4).await;
    browser.quit().await;
}
