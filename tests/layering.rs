//! The library's layers (issue 11): every arrow between the top-level
//! modules of `src/` points down a declared order, and the server side of a
//! socket does not reach into the client side.
//!
//! What is checked: the source text of every library file (comments and
//! string literals removed) for `crate::<module>` paths, `use crate::{...}`
//! groups, names the crate root re-exports (`crate::Manager`) and the
//! exported `errln!` macro. What is not: a path spelled through `super::`
//! from a nested file into another top-level module (none exist), and
//! anything a macro expands to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top: a module may use the ones before it, never one after it.
const ORDER: &[&str] = &[
    "os",
    "exit_status",
    "error",
    "sys",
    "orphan",
    "fork",
    "io",
    "region",
    "synchronize",
    "queues",
    "sharedctypes",
    "connection",
    "shared_memory",
    "start",
    "process",
    "worker",
    "pool",
    "executor",
    "managers",
    "pyproto",
    "subprocess",
];

/// Files that run on the server side of a socket, and the client modules
/// they must not import.
const SERVER_SIDE: &[(&str, &[&str])] = &[
    (
        "managers/server",
        &["managers::client", "super::client", "super::super::client"],
    ),
    ("managers/accept.rs", &["managers::client", "super::client"]),
    (
        "pyproto/server",
        &["pyproto::client", "super::client", "super::super::client"],
    ),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without the contents of string
/// and char literals (so a path in a message or a doc link is not an import).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"'
            || (b[i] == b'r'
                && i + 1 < b.len()
                && (b[i + 1] == b'"' || b[i + 1] == b'#')
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')))
        {
            // A string: plain, or raw with any number of `#`.
            let raw = b[i] == b'r';
            if raw {
                i += 1;
            }
            let mut hashes = 0;
            while raw && i < b.len() && b[i] == b'#' {
                hashes += 1;
                i += 1;
            }
            if i >= b.len() || b[i] != b'"' {
                continue;
            }
            i += 1;
            while i < b.len() {
                if !raw && b[i] == b'\\' {
                    i += 2;
                } else if b[i] == b'"'
                    && b[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&c| c == b'#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x' or '\n'); a lifetime has no closing quote.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The top-level modules a file's code names: `crate::m...`, each name of a
/// `crate::{a, b::c}` group, a crate-root re-export (`crate::Manager`,
/// mapped through `roots`), and `errln!` (defined in `io`).
fn uses(code: &str, roots: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut add = |name: &str| {
        if ORDER.contains(&name) {
            found.insert(name.to_string());
        } else if let Some(m) = roots.get(name) {
            found.insert(m.clone());
        }
    };
    let mut rest = code;
    while let Some(k) = rest.find("crate::") {
        let before = rest[..k].chars().next_back();
        rest = &rest[k + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `my_crate::`: not this crate (`$crate::` is)
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                add(&name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            add(&name);
        }
    }
    if code.contains("errln!") {
        found.insert("io".to_string());
    }
    found
}

/// Names the crate root re-exports, and the module each comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in code_only(lib).split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, names) = path.split_once("::").unwrap();
        let names = names.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
        let list = names.trim_matches(|c| c == '{' || c == '}');
        let list = if list.is_empty() {
            path.rsplit("::").next().unwrap().to_string()
        } else {
            list.to_string()
        };
        for n in list.split(',') {
            let n = n.trim();
            if !n.is_empty() {
                map.insert(n.to_string(), module.trim().to_string());
            }
        }
    }
    map
}

/// (file relative to src/, its top-level module, the code).
fn library() -> Vec<(String, String, String)> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel == "lib.rs" || rel.starts_with("bin/") {
            continue;
        }
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        out.push((rel, top, code));
    }
    out.sort();
    out
}

#[test]
fn every_top_level_module_is_in_the_declared_order() {
    let mut declared: Vec<&str> = ORDER.to_vec();
    declared.sort_unstable();
    let mut found: Vec<String> = library().into_iter().map(|(_, top, _)| top).collect();
    found.sort();
    found.dedup();
    assert_eq!(
        found, declared,
        "src/'s top-level modules and ORDER differ: place a new module in ORDER"
    );
}

/// Issue 11: every file of the library (its tests included) stays short
/// enough to hold in one's head; a file that grows past the limit is split
/// along a seam (a child module in a folder of its name).
#[test]
fn no_library_file_is_over_800_lines() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 800).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    long.sort();
    assert!(long.is_empty(), "files over 800 lines: {long:#?}");
}

#[test]
fn no_module_imports_one_above_it() {
    let roots = root_reexports(&std::fs::read_to_string(src_dir().join("lib.rs")).unwrap());
    let rank = |m: &str| ORDER.iter().position(|x| *x == m).unwrap();
    let mut upward = BTreeSet::new();
    for (rel, top, code) in library() {
        for used in uses(&code, &roots) {
            if used != top && rank(&used) > rank(&top) {
                upward.insert((rel.clone(), used));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "these files import a module above theirs in ORDER (a lower layer must not name a \
         higher one: let the higher one register itself, as managers does with \
         fork::register_participant): {upward:?}"
    );
}

#[test]
fn the_server_side_does_not_import_the_client_side() {
    let mut offenders = Vec::new();
    for (rel, _, code) in library() {
        for (side, banned) in SERVER_SIDE {
            if rel.starts_with(side) {
                for b in *banned {
                    if code.contains(b) {
                        offenders.push(format!("{rel} uses {b}"));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}

/// The checker itself sees what it claims to: a sample with each form of
/// import, and the forms it must not count.
#[test]
fn the_checker_finds_each_form_of_import() {
    let roots: BTreeMap<String, String> = [("Manager".to_string(), "managers".to_string())].into();
    let sample = r##"
        use crate::process::Process;
        use crate::{pool::Pool, executor};
        fn f() -> crate::Manager { crate::errln!("x"); todo!() }
        // crate::subprocess in a comment
        /// [`crate::pyproto`] in a doc link
        const S: &str = "crate::worker in a string";
        const R: &str = r#"crate::queues"#;
        const C: char = '"'; fn g<'a>(x: &'a str) -> &'a str { x } // crate::region
        macro_rules! m { () => { $crate::start::init() } }
    "##;
    let got = uses(&code_only(sample), &roots);
    let want: BTreeSet<String> = ["process", "pool", "executor", "managers", "io", "start"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}
