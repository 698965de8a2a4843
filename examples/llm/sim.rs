//! What the LLM examples share: a simulated provider (deterministic
//! answers and token counts, a little latency, no network) and a summary
//! of the LLM series read back from the example's own `/metrics`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use observability_integration::llm::{LlmMessage, LlmResponse, TokenUsage};
use observability_integration::{ObservabilityBuilder, ObservabilityConfig, ObservabilityGuard};
use primitives_core::{lambda, Error, Primitive};

/// A provider's answer: text, the model that answered, the tokens.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub(crate) text: String,
    pub(crate) model: String,
    pub(crate) usage: TokenUsage,
}

impl LlmResponse for Completion {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.usage)
    }
    fn response_model(&self) -> Option<&str> {
        Some(&self.model)
    }
    fn output_messages(&self) -> Vec<LlmMessage> {
        vec![LlmMessage::assistant(self.text.clone()).finish_reason("stop")]
    }
}

/// A simulated chat model: `answers_as` is the (often dated) model name
/// the provider reports; prompts cost 4 tokens a word plus a 200-token
/// system prompt the provider has cached; answers `answer_tokens`.
pub(crate) fn model(
    answers_as: &'static str,
    answer_tokens: u64,
    latency: Duration,
) -> impl Primitive<String, Output = Completion> {
    lambda("provider", move |prompt: String| async move {
        tokio::time::sleep(latency).await;
        let words = prompt.split_whitespace().count() as u64;
        Ok::<_, Error>(Completion {
            text: format!("[{answers_as}] an answer to {prompt:?}"),
            model: answers_as.to_owned(),
            usage: TokenUsage::new(200 + 4 * words, answer_tokens).cache_read(200),
        })
    })
}

/// Refuses arguments, then sets up `service` (defaults < env < code) with
/// Prometheus on a free loopback port and no log lines (the examples
/// print their own). Returns the stack and its `/metrics` address.
pub(crate) fn start(
    service: &str,
) -> Result<(ObservabilityGuard, std::net::SocketAddr), Box<dyn std::error::Error>> {
    if let Some(arg) = std::env::args().nth(1) {
        return Err(format!("unknown argument {arg:?}: this example takes none").into());
    }
    let config = ObservabilityConfig::builder()
        .service_name(service)
        .prometheus_port(0u16)
        .build()?;
    let obs = ObservabilityBuilder::new(config).logs(false).install();
    let addr = obs
        .report()
        .metrics_addr
        .ok_or("the metrics server did not start")?;
    Ok((obs, addr))
}

/// Shuts `obs` down and says whether everything was flushed.
pub(crate) fn finish(obs: ObservabilityGuard) {
    let r = obs.shutdown(Duration::from_secs(5));
    let how = if r.completed {
        "flushed everything"
    } else {
        "hit its deadline"
    };
    println!("\nshutdown {how}");
}

/// `GET /metrics` on `addr`: the body.
pub(crate) fn scrape(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_owned()))
}

/// One sample line: name, labels, value.
fn sample(line: &str) -> Option<(&str, BTreeMap<&str, &str>, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split("\",")
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let (k, v) = kv.split_once("=\"")?;
            Some((k, v.trim_end_matches('"')))
        })
        .collect();
    Some((name, labels, value))
}

/// Prints what the LLM series say: the cost lines as served, tokens by
/// type, the cache hit rate and the cost the cache avoided.
pub(crate) fn print_summary(metrics: &str) {
    let samples: Vec<_> = metrics.lines().filter_map(sample).collect();
    let sum = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, _, v)| v)
            // (an empty f64 sum is -0)
            .fold(0.0, |a, b| a + b)
    };
    println!("\nfrom /metrics:");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("llm_cost_usd_total{"))
    {
        println!("  {line}");
    }
    let mut by_type: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, labels, v) in samples.iter().filter(|(n, _, _)| *n == "llm_tokens_total") {
        *by_type
            .entry(labels.get("token_type").copied().unwrap_or("?"))
            .or_default() += v;
    }
    println!("  tokens by type (all models):");
    for (kind, n) in &by_type {
        println!("    {kind:<12} {n:>8}");
    }
    let (hits, misses) = (sum("cache_hit_total"), sum("cache_miss_total"));
    if hits + misses > 0.0 {
        println!(
            "  cache hit rate: {:.0}% ({hits} hits, {misses} misses)",
            100.0 * hits / (hits + misses)
        );
    }
    println!(
        "  cost avoided by cache hits: ${:.6}",
        sum("llm_cost_avoided_usd_total")
    );
    println!(
        "  calls: {} ({} unpriced, {} refused by a budget)",
        sum("llm_requests_total"),
        sum("llm_unpriced_requests_total"),
        sum("llm_budget_exceeded_total")
    );
}
