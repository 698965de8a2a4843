//! [`WorkflowContext`]: what one workflow run carries from step to step.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::baggage::Baggage;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::KeyValue;

use crate::error::{BudgetExceeded, Error};
use crate::identity::RunIdentity;
use crate::telemetry::{Telemetry, TelemetryRef};
use crate::totals::{Amount, Budget, RunTotals, Totals};

#[derive(Debug)]
struct Run {
    ids: Arc<RunIdentity>,
    data: Mutex<serde_json::Map<String, serde_json::Value>>,
    baggage: Baggage,
    started_at: SystemTime,
    started: Instant,
    checkpoints: Mutex<Vec<(String, Duration)>>,
    totals: Arc<Totals>,
    budgets: Vec<Budget>,
    /// The root step's name, kept for runs with budgets (a label).
    root_name: std::sync::OnceLock<Cow<'static, str>>,
}

impl Clone for Run {
    fn clone(&self) -> Self {
        Run {
            ids: self.ids.clone(),
            data: Mutex::new(lock(&self.data).clone()),
            // `Baggage` is not `Clone`: copy its entries.
            baggage: self
                .baggage
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            started_at: self.started_at,
            started: self.started,
            checkpoints: Mutex::new(lock(&self.checkpoints).clone()),
            // Same run, same totals (a step's `ctx.clone().with_baggage(..)`
            // still adds to its run); a new correlation id starts new ones.
            totals: self.totals.clone(),
            budgets: self.budgets.clone(),
            root_name: self.root_name.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in another step must not take the context down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a workflow run carries from step to step.
///
/// Cheap to clone (one `Arc` plus the OpenTelemetry context). Build one per
/// run with [`WorkflowContext::new`] and the `with_*` methods, then pass it to
/// [`Workflow::run`](crate::Workflow::run) or
/// [`PrimitiveExt::run`](crate::PrimitiveExt::run). Inside a step, the
/// context you receive carries that step's span: child steps become its
/// children, and [`WorkflowContext::set_attribute`] annotates it.
///
/// ```
/// use primitives_core::WorkflowContext;
/// let ctx = WorkflowContext::new()
///     .with_correlation_id("req-123")
///     .with_workflow_id("onboarding")
///     .with_data("user_tier", "premium")
///     .with_baggage("tenant", "acme");
/// assert_eq!(ctx.correlation_id(), "req-123");
/// assert_eq!(ctx.data("user_tier").unwrap(), "premium");
/// ```
#[derive(Clone)]
pub struct WorkflowContext {
    run: Arc<Run>,
    pub(crate) otel: Option<opentelemetry::Context>,
    pub(crate) telemetry: Option<TelemetryRef>,
    /// Where `add_to_run` adds inside a measured scope (a cache miss); the
    /// run's own totals otherwise.
    scope: Option<Arc<Totals>>,
    /// 0 outside any step of this run; the root step's children see 1.
    pub(crate) depth: u32,
}

impl Default for WorkflowContext {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for WorkflowContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowContext")
            .field("correlation_id", &self.run.ids.correlation_id)
            .field("workflow_id", &self.run.ids.workflow_id)
            .field("session_id", &self.run.ids.session_id)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl WorkflowContext {
    /// A new run with a random (UUID v4) correlation id.
    pub fn new() -> Self {
        WorkflowContext {
            run: Arc::new(Run {
                ids: Arc::new(RunIdentity::new(uuid::Uuid::new_v4().to_string().into())),
                data: Mutex::default(),
                baggage: Baggage::new(),
                started_at: SystemTime::now(),
                started: Instant::now(),
                checkpoints: Mutex::default(),
                totals: Arc::default(),
                budgets: Vec::new(),
                root_name: std::sync::OnceLock::new(),
            }),
            otel: None,
            telemetry: None,
            scope: None,
            depth: 0,
        }
    }

    fn run_mut(&mut self) -> &mut Run {
        Arc::make_mut(&mut self.run)
    }

    fn ids_mut(&mut self) -> &mut RunIdentity {
        Arc::make_mut(&mut self.run_mut().ids)
    }

    /// Sets the correlation id (searchable on the run's root span and in logs).
    ///
    /// Another correlation id is another run: the context starts with
    /// empty run totals.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.ids_mut().correlation_id = id.into().into();
        self.run_mut().totals = Arc::default();
        self.scope = None;
        self
    }

    /// Sets the workflow id.
    pub fn with_workflow_id(mut self, id: impl Into<String>) -> Self {
        self.ids_mut().workflow_id = Some(id.into().into());
        self
    }

    /// Sets the session id (`session.id` on the run's root span).
    pub fn with_session_id(mut self, id: impl Into<String>) -> Self {
        self.ids_mut().session_id = Some(id.into().into());
        self
    }

    /// Adds a free-form data entry. Data is never copied into telemetry.
    pub fn with_data(self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.set_data(key, value);
        self
    }

    /// Adds a W3C baggage entry: a key and value that travel with the run
    /// (to downstream services, when propagated). Baggage is never copied
    /// into spans, logs or metric labels. As the W3C baggage rules say, an
    /// entry is not added when its key is not a token (no spaces or
    /// `(),/:;<=>?@[\]{}"`) or it would pass the limits (64 entries, 8192
    /// bytes).
    pub fn with_baggage(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.run_mut()
            .baggage
            .insert(key.into(), opentelemetry::StringValue::from(value.into()));
        self
    }

    /// Runs this context's steps against `telemetry` instead of the global
    /// one: tests use this to capture a run without touching global state.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(Arc::new(telemetry));
        self
    }

    /// Like [`with_telemetry`](Self::with_telemetry), sharing a handle.
    pub fn with_shared_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Parents this run's root span on `cx` (for example a span extracted
    /// from incoming HTTP headers). By default the root span is parented on
    /// the OpenTelemetry context current when the run starts.
    pub fn with_parent(mut self, cx: opentelemetry::Context) -> Self {
        self.otel = Some(cx);
        self
    }

    /// The run's correlation id.
    pub fn correlation_id(&self) -> &str {
        &self.run.ids.correlation_id
    }

    /// The run's ids (correlation, workflow and session id).
    pub fn identity(&self) -> &Arc<RunIdentity> {
        &self.run.ids
    }

    /// The workflow id, if set.
    pub fn workflow_id(&self) -> Option<&str> {
        self.run.ids.workflow_id.as_deref()
    }

    /// The session id, if set.
    pub fn session_id(&self) -> Option<&str> {
        self.run.ids.session_id.as_deref()
    }

    /// A copy of the data entry `key`.
    pub fn data(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.run.data).get(key).cloned()
    }

    /// Sets a data entry, visible to every later step of this run.
    pub fn set_data(&self, key: impl Into<String>, value: impl Into<serde_json::Value>) {
        lock(&self.run.data).insert(key.into(), value.into());
    }

    /// A copy of all data entries.
    pub fn data_snapshot(&self) -> serde_json::Map<String, serde_json::Value> {
        lock(&self.run.data).clone()
    }

    /// The run's W3C baggage.
    pub fn baggage(&self) -> &Baggage {
        &self.run.baggage
    }

    /// Wall-clock time the context was created.
    pub fn started_at(&self) -> SystemTime {
        self.run.started_at
    }

    /// Time since the context was created.
    pub fn elapsed(&self) -> Duration {
        self.run.started.elapsed()
    }

    /// Records a named checkpoint at the current elapsed time.
    pub fn checkpoint(&self, name: impl Into<String>) {
        let at = self.elapsed();
        lock(&self.run.checkpoints).push((name.into(), at));
    }

    /// The checkpoints recorded so far, in order.
    pub fn checkpoints(&self) -> Vec<(String, Duration)> {
        lock(&self.run.checkpoints).clone()
    }

    /// A context for a sub-workflow: same ids and baggage, a copy of data,
    /// fresh checkpoints, the same run totals, and the current step's span
    /// as parent.
    pub fn child(&self) -> WorkflowContext {
        let mut run = (*self.run).clone();
        run.checkpoints = Mutex::default();
        run.started = Instant::now();
        run.started_at = SystemTime::now();
        run.totals = self.run.totals.clone();
        WorkflowContext {
            run: Arc::new(run),
            otel: self.otel.clone(),
            telemetry: self.telemetry.clone(),
            scope: self.scope.clone(),
            depth: self.depth,
        }
    }

    /// Adds `amount` to the run total `key` (tokens, cost, calls). Every
    /// context of a run shares its totals — parallel branches, retry
    /// attempts, sub-workflows from [`child`](Self::child) — and the run's
    /// root span carries each total as an attribute named `key` when the run
    /// ends; read them with [`run_totals`](Self::run_totals). Keys are a few
    /// fixed names (at most [`MAX_RUN_TOTALS`](crate::MAX_RUN_TOTALS) per
    /// run), never data. Use one context per run: totals build up across
    /// runs that share one (a context given a new correlation id starts
    /// afresh).
    ///
    /// ```
    /// use primitives_core::{lambda_with_context, Amount, PrimitiveExt, WorkflowContext};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let call = lambda_with_context("llm", |ctx: WorkflowContext, q: String| async move {
    ///     ctx.add_to_run("llm.tokens.input", 12u64);
    ///     ctx.add_to_run("llm.cost_usd", 0.0004);
    ///     Ok::<_, primitives_core::Error>(q)
    /// });
    /// let ctx = WorkflowContext::new();
    /// call.run(&ctx, "hi".to_string()).await.unwrap();
    /// assert_eq!(ctx.run_totals().get("llm.tokens.input"), Some(Amount::Count(12)));
    /// # }
    /// ```
    pub fn add_to_run(&self, key: impl Into<Cow<'static, str>>, amount: impl Into<Amount>) {
        let key = key.into();
        self.totals().add(&key, amount.into());
    }

    /// Limits one of the run's totals: once the total reaches the limit,
    /// steps that check budgets ([`check_budgets`](Self::check_budgets) —
    /// the integration's LLM calls do before each call) fail fast with
    /// error type `budget_exceeded`. Calls already in flight when the limit
    /// is reached finish and may overshoot it.
    ///
    /// ```
    /// use primitives_core::{Budget, WorkflowContext};
    /// let ctx = WorkflowContext::new().with_budget(Budget::usd(0.05));
    /// assert!(ctx.check_budgets().is_ok());
    /// ctx.add_to_run("llm.cost.total", 0.06);
    /// assert_eq!(ctx.check_budgets().unwrap_err().error_type(), "budget_exceeded");
    /// ```
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.run_mut().budgets.push(budget);
        self
    }

    /// The run's budgets.
    pub fn budgets(&self) -> &[Budget] {
        &self.run.budgets
    }

    /// The name of the run's root step (the `workflow` label of run-level
    /// metrics), known inside a run that has budgets.
    pub fn workflow_name(&self) -> Option<&str> {
        self.run.root_name.get().map(|n| &**n)
    }

    /// Called as a run's root step starts.
    pub(crate) fn root_started(&self, name: &crate::name::Name) {
        if !self.run.budgets.is_empty() {
            let _ = self.run.root_name.set(name.0.clone());
        }
    }

    /// `Err` (error type `budget_exceeded`, a [`BudgetExceeded`]) when one
    /// of the run's budgets is reached.
    pub fn check_budgets(&self) -> Result<(), Error> {
        for b in &self.run.budgets {
            if let Some(spent) = b.reached(&self.run.totals) {
                return Err(Error::with_error_type(
                    "budget_exceeded",
                    BudgetExceeded {
                        key: b.key().to_owned(),
                        limit: b.limit(),
                        spent,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Adds `amount` to what the run *avoided* under `key` (a cache hit
    /// adds what its value cost when it was computed). The root span
    /// carries it as `cache.avoided.<key>`.
    pub fn add_avoided(&self, key: impl Into<Cow<'static, str>>, amount: impl Into<Amount>) {
        let key = key.into();
        self.totals().add_avoided(&key, amount.into());
    }

    /// The run's totals so far.
    pub fn run_totals(&self) -> RunTotals {
        self.run.totals.snapshot()
    }

    /// The run's totals, when anything was added (no lock otherwise).
    pub(crate) fn run_totals_if_any(&self) -> Option<RunTotals> {
        self.run
            .totals
            .touched()
            .then(|| self.run.totals.snapshot())
    }

    fn totals(&self) -> &Totals {
        self.scope.as_deref().unwrap_or(&self.run.totals)
    }

    /// This context with a fresh scope of totals inside the current one:
    /// what is added through it is added to the run too, and the scope
    /// tells what this part of the run spent.
    pub(crate) fn scoped(&self) -> (WorkflowContext, Arc<Totals>) {
        let parent = self
            .scope
            .clone()
            .unwrap_or_else(|| self.run.totals.clone());
        let scope = Totals::scope_of(parent);
        let mut ctx = self.clone();
        ctx.scope = Some(scope.clone());
        (ctx, scope)
    }

    /// Renames the current step's span (no-op when not traced), for a name
    /// known only while the step runs, such as `chat {response model}`.
    /// Span names must stay few: a name, not data.
    pub fn update_span_name(&self, name: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.otel {
            if self.depth > 0 {
                cx.span().update_name(name.into());
            }
        }
    }

    /// The telemetry this step records through (inside a step with any
    /// signal on; `None` outside steps unless one was injected with
    /// [`with_telemetry`](Self::with_telemetry)). Primitives defined
    /// outside this crate record their own metrics through it
    /// ([`Telemetry::meter`], [`Telemetry::extension`]).
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry.as_ref()
    }

    /// The OpenTelemetry context of the current step (its span), or an empty
    /// context when nothing is traced. Use it to parent your own spans or to
    /// inject trace headers into an outgoing request.
    pub fn otel_context(&self) -> opentelemetry::Context {
        self.otel.clone().unwrap_or_default()
    }

    /// Adds an attribute to the current step's span (no-op when not traced).
    /// Do not put user data here unless you mean to export it.
    pub fn set_attribute(&self, kv: KeyValue) {
        if let Some(cx) = &self.otel {
            if self.depth > 0 {
                cx.span().set_attribute(kv);
            }
        }
    }

    /// Adds an event to the current step's span (no-op when not traced).
    pub fn add_event(&self, name: &'static str, attributes: Vec<KeyValue>) {
        if let Some(cx) = &self.otel {
            if self.depth > 0 {
                cx.span().add_event(name, attributes);
            }
        }
    }

    /// The context a step runs with: same run, the step's span, one level deeper.
    pub(crate) fn for_step(
        &self,
        otel: Option<opentelemetry::Context>,
        telemetry: TelemetryRef,
    ) -> Self {
        WorkflowContext {
            run: self.run.clone(),
            otel,
            telemetry: Some(telemetry),
            scope: self.scope.clone(),
            depth: self.depth + 1,
        }
    }

    /// Same context, one level deeper, with no span (telemetry off).
    pub(crate) fn deeper(&self) -> Self {
        let mut c = self.clone();
        c.depth += 1;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_accessors() {
        let ctx = WorkflowContext::new()
            .with_correlation_id("c1")
            .with_workflow_id("w1")
            .with_session_id("s1")
            .with_data("k", 1)
            .with_baggage("b", "x");
        assert_eq!(ctx.correlation_id(), "c1");
        assert_eq!(ctx.workflow_id(), Some("w1"));
        assert_eq!(ctx.session_id(), Some("s1"));
        assert_eq!(ctx.data("k"), Some(serde_json::json!(1)));
        assert_eq!(ctx.baggage().get("b").map(|v| v.as_str()), Some("x"));
        ctx.checkpoint("one");
        assert_eq!(ctx.checkpoints()[0].0, "one");
        let child = ctx.child();
        assert_eq!(child.correlation_id(), "c1");
        assert_eq!(
            child.baggage().len(),
            1,
            "baggage travels to a sub-workflow"
        );
        assert!(child.checkpoints().is_empty());
        child.set_data("k", 2);
        assert_eq!(
            ctx.data("k"),
            Some(serde_json::json!(1)),
            "child data is a copy"
        );
    }

    #[test]
    fn default_correlation_ids_are_unique_uuids() {
        let a = WorkflowContext::new();
        let b = WorkflowContext::new();
        assert_ne!(a.correlation_id(), b.correlation_id());
        assert!(uuid::Uuid::parse_str(a.correlation_id()).is_ok());
    }
}
