//! Shared test helpers: run a binary of this package, canonicalize what
//! concurrent processes printed, and pin it with insta in `snapshots/`.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use regex::Regex;

/// The longest any chapter or fixture may run before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `Command` for one of this package's binaries, with the standard timeout.
pub fn bin(name: &str) -> Command {
    let mut cmd = Command::cargo_bin(name).unwrap_or_else(|e| panic!("no binary {name}: {e}"));
    cmd.timeout(TIMEOUT);
    cmd
}

/// Run a binary with arguments, require success, and return its output.
pub fn run_ok(name: &str, args: &[&str]) -> Output {
    let out = bin(name).args(args).assert().success().get_output().clone();
    out
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Canonicalizes the output of concurrent processes so it can be pinned.
///
/// - Numbers matched by a PID pattern (its first capture group) become
///   `<pid:A>`, `<pid:B>`, ... in order of first appearance in the final text,
///   so relations ("the child's parent is the parent") survive.
/// - Numbers matched by an elapsed pattern (first group) become `[ELAPSED]`.
/// - Replacements given with [`Canon::replace`] are made first.
/// - Lines are sorted only where asked, and only among themselves.
#[derive(Default)]
pub struct Canon {
    replace: Vec<(Regex, String)>,
    pids: Vec<Regex>,
    elapsed: Vec<Regex>,
    sort_all: bool,
    sort_matching: Vec<Regex>,
}

impl Canon {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace every match of `re` with `with` (`$1` names a group) before
    /// anything else: for what varies between runs and is no PID, time or
    /// order, such as which of several workers a task ran on.
    pub fn replace(mut self, re: &str, with: &str) -> Self {
        self.replace
            .push((Regex::new(re).unwrap(), with.to_string()));
        self
    }

    /// Treat group 1 of every match of `re` as a PID.
    pub fn pid(mut self, re: &str) -> Self {
        self.pids.push(Regex::new(re).unwrap());
        self
    }

    /// Treat group 1 of every match of `re` as a duration.
    pub fn elapsed(mut self, re: &str) -> Self {
        self.elapsed.push(Regex::new(re).unwrap());
        self
    }

    /// Sort all lines: the claim is about the set of lines only.
    pub fn sort_all(mut self) -> Self {
        self.sort_all = true;
        self
    }

    /// Sort the lines that match `re` among themselves; they keep the slots
    /// they occupied, and every other line stays where it was.
    pub fn sort_matching(mut self, re: &str) -> Self {
        self.sort_matching.push(Regex::new(re).unwrap());
        self
    }

    pub fn apply(&self, text: &str) -> String {
        // 1. Replace PIDs by a stable token of their value, so sorting does
        //    not depend on how big the numbers happened to be.
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut text = text.to_string();
        for (re, with) in &self.replace {
            text = re.replace_all(&text, with.as_str()).into_owned();
        }
        for re in &self.pids {
            text = replace_group(&text, re, |v| {
                let n = ids.len();
                let id = *ids.entry(v.to_string()).or_insert(n);
                format!("<pid:#{id}>")
            });
        }
        for re in &self.elapsed {
            text = replace_group(&text, re, |_| "[ELAPSED]".to_string());
        }
        // 2. Sort where the claim is the set.
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if self.sort_all {
            lines.sort();
        }
        for re in &self.sort_matching {
            let slots: Vec<usize> = (0..lines.len())
                .filter(|&i| re.is_match(&lines[i]))
                .collect();
            let mut picked: Vec<String> = slots.iter().map(|&i| lines[i].clone()).collect();
            picked.sort();
            for (slot, line) in slots.into_iter().zip(picked) {
                lines[slot] = line;
            }
        }
        // 3. Name the PIDs A, B, C... in order of first appearance.
        let token = Regex::new(r"<pid:#(\d+)>").unwrap();
        let mut letters: HashMap<String, String> = HashMap::new();
        let mut out = String::new();
        for line in &lines {
            let renamed = token.replace_all(line, |c: &regex::Captures| {
                let n = letters.len();
                let l = letters.entry(c[1].to_string()).or_insert_with(|| letter(n));
                format!("<pid:{l}>")
            });
            out.push_str(&renamed);
            out.push('\n');
        }
        out
    }
}

fn letter(n: usize) -> String {
    let mut s = String::new();
    let mut n = n + 1;
    while n > 0 {
        n -= 1;
        s.insert(0, (b'A' + (n % 26) as u8) as char);
        n /= 26;
    }
    s
}

fn replace_group(text: &str, re: &Regex, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let g = caps.get(1).expect("pattern needs a capture group");
        out.push_str(&text[last..g.start()]);
        out.push_str(&f(g.as_str()));
        last = g.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Pin `text` as `snapshots/<name>.snap`.
pub fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        // Absolute, because the macro runs in tests/common/: every snapshot lives in
        // the top-level snapshots/ folder.
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

/// Run chapter `name` `times` times, require the same canonical form every
/// time, pin it, and hand back each run's raw stdout for invariant checks.
pub fn chapter(name: &str, times: usize, canon: &Canon) -> Vec<String> {
    chapter_with(name, times, canon, |_| {})
}

/// As [`chapter`], with a hook to prepare each command (cwd, env).
pub fn chapter_with(
    name: &str,
    times: usize,
    canon: &Canon,
    mut prep: impl FnMut(&mut Command),
) -> Vec<String> {
    let mut raws = Vec::new();
    let mut first: Option<String> = None;
    for run in 0..times {
        let mut cmd = bin(name);
        prep(&mut cmd);
        let out = cmd.assert().success().get_output().clone();
        let raw = stdout(&out);
        let c = canon.apply(&raw);
        match &first {
            None => first = Some(c),
            Some(f) => assert_eq!(
                f, &c,
                "{name}: run {run} gave another canonical form than run 0\nraw:\n{raw}"
            ),
        }
        raws.push(raw);
    }
    snapshot(name, first.as_deref().unwrap());
    raws
}

/// The body of a snapshot file (what follows the insta header).
pub fn snapshot_body(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let body = text
        .strip_prefix("---\n")
        .and_then(|t| t.split_once("\n---\n"))
        .map(|(_, b)| b.to_string())
        .unwrap_or_else(|| panic!("{} has no insta header", path.display()));
    body
}

/// The value of the first `key=value` line in `text`, as fixtures print them.
pub fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in\n{text}"))
}

/// Pids that are still present in /proc (alive or zombie).
pub fn proc_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}
