//! [`ConfigBuilder`]: the layers — defaults < config file (TOML) <
//! environment < code — read through the field table.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{err, ConfigError, Origin};
use super::fields::FIELDS;
use super::parse::{parse_kv_list, parse_sampler};
use super::table::Field;
use super::ObservabilityConfig;

/// A source of environment variables: the process environment, or a map
/// (tests).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EnvSource {
    /// `std::env`.
    Process,
    /// Only these variables.
    Map(BTreeMap<String, String>),
    /// No environment at all.
    None,
}

impl EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Map(m) => m.get(name).cloned(),
            EnvSource::None => None,
        }
        .filter(|v| !v.trim().is_empty())
    }
}

/// Builds an [`ObservabilityConfig`] from layers: defaults < file <
/// environment < the values set on this builder.
#[derive(Clone)]
pub struct ConfigBuilder {
    file: Option<PathBuf>,
    env: EnvSource,
    code: Vec<Arc<CodeSetting>>,
}

type CodeSetting = dyn Fn(&mut ObservabilityConfig) + Send + Sync;

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("file", &self.file)
            .field("env", &self.env)
            .field("code_settings", &self.code.len())
            .finish()
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            file: None,
            env: EnvSource::Process,
            code: Vec::new(),
        }
    }
}

impl ConfigBuilder {
    /// Reads this TOML file (layer above the defaults). A missing file is
    /// an error: don't name one you don't have.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads the environment from `source` instead of the process.
    pub fn env(mut self, source: EnvSource) -> Self {
        self.env = source;
        self
    }

    /// Adds a setting of the code layer.
    pub(super) fn with(
        mut self,
        set: impl Fn(&mut ObservabilityConfig) + Send + Sync + 'static,
    ) -> Self {
        self.code.push(Arc::new(set));
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (k, v) = (key.into(), value.into());
        self.with(move |c| {
            c.resource_attributes.insert(k.clone(), v.clone());
        })
    }

    /// Adds an OTLP header.
    pub fn otlp_header(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (k, v) = (key.into(), value.into());
        self.with(move |c| {
            c.otlp_headers.insert(k.clone(), v.clone());
        })
    }

    /// Loads every layer and validates the result.
    pub fn build(self) -> Result<ObservabilityConfig, ConfigError> {
        let mut c = ObservabilityConfig::default();
        let mut origins = Origins::default();
        if let Some(path) = &self.file {
            apply_file(&mut c, &mut origins, path)?;
        }
        apply_env(&mut c, &mut origins, &self.env)?;
        for set in &self.code {
            set(&mut c);
        }
        // Settings from code are marked by the validation as "code" unless
        // a lower layer named the same field with the same value.
        c.validate_with(&origins)?;
        Ok(c)
    }
}

/// Which layer set each field last (for error messages).
#[derive(Debug, Default)]
pub(super) struct Origins(BTreeMap<&'static str, (Origin, String)>);

impl Origins {
    fn set(&mut self, field: &'static str, origin: Origin, raw: &str) {
        self.0.insert(field, (origin, raw.to_owned()));
    }

    /// The origin of `field` whose current value renders as `value`.
    pub(super) fn of(&self, field: &'static str, value: &str) -> Origin {
        match self.0.get(field) {
            Some((o, raw)) if raw == value || raw.trim() == value => o.clone(),
            Some(_) => Origin::Code,
            None => Origin::Default,
        }
    }
}

fn set(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    field: &Field,
    raw: &str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    (field.set)(c, raw, origin)?;
    origins.set(field.name, origin.clone(), raw);
    Ok(())
}

fn apply_file(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    path: &Path,
) -> Result<(), ConfigError> {
    let origin = Origin::File(path.to_owned());
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(
            "config_file",
            path.display().to_string(),
            &origin,
            format!("cannot read: {e}"),
            "a readable TOML file",
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        err(
            "config_file",
            path.display().to_string(),
            &origin,
            format!("not valid TOML: {}", e.message()),
            "TOML key = value lines",
        )
    })?;
    let keys: Vec<String> = table.keys().cloned().collect();
    let table_has = |key: &str| keys.iter().any(|k| k == key);
    for (key, value) in table {
        let Some(field) = FIELDS.iter().find(|f| f.file_key == key) else {
            let accepted: Vec<_> = FIELDS.iter().map(|f| f.file_key).collect();
            return Err(err(
                "config_file",
                key,
                &origin,
                "unknown key",
                accepted.join(", "),
            ));
        };
        let bad = |what: &str| {
            err(
                "config_file",
                key.clone(),
                &origin,
                format!("{what} is not accepted here"),
                "strings, numbers, booleans; a table for resource_attributes and otlp_headers",
            )
        };
        let raw = match &value {
            toml::Value::Table(t) => {
                let mut pairs = Vec::new();
                for (k, v) in t {
                    pairs.push(format!(
                        "{k}={}",
                        scalar(v).ok_or_else(|| bad("a nested value"))?
                    ));
                }
                pairs.join(",")
            }
            other => scalar(other).ok_or_else(|| bad("an array or date"))?,
        };
        set(c, origins, field, &raw, &origin)?;
        if field.name == "resource_attributes" {
            owned_resource_keys(c, origins, &raw, &origin, table_has)?;
        }
    }
    Ok(())
}

/// A resource attribute list's `service.name`, `service.version` and
/// `deployment.environment[.name]` set those fields (as in
/// `OTEL_RESOURCE_ATTRIBUTES`), unless `explicit` says the same layer set
/// the field itself.
fn owned_resource_keys(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    list: &str,
    origin: &Origin,
    explicit: impl Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let entries = parse_kv_list("resource_attributes", list, origin)?;
    for field in FIELDS.iter().filter(|f| !explicit(f.file_key)) {
        let value = field
            .env
            .iter()
            .filter_map(|e| resource_key(e))
            .find_map(|key| entries.get(key));
        if let Some(value) = value {
            set(c, origins, field, value, origin)?;
        }
    }
    Ok(())
}

/// The list variable whose entries fields name as `OTEL_RESOURCE_ATTRIBUTES:key`.
pub(super) const RESOURCE_LIST: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// `key` of a field's variable entry `OTEL_RESOURCE_ATTRIBUTES:key`.
pub(super) fn resource_key(entry: &str) -> Option<&str> {
    entry.strip_prefix(RESOURCE_LIST)?.strip_prefix(':')
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Read by [`apply_sampler`], not by a field's own parser.
pub(super) const SAMPLER_VARS: &[&str] = &["OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"];

fn apply_env(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    env: &EnvSource,
) -> Result<(), ConfigError> {
    // The list variable, parsed once for every field that reads an entry.
    let resource = match env.get(RESOURCE_LIST) {
        Some(raw) => {
            let origin = Origin::Env(RESOURCE_LIST.to_owned());
            // Errors in the list are the list field's to report.
            Some((parse_kv_list("resource_attributes", &raw, &origin)?, origin))
        }
        None => None,
    };
    for field in FIELDS {
        for entry in field.env.iter().filter(|e| !SAMPLER_VARS.contains(e)) {
            let found = match resource_key(entry) {
                Some(key) => resource
                    .as_ref()
                    .and_then(|(list, origin)| Some((list.get(key)?.clone(), origin.clone()))),
                None => env
                    .get(entry)
                    .map(|v| (v, Origin::Env((*entry).to_owned()))),
            };
            if let Some((raw, origin)) = found {
                set(c, origins, field, &raw, &origin)?;
                break;
            }
        }
    }
    apply_sampler(c, origins, env)
}

/// `OTEL_TRACES_SAMPLER` sets the rate and parent-basedness together; the
/// ratio samplers take their rate from `OTEL_TRACES_SAMPLER_ARG`.
fn apply_sampler(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    env: &EnvSource,
) -> Result<(), ConfigError> {
    let var = |name: &str| env.get(name).map(|v| (v, Origin::Env(name.to_owned())));
    let Some((v, o)) = var("OTEL_TRACES_SAMPLER") else {
        return Ok(());
    };
    let (rate, parent_based) = parse_sampler(&v, &o)?;
    c.trace_parent_based = parent_based;
    origins.set("trace_parent_based", o.clone(), &parent_based.to_string());
    match rate {
        Some(r) => {
            c.trace_sample_rate = r;
            origins.set("trace_sample_rate", o, &r.to_string());
        }
        None => {
            // Ratio samplers: the argument, or 1.0 as the OpenTelemetry spec says.
            let (arg, ao) = var("OTEL_TRACES_SAMPLER_ARG")
                .unwrap_or_else(|| ("1.0".into(), Origin::Env("OTEL_TRACES_SAMPLER_ARG".into())));
            if let Some(field) = FIELDS.iter().find(|f| f.name == "trace_sample_rate") {
                set(c, origins, field, &arg, &ao)?;
            }
        }
    }
    Ok(())
}
