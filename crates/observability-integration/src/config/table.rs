//! The machinery of the field table: [`Field`], and the macro that turns
//! one row per field into the config struct, its defaults, its setters and
//! [`FIELDS`](super::FIELDS).

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{ConfigError, Origin};
use super::{ObservabilityConfig, OtlpProtocol, Secret};

/// One config field, as the table declares it: what the loader, the
/// environment reader and the docs use.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Field {
    /// The field's name in [`ObservabilityConfig`] and in error messages.
    pub name: &'static str,
    /// Its key in a TOML config file (durations end in `_ms`).
    pub file_key: &'static str,
    /// The environment variables that set it, the first present winning.
    /// `VAR:key` is the entry `key` of the list variable `VAR`
    /// (`OTEL_RESOURCE_ATTRIBUTES:service.name`).
    pub env: &'static [&'static str],
    /// The default, as documented.
    pub default: &'static str,
    /// What it does and takes.
    pub doc: &'static str,
    pub(super) set: fn(&mut ObservabilityConfig, &str, &Origin) -> Result<(), ConfigError>,
}

/// How a parsed value lands in its field: replaced, or merged for maps.
pub(super) trait Assign {
    fn assign(slot: &mut Self, value: Self);
}

macro_rules! replace {
    ($($t:ty),*) => {$(
        impl Assign for $t {
            fn assign(slot: &mut Self, value: Self) {
                *slot = value;
            }
        }
    )*};
}
replace!(
    String,
    Option<String>,
    Option<usize>,
    Option<bool>,
    Option<Secret>,
    bool,
    u16,
    usize,
    f64,
    Duration,
    OtlpProtocol
);

impl Assign for BTreeMap<String, String> {
    fn assign(slot: &mut Self, value: Self) {
        slot.extend(value);
    }
}

/// How a setter's argument becomes the field's value.
pub(super) trait FromArg<A> {
    fn from_arg(arg: A) -> Self;
}

impl<T> FromArg<T> for T {
    fn from_arg(arg: T) -> T {
        arg
    }
}

impl FromArg<String> for Option<String> {
    fn from_arg(arg: String) -> Option<String> {
        Some(arg)
    }
}

impl FromArg<Secret> for Option<Secret> {
    fn from_arg(arg: Secret) -> Option<Secret> {
        Some(arg)
    }
}

impl FromArg<bool> for Option<bool> {
    fn from_arg(arg: bool) -> Option<bool> {
        Some(arg)
    }
}

impl FromArg<usize> for Option<usize> {
    fn from_arg(arg: usize) -> Option<usize> {
        Some(arg)
    }
}

/// A setter's argument type: the field's, unless the row names another.
macro_rules! arg_type {
    ($ty:ty) => {
        $ty
    };
    ($ty:ty, $arg:ty) => {
        $arg
    };
}
pub(super) use arg_type;

/// Declares every field once: its doc, type, default, file key, variables,
/// parser, documented default and notes. Generates the struct, `Default`,
/// the builder's setters and the table the loaders and docs read.
macro_rules! config_fields {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $default:expr;
            file $file:literal, env [$($env:literal),*], parse $parse:path $(, arg $arg:ty)?,
            default $shown:literal, notes $notes:literal;
    )*) => {
        /// Every setting of the one-call setup, loaded in layers (defaults <
        /// TOML file < environment < code) by [`ConfigBuilder`]. Field names
        /// and defaults follow TTA.dev's Python original; the rest are marked
        /// as extras. New fields may be added in any release: build it with
        /// [`ObservabilityConfig::builder`].
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct ObservabilityConfig {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl Default for ObservabilityConfig {
            fn default() -> Self {
                ObservabilityConfig { $( $name: $default, )* }
            }
        }

        /// Every field, in documentation order.
        pub const FIELDS: &[Field] = &[$(
            Field {
                name: stringify!($name),
                file_key: $file,
                env: &[$($env),*],
                default: $shown,
                doc: $notes,
                set: |c, raw, origin| {
                    let value: $ty = $parse(stringify!($name), raw, origin)?;
                    Assign::assign(&mut c.$name, value);
                    Ok(())
                },
            },
        )*];

        impl ConfigBuilder {
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (the code layer, above file and environment; a map is merged).")]
                pub fn $name(self, value: impl Into<arg_type!($ty $(, $arg)?)>) -> Self {
                    let value: $ty = FromArg::from_arg(value.into());
                    self.with(move |c| Assign::assign(&mut c.$name, value.clone()))
                }
            )*
        }
    };
}
pub(super) use config_fields;
