//! The module layout holds: no file-level import cycles in `src/`, ipsyn imports nothing of
//! ipsynd, lonc and the FIP side (`fip`, `ipsynd`, `ipsyn`) never import each other, `fip`
//! imports nothing but `sys`, and `sys` imports none of the daemons.
//!
//! A small resolver reads every `.rs` under `src/` (comments and string literals removed),
//! finds its `use` trees (groups, `pub use`, `self::`/`super::`/`crate::`, multi-line) and the
//! `crate::`/`super::`/`self::` paths written out in code, and maps each to the file of the
//! deepest module that exists: `a::b::c` is `src/a/b/c.rs` or `src/a/b/c/mod.rs`, an item
//! `crate::a::b::Item` is the file of `a::b`, a path into an inline module (`mod tests { }`)
//! is the file that holds it. Those are the edges; `mod child;` declarations are not (a parent
//! declaring its child is the tree, not an import), and an edge to the file itself is
//! dropped. A cycle is a strongly connected component of more than one file: every file of
//! it reaches every other through imports.
//!
//! The binaries in `src/bin/` are crates of their own: their `loncsyn::` paths resolve into
//! the library like `crate::` does there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The cycles that exist today, each as the set of files (relative to `src/`) of its strongly
/// connected component. The test fails on a cycle not listed here AND on a listed one that no
/// longer exists exactly like this, so the list only shrinks and stays true: when a cycle
/// goes (or loses files), delete (or narrow) its entry.
const ALLOWED_CYCLES: &[(&str, &[&str])] = &[(
    // The scheduler: one `Daemon` whose impl blocks are spread over these files, each
    // calling into the others, and `ftp.rs`'s free functions on `&mut Daemon` (issue 9:
    // the pure core and the I/O shell replace it).
    "ipsynd's scheduler around Daemon",
    &[
        "ipsynd/attempt.rs",
        "ipsynd/daemon.rs",
        "ipsynd/ftp.rs",
        "ipsynd/kill.rs",
        "ipsynd/watch.rs",
    ],
)];

// ---------------------------------------------------------------------------------------
// Lexing: the text without comments and literals, as tokens.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Tokens of Rust source, comments, string/char/byte literals and numbers dropped.
fn tokens(src: &str) -> Vec<Tok> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || (next == Some('#') && raw_start(&b, i + 1))) {
            i = skip_raw(&b, i + 1);
        } else if c == 'b' && next == Some('r') && raw_start(&b, i + 2) {
            i = skip_raw(&b, i + 2);
        } else if c == '"' {
            i = skip_quoted(&b, i, '"');
        } else if c == 'b' && (next == Some('"') || next == Some('\'')) {
            i = skip_quoted(&b, i + 1, next.unwrap());
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a, 'static).
            if next == Some('\\') || b.get(i + 2) == Some(&'\'') {
                i = skip_quoted(&b, i, '\'');
            } else {
                i += 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[s..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                if b[i] == '.' && !b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    break;
                }
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// At `i` starts `#*"` (a raw string's opening after its `r`).
fn raw_start(b: &[char], mut i: usize) -> bool {
    while b.get(i) == Some(&'#') {
        i += 1;
    }
    b.get(i) == Some(&'"')
}

/// Skips a raw string whose `#*"` starts at `i`; returns the index after it.
fn skip_raw(b: &[char], mut i: usize) -> usize {
    let mut hashes = 0;
    while b.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < b.len() {
        if b[i] == '"' && (1..=hashes).all(|k| b.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// Skips a literal quoted with `q` starting at `i` (backslash escapes); index after it.
fn skip_quoted(b: &[char], mut i: usize, q: char) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            '\\' => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    i
}

// ---------------------------------------------------------------------------------------
// Paths a file names: its use trees and the crate/super/self paths in its code.

/// One path a file names, with the inline module it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    /// Inline modules (`mod x { ... }`) around the place, outermost first.
    inline: Vec<String>,
    /// The path's segments, e.g. `["super", "daemon", "Daemon"]`.
    segs: Vec<String>,
    /// Whether it came from a `use` (else from a path written out in code).
    from_use: bool,
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Every path `src` names, in order.
fn named_paths(src: &str) -> Vec<Named> {
    let t = tokens(src);
    let mut out = Vec::new();
    // Inline modules: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(k) if k == "mod" => {
                if let (Some(name), Some(Tok::Punct('{'))) = (ident(t.get(i + 1)), t.get(i + 2)) {
                    inline.push((name.to_string(), depth + 1));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(k)
                if k == "use"
                    && (ident(t.get(i + 1)).is_some()
                        || matches!(t.get(i + 1), Some(Tok::Path | Tok::Punct('{')))) =>
            {
                let mut j = i + 1;
                if t.get(j) == Some(&Tok::Path) {
                    j += 1;
                }
                let mut paths = Vec::new();
                use_tree(&t, &mut j, Vec::new(), &mut paths);
                let here: Vec<String> = inline.iter().map(|m| m.0.clone()).collect();
                for segs in paths {
                    out.push(Named {
                        inline: here.clone(),
                        segs,
                        from_use: true,
                    });
                }
                while j < t.len() && t[j] != Tok::Punct(';') {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            Tok::Ident(k)
                if (k == "crate" || k == "super" || k == "self")
                    && t.get(i + 1) == Some(&Tok::Path)
                    && i.checked_sub(1).is_none_or(|p| {
                        t[p] != Tok::Path
                            && t[p] != Tok::Punct('$')
                            && ident(t.get(p)) != Some("in")
                    }) =>
            {
                let mut segs = vec![k.clone()];
                let mut j = i + 1;
                while t.get(j) == Some(&Tok::Path) {
                    match ident(t.get(j + 1)) {
                        Some(s) => {
                            segs.push(s.to_string());
                            j += 2;
                        }
                        None => break,
                    }
                }
                out.push(Named {
                    inline: inline.iter().map(|m| m.0.clone()).collect(),
                    segs,
                    from_use: false,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Parses one use tree at `t[*j]` under `prefix`, pushing every path it imports (a group's
/// `self` and a glob import the prefix itself).
fn use_tree(t: &[Tok], j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match t.get(*j) {
        Some(Tok::Punct('{')) => {
            *j += 1;
            loop {
                match t.get(*j) {
                    Some(Tok::Punct('}')) => {
                        *j += 1;
                        return;
                    }
                    Some(Tok::Punct(',')) => *j += 1,
                    None | Some(Tok::Punct(';')) => return,
                    _ => {
                        let before = *j;
                        use_tree(t, j, prefix.clone(), out);
                        if *j == before {
                            *j += 1;
                        }
                    }
                }
            }
        }
        Some(Tok::Punct('*')) => {
            *j += 1;
            out.push(prefix);
        }
        Some(Tok::Ident(s)) => {
            *j += 1;
            let mut path = prefix;
            if s != "self" || path.is_empty() {
                path.push(s.clone());
            }
            if t.get(*j) == Some(&Tok::Path) {
                *j += 1;
                use_tree(t, j, path, out);
            } else {
                if ident(t.get(*j)) == Some("as") {
                    *j += 2;
                }
                out.push(path);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Resolving paths to files.

/// The crate a file belongs to: the library, or one binary of `src/bin/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Krate {
    Lib,
    Bin(String),
}

/// A tree of source files, by path relative to `src/` (`ipsynd/daemon.rs`).
struct Tree {
    files: BTreeMap<String, String>,
    /// (crate, module path) -> file.
    modules: BTreeMap<(Krate, Vec<String>), String>,
}

impl Tree {
    fn new(files: BTreeMap<String, String>) -> Tree {
        let mut modules = BTreeMap::new();
        for f in files.keys() {
            let (k, m) = module_of(f);
            modules.insert((k, m), f.clone());
        }
        Tree { files, modules }
    }

    /// Every file under `dir`, read from disk.
    fn read(dir: &Path) -> Tree {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                    out.insert(rel, fs::read_to_string(&p).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files);
        Tree::new(files)
    }

    /// The file a path names from `file` (inside its inline modules `inline`), if it is one
    /// of this tree's: the deepest module of the path that has a file.
    fn resolve(&self, file: &str, inline: &[String], segs: &[String]) -> Option<String> {
        let (krate, mut here) = module_of(file);
        here.extend(inline.iter().cloned());
        let first = segs.first()?;
        let (krate, mut full) = match first.as_str() {
            "crate" => (krate, Vec::new()),
            "loncsyn" if matches!(krate, Krate::Bin(_)) => (Krate::Lib, Vec::new()),
            "self" => (krate, here.clone()),
            "super" => {
                let mut base = here.clone();
                base.pop()?;
                (krate, base)
            }
            // A bare name: a child module of this one (`use ports::X` beside `mod ports;`),
            // else another crate's (std, nix, ...).
            name => {
                let mut child = here.clone();
                child.push(name.to_string());
                if !self.modules.contains_key(&(krate.clone(), child)) {
                    return None;
                }
                (krate, here.clone())
            }
        };
        // The segments after the base: a leading keyword goes, a bare child's name stays.
        let keyword = matches!(first.as_str(), "crate" | "self" | "super" | "loncsyn");
        let mut rest = segs[usize::from(keyword)..].to_vec();
        // `super::super::x`
        while rest.first().map(String::as_str) == Some("super") {
            full.pop()?;
            rest.remove(0);
        }
        full.extend(rest);
        (0..=full.len())
            .rev()
            .find_map(|k| self.modules.get(&(krate.clone(), full[..k].to_vec())))
            .cloned()
    }

    /// The import edges: file -> files it imports, each with the paths that make it.
    fn edges(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (f, text) in &self.files {
            let entry = out.entry(f.clone()).or_default();
            for n in named_paths(text) {
                if let Some(to) = self.resolve(f, &n.inline, &n.segs) {
                    if &to != f {
                        let how = format!(
                            "{} {}",
                            if n.from_use { "use" } else { "path" },
                            n.segs.join("::")
                        );
                        let hows = entry.entry(to).or_default();
                        if !hows.contains(&how) {
                            hows.push(how);
                        }
                    }
                }
            }
        }
        out
    }
}

/// The crate and module path of a file (relative to `src/`): `lib.rs` is the root,
/// `a/mod.rs` and `a.rs` are `a`, `bin/x.rs` the root of binary `x`.
fn module_of(file: &str) -> (Krate, Vec<String>) {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    let krate = if parts.first().map(String::as_str) == Some("bin") {
        parts.remove(0);
        let name = parts.remove(0);
        Krate::Bin(name)
    } else {
        Krate::Lib
    };
    if krate == Krate::Lib && parts == ["lib"] || parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    (krate, parts)
}

// ---------------------------------------------------------------------------------------
// Cycles.

/// Strongly connected components of more than one file (Tarjan), each sorted.
fn cycles(edges: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Vec<Vec<String>> {
    struct St<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        if let Some(tos) = s.edges.get(v) {
            for w in tos.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// A cycle for the eye: its files and the imports between them.
fn show(comp: &[String], edges: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> String {
    let mut s = format!("  cycle of {} files: {}\n", comp.len(), comp.join(", "));
    for a in comp {
        for (b, hows) in &edges[a] {
            if comp.contains(b) {
                s += &format!("    {a} -> {b}  ({})\n", hows.join("; "));
            }
        }
    }
    s
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

// ---------------------------------------------------------------------------------------
// The checks on the real tree.

#[test]
fn no_import_cycles_in_src_but_the_allow_listed_ones() {
    let tree = Tree::read(&src_dir());
    let edges = tree.edges();
    // The resolver sees the real tree (else an empty graph would pass): ipsyn's sender lists
    // queues through fip, the daemon reaches its attempts.
    assert!(
        edges["ipsyn/send.rs"].contains_key("fip/queue.rs"),
        "{:?}",
        edges["ipsyn/send.rs"]
    );
    assert!(edges["bin/ipsyn.rs"].contains_key("ipsyn/send.rs"));
    let found = cycles(&edges);
    let allowed: Vec<Vec<String>> = ALLOWED_CYCLES
        .iter()
        .map(|(_, files)| {
            let mut v: Vec<String> = files.iter().map(|f| f.to_string()).collect();
            v.sort();
            v
        })
        .collect();
    let mut report = String::new();
    for c in &found {
        if !allowed.contains(c) {
            report += &format!("a cycle not in ALLOWED_CYCLES:\n{}", show(c, &edges));
        }
    }
    for ((why, _), a) in ALLOWED_CYCLES.iter().zip(&allowed) {
        if !found.contains(a) {
            report += &format!(
                "the allow-listed cycle \"{why}\" ({}) no longer exists as listed: \
                 delete or narrow its entry in ALLOWED_CYCLES\n",
                a.join(", ")
            );
        }
    }
    let mut all = String::new();
    for c in &found {
        all += &show(c, &edges);
    }
    println!("import cycles in src/ ({}):\n{all}", found.len());
    assert!(report.is_empty(), "{report}\nall cycles found:\n{all}");
}

/// Every import edge from files under `from` into files under `to`.
fn crossings(
    edges: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    from: &str,
    to: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (a, tos) in edges {
        if !a.starts_with(from) {
            continue;
        }
        for (b, hows) in tos {
            if b.starts_with(to) {
                out.push(format!("{a} -> {b} ({})", hows.join("; ")));
            }
        }
    }
    out
}

#[test]
fn the_module_boundaries_hold() {
    let edges = Tree::read(&src_dir()).edges();
    let rules: &[(&str, &[&str], &str)] = &[
        (
            "ipsyn/",
            &["ipsynd/"],
            "ipsyn knows the FIP tree through fip, never ipsynd's modules",
        ),
        (
            "lonc/",
            &["ipsynd/", "ipsyn/", "fip/"],
            "lonc and the FIP side never import each other",
        ),
        (
            "ipsynd/",
            &["lonc/"],
            "lonc and the FIP side never import each other",
        ),
        (
            "ipsyn/",
            &["lonc/"],
            "lonc and the FIP side never import each other",
        ),
        (
            "fip/",
            &["ipsynd/", "ipsyn/", "lonc/", "bench/"],
            "fip is below both ipsynd and ipsyn",
        ),
        (
            "sys/",
            &["ipsynd/", "ipsyn/", "lonc/", "fip/", "bench/"],
            "sys is shared plumbing",
        ),
        (
            "ipsynd/",
            &["ipsyn/"],
            "the daemon runs ipsyn as a program, it does not link it",
        ),
    ];
    let mut bad = Vec::new();
    for (from, tos, why) in rules {
        for to in *tos {
            for c in crossings(&edges, from, to) {
                bad.push(format!("{c}: {why}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports across module boundaries:\n{}",
        bad.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The resolver on fixtures.

fn fixture(files: &[(&str, &str)]) -> Tree {
    Tree::new(
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
    )
}

fn segs(n: &Named) -> String {
    n.segs.join("::")
}

#[test]
fn use_trees_groups_renames_globs_and_multiline() {
    let src = "
        pub use super::{a, b::C, self as me};
        pub(crate) use crate::x::{
            y::{self, Z as W},
            *,
        };
        use ::std::fs;
        use {crate::p, q::r};
    ";
    let got: Vec<String> = named_paths(src).iter().map(segs).collect();
    assert_eq!(
        got,
        [
            "super::a",
            "super::b::C",
            "super",
            "crate::x::y",
            "crate::x::y::Z",
            "crate::x",
            "std::fs",
            "crate::p",
            "q::r",
        ]
    );
    assert!(named_paths(src).iter().all(|n| n.from_use));
}

#[test]
fn comments_strings_and_chars_name_nothing() {
    let src = r####"
        // use crate::a;
        /* use crate::b; /* nested */ use crate::c; */
        /// [`crate::d`]
        const S: &str = "use crate::e;";
        const R: &str = r#"use crate::f; "quoted""#;
        const B: &[u8] = b"crate::g";
        const Q: char = '"';
        fn f<'a>(x: &'a str) -> char { '\'' }
        use crate::h;
    "####;
    let got: Vec<String> = named_paths(src).iter().map(segs).collect();
    assert_eq!(got, ["crate::h"]);
}

#[test]
fn paths_in_code_count_but_not_pub_crate_nor_macro_crate() {
    let src = "
        pub(crate) fn f() { crate::sys::poll::wait::<u8>(); super::x::Y::new(); }
        pub(in crate::a) struct S;
        macro_rules! m { () => { $crate::z::Z } }
        fn g() { let p = std::path::Path::new(\"crate::no\"); self::inner::h(); }
    ";
    let got: Vec<(String, bool)> = named_paths(src)
        .iter()
        .map(|n| (segs(n), n.from_use))
        .collect();
    assert_eq!(
        got,
        [
            ("crate::sys::poll::wait".to_string(), false),
            ("super::x::Y::new".to_string(), false),
            ("self::inner::h".to_string(), false),
        ]
    );
}

#[test]
fn inline_modules_are_where_super_and_self_start() {
    let src = "
        use super::a;
        mod tests {
            use super::*;
            mod deeper { use super::super::b; }
            fn t() { if true { } }
        }
        use self::c;
    ";
    let got: Vec<(Vec<String>, String)> = named_paths(src)
        .iter()
        .map(|n| (n.inline.clone(), segs(n)))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            (s(&[]), "super::a".to_string()),
            (s(&["tests"]), "super".to_string()),
            (s(&["tests", "deeper"]), "super::super::b".to_string()),
            (s(&[]), "self::c".to_string()),
        ]
    );
}

#[test]
fn module_paths_map_to_the_deepest_file() {
    let t = fixture(&[
        ("lib.rs", "pub mod a; pub mod d;"),
        ("a/mod.rs", "pub mod b;"),
        ("a/b.rs", "pub mod c; pub struct Item;"),
        ("a/b/c.rs", ""),
        ("d.rs", "mod e; pub use e::E;"),
        ("d/e.rs", ""),
        ("bin/tool.rs", ""),
    ]);
    let r = |file: &str, inline: &[&str], path: &str| {
        let inline: Vec<String> = inline.iter().map(|s| s.to_string()).collect();
        let segs: Vec<String> = path.split("::").map(String::from).collect();
        t.resolve(file, &inline, &segs)
    };
    let some = |f: &str| Some(f.to_string());
    assert_eq!(r("d.rs", &[], "crate::a::b::c"), some("a/b/c.rs"));
    assert_eq!(r("d.rs", &[], "crate::a::b::Item"), some("a/b.rs"));
    assert_eq!(r("d.rs", &[], "crate::a::b::Item::new"), some("a/b.rs"));
    assert_eq!(r("d.rs", &[], "crate::a"), some("a/mod.rs"));
    assert_eq!(r("d.rs", &[], "crate::Root"), some("lib.rs"));
    assert_eq!(r("a/b/c.rs", &[], "super::Item"), some("a/b.rs"));
    assert_eq!(r("a/b/c.rs", &[], "super::super::b::c"), some("a/b/c.rs"));
    assert_eq!(r("a/b.rs", &[], "self::c::X"), some("a/b/c.rs"));
    // Inside `mod tests { }` of a/b.rs, `super` is a/b.rs itself.
    assert_eq!(r("a/b.rs", &["tests"], "super::Item"), some("a/b.rs"));
    assert_eq!(r("a/b.rs", &["tests"], "super::c::X"), some("a/b/c.rs"));
    // A bare child module name, and names of other crates.
    assert_eq!(r("d.rs", &[], "e::E"), some("d/e.rs"));
    assert_eq!(r("d.rs", &[], "std::fs"), None);
    assert_eq!(r("d.rs", &[], "nix::poll"), None);
    // A binary reaches the library through the crate's name.
    assert_eq!(r("bin/tool.rs", &[], "loncsyn::a::b::Item"), some("a/b.rs"));
    assert_eq!(r("bin/tool.rs", &[], "crate::a"), some("bin/tool.rs"));
}

#[test]
fn cycles_are_through_use_not_through_mod() {
    let t = fixture(&[
        ("lib.rs", "mod p; mod q; mod r; mod s;"),
        // p declares its child and imports it: fine while the child does not import p.
        ("p.rs", "mod kid; use kid::K;"),
        ("p/kid.rs", "pub struct K;"),
        // q and its child import each other: a cycle.
        ("q.rs", "mod kid; pub use self::kid::K; pub struct Q;"),
        ("q/kid.rs", "use super::Q; pub struct K;"),
        // r -> s -> r through a group and a path in code.
        ("r.rs", "use crate::{s::S, p};"),
        ("s.rs", "pub struct S; fn f() { crate::r::g() }"),
    ]);
    let edges = t.edges();
    assert_eq!(
        cycles(&edges),
        [
            vec!["q.rs".to_string(), "q/kid.rs".to_string()],
            vec!["r.rs".to_string(), "s.rs".to_string()]
        ]
    );
    assert!(edges["p.rs"].contains_key("p/kid.rs") && edges["r.rs"].contains_key("p.rs"));
    assert!(
        !edges["lib.rs"].contains_key("p.rs"),
        "mod declarations are no edges"
    );
    assert!(show(&cycles(&edges)[1], &edges).contains("r.rs -> s.rs  (use crate::s::S)"));
}
