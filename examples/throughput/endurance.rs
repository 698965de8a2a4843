//! The endurance modes of `throughput`: load under scraping, install
//! cycles, soak. Release build, so they don't compete with a debug test
//! for the machine's two cores.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use primitives_core::WorkflowContext;

use super::{arg, counted, drive, runtime, workflow};

/// Runs the mode asked for on the command line, if any: its exit code.
pub(crate) fn run_if_asked() -> Option<i32> {
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    if has("--runs") {
        Some(load())
    } else if has("--cycles") {
        Some(cycles())
    } else if has("--soak") {
        Some(soak())
    } else {
        None
    }
}

fn rss_kib() -> u64 {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// One `GET /metrics` over a plain TCP connection: the body, if 200.
fn scrape(addr: std::net::SocketAddr) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

/// `primitive_executions_total{primitive="NAME",status="ok",…}` in `text`.
fn executions(text: &str, name: &str) -> u64 {
    let want = format!("primitive=\"{name}\"");
    text.lines()
        .filter(|l| l.starts_with("primitive_executions_total{"))
        .filter(|l| l.contains(&want) && l.contains("status=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Fails the process if the mode does not finish in time (a deadlock).
fn watchdog(limit: Duration) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(Ordering::Relaxed) {
            if start.elapsed() > limit {
                eprintln!("DEADLOCK? not finished within {limit:?}");
                std::process::exit(3);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    done
}

fn load() -> i32 {
    let runs = arg("--runs", 100_000);
    let tasks = arg("--tasks", 1000).max(1);
    let scrape_ms = arg("--scrape-ms", 10);
    let done = watchdog(Duration::from_secs(300));
    let (builder, _counting) = counted("throughput-load", 1 << 20);
    let obs = builder.build();
    let addr = obs.report().metrics_addr.expect("metrics server");
    let stop = AtomicBool::new(false);
    let scrapes = AtomicU64::new(0);
    let wf = workflow();
    let per_task = runs / tasks;
    let started = Instant::now();
    let (took, scraper_ok) = std::thread::scope(|s| {
        // Scrapes, and reads the report and the live span accounting, while
        // the runs go on.
        let scraper = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                assert!(scrape(addr).is_some(), "a scrape failed");
                assert!(!obs.report().to_string().is_empty());
                let c = obs.span_counts()[0].1;
                assert!(c.exported + c.dropped() + c.in_flight <= c.ended);
                scrapes.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(scrape_ms));
            }
        });
        runtime().block_on(async {
            let mut handles = Vec::new();
            for t in 0..tasks {
                let (wf, ctx) = (
                    wf.clone(),
                    WorkflowContext::new().with_telemetry(obs.telemetry()),
                );
                handles.push(tokio::spawn(async move {
                    for i in 0..per_task {
                        let _ = wf.run(&ctx, t * per_task + i).await;
                        if i % 16 == 15 {
                            tokio::task::yield_now().await;
                        }
                    }
                }));
            }
            for h in handles {
                let _ = h.await;
            }
        });
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        (took, scraper.join().is_ok())
    });
    let total = per_task * tasks;
    let text = scrape(addr).unwrap_or_default();
    let counts: Vec<(&str, u64)> = ["pipeline", "parse", "enrich", "store"]
        .into_iter()
        .map(|n| (n, executions(&text, n)))
        .collect();
    let shutdown = obs.shutdown(Duration::from_secs(60));
    done.store(true, Ordering::Relaxed);
    let c = shutdown.spans[0].1;
    println!(
        "load: {total} runs over {tasks} tasks in {took:.2?}, {} scrapes every {scrape_ms} ms",
        scrapes.load(Ordering::Relaxed)
    );
    println!("executions on the last scrape: {counts:?}");
    println!("spans: {c:?}");
    let exact = counts.iter().all(|(_, n)| *n == total)
        && c.ended == total * 4
        && c.ended == c.exported + c.dropped()
        && c.in_flight == 0;
    if !scraper_ok || !exact || scrapes.load(Ordering::Relaxed) == 0 {
        eprintln!("LOAD FAILED: scraper ok {scraper_ok}, counts exact {exact}");
        return 1;
    }
    println!("load: counters and accounting exact, no deadlock");
    0
}

fn cycles() -> i32 {
    let n = arg("--cycles", 1000);
    // Measured here: +48 kB over 900 cycles.
    let bound_mib = arg("--max-rss-growth-mib", 2);
    let done = watchdog(Duration::from_secs(600));
    let rt = runtime();
    let wf = workflow();
    let baseline_threads = threads();
    let mut warm = 0;
    let started = Instant::now();
    for i in 0..n {
        let (builder, counting) = counted("throughput-cycles", 2048);
        let guard = builder.install();
        rt.block_on(wf.run(&WorkflowContext::new(), i))
            .expect("run");
        let report = guard.shutdown(Duration::from_secs(10));
        if !report.completed || counting.received() != 4 {
            eprintln!(
                "CYCLE {i}: shutdown {report:?}, received {}",
                counting.received()
            );
            return 1;
        }
        if i == 99.min(n - 1) {
            warm = rss_kib();
        }
    }
    // Runtimes stop in the background: give their threads a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads() > baseline_threads && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    let (end, growth) = (rss_kib(), rss_kib().saturating_sub(warm));
    println!(
        "cycles: {n} install/shutdown cycles in {:.2?}; threads {} (baseline {baseline_threads}); RSS {end} kB, +{growth} kB after cycle 100 (bound {bound_mib} MiB)",
        started.elapsed(),
        threads()
    );
    if threads() > baseline_threads || growth > bound_mib * 1024 {
        eprintln!("CYCLES FAILED: threads or RSS not flat");
        return 1;
    }
    0
}

fn soak() -> i32 {
    let seconds = arg("--seconds", 60).max(4);
    let every = arg("--rss-every", 1).max(1);
    // Measured here: +40 kB over the last 7 of 10 s at ~600 k runs/s.
    let bound_mib = arg("--max-rss-growth-mib", 4);
    let (builder, _counting) = counted("throughput-soak", 2048);
    let obs = builder.build();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(rss_kib());
                std::thread::sleep(Duration::from_secs(every));
            }
            samples
        })
    };
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    let n = runtime().block_on(drive(workflow(), arg("--tasks", 1000), seconds, ctx));
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    let shutdown = obs.shutdown(Duration::from_secs(60));
    let c = shutdown.spans[0].1;
    let after_warmup = &samples[samples.len() / 4..];
    let (lo, hi) = (
        after_warmup.iter().copied().min().unwrap_or(0),
        after_warmup.iter().copied().max().unwrap_or(0),
    );
    println!(
        "soak: {n} runs in {seconds} s; RSS samples (kB, every {every} s): {samples:?}; after warm-up {lo}..{hi} (+{} kB, bound {bound_mib} MiB); spans {c:?}",
        hi - lo
    );
    if hi - lo > bound_mib * 1024 || c.ended != c.exported + c.dropped() || c.in_flight != 0 {
        eprintln!("SOAK FAILED: RSS not flat or accounting off");
        return 1;
    }
    0
}
