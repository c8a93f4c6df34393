//! The CPython interpreters the interop tests run, and their Python programs.

use std::io::BufRead;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use forklore::pyproto::PyAddress;

/// The Python programs these tests run (tests/py/).
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py");

/// Every CPython 3.11+ interpreter on this machine: `python3` and pyenv's.
pub fn pythons() -> Vec<(String, PathBuf)> {
    let mut candidates = vec![PathBuf::from("python3")];
    let root = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    for minor in ["3.11", "3.12", "3.13"] {
        let found = root.as_ref().and_then(|r| {
            std::fs::read_dir(r.join("versions"))
                .ok()?
                .flatten()
                .find_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let bin = e.path().join("bin").join(format!("python{minor}"));
                    (n.starts_with(&format!("{minor}.")) && bin.exists()).then_some(bin)
                })
        });
        candidates.extend(found);
    }
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for p in candidates {
        let v = Command::new(&p)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output();
        if let Ok(o) = v {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && v.as_str() >= "3.11" && !out.iter().any(|(w, _)| *w == v) {
                out.push((v, p));
            }
        }
    }
    for minor in ["3.11", "3.12", "3.13"] {
        if !out.iter().any(|(v, _)| v == minor) {
            eprintln!("skipping CPython {minor}: neither python3 nor pyenv has it");
        }
    }
    out
}

/// A CPython SyncManager server (with `get_task_queue` and
/// `get_result_queue`) on a free port; shut down and reaped on drop.
pub struct CpythonServer {
    child: Child,
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
}

impl CpythonServer {
    pub fn start(py: &PathBuf, key: &str) -> CpythonServer {
        let mut child = Command::new(py)
            .arg(format!("{DIR}/cpython_server.py"))
            .arg(key)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("server printed {line:?}"));
        CpythonServer { child, port }
    }
    pub fn addr(&self) -> PyAddress {
        PyAddress::Tcp("127.0.0.1".into(), self.port)
    }
}

impl Drop for CpythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
