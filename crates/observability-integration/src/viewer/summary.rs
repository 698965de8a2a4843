//! `GET /api/metrics`: what the metrics page shows, read from the same
//! registry `/metrics` serves (so its numbers are Prometheus's): per
//! primitive calls, errors and p50/p95/p99 from the duration histogram
//! (interpolated inside buckets as `histogram_quantile` does), cache hit
//! rates, runs and cost per workflow, cost and tokens by model. Counts are
//! since the process started; the page turns them into rates between its
//! polls.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

/// One sample of the text exposition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The samples of Prometheus text format 0.0.4 (comments skipped, lines
/// that don't parse skipped: this reads our own registry's output).
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(sample)
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = Vec::new();
    let rest = if let Some(mut s) = rest.strip_prefix('{') {
        loop {
            s = s.trim_start_matches(',');
            if let Some(after) = s.strip_prefix('}') {
                break after;
            }
            let (key, after) = s.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.trim().to_owned(), value));
            s = &after[end + 1..];
        }
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The `q` quantile (0..=1) of cumulative `buckets` (upper bound, count),
/// linearly interpolated inside the bucket it falls in, as Prometheus's
/// `histogram_quantile`; in the `+Inf` bucket, the highest finite bound.
pub(crate) fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut b = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = b.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(upper, count) in &b {
        if count >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            let f = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (upper - lower) * f);
        }
        (lower, below) = (upper, count);
    }
    Some(lower)
}

#[derive(Default)]
struct Primitive {
    calls: f64,
    errors: f64,
    cancelled: f64,
    buckets: Vec<(f64, f64)>,
}

#[derive(Default)]
struct Workflow {
    runs: f64,
    errors: f64,
    cost: f64,
    buckets: Vec<(f64, f64)>,
}

#[derive(Default)]
struct Model {
    requests: f64,
    tokens: f64,
    cost: f64,
}

fn ms(q: f64, buckets: &[(f64, f64)]) -> Json {
    quantile(q, buckets).map_or(Json::Null, |s| json!(s * 1000.0))
}

/// The metrics page's data from the exposition `text`.
pub(crate) fn summarize(text: &str) -> Json {
    let mut prims: BTreeMap<(String, String), Primitive> = BTreeMap::new();
    let mut caches: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut flows: BTreeMap<String, Workflow> = BTreeMap::new();
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    for s in parse(text) {
        let prim = |s: &Sample| (s.label("primitive").to_owned(), s.label("type").to_owned());
        match s.name.as_str() {
            "primitive_executions_total" => {
                let p = prims.entry(prim(&s)).or_default();
                p.calls += s.value;
                match s.label("status") {
                    "error" => p.errors += s.value,
                    "cancelled" => p.cancelled += s.value,
                    _ => {}
                }
            }
            "primitive_duration_seconds_bucket" => {
                let le = le(&s);
                prims
                    .entry(prim(&s))
                    .or_default()
                    .buckets
                    .push((le, s.value));
            }
            "cache_hit_total" => {
                caches.entry(s.label("primitive").to_owned()).or_default().0 += s.value
            }
            "cache_miss_total" => {
                caches.entry(s.label("primitive").to_owned()).or_default().1 += s.value
            }
            "workflow_runs_total" => {
                let w = flows.entry(s.label("workflow").to_owned()).or_default();
                w.runs += s.value;
                if s.label("status") != "ok" {
                    w.errors += s.value;
                }
            }
            "workflow_run_duration_seconds_bucket" => {
                let le = le(&s);
                flows
                    .entry(s.label("workflow").to_owned())
                    .or_default()
                    .buckets
                    .push((le, s.value));
            }
            "workflow_run_cost_usd_sum" => {
                flows
                    .entry(s.label("workflow").to_owned())
                    .or_default()
                    .cost += s.value
            }
            "llm_requests_total" => {
                models
                    .entry(s.label("model").to_owned())
                    .or_default()
                    .requests += s.value
            }
            "llm_cost_usd_total" => {
                models.entry(s.label("model").to_owned()).or_default().cost += s.value
            }
            "llm_tokens_total" if s.label("token_type") == "total" => {
                models
                    .entry(s.label("model").to_owned())
                    .or_default()
                    .tokens += s.value;
            }
            _ => {}
        }
    }
    json!({
        "enabled": true,
        "primitives": prims.iter().filter(|(_, p)| p.calls > 0.0 || !p.buckets.is_empty()).map(|((name, kind), p)| json!({
            "primitive": name, "type": kind, "calls": p.calls, "errors": p.errors, "cancelled": p.cancelled,
            "p50_ms": ms(0.5, &p.buckets), "p95_ms": ms(0.95, &p.buckets), "p99_ms": ms(0.99, &p.buckets),
        })).collect::<Vec<_>>(),
        "caches": caches.iter().map(|(name, (hits, misses))| json!({
            "primitive": name, "hits": hits, "misses": misses,
            "hit_rate": if hits + misses > 0.0 { json!(hits / (hits + misses)) } else { Json::Null },
        })).collect::<Vec<_>>(),
        "workflows": flows.iter().map(|(name, w)| json!({
            "workflow": name, "runs": w.runs, "errors": w.errors, "cost_usd": w.cost,
            "p50_ms": ms(0.5, &w.buckets), "p95_ms": ms(0.95, &w.buckets),
        })).collect::<Vec<_>>(),
        "models": models.iter().map(|(name, m)| json!({
            "model": name, "requests": m.requests, "tokens": m.tokens, "cost_usd": m.cost,
        })).collect::<Vec<_>>(),
    })
}

fn le(s: &Sample) -> f64 {
    match s.label("le") {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or(f64::INFINITY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes_and_infinities() {
        let s = parse("# HELP x y\nx_bucket{a=\"q\\\"uo,te\",le=\"+Inf\"} 3\nplain 1.5e3\n");
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].labels,
            [
                ("a".into(), "q\"uo,te".into()),
                ("le".into(), "+Inf".into())
            ]
        );
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].name, "plain");
        assert_eq!(s[1].value, 1500.0);
    }

    #[test]
    fn quantiles_interpolate_like_histogram_quantile() {
        // 10 in (0, 1], 10 in (1, 2], none above.
        let b = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(quantile(0.5, &b), Some(1.0));
        assert_eq!(quantile(0.75, &b), Some(1.5));
        assert_eq!(quantile(0.25, &b), Some(0.5));
        // In the +Inf bucket: the highest finite bound.
        let c = [(1.0, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(quantile(0.99, &c), Some(1.0));
        assert_eq!(quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn summarizes_primitives_caches_workflows_and_models() {
        let text = "\
primitive_executions_total{primitive=\"fetch\",type=\"lambda\",status=\"ok\"} 8
primitive_executions_total{primitive=\"fetch\",type=\"lambda\",status=\"error\"} 2
primitive_duration_seconds_bucket{primitive=\"fetch\",type=\"lambda\",le=\"0.01\"} 5
primitive_duration_seconds_bucket{primitive=\"fetch\",type=\"lambda\",le=\"0.1\"} 10
primitive_duration_seconds_bucket{primitive=\"fetch\",type=\"lambda\",le=\"+Inf\"} 10
cache_hit_total{primitive=\"memo\"} 3
cache_miss_total{primitive=\"memo\"} 1
workflow_runs_total{workflow=\"order\",status=\"ok\"} 4
workflow_run_cost_usd_sum{workflow=\"order\"} 0.5
llm_cost_usd_total{model=\"gpt-4o\"} 0.25
llm_tokens_total{model=\"gpt-4o\",token_type=\"total\"} 900
llm_tokens_total{model=\"gpt-4o\",token_type=\"prompt\"} 600
";
        let j = summarize(text);
        let p = &j["primitives"][0];
        assert_eq!(
            (p["calls"].as_f64(), p["errors"].as_f64()),
            (Some(10.0), Some(2.0))
        );
        assert!((p["p50_ms"].as_f64().unwrap() - 10.0).abs() < 1e-9, "{p}");
        assert!((p["p99_ms"].as_f64().unwrap() - 98.2).abs() < 1e-9, "{p}");
        assert_eq!(j["caches"][0]["hit_rate"], 0.75);
        assert_eq!(j["workflows"][0]["cost_usd"], 0.5);
        assert_eq!(j["models"][0]["tokens"], 900.0);
    }
}
