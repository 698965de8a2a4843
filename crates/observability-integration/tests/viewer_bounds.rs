//! The viewer's store under load: 100 000 workflows through a 1 MiB store
//! stay within the bound by the store's own accounting at every sample,
//! and under eviction the failed runs outlive the successful ones.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};

const RUNS: u32 = 100_000;
/// One run in this many fails.
const FAIL_EVERY: u32 = 1000;
const MAX_BYTES: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_runs_stay_within_the_bound_and_failures_outlive_successes() {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("viewer-bounds")
        .prometheus_port(0u16)
        .enable_viewer(true)
        .viewer_max_bytes(MAX_BYTES)
        .max_queue_size(1usize << 20)
        .max_export_batch_size(2048usize)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg).logs(false).build();
    assert!(obs.report().all_live(), "{}", obs.report());
    let viewer = obs.viewer().unwrap().clone();

    // Sample the accounting while the runs go through.
    let done = Arc::new(AtomicBool::new(false));
    let (d, v) = (done.clone(), viewer.clone());
    let sampler = std::thread::spawn(move || {
        let (mut samples, mut worst) = (0u64, 0usize);
        while !d.load(Ordering::Relaxed) {
            let s = v.stats();
            worst = worst.max(s.bytes);
            samples += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        (samples, worst)
    });

    let check = lambda("check", |n: u32| async move {
        if n % FAIL_EVERY == 0 {
            Err(Error::with_error_type(
                "rejected",
                format!("order {n} rejected"),
            ))
        } else {
            Ok(n)
        }
    });
    let charge = lambda("charge", |n: u32| async move { Ok::<_, Error>(n) });
    let wf = (check >> charge).named("order").into_workflow();
    let tel = obs.telemetry();
    for n in 1..=RUNS {
        let ctx = WorkflowContext::new().with_telemetry(tel.clone());
        let _ = wf.run(&ctx, n).await;
    }
    assert!(obs.force_flush(Duration::from_secs(30)));
    done.store(true, Ordering::Relaxed);
    let (samples, worst) = sampler.join().unwrap();

    let s = viewer.stats();
    let counts = obs.span_counts();
    let (_, c) = counts.iter().find(|(n, _)| n == "viewer").unwrap();
    assert_eq!(c.dropped(), 0, "every span reached the store: {c:?}");
    assert!(c.exported >= u64::from(RUNS) * 2, "{c:?}");
    assert!(samples > 10, "{samples} samples");
    assert!(worst <= MAX_BYTES, "sampled {worst} bytes > {MAX_BYTES}");
    assert!(s.peak_bytes <= MAX_BYTES, "{s:?}");
    assert!(s.bytes <= MAX_BYTES && s.bytes > MAX_BYTES / 2, "{s:?}");
    assert!(s.evicted_succeeded > u64::from(RUNS) / 2, "{s:?}");
    assert_eq!(s.evicted_failed, 0, "failed runs go last: {s:?}");

    // Every failed run is still there, and successful ones only from the
    // end of the load.
    let base = obs.report().viewer_url().unwrap();
    let failed: serde_json::Value = reqwest::get(format!("{base}api/runs?status=error&limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        failed["matched"],
        RUNS / FAIL_EVERY,
        "{}",
        failed["matched"]
    );
    let ok: serde_json::Value = reqwest::get(format!("{base}api/runs?status=ok&limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept_ok = ok["matched"].as_u64().unwrap();
    assert!(kept_ok > 0, "{ok}");
    assert_eq!(
        kept_ok + u64::from(RUNS / FAIL_EVERY),
        s.traces as u64,
        "{s:?}"
    );
    assert_eq!(
        s.evicted_succeeded + kept_ok,
        u64::from(RUNS - RUNS / FAIL_EVERY),
        "every successful run is kept or counted as evicted: {s:?}"
    );
    println!(
        "{RUNS} runs: {} kept ({} failed), {} evicted, peak {} of {MAX_BYTES} bytes, {samples} samples",
        s.traces,
        RUNS / FAIL_EVERY,
        s.evicted_succeeded,
        s.peak_bytes
    );
    obs.shutdown(Duration::from_secs(5));
}
