//! Chapter 19 — a remote Manager: a master and its workers over TCP, in a
//! fleet that mixes forklore and CPython.
//!
//! Reproduces the "distributed processes" lesson that follows the article
//! in most Python courses. The master serves two queues on a TCP port under
//! names; workers, which may run on other machines, connect with the
//! address and the authkey, take int tasks and put `'n * n = n²'` strings,
//! and stop when no task comes for a second:
//!
//! ```python
//! # master
//! QueueManager.register('get_task_queue', callable=get_task_queue)
//! QueueManager.register('get_result_queue', callable=get_result_queue)
//! manager = QueueManager(address=('127.0.0.1', 50000), authkey=key)
//! manager.start()
//! task, result = manager.get_task_queue(), manager.get_result_queue()
//! for n in range(1, 11):
//!     task.put(n)
//! for _ in range(10):
//!     print('result:', result.get(timeout=60))
//! manager.shutdown()
//!
//! # worker (another program, perhaps on another host)
//! QueueManager.register('get_task_queue')
//! QueueManager.register('get_result_queue')
//! m = QueueManager(address=('127.0.0.1', 50000), authkey=key)
//! m.connect()
//! task, result = m.get_task_queue(), m.get_result_queue()
//! while True:
//!     try:
//!         n = task.get(timeout=1)
//!     except queue.Empty:
//!         break
//!     result.put('%d * %d = %d' % (n, n, n * n))
//! ```
//!
//! Both roles speak CPython's own manager protocol (`forklore::pyproto`),
//! so the classic CPython worker runs unmodified against this master, and
//! this worker against the classic CPython master. The master goes a little
//! further: if it waits in vain for results while the task queue is empty,
//! a worker was lost with tasks in hand, and it puts the missing ones back.
//!
//! Watch for: the results come from both workers, in no fixed order; the
//! workers find the queues by *name*; and everything goes through TCP,
//! authenticated by the key.
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
//! could connect and shut the master down. `ch19_remote_manager --help`
//! shows every option; the argument parsing is in `support/remote_cli.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use forklore::pyproto::server::{spawn, ShutdownHandle};
use forklore::pyproto::{PyAddress, PyManager};
use forklore::{errln, outln, Error, Process};

#[path = "support/remote_cli.rs"]
mod cli;

/// The names the classic master serves, and the type of their objects.
const NAMES: [(&str, &str); 2] = [("get_task_queue", "Queue"), ("get_result_queue", "Queue")];

/// A worker leaves when no task comes for this long (the classic worker's
/// `task.get(timeout=1)`).
const IDLE: Duration = Duration::from_secs(1);

/// How long the `master` role keeps serving after the last result, so that
/// workers waiting in `get(timeout=1)` see `queue.Empty` and leave cleanly
/// (the classic CPython master shuts down at once, and a CPython worker
/// still waiting then dies with an `EOFError`).
const LINGER: Duration = Duration::from_secs(2);

/// How long the master waits for a result while no task is waiting before
/// it decides that a worker was lost with tasks in hand.
const PATIENCE: Duration = Duration::from_secs(5);

/// The master's server, running in a thread of this process.
struct Serving {
    stop: ShutdownHandle,
    server: std::thread::JoinHandle<Result<(), Error>>,
}

impl Serving {
    fn shutdown(self) -> Result<(), Error> {
        outln!("master: shutting down");
        self.stop.shutdown();
        self.server.join().expect("the server thread panicked")
    }
}

/// Serve the two queues on `bind`, put the tasks `1..=tasks`, and collect
/// a result for each. `on_serving` runs once the server listens. Returns
/// the running server, for the caller to shut down.
fn master(
    bind: &PyAddress,
    key: &[u8],
    tasks: i64,
    on_serving: impl FnOnce(&PyAddress),
) -> Result<Serving, Error> {
    // The server runs in a thread of this process, as CPython's runs in a
    // process of its own; this process is its first client.
    let (address, stop, server) = spawn(bind, key, &NAMES)?;
    let shown = cli::show(&address);
    outln!("master: serving get_task_queue and get_result_queue on {shown}");
    on_serving(&address);
    let m = PyManager::connect(address, key)?;
    let task_queue = m.named_queue::<i64>("get_task_queue")?;
    let result_queue = m.named_queue::<String>("get_result_queue")?;
    for n in 1..=tasks {
        task_queue.put(n)?;
    }
    outln!("master: put {tasks} tasks");

    let mut results: BTreeMap<i64, i64> = BTreeMap::new();
    while results.len() < usize::try_from(tasks).unwrap_or(0) {
        match result_queue.get_timeout(PATIENCE) {
            Ok(line) => match parse_result(&line) {
                Some((n, _)) if results.contains_key(&n) => {
                    outln!("master: result for {n} again; ignored");
                }
                Some((n, square)) => {
                    outln!("result: {line}");
                    results.insert(n, square);
                }
                None => outln!("master: ignored {line:?}, which is no result"),
            },
            // Every task was taken, yet some results never came: the
            // workers that took them are gone. Put those tasks back.
            Err(Error::QueueEmpty) if task_queue.qsize()? == 0 => {
                let missing: Vec<i64> = (1..=tasks).filter(|n| !results.contains_key(n)).collect();
                outln!(
                    "master: no result for {missing:?} in {} s and no task waiting: \
                     a worker was lost; putting them back",
                    PATIENCE.as_secs()
                );
                for n in missing {
                    task_queue.put(n)?;
                }
            }
            Err(Error::QueueEmpty) => {}
            Err(e) => return Err(e),
        }
    }
    let sum: i64 = results.values().sum();
    outln!("master: all {tasks} results in; the sum of the squares is {sum}");
    Ok(Serving { stop, server })
}

/// `n * n = n²`, checked, as the classic worker writes it.
fn parse_result(line: &str) -> Option<(i64, i64)> {
    let (n, rest) = line.split_once(" * ")?;
    let (m, square) = rest.split_once(" = ")?;
    let (n, square): (i64, i64) = (n.parse().ok()?, square.parse().ok()?);
    (m.parse() == Ok(n) && n.checked_mul(n) == Some(square)).then_some((n, square))
}

/// Connect to the master, find its queues by name, and square tasks until
/// none comes for `IDLE`. Returns how many it did.
fn worker(
    address: PyAddress,
    key: &[u8],
    name: &str,
    work: Duration,
    chatty: bool,
) -> Result<u64, Error> {
    let m = PyManager::connect(address, key)?;
    let tasks = m.named_queue::<i64>("get_task_queue")?;
    let results = m.named_queue::<String>("get_result_queue")?;
    let mut done = 0;
    loop {
        let n = match tasks.get_timeout(IDLE) {
            Ok(n) => n,
            // queue.Empty: the work is done.
            Err(Error::QueueEmpty) => break,
            // The classic master shuts down as soon as it has every result,
            // perhaps while we wait: that is the end of the work too.
            Err(Error::ManagerGone { .. }) => break,
            // A link that fell silent is no end of the work: say so. TCP
            // keepalive ends the call about 5 s after the master's host
            // went quiet (ManagerUnreachable), or, if something in between
            // still answers for it, no reply in the timeout plus 5 s does
            // (ManagerNoReply).
            Err(e) => return Err(e),
        };
        let Some(square) = n.checked_mul(n) else {
            return Err(Error::InvalidArgument(format!(
                "{n} * {n} overflows an i64"
            )));
        };
        std::thread::sleep(work); // the "work"
        results.put(format!("{n} * {n} = {square}"))?;
        done += 1;
        if chatty {
            outln!("{name}: {n} * {n} = {square}");
        }
    }
    if chatty {
        outln!("{name}: no more tasks; leaving after {done} tasks");
    }
    Ok(done)
}

/// A demo worker, started by the default method (`forkserver`: this
/// process has the server's threads, so it cannot fork).
fn demo_worker((port, key, name): (u16, Vec<u8>, String)) {
    let address = PyAddress::Tcp("127.0.0.1".into(), port);
    if let Err(e) = worker(address, &key, &name, Duration::from_millis(10), false) {
        errln!("{name}: {e}");
        std::process::exit(1);
    }
}

/// No arguments: the master and two workers, all on 127.0.0.1.
fn demo() -> Result<(), Error> {
    // A fresh random key: only this run's workers know it.
    let mut key = vec![0u8; 16];
    getrandom::fill(&mut key).expect("no random bytes");
    let mut workers: Vec<Process> = Vec::new();
    // Port 0: the kernel picks a free port, so runs never collide.
    let bind = PyAddress::Tcp("127.0.0.1".into(), 0);
    let serving = master(&bind, &key, 10, |address| {
        let PyAddress::Tcp(_, port) = address else {
            unreachable!("a TCP server")
        };
        for i in 1..=2 {
            let mut p = Process::from_fn(demo_worker, (*port, key.clone(), format!("worker-{i}")));
            p.start().expect("could not start a worker");
            workers.push(p);
        }
    })?;
    // The workers leave once the queue stays empty for a second.
    for mut p in workers {
        p.join()?;
    }
    serving.shutdown()
}

pub fn main() {
    // First: a demo worker is a fresh run of this program (`forkserver`).
    forklore::init();
    let args: Vec<String> = std::env::args().collect();
    // Under the tour, the arguments are the tour's: run the demo.
    let ours = args.first().is_some_and(|a| {
        std::path::Path::new(a)
            .file_name()
            .is_some_and(|n| n == "ch19_remote_manager")
    });
    let result = if !ours || args.len() == 1 {
        demo()
    } else {
        match cli::parse(&args[1..]) {
            cli::Role::Help => {
                outln!("{}", cli::USAGE);
                Ok(())
            }
            cli::Role::Master { bind, key, tasks } => {
                master(&bind, &key, tasks, |_| {}).and_then(|serving| {
                    std::thread::sleep(LINGER);
                    serving.shutdown()
                })
            }
            cli::Role::Worker {
                address,
                key,
                name,
                work_ms,
            } => worker(address, &key, &name, Duration::from_millis(work_ms), true).map(|_| ()),
        }
    };
    if let Err(e) = result {
        errln!("ch19_remote_manager: {e}");
        std::process::exit(1);
    }
}
