//! Tight loop of one observed step, for profilers:
//! `cargo run --release --example profile_step -- [sampled|unsampled|metrics|nothing|json|bare] [secs]`
//!
//! With `PROFILE_STEPS=N` it runs exactly N steps instead (for instruction
//! counts under `valgrind --tool=cachegrind`, which this noisy VM's wall
//! clock can't give: run two N and divide the difference).
use std::time::{Duration, Instant};

use observability_integration::export::CountingSpanExporter;
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, Error, Primitive, PrimitiveExt, WorkflowContext};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "sampled".into());
    let secs: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .prometheus_port(0u16)
        .max_queue_size(1usize << 16);
    if mode == "unsampled" {
        cfg = cfg.trace_sample_rate(0.0);
    }
    let mut b = ObservabilityBuilder::new(cfg.build().unwrap())
        .with_span_exporter(CountingSpanExporter::default())
        .logs(false);
    if mode == "metrics" {
        b = b.tracing(false);
    }
    if mode == "json" {
        b = b.logs(true).log_writer(std::io::sink);
    }
    let obs = b.build();
    let _guard = (mode == "json").then(|| {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_default(tracing_subscriber::registry().with(obs.layer()))
    });
    let ctx = if mode == "nothing" {
        WorkflowContext::new()
    } else {
        WorkflowContext::new().with_telemetry(obs.telemetry())
    };
    let log = mode == "json";
    let wf = lambda("step", move |x: u64| {
        if log {
            tracing::info!(x, "step done");
        }
        std::future::ready(Ok::<_, Error>(x + 1))
    })
    .into_workflow();
    // `bare`: the same step called as a boxed primitive, no instrumentation.
    let raw: std::sync::Arc<dyn Primitive<u64, Output = u64>> =
        std::sync::Arc::new(lambda("step", |x: u64| {
            std::future::ready(Ok::<_, Error>(x + 1))
        }));
    let bare = mode == "bare";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = rt.block_on(async {
        let start = Instant::now();
        let mut n = 0u64;
        if let Some(steps) = std::env::var("PROFILE_STEPS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            while n < steps {
                if bare {
                    raw.execute(&ctx, n).await.unwrap();
                } else {
                    wf.run(&ctx, n).await.unwrap();
                }
                n += 1;
            }
            return n;
        }
        while start.elapsed() < Duration::from_secs(secs) {
            for _ in 0..1000 {
                if bare {
                    raw.execute(&ctx, n).await.unwrap();
                } else {
                    wf.run(&ctx, n).await.unwrap();
                }
                n += 1;
            }
        }
        n
    });
    println!("{mode}: {:.1} ns/step", (secs as f64 * 1e9) / n as f64);
    obs.shutdown(Duration::from_secs(5));
}
