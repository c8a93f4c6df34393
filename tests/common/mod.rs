//! Shared test helpers: find and run a fixture or chapter binary, read what
//! it printed. The workbook's test crate includes this file too (and adds
//! its canonical forms and snapshots on top).
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

/// The longest any chapter or fixture may run before the test fails: a guard
/// against hangs, not a performance bound (a loaded 2-core machine is slow).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The repository root (the workspace's, whichever crate includes this file).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .expect("a Cargo.lock above the manifest")
        .to_path_buf()
}

/// Where cargo put this build's programs: `target/<profile>/`, the parent of
/// the `deps/` folder that holds the running test binary.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary runs from target/<profile>/deps/")
        .to_path_buf()
}

/// The path of a program a test runs: a fixture (a binary of the
/// `forklore-tests` package) or a chapter (a binary of `forklore-workbook`).
/// `cargo test` from the repository root builds both packages' programs
/// before it runs any test.
pub fn exe(name: &str) -> PathBuf {
    let dir = profile_dir();
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "no program {name} in {}: run the tests with cargo test from the repository root",
        dir.display()
    );
    path
}

/// A `Command` for a fixture or chapter program, with the standard timeout.
pub fn bin(name: &str) -> Command {
    let mut cmd = Command::new(exe(name));
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

/// A private directory under the system temp dir, removed when dropped
/// (even when the test panics).
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory whose name holds `tag` and this process's pid.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("forklore-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Create (or overwrite) file `name` in it with `content`.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
