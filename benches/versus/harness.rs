//! The measuring machinery of `cargo bench --bench versus`.
//!
//! Each row measures one operation three ways in the same run: forklore, the
//! equivalent CPython program, and the raw system-call floor. The three are
//! interleaved round by round (forklore, floor, CPython, forklore, ...), so a
//! slow patch of the machine hurts all three alike, and the reported figure
//! is the median of the rounds.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One measured row of the table.
pub struct Row {
    pub name: &'static str,
    pub unit: &'static str,
    pub forklore: f64,
    pub cpython: Option<f64>,
    pub floor: Option<f64>,
}

impl Row {
    pub fn speedup_vs_cpython(&self) -> Option<f64> {
        self.cpython.map(|c| c / self.forklore)
    }
    pub fn over_floor(&self) -> Option<f64> {
        self.floor.map(|f| self.forklore / f)
    }
}

/// How to measure one row.
///
/// `forklore` and `floor` run `ops` operations and return the time they
/// took; `python` names a script under `benches/python/` that runs `ops`
/// operations and prints the seconds they took (startup excluded).
pub struct Spec<'a> {
    pub name: &'static str,
    /// What one operation is, for the table's unit column (`"µs per task"`).
    pub unit: &'static str,
    pub ops: usize,
    pub rounds: usize,
    /// Whether the row runs its clients on one CPU and its servers on
    /// another (see [`on_server_cpu`]).
    pub pinned: bool,
    pub forklore: Box<dyn FnMut(usize) -> Duration + 'a>,
    pub floor: Option<Box<dyn FnMut(usize) -> Duration + 'a>>,
    pub python: Option<(&'static str, Vec<String>)>,
}

/// Whether the row being measured is pinned (see [`on_server_cpu`]).
static PINNED: AtomicBool = AtomicBool::new(false);

/// The CPUs this process may run on, in order (its mask as started).
pub fn allowed_cpus() -> &'static [usize] {
    static ALLOWED: OnceLock<Vec<usize>> = OnceLock::new();
    ALLOWED.get_or_init(|| {
        // SAFETY: `cpu_set_t` is plain data (a bit array), for which all
        // zeros is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed;
        // pid 0 is the calling thread.
        if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `c` is below `CPU_SETSIZE`, the set's size in bits.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect()
    })
}

/// The CPU for clients and the CPU for servers of a pinned row: the first
/// two this process may use; `None` where it may use only one.
pub fn client_and_server_cpus() -> Option<(usize, usize)> {
    match allowed_cpus() {
        [c, s, ..] => Some((*c, *s)),
        _ => None,
    }
}

/// Run the calling thread (and what it starts or forks from now on) on
/// `cpu`, or on every allowed CPU again for `None`.
pub fn pin_this_thread(cpu: Option<usize>) {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let cpus = match cpu {
        Some(c) => vec![c],
        None => allowed_cpus().to_vec(),
    };
    for c in cpus {
        // SAFETY: every CPU number here is one the kernel listed, so below
        // `CPU_SETSIZE`; `set` is a valid `cpu_set_t`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the
    // calling thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        r,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

/// Start a server (fork a manager, an echo child, a sink) with `f`: in a
/// pinned row, on the servers' CPU, while the row's clients stay on
/// theirs. On this 2-vCPU VM the cost of a round trip otherwise depends on
/// where the scheduler happens to put the two sides, which changes from
/// one process to the next by more than the differences measured. The
/// rows' Python scripts do the same (`benches/python/pinning.py`).
pub fn on_server_cpu<R>(f: impl FnOnce() -> R) -> R {
    let cpus = client_and_server_cpus().filter(|_| PINNED.load(Ordering::Relaxed));
    let Some((client, server)) = cpus else {
        return f();
    };
    pin_this_thread(Some(server));
    let r = f();
    pin_this_thread(Some(client));
    r
}

/// Time `ops` calls of `f`.
pub fn time_ops(ops: usize, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..ops {
        f();
    }
    t.elapsed()
}

pub fn python_available() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

fn run_python(script: &str, ops: usize, args: &[String], pinned: bool) -> Option<Duration> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/python")
        .join(script);
    let mut cmd = Command::new("python3");
    cmd.arg(&path).arg(ops.to_string()).args(args);
    // The script's `pinning` module puts its clients and its server where
    // this row puts forklore's.
    match client_and_server_cpus().filter(|_| pinned) {
        Some((c, s)) => cmd.env("FORKLORE_BENCH_CPUS", format!("{c},{s}")),
        None => cmd.env_remove("FORKLORE_BENCH_CPUS"),
    };
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "versus: {script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_secs_f64(secs))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// Run the spec's rounds, interleaving the three measurements, and return
/// the medians in microseconds per operation.
pub fn measure(mut spec: Spec<'_>, python: bool) -> Row {
    let ops = spec.ops as f64;
    let per_op = move |d: Duration| d.as_secs_f64() * 1e6 / ops;
    let cpus = client_and_server_cpus().filter(|_| spec.pinned);
    if let Some((client, _)) = cpus {
        PINNED.store(true, Ordering::Relaxed);
        pin_this_thread(Some(client));
    }
    // The row's closures (and the servers they hold) are dropped before
    // the pin is lifted: see the end of this function.
    let row = measure_rounds(&mut spec, python, per_op);
    drop(spec);
    if cpus.is_some() {
        PINNED.store(false, Ordering::Relaxed);
        pin_this_thread(None);
    }
    row
}

fn measure_rounds(spec: &mut Spec<'_>, python: bool, per_op: impl Fn(Duration) -> f64) -> Row {
    let (mut fk, mut fl, mut py) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..spec.rounds {
        fk.push(per_op((spec.forklore)(spec.ops)));
        if let Some(floor) = spec.floor.as_mut() {
            fl.push(per_op(floor(spec.ops)));
        }
        if python {
            if let Some((script, args)) = &spec.python {
                if let Some(d) = run_python(script, spec.ops, args, spec.pinned) {
                    py.push(per_op(d));
                }
            }
        }
    }
    Row {
        name: spec.name,
        unit: spec.unit,
        forklore: median(fk).expect("at least one round"),
        cpython: median(py),
        floor: median(fl),
    }
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

/// Print the table to stdout.
pub fn print_table(rows: &[Row]) {
    println!(
        "{:<28} {:<16} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "row", "unit", "forklore", "cpython", "floor", "vs cpython", "over floor"
    );
    for r in rows {
        println!(
            "{:<28} {:<16} {:>12.2} {:>12} {:>12} {:>10} {:>10}",
            r.name,
            r.unit,
            r.forklore,
            cell(r.cpython, 2),
            cell(r.floor, 2),
            cell(r.speedup_vs_cpython(), 2) + "×",
            cell(r.over_floor(), 2) + "×",
        );
    }
}

/// Write `target/versus.json`.
pub fn write_json(rows: &[Row]) -> std::io::Result<PathBuf> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "unit": r.unit,
                "forklore": r.forklore,
                "cpython": r.cpython,
                "floor": r.floor,
                "speedup_vs_cpython": r.speedup_vs_cpython(),
                "over_floor": r.over_floor(),
            })
        })
        .collect();
    let path = json_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let doc = serde_json::json!({ "machine": machine(), "rows": rows });
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

/// Where the results go: `target/versus.json` (under `CARGO_TARGET_DIR` if set).
pub fn json_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("versus.json")
}

/// A description of the machine, for the report.
fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let python = Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "no python3".into());
    let date = Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "kernel": kernel,
        "python": python,
        "date": date,
    })
}

/// The floor of every row that waits for an answer from another process:
/// `n` round trips of a 16-byte message over a Unix socketpair to a forked
/// echo child, the child started before the clock starts.
///
/// Both ends wait for a message the way forklore's manager client and
/// server do: they poll for up to 50 µs, yielding the CPU between polls,
/// before they sleep in `read`. On a 2-vCPU virtual machine a reader that
/// sleeps at once, on a vCPU that then goes idle, takes 20–30 µs to wake,
/// and whether that happens depends on where the scheduler put the two
/// ends: a floor that sleeps at once measured anywhere from 4 µs to 60 µs
/// per round trip from one run to the next. This floor is the cheaper and
/// steadier of the two, so `over_floor` is never flattered by a slow floor.
pub fn round_trips(n: usize) -> Duration {
    echo_pair()(n)
}

/// [`round_trips`] in two steps: fork the echo child now, and return the
/// trips, to run later (the fork stays out of the timed part).
pub fn echo_pair() -> impl FnOnce(usize) -> Duration {
    use forklore::Process;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let (mut parent, child) = UnixStream::pair().unwrap();
    let mut echo = Process::new(move || {
        let mut child = child;
        let mut buf = [0u8; 16];
        loop {
            spin_readable(&child);
            if child.read_exact(&mut buf).is_err() || child.write_all(&buf).is_err() {
                break;
            }
        }
    });
    on_server_cpu(|| echo.start().unwrap());
    move |n| {
        let mut buf = [7u8; 16];
        let t = Instant::now();
        for _ in 0..n {
            parent.write_all(&buf).unwrap();
            spin_readable(&parent);
            parent.read_exact(&mut buf).unwrap();
        }
        let took = t.elapsed();
        // shutdown, not drop: the child holds a copy of this end too
        // (fork), so only shutting the socket down gives it EOF.
        parent.shutdown(std::net::Shutdown::Both).unwrap();
        echo.join().unwrap();
        took
    }
}

/// Wait until `s` is readable: poll for up to 50 µs (first at once, then
/// yielding between polls), as forklore's client and servers do, then let
/// the blocking read sleep.
pub fn spin_readable(s: &impl std::os::fd::AsFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let t = Instant::now();
    loop {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).unwrap_or(1) > 0
            || t.elapsed() >= Duration::from_micros(50)
        {
            return;
        }
        std::thread::yield_now();
    }
}
