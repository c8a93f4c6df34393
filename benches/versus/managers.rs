//! Rows for `forklore::managers`: calls on proxies, each one round trip to
//! the manager's server process.
//!
//! The floor is the same number of socketpair round trips with a forked
//! echo child ([`round_trips`](crate::harness::round_trips)), measured in
//! the same run: what any manager call must pay at the least.

use std::time::Instant;

use forklore::managers::Manager;

use crate::harness::{round_trips, Spec};

const OPS: usize = 20_000;
const ROUNDS: usize = 5;

/// A manager started on first use and kept for every round of a row.
fn lazy_manager() -> impl FnMut() -> Manager {
    let mut m: Option<Manager> = None;
    move || m.get_or_insert_with(|| Manager::start().unwrap()).clone()
}

/// `manager.list_append`: `append` from one client.
pub fn list_append() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.list_append",
        unit: "µs per call",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let li = manager().list::<u64>().unwrap();
            // The first call opens this thread's connection: not timed.
            li.append(0).unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                li.append(i).unwrap();
            }
            let d = t.elapsed();
            assert_eq!(li.len().unwrap(), ops + 1);
            d
        }),
        floor: Some(Box::new(round_trips)),
        python: Some(("manager_list_append.py", vec![])),
    }
}

/// `manager.queue_put_get`: a `put` then a `get`, two calls per pair.
pub fn queue_put_get() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.queue_put_get",
        unit: "µs per pair",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let q = manager().queue::<u64>().unwrap();
            q.put(0).unwrap();
            q.get().unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                q.put(i).unwrap();
                assert_eq!(q.get().unwrap(), i);
            }
            t.elapsed()
        }),
        floor: Some(Box::new(|ops| round_trips(2 * ops))),
        python: Some(("manager_queue_put_get.py", vec![])),
    }
}

/// `manager.value_get_set`: read a Value, write it back plus one.
pub fn value_get_set() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.value_get_set",
        unit: "µs per pair",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let v = manager().value(0i64).unwrap();
            v.get().unwrap();
            let t = Instant::now();
            for _ in 0..ops {
                v.set(v.get().unwrap() + 1).unwrap();
            }
            let d = t.elapsed();
            assert_eq!(v.get().unwrap(), ops as i64);
            d
        }),
        floor: Some(Box::new(|ops| round_trips(2 * ops))),
        python: Some(("manager_value_get_set.py", vec![])),
    }
}
