//! The building keeps its map: data flows one way, in the order `src/lib.rs` declares.
//!
//! The crate doc of `src/lib.rs` lists every module, one line each (`//! - [`name`]: …`), leaves first and then
//! the pipeline in order. A module may use only modules above it in that list: a back-edge (and with it any
//! cycle) fails here, naming the file and the line. Every module declared with `pub mod` is on the map, and no
//! source file is over 600 lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The modules on the map, in order.
fn map(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|l| l.split_once("`]").map(|(name, _)| name.to_string()))
        .collect()
}

/// The modules `lib.rs` declares.
fn declared(lib: &str) -> Vec<String> {
    lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';').to_string()).collect()
}

/// Every source file of a module: `src/NAME.rs`, or everything under `src/NAME/`.
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let single = src.join(format!("{module}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut out = Vec::new();
    let mut stack = vec![src.join(module)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// (line number, module) of every `crate::MODULE` a file names outside comments.
fn uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `mock_upstream::…` and `$crate::` are other crates; `crate::{a, b}` names several.
            let before = &rest[..at];
            if !before.ends_with('_') && !before.ends_with('$') {
                if name.is_empty() && after.starts_with('{') {
                    let list = &after[1..after.find('}').unwrap_or(after.len())];
                    for item in list.split(',') {
                        let item = item.trim().split("::").next().unwrap_or("").trim();
                        if !item.is_empty() {
                            out.push((n + 1, item.to_string()));
                        }
                    }
                } else if !name.is_empty() {
                    out.push((n + 1, name.clone()));
                }
            }
            rest = &after[name.len()..];
        }
    }
    out
}

/// Every back-edge: (file, line, module, the later module it uses).
fn back_edges(src: &Path, order: &[String]) -> Vec<String> {
    let position: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let mut found = Vec::new();
    for (i, module) in order.iter().enumerate() {
        for file in files_of(src, module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, used) in uses(&text) {
                if let Some(&j) = position.get(used.as_str()) {
                    if j > i {
                        found
                            .push(format!("{}:{line}: `{module}` uses `{used}`, which comes after it", file.display()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_modules_before_it_on_the_map() {
    let src = root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order = map(&lib);
    let mut on_map = order.clone();
    on_map.sort();
    let mut modules = declared(&lib);
    modules.sort();
    assert_eq!(on_map, modules, "every `pub mod` is on the map in lib.rs's doc, and nothing else");
    let edges = back_edges(&src, &order);
    assert!(edges.is_empty(), "imports against the map:\n{}", edges.join("\n"));
}

#[test]
fn the_check_finds_a_back_edge_when_there_is_one() {
    // A copy of the tree in which the first module on the map uses the last one.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let order = map(&lib);
    let (first, last) = (&order[0], &order[order.len() - 1]);
    for module in &order {
        let dest = if root().join(format!("src/{module}.rs")).exists() {
            src.join(format!("{module}.rs"))
        } else {
            src.join(module).join("mod.rs")
        };
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let text = if module == first { format!("use crate::{last}::Something;\n") } else { String::new() };
        std::fs::write(dest, text).unwrap();
    }
    let edges = back_edges(&src, &order);
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert!(edges[0].contains(&format!("`{first}` uses `{last}`")), "{}", edges[0]);
    assert_eq!(
        uses("use crate::{a::X, b};\nlet x = crate::c::f(); // crate::d\nmock_upstream::e"),
        [(1, "a".to_string()), (1, "b".to_string()), (2, "c".to_string())]
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut long = Vec::new();
    for dir in ["src", "mock-upstream/src", "common/src"] {
        let mut stack = vec![root().join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                    if lines > MAX_LINES {
                        long.push(format!("{}: {lines} lines", path.display()));
                    }
                }
            }
        }
    }
    assert!(long.is_empty(), "files over {MAX_LINES} lines:\n{}", long.join("\n"));
}
