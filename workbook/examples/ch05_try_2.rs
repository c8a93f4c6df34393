//! Chapter 5, Try it 2: one worker instead of one per core.
//!
//! The same output as chapter 5, checked one number after another; time it
//! against the chapter: `time cargo run --release --example ch05_try_2`
//! and `time cargo run --release --bin ch05_executor`.

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
    let executor = ProcessPoolExecutor::new(1).expect("could not start the executor");
    let results = executor
        .map(is_prime, PRIMES, 1)
        .expect("the executor is running");
    for (number, prime) in PRIMES.iter().zip(results) {
        let prime = prime.expect("is_prime failed in a worker");
        outln!(
            "{} is prime: {}",
            number,
            if prime { "True" } else { "False" }
        );
    }
}
