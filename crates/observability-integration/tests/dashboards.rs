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

#[path = "support/metrics_doc.rs"]
mod metrics_doc;
mod support;
#[path = "support/workload.rs"]
mod workload;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
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
    workload::exercise(&obs).await;
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

    // docs/metrics.md documents every family the scrape holds, with its
    // type and labels, and this workload produces every one it documents.
    let doc = metrics_doc::read(&std::fs::read_to_string(root().join("docs/metrics.md")).unwrap());
    let metadata = prom.api("/api/v1/metadata", &[]).await;
    let series = prom
        .api("/api/v1/series", &[("match[]", "{job=\"app\"}".to_owned())])
        .await;
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for labels in series.as_array().unwrap() {
        let name = labels["__name__"].as_str().unwrap();
        // Prometheus's own series, the test's user metric, the resource.
        if name == "up"
            || name.starts_with("scrape_")
            || name.starts_with("user_hits")
            || name == "target_info"
        {
            continue;
        }
        let base = ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        let Some((documented, d)) = [name, base].iter().find_map(|n| doc.get_key_value(*n)) else {
            problems.push(format!("{name}: scraped, not in docs/metrics.md"));
            continue;
        };
        seen.insert(documented.clone());
        let family = documented
            .strip_suffix("_total")
            .or_else(|| documented.strip_suffix("_info"))
            .unwrap_or(documented);
        let kind = [documented.as_str(), family]
            .iter()
            .find_map(|n| metadata[*n][0]["type"].as_str())
            .unwrap_or("?");
        if kind != d.kind {
            problems.push(format!(
                "{documented}: documented {}, scraped {kind}",
                d.kind
            ));
        }
        for label in labels.as_object().unwrap().keys() {
            let ours = !matches!(
                label.as_str(),
                "__name__" | "job" | "instance" | "le" | "otel_metric_overflow"
            );
            if ours && !d.labels.contains(label) {
                problems.push(format!(
                    "{documented}: label {label} not documented (documented: {:?})",
                    d.labels
                ));
            }
        }
    }
    for name in doc
        .keys()
        .filter(|n| *n != "target_info" && !seen.contains(*n))
    {
        problems.push(format!(
            "{name}: documented, never scraped by this workload"
        ));
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "docs/metrics.md against the scrape:\n{}",
        problems.join("\n")
    );
    println!("{} dashboard and rule queries returned data", queries.len());
    obs.shutdown(Duration::from_secs(5));
}
