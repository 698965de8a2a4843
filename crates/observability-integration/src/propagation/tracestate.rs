//! The `tracestate` header (W3C Trace Context level 2): several header
//! fields combined into one list, the key and value grammar, at most 32
//! members, first of duplicated keys kept.
//!
//! A list that breaks the grammar (a member without `=`, a bad key or
//! value, more than 32 members) is discarded whole: the spec allows
//! dropping the header or the bad entries, and the official test harness's
//! strict level asks for the first. The whole list is propagated (up to 32
//! members of at most 513 characters: bounded, and above the 512
//! characters the spec asks to keep).

use opentelemetry::trace::TraceState;

/// Members of a list, at most.
pub(crate) const MAX_MEMBERS: usize = 32;
/// A combined header longer than this is not parsed (32 members of 513
/// characters, commas and generous whitespace fit).
const MAX_COMBINED_LEN: usize = 32 * 1024;

/// A validated tracestate list, in order: what is propagated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceStateList(Vec<(String, String)>);

impl TraceStateList {
    /// The list carried by `values` (the request's `tracestate` fields in
    /// order): empty when there are none or the list is invalid.
    pub(crate) fn parse(values: &[&str]) -> TraceStateList {
        if values.iter().map(|v| v.len() + 1).sum::<usize>() > MAX_COMBINED_LEN {
            return TraceStateList::default();
        }
        let mut members: Vec<(String, String)> = Vec::new();
        for member in values.iter().flat_map(|v| v.split(',')) {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let Some((key, value)) = member.split_once('=') else {
                return TraceStateList::default();
            };
            if !valid_key(key) || !valid_value(value) {
                return TraceStateList::default();
            }
            if members.iter().any(|(k, _)| k == key) {
                // A duplicated key: the first is kept.
                continue;
            }
            if members.len() == MAX_MEMBERS {
                return TraceStateList::default();
            }
            members.push((key.to_owned(), value.to_owned()));
        }
        TraceStateList(members)
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The header value (`None` when empty: an empty header isn't sent).
    pub(crate) fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            let mut out = String::new();
            for (i, (k, v)) in self.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push('=');
                out.push_str(v);
            }
            out
        })
    }

    /// The members OpenTelemetry's `TraceState` accepts (its key check is
    /// stricter than the spec's), for the span context exporters see.
    pub(crate) fn to_trace_state(&self) -> TraceState {
        let accepted = self
            .0
            .iter()
            .filter(|(k, v)| TraceState::from_key_value([(k, v)]).is_ok());
        TraceState::from_key_value(accepted.map(|(k, v)| (k.clone(), v.clone())))
            .unwrap_or_default()
    }

    /// The list a span context carries (what OpenTelemetry kept of it).
    pub(crate) fn from_trace_state(ts: &TraceState) -> TraceStateList {
        let header = ts.header();
        TraceStateList::parse(&[header.as_str()])
    }
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( lcalpha / DIGIT / "_" / "-" / "*" /
/// "/" / "@" )`.
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// `value = 0*255(chr) nblk-chr`, `chr` printable ASCII but `,` and `=`,
/// `nblk-chr` the same but space.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b[b.len() - 1] != b' '
        && b.iter()
            .all(|c| (0x20..=0x7e).contains(c) && *c != b',' && *c != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[&str]) -> Vec<String> {
        TraceStateList::parse(values)
            .members()
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    #[test]
    fn several_headers_are_one_list_in_order() {
        let list = TraceStateList::parse(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]);
        assert_eq!(list.header().unwrap(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    }

    #[test]
    fn whitespace_and_empty_members_are_allowed() {
        assert_eq!(keys(&["foo=1 \t , \t bar=2, baz=3"]), ["foo", "bar", "baz"]);
        assert_eq!(keys(&["foo=1,,bar=2", "", " "]), ["foo", "bar"]);
        assert!(TraceStateList::parse(&[""]).is_empty());
        // Leading spaces belong to the value.
        assert_eq!(TraceStateList::parse(&["foo= 1"]).get("foo"), Some(" 1"));
    }

    #[test]
    fn an_invalid_member_discards_the_list() {
        for bad in [
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "@foo=1,bar=2",
            "foo=bar=baz",
            "foo=,bar=3",
            "foo",
            "foo=1\u{7f}",
            "foo=é",
        ] {
            assert!(TraceStateList::parse(&[bad]).is_empty(), "{bad:?} kept");
        }
        let long = format!("{}=1", "z".repeat(257));
        assert!(TraceStateList::parse(&["foo=1", &long]).is_empty());
        assert!(TraceStateList::parse(&[&format!("foo={}", "v".repeat(257))]).is_empty());
    }

    #[test]
    fn the_key_grammar_allows_at_signs_after_the_first_character() {
        for key in [
            "foo@".to_owned(),
            "foo@@bar".to_owned(),
            "foo@bar@baz".to_owned(),
            "z".repeat(256),
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            format!("t@{}", "v".repeat(15)),
            "0abc".to_owned(),
        ] {
            let v = format!("{key}=1,bar=2");
            assert_eq!(keys(&[&v]), [key.as_str(), "bar"], "{key}");
        }
        let all: String = (0x20u8..=0x7e)
            .filter(|c| *c != b',' && *c != b'=')
            .map(char::from)
            .collect();
        let list = TraceStateList::parse(&[&format!("foo={all}")]);
        assert_eq!(list.get("foo"), Some(all.as_str()));
    }

    #[test]
    fn thirty_two_members_at_most() {
        let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
        let ok = members[..32].join(",");
        assert_eq!(TraceStateList::parse(&[&ok]).members().count(), 32);
        let too_many = members.join(",");
        assert!(TraceStateList::parse(&[&too_many]).is_empty());
    }

    #[test]
    fn the_first_of_duplicated_keys_is_kept() {
        let list = TraceStateList::parse(&["foo=1,foo=2", "foo=3"]);
        assert_eq!(list.header().unwrap(), "foo=1");
    }

    #[test]
    fn long_lists_are_propagated_whole() {
        let value = "v".repeat(256);
        let members: Vec<String> = (0..32).map(|i| format!("k{i}={value}")).collect();
        let header = members.join(",");
        assert!(header.len() > 512);
        assert_eq!(TraceStateList::parse(&[&header]).header().unwrap(), header);
        // Past the size bound nothing is parsed.
        let huge = "a=1,".repeat(10_000);
        assert!(TraceStateList::parse(&[&huge]).is_empty());
    }
}
