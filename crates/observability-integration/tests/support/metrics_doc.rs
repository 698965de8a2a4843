//! docs/metrics.md read as data: each documented series family with its
//! type and label names, from the tables' first, second and fourth cells.

use std::collections::{BTreeMap, BTreeSet};

/// One documented family.
#[derive(Debug, Clone)]
pub(crate) struct Documented {
    /// `counter`, `gauge`, `histogram` or `info`.
    pub(crate) kind: String,
    pub(crate) labels: BTreeSet<String>,
}

/// The backticked words of a table cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The label names of a labels cell: the comma-separated words before any
/// `:`, with parenthesised notes dropped (`none` for no labels).
fn label_names(cell: &str) -> BTreeSet<String> {
    let mut depth = 0i32;
    let mut plain = String::new();
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    plain
        .split(':')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty() && *w != "none")
        .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_owned)
        .collect()
}

/// Every family the tables document, by the name they give it.
pub(crate) fn read(doc: &str) -> BTreeMap<String, Documented> {
    let mut out = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 {
            continue;
        }
        let kinds: Vec<String> = cells[2]
            .split(',')
            .map(|k| k.split_whitespace().next().unwrap_or("").to_owned())
            .collect();
        let labels = label_names(cells[4]);
        for (i, name) in backticked(cells[1]).into_iter().enumerate() {
            let kind = kinds.get(i).or(kinds.first()).cloned().unwrap_or_default();
            out.insert(
                name,
                Documented {
                    kind,
                    labels: labels.clone(),
                },
            );
        }
    }
    out
}

#[test]
fn reads_names_kinds_and_labels() {
    let doc = "| `a_total` / `b_total` | counter (observable) | 1 | primitive, status (`ok`, `error`) | x |\n\
               | `p_seconds`, `q_bytes` | counter, gauge | s | |\n\
               | `v` | gauge | 1 | none: what it is |\n\
               | `c_total` | counter | 1 | class (`x`; note): text, more |\n";
    let d = read(doc);
    assert_eq!(d["b_total"].kind, "counter");
    assert_eq!(
        d["a_total"].labels,
        ["primitive", "status"].map(String::from).into()
    );
    assert_eq!(d["q_bytes"].kind, "gauge");
    assert!(d["v"].labels.is_empty());
    assert_eq!(d["c_total"].labels, ["class"].map(String::from).into());
}
