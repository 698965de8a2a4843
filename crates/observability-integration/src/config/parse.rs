//! Parsers of the text a file or variable gives, one per kind of field.
//! Each takes the field's name (for the error), the text and its origin.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{err, ConfigError, Origin};
use super::OtlpProtocol;

pub(super) fn parse_bool(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(err(field, v, origin, "not a boolean", "true, false")),
    }
}

/// A boolean that may be left unset (a default decided elsewhere).
pub(super) fn some_bool(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<Option<bool>, ConfigError> {
    parse_bool(field, v, origin).map(Some)
}

/// A size in bytes: a whole number, or one with `KiB`, `MiB` or `GiB`
/// (`K`, `M`, `G` and `KB`, `MB`, `GB` mean the same powers of 1024).
pub(super) fn byte_size(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<usize, ConfigError> {
    const ACCEPTED: &str = "a number of bytes, or one with KiB, MiB or GiB such as 64MiB";
    let t = v.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(err(field, v, origin, "unknown unit", ACCEPTED)),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1usize << shift))
        .ok_or_else(|| err(field, v, origin, "not a size", ACCEPTED))
}

/// A boolean, or the values the GenAI instrumentations give
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: `span_only` and
/// `span_and_event` (content on spans: true), `no_content` (false).
/// `event_only` is refused: content goes on spans only here.
pub(super) fn parse_capture(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<bool, ConfigError> {
    const ACCEPTED: &str = "true, false, span_only, span_and_event, no_content";
    match v.trim().to_ascii_lowercase().as_str() {
        "span_only" | "span_and_event" => Ok(true),
        "no_content" => Ok(false),
        "event_only" => Err(err(
            field,
            v,
            origin,
            "content is recorded on spans only, not as events",
            ACCEPTED,
        )),
        _ => parse_bool(field, v, origin)
            .map_err(|_| err(field, v, origin, "not a boolean", ACCEPTED)),
    }
}

pub(super) fn parse_num<T: std::str::FromStr>(
    field: &'static str,
    v: &str,
    origin: &Origin,
    accepted: &str,
) -> Result<T, ConfigError> {
    v.trim()
        .parse::<T>()
        .map_err(|_| err(field, v, origin, "not a valid number", accepted))
}

pub(super) fn parse_port(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<u16, ConfigError> {
    match v.trim().parse::<i64>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Ok(_) => Err(err(field, v, origin, "port out of range", "1..=65535")),
        Err(_) => Err(err(field, v, origin, "not a port number", "1..=65535")),
    }
}

pub(super) fn parse_millis(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<Duration, ConfigError> {
    parse_num::<u64>(field, v, origin, "a whole number of milliseconds").map(Duration::from_millis)
}

pub(super) fn parse_protocol(
    _field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<OtlpProtocol, ConfigError> {
    match v.trim() {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Err(err(
            "otlp_protocol",
            v,
            origin,
            "http/json is not supported by this exporter",
            "grpc, http/protobuf",
        )),
        _ => Err(err(
            "otlp_protocol",
            v,
            origin,
            "unknown protocol",
            "grpc, http/protobuf",
        )),
    }
}

/// Parses `k=v,k2=v2` with percent-decoding, as the OTel spec's
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
pub(super) fn parse_kv_list(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, val)) = pair.split_once('=') else {
            return Err(err(
                field,
                v,
                origin,
                format!("entry {pair:?} has no '='"),
                "key=value,key2=value2",
            ));
        };
        // Percent-decoding only: `&`, `+` and `=` inside a value are the
        // value's own (a bearer token, a base64 key).
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let key = decode(k.trim());
        if key.is_empty() {
            return Err(err(field, v, origin, "empty key", "key=value,key2=value2"));
        }
        out.insert(key, decode(val.trim()));
    }
    Ok(out)
}

/// Sampler names of `OTEL_TRACES_SAMPLER`: (rate, parent_based) or none
/// for the ratio samplers, whose rate comes from the argument.
pub(super) fn parse_sampler(v: &str, origin: &Origin) -> Result<(Option<f64>, bool), ConfigError> {
    const ACCEPTED: &str = "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";
    Ok(match v.trim() {
        "always_on" => (Some(1.0), false),
        "always_off" => (Some(0.0), false),
        "traceidratio" => (None, false),
        "parentbased_always_on" => (Some(1.0), true),
        "parentbased_always_off" => (Some(0.0), true),
        "parentbased_traceidratio" => (None, true),
        _ => return Err(err("trace_sampler", v, origin, "unknown sampler", ACCEPTED)),
    })
}

/// Text as given.
pub(super) fn text(_field: &'static str, v: &str, _origin: &Origin) -> Result<String, ConfigError> {
    Ok(v.to_owned())
}

/// A secret as given (validation checks its form).
pub(super) fn secret(
    _field: &'static str,
    v: &str,
    _origin: &Origin,
) -> Result<Option<super::Secret>, ConfigError> {
    Ok(Some(super::Secret::new(v)))
}

/// Text as given, for a field that is unset by default.
pub(super) fn some_text(
    _field: &'static str,
    v: &str,
    _origin: &Origin,
) -> Result<Option<String>, ConfigError> {
    Ok(Some(v.to_owned()))
}

/// A count of at least one (checked by validation).
pub(super) fn count(field: &'static str, v: &str, origin: &Origin) -> Result<usize, ConfigError> {
    parse_num(field, v, origin, "a positive whole number")
}

/// A limit that is unset (no limit) by default.
pub(super) fn some_count(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<Option<usize>, ConfigError> {
    parse_num(field, v, origin, "a whole number").map(Some)
}

/// A ratio (checked by validation).
pub(super) fn ratio(field: &'static str, v: &str, origin: &Origin) -> Result<f64, ConfigError> {
    parse_num(field, v, origin, "a number in 0.0..=1.0")
}

/// The resource keys other fields own (`service.name`, …): in a resource
/// attribute list they set those fields, not extra attributes.
pub(super) const OWNED_RESOURCE_KEYS: &[&str] = &[
    "service.name",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
];

/// A resource attribute list, without the keys other fields own.
pub(super) fn resource_list(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut attrs = parse_kv_list(field, v, origin)?;
    attrs.retain(|k, _| !OWNED_RESOURCE_KEYS.contains(&k.as_str()));
    Ok(attrs)
}
