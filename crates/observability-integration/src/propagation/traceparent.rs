//! The `traceparent` header (W3C Trace Context level 2): parsing with the
//! version rules, the sampled and random flags, and formatting.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};

/// The sampled flag.
pub const FLAG_SAMPLED: u8 = 0x01;
/// The random trace-id flag (level 2): the trace id's right-most 7 bytes
/// are random.
pub const FLAG_RANDOM: u8 = 0x02;
/// The flags this version of the spec defines; the rest are sent as 0.
const KNOWN_FLAGS: u8 = FLAG_SAMPLED | FLAG_RANDOM;

/// `version "-" trace-id "-" parent-id "-" trace-flags`: 2 + 1 + 32 + 1 +
/// 16 + 1 + 2 characters.
const VERSION_00_LEN: usize = 55;

/// A valid incoming `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traceparent {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: SpanId,
    /// The known flags only (sampled, random).
    pub(crate) flags: TraceFlags,
}

/// The `traceparent` of a request that carries `values` as its
/// `traceparent` header fields: `None` when there is none, more than one,
/// or it is invalid (a new trace starts).
pub(crate) fn parse(values: &[&str]) -> Option<Traceparent> {
    match values {
        [one] => parse_one(one),
        _ => None,
    }
}

fn lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One header value. Versions above 00 are read as 00 when their first 55
/// characters are a version-00 header followed by `-` or the end;
/// version `ff` and a version 00 header of another length are invalid.
fn parse_one(value: &str) -> Option<Traceparent> {
    let v = value.trim_matches([' ', '\t']);
    if !v.is_ascii() || v.len() < VERSION_00_LEN {
        return None;
    }
    let version = &v[..2];
    if !lower_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && v.len() != VERSION_00_LEN {
        return None;
    }
    if v.len() > VERSION_00_LEN && v.as_bytes()[VERSION_00_LEN] != b'-' {
        return None;
    }
    let b = v.as_bytes();
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let (trace, parent, flags) = (&v[3..35], &v[36..52], &v[53..55]);
    if !(lower_hex(trace) && lower_hex(parent) && lower_hex(flags)) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let parent_id = SpanId::from_hex(parent).ok()?;
    if trace_id == TraceId::INVALID || parent_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()? & KNOWN_FLAGS;
    Some(Traceparent {
        trace_id,
        parent_id,
        flags: TraceFlags::new(flags),
    })
}

/// The version-00 header of `sc` with `flags` (known flags only).
pub(crate) fn format(sc: &SpanContext, flags: TraceFlags) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        flags.to_u8() & KNOWN_FLAGS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";

    fn tp(s: &str) -> Option<Traceparent> {
        parse(&[s])
    }

    #[test]
    fn version_00_is_exact() {
        let ok = tp(&format!("00-{TRACE}-{PARENT}-01")).unwrap();
        assert_eq!(ok.trace_id.to_string(), TRACE);
        assert_eq!(ok.parent_id.to_string(), PARENT);
        assert_eq!(ok.flags.to_u8(), FLAG_SAMPLED);
        // Longer, or with anything after the flags: invalid for 00.
        assert!(tp(&format!("00-{TRACE}-{PARENT}-01.")).is_none());
        assert!(tp(&format!(
            "00-{TRACE}-{PARENT}-01-what-the-future-will-be-like"
        ))
        .is_none());
    }

    #[test]
    fn higher_versions_are_read_as_00_when_they_can_be() {
        assert!(tp(&format!("cc-{TRACE}-{PARENT}-01")).is_some());
        assert!(tp(&format!(
            "cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"
        ))
        .is_some());
        assert!(tp(&format!(
            "cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like"
        ))
        .is_none());
        assert!(
            tp(&format!("ff-{TRACE}-{PARENT}-01")).is_none(),
            "ff is invalid"
        );
    }

    #[test]
    fn malformed_fields_are_invalid() {
        for bad in [
            format!("0.-{TRACE}-{PARENT}-01"),
            format!("000-{TRACE}-{PARENT}-01"),
            format!("0-{TRACE}-{PARENT}-01"),
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
            format!("00-.{}-{PARENT}-01", &TRACE[1..]),
            format!("00-{}-{PARENT}-01", TRACE.to_uppercase().replace('1', "A")),
            format!("00-{TRACE}3-{PARENT}-01"),
            format!("00-{}-{PARENT}-01", &TRACE[1..]),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{TRACE}-.{}-01", &PARENT[1..]),
            format!("00-{TRACE}-{PARENT}3-01"),
            format!("00-{TRACE}-{}-01", &PARENT[1..]),
            format!("00-{TRACE}-{PARENT}-.0"),
            format!("00-{TRACE}-{PARENT}-001"),
            format!("00-{TRACE}-{PARENT}-1"),
            format!("00_{TRACE}_{PARENT}_01"),
            "00-é2345678901234567890123456789012-1234567890123456-01".into(),
            String::new(),
        ] {
            assert!(tp(&bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        for v in [
            format!(" 00-{TRACE}-{PARENT}-01"),
            format!("00-{TRACE}-{PARENT}-01 "),
            format!("\t00-{TRACE}-{PARENT}-01\t"),
        ] {
            assert!(tp(&v).is_some(), "{v:?}");
        }
    }

    #[test]
    fn two_headers_start_a_new_trace() {
        let one = format!("00-{TRACE}-{PARENT}-01");
        assert!(parse(&[&one, &one]).is_none());
        assert!(parse(&[]).is_none());
    }

    #[test]
    fn the_random_flag_is_kept_and_unknown_flags_are_dropped() {
        let r = tp(&format!("00-{TRACE}-{PARENT}-03")).unwrap();
        assert_eq!(r.flags.to_u8(), FLAG_SAMPLED | FLAG_RANDOM);
        let r = tp(&format!("00-{TRACE}-{PARENT}-ff")).unwrap();
        assert_eq!(
            r.flags.to_u8(),
            FLAG_SAMPLED | FLAG_RANDOM,
            "unknown bits to 0"
        );
        let sc = SpanContext::new(
            r.trace_id,
            r.parent_id,
            TraceFlags::new(0xff),
            true,
            Default::default(),
        );
        assert_eq!(
            format(&sc, sc.trace_flags()),
            format!("00-{TRACE}-{PARENT}-03")
        );
    }
}
