//! Rows for `forklore::managers`: calls on proxies, each one round trip to
//! the manager's server process.
//!
//! The floor is the same number of socketpair round trips with a forked
//! echo child ([`round_trips`](crate::harness::round_trips)), measured in
//! the same run: what any manager call must pay at the least.
//!
//! The one-client rows are pinned (see
//! [`on_server_cpu`](crate::harness::on_server_cpu)): the client on one
//! CPU, the server (forklore's, CPython's, the echo child) on another.

use std::time::{Duration, Instant};

use forklore::managers::Manager;

use crate::harness::{echo_pair, on_server_cpu, round_trips, Spec};

const OPS: usize = 20_000;
const ROUNDS: usize = 5;

/// A manager started on first use and kept for every round of a row.
fn lazy_manager() -> impl FnMut() -> Manager {
    let mut m: Option<Manager> = None;
    move || {
        m.get_or_insert_with(|| on_server_cpu(|| Manager::start().unwrap()))
            .clone()
    }
}

/// `manager.list_append`: `append` from one client.
pub fn list_append() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.list_append",
        unit: "µs per call",
        ops: OPS,
        rounds: ROUNDS,
        pinned: true,
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
        pinned: true,
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
        pinned: true,
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

/// Client processes of the `8clients` row.
const CLIENTS: usize = 8;

/// Fork `CLIENTS` clients that run at once. Each runs `prepare` first
/// (untimed: open a connection, fork an echo child), says it is ready, and
/// waits; when all are ready the clock starts and they are let go together
/// to run the work `prepare` returned. Returns the time from the go until
/// the last client has been joined (which adds a few reaps, about 0.1 ms,
/// to runs of tens of milliseconds).
fn clients_at_once<W, P>(prepare: P) -> Duration
where
    W: FnOnce(),
    P: Fn() -> W + Clone + Send + 'static,
{
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let (ready_rx, ready_tx) = UnixStream::pair().unwrap();
    let (go_tx, go_rx) = UnixStream::pair().unwrap();
    let mut clients: Vec<forklore::Process> = (0..CLIENTS)
        .map(|_| {
            let prepare = prepare.clone();
            let mut ready = ready_tx.try_clone().unwrap();
            let mut go = go_rx.try_clone().unwrap();
            let mut p = forklore::Process::new(move || {
                let work = prepare();
                ready.write_all(&[1]).unwrap();
                // End of file: the parent has shut the other end down.
                let mut b = [0u8; 1];
                assert_eq!(go.read(&mut b).unwrap(), 0);
                work();
            });
            p.start().unwrap();
            p
        })
        .collect();
    let mut ready = ready_rx;
    let mut all = [0u8; CLIENTS];
    ready.read_exact(&mut all).unwrap();
    let t = Instant::now();
    // shutdown, not drop: every client holds a copy of this end (fork).
    go_tx.shutdown(std::net::Shutdown::Both).unwrap();
    for p in &mut clients {
        assert!(p.join().unwrap().success());
    }
    t.elapsed()
}

/// `manager.list_append.8clients`: 8 client processes append to one list
/// at once; the figure is the wall time per append over all of them
/// (1 / aggregate throughput).
///
/// The floor: 8 forked clients at once, each doing its share of 16-byte
/// round trips over a socketpair with its own forked echo child
/// ([`echo_pair`]): the same number of round trips, with the same
/// concurrency on the same cores, and no server work or shared state.
pub fn list_append_8clients() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.list_append.8clients",
        unit: "µs per append, 8 clients",
        ops: OPS,
        rounds: ROUNDS,
        // Not pinned: eight clients on one CPU would measure that CPU's time
        // sharing, not a server under concurrent load.
        pinned: false,
        forklore: Box::new(move |ops| {
            let li = manager().list::<u64>().unwrap();
            let per = ops / CLIENTS;
            let client_li = li.clone();
            let d = clients_at_once(move || {
                let li = client_li.clone();
                // Opens this process's connection: not timed.
                li.append(0).unwrap();
                move || {
                    for i in 0..per as u64 {
                        li.append(i).unwrap();
                    }
                }
            });
            assert_eq!(li.len().unwrap(), CLIENTS * (per + 1));
            d
        }),
        floor: Some(Box::new(|ops| {
            clients_at_once(move || {
                let trips = echo_pair();
                move || {
                    trips(ops / CLIENTS);
                }
            })
        })),
        python: Some(("manager_list_append_8clients.py", vec![])),
    }
}
