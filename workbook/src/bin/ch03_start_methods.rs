//! Chapter 3 — start methods: `fork`, `spawn` and `forkserver`
//! (Python: `multiprocessing.get_context(method)`).
//!
//! A real program has threads. Here the second thread is a logger that
//! holds the log's lock while it writes (a slow disk: 1 ms), and the main
//! thread starts five children, one at a time, with each start method in
//! turn; each child logs a line, so it takes the log's lock too.
//!
//! ```python
//! LOG = threading.Lock()
//!
//! def hello(method, i):
//!     with LOG:
//!         print(f"{method} child {i}: hello", flush=True)
//!
//! threading.Thread(target=logger, daemon=True).start()
//! for method in ("fork", "forkserver", "spawn"):
//!     ctx = mp.get_context(method)
//!     for i in range(5):
//!         p = ctx.Process(target=hello, args=(method, i))
//!         p.start()
//!         p.join(0.2 if method == "fork" else None)
//! ```
//!
//! Watch for: forklore refuses to `fork` a process that has two threads;
//! done anyway (an `unsafe` opt-in), the children hang on the lock the
//! logger held at the instant of the fork, as CPython 3.11's do. The
//! `forkserver` and `spawn` children all finish.
//!
//! Run it: `cargo run --release --bin ch03_start_methods`

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use forklore::start::{get_context, StartMethod};
use forklore::{outln, Process};

/// The log's lock, as in any logging library.
static LOG: Mutex<()> = Mutex::new(());

/// How many children each method starts.
const CHILDREN: u32 = 5;

/// The target: a `fn` item with serde arguments, so every method can start
/// it (a closure could only be forked).
fn hello((method, i): (String, u32)) {
    let _log = LOG.lock().unwrap();
    outln!("{method} child {i}: hello");
}

/// The logger: holds the log's lock while it writes. It says when it
/// first holds it, so that no fork comes before the logger has started.
fn logger(started: mpsc::Sender<()>) {
    let mut started = Some(started);
    loop {
        let _log = LOG.lock().unwrap();
        if let Some(s) = started.take() {
            s.send(()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn per_child(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3 / f64::from(CHILDREN)
}

pub fn main() {
    // First thing: in a spawned process this runs `hello` and exits
    // (Python: `if __name__ == '__main__':`).
    forklore::init();
    let (started, logging) = mpsc::channel();
    std::thread::spawn(move || logger(started));
    logging.recv().unwrap();

    // fork: refused, since this process has two threads.
    let mut p = Process::new(|| hello(("fork".into(), 0)));
    outln!("fork: {}", p.start().unwrap_err());
    // What CPython 3.11 does silently, forklore does only when asked with
    // `unsafe`: each wait is bounded, and a hung child is killed.
    let t = Instant::now();
    let mut hung = 0;
    for i in 0..CHILDREN {
        let mut p = Process::from_fn(hello, ("fork".to_string(), i));
        // SAFETY: deliberately broken, to show the hazard: the child takes
        // the log's lock, which the logger may hold at the fork. The wait is
        // bounded and a hung child is killed and reaped.
        unsafe { p.start_with_threads() }.unwrap();
        if p.join_timeout(Duration::from_millis(200))
            .unwrap()
            .is_none()
        {
            hung += 1;
            p.kill().unwrap();
            p.join().unwrap();
        }
    }
    outln!("fork: {hung} of {CHILDREN} children hung on the log's lock");
    outln!("fork: {:.1} ms per child", per_child(t));

    // forkserver and spawn: safe with any number of threads.
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let ctx = get_context(method);
        let t = Instant::now();
        let mut finished = 0;
        for i in 0..CHILDREN {
            let mut p = ctx.process(hello, (method.to_string(), i));
            p.start().unwrap();
            if p.join().unwrap().success() {
                finished += 1;
            }
        }
        outln!("{method}: {finished} of {CHILDREN} children finished");
        outln!("{method}: {:.1} ms per child", per_child(t));
    }
}
