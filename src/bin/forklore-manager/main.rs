//! `forklore-manager`: a manager server that CPython programs use
//! unmodified, through `BaseManager`/`SyncManager(address, authkey).connect()`.
//!
//! ```text
//! FORKLORE_AUTHKEY=secret forklore-manager serve --bind 0.0.0.0:5000 \
//!     --queue get_task_queue --queue get_result_queue
//! ```
//!
//! The authkey comes from the environment variable `FORKLORE_AUTHKEY`, or
//! from `--authkey-file PATH`, a regular file that only its owner can read
//! (mode `0600` or stricter; a trailing newline is ignored). Never from the
//! command line, where every user of the host can read it.
//!
//! It prints `serving on HOST:PORT` once listening, and exits 0 on SIGTERM,
//! SIGINT or a client's `shutdown`.
//!
//! The same port serves forklore's own
//! [`Manager::connect`](forklore::managers::Manager::connect) clients (told
//! apart by their first request; see `forklore::pyproto::server`). Their
//! objects are kept apart from the CPython clients' objects, and the names
//! given with `--queue` and `--object` are CPython's; a Rust program that
//! shares objects with Python programs uses `forklore::pyproto::PyManager`.
//!
//! Every TCP connection runs keepalive (probes after 2 s of silence, three
//! a second apart, `forklore::managers::tcp`): a client whose host vanishes
//! is dropped within about 5 s, even while the server waits on its behalf
//! in a `get`, where CPython's server would keep its thread for ever.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::ExitCode;

use forklore::pyproto::{Handshake, PyAddress, PyServer};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

const USAGE: &str = "usage: forklore-manager serve --bind HOST:PORT | --unix PATH
        [--queue NAME]... [--object NAME=TYPEID]... [--authkey-file PATH] [--no-md5]

  --bind HOST:PORT     listen on TCP (port 0 picks a free port)
  --unix PATH          listen on a Unix socket instead
  --queue NAME         serve a queue.Queue as NAME (register('NAME') in Python)
  --object NAME=TYPEID serve a shared TYPEID (dict, list, Namespace, Event, ...) as NAME
  --authkey-file PATH  read the key from PATH (owner-only permissions); default:
                       the environment variable FORKLORE_AUTHKEY
  --no-md5             refuse HMAC-MD5 (CPython 3.11 clients then cannot connect)";

fn fail(msg: &str) -> ExitCode {
    eprintln!("forklore-manager: {msg}");
    ExitCode::from(2)
}

fn read_key_file(path: &str) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot stat {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a regular file"));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{path} can be read by other users (mode {:o}); chmod 600 it",
            meta.permissions().mode() & 0o777
        ));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(format!(
            "{path} is not owned by the user running the server"
        ));
    }
    let mut key = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    if key.last() == Some(&b'\n') {
        key.pop();
    }
    Ok(key)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("serve") {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut bind = None;
    let mut named: Vec<(String, String)> = Vec::new();
    let mut key_file = None;
    let mut opts = Handshake::default();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let r: Result<(), String> = (|| {
            match a.as_str() {
                "--bind" => {
                    let v = value("--bind")?;
                    let (h, p) = v.rsplit_once(':').ok_or("--bind takes HOST:PORT")?;
                    let p = p.parse().map_err(|_| format!("bad port in {v:?}"))?;
                    bind = Some(PyAddress::Tcp(h.trim_matches(['[', ']']).to_owned(), p));
                }
                "--unix" => bind = Some(PyAddress::Unix(value("--unix")?.into())),
                "--queue" => named.push((value("--queue")?, "Queue".into())),
                "--object" => {
                    let v = value("--object")?;
                    let (n, t) = v.split_once('=').ok_or("--object takes NAME=TYPEID")?;
                    named.push((n.into(), t.into()));
                }
                "--authkey-file" => key_file = Some(value("--authkey-file")?),
                "--no-md5" => opts.legacy_md5 = false,
                "--authkey" => {
                    return Err("the key is never taken from the command line: set \
                                FORKLORE_AUTHKEY or use --authkey-file"
                        .into())
                }
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
            Ok(())
        })();
        if let Err(m) = r {
            return fail(&m);
        }
    }
    let Some(bind) = bind else {
        return fail("--bind HOST:PORT or --unix PATH is required");
    };
    let key = match key_file {
        Some(p) => match read_key_file(&p) {
            Ok(k) => k,
            Err(m) => return fail(&m),
        },
        None => match std::env::var_os("FORKLORE_AUTHKEY") {
            Some(k) => std::os::unix::ffi::OsStringExt::into_vec(k),
            None => return fail("no authkey: set FORKLORE_AUTHKEY or use --authkey-file"),
        },
    };
    if key.is_empty() {
        return fail("the authkey is empty");
    }

    // SIGTERM and SIGINT arrive on a signalfd that the server polls, so
    // they stop it cleanly. Blocked before any thread exists, so every
    // connection thread inherits the mask.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    if let Err(e) = mask.thread_block() {
        return fail(&format!("cannot block SIGTERM: {e}"));
    }
    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => return fail(&format!("signalfd: {e}")),
    };

    let mut server = match PyServer::bind_with(&bind, &key, opts) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    for (name, typeid) in &named {
        if let Err(e) = server.register(name, typeid) {
            return fail(&e.to_string());
        }
    }
    if let Err(e) = server.stop_on_readable(sfd.as_fd()) {
        return fail(&e.to_string());
    }
    let shown = match server.address() {
        PyAddress::Tcp(h, p) => format!("{h}:{p}"),
        PyAddress::Unix(p) => p.display().to_string(),
    };
    // Written, not println!: a closed stdout (a supervisor that stopped
    // reading) must not panic the server.
    let _ = writeln!(std::io::stdout(), "serving on {shown}");
    let _ = std::io::stdout().flush();
    match server.serve_forever() {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "shut down");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}
