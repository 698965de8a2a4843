//! [`Pricing`]: USD per million tokens by model, from a TOML table, and the
//! cost of one call's [`TokenUsage`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The built-in table's TOML (prices as published by the providers on
/// [`BUILTIN_PRICES_DATE`]).
const BUILTIN: &str = include_str!("pricing_default.toml");

/// The date the built-in prices were taken from the providers' price
/// pages. Prices change: give your own table (`llm_pricing_file`) for
/// numbers you rely on.
pub const BUILTIN_PRICES_DATE: &str = "2025-06-01";

/// Tokens of one LLM call, as the provider reports them.
///
/// `input` **includes** `cache_read` and `cache_creation` (the cached part
/// of the prompt), and `output` **includes** `reasoning`, as OpenAI,
/// Anthropic (after adding its cache counts to the input) and the
/// OpenTelemetry GenAI conventions count them. Each subset is billed at
/// its own price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenUsage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    /// Completion tokens, reasoning ones included.
    pub output: u64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_creation: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning: u64,
}

impl TokenUsage {
    /// `input` prompt and `output` completion tokens, nothing cached.
    pub fn new(input: u64, output: u64) -> TokenUsage {
        TokenUsage {
            input,
            output,
            ..TokenUsage::default()
        }
    }

    /// With `n` of the input tokens read from the provider's cache.
    pub fn cache_read(mut self, n: u64) -> Self {
        self.cache_read = n;
        self
    }

    /// With `n` of the input tokens written to the provider's cache.
    pub fn cache_creation(mut self, n: u64) -> Self {
        self.cache_creation = n;
        self
    }

    /// With `n` of the output tokens spent on reasoning.
    pub fn reasoning(mut self, n: u64) -> Self {
        self.reasoning = n;
        self
    }

    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// One model's prices, USD per million tokens. `cache_read` and
/// `cache_write` default to `input`, `reasoning` to `output`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens (other than reasoning).
    pub output: f64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: Option<f64>,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: Option<f64>,
    /// Reasoning tokens.
    pub reasoning: Option<f64>,
}

impl ModelPrice {
    /// `input` and `output` USD per million tokens; the rest at those.
    pub fn new(input: f64, output: f64) -> ModelPrice {
        ModelPrice {
            input,
            output,
            cache_read: None,
            cache_write: None,
            reasoning: None,
        }
    }

    /// Price of cache-read prompt tokens.
    pub fn with_cache_read(mut self, usd: f64) -> Self {
        self.cache_read = Some(usd);
        self
    }

    /// Price of cache-write prompt tokens.
    pub fn with_cache_write(mut self, usd: f64) -> Self {
        self.cache_write = Some(usd);
        self
    }

    /// Price of reasoning tokens.
    pub fn with_reasoning(mut self, usd: f64) -> Self {
        self.reasoning = Some(usd);
        self
    }

    /// What `usage` costs at these prices.
    pub fn cost(&self, usage: &TokenUsage) -> CallCost {
        const PER: f64 = 1_000_000.0;
        let cached = usage.cache_read.saturating_add(usage.cache_creation);
        let uncached = usage.input.saturating_sub(cached);
        let plain_output = usage.output.saturating_sub(usage.reasoning);
        let prompt = (uncached as f64 * self.input
            + usage.cache_read as f64 * self.cache_read.unwrap_or(self.input)
            + usage.cache_creation as f64 * self.cache_write.unwrap_or(self.input))
            / PER;
        let completion = (plain_output as f64 * self.output
            + usage.reasoning as f64 * self.reasoning.unwrap_or(self.output))
            / PER;
        CallCost { prompt, completion }
    }

    fn problem(&self) -> Option<String> {
        let all = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("reasoning", self.reasoning),
        ];
        all.into_iter().find_map(|(k, v)| {
            v.filter(|v| !v.is_finite() || *v < 0.0).map(|v| {
                format!(
                    "`{k}` is {v}; a price is a finite number of USD per million tokens, 0 or more"
                )
            })
        })
    }
}

/// What one call cost, USD.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallCost {
    /// The prompt's share (input, cache read and cache write tokens).
    pub prompt: f64,
    /// The completion's share (output and reasoning tokens).
    pub completion: f64,
}

impl CallCost {
    /// Prompt plus completion.
    pub fn total(&self) -> f64 {
        self.prompt + self.completion
    }
}

/// A pricing table that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LLM pricing table {source_name}: {problem}")]
pub struct PricingError {
    /// The file (or `built-in`, or `code`).
    pub source_name: String,
    /// What is wrong and what is accepted.
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    models: BTreeMap<String, ModelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    input: f64,
    output: f64,
    #[serde(default)]
    cache_read: Option<f64>,
    #[serde(default)]
    cache_write: Option<f64>,
    #[serde(default)]
    reasoning: Option<f64>,
    #[serde(default)]
    aliases: Vec<String>,
}

impl ModelEntry {
    fn price(&self) -> ModelPrice {
        ModelPrice {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            reasoning: self.reasoning,
        }
    }
}

/// USD per million tokens by model: an exact name, then an alias, then a
/// known model followed by a version or date tag (`gpt-4o-mini-2024-07-18`
/// is priced as `gpt-4o-mini`, but `gpt-4o` is never priced as `gpt-4`).
///
/// ```toml
/// [models."gpt-4o-mini"]
/// input = 0.15        # USD per 1 M uncached prompt tokens
/// output = 0.60       # per 1 M completion tokens
/// cache_read = 0.075  # optional; cache_write too (both default to input)
/// reasoning = 0.60    # optional; defaults to output
/// aliases = ["gpt-4o-mini-2024-07-18"]
/// ```
///
/// A model priced at zero is free; a model the table doesn't know is
/// *unpriced* (no cost is recorded for it, never $0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pricing {
    models: BTreeMap<String, ModelPrice>,
    aliases: BTreeMap<String, String>,
}

impl Pricing {
    /// The built-in table: a few OpenAI and Anthropic models as priced on
    /// [`BUILTIN_PRICES_DATE`].
    pub fn builtin() -> Pricing {
        // The built-in text is tested to parse; an empty table otherwise.
        Pricing::from_toml(BUILTIN, "built-in").unwrap_or_default()
    }

    /// The built-in table, parsed once.
    pub(crate) fn builtin_ref() -> &'static Pricing {
        static BUILT: std::sync::OnceLock<Pricing> = std::sync::OnceLock::new();
        BUILT.get_or_init(Pricing::builtin)
    }

    /// An empty table (every model unpriced until added).
    pub fn empty() -> Pricing {
        Pricing::default()
    }

    /// Reads a table from TOML text; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Pricing, PricingError> {
        let fail = |problem: String| PricingError {
            source_name: source_name.to_owned(),
            problem,
        };
        let file: TableFile = toml::from_str(text).map_err(|e| {
            fail(format!(
                "{} (expected [models.\"name\"] tables with input, output and optional cache_read, cache_write, reasoning, aliases)",
                e.message()
            ))
        })?;
        let mut pricing = Pricing::default();
        for (name, entry) in file.models {
            let price = entry.price();
            if let Some(p) = price.problem() {
                return Err(fail(format!("model \"{name}\": {p}")));
            }
            for alias in entry.aliases {
                if let Some(other) = pricing.aliases.get(&alias).filter(|o| **o != name) {
                    return Err(fail(format!(
                        "alias \"{alias}\" is given for both \"{other}\" and \"{name}\""
                    )));
                }
                pricing.aliases.insert(alias, name.clone());
            }
            pricing.models.insert(name, price);
        }
        if let Some((alias, name)) = pricing
            .aliases
            .iter()
            .find(|(a, n)| pricing.models.contains_key(*a) && a != n)
        {
            return Err(fail(format!(
                "alias \"{alias}\" of \"{name}\" is also a model of its own"
            )));
        }
        Ok(pricing)
    }

    /// Reads a table from a TOML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Pricing, PricingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| PricingError {
            source_name: path.display().to_string(),
            problem: format!("cannot be read ({e}); give the path of a readable TOML file"),
        })?;
        Pricing::from_toml(&text, &path.display().to_string())
    }

    /// Adds (or replaces) a model's prices. Invalid prices (negative, not
    /// finite) are an error naming the model and the price.
    pub fn with_model(
        mut self,
        name: impl Into<String>,
        price: ModelPrice,
    ) -> Result<Self, PricingError> {
        let name = name.into();
        if let Some(p) = price.problem() {
            return Err(PricingError {
                source_name: "code".into(),
                problem: format!("model \"{name}\": {p}"),
            });
        }
        self.models.insert(name, price);
        Ok(self)
    }

    /// Adds every model of `other`, replacing those with the same name.
    pub fn merged(mut self, other: Pricing) -> Pricing {
        self.models.extend(other.models);
        self.aliases.extend(other.aliases);
        self
    }

    /// The model `model` is priced as, and its prices; `None` when unpriced.
    pub fn lookup(&self, model: &str) -> Option<(&str, &ModelPrice)> {
        if let Some((name, price)) = self.models.get_key_value(model) {
            return Some((name, price));
        }
        if let Some(name) = self.aliases.get(model) {
            return self
                .models
                .get_key_value(name)
                .map(|(n, p)| (n.as_str(), p));
        }
        // The longest known name that `model` extends with a version tag.
        self.models
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .is_some_and(is_version_tag)
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(n, p)| (n.as_str(), p))
    }

    /// What `usage` of `model` cost; `None` when the model is unpriced.
    pub fn cost(&self, model: &str, usage: &TokenUsage) -> Option<CallCost> {
        self.lookup(model).map(|(_, p)| p.cost(usage))
    }

    /// Number of models priced.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether no model is priced.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// `-2024-07-18`, `-20241022`, `-0125`, `@001`, `:latest`: a separator,
/// then a version (a digit first) or `latest`.
fn is_version_tag(rest: &str) -> bool {
    let mut chars = rest.chars();
    let Some(sep) = chars.next() else {
        return false;
    };
    if !matches!(sep, '-' | '@' | ':') {
        return false;
    }
    let tag = chars.as_str();
    tag == "latest"
        || (tag.starts_with(|c: char| c.is_ascii_digit())
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
}

impl fmt::Display for ModelPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input ${}/M, output ${}/M", self.input, self.output)
    }
}

#[cfg(test)]
mod tests;
