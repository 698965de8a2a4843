use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn table() -> Pricing {
    Pricing::from_toml(
        r#"
        [models."gpt-4o-mini"]
        input = 0.15
        output = 0.60
        cache_read = 0.075
        aliases = ["mini-latest"]

        [models."gpt-4o"]
        input = 2.50
        output = 10.00

        [models."gpt-4"]
        input = 30.0
        output = 60.0

        [models."thinker"]
        input = 1.0
        output = 1.0
        reasoning = 2.0

        [models."local-llama"]
        input = 0
        output = 0
        "#,
        "test",
    )
    .unwrap()
}

#[test]
fn the_builtin_table_parses_and_states_its_date() {
    let p = Pricing::from_toml(BUILTIN, "built-in").unwrap();
    assert!(p.len() >= 5);
    assert_eq!(p, Pricing::builtin());
    assert!(BUILTIN.contains(BUILTIN_PRICES_DATE));
    // A dated model name is priced as its model.
    assert_eq!(p.lookup("gpt-4o-mini-2024-07-18").unwrap().0, "gpt-4o-mini");
    assert_eq!(
        p.lookup("claude-sonnet-4-20250514").unwrap().0,
        "claude-sonnet-4"
    );
}

#[test]
fn each_subset_of_the_tokens_is_billed_at_its_own_price() {
    let p = table();
    // 1 M prompt tokens, 400 k of them read from the provider's cache.
    let usage = TokenUsage::new(1_000_000, 1_000_000).cache_read(400_000);
    let c = p.cost("gpt-4o-mini", &usage).unwrap();
    assert!(close(c.prompt, 0.6 * 0.15 + 0.4 * 0.075), "{c:?}");
    assert!(close(c.completion, 0.60));
    assert!(close(c.total(), c.prompt + c.completion));
    // Cache writes default to the input price, reasoning to the output price.
    let c = p
        .cost(
            "gpt-4o",
            &TokenUsage::new(2_000, 1_000)
                .cache_creation(1_000)
                .reasoning(500),
        )
        .unwrap();
    assert!(close(c.prompt, 2_000.0 * 2.5 / 1e6));
    assert!(close(c.completion, 1_000.0 * 10.0 / 1e6));
    // An explicit reasoning price.
    let c = p
        .cost("thinker", &TokenUsage::new(0, 1_000).reasoning(400))
        .unwrap();
    assert!(close(c.completion, (600.0 * 1.0 + 400.0 * 2.0) / 1e6));
}

#[test]
fn free_is_zero_and_unknown_is_unpriced_never_zero() {
    let p = table();
    let usage = TokenUsage::new(5_000, 5_000);
    assert_eq!(p.cost("local-llama", &usage), Some(CallCost::default()));
    assert_eq!(p.cost("mystery-model", &usage), None);
    assert_eq!(Pricing::empty().cost("gpt-4o", &usage), None);
}

#[test]
fn lookup_is_exact_then_alias_then_a_known_model_with_a_version_tag() {
    let p = table();
    assert_eq!(p.lookup("gpt-4o").unwrap().0, "gpt-4o");
    assert_eq!(p.lookup("mini-latest").unwrap().0, "gpt-4o-mini");
    // The longest model the name extends with a version or date tag.
    for (model, priced_as) in [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4o-mini@001", "gpt-4o-mini"),
        ("gpt-4o:latest", "gpt-4o"),
    ] {
        assert_eq!(p.lookup(model).map(|(n, _)| n), Some(priced_as), "{model}");
    }
    // Not a version: another model, unpriced rather than priced wrong.
    for model in [
        "gpt-4.1",
        "gpt-4-turbo",
        "gpt-4o-audio-preview",
        "gpt-",
        "gpt",
    ] {
        assert_eq!(p.lookup(model), None, "{model}");
    }
}

#[test]
fn inconsistent_usage_neither_panics_nor_goes_negative() {
    let p = table();
    let usage = TokenUsage::new(10, 5).cache_read(u64::MAX).reasoning(50);
    let c = p.cost("gpt-4o-mini", &usage).unwrap();
    assert!(c.prompt >= 0.0 && c.completion >= 0.0 && c.total().is_finite());
    assert_eq!(TokenUsage::new(u64::MAX, 1).total(), u64::MAX);
}

#[test]
fn bad_tables_are_errors_naming_what_and_where() {
    let bad = |text: &str| Pricing::from_toml(text, "prices.toml").unwrap_err();
    let e = bad("[models.\"m\"]\ninput = -1\noutput = 1\n");
    assert!(
        e.to_string().contains("prices.toml")
            && e.problem.contains("\"m\"")
            && e.problem.contains("`input`"),
        "{e}"
    );
    let e = bad("[models.\"m\"]\ninput = nan\noutput = 1\n");
    assert!(e.problem.contains("`input`"), "{e}");
    let e = bad("[models.\"m\"]\ninput = 1\noutput = 1\ncahce_read = 1\n");
    assert!(e.problem.contains("cahce_read"), "{e}");
    let e = bad("[models.\"m\"]\ninput = 1\n");
    assert!(e.problem.contains("output"), "{e}");
    let e = bad("[models.\"a\"]\ninput = 1\noutput = 1\naliases = [\"x\"]\n[models.\"b\"]\ninput = 1\noutput = 1\naliases = [\"x\"]\n");
    assert!(e.problem.contains("alias \"x\""), "{e}");
    let e = bad("[models.\"a\"]\ninput = 1\noutput = 1\naliases = [\"b\"]\n[models.\"b\"]\ninput = 2\noutput = 2\n");
    assert!(e.problem.contains("also a model"), "{e}");
    let e = bad("models = 3");
    assert!(e.problem.contains("expected [models"), "{e}");
    let e = Pricing::from_file("/nonexistent/prices.toml").unwrap_err();
    assert!(
        e.to_string().contains("/nonexistent/prices.toml") && e.problem.contains("cannot be read"),
        "{e}"
    );
    let e = Pricing::empty()
        .with_model("m", ModelPrice::new(1.0, f64::INFINITY))
        .unwrap_err();
    assert!(e.problem.contains("`output`"), "{e}");
}

#[test]
fn code_adds_to_a_table_and_tables_merge() {
    let p = Pricing::builtin()
        .with_model("in-house", ModelPrice::new(0.5, 1.0).with_cache_read(0.1))
        .unwrap()
        .merged(table());
    assert_eq!(p.lookup("in-house").unwrap().1.cache_read, Some(0.1));
    assert_eq!(p.lookup("gpt-4").unwrap().1.input, 30.0);
    assert!(p.lookup("claude-3-5-haiku-latest").is_some());
}
