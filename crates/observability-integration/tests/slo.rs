//! SLOs declared in code: the committed `deploy/prometheus/rules/slo.yml`
//! is exactly what `examples/slo_rules` generates, `promtool check rules`
//! accepts it, and `promtool test rules` runs `slo_test.yml` (each alert
//! firing on a synthetic series that breaks its objective, silent on a
//! healthy one). Needs promtool (scripts/install-backends.sh); skips
//! without it unless CI=true.

mod support;

use std::process::Command;

fn promtool(args: &[&str]) -> Option<String> {
    let Some(bin) = support::prometheus::which("promtool") else {
        support::backend_missing("promtool");
        return None;
    };
    let out = Command::new(bin)
        .args(args)
        .current_dir(support::workspace_root().join("deploy/prometheus/rules"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    Some(text)
}

#[test]
fn the_committed_rules_are_what_the_code_generates() {
    let bin = support::workspace_root().join("target/debug/examples/slo_rules");
    if !bin.exists() {
        support::backend_missing("the slo_rules example (cargo build --example slo_rules)");
        return;
    }
    let out = Command::new(bin).arg("--print").output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(support::workspace_root().join("deploy/prometheus/rules/slo.yml"))
            .unwrap();
    assert!(
        generated == committed,
        "deploy/prometheus/rules/slo.yml is stale: run `cargo run --example slo_rules`"
    );
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    let Some(checked) = promtool(&["check", "rules", "slo.yml"]) else {
        return;
    };
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "slo_test.yml"]).unwrap();
    assert!(tested.contains("SUCCESS"), "{tested}");
}
