//! The shape of both crates' sources: no file over 550 lines, no import
//! cycle between modules, and no internal import through the crate root
//! (`lib.rs` is a facade of declarations and re-exports).
//!
//! Modules are files. An edge `a -> b` is any `crate::b::…` path in `a`'s
//! code (`use` lines and inline paths; comments are skipped), resolved to
//! the longest module path that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 550;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` is "".
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path after `crate::`, expanding `{a, b::{c}}` groups.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(pos) = code[i..].find("crate::") {
        let start = i + pos;
        let before = start.checked_sub(1).map(|b| bytes[b] as char);
        i = start + "crate::".len();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let (trees, end) = parse_tree(code, i);
        i = end;
        for t in trees {
            out.push(t);
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` at `at`: the full paths and where it ended.
fn parse_tree(code: &str, mut at: usize) -> (Vec<Vec<String>>, usize) {
    let b = code.as_bytes();
    let mut prefix = Vec::new();
    loop {
        while at < b.len() && b[at].is_ascii_whitespace() {
            at += 1;
        }
        if at < b.len() && b[at] == b'{' {
            let mut all = Vec::new();
            at += 1;
            loop {
                let (subs, end) = parse_tree(code, at);
                for s in subs {
                    let mut p = prefix.clone();
                    p.extend(s);
                    all.push(p);
                }
                at = end;
                while at < b.len() && (b[at].is_ascii_whitespace() || b[at] == b',') {
                    at += 1;
                }
                if at >= b.len() || b[at] == b'}' {
                    return (all, at + 1);
                }
            }
        }
        let s = at;
        while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_' || b[at] == b'*') {
            at += 1;
        }
        if s == at {
            return (vec![prefix], at);
        }
        prefix.push(code[s..at].to_owned());
        if code[at..].starts_with("::") {
            at += 2;
        } else {
            // `as alias` and the rest of the statement don't name modules.
            return (vec![prefix], at);
        }
    }
}

fn check_crate(src: &Path, problems: &mut Vec<String>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!(
                "{} has {lines} lines (at most {MAX_LINES})",
                file.display()
            ));
        }
        if module.is_empty() {
            continue; // lib.rs: the facade
        }
        for path in crate_paths(&code(&text)) {
            // The longest prefix that is a module.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains_key(m));
            match target {
                None => problems.push(format!(
                    "{}: `crate::{}` imports through the crate root; import from the module that defines it",
                    file.display(),
                    path.join("::")
                )),
                Some(t) if t != *module && !module.starts_with(&format!("{t}::")) => {
                    edges.entry(module.clone()).or_default().insert(t);
                }
                // A child naming its own ancestor's items is part of that module.
                Some(_) => {}
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) {
        match state.get(m) {
            Some(2) => return,
            Some(1) => {
                let from = stack.iter().position(|s| s == m).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(m.to_owned());
                problems.push(format!("import cycle: {}", cycle.join(" -> ")));
                return;
            }
            _ => {}
        }
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, state, stack, problems);
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
    }
    let mut state = BTreeMap::new();
    for m in modules.keys() {
        visit(m, &edges, &mut state, &mut Vec::new(), problems);
    }
}

#[test]
fn sources_have_no_import_cycles_no_root_imports_and_no_long_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    for krate in ["primitives-core", "observability-integration"] {
        check_crate(&root.join(krate).join("src"), &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_cycles_and_root_imports() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::{c::X, Y};\n").unwrap();
    std::fs::write(src.join("b/mod.rs"), "mod c;\npub struct Y;\n").unwrap();
    std::fs::write(
        src.join("b/c.rs"),
        "// crate::nothing\nuse crate::a::Z;\nuse crate::Root;\n",
    )
    .unwrap();
    let mut problems = Vec::new();
    check_crate(&src, &mut problems);
    std::fs::remove_dir_all(&dir).unwrap();
    let text = problems.join("\n");
    assert!(text.contains("import cycle: a -> b::c -> a"), "{text}");
    assert!(
        text.contains("`crate::Root` imports through the crate root"),
        "{text}"
    );
    assert!(!text.contains("nothing"), "comments are skipped: {text}");
}
