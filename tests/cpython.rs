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

/// The relay's connection pairs, each with its "cut" flag.
type Pairs = std::sync::Arc<
    std::sync::Mutex<
        Vec<(
            std::sync::Arc<std::sync::atomic::AtomicBool>,
            [std::net::TcpStream; 2],
        )>,
    >,
>;

/// A TCP relay between a client and a server, run by threads of the test,
/// that can fall silent the way a cut link does: after [`Relay::cut`] it
/// goes on reading from both sides (so both kernels see their data
/// acknowledged and answer keepalive probes) but forwards nothing, and
/// keeps every socket open. Connections made after [`Relay::resume`] are
/// forwarded again; the ones that were cut stay silent. Dropping it shuts
/// every socket down, which ends its threads (and unblocks a client stuck
/// on it).
pub struct Relay {
    /// The port clients connect to (127.0.0.1).
    pub port: u16,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// One flag per connection pair: true once it was cut.
    pairs: Pairs,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    /// Relays 127.0.0.1:`port` (returned) to 127.0.0.1:`to`.
    pub fn start(to: u16) -> Relay {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let silent = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let pairs: Pairs = Arc::default();
        let (s2, p2, st2) = (silent.clone(), pairs.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in l.incoming() {
                if st2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let cut = Arc::new(AtomicBool::new(s2.load(Ordering::SeqCst)));
                let pump = |mut from: TcpStream, mut to: TcpStream, cut: Arc<AtomicBool>| {
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buf = [0u8; 65536];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                // Cut: swallow it; the sender's kernel saw it acknowledged.
                                Ok(_) if cut.load(Ordering::SeqCst) => {}
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                };
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    cut.clone(),
                );
                pump(
                    server.try_clone().unwrap(),
                    client.try_clone().unwrap(),
                    cut.clone(),
                );
                p2.lock().unwrap().push((cut, [client, server]));
            }
        });
        Relay {
            port,
            silent,
            pairs,
            stop,
        }
    }

    /// The relay's address, for a client.
    pub fn addr(&self) -> PyAddress {
        PyAddress::Tcp("127.0.0.1".into(), self.port)
    }

    /// Stop forwarding on every connection, and on new ones.
    pub fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.silent.store(true, Ordering::SeqCst);
        for (cut, _) in self.pairs.lock().unwrap().iter() {
            cut.store(true, Ordering::SeqCst);
        }
    }

    /// Forward new connections again (cut ones stay silent).
    pub fn resume(&self) {
        self.silent
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::SeqCst);
        for (_, socks) in self.pairs.lock().unwrap().iter() {
            for s in socks {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        // Wake the accept loop so that it sees `stop`.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}
