//! The crate's modules form a layered graph: no module depends, directly or through others, on a
//! module that depends on it. A cycle makes a layer impossible to read, test or replace alone
//! (the 2026 era, the legacy transport and the Redis backend each plug into one layer).
//!
//! Each file under `src/` is a module. A module depends on another when it names it, or an item
//! in it, by path: `use` trees and paths in code (`crate::…`, `super::…`, `self::…`, and paths
//! that start with a child module's name). An item re-exported by a front door (`pub use` in a
//! `mod.rs`) counts as a dependency on the module that defines it. Unit tests (`#[cfg(test)]`
//! at the bottom of a file) are left out: they may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type ModPath = Vec<String>;

/// One source file: its module path and its code with comments, strings and tests removed.
struct Module {
    file: String,
    path: ModPath,
    code: String,
}

/// The module path of a file relative to `src/`: `lib.rs` is the root, `a/mod.rs` and `a.rs`
/// are `a`, `a/b.rs` is `a::b`.
fn module_path(rel: &str) -> ModPath {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// Removes comments, string and char literals, and everything from a trailing
/// `#[cfg(test)]` on, so only code is scanned.
fn strip(code: &str) -> String {
    let code = match code.find("#[cfg(test)]\nmod tests") {
        Some(at) => &code[..at],
        None => code,
    };
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && !ident_byte_before(b, i)
        {
            // Raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a), which is kept.
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if let Some(len) = code[i + 1..].chars().next().map(char::len_utf8) {
                if b.get(i + 1 + len) == Some(&b'\'') {
                    i += 2 + len;
                    out.push_str("' '");
                } else {
                    out.push('\'');
                    i += 1;
                }
            } else {
                i += 1;
            }
        } else {
            let ch = code[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a `use` tree (`a::{b, c::{d as e}, self}`) into its paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            for part in split_top(inner) {
                go(prefix, part, out);
            }
            return;
        }
        match tree.find("::") {
            Some(at) if !tree[..at].contains('{') => {
                let mut p = prefix.to_vec();
                p.push(tree[..at].trim().to_owned());
                go(&p, &tree[at + 2..], out);
            }
            _ => {
                let name = tree.split(" as ").next().unwrap_or(tree).trim();
                let mut p = prefix.to_vec();
                if name != "self" && name != "*" {
                    p.push(name.to_owned());
                }
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

/// Splits on commas that are not inside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// What the analysis found in one module: paths it names, and names it re-exports.
#[derive(Default)]
struct Scan {
    /// Paths as written (first segment `crate`, `super`, `self` or anything else).
    paths: Vec<Vec<String>>,
    /// `pub use` re-exports: exported name → path as written.
    reexports: Vec<(String, Vec<String>)>,
}

fn scan(code: &str) -> Scan {
    let mut scan = Scan::default();
    let mut rest = code;
    // `use` statements first; they are cut out of the code scanned for inline paths.
    let mut inline = String::new();
    while let Some(at) = find_word(rest, "use") {
        inline.push_str(&rest[..at]);
        let Some(end) = rest[at..].find(';') else {
            break;
        };
        let before = rest[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        for path in expand_use(&rest[at + 3..at + end]) {
            if public {
                if let Some(name) = path.last() {
                    scan.reexports.push((name.clone(), path.clone()));
                }
            }
            scan.paths.push(path);
        }
        rest = &rest[at + end + 1..];
    }
    inline.push_str(rest);
    // Paths in code: `a::b::c` runs of identifiers.
    let chars: Vec<char> = inline.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let mut segs = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                segs.push(chars[start..j].iter().collect::<String>());
                if j + 2 < chars.len()
                    && chars[j] == ':'
                    && chars[j + 1] == ':'
                    && is_ident(chars[j + 2])
                {
                    j += 2;
                } else {
                    break;
                }
            }
            if segs.len() > 1 {
                scan.paths.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    scan
}

/// The byte offset of `word` as a whole word, if present.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = s[from..].find(word) {
        let at = from + at;
        let before = s[..at].chars().next_back();
        let after = s[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && after.is_some_and(char::is_whitespace) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The dependency graph between modules, by module path.
struct Graph {
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
    files: BTreeMap<ModPath, String>,
}

fn build(files: &[(String, String)]) -> Graph {
    let modules: Vec<Module> = files
        .iter()
        .map(|(rel, code)| Module {
            file: rel.clone(),
            path: module_path(rel),
            code: strip(code),
        })
        .collect();
    let known: BTreeSet<ModPath> = modules.iter().map(|m| m.path.clone()).collect();
    let scans: Vec<Scan> = modules.iter().map(|m| scan(&m.code)).collect();

    // Makes a written path absolute, from module `at`; `None` for paths into other crates.
    let absolute = |at: &ModPath, path: &[String]| -> Option<ModPath> {
        let first = path.first()?;
        let mut base: ModPath;
        let mut rest = path;
        match first.as_str() {
            "crate" => {
                base = Vec::new();
                rest = &rest[1..];
            }
            "self" => {
                base = at.clone();
                rest = &rest[1..];
            }
            "super" => {
                base = at.clone();
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            name => {
                let mut child = at.clone();
                child.push(name.to_owned());
                if !known.contains(&child) {
                    return None;
                }
                base = at.clone();
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    };
    let mut reexports: BTreeMap<(ModPath, String), ModPath> = BTreeMap::new();
    for (m, s) in modules.iter().zip(&scans) {
        for (name, path) in &s.reexports {
            if let Some(abs) = absolute(&m.path, path) {
                reexports.insert((m.path.clone(), name.clone()), abs);
            }
        }
    }
    // The module that defines what an absolute path names, following re-exports.
    let resolve = |abs: &ModPath| -> ModPath {
        let mut abs = abs.clone();
        for _ in 0..16 {
            let split = (0..=abs.len())
                .rev()
                .find(|&n| known.contains(&abs[..n]))
                .unwrap_or(0);
            let module = abs[..split].to_vec();
            match abs.get(split) {
                Some(item) => match reexports.get(&(module.clone(), item.clone())) {
                    Some(target) if *target != abs => abs = target.clone(),
                    _ => return module,
                },
                None => return module,
            }
        }
        abs
    };
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (m, s) in modules.iter().zip(&scans) {
        let out = edges.entry(m.path.clone()).or_default();
        for path in &s.paths {
            if let Some(abs) = absolute(&m.path, path) {
                let target = resolve(&abs);
                if target != m.path {
                    out.insert(target);
                }
            }
        }
    }
    let files = modules.into_iter().map(|m| (m.path, m.file)).collect();
    Graph { edges, files }
}

/// Every group of modules that depend on each other (strongly connected components of two or
/// more), by file name.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative enough for a crate's few dozen modules.
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a ModPath) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on_stack.insert(v);
        let graph = st.graph;
        for w in graph.edges.get(v).into_iter().flatten() {
            if !graph.edges.contains_key(w) {
                continue;
            }
            if !st.index.contains_key(w) {
                visit(st, w);
                let low = st.low[v].min(st.low[w]);
                st.low.insert(v, low);
            } else if st.on_stack.contains(w) {
                let low = st.low[v].min(st.index[w]);
                st.low.insert(v, low);
            }
        }
        if st.low[v] == st.index[v] {
            let mut group = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                group.push(graph.files[w].clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                st.found.push(group);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.edges.keys() {
        if !st.index.contains_key(v) {
            visit(&mut st, v);
        }
    }
    st.found
}

fn source_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under src/")
                .to_string_lossy()
                .replace('\\', "/");
            let code = std::fs::read_to_string(&path).expect("source is UTF-8");
            out.push((rel, code));
        }
    }
}

#[test]
fn the_crate_has_no_module_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &root, &mut files);
    assert!(files.len() > 10, "found only {} source files", files.len());
    let graph = build(&files);
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "modules that depend on each other (each line is one cycle):\n{}",
        found
            .iter()
            .map(|g| g.join(" <-> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_layers_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &root, &mut files);
    let graph = build(&files);
    let depends = |from: &str, to: &str| {
        let (from, to) = (module_path(from), module_path(to));
        graph
            .edges
            .iter()
            .filter(|(m, _)| m.starts_with(&from))
            .flat_map(|(_, out)| out)
            .any(|t| t.starts_with(&to))
    };
    // The layering `layer → service → session → {sse, jsonrpc, protocol}`.
    assert!(depends("layer.rs", "service/mod.rs"));
    assert!(depends("service/mod.rs", "session/mod.rs"));
    for (low, high) in [
        ("session/mod.rs", "service/mod.rs"),
        ("session/mod.rs", "layer.rs"),
        ("service/mod.rs", "layer.rs"),
        ("sse/mod.rs", "session/mod.rs"),
        ("jsonrpc.rs", "session/mod.rs"),
        ("protocol.rs", "session/mod.rs"),
    ] {
        assert!(!depends(low, high), "{low} must not depend on {high}");
    }
}

// The checker itself: a cycle it cannot see would make the test above worthless.

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect()
}

#[test]
fn checker_sees_a_cycle_through_use_trees_and_inline_paths() {
    let files = tree(&[
        ("lib.rs", "mod a; mod b; mod c;"),
        ("a.rs", "use crate::{b::{Thing as T}, c};"),
        ("b.rs", "pub struct Thing; fn f() { crate::c::g(); }"),
        ("c.rs", "pub fn g() { let _ = super::a::X; }"),
    ]);
    assert_eq!(cycles(&build(&files)), vec![vec!["a.rs", "b.rs", "c.rs"]]);
}

#[test]
fn checker_follows_reexports_to_the_defining_module() {
    // `s/x.rs` uses `super::Y`, which `s/mod.rs` re-exports from `s/y.rs`: no cycle, since the
    // front door defines nothing itself.
    let files = tree(&[
        ("lib.rs", "mod s;"),
        (
            "s/mod.rs",
            "mod x; mod y; pub use x::X; pub(crate) use y::Y;",
        ),
        ("s/x.rs", "use super::Y; pub struct X;"),
        ("s/y.rs", "pub struct Y;"),
    ]);
    assert!(cycles(&build(&files)).is_empty());
    // But an item defined in the front door and used by a child it uses is a cycle.
    let files = tree(&[
        ("lib.rs", "mod s;"),
        ("s/mod.rs", "mod x; pub struct Z; fn f() { x::g(); }"),
        ("s/x.rs", "pub fn g() { let _ = super::Z; }"),
    ]);
    assert_eq!(cycles(&build(&files)), vec![vec!["s/mod.rs", "s/x.rs"]]);
}

#[test]
fn checker_ignores_comments_strings_and_unit_tests() {
    let files = tree(&[
        ("lib.rs", "mod a; mod b;"),
        (
            "a.rs",
            "// crate::b::X\nconst S: &str = \"crate::b::X\"; const R: &str = r#\"crate::b::X\"#; fn f<'a>(_: &'a str) -> char { 'c' }\nuse crate::b::Y;",
        ),
        ("b.rs", "pub struct Y;\n#[cfg(test)]\nmod tests { use crate::a::*; }"),
    ]);
    let graph = build(&files);
    assert!(cycles(&graph).is_empty());
    assert!(graph.edges[&module_path("a.rs")].contains(&module_path("b.rs")));
}
