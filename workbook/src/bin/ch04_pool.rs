//! Chapter 4 — `multiprocessing.Pool`: four workers, five tasks.
//!
//! Reproduces the third of the article's four ways to create processes:
//!
//! ```python
//! def long_time_task(name):
//!     print('Run task %s (%s)...' % (name, os.getpid()))
//!     start = time.time()
//!     time.sleep(random.random() * 3)
//!     end = time.time()
//!     print('Task %s runs %0.2f seconds.' % (name, (end - start)))
//!
//! print('Parent process %s.' % os.getpid())
//! p = Pool(4)
//! for i in range(5):
//!     p.apply_async(long_time_task, args=(i,))
//! print('Waiting for all subprocesses done...')
//! p.close()
//! p.join()
//! print('All subprocesses done.')
//! ```
//!
//! Watch for: tasks 0 to 3 start at once, each in its own worker. Task 4
//! has to wait: it starts only when one of them has finished, and it runs in
//! that worker (its pid is one you have seen already). `All subprocesses
//! done.` comes last, because `join` waits for the queued work.
//!
//! Run it: `cargo run --release --bin ch04_pool`. The tasks sleep a random
//! 0–3 s; set `FORKLORE_CH04_SCALE=0.1` to make every sleep ten times shorter
//! (the tests do, to stay quick).

use std::time::{Duration, Instant};

use forklore::{outln, Pool};

/// A random number in [0, 1), as Python's `random.random()`.
fn random() -> f64 {
    let bits = getrandom::u64().expect("the OS random source failed");
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// How much to scale the sleeps: `FORKLORE_CH04_SCALE`, 1 by default.
fn scale() -> f64 {
    std::env::var("FORKLORE_CH04_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// Runs in a pool worker: a plain `fn`, so its address is valid in the
/// forked workers.
fn long_time_task(name: u32) {
    outln!("Run task {} ({})...", name, std::process::id());
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(random() * 3.0 * scale()));
    outln!(
        "Task {} runs {:.2} seconds.",
        name,
        start.elapsed().as_secs_f64()
    );
}

pub fn main() {
    outln!("Parent process {}.", std::process::id());
    let p = Pool::new(4).expect("could not start the pool");
    for i in 0..5 {
        // Like the Python program, ignore the results: the tasks print.
        p.apply_async(long_time_task, i)
            .expect("the pool is running");
    }
    outln!("Waiting for all subprocesses done...");
    p.close();
    p.join().expect("join failed");
    outln!("All subprocesses done.");
}
