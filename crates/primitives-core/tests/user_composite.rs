//! A composite written outside the crate, with the public `Step` and
//! `Position`, is observed exactly like a built-in one: same span tree,
//! positions, attributes and metrics.

use opentelemetry::Value;
use primitives_core::testing::{attr, render_tree, TestTelemetry};
use primitives_core::{
    async_trait, lambda, Error, Lambda, Position, Primitive, PrimitiveExt, Step, WorkflowContext,
};

type Ready = std::future::Ready<Result<i64, Error>>;

fn add(name: &'static str, n: i64) -> Lambda<impl Fn(i64) -> Ready + Send + Sync> {
    lambda(name, move |x: i64| std::future::ready(Ok(x + n)))
}

/// Two steps one after the other, as `a >> b` builds — written by a user.
struct Pair<A, B> {
    first: Step<A>,
    second: Step<B>,
}

#[async_trait]
impl<A, B> Primitive<i64> for Pair<A, B>
where
    A: Primitive<i64, Output = i64>,
    B: Primitive<i64, Output = i64>,
{
    type Output = i64;
    async fn execute(&self, ctx: &WorkflowContext, x: i64) -> Result<i64, Error> {
        let mid = self
            .first
            .call(ctx, x, Position::index("step.index", 0))
            .await?;
        self.second
            .call(ctx, mid, Position::index("step.index", 1))
            .await
    }
    fn name(&self) -> &str {
        "pair"
    }
    fn primitive_type(&self) -> &'static str {
        "sequential"
    }
}

/// Runs `workflow` once under fresh telemetry: (span tree, spans, executions
/// per primitive, duration samples per primitive).
async fn observe<P: Primitive<i64, Output = i64> + 'static>(
    workflow: P,
) -> (String, Vec<opentelemetry_sdk::trace::SpanData>, Vec<u64>) {
    let t = TestTelemetry::new();
    let wf = workflow.into_workflow();
    for i in 0..3 {
        assert_eq!(wf.run(&t.context(), i).await.unwrap(), i + 3);
    }
    let spans = t.spans();
    let m = t.metrics();
    let counts = ["pair", "inc", "inc2"]
        .iter()
        .flat_map(|p| {
            [
                m.counter(
                    "primitive_executions",
                    &[("primitive", p), ("status", "ok")],
                ),
                m.histogram_count("primitive_duration", &[("primitive", p)]),
            ]
        })
        .collect();
    let one_run: Vec<_> = {
        let trace = spans[0].span_context.trace_id();
        spans
            .iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .cloned()
            .collect()
    };
    (render_tree(&one_run), spans, counts)
}

#[tokio::test]
async fn a_user_composite_is_observed_like_a_built_in_one() {
    let builtin = (add("inc", 1) >> add("inc2", 2)).named("pair");
    let user = Pair {
        first: Step::new(add("inc", 1)),
        second: Step::new(add("inc2", 2)),
    };
    let (builtin_tree, builtin_spans, builtin_counts) = observe(builtin).await;
    let (user_tree, user_spans, user_counts) = observe(user).await;

    assert_eq!(
        user_tree,
        "primitive.pair []\n  primitive.inc [step.index=0]\n  primitive.inc2 [step.index=1]\n"
    );
    assert_eq!(user_tree, builtin_tree);
    assert_eq!(user_counts, builtin_counts);
    assert_eq!(user_counts, vec![3, 3, 3, 3, 3, 3]);
    assert_eq!(user_spans.len(), builtin_spans.len());
    for (u, b) in user_spans.iter().zip(&builtin_spans) {
        assert_eq!(u.name, b.name);
        for key in ["primitive.name", "primitive.type", "step.index"] {
            assert_eq!(attr(u, key), attr(b, key), "{key} on {}", u.name);
        }
    }
    let root = user_spans
        .iter()
        .find(|s| s.name == "primitive.pair")
        .unwrap();
    assert_eq!(
        attr(root, "primitive.type"),
        Some(&Value::from("sequential"))
    );
}
