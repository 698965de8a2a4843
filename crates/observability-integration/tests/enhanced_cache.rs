//! The enhanced cache's observable series over real scrapes of two
//! separate (non-global) setups: a telemetry reports only the caches that
//! ran under it, eviction counters never go down when one of two
//! same-named caches is dropped, and a dropped cache's entries are not
//! served.

mod support;

use std::time::Duration;

use observability_integration::primitives::Cache;
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::series_value;

fn setup() -> observability_integration::Observability {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("enhanced-cache")
        .prometheus_port(0u16)
        .build()
        .unwrap();
    ObservabilityBuilder::new(cfg)
        .logs(false)
        .tracing(false)
        .build()
}

async fn scrape(obs: &observability_integration::Observability) -> String {
    support::scrape(obs.report().metrics_addr.unwrap(), None).await
}

/// A cache of one entry named `shared`, filled with `keys` (each new key
/// past the first evicts the last one).
async fn filled(obs: &observability_integration::Observability, keys: &[u32]) -> impl Sized {
    let id = lambda("id", |q: u32| async move { Ok::<_, Error>(q) });
    let cache = Cache::builder(id, |q: &u32| *q)
        .named("shared")
        .max_capacity(1)
        .lru()
        .build();
    for &k in keys {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        cache.run(&ctx, k).await.unwrap();
        cache.run_pending_tasks().await;
    }
    cache
}

const SIZE: &str = "cache_evictions_total{cause=\"size\",primitive=\"shared\"}";
const ENTRIES: &str = "cache_entries{primitive=\"shared\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_setup_reports_its_own_caches_and_counts_never_go_down() {
    let (a, b) = (setup(), setup());
    let first = filled(&a, &[1, 2, 3]).await;
    let second = filled(&a, &[1, 2]).await;
    let text = scrape(&a).await;
    assert_eq!(series_value(&text, SIZE), Some(3.0), "{text}");
    assert_eq!(series_value(&text, ENTRIES), Some(2.0), "{text}");
    // The other setup never ran these caches: it does not report them.
    let other = scrape(&b).await;
    assert!(!other.contains("primitive=\"shared\""), "{other}");

    drop(first);
    let text = scrape(&a).await;
    assert_eq!(
        series_value(&text, SIZE),
        Some(3.0),
        "a dropped cache's evictions stay counted"
    );
    assert_eq!(
        series_value(&text, ENTRIES),
        Some(1.0),
        "only the live cache's entries"
    );
    drop(second);
    let text = scrape(&a).await;
    assert_eq!(series_value(&text, SIZE), Some(3.0));
    assert_eq!(
        series_value(&text, ENTRIES),
        None,
        "no entries gauge for caches that are gone"
    );
    a.shutdown(Duration::from_secs(2));
    b.shutdown(Duration::from_secs(2));
}
