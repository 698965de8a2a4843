//! Run with: `cargo run --example slo_rules` (writes
//! `deploy/prometheus/rules/slo.yml`; `-- --print` prints it instead).
//!
//! Service-level objectives declared in code, next to the workflows they
//! judge, written as Prometheus recording rules and alerts: multi-window
//! multi-burn-rate alerts on each workflow's error budget and slow runs,
//! an error-rate alert and a cost-per-run alert. `promtool check rules`
//! and `promtool test rules deploy/prometheus/rules/slo_test.yml` check the
//! result (scripts/test.sh runs both).

use std::time::Duration;

use observability_integration::slo::{Objectives, Rules};

/// The objectives: the main demo's `handle_request` and the cross-service
/// example's `checkout`.
fn objectives() -> Rules {
    Rules::new()
        .workflow(
            Objectives::new("handle_request")
                .success_rate(0.999)
                .latency(Duration::from_secs(2), 0.99)
                .cost_per_run_usd(0.05)
                .error_rate_below(0.05),
        )
        .workflow(
            Objectives::new("checkout")
                .success_rate(0.995)
                .latency(Duration::from_millis(500), 0.95),
        )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let yaml = objectives().to_prometheus_rules()?;
    if std::env::args().any(|a| a == "--print") {
        print!("{yaml}");
        return Ok(());
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/rules/slo.yml");
    std::fs::write(&path, yaml)?;
    println!("wrote {}", path.display());
    Ok(())
}
