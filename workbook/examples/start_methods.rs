//! Start methods: a program whose second thread is a logger, holding the
//! log's lock while it writes (a slow disk: 1 ms), starts 20 children, one
//! at a time; each child logs a line, so it takes the log's lock too.
//!
//! Run it: `cargo run --release -p forklore-workbook --example start_methods -- METHOD`
//! with METHOD `fork`, `spawn` or `forkserver` (the default).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use forklore::start::{get_context, StartMethod};
use forklore::{outln, Process};

/// The log's lock, as in any logging library.
static LOG: Mutex<()> = Mutex::new(());

/// The target: a `fn` item with serde arguments, so any method can start it.
fn hello(i: u32) {
    let _log = LOG.lock().unwrap();
    println!("child {i}: hello");
}

fn main() {
    // Must come first: in a spawned process it runs `hello` and exits
    // (Python: `if __name__ == '__main__':`).
    forklore::init();
    let method: StartMethod = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "forkserver".into())
        .parse()
        .unwrap();
    // The logger: holds the log's lock while it writes.
    std::thread::spawn(|| loop {
        let _log = LOG.lock().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    });
    let t = Instant::now();
    if method == StartMethod::Fork {
        let mut p = Process::new(|| hello(0));
        outln!("fork: {}", p.start().unwrap_err());
        // What fork would do here: opt in (unsafe), with a target that
        // breaks the contract, since it takes a lock another thread holds.
        let mut hung = 0;
        for i in 0..20 {
            let mut p = Process::new(move || hello(i));
            // SAFETY: deliberately broken, to show the hazard: the child
            // takes the log's lock, which the logger holds at the fork.
            // Every wait is bounded and a hung child is killed.
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
        outln!("fork (unsafe opt-in): {hung} of 20 children hung on the log's lock");
    } else {
        let ctx = get_context(method);
        let mut ok = 0;
        for i in 0..20 {
            let mut p = ctx.process(hello, i);
            p.start().unwrap();
            if p.join().unwrap().success() {
                ok += 1;
            }
        }
        outln!("{method}: {ok} of 20 children finished");
    }
    outln!(
        "{method}: {:.1} ms per child",
        t.elapsed().as_secs_f64() * 1e3 / 20.0
    );
}
