//! The core's module layering, checked over the sources (specs/README.md, "Layers").
//!
//! Reads every `core/src/**/*.rs` except the `#[cfg(test)]` modules, collects every
//! path reference that starts at `crate::`, `super::`, `self::`, a child module or a
//! name a `use` brought in, in `use` lines and in code alike (comments, doc links and
//! string literals are removed first), and resolves each one to the module that
//! *defines* the item, following `pub use` re-exports. The arrows between modules
//! must then:
//!
//! - run one way down the layers: value types (`sip`, `msrp`, `cpim`, `sdp`, `uri`,
//!   `ids`, `time`, `body`, `record`) <- `wire` (bytes <-> values) <- `server` <- the
//!   crate root (the facade that nothing inside the crate may name) and `testing`
//!   (the public test-support builders);
//! - form no circle (Tarjan's strongly connected components).
//!
//! On the main branch before the layering work (commit d838854) this test failed:
//! `wire::imdn -> record types in server`, `msrp::reassembly -> wire::Limits`, and the
//! circles `server::{outbox, timer, transaction}` and `server::{chat, mod,
//! msrp_relay, ...}`. `cargo test -p cpmd-core --test layers -- --nocapture` prints
//! the graph that `core/src/lib.rs` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type ModPath = Vec<String>;

/// One source file as the checker sees it.
struct Module {
    /// Code with comments, strings and `#[cfg(test)]` items removed.
    code: String,
    /// Names of items defined here (types, functions, constants, modules).
    defined: BTreeSet<String>,
    /// Names brought in by `use` (public or not), with their absolute target path.
    imports: BTreeMap<String, ModPath>,
    /// Child modules declared under `#[cfg(test)]`: not part of the graph.
    test_children: BTreeSet<String>,
}

fn main_src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read core/src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `lib.rs` -> [], `a.rs` / `a/mod.rs` -> [a], `a/b.rs` -> [a, b].
fn module_path(root: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(root).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs").to_owned();
    if stem != "mod" && stem != "lib" {
        parts.push(stem);
    }
    parts
}

/// Removes comments (doc comments included, so doc links do not count), string and
/// character literals.
fn strip_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"'))
            && (i == 0 || !is_ident_byte(b[i - 1]))
        {
            // Raw string r"..." or r#"..."#.
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
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
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
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if b.get(i + 1) == Some(&b'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                // Possibly a multi-byte char literal.
                let rest = &src[i + 1..];
                let mut chars = rest.char_indices();
                match (chars.next(), chars.next()) {
                    (Some((_, ch)), Some((k, '\''))) if !ch.is_ascii() => {
                        i += 1 + k + 1;
                        out.push_str("' '");
                    }
                    _ => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
        } else {
            let ch = src[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Index just past the item starting at `from`: through its matching `}` when a
/// `{` comes before any `;`, else through the `;`.
fn item_end(code: &str, from: usize) -> usize {
    let b = code.as_bytes();
    let mut i = from;
    while i < b.len() && b[i] != b'{' && b[i] != b';' {
        i += 1;
    }
    if i >= b.len() || b[i] == b';' {
        return (i + 1).min(b.len());
    }
    let mut depth = 0;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Removes every `#[cfg(test)]` item; returns the code and the names of test-only
/// child modules declared `mod name;`.
fn strip_test_items(code: &str) -> (String, BTreeSet<String>) {
    let mut out = String::new();
    let mut children = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        // Skip further attributes.
        let mut item = after.trim_start();
        while item.starts_with("#[") {
            let close = item.find(']').expect("attribute end");
            item = item[close + 1..].trim_start();
        }
        let item_start = after.len() - item.len();
        let end = item_end(after, item_start);
        let text = &after[item_start..end];
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(pos) = words.iter().position(|w| *w == "mod") {
            if text.trim_end().ends_with(';') {
                children.insert(words[pos + 1].to_owned());
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, children)
}

/// Identifier tokens and `::` separators, in order, as (start index, token).
fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_ident_byte(c) {
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            out.push(code[start..i].to_owned());
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            out.push("::".into());
            i += 2;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else {
            out.push((c as char).to_string());
            i += 1;
        }
    }
    out
}

fn definitions(toks: &[String]) -> BTreeSet<String> {
    const KINDS: &[&str] = &[
        "struct",
        "enum",
        "fn",
        "trait",
        "type",
        "const",
        "static",
        "mod",
        "union",
        "macro_rules",
    ];
    let mut out = BTreeSet::new();
    for w in toks.windows(2) {
        if KINDS.contains(&w[0].as_str()) && w[1].chars().all(|c| c.is_alphanumeric() || c == '_') {
            out.insert(w[1].clone());
        }
    }
    // `macro_rules! name`.
    for w in toks.windows(3) {
        if w[0] == "macro_rules" && w[1] == "!" {
            out.insert(w[2].clone());
        }
    }
    out
}

/// The `use` trees of a file, flattened: (local name, path as written).
fn use_paths(toks: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == "use" && (i == 0 || toks[i - 1] != "::") {
            let end = toks[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(toks.len(), |p| i + p);
            let mut pos = i + 1;
            parse_tree(&toks[..end], &mut pos, Vec::new(), &mut out);
            i = end;
        }
        i += 1;
    }
    out
}

fn parse_tree(
    toks: &[String],
    pos: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(String, Vec<String>)>,
) {
    let mut path = prefix;
    while *pos < toks.len() {
        let t = toks[*pos].as_str();
        match t {
            "::" => *pos += 1,
            "{" => {
                *pos += 1;
                loop {
                    parse_tree(toks, pos, path.clone(), out);
                    match toks.get(*pos).map(String::as_str) {
                        Some(",") => *pos += 1,
                        Some("}") => {
                            *pos += 1;
                            break;
                        }
                        _ => break,
                    }
                    if toks.get(*pos).map(String::as_str) == Some("}") {
                        *pos += 1;
                        break;
                    }
                }
                return;
            }
            "," | "}" => break,
            "*" => {
                *pos += 1;
                out.push(("*".into(), path.clone()));
                return;
            }
            "as" => {
                let alias = toks[*pos + 1].clone();
                *pos += 2;
                out.push((alias, path.clone()));
                return;
            }
            _ => {
                path.push(t.to_owned());
                *pos += 1;
            }
        }
    }
    if let Some(last) = path.last() {
        let name = if last == "self" {
            path.pop();
            path.last().cloned().unwrap_or_default()
        } else {
            last.clone()
        };
        out.push((name, path));
    }
}

struct Crate {
    modules: BTreeMap<ModPath, Module>,
}

impl Crate {
    fn load() -> Self {
        let root = main_src();
        let mut files = Vec::new();
        collect_files(&root, &mut files);
        let mut modules = BTreeMap::new();
        for file in files {
            let src = std::fs::read_to_string(&file).expect("read source");
            let (code, test_children) = strip_test_items(&strip_comments_and_strings(&src));
            let toks = tokens(&code);
            modules.insert(
                module_path(&root, &file),
                Module {
                    defined: definitions(&toks),
                    code,
                    imports: BTreeMap::new(),
                    test_children,
                },
            );
        }
        // Drop test-only modules and everything below them.
        let excluded: Vec<ModPath> = modules
            .iter()
            .flat_map(|(path, m)| {
                m.test_children.iter().map(move |c| {
                    let mut p = path.clone();
                    p.push(c.clone());
                    p
                })
            })
            .collect();
        modules.retain(|path, _| !excluded.iter().any(|ex| path.starts_with(ex)));
        let mut krate = Crate { modules };
        let paths: Vec<ModPath> = krate.modules.keys().cloned().collect();
        for path in paths {
            let toks = tokens(&krate.modules[&path].code);
            let mut imports = BTreeMap::new();
            for (name, written) in use_paths(&toks) {
                if let Some(abs) = krate.absolute(&path, &written, true) {
                    imports.insert(name, abs);
                }
            }
            krate.modules.get_mut(&path).expect("module").imports = imports;
        }
        krate
    }

    fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains_key(path)
    }

    /// The absolute path of `written` as seen from module `from`; `None` for paths into
    /// other crates (`std`, `thiserror`, ...).
    fn absolute(&self, from: &ModPath, written: &[String], in_use: bool) -> Option<ModPath> {
        let first = written.first()?;
        let (mut base, rest) = match first.as_str() {
            "crate" => (Vec::new(), &written[1..]),
            "self" => (from.clone(), &written[1..]),
            "super" => {
                let mut base = from.clone();
                let mut rest = written;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            _ => {
                let mut child = from.clone();
                child.push(first.clone());
                if self.is_module(&child) {
                    (from.clone(), written)
                } else if !in_use {
                    let target = self.modules.get(from)?.imports.get(first)?.clone();
                    let mut abs = target;
                    abs.extend(written[1..].iter().cloned());
                    return Some(abs);
                } else {
                    return None;
                }
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module that defines the item an absolute path names.
    fn defining_module(&self, abs: &[String], depth: usize) -> ModPath {
        let mut module: ModPath = Vec::new();
        for (i, seg) in abs.iter().enumerate() {
            let mut child = module.clone();
            child.push(seg.clone());
            if self.is_module(&child) {
                module = child;
                continue;
            }
            let Some(m) = self.modules.get(&module) else {
                return module;
            };
            if m.defined.contains(seg) || depth > 16 {
                return module;
            }
            if let Some(target) = m.imports.get(seg) {
                let mut next = target.clone();
                next.extend(abs[i + 1..].iter().cloned());
                return self.defining_module(&next, depth + 1);
            }
            return module;
        }
        module
    }

    /// Every arrow `from -> to` (to: the defining module), with one example path.
    fn arrows(&self) -> BTreeMap<(ModPath, ModPath), String> {
        let mut out = BTreeMap::new();
        for (from, m) in &self.modules {
            let toks = tokens(&m.code);
            let mut i = 0;
            while i < toks.len() {
                // `use` trees go through the imports table below.
                if toks[i] == "use" && (i == 0 || toks[i - 1] != "::") {
                    while i < toks.len() && toks[i] != ";" {
                        i += 1;
                    }
                    continue;
                }
                let starts_path = is_ident(&toks[i])
                    && toks.get(i + 1).map(String::as_str) == Some("::")
                    && (i == 0 || toks[i - 1] != "::");
                if !starts_path {
                    i += 1;
                    continue;
                }
                let mut written = vec![toks[i].clone()];
                let mut j = i + 1;
                while toks.get(j).map(String::as_str) == Some("::")
                    && toks.get(j + 1).is_some_and(|t| is_ident(t))
                {
                    written.push(toks[j + 1].clone());
                    j += 2;
                }
                if let Some(abs) = self.absolute(from, &written, false) {
                    let to = self.defining_module(&abs, 0);
                    if &to != from {
                        out.entry((from.clone(), to)).or_insert(written.join("::"));
                    }
                }
                i = j;
            }
            // `use` trees with braces are not single token paths: add their leaves.
            for target in m.imports.values() {
                let to = self.defining_module(target, 0);
                if &to != from {
                    out.entry((from.clone(), to))
                        .or_insert_with(|| target.join("::"));
                }
            }
        }
        out
    }
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// 0: value types, 1: wire, 2: server, 3: the crate root and `testing` (the public
/// test-support builders: they print requests with `wire` and name `server`'s
/// `Transport`, and nothing inside the crate may name them).
fn layer(path: &[String]) -> u8 {
    match path.first().map(String::as_str) {
        None | Some("testing") => 3,
        Some("server") => 2,
        Some("wire") => 1,
        Some(_) => 0,
    }
}

const LAYER_NAMES: [&str; 4] = ["values", "wire", "server", "crate root / testing"];

/// Tarjan's strongly connected components of size > 1.
fn circles(nodes: &[ModPath], edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<ModPath, usize>,
        low: BTreeMap<ModPath, usize>,
        stack: Vec<ModPath>,
        on_stack: BTreeSet<ModPath>,
        next: usize,
        out: Vec<Vec<ModPath>>,
    }
    fn visit(s: &mut State<'_>, v: &ModPath) {
        s.index.insert(v.clone(), s.next);
        s.low.insert(v.clone(), s.next);
        s.next += 1;
        s.stack.push(v.clone());
        s.on_stack.insert(v.clone());
        let succ: Vec<ModPath> = s.edges.get(v).into_iter().flatten().cloned().collect();
        for w in succ {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let low = s.low[v].min(s.low[&w]);
                s.low.insert(v.clone(), low);
            } else if s.on_stack.contains(&w) {
                let low = s.low[v].min(s.index[&w]);
                s.low.insert(v.clone(), low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().expect("on stack");
                s.on_stack.remove(&w);
                let done = &w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for n in nodes {
        if !s.index.contains_key(n) {
            visit(&mut s, n);
        }
    }
    s.out
}

#[test]
fn layers_run_one_way_and_have_no_circle() {
    let krate = Crate::load();
    assert!(
        krate.modules.len() > 30,
        "the checker found only {} modules",
        krate.modules.len()
    );
    let arrows = krate.arrows();
    assert!(
        arrows.len() > 50,
        "the checker found only {} arrows",
        arrows.len()
    );
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (from, to) in arrows.keys() {
        edges.entry(from.clone()).or_default().insert(to.clone());
    }

    // The graph, by layer, for core/src/lib.rs.
    for (l, layer_name) in LAYER_NAMES.iter().enumerate() {
        println!("{layer_name}:");
        for (from, tos) in &edges {
            if usize::from(layer(from)) != l {
                continue;
            }
            let tos: Vec<String> = tos.iter().map(|t| name(t)).collect();
            println!("  {} -> {}", name(from), tos.join(", "));
        }
    }

    let upward: Vec<String> = arrows
        .iter()
        .filter(|((from, to), _)| layer(from) < layer(to))
        .map(|((from, to), example)| {
            format!(
                "{} ({}) -> {} ({}) via `{example}`",
                name(from),
                LAYER_NAMES[usize::from(layer(from))],
                name(to),
                LAYER_NAMES[usize::from(layer(to))]
            )
        })
        .collect();
    let nodes: Vec<ModPath> = krate.modules.keys().cloned().collect();
    let circles: Vec<String> = circles(&nodes, &edges)
        .into_iter()
        .map(|comp| {
            let names: Vec<String> = comp.iter().map(|m| name(m)).collect();
            let inside: Vec<String> = arrows
                .iter()
                .filter(|((f, t), _)| comp.contains(f) && comp.contains(t))
                .map(|((f, t), ex)| format!("    {} -> {} via `{ex}`", name(f), name(t)))
                .collect();
            format!("{{{}}}\n{}", names.join(", "), inside.join("\n"))
        })
        .collect();
    assert!(
        upward.is_empty() && circles.is_empty(),
        "arrows from a lower layer to a higher one:\n  {}\ncircles:\n  {}",
        upward.join("\n  "),
        circles.join("\n  ")
    );
}

#[test]
fn the_checker_sees_paths_in_code_and_skips_comments_and_tests() {
    let code = strip_comments_and_strings(
        "use crate::a::{b, c::D};\n/// [`crate::x::Y`]\nfn f() { super::e::F::new(\"crate::z\"); }\n#[cfg(test)]\nmod tests { use crate::q; }\n#[cfg(test)]\nmod other;\n",
    );
    let (code, children) = strip_test_items(&code);
    assert!(!code.contains("crate::x"), "{code}");
    assert!(!code.contains("crate::z"), "{code}");
    assert!(!code.contains("crate::q"), "{code}");
    assert!(code.contains("super::e::F"), "{code}");
    assert_eq!(children, BTreeSet::from(["other".to_owned()]));
    let uses = use_paths(&tokens(&code));
    assert_eq!(
        uses,
        vec![
            ("b".to_owned(), vec!["crate".into(), "a".into(), "b".into()]),
            (
                "D".to_owned(),
                vec!["crate".into(), "a".into(), "c".into(), "D".into()]
            ),
        ]
    );
}
