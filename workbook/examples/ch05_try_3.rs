//! Chapter 5, Try it 3: a timeout on `map`.
//!
//! The timeout counts from the call, as in Python. No check can finish in a
//! millisecond (the primes' loops run to about 10.6 million), so the first
//! result is `Error::Timeout`, and the iterator ends there.
//!
//! Run it: `cargo run --release --example ch05_try_3`

use std::time::Duration;

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

pub fn main() {
    let executor = ProcessPoolExecutor::new(2).expect("could not start the executor");
    let results = executor
        .map_timeout(is_prime, PRIMES, Duration::from_millis(1), 1)
        .expect("the executor is running");
    let mut n = 0;
    for r in results {
        match r {
            Ok(prime) => outln!("{} is prime: {prime}", PRIMES[n]),
            Err(e) => outln!("{}: {e} (is_timeout: {})", PRIMES[n], e.is_timeout()),
        }
        n += 1;
    }
    outln!("the iterator yielded {n} item(s)");
}
