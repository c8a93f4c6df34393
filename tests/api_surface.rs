//! No nix type in the public API (issue 11): a nix release must not be a
//! breaking change of forklore.
//!
//! What is checked, over every library file in `src/` (comments removed):
//! the signature of each `pub fn` (up to its body), each `pub` field, each
//! `pub type`/`pub use`/`pub const`/`pub static`, and the whole body of each
//! `pub enum` (its variants are public). None may name `nix::`, nor a name
//! the file imports from nix (`use nix::unistd::Pid;` then `Pid`). Items are
//! checked whether or not their module is public, which is stricter than
//! the real API (a `pub fn` in a private module that nothing re-exports is
//! flagged too; make it `pub(crate)`). Not checked: trait impls
//! (`impl From<nix::Error> for ...`: none may exist; there are none today)
//! and what a macro expands to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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

/// Source without `//` comments (strings stay: a signature has none).
fn strip_comments(src: &str) -> String {
    src.lines()
        .map(|l| {
            // A `//` inside a string literal would be cut too; signatures
            // never hold one, and a cut body only shortens what is scanned.
            match l.find("//") {
                Some(i) => &l[..i],
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names a file imports from nix (`use nix::a::{B, c::D};` gives B and D,
/// `use nix::unistd::Pid as P;` gives P).
fn nix_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for stmt in code.split(';') {
        let s = stmt.trim();
        let Some(path) = s
            .strip_prefix("use nix::")
            .or_else(|| s.strip_prefix("pub use nix::"))
        else {
            continue;
        };
        let leaves: Vec<&str> = match path.find('{') {
            Some(i) => path[i + 1..].trim_end_matches('}').split(',').collect(),
            None => vec![path],
        };
        for leaf in leaves {
            let leaf = leaf.trim();
            let name = match leaf.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => leaf.rsplit("::").next().unwrap().trim(),
            };
            if !name.is_empty() && name != "self" && name != "*" {
                names.insert(name.to_string());
            }
        }
    }
    names
}

fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !ident(text[..i].chars().next_back())
            && !ident(text[i + word.len()..].chars().next())
            // `forklore::Signal`, `crate::os::Signal`: not nix's.
            && !text[..i].ends_with("::")
    })
}

/// The public items of a file: (line number, the text that is public API).
fn public_items(code: &str) -> Vec<(usize, String)> {
    let mut items = Vec::new();
    let lines: Vec<&str> = code.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let is_pub = t.starts_with("pub ") && !t.starts_with("pub(");
        if !is_pub {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        if t.starts_with("pub enum ") {
            // The whole body: every variant is public.
            let mut depth = 0i32;
            loop {
                text.push_str(lines[i]);
                text.push('\n');
                depth += lines[i].matches('{').count() as i32;
                depth -= lines[i].matches('}').count() as i32;
                i += 1;
                if depth <= 0 && text.contains('{') || i >= lines.len() {
                    break;
                }
            }
        } else if t.starts_with("pub struct ")
            || t.starts_with("pub trait ")
            || t.starts_with("pub mod ")
        {
            // The header only; public fields are items of their own.
            text.push_str(lines[i]);
            i += 1;
        } else if t.split('(').next().unwrap_or("").contains("fn ") {
            // A fn signature, up to its body (or `;` in a trait).
            loop {
                let l = lines[i];
                i += 1;
                if let Some(c) = l.find(['{', ';']) {
                    text.push_str(&l[..c]);
                    break;
                }
                text.push_str(l);
                text.push('\n');
                if i >= lines.len() {
                    break;
                }
            }
        } else if t.starts_with("pub use ") {
            loop {
                let l = lines[i];
                i += 1;
                text.push_str(l);
                text.push('\n');
                if l.contains(';') || i >= lines.len() {
                    break;
                }
            }
        } else {
            // A field, `pub type`, `pub const`, `pub static`: one line.
            text.push_str(lines[i]);
            i += 1;
        }
        items.push((start + 1, text));
    }
    items
}

fn offenders(code: &str) -> Vec<(usize, String)> {
    let names = nix_names(code);
    public_items(code)
        .into_iter()
        .filter(|(_, text)| text.contains("nix::") || names.iter().any(|n| has_word(text, n)))
        .collect()
}

#[test]
fn no_nix_type_in_a_public_item() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        if rel.starts_with("bin/") {
            continue; // a program, not the library's API
        }
        let code = strip_comments(&std::fs::read_to_string(&f).unwrap());
        for (line, text) in offenders(&code) {
            found.push(format!("{rel}:{line}: {}", text.trim()));
        }
    }
    assert!(
        found.is_empty(),
        "public items that name a nix type:\n{}",
        found.join("\n")
    );
}

/// The checker sees each form it claims to, and passes what it must.
#[test]
fn the_checker_sees_nix_in_each_kind_of_item() {
    let code = "
use nix::unistd::{self, Pid as P};
use nix::sys::signal::Signal;
pub use nix::errno::Errno;
pub fn a(
    x: P,
) -> u32 {
    let s: Signal = todo!();
}
pub struct S {
    pub f: Signal,
    g: P,
}
pub enum E {
    V { p: P },
}
pub fn b() -> nix::Error {}
pub type T = Option<P>;
pub fn ok(p: i32) -> u32 { let _: P = todo!(); }
pub(crate) fn fine(p: P) {}
pub fn also_ok(sig: forklore::Signal) {}
";
    let lines: Vec<usize> = offenders(code).into_iter().map(|(l, _)| l).collect();
    // `pub use nix`, `a`, the field `f`, the enum, `b`, `T`.
    assert_eq!(lines, vec![4, 5, 11, 14, 17, 18]);
}

/// The parameters of a `pub fn` signature (the text inside its outermost
/// parentheses), split at top-level commas.
fn params(sig: &str) -> Vec<String> {
    let Some(open) = sig.find('(') else {
        return Vec::new();
    };
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut out = Vec::new();
    let mut prev = ' ';
    for c in sig[open + 1..].chars() {
        let arrow = prev == '-' && c == '>';
        prev = c;
        match c {
            _ if arrow => {}
            '(' | '<' | '[' => depth += 1,
            ')' if depth == 0 => break,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

/// A parameter that is a boolean flag or an optional timeout: the API's
/// style is enums or builders for flags and `x()` / `x_timeout(d)` pairs for
/// waits (issue 11). `self` by value does not count.
fn flag_or_optional_timeout(param: &str) -> bool {
    let Some((_, ty)) = param.split_once(':') else {
        return false;
    };
    let ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    ty == "bool" || ty.contains("Option<Duration>") || ty.contains("Option<std::time::Duration>")
}

fn pub_fn_signatures() -> Vec<(String, usize, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        if rel.starts_with("bin/") {
            continue;
        }
        let code = strip_comments(&std::fs::read_to_string(&f).unwrap());
        for (line, text) in public_items(&code) {
            let head = text.split('(').next().unwrap_or("");
            if head.contains("fn ") {
                out.push((rel.clone(), line, text));
            }
        }
    }
    out
}

#[test]
fn no_public_fn_takes_a_bool_or_an_optional_timeout() {
    let mut found = Vec::new();
    for (rel, line, sig) in pub_fn_signatures() {
        for p in params(&sig) {
            if flag_or_optional_timeout(&p) {
                found.push(format!("{rel}:{line}: `{p}`"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "public fns with a bool or Option<Duration> parameter (use an enum, a \
         builder, or an x()/x_timeout(d) pair):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_parameter_checker_sees_flags_and_optional_timeouts() {
    let sigs = [
        ("pub fn a(&self, wait: bool, cancel: bool) -> Result<()>", 2),
        (
            "pub fn b(\n    &mut self,\n    timeout: Option<Duration>,\n) -> Result<X>",
            1,
        ),
        (
            "pub fn c(&self, f: impl Fn(bool) -> bool, d: Duration) -> bool",
            0,
        ),
        (
            "pub fn d(&self, m: HashMap<K, bool>, t: Option<std::time::Duration>)",
            1,
        ),
        ("pub fn e(self) -> Option<Duration>", 0),
        (
            "pub fn f(&self, p: impl FnMut() -> Result<bool>, t: Option<Duration>)",
            1,
        ),
    ];
    for (sig, want) in sigs {
        let got = params(sig)
            .iter()
            .filter(|p| flag_or_optional_timeout(p))
            .count();
        assert_eq!(got, want, "{sig}");
    }
}

/// Names of std items a user of forklore is likely to import next to
/// forklore's (`use std::future::Future;`, `use std::process::{Command,
/// Stdio};`, `use std::env::Args;`). forklore's own `ExitStatus` is kept on
/// purpose (see its rustdoc): it is std's concept under std's name.
const STD_NAMES: &[&str] = &["Future", "Command", "Stdio", "Args", "Child", "Output"];

#[test]
fn no_public_type_shadows_a_std_name() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        let code = strip_comments(&std::fs::read_to_string(&f).unwrap());
        for (line, text) in public_items(&code) {
            let t = text.trim_start();
            for kw in ["pub struct ", "pub enum ", "pub type ", "pub trait "] {
                if let Some(rest) = t.strip_prefix(kw) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if STD_NAMES.contains(&name.as_str()) {
                        found.push(format!("{rel}:{line}: {name}"));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "public types named like a std type a user imports beside them:\n{}",
        found.join("\n")
    );
}

/// The `pub fn`s of `code` that take `self` by value and return `Self` (a
/// builder's setters) without a `#[must_use]` among the attributes above
/// them: dropping what they return silently loses the setting.
fn setters_without_must_use(code: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if !t.starts_with("pub fn ") {
            continue;
        }
        let sig: String = lines[i..]
            .iter()
            .take(6)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let sig = sig.split('{').next().unwrap_or("");
        let by_value = params(sig)
            .first()
            .is_some_and(|p| p == "self" || p == "mut self");
        if !by_value || !sig.trim_end().ends_with("-> Self") {
            continue;
        }
        let mut j = i;
        let mut marked = false;
        while j > 0 {
            j -= 1;
            let a = lines[j].trim_start();
            if a.starts_with("#[") {
                marked |= a.starts_with("#[must_use");
            } else if !a.starts_with("///") {
                break;
            }
        }
        if !marked {
            found.push((i + 1, t.to_string()));
        }
    }
    found
}

#[test]
fn every_builder_setter_is_must_use() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        let code = std::fs::read_to_string(&f).unwrap();
        for (line, text) in setters_without_must_use(&code) {
            found.push(format!("{rel}:{line}: {text}"));
        }
    }
    assert!(
        found.is_empty(),
        "builder setters without #[must_use]:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_setter_checker_sees_a_setter_without_must_use() {
    let code = "
    /// Docs.
    #[must_use = \"x\"]
    pub fn a(mut self, n: usize) -> Self {
    /// Docs.
    #[inline]
    pub fn b(mut self, n: usize) -> Self {
    pub fn c(&self) -> Self {
    pub fn d(
        self,
        n: usize,
    ) -> Self {
";
    let lines: Vec<usize> = setters_without_must_use(code)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(lines, vec![7, 9]);
}

/// The `pub fn`s of the `impl .. Name<T>` blocks of `src`, each as its
/// signature and its body, whitespace collapsed.
fn methods_of(src: &str, name: &str) -> std::collections::BTreeMap<String, (String, String)> {
    let squash = |lines: &[&str]| {
        lines
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = std::collections::BTreeMap::new();
    let mut inside = false;
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("impl") {
            inside = l.contains(&format!(" {name}<T> {{"));
        } else if l == "}" {
            inside = false;
        } else if inside && l.starts_with("    pub fn ") {
            let open = (i..lines.len()).find(|&j| lines[j].ends_with('{')).unwrap();
            let close = (open..lines.len()).find(|&j| lines[j] == "    }").unwrap();
            let fname = l["    pub fn ".len()..]
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap()
                .to_string();
            out.insert(
                fname,
                (squash(&lines[i..=open]), squash(&lines[open + 1..close])),
            );
            i = close;
        }
        i += 1;
    }
    out
}

/// Issue 11: `ArrayProxy` repeats `ListProxy`'s reads and writes by hand.
/// This proves the mirror: every method of `ArrayProxy` is one of
/// `ListProxy`'s with the same signature and the same body, so a change to
/// one that is not made to the other fails here.
#[test]
fn array_proxy_mirrors_list_proxy_method_by_method() {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/managers/client/list.rs"),
    )
    .unwrap();
    let list = methods_of(&src, "ListProxy");
    let array = methods_of(&src, "ArrayProxy");
    assert!(list.len() > 20 && array.len() >= 7, "{list:?}\n{array:?}");
    for (name, (sig, body)) in &array {
        let Some((lsig, lbody)) = list.get(name) else {
            panic!("ArrayProxy::{name} has no ListProxy twin");
        };
        assert_eq!(
            sig, lsig,
            "ArrayProxy::{name}'s signature differs from ListProxy's"
        );
        assert_eq!(
            body, lbody,
            "ArrayProxy::{name}'s body differs from ListProxy's"
        );
    }
}
