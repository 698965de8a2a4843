//! Fully instrumented composites (configuration 2), each beside the same
//! composite with nothing enabled and a bare step. `cargo bench --bench composites`

mod common;

use std::hint::black_box;

use common::{bare, runtime, setup, step, Setup};
use criterion::{criterion_group, criterion_main, Criterion};
use primitives_core::{Cache, Parallel, Primitive, PrimitiveExt, Retry, Workflow, WorkflowContext};

fn composites(c: &mut Criterion) {
    let rt = runtime();
    let (obs, _) = setup(Setup::Sampled);
    let on = WorkflowContext::new().with_telemetry(obs.telemetry());
    let off = WorkflowContext::new();
    let mut g = c.benchmark_group("composites");
    let raw = bare();
    g.bench_function("bare_step", |b| {
        b.to_async(&rt)
            .iter(|| async { raw.execute(&off, black_box(1)).await })
    });

    let seq3: Workflow<u64, u64> = (step("a") >> step("b") >> step("c")).into_workflow();
    let par10: Workflow<u64, Vec<u64>> =
        Parallel::from_workflows((0..10).map(|_| step("branch").into_workflow())).into_workflow();
    let retry: Workflow<u64, u64> = Retry::new(step("inner")).into_workflow();
    let cache: Workflow<u64, u64> = Cache::builder(step("inner"), |x: &u64| *x)
        .build()
        .into_workflow();
    rt.block_on(cache.run(&off, 1)).unwrap(); // warm: every later call is a hit

    for (name, wf) in [
        ("sequential_3", &seq3),
        ("retry_first_try", &retry),
        ("cache_hit", &cache),
    ] {
        g.bench_function(format!("{name}/nothing_enabled"), |b| {
            b.to_async(&rt)
                .iter(|| async { wf.run(&off, black_box(1)).await })
        });
        g.bench_function(format!("{name}/instrumented"), |b| {
            b.to_async(&rt)
                .iter(|| async { wf.run(&on, black_box(1)).await })
        });
    }
    g.bench_function("parallel_10/nothing_enabled", |b| {
        b.to_async(&rt)
            .iter(|| async { par10.run(&off, black_box(1)).await })
    });
    g.bench_function("parallel_10/instrumented", |b| {
        b.to_async(&rt)
            .iter(|| async { par10.run(&on, black_box(1)).await })
    });
    g.finish();
    obs.shutdown(std::time::Duration::from_secs(5));
}

criterion_group!(benches, composites);
criterion_main!(benches);
