//! Configuration 2 of `overhead` with mimalloc as the global allocator
//! (a library can't choose its user's allocator; an application can).
//! `cargo bench --bench overhead_mimalloc`

mod common;

use std::hint::black_box;

use common::{bare, observed, runtime, setup, Setup};
use criterion::{criterion_group, criterion_main, Criterion};
use primitives_core::{Primitive, WorkflowContext};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn per_step_mimalloc(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("per_step_mimalloc");
    let raw = bare();
    let ctx = WorkflowContext::new();
    g.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { raw.execute(&ctx, black_box(1)).await })
    });
    let wf = observed();
    let (obs, _) = setup(Setup::Sampled);
    let ctx2 = WorkflowContext::new().with_telemetry(obs.telemetry());
    g.bench_function("2_sampled_batch_export", |b| {
        b.to_async(&rt)
            .iter(|| async { wf.run(&ctx2, black_box(1)).await })
    });
    g.finish();
    obs.shutdown(std::time::Duration::from_secs(5));
}

criterion_group!(benches, per_step_mimalloc);
criterion_main!(benches);
