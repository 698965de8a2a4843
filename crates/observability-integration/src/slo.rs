//! Service-level objectives declared in code, written out as Prometheus
//! rules: recording rules for each workflow's error and slow-run ratios
//! over the windows the alerts need, multi-window multi-burn-rate alerts
//! (the Google SRE workbook's: page when 2 % of a 30-day budget burns in an
//! hour or 5 % in six hours, ticket at 10 % in three days or a whole
//! budget's pace over six hours), an error-rate alert and a cost-per-run
//! alert. They read the metrics every workflow run records:
//! `workflow_runs_total{workflow,status}`,
//! `workflow_run_duration_seconds{workflow}` and
//! `workflow_run_cost_usd{workflow}`.
//!
//! ```
//! use std::time::Duration;
//! use observability_integration::slo::{Objectives, Rules};
//!
//! let yaml = Rules::new()
//!     .workflow(
//!         Objectives::new("handle_request")
//!             .success_rate(0.999)
//!             .latency(Duration::from_secs(2), 0.99)
//!             .cost_per_run_usd(0.05),
//!     )
//!     .to_prometheus_rules()
//!     .unwrap();
//! assert!(yaml.contains("alert: WorkflowErrorBudgetBurn"));
//! // A latency threshold must be a bucket bound of the histogram.
//! let bad = Rules::new()
//!     .workflow(Objectives::new("w").latency(Duration::from_millis(1500), 0.99))
//!     .to_prometheus_rules();
//! assert!(bad.unwrap_err().to_string().contains("bucket"));
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use primitives_core::semconv::RUN_DURATION_BUCKETS;

/// The windows the recording rules cover (what the alerts compare).
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// A burn-rate condition: the long and short windows, and the factor of
/// the sustainable rate both must exceed.
type Burn = (&'static str, &'static str, f64);

/// Burn-rate alerts: (severity, conditions, either firing), from the SRE
/// workbook for a 30-day budget.
const BURNS: [(&str, [Burn; 2]); 2] = [
    ("page", [("1h", "5m", 14.4), ("6h", "30m", 6.0)]),
    ("ticket", [("1d", "2h", 3.0), ("3d", "6h", 1.0)]),
];

/// A rule set that can't be written: which objective, what, and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("slo for workflow {workflow:?}: {problem}; {fix}")]
#[non_exhaustive]
pub struct SloError {
    /// The workflow whose objective is wrong.
    pub workflow: String,
    /// What is wrong.
    pub problem: String,
    /// What is accepted.
    pub fix: String,
}

/// The objectives of one workflow (its root step's name, the `workflow`
/// label of the run metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Objectives {
    workflow: String,
    success: Option<f64>,
    latency: Option<(Duration, f64)>,
    cost: Option<f64>,
    error_rate: Option<f64>,
}

impl Objectives {
    /// Objectives for the workflow named `workflow`.
    pub fn new(workflow: impl Into<String>) -> Objectives {
        Objectives {
            workflow: workflow.into(),
            success: None,
            latency: None,
            cost: None,
            error_rate: None,
        }
    }

    /// The fraction of runs that succeed (`0.999` for 99.9 %): burn-rate
    /// alerts on its error budget.
    pub fn success_rate(mut self, target: f64) -> Objectives {
        self.success = Some(target);
        self
    }

    /// The fraction of runs (`target`) that finish within `threshold`,
    /// which must be a bucket bound of `workflow_run_duration_seconds`:
    /// burn-rate alerts on the slow runs.
    pub fn latency(mut self, threshold: Duration, target: f64) -> Objectives {
        self.latency = Some((threshold, target));
        self
    }

    /// The most a run may cost on average over an hour, in USD: an alert
    /// when it costs more for 15 minutes.
    pub fn cost_per_run_usd(mut self, max: f64) -> Objectives {
        self.cost = Some(max);
        self
    }

    /// An alert when more than `max` of the runs fail over 5 minutes, for
    /// 5 minutes (a plain threshold beside the budget's burn rates).
    pub fn error_rate_below(mut self, max: f64) -> Objectives {
        self.error_rate = Some(max);
        self
    }

    fn fail(&self, problem: impl Into<String>, fix: impl Into<String>) -> SloError {
        SloError {
            workflow: self.workflow.clone(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn check(&self) -> Result<(), SloError> {
        if self.workflow.is_empty()
            || !self
                .workflow
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.:/ ".contains(c))
        {
            return Err(self.fail(
                "the name is empty or has a character other than letters, digits and _ - . : / space",
                "the workflow's root step name, as in workflow_runs_total{workflow=...}",
            ));
        }
        let fraction = |what: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(self.fail(
                    format!("{what} {v} is not between 0 and 1"),
                    "a fraction such as 0.999 (99.9 %), below 1 so there is a budget",
                ))
            }
        };
        if let Some(s) = self.success {
            fraction("success_rate", s)?;
        }
        if let Some((threshold, target)) = self.latency {
            fraction("the latency target", target)?;
            let secs = threshold.as_secs_f64();
            if !RUN_DURATION_BUCKETS.iter().any(|b| (b - secs).abs() < 1e-9) {
                let bounds: Vec<String> = RUN_DURATION_BUCKETS
                    .iter()
                    .map(|b| format!("{b}s"))
                    .collect();
                return Err(self.fail(
                    format!("the latency threshold {secs}s is not a bucket bound of workflow_run_duration_seconds, so no series counts the runs within it"),
                    format!("one of {}", bounds.join(", ")),
                ));
            }
        }
        if let Some(e) = self.error_rate {
            fraction("error_rate_below", e)?;
        }
        if let Some(c) = self.cost {
            if !(c > 0.0 && c.is_finite()) {
                return Err(self.fail(
                    format!("cost_per_run_usd {c} is not a positive amount"),
                    "USD per run, such as 0.05",
                ));
            }
        }
        Ok(())
    }
}

/// Objectives of several workflows, written as one rule file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    workflows: Vec<Objectives>,
}

/// A number as PromQL and YAML take it, without float noise.
fn num(v: f64) -> String {
    format!("{}", (v * 1e12).round() / 1e12)
}

/// The `le` matcher of a bucket bound: the text format writes `2`, the
/// OpenMetrics format `2.0`.
fn le(bound: f64) -> String {
    if bound.fract() == 0.0 {
        format!("le=~\"{0}|{0}.0\"", bound as u64)
    } else {
        format!("le=\"{}\"", num(bound))
    }
}

impl Rules {
    /// An empty rule set.
    pub fn new() -> Rules {
        Rules::default()
    }

    /// Adds a workflow's objectives.
    pub fn workflow(mut self, objectives: Objectives) -> Rules {
        self.workflows.push(objectives);
        self
    }

    /// The rule file (YAML, `groups:` at the top as `promtool check
    /// rules` takes it), or what is wrong with an objective.
    pub fn to_prometheus_rules(&self) -> Result<String, SloError> {
        let mut out = String::from(
            "# Generated by observability_integration::slo from the objectives in\n\
             # examples/slo_rules.rs: change them there and run\n\
             # `cargo run --example slo_rules` (a test checks this file matches).\n\
             groups:\n",
        );
        for (i, o) in self.workflows.iter().enumerate() {
            o.check()?;
            if self.workflows[..i].iter().any(|p| p.workflow == o.workflow) {
                return Err(o.fail("objectives given twice", "one Objectives per workflow"));
            }
        }
        self.write_recording(&mut out);
        for o in &self.workflows {
            write_alerts(&mut out, o);
        }
        Ok(out)
    }

    /// The recording rules, for every workflow at once (so each name is
    /// recorded once): error ratios, slow-run ratios per threshold, mean
    /// cost per run.
    fn write_recording(&self, out: &mut String) {
        let _ = writeln!(out, "  - name: slo-recording\n    rules:");
        if self
            .workflows
            .iter()
            .any(|o| o.success.is_some() || o.error_rate.is_some())
        {
            for win in WINDOWS {
                let _ = writeln!(
                    out,
                    "      - record: workflow:run_errors:ratio_rate{win}\n        expr: sum by (workflow) (rate(workflow_runs_total{{status!=\"ok\"}}[{win}])) / sum by (workflow) (rate(workflow_runs_total[{win}]))"
                );
            }
        }
        let mut thresholds: Vec<f64> = self
            .workflows
            .iter()
            .filter_map(|o| o.latency.map(|(t, _)| t.as_secs_f64()))
            .collect();
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        for t in thresholds {
            let (name, le) = (slow_name(t), le(t));
            for win in WINDOWS {
                let _ = writeln!(
                    out,
                    "      - record: workflow:{name}:ratio_rate{win}\n        expr: 1 - sum by (workflow) (rate(workflow_run_duration_seconds_bucket{{{le}}}[{win}])) / sum by (workflow) (rate(workflow_run_duration_seconds_count[{win}]))"
                );
            }
        }
        if self.workflows.iter().any(|o| o.cost.is_some()) {
            let _ = writeln!(
                out,
                "      - record: workflow:run_cost_usd:mean_rate1h\n        expr: sum by (workflow) (rate(workflow_run_cost_usd_sum[1h])) / sum by (workflow) (rate(workflow_run_cost_usd_count[1h]))"
            );
        }
    }
}

/// The recorded name of the ratio of runs slower than `t` seconds
/// (`run_over_2s`, `run_over_0_5s`).
fn slow_name(t: f64) -> String {
    format!("run_over_{}s", num(t).replace('.', "_"))
}

fn write_alerts(out: &mut String, o: &Objectives) {
    let w = &o.workflow;
    let sel = format!("workflow=\"{w}\"");
    let _ = writeln!(out, "  - name: slo-{w}-alerts\n    rules:");
    if let Some(target) = o.success {
        burn_alerts(
            out,
            o,
            "WorkflowErrorBudgetBurn",
            "run_errors",
            target,
            "failed runs",
        );
    }
    if let Some((threshold, target)) = o.latency {
        let what = format!("runs slower than {}s", num(threshold.as_secs_f64()));
        burn_alerts(
            out,
            o,
            "WorkflowLatencyBudgetBurn",
            &slow_name(threshold.as_secs_f64()),
            target,
            &what,
        );
    }
    if let Some(max) = o.error_rate {
        let _ = writeln!(
            out,
            "      - alert: WorkflowErrorRateHigh\n        expr: workflow:run_errors:ratio_rate5m{{{sel}}} > {m}\n        for: 5m\n        labels:\n          severity: ticket\n        annotations:\n          summary: \"{w}: more than {pct} % of runs failed over 5 minutes\"",
            m = num(max),
            pct = num(max * 100.0),
        );
    }
    if let Some(max) = o.cost {
        let _ = writeln!(
            out,
            "      - alert: WorkflowCostPerRunHigh\n        expr: workflow:run_cost_usd:mean_rate1h{{{sel}}} > {m}\n        for: 15m\n        labels:\n          severity: ticket\n        annotations:\n          summary: \"{w}: runs cost more than ${m} each on average over the last hour\"",
            m = num(max),
        );
    }
}

/// The page and ticket burn-rate alerts on `ratio` against the budget
/// `1 - target`.
fn burn_alerts(
    out: &mut String,
    o: &Objectives,
    alert: &str,
    ratio: &str,
    target: f64,
    what: &str,
) {
    let w = &o.workflow;
    let budget = num(1.0 - target);
    for (severity, pairs) in BURNS {
        let expr: Vec<String> = pairs
            .iter()
            .map(|(long, short, factor)| {
                let f = num(*factor);
                format!(
                    "(workflow:{ratio}:ratio_rate{long}{{workflow=\"{w}\"}} > ({f} * {budget}) and workflow:{ratio}:ratio_rate{short}{{workflow=\"{w}\"}} > ({f} * {budget}))"
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "      - alert: {alert}\n        expr: {}\n        labels:\n          severity: {severity}\n          objective: \"{}\"\n        annotations:\n          summary: \"{w}: {what} spend the {} % objective's budget at over {}x the sustainable rate ({severity})\"",
            expr.join(" or "),
            num(target),
            num(target * 100.0),
            num(pairs[1].2),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_bucket_matchers() {
        assert_eq!(num(1.0 - 0.999), "0.001");
        assert_eq!(num(14.4), "14.4");
        assert_eq!(num(6.0), "6");
        assert_eq!(le(2.0), "le=~\"2|2.0\"");
        assert_eq!(le(0.25), "le=\"0.25\"");
    }

    #[test]
    fn bad_objectives_name_the_workflow_and_the_fix() {
        let e = |o: Objectives| Rules::new().workflow(o).to_prometheus_rules().unwrap_err();
        let err = e(Objectives::new("w").success_rate(1.0));
        assert!(err.to_string().contains("success_rate 1"), "{err}");
        let err = e(Objectives::new("w").latency(Duration::from_millis(1500), 0.99));
        assert!(err.fix.contains("2s"), "{err}");
        let err = e(Objectives::new("bad\"name"));
        assert!(err.to_string().contains("bad\\\"name"), "{err}");
        let err = e(Objectives::new("w").cost_per_run_usd(-1.0));
        assert!(err.problem.contains("cost_per_run_usd"), "{err}");
        let twice = Rules::new()
            .workflow(Objectives::new("w").success_rate(0.99))
            .workflow(Objectives::new("w").success_rate(0.9))
            .to_prometheus_rules();
        assert!(twice.unwrap_err().problem.contains("twice"));
    }
}
