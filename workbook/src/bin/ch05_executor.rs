//! Chapter 5 — `concurrent.futures.ProcessPoolExecutor`: primes in parallel.
//!
//! Reproduces the fourth of the article's four ways to create processes,
//! the primality example of Python's `concurrent.futures` documentation:
//!
//! ```python
//! PRIMES = [
//!     112272535095293,
//!     112582705942171,
//!     112272535095293,
//!     115280095190773,
//!     115797848077099,
//!     1099726899285419]
//!
//! def is_prime(n):
//!     if n < 2:
//!         return False
//!     if n == 2:
//!         return True
//!     if n % 2 == 0:
//!         return False
//!     sqrt_n = int(math.floor(math.sqrt(n)))
//!     for i in range(3, sqrt_n + 1, 2):
//!         if n % i == 0:
//!             return False
//!     return True
//!
//! def main():
//!     with concurrent.futures.ProcessPoolExecutor() as executor:
//!         for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
//!             print('%d is prime: %s' % (number, prime))
//! ```
//!
//! Watch for: the six lines come in input order even though the numbers are
//! checked in parallel and finish in another order, and the text is exactly
//! what CPython prints (`True`, not Rust's `true`).
//!
//! Run it: `cargo run --release --bin ch05_executor`

use forklore::{outln, ProcessPoolExecutor};

const PRIMES: [u64; 6] = [
    112272535095293,
    112582705942171,
    112272535095293,
    115280095190773,
    115797848077099,
    1099726899285419,
];

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let sqrt_n = (n as f64).sqrt().floor() as u64;
    (3..=sqrt_n).step_by(2).all(|i| !n.is_multiple_of(i))
}

/// Python's spelling of a bool.
fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

pub fn main() {
    // Python's default max_workers is os.cpu_count().
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let executor = ProcessPoolExecutor::new(workers).expect("could not start the executor");
    let results = executor
        .map(is_prime, PRIMES, 1)
        .expect("the executor is running");
    for (number, prime) in PRIMES.iter().zip(results) {
        let prime = prime.expect("is_prime failed in a worker");
        outln!("{} is prime: {}", number, py_bool(prime));
    }
    // Dropping the executor shuts it down and waits, like leaving `with`.
}
