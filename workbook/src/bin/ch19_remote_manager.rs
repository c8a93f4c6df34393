//! Chapter 19 — a remote Manager: a master and its workers over TCP.
//!
//! Reproduces the "distributed master/worker" lesson that follows the
//! article in most Python courses. The master serves two queues on a TCP
//! port, under names; workers, which may run on other machines, connect
//! with the address and the authkey, take tasks and put results:
//!
//! ```python
//! import queue
//! from multiprocessing.managers import BaseManager
//!
//! task_queue, result_queue = queue.Queue(), queue.Queue()
//!
//! class QueueManager(BaseManager):
//!     pass
//!
//! # master
//! QueueManager.register('get_task_queue', callable=lambda: task_queue)
//! QueueManager.register('get_result_queue', callable=lambda: result_queue)
//! manager = QueueManager(address=('127.0.0.1', 50000), authkey=b'secret')
//! manager.start()
//! tasks, results = manager.get_task_queue(), manager.get_result_queue()
//! for n in range(1, 11):
//!     tasks.put(n)
//! for _ in range(10):
//!     print('result:', results.get())
//! manager.shutdown()
//!
//! # worker (another program, perhaps on another host)
//! QueueManager.register('get_task_queue')
//! QueueManager.register('get_result_queue')
//! m = QueueManager(address=('127.0.0.1', 50000), authkey=b'secret')
//! m.connect()
//! tasks, results = m.get_task_queue(), m.get_result_queue()
//! while True:
//!     n = tasks.get()
//!     results.put((n, n * n))
//! ```
//!
//! This program goes a little further than that classic, so that it ends by
//! itself and survives a lost worker: workers say hello and goodbye on the
//! result queue, a `Stop` task sends them home, and a master that has
//! waited in vain while the task queue is empty puts the missing tasks back
//! (a worker that was cut off took them with it).
//!
//! Watch for: the results come from both workers, in no fixed order; the
//! workers find the queues by *name* (`lookup`), not by inheriting proxies;
//! and everything goes through TCP, authenticated by the key.
//!
//! Run it: `cargo run --release --bin ch19_remote_manager` (master and two
//! workers on 127.0.0.1, ends by itself). Across two machines:
//!
//! ```text
//! host-a$ read -rs FORKLORE_AUTHKEY && export FORKLORE_AUTHKEY
//! host-a$ ch19_remote_manager master --bind 0.0.0.0:50000
//! host-b$ ch19_remote_manager worker host-a-ip:50000 --authkey-file ~/.ch19.key
//! ```
//!
//! The key never goes on the command line: every local user can read a
//! process's arguments (`ps`, `/proc/PID/cmdline`), and with the key they
//! could connect and shut the master down. It comes from the environment
//! (`FORKLORE_AUTHKEY`; `/proc/PID/environ` is readable only by the
//! process's owner) or from a file that only its owner can read.
//!
//! `ch19_remote_manager --help` shows every option.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use forklore::managers::{tcp, Address, Manager, QueueProxy};
use forklore::{errln, outln, Error, Process};
use serde::{Deserialize, Serialize};

/// What the master puts on `task_queue`.
#[derive(Debug, Serialize, Deserialize)]
enum Task {
    /// Square this number.
    Square(u64),
    /// No more work: go home (and put the `Stop` back for the next worker).
    Stop,
}

/// What workers put on `result_queue`.
#[derive(Debug, Serialize, Deserialize)]
enum Report {
    Hello { worker: String },
    Result { worker: String, n: u64, square: u64 },
    Bye { worker: String, done: u64 },
}

/// How long the master waits for a result, while the task queue is empty,
/// before it decides that a worker was lost with tasks in hand; and how
/// long it waits for goodbyes. A lost worker's connection is dropped by the
/// server within `tcp::DEAD_PEER_BOUND`.
const PATIENCE: Duration = tcp::DEAD_PEER_BOUND;

/// The master's bookkeeping.
#[derive(Default)]
struct Master {
    joined: Vec<String>,
    left: BTreeSet<String>,
    results: BTreeMap<u64, u64>,
}

impl Master {
    fn on(&mut self, report: Report) {
        match report {
            Report::Hello { worker } => {
                outln!("master: {worker} joined");
                self.joined.push(worker);
            }
            Report::Result { worker, n, square } => {
                if self.results.insert(n, square).is_some() {
                    outln!("master: result for {n} again, from {worker}; ignored");
                } else {
                    outln!("result: {n} * {n} = {square} ({worker})");
                }
            }
            Report::Bye { worker, done } => {
                outln!("master: {worker} left after {done} tasks");
                self.left.insert(worker);
            }
        }
    }

    fn still_here(&self) -> Vec<&String> {
        self.joined
            .iter()
            .filter(|w| !self.left.contains(*w))
            .collect()
    }
}

/// Serve the queues on `bind`, wait for `wait_for` workers, hand out
/// `tasks` tasks, collect every result, and send the workers home.
/// `on_listening` runs once the queues are registered.
fn master(
    bind: &str,
    authkey: &[u8],
    tasks: u64,
    wait_for: usize,
    on_listening: impl FnOnce(&Address),
) -> Result<(), Error> {
    let manager = Manager::start_tcp(bind, authkey)?;
    let task_queue: QueueProxy<Task> = manager.queue()?;
    let result_queue: QueueProxy<Report> = manager.queue()?;
    manager.register("task_queue", &task_queue)?;
    manager.register("result_queue", &result_queue)?;
    outln!(
        "master: serving task_queue and result_queue on {}",
        manager.address()
    );
    on_listening(manager.address());

    let mut m = Master::default();
    if wait_for > 0 {
        let s = if wait_for == 1 { "" } else { "s" };
        outln!("master: waiting for {wait_for} worker{s}");
    }
    while m.joined.len() < wait_for {
        m.on(result_queue.get()?);
    }
    for n in 1..=tasks {
        task_queue.put(Task::Square(n))?;
    }
    outln!("master: put {tasks} tasks");

    while (m.results.len() as u64) < tasks {
        match result_queue.get_timeout(PATIENCE) {
            Ok(report) => m.on(report),
            // Every task was taken, yet some results never came: the
            // workers that took them are gone. Put those tasks back.
            Err(e) if e.is_queue_empty() && task_queue.empty()? => {
                let missing: Vec<u64> =
                    (1..=tasks).filter(|n| !m.results.contains_key(n)).collect();
                outln!(
                    "master: no result for {missing:?} in {} s and no task waiting: \
                     a worker was lost; putting them back",
                    PATIENCE.as_secs()
                );
                for n in missing {
                    task_queue.put(Task::Square(n))?;
                }
            }
            Err(e) if e.is_queue_empty() => {}
            Err(e) => return Err(e),
        }
    }
    let sum: u64 = m.results.values().sum();
    outln!("master: all {tasks} results in; the sum of the squares is {sum}");

    // One Stop is enough: each worker puts it back for the next.
    task_queue.put(Task::Stop)?;
    let deadline = Instant::now() + PATIENCE;
    while !m.still_here().is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match result_queue.get_timeout(left) {
            Ok(report) => m.on(report),
            Err(e) if e.is_queue_empty() => break,
            Err(e) => return Err(e),
        }
    }
    for w in m.still_here() {
        outln!("master: {w} did not say goodbye; it is lost");
    }
    outln!("master: shutting down");
    // Dropping `manager` stops the server.
    Ok(())
}

/// Connect to the master, find its queues by name, and work until `Stop`.
fn worker(
    address: Address,
    authkey: &[u8],
    name: &str,
    work: Duration,
    chatty: bool,
) -> Result<u64, Error> {
    let manager = Manager::connect(address.clone(), authkey)?;
    let tasks: QueueProxy<Task> = manager.lookup("task_queue")?;
    let results: QueueProxy<Report> = manager.lookup("result_queue")?;
    results.put(Report::Hello {
        worker: name.to_string(),
    })?;
    if chatty {
        outln!("{name}: connected to {address}");
    }
    let mut done = 0;
    loop {
        match tasks.get()? {
            Task::Square(n) => {
                std::thread::sleep(work); // the "work"
                results.put(Report::Result {
                    worker: name.to_string(),
                    n,
                    square: n * n,
                })?;
                done += 1;
                if chatty {
                    outln!("{name}: {n} * {n} = {}", n * n);
                }
            }
            Task::Stop => {
                tasks.put(Task::Stop)?;
                results.put(Report::Bye {
                    worker: name.to_string(),
                    done,
                })?;
                if chatty {
                    outln!("{name}: told to stop; leaving after {done} tasks");
                }
                return Ok(done);
            }
        }
    }
}

/// No arguments: the master and two workers, all on 127.0.0.1.
fn demo() {
    // A fresh random key: only this run's workers know it.
    let mut authkey = [0u8; 16];
    getrandom::fill(&mut authkey).expect("no random bytes");
    let mut workers: Vec<Process> = Vec::new();
    // Port 0: the kernel picks a free port, so runs never collide.
    let r = master("127.0.0.1:0", &authkey, 10, 2, |address| {
        for i in 1..=2 {
            let address = address.clone();
            let mut p = Process::new(move || {
                let name = format!("worker-{i}");
                if let Err(e) = worker(address, &authkey, &name, Duration::from_millis(10), false) {
                    errln!("{name}: {e}");
                    forklore::process::exit_child(1);
                }
            });
            p.start().expect("could not start a worker");
            workers.push(p);
        }
    });
    if let Err(e) = r {
        errln!("master: {e}");
        std::process::exit(1);
    }
    for mut p in workers {
        p.join().expect("join failed");
    }
}

const USAGE: &str = "\
usage: ch19_remote_manager
           run the master and two workers on 127.0.0.1 (ends by itself)
       ch19_remote_manager master [--bind ADDR] [--authkey-file PATH] [--tasks N] [--workers N]
           serve task_queue and result_queue on ADDR (default 127.0.0.1:50000);
           wait for N workers (default 1), then hand out the tasks (default 10)
       ch19_remote_manager worker ADDRESS [--authkey-file PATH] [--name NAME] [--work-ms MS]
           connect to the master at ADDRESS (IP:PORT) and work until told to stop;
           each task takes MS milliseconds (default 100)
The key must be the same on both sides. It is read from the file given with
--authkey-file (which only its owner may read: chmod 600; one trailing
newline is ignored), or else from the environment variable FORKLORE_AUTHKEY.
It is never taken from the command line, which every local user can read
(ps, /proc/PID/cmdline). Anyone who can reach the port and knows the key can
use the queues; the traffic is not encrypted.";

/// The environment variable that holds the key.
const KEY_VAR: &str = "FORKLORE_AUTHKEY";

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

fn fail(msg: &str) -> ! {
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

fn roles(args: &[String]) {
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
        "-h" | "--help" => outln!("{USAGE}"),
        "master" => {
            let f = flags(
                &args[1..],
                &["--bind", "--authkey-file", "--tasks", "--workers"],
            );
            let key = authkey(&f);
            let bind = f.get("--bind").map_or("127.0.0.1:50000", String::as_str);
            let r = master(
                bind,
                &key,
                number(&f, "--tasks", 10),
                number(&f, "--workers", 1),
                |_| {},
            );
            if let Err(e) = r {
                errln!("master: {e}");
                std::process::exit(1);
            }
        }
        "worker" => {
            let Some(address) = args.get(1) else {
                fail("worker needs the master's ADDRESS")
            };
            let address: Address = address
                .parse()
                .unwrap_or_else(|e: Error| fail(&e.to_string()));
            let f = flags(&args[2..], &["--authkey-file", "--name", "--work-ms"]);
            let key = authkey(&f);
            let name = f
                .get("--name")
                .cloned()
                .unwrap_or_else(|| format!("worker-{}", std::process::id()));
            let work = Duration::from_millis(number(&f, "--work-ms", 100));
            if let Err(e) = worker(address, &key, &name, work, true) {
                errln!("{name}: {e}");
                std::process::exit(1);
            }
        }
        other => fail(&format!("unknown role {other:?}")),
    }
}

pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Under the tour, the arguments are the tour's: run the demo.
    let ours = args.first().is_some_and(|a| {
        std::path::Path::new(a)
            .file_name()
            .is_some_and(|n| n == "ch19_remote_manager")
    });
    if ours && args.len() > 1 {
        roles(&args[1..]);
    } else {
        demo();
    }
}
