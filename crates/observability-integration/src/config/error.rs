//! [`ConfigError`] and [`Origin`]: what was wrong, and where it came from.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A config file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// Set in code.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "config file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Code => f.write_str("code"),
        }
    }
}

/// A setting that can't be right.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {field} = {value:?} (from {origin}): {problem}; accepted: {accepted}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The config field (`trace_sample_rate`, …).
    pub field: &'static str,
    /// The value as given.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub accepted: String,
}

pub(crate) fn err(
    field: &'static str,
    value: impl Into<String>,
    origin: &Origin,
    problem: impl Into<String>,
    accepted: impl Into<String>,
) -> ConfigError {
    ConfigError {
        field,
        value: value.into(),
        origin: origin.clone(),
        problem: problem.into(),
        accepted: accepted.into(),
    }
}
