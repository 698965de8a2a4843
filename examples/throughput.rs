//! Run with: `cargo run --release --example throughput -- [--seconds N] [--queue N] [--tasks N] [--require-no-drops]`
//!
//! Endurance modes (each exits non-zero when its bound is broken):
//! * `--runs N --scrape-ms 10`: N runs over the tasks while `/metrics` is
//!   scraped every 10 ms and the report is read; the last scrape's
//!   executions must equal N per step, the span accounting must be exact,
//!   and everything must finish (a watchdog fails a deadlock).
//! * `--cycles N`: N global install/shutdown cycles, a run in each; thread
//!   count back to its baseline and RSS growth after the first 100 cycles
//!   under `--max-rss-growth-mib` (default 2).
//! * `--soak --seconds N --rss-every 1`: N seconds at full speed, RSS
//!   sampled every second; after a warm-up of a quarter of the run, the
//!   spread of the samples must stay under `--max-rss-growth-mib` (default 4).
//!
//! 1000 concurrent tasks on a multi-thread runtime, each looping a fully
//! instrumented 3-step workflow (spans batch-exported to a counting no-op
//! exporter, metrics into the Prometheus registry, in-process statistics)
//! for a fixed time; then the same loop uninstrumented. Prints workflows/s
//! of both and their ratio, peak RSS, and spans created, exported and
//! dropped. Exits with an error if created != exported + dropped, and with
//! `--require-no-drops` (a queue sized for the load) if any span was dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observability_integration::export::CountingSpanExporter;
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, Error, PrimitiveExt, Workflow, WorkflowContext};

pub(crate) fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The runtime every mode drives its tasks on.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A setup for `service` (Prometheus on a free port, spans queued up to
/// `queue` for a counting exporter, logs off) and its exporter.
pub(crate) fn counted(service: &str, queue: usize) -> (ObservabilityBuilder, CountingSpanExporter) {
    let counting = CountingSpanExporter::default();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name(service)
        .prometheus_port(0u16)
        // Measures the pipeline to exporters, not the viewer's store.
        .enable_viewer(false)
        .max_queue_size(queue)
        .max_export_batch_size(512usize.min(queue))
        .build()
        .expect("config");
    let builder = ObservabilityBuilder::new(cfg)
        .with_span_exporter(counting.clone())
        .logs(false);
    (builder, counting)
}

pub(crate) fn workflow() -> Workflow<u64, u64> {
    (lambda("parse", |x: u64| std::future::ready(Ok::<_, Error>(x + 1)))
        >> lambda("enrich", |x: u64| std::future::ready(Ok::<_, Error>(x * 2)))
        >> lambda("store", |x: u64| std::future::ready(Ok::<_, Error>(x - 1))))
    .named("pipeline")
    .into_workflow()
}

pub(crate) async fn drive(
    wf: Workflow<u64, u64>,
    tasks: u64,
    seconds: u64,
    ctx: WorkflowContext,
) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (wf, ctx, done, stop) = (wf.clone(), ctx.clone(), done.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..16 {
                    let _ = wf.run(&ctx, t + n).await;
                    n += 1;
                }
                tokio::task::yield_now().await;
            }
            done.fetch_add(n, Ordering::Relaxed);
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
    done.load(Ordering::Relaxed)
}

#[path = "throughput/endurance.rs"]
mod endurance;

fn main() {
    if let Some(code) = endurance::run_if_asked() {
        std::process::exit(code);
    }
    let seconds = arg("--seconds", 10);
    let queue = arg("--queue", 2048) as usize;
    let tasks = arg("--tasks", 1000);
    let rt = runtime();

    let (builder, counting) = counted("throughput", queue);
    let obs = builder.build();
    let wf = workflow();

    let instrumented_ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    let start = Instant::now();
    let n = rt.block_on(drive(wf.clone(), tasks, seconds, instrumented_ctx));
    let instrumented = n as f64 / start.elapsed().as_secs_f64();
    let shutdown = obs.shutdown(Duration::from_secs(60));
    let rss_instrumented = peak_rss_mib();

    let start = Instant::now();
    let bare_n = rt.block_on(drive(workflow(), tasks, seconds, WorkflowContext::new()));
    let bare = bare_n as f64 / start.elapsed().as_secs_f64();

    let c = shutdown.spans[0].1;
    println!("tasks {tasks}, {seconds} s per loop, max_queue_size {queue}, 2 worker threads");
    println!("instrumented:   {instrumented:>12.0} workflows/s ({n} runs, 4 spans each)");
    println!("uninstrumented: {bare:>12.0} workflows/s");
    println!(
        "ratio:          {:>12.2}x slower instrumented",
        bare / instrumented
    );
    println!("peak RSS:       {rss_instrumented:>12.1} MiB (after the instrumented loop)");
    println!(
        "spans: created {} = exported {} + dropped {} (queue full {}, export failed {}, after shutdown {}) + in flight {}",
        c.ended,
        c.exported,
        c.dropped(),
        c.dropped_queue_full,
        c.export_failed,
        c.dropped_after_shutdown,
        c.in_flight
    );
    println!(
        "exporter received {} spans; shutdown {}",
        counting.received(),
        if shutdown.completed {
            "completed"
        } else {
            "hit its deadline"
        }
    );
    let expected = n * 4;
    if c.ended != expected
        || c.ended != c.exported + c.dropped()
        || c.in_flight != 0
        || counting.received() != c.exported
    {
        eprintln!("ACCOUNTING MISMATCH: expected {expected} spans created; {c:?}");
        std::process::exit(1);
    }
    println!("accounting exact: created == exported + dropped");
    if std::env::args().any(|a| a == "--require-no-drops") && c.dropped() != 0 {
        eprintln!(
            "DROPPED {} spans with --require-no-drops: the queue was not sized for the load",
            c.dropped()
        );
        std::process::exit(1);
    }
}
