//! The W3C `baggage` header: several fields combined, at most 64 members
//! and 8192 bytes (members past either limit are dropped, the ones before
//! kept), values percent-encoded.

use opentelemetry::baggage::Baggage;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Members, at most.
pub const MAX_MEMBERS: usize = 64;
/// Bytes of the header, at most.
pub const MAX_BYTES: usize = 8192;

/// What a value may not carry unencoded: controls, space, `"`, `,`, `;`,
/// `\` and `%` (and anything non-ASCII, which the encoder always encodes).
const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// RFC 9110 `token` characters.
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The baggage `values` (the request's `baggage` fields in order) carry.
/// Invalid members are skipped; reading stops at 64 members or 8192 bytes.
pub(crate) fn parse(values: &[&str]) -> Baggage {
    let mut baggage = Baggage::new();
    let mut bytes = 0usize;
    let mut members = 0usize;
    'fields: for field in values {
        for member in field.split(',') {
            // The header's bytes so far, this member and its comma
            // included: nothing past 8192 is read.
            bytes += member.len() + 1;
            if bytes > MAX_BYTES + 1 {
                break 'fields;
            }
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            if members == MAX_MEMBERS {
                break 'fields;
            }
            let (pair, properties) = member.split_once(';').unwrap_or((member, ""));
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let (key, value) = (
                key.trim_matches([' ', '\t']),
                value.trim_matches([' ', '\t']),
            );
            if !token(key) {
                continue;
            }
            let Ok(value) = percent_decode_str(value).decode_utf8() else {
                continue;
            };
            members += 1;
            baggage.insert_with_metadata(
                key.to_owned(),
                value.into_owned(),
                properties.trim_matches([' ', '\t']).to_owned(),
            );
        }
    }
    baggage
}

/// The header value for `baggage` (`None` when empty), within the limits:
/// members that would pass 64 or 8192 bytes are left out.
pub(crate) fn format(baggage: &Baggage) -> Option<String> {
    let mut out = String::new();
    let mut members = 0;
    for (key, (value, metadata)) in baggage {
        if members == MAX_MEMBERS {
            break;
        }
        if !token(key.as_str()) {
            continue;
        }
        let mut member = format!(
            "{}={}",
            key.as_str(),
            utf8_percent_encode(value.as_str(), VALUE)
        );
        if !metadata.as_str().is_empty() {
            member.push(';');
            member.push_str(metadata.as_str());
        }
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + member.len() > MAX_BYTES {
            continue;
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(&member);
        members += 1;
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(b: &Baggage, k: &str) -> Option<String> {
        b.get(k).map(|v| v.as_str().to_owned())
    }

    #[test]
    fn members_are_decoded_and_combined_across_fields() {
        let b = parse(&["tenant=acme, user=J%C3%B6rg;p=1", "plan=gold"]);
        assert_eq!(get(&b, "tenant").as_deref(), Some("acme"));
        assert_eq!(get(&b, "user").as_deref(), Some("Jörg"));
        assert_eq!(get(&b, "plan").as_deref(), Some("gold"));
        assert_eq!(
            b.get_with_metadata("user")
                .map(|(_, m)| m.as_str().to_owned()),
            Some("p=1".to_owned())
        );
    }

    #[test]
    fn invalid_members_are_skipped() {
        let b = parse(&["no_equals, =v, bad key=1, ok=1, bad=%ff%fe"]);
        assert_eq!(b.len(), 1);
        assert_eq!(get(&b, "ok").as_deref(), Some("1"));
    }

    #[test]
    fn the_65th_member_is_dropped() {
        let header: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let b = parse(&[&header.join(",")]);
        assert_eq!(b.len(), 64);
        assert!(b.get("k63").is_some() && b.get("k64").is_none());
    }

    #[test]
    fn nothing_past_8192_bytes_is_read() {
        // 9 members of ~1000 bytes: the 9th ends past 8192.
        let v = "x".repeat(1000);
        let header: Vec<String> = (0..9).map(|i| format!("k{i}={v}")).collect();
        let b = parse(&[&header.join(",")]);
        assert_eq!(b.len(), 8);
        assert!(b.get("k8").is_none());
        // A huge field costs no more than its first 8 KiB.
        let huge = format!("a=1,{}", "b".repeat(10_000_000));
        assert_eq!(parse(&[&huge]).len(), 1);
    }

    #[test]
    fn format_encodes_and_keeps_within_the_limits() {
        let mut b = Baggage::new();
        b.insert("user", "Jörg, \"admin\"; 100%");
        let h = format(&b).unwrap();
        assert_eq!(h, "user=J%C3%B6rg%2C%20%22admin%22%3B%20100%25");
        assert_eq!(
            get(&parse(&[&h]), "user").as_deref(),
            Some("Jörg, \"admin\"; 100%")
        );
        assert_eq!(format(&Baggage::new()), None);
    }
}
