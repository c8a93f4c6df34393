//! Chapter 5, Try it 1: a `submit` per number, and the results in the order
//! they finish, with `as_completed`.
//!
//! With six workers all six checks run at once. The non-prime usually comes
//! first: its loop stops at its smallest factor, 3,306,091, while the
//! primes' loops run to their square roots, about 10.6 million, three times
//! as far.
//!
//! Run it: `cargo run --release --example ch05_try_1`

use forklore::executor::as_completed;
use forklore::{outln, ProcessPoolExecutor};

const PRIMES: [u64; 6] = [
    112272535095293,
    112582705942171,
    112272535095293,
    115280095190773,
    115797848077099,
    1099726899285419,
];

/// Chapter 5's test, returning the number with the answer.
fn is_prime(n: u64) -> (u64, bool) {
    if n < 2 {
        return (n, false);
    }
    if n == 2 {
        return (n, true);
    }
    if n.is_multiple_of(2) {
        return (n, false);
    }
    let sqrt_n = (n as f64).sqrt().floor() as u64;
    (n, (3..=sqrt_n).step_by(2).all(|i| !n.is_multiple_of(i)))
}

pub fn main() {
    let executor = ProcessPoolExecutor::new(6).expect("could not start the executor");
    let futures: Vec<_> = PRIMES
        .iter()
        .map(|&n| {
            executor
                .submit(is_prime, n)
                .expect("the executor is running")
        })
        .collect();
    for done in as_completed(&futures) {
        let (n, prime) = done
            .expect("as_completed failed")
            .result()
            .expect("is_prime failed");
        outln!("{n} is prime: {}", if prime { "True" } else { "False" });
    }
}
