//! The crate's top-level modules form layers: no import cycle between them (issue 8). Reads
//! the sources, collects each module's `crate::x` references outside comments and test code,
//! and fails naming the modules of any cycle, so a new back edge is caught when it is added.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::name` references in the code part of a file (tests and comments left out).
fn references(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = BTreeSet::new();
    for line in code.lines() {
        // Code before any `//` comment on the line.
        let mut rest = line.split("//").next().unwrap_or("");
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The module graph: top-level module → modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel.iter().next().expect("a component").to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "bin" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let deps = g.entry(top.clone()).or_default();
        deps.extend(references(&text).into_iter().filter(|d| *d != top));
    }
    g
}

/// Modules that reach themselves (Tarjan-free: a module is on a cycle if a path from one of
/// its dependencies leads back to it).
fn on_cycles(g: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                stack.extend(g.get(&n).into_iter().flatten().cloned());
            }
        }
        false
    };
    g.iter().filter(|(m, deps)| deps.iter().any(|d| reaches(d, m))).map(|(m, _)| m.clone()).collect()
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let g = graph();
    assert!(g.len() > 10, "the source tree was not found: {g:?}");
    let cyclic = on_cycles(&g);
    let edges: Vec<String> = cyclic
        .iter()
        .flat_map(|m| g[m].iter().filter(|d| cyclic.contains(*d)).map(move |d| format!("{m} -> {d}")))
        .collect();
    assert!(cyclic.is_empty(), "import cycles between {cyclic:?}; edges among them: {edges:#?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(on_cycles(&g), ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
    assert_eq!(
        references("use crate::store::X; // crate::nope\n// crate::cmt\nlet _ = crate::reply::ok;"),
        ["reply", "store"].iter().map(|s| s.to_string()).collect()
    );
}
