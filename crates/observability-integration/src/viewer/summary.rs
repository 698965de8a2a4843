//! `GET /api/metrics`: what the metrics page shows, read from the same
//! registry `/metrics` serves (so its numbers are Prometheus's): per
//! primitive calls, errors and p50/p95/p99 from the duration histogram
//! (interpolated inside buckets as `histogram_quantile` does), cache hit
//! rates, runs and cost per workflow, cost and tokens by model. Counts and
//! percentiles are since the process started, and again over the last
//! minute (`window`): each poll keeps a snapshot of the series it reads,
//! and the window is the difference from the newest snapshot at least a
//! minute old (or the oldest there is, once it is 5 s old).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// How far back the window reaches, and the least it must cover.
const WINDOW: Duration = Duration::from_secs(60);
const MIN_WINDOW: Duration = Duration::from_secs(5);
/// Snapshots kept (polls come every 2 s from each open page).
const MAX_SNAPSHOTS: usize = 256;

/// The families the page reads (only these are kept in snapshots).
fn read_by_page(name: &str) -> bool {
    matches!(
        name,
        "primitive_executions_total"
            | "primitive_duration_seconds_bucket"
            | "cache_hit_total"
            | "cache_miss_total"
            | "workflow_runs_total"
            | "workflow_run_duration_seconds_bucket"
            | "workflow_run_cost_usd_sum"
            | "llm_requests_total"
            | "llm_cost_usd_total"
            | "llm_tokens_total"
    )
}

/// A series: its name and labels.
type SeriesKey<'a> = (&'a str, &'a [(String, String)]);

/// `current` minus `base`, series by series (a series that went down was
/// reset, so it counts from zero).
pub(crate) fn delta(current: &[Sample], base: &[Sample]) -> Vec<Sample> {
    let before: HashMap<SeriesKey<'_>, f64> = base
        .iter()
        .map(|s| ((s.name.as_str(), s.labels.as_slice()), s.value))
        .collect();
    current
        .iter()
        .map(|s| {
            let b = before
                .get(&(s.name.as_str(), s.labels.as_slice()))
                .copied()
                .unwrap_or(0.0);
            let value = if s.value >= b { s.value - b } else { s.value };
            Sample { value, ..s.clone() }
        })
        .collect()
}

/// The snapshots of earlier polls.
#[derive(Debug, Default)]
pub(crate) struct History(Mutex<VecDeque<(Instant, Vec<Sample>)>>);

impl History {
    /// The page's data from `text`, with the last minute's figures under
    /// `window` once there is an earlier snapshot to compare with.
    pub(crate) fn summarize(&self, text: &str) -> Json {
        self.summarize_at(text, Instant::now())
    }

    fn summarize_at(&self, text: &str, now: Instant) -> Json {
        let current: Vec<Sample> = parse(text)
            .into_iter()
            .filter(|s| read_by_page(&s.name))
            .collect();
        let mut body = summarize_samples(&current);
        let mut snaps = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let base = snaps
            .iter()
            .rev()
            .find(|(t, _)| now.duration_since(*t) >= WINDOW)
            .or(snaps.front())
            .filter(|(t, _)| now.duration_since(*t) >= MIN_WINDOW);
        if let Some((t, base)) = base {
            let mut window = summarize_samples(&delta(&current, base));
            window["seconds"] = json!(now.duration_since(*t).as_secs_f64().round());
            body["window"] = window;
        }
        while snaps.len() >= MAX_SNAPSHOTS
            || snaps
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
        {
            snaps.pop_front();
        }
        snaps.push_back((now, current));
        body
    }
}

/// The metrics page's data from the exposition `text`.
#[cfg(test)]
pub(crate) fn summarize(text: &str) -> Json {
    summarize_samples(&parse(text))
}

fn summarize_samples(samples: &[Sample]) -> Json {
    let mut prims: BTreeMap<(String, String), Primitive> = BTreeMap::new();
    let mut caches: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut flows: BTreeMap<String, Workflow> = BTreeMap::new();
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    for s in samples {
        let prim = |s: &Sample| (s.label("primitive").to_owned(), s.label("type").to_owned());
        match s.name.as_str() {
            "primitive_executions_total" => {
                let p = prims.entry(prim(s)).or_default();
                p.calls += s.value;
                match s.label("status") {
                    "error" => p.errors += s.value,
                    "cancelled" => p.cancelled += s.value,
                    _ => {}
                }
            }
            "primitive_duration_seconds_bucket" => {
                let le = le(s);
                prims
                    .entry(prim(s))
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
                let le = le(s);
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
    fn the_window_is_the_difference_from_a_minute_ago() {
        let h = History::default();
        let text = |calls: u32, fast: u32| {
            format!(
                "primitive_executions_total{{primitive=\"p\",type=\"lambda\",status=\"ok\"}} {calls}\n\
                 primitive_duration_seconds_bucket{{primitive=\"p\",type=\"lambda\",le=\"0.01\"}} {fast}\n\
                 primitive_duration_seconds_bucket{{primitive=\"p\",type=\"lambda\",le=\"1\"}} {calls}\n\
                 primitive_duration_seconds_bucket{{primitive=\"p\",type=\"lambda\",le=\"+Inf\"}} {calls}\n\
                 unrelated_total 7\n"
            )
        };
        let t0 = Instant::now();
        let first = h.summarize_at(&text(100, 100), t0);
        assert!(first.get("window").is_none(), "nothing to compare with yet");
        assert_eq!(
            h.summarize_at(&text(110, 100), t0 + Duration::from_secs(2))["window"],
            Json::Null
        );
        // 10 s later: the 20 newer calls, all slow, are the window.
        let later = h.summarize_at(&text(120, 100), t0 + Duration::from_secs(10));
        let w = &later["window"];
        assert_eq!(w["seconds"], 10.0);
        assert_eq!(w["primitives"][0]["calls"], 20.0);
        assert!(w["primitives"][0]["p50_ms"].as_f64().unwrap() > 10.0, "{w}");
        assert!(
            later["primitives"][0]["p50_ms"].as_f64().unwrap() <= 10.0,
            "cumulative: mostly fast"
        );
        // Past a minute: the baseline is the newest snapshot a minute old.
        let much_later = h.summarize_at(&text(200, 100), t0 + Duration::from_secs(75));
        assert_eq!(much_later["window"]["seconds"], 65.0);
        assert_eq!(much_later["window"]["primitives"][0]["calls"], 80.0);
        assert!(h
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|(_, s)| s.iter().all(|x| x.name != "unrelated_total")));
    }

    #[test]
    fn a_reset_counter_counts_from_zero() {
        let s = |v: f64| Sample {
            name: "c".into(),
            labels: vec![],
            value: v,
        };
        assert_eq!(delta(&[s(5.0)], &[s(3.0)])[0].value, 2.0);
        assert_eq!(delta(&[s(2.0)], &[s(3.0)])[0].value, 2.0);
        assert_eq!(delta(&[s(2.0)], &[])[0].value, 2.0);
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
