//! Chapter 19's command line: the roles' options and the key, kept out of
//! the chapter's listing (it teaches nothing about managers). The key comes
//! from `FORKLORE_AUTHKEY` or from a file only its owner can read, never
//! from the command line.

use std::collections::BTreeMap;

use forklore::errln;
use forklore::pyproto::PyAddress;

pub const USAGE: &str = "\
usage: ch19_remote_manager
           run the master and two workers on 127.0.0.1 (ends by itself)
       ch19_remote_manager master [--bind HOST:PORT] [--authkey-file PATH] [--tasks N]
           serve get_task_queue and get_result_queue on HOST:PORT (default
           127.0.0.1:50000) with CPython's manager protocol, put the tasks
           1..=N (default 10), collect every result, and shut down
       ch19_remote_manager worker HOST:PORT [--authkey-file PATH] [--name NAME] [--work-ms MS]
           connect to the master at HOST:PORT (forklore's or CPython's), square
           the tasks until none comes for 1 s; each takes MS milliseconds (default 100)
The key must be the same on both sides. It is read from the file given with
--authkey-file (which only its owner may read: chmod 600; one trailing
newline is ignored), or else from the environment variable FORKLORE_AUTHKEY.
It is never taken from the command line, which every local user can read
(ps, /proc/PID/cmdline). Anyone who can reach the port and knows the key can
use the queues; the traffic is not encrypted.";

/// The environment variable that holds the key.
pub const KEY_VAR: &str = "FORKLORE_AUTHKEY";

/// What the command line asked for.
pub enum Role {
    Help,
    Master {
        bind: PyAddress,
        key: Vec<u8>,
        tasks: i64,
    },
    Worker {
        address: PyAddress,
        key: Vec<u8>,
        name: String,
        work_ms: u64,
    },
}

/// Parse the arguments after the program's name; a usage error (status 2)
/// on any mistake.
pub fn parse(args: &[String]) -> Role {
    if args
        .iter()
        .any(|a| a == "--authkey" || a.starts_with("--authkey="))
    {
        fail(&format!(
            "the key is not taken from the command line: every local user can \
             read it there (ps, /proc/PID/cmdline), connect, and shut the master \
             down. Set {KEY_VAR}, or give --authkey-file PATH (a file only you can read)"
        ));
    }
    match args[0].as_str() {
        "-h" | "--help" => Role::Help,
        "master" => {
            let f = flags(&args[1..], &["--bind", "--authkey-file", "--tasks"]);
            let bind = address(f.get("--bind").map_or("127.0.0.1:50000", String::as_str));
            let key = authkey(&f);
            Role::Master {
                bind,
                key,
                tasks: number(&f, "--tasks", 10),
            }
        }
        "worker" => {
            let Some(addr) = args.get(1) else {
                fail("worker needs the master's HOST:PORT")
            };
            let address = address(addr);
            let f = flags(&args[2..], &["--authkey-file", "--name", "--work-ms"]);
            Role::Worker {
                address,
                key: authkey(&f),
                name: f
                    .get("--name")
                    .cloned()
                    .unwrap_or_else(|| format!("worker-{}", std::process::id())),
                work_ms: number(&f, "--work-ms", 100),
            }
        }
        other => fail(&format!("unknown role {other:?}")),
    }
}

/// `HOST:PORT` (an IPv6 host in brackets) as a TCP address.
pub fn address(text: &str) -> PyAddress {
    let parsed = text.rsplit_once(':').and_then(|(h, p)| {
        let host = h.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then_some((host.to_string(), p.parse::<u16>().ok()?))
    });
    match parsed {
        Some((host, port)) => PyAddress::Tcp(host, port),
        None => fail(&format!("{text:?} is not a manager address (HOST:PORT)")),
    }
}

/// `host:port` of a TCP address, as the page and the tests print it.
pub fn show(address: &PyAddress) -> String {
    match address {
        PyAddress::Tcp(h, p) if h.contains(':') => format!("[{h}]:{p}"),
        PyAddress::Tcp(h, p) => format!("{h}:{p}"),
        PyAddress::Unix(p) => p.display().to_string(),
    }
}

/// The key, from `--authkey-file` if given, else from `FORKLORE_AUTHKEY`;
/// a usage error otherwise, or if the file may be read by anyone but its
/// owner.
fn authkey(f: &BTreeMap<String, String>) -> Vec<u8> {
    let key = match f.get("--authkey-file") {
        Some(path) => key_from_file(path).unwrap_or_else(|why| fail(&why)),
        None => match std::env::var_os(KEY_VAR) {
            Some(k) => k.into_encoded_bytes(),
            None => fail(&format!(
                "no key: set {KEY_VAR} or give --authkey-file PATH"
            )),
        },
    };
    if key.is_empty() {
        fail("the key is empty");
    }
    key
}

/// Read a key file that belongs to us and that only we can read.
fn key_from_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // Check the file that was opened, not the path (which could be swapped
    // between a check and the open).
    let mut file = std::fs::File::open(path).map_err(|e| format!("--authkey-file {path}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("--authkey-file {path}: {e}"))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "--authkey-file {path}: its mode is {:03o}, so others may read it; \
             a key file must be readable by its owner only (chmod 600 {path})",
            mode & 0o777
        ));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(format!(
            "--authkey-file {path}: it belongs to uid {}, not to you",
            meta.uid()
        ));
    }
    let mut key = Vec::new();
    file.read_to_end(&mut key)
        .map_err(|e| format!("--authkey-file {path}: {e}"))?;
    // `echo secret > file` adds a newline that is no part of the key.
    if key.ends_with(b"\n") {
        key.pop();
        if key.ends_with(b"\r") {
            key.pop();
        }
    }
    Ok(key)
}

pub fn fail(msg: &str) -> ! {
    errln!("ch19_remote_manager: {msg}\n{USAGE}");
    std::process::exit(2)
}

/// Parse `--flag value` pairs after the role (and its positional argument).
fn flags(args: &[String], allowed: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !allowed.contains(&a.as_str()) {
            fail(&format!("unknown option {a:?}"));
        }
        let Some(v) = it.next() else {
            fail(&format!("{a} needs a value"))
        };
        out.insert(a.clone(), v.clone());
    }
    out
}

fn number<T: std::str::FromStr>(f: &BTreeMap<String, String>, key: &str, default: T) -> T {
    match f.get(key) {
        None => default,
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| fail(&format!("{key} wants a number, not {v:?}"))),
    }
}
