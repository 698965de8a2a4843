//! The tables of `docs/configuration.md`, rendered from the field table.

use std::fmt::Write as _;

use super::fields::FIELDS;
use super::load::{resource_key, RESOURCE_LIST, SAMPLER_VARS};

/// The field table and the environment variable table, as Markdown:
/// `docs/configuration.md` holds exactly this between its
/// `<!-- fields:start -->` and `<!-- fields:end -->` markers (a test checks).
pub fn markdown_tables() -> String {
    let mut out = String::new();
    out.push_str("## Fields\n\n");
    out.push_str("| field | file key | default | notes |\n|---|---|---|---|\n");
    for f in FIELDS {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            f.name, f.file_key, f.default, f.doc
        );
    }
    out.push_str("\n## Environment variables\n\n");
    out.push_str(
        "Where a field lists several, the first one set wins; the exception is the sampler: \
         `OTEL_TRACES_SAMPLER` names it, and `OTEL_TRACES_SAMPLER_ARG` gives the ratio of the \
         `*traceidratio` ones (alone it is ignored).\n\n| variable | field |\n|---|---|\n",
    );
    for f in FIELDS {
        let ranked = f.env.len() > 1 && !f.env.iter().any(|e| SAMPLER_VARS.contains(e));
        for (i, entry) in f.env.iter().enumerate() {
            let var = match resource_key(entry) {
                Some(key) => format!("`{RESOURCE_LIST}` (its `{key}` entry)"),
                None => format!("`{entry}`"),
            };
            let rank = if ranked {
                format!(" ({} of {})", i + 1, f.env.len())
            } else {
                String::new()
            };
            let _ = writeln!(out, "| {var} | `{}`{rank} |", f.name);
        }
    }
    out
}
