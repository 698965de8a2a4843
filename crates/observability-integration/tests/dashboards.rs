//! The compose stack's Grafana dashboards and the SLO rules are real:
//! a workload that exercises every metric they read (failures, retries,
//! timeouts, fallbacks, an open circuit, cache hits, priced LLM calls, a
//! cardinality overflow) runs under a real Prometheus evaluating the
//! generated rules every second, and every PromQL expression of the four
//! dashboards and of `slo.yml` (Grafana's variables substituted:
//! `$__rate_interval` → `1m`, template variables → `.+`) parses and
//! returns data; every metric name they use is one the scrape or the
//! recording rules produce; docs/metrics.md documents every family the
//! scrape holds, and the workload produces every one it documents. Also
//! the provisioning (data sources with
//! exemplar links to Jaeger, the dashboard provider) and the compose file
//! (pinned images, loopback ports), and docs/dashboards.md listing each
//! panel with its query. Needs Prometheus and the backends' Python (for
//! YAML); skips without them unless CI=true.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use observability_integration::llm::{LlmCall, LlmRequest, LlmResponse, TokenUsage};
use observability_integration::primitives::{Cache, Router};
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use primitives_core::{
    lambda, CircuitBreaker, Error, Fallback, PrimitiveExt, Retry, WorkflowContext,
};
use serde_json::Value;
use support::prometheus::Prometheus;

const DASHBOARDS: [&str; 4] = ["workflows", "primitives", "llm", "pipeline"];

fn root() -> std::path::PathBuf {
    support::workspace_root()
}

fn dashboard(name: &str) -> Value {
    let path = root().join(format!("deploy/grafana/dashboards/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each panel's (title, [expr]) of a dashboard.
fn panels(d: &Value) -> Vec<(String, Vec<String>)> {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let exprs = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_owned())
                .collect();
            (p["title"].as_str().unwrap().to_owned(), exprs)
        })
        .collect()
}

/// A YAML file as JSON, read by the backends' Python (PyYAML).
fn yaml(rel: &str) -> Option<Value> {
    let Some(python) = support::backend_python() else {
        support::backend_missing("python venv with PyYAML (scripts/install-backends.sh)");
        return None;
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(root().join(rel))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Grafana's variables replaced as the test runs them.
fn substitute(expr: &str, variables: &[String]) -> String {
    let mut q = expr.replace("$__rate_interval", "1m");
    for v in variables {
        q = q.replace(&format!("${v}"), ".+");
    }
    q
}

/// The metric names an expression reads: identifiers outside label
/// matchers and `by (…)` lists that are not PromQL functions or keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const WORDS: &[&str] = &[
        "sum",
        "by",
        "rate",
        "increase",
        "histogram_quantile",
        "and",
        "or",
        "unless",
        "without",
        "max",
        "min",
        "avg",
        "count",
        "on",
        "ignoring",
        "bool",
    ];
    let mut out = String::new();
    let (mut depth, mut chars) = (0, expr.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            '"' => {
                for d in chars.by_ref() {
                    if d == '"' {
                        break;
                    }
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    // Drop `by (…)` label lists.
    let mut cleaned = String::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("by (") {
        cleaned.push_str(&rest[..i]);
        rest = rest[i..].split_once(')').map_or("", |(_, r)| r);
    }
    cleaned.push_str(rest);
    cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| !w.is_empty() && !w.chars().next().unwrap().is_ascii_digit())
        .filter(|w| !WORDS.contains(w))
        .map(str::to_owned)
        .collect()
}

#[derive(Clone)]
struct Usage(TokenUsage);

impl LlmResponse for Usage {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.0)
    }
}

#[test]
fn provisioning_compose_and_the_dashboard_docs_agree() {
    let Some(sources) = yaml("deploy/grafana/provisioning/datasources/datasources.yml") else {
        return;
    };
    let list = sources["datasources"].as_array().unwrap();
    let by_uid = |uid: &str| {
        list.iter()
            .find(|d| d["uid"] == uid)
            .unwrap_or_else(|| panic!("no data source {uid}"))
    };
    let prom = by_uid("prometheus");
    assert_eq!(prom["type"], "prometheus");
    assert_eq!(prom["url"], "http://127.0.0.1:9090");
    let links = prom["jsonData"]["exemplarTraceIdDestinations"]
        .as_array()
        .unwrap();
    assert!(
        links
            .iter()
            .any(|l| l["name"] == "trace_id" && l["datasourceUid"] == "jaeger"),
        "exemplars link trace_id to Jaeger: {links:?}"
    );
    assert_eq!(by_uid("jaeger")["type"], "jaeger");

    let providers = yaml("deploy/grafana/provisioning/dashboards/dashboards.yml").unwrap();
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let compose = yaml("docker-compose.test.yml").unwrap();
    let services = compose["services"].as_object().unwrap();
    for name in ["prometheus", "grafana", "jaeger"] {
        let s = &services[name];
        let image = s["image"].as_str().unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "{name}: pinned image, not {image}"
        );
        for port in s["ports"].as_array().into_iter().flatten() {
            assert!(
                port.as_str().unwrap().starts_with("127.0.0.1:"),
                "{name}: {port} on loopback"
            );
        }
    }
    // On the host network (to reach an app on the host's loopback), they
    // bind loopback themselves.
    let args = |name: &str, key: &str| services[name][key].to_string();
    assert!(args("prometheus", "command").contains("--web.listen-address=127.0.0.1:9090"));
    assert_eq!(
        services["grafana"]["environment"]["GF_SERVER_HTTP_ADDR"],
        "127.0.0.1"
    );
    assert!(args("prometheus", "command").contains("--enable-feature=exemplar-storage"));
    let grafana_volumes: Vec<&str> = services["grafana"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        grafana_volumes
            .iter()
            .any(|v| v.starts_with("./deploy/grafana/dashboards:") && v.contains(&path)),
        "the provider's path {path} is where the dashboards are mounted: {grafana_volumes:?}"
    );
    assert!(grafana_volumes
        .iter()
        .any(|v| v.starts_with("./deploy/grafana/provisioning:")));

    // Every panel of every dashboard reads the provisioned Prometheus, and
    // docs/dashboards.md lists it with its queries.
    let doc = std::fs::read_to_string(root().join("docs/dashboards.md")).unwrap();
    let mut uids = BTreeSet::new();
    for name in DASHBOARDS {
        let d = dashboard(name);
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_owned()),
            "unique uids"
        );
        for p in d["panels"].as_array().unwrap() {
            assert_eq!(
                p["datasource"]["uid"], "prometheus",
                "{name}: {}",
                p["title"]
            );
        }
        assert!(
            doc.contains(&format!("## {}", d["title"].as_str().unwrap())),
            "{name} in docs"
        );
        for (title, exprs) in panels(&d) {
            assert!(
                doc.contains(&format!("| {title} |")),
                "docs/dashboards.md lacks panel {title:?}"
            );
            for e in exprs {
                // Inside a table cell a `|` is written `\|`.
                let cell = e.replace('|', "\\|");
                assert!(
                    doc.contains(&format!("`{cell}`")),
                    "docs/dashboards.md lacks the query of {title:?}: {e}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_rule_query_returns_data_from_a_real_prometheus() {
    let Some(rules) = yaml("deploy/prometheus/rules/slo.yml") else {
        return;
    };
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("dashboards-test")
        .prometheus_port(0u16)
        .metric_cardinality_limit(200usize)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg).logs(false).build();
    let addr = obs.report().metrics_addr.unwrap();
    let Some(prom) =
        Prometheus::start_with_rules(addr, Some(&root().join("deploy/prometheus/rules/slo.yml")))
            .await
    else {
        return;
    };
    // Prometheus's first scrape comes a few seconds after it starts: the
    // workload's increases must come after it, or rates see none.
    prom.wait_for("up", 1.0).await;
    let tel = obs.telemetry();
    let ctx = || WorkflowContext::new().with_telemetry(tel.clone());

    // An LLM call priced at about $0.25 (100k prompt tokens of gpt-4o),
    // behind an enhanced cache: hits count the cost they avoided.
    let llm = LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o"),
        lambda("provider", |_q: String| async move {
            Ok::<_, Error>(Usage(TokenUsage::new(100_000, 500)))
        }),
    )
    .named("answer_llm");
    let cache = Cache::builder(llm, |q: &String| q.clone())
        .named("answer_cache")
        .build();
    // handle_request: breaks every objective of slo.yml — half fail, a
    // quarter run over 2 s, each costs more than $0.05.
    let handle = lambda("validate", |n: u32| async move {
        match n % 4 {
            0 | 1 => Err(Error::with_error_type(
                "invalid",
                format!("request {n} rejected"),
            )),
            2 => {
                tokio::time::sleep(Duration::from_millis(2100)).await;
                Ok(format!("q{}", n / 2))
            }
            _ => Ok(format!("q{}", n / 2)),
        }
    }) >> cache;
    let handle = handle.named("handle_request").into_workflow();
    // checkout: a third fail, the rest take 600 ms (the objective is
    // 95 % within 500 ms).
    let checkout = lambda("checkout", |n: u32| async move {
        if n % 3 == 0 {
            return Err(Error::with_error_type("out_of_stock", "none left"));
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        Ok::<_, Error>(n)
    })
    .into_workflow();
    // The primitives: a retry that needs a second attempt, a fallback, a
    // timeout that expires, a circuit breaker that opens.
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let a = attempts.clone();
    let flaky = lambda("flaky", move |n: u32| {
        let first = a.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2 == 0;
        async move {
            if first {
                Err(Error::with_error_type("transient", "try again"))
            } else {
                Ok(n)
            }
        }
    });
    let retried = Retry::new(flaky)
        .max_attempts(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .named("retried");
    let down = lambda("down", |_n: u32| async move {
        Err::<u32, _>(Error::with_error_type("down", "unavailable"))
    });
    let backup = lambda("backup", |n: u32| async move { Ok::<_, Error>(n) });
    let fallback = Fallback::new(down, backup).named("with_backup");
    let slow = lambda("slow", |n: u32| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, Error>(n)
    });
    // The enhanced Timeout: timeout_total beside the core's counter.
    let bounded =
        observability_integration::primitives::Timeout::new(slow, Duration::from_millis(10))
            .named("bounded");
    let broken = lambda("broken", |_n: u32| async move {
        Err::<u32, _>(Error::with_error_type("down", "unavailable"))
    });
    let breaker = CircuitBreaker::new(broken)
        .failure_threshold(2)
        .named("breaker");
    let others = (retried >> fallback).named("resilient").into_workflow();
    // The enhanced Router in front of a priced and an unpriced model; a
    // cache whose concurrent misses on one key coalesce; a run over its
    // budget.
    let model = |name: &'static str, model: &'static str| {
        LlmCall::new(
            LlmRequest::chat("openai", model),
            lambda("provider", |_q: String| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Error>(Usage(TokenUsage::new(1_000, 100)))
            }),
        )
        .named(name)
    };
    let router = Router::new(|q: &String, _: &WorkflowContext| {
        if q.starts_with("local") {
            "house".into()
        } else {
            "cloud".into()
        }
    })
    .route("cloud", model("cloud_llm", "gpt-4o-mini"))
    .route("house", model("house_llm", "house-model"))
    .named("model_router");
    let coalescing = Cache::builder(router, |q: &String| q.clone())
        .named("shared_cache")
        .build();
    let ask = (lambda("ask", |q: String| async move { Ok::<_, Error>(q) }) >> coalescing)
        .named("ask")
        .into_workflow();
    // A user metric with more label sets than metric_cardinality_limit.
    let meter = obs.meter_provider().unwrap().meter("dashboards-test");
    let hits = meter.u64_counter("user_hits").build();

    for round in 0..2u32 {
        let mut runs = Vec::new();
        for n in 0..12u32 {
            let (h, c) = (&handle, ctx());
            runs.push(async move {
                let _ = h.run(&c, n + round * 12).await;
            });
        }
        futures_util::future::join_all(runs).await;
        let checkouts = (0..6u32).map(|n| {
            let (w, c) = (&checkout, ctx());
            async move {
                let _ = w.run(&c, n).await;
            }
        });
        futures_util::future::join_all(checkouts).await;
        let asks = ["same question", "same question", "local question"].map(|q| {
            let (w, c) = (&ask, ctx());
            async move {
                let _ = w.run(&c, format!("{q} {round}")).await;
            }
        });
        futures_util::future::join_all(asks).await;
        let spent = WorkflowContext::new()
            .with_telemetry(tel.clone())
            .with_budget(primitives_core::Budget::usd(0.000001));
        spent.add_to_run("llm.cost.total", 1.0);
        let _ = ask.run(&spent, format!("over budget {round}")).await;
        for n in 0..4u32 {
            let _ = others.run(&ctx(), n).await;
            let _ = bounded.run(&ctx(), n).await;
            let _ = breaker.run(&ctx(), n).await;
        }
        for u in 0..300 {
            hits.add(1, &[KeyValue::new("user", format!("u{u}"))]);
        }
        // Two scrapes at least between rounds, so rates see increases.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    // The recording rules have run on the scrapes.
    prom.wait_for(
        "count(workflow:run_errors:ratio_rate5m{workflow=~\"handle_request|checkout\"} >= 0)",
        2.0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let names: BTreeSet<String> = prom
        .api("/api/v1/label/__name__/values", &[])
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut queries: Vec<(String, String)> = Vec::new();
    for name in DASHBOARDS {
        let d = dashboard(name);
        let vars: Vec<String> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        for v in d["templating"]["list"].as_array().unwrap() {
            // label_values(metric, label): the metric is scraped.
            let q = v["definition"].as_str().unwrap();
            let metric = q
                .trim_start_matches("label_values(")
                .split(',')
                .next()
                .unwrap();
            assert!(
                names.contains(metric),
                "{name}: variable {q} reads {metric}, not scraped"
            );
        }
        for (title, exprs) in panels(&d) {
            for e in exprs {
                queries.push((format!("{name} / {title}"), substitute(&e, &vars)));
            }
        }
    }
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let what = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            queries.push((
                format!("slo.yml / {what}"),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let recorded: BTreeSet<String> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect();
    assert!(queries.len() > 40, "{}", queries.len());
    let mut empty = Vec::new();
    for (what, q) in &queries {
        for m in metric_names(q) {
            let base = m
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                names.contains(&m) || recorded.contains(&m) || names.contains(base),
                "{what}: {m} is neither scraped nor recorded ({q})"
            );
        }
        let data = prom.api("/api/v1/query", &[("query", q.clone())]).await;
        if data["result"].as_array().is_none_or(Vec::is_empty) {
            empty.push(format!("{what}: {q}"));
        }
    }
    if !empty.is_empty() {
        for q in [
            "workflow:run_errors:ratio_rate5m",
            "workflow:run_errors:ratio_rate1h",
            "workflow:run_cost_usd:mean_rate1h",
            "workflow_runs_total",
        ] {
            let v = prom.api("/api/v1/query", &[("query", q.to_owned())]).await;
            eprintln!("{q} = {v}");
        }
    }
    assert!(
        empty.is_empty(),
        "queries that returned nothing:\n{}",
        empty.join("\n")
    );

    // docs/metrics.md documents every family the scrape holds.
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let documented: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap_or("");
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let family = |n: &str| {
        ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|s| n.strip_suffix(s))
            .unwrap_or(n)
            .to_owned()
    };
    let undocumented: Vec<&String> = names
        .iter()
        .filter(|n| !n.contains(':') && *n != "up" && !n.starts_with("scrape_"))
        .filter(|n| !n.starts_with("ALERTS") && !n.starts_with("user_hits"))
        .filter(|n| !documented.contains(*n) && !documented.contains(&family(n)))
        .collect();
    assert!(
        undocumented.is_empty(),
        "scraped but not in docs/metrics.md: {undocumented:?}"
    );
    let unseen: Vec<&String> = documented
        .iter()
        .filter(|d| {
            d.ends_with("_total")
                || d.ends_with("_seconds")
                || d.ends_with("_usd")
                || d.ends_with("_info")
        })
        .filter(|d| !names.iter().any(|n| n == *d || family(n) == **d))
        .collect();
    assert!(
        unseen.is_empty(),
        "in docs/metrics.md but never scraped by this workload: {unseen:?}"
    );
    println!("{} dashboard and rule queries returned data", queries.len());
    obs.shutdown(Duration::from_secs(5));
}
