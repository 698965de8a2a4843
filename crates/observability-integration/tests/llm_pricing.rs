//! The LLM pricing table from config: `llm_pricing_file` /
//! `OBSERVABILITY_LLM_PRICING_FILE` is read and checked when the config is
//! built, and a bad one is an error naming the field, the value, where it
//! came from and what is accepted.

mod support;

use observability_integration::config::Origin;
use observability_integration::llm::{Pricing, TokenUsage, BUILTIN_PRICES_DATE};
use observability_integration::{EnvSource, ObservabilityConfig};

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_pricing_file_comes_from_the_variable_and_prices_calls() {
    let path = temp_file(
        "prices.toml",
        "[models.\"gpt-4o-mini\"]\ninput = 0.15\noutput = 0.60\ncache_read = 0.075\naliases = [\"gpt-4o-mini-2024-07-18\"]\n",
    );
    let p = path.to_str().unwrap();
    let cfg = ObservabilityConfig::builder()
        .env(support::env(&[("OBSERVABILITY_LLM_PRICING_FILE", p)]))
        .build()
        .unwrap();
    assert_eq!(cfg.llm_pricing_file.as_deref(), Some(p));
    let pricing = cfg.llm_pricing().unwrap();
    assert_eq!(pricing.len(), 1);
    let cost = pricing
        .cost("gpt-4o-mini-2024-07-18", &TokenUsage::new(1_000_000, 0))
        .unwrap();
    assert!((cost.total() - 0.15).abs() < 1e-12);
    // Without one, the built-in (dated) table.
    let default = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .build()
        .unwrap();
    assert_eq!(default.llm_pricing().unwrap(), Pricing::builtin());
    assert!(!BUILTIN_PRICES_DATE.is_empty());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_bad_pricing_file_is_a_config_error_naming_field_value_origin_and_fix() {
    let bad = temp_file(
        "bad-prices.toml",
        "[models.\"m\"]\ninput = -0.5\noutput = 1\n",
    );
    let b = bad.to_str().unwrap();
    let e = ObservabilityConfig::builder()
        .env(support::env(&[("OBSERVABILITY_LLM_PRICING_FILE", b)]))
        .build()
        .unwrap_err();
    assert_eq!(e.field, "llm_pricing_file");
    assert_eq!(e.value, b);
    assert!(
        matches!(&e.origin, Origin::Env(v) if v == "OBSERVABILITY_LLM_PRICING_FILE"),
        "{:?}",
        e.origin
    );
    assert!(
        e.problem.contains("\"m\"") && e.problem.contains("`input`"),
        "{e}"
    );
    assert!(e.accepted.contains("[models."), "{e}");
    // A missing file, set in code.
    let e = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .llm_pricing_file("/nonexistent/prices.toml")
        .build()
        .unwrap_err();
    assert_eq!(e.field, "llm_pricing_file");
    assert!(e.problem.contains("cannot be read"), "{e}");
    std::fs::remove_file(bad).unwrap();
}
