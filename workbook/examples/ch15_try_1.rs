//! Chapter 15, Try it 1: join the producer with no timeout before getting
//! what it put. In CPython this never returns (the documented deadlock);
//! here `put` has copied the five items into the ring, so the producer has
//! exited and the join returns.
//!
//! Run it: `cargo run -p forklore-workbook --example ch15_try_1`

use forklore::queues::Queue;
use forklore::{outln, Process};

fn main() {
    let q = Queue::<Vec<u8>>::new().expect("could not create the queue");
    let mut producer = {
        let q = q.clone();
        Process::new(move || {
            for i in 0..5u8 {
                q.put(&vec![i; 100_000]).expect("put failed");
            }
        })
    };
    producer.start().expect("start failed");
    let status = producer.join().expect("join failed");
    outln!("joined before get: exit status {status}");
    let got: usize = (0..5).map(|_| q.get().expect("get failed").len()).sum();
    outln!("then got {got} bytes");
}
