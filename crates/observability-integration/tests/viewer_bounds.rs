//! The viewer's store under load: 100 000 workflows through an 8 MiB store
//! stay within the bound by the store's own accounting at every sample,
//! the process's resident memory grows by at most 64 MiB after warm-up,
//! and under eviction the failed, slow and expensive runs outlive the
//! ordinary ones (one check per class).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, lambda_with_context, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;

const RUNS: u32 = 100_000;
/// Runs before the memory baseline is read.
const WARM_UP: u32 = 20_000;
/// One run in this many fails; the next one is slow, the one after
/// expensive.
const EVERY: u32 = 1000;
const MAX_BYTES: usize = 8 << 20;
const RSS_GROWTH: u64 = 64 << 20;

/// Resident memory of this process, from /proc.
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

async fn runs(base: &str, query: &str) -> Value {
    reqwest::get(format!("{base}api/runs?limit=1000&{query}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The order numbers of listed runs (their correlation ids are `o-N`).
fn numbers(listed: &Value) -> Vec<u32> {
    listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            r["correlation_id"]
                .as_str()?
                .strip_prefix("o-")?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_runs_stay_within_the_bound_and_what_matters_outlives_the_rest() {
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

    // Every run has a cost (the same, so none is expensive) and takes
    // microseconds, except: n % EVERY == 0 fails, == 1 sleeps 20 ms (slow),
    // == 2 costs 100 times more (expensive).
    let check = lambda_with_context("check", |ctx: WorkflowContext, n: u32| async move {
        ctx.add_to_run("llm.cost.total", if n % EVERY == 2 { 0.1 } else { 0.001 });
        match n % EVERY {
            0 => Err(Error::with_error_type(
                "rejected",
                format!("order {n} rejected"),
            )),
            1 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(n)
            }
            _ => Ok(n),
        }
    });
    let charge = lambda("charge", |n: u32| async move { Ok::<_, Error>(n) });
    let wf = (check >> charge).named("order").into_workflow();
    let tel = obs.telemetry();
    let mut baseline = None;
    for n in 1..=RUNS {
        let ctx = WorkflowContext::new()
            .with_telemetry(tel.clone())
            .with_correlation_id(format!("o-{n}"));
        let _ = wf.run(&ctx, n).await;
        if n == WARM_UP {
            assert!(obs.force_flush(Duration::from_secs(30)));
            baseline = rss();
        }
    }
    assert!(obs.force_flush(Duration::from_secs(30)));
    let end_rss = rss();
    done.store(true, Ordering::Relaxed);
    let (samples, worst) = sampler.join().unwrap();

    let s = viewer.stats();
    let counts = obs.span_counts();
    let (_, c) = counts.iter().find(|(n, _)| n == "viewer").unwrap();
    assert_eq!(c.dropped(), 0, "every span reached the store: {c:?}");
    assert!(samples > 10, "{samples} samples");
    assert!(worst <= MAX_BYTES, "sampled {worst} bytes > {MAX_BYTES}");
    assert!(s.peak_bytes <= MAX_BYTES, "{s:?}");
    assert!(s.bytes <= MAX_BYTES && s.bytes > MAX_BYTES / 2, "{s:?}");
    assert!(s.evicted_ordinary > u64::from(RUNS) / 2, "{s:?}");
    if let (Some(b), Some(e)) = (baseline, end_rss) {
        assert!(
            e <= b + RSS_GROWTH,
            "RSS grew {} MiB after warm-up (from {} MiB to {} MiB)",
            (e.saturating_sub(b)) >> 20,
            b >> 20,
            e >> 20
        );
    }

    let base = obs.report().viewer_url().unwrap();
    // The oldest kept run of a class (by its order number), and how many.
    let oldest = |class: &'static str| {
        let base = base.clone();
        async move {
            let listed = runs(&base, &format!("retention={class}&order=oldest&limit=1")).await;
            let n = numbers(&listed).first().copied();
            (n, listed["matched"].as_u64().unwrap_or(0))
        }
    };
    let (oldest_ordinary, kept_ordinary) = oldest("ordinary").await;
    let oldest_ordinary = oldest_ordinary.expect("recent ordinary runs are kept");
    // Failed and expensive: every one is kept (1 in EVERY runs each; the
    // first expensive one came before the cost window had MIN_RUNS runs,
    // so it was judged ordinary).
    for (class, want) in [("failed", RUNS / EVERY), ("expensive", RUNS / EVERY - 1)] {
        let (o, kept) = oldest(class).await;
        assert_eq!(kept, u64::from(want), "every {class} run is kept");
        assert!(
            o.is_some_and(|o| o <= EVERY + 2),
            "the first {class} run is still there: {o:?}"
        );
    }
    assert_eq!((s.evicted_failed, s.evicted_expensive), (0, 0), "{s:?}");
    // Slow (the deliberate ones and the natural top tenth): kept far
    // longer than ordinary runs of their age.
    let (oldest_slow, kept_slow) = oldest("slow").await;
    let oldest_slow = oldest_slow.expect("slow runs are kept");
    assert!(
        oldest_slow + 5 * EVERY < oldest_ordinary,
        "the oldest kept slow run is o-{oldest_slow}, the oldest ordinary o-{oldest_ordinary}"
    );
    let deliberate = runs(&base, "retention=slow&min_duration_ms=15").await;
    assert!(
        numbers(&deliberate).iter().all(|n| n % EVERY == 1)
            && deliberate["matched"].as_u64() > Some(1),
        "{}",
        deliberate["matched"]
    );
    assert_eq!(
        kept_ordinary + kept_slow + 2 * u64::from(RUNS / EVERY) - 1,
        s.traces as u64,
        "every kept run has one class: {s:?}"
    );
    println!(
        "{RUNS} runs: {} kept ({kept_ordinary} ordinary, {kept_slow} slow), evicted ordinary {} slow {} expensive {} failed {}, peak {} of {MAX_BYTES} bytes, RSS {:?} -> {:?} MiB, oldest kept slow o-{oldest_slow}, ordinary o-{oldest_ordinary}, {samples} samples",
        s.traces,
        s.evicted_ordinary,
        s.evicted_slow,
        s.evicted_expensive,
        s.evicted_failed,
        s.peak_bytes,
        baseline.map(|b| b >> 20),
        end_rss.map(|e| e >> 20),
    );
    obs.shutdown(Duration::from_secs(5));
}
