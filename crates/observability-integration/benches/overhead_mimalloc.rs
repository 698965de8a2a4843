//! Configuration 2 of `overhead` with mimalloc as the global allocator
//! (a library can't choose its user's allocator; an application can).
//! `cargo bench --bench overhead_mimalloc`

mod common;

use common::{bare_and_sampled, runtime};
use criterion::{criterion_group, criterion_main, Criterion};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn per_step_mimalloc(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("per_step_mimalloc");
    let obs = bare_and_sampled(&mut g, &rt);
    g.finish();
    obs.shutdown(std::time::Duration::from_secs(5));
}

criterion_group!(benches, per_step_mimalloc);
criterion_main!(benches);
