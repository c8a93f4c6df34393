//! Chapter 7 — sharing a list through a Manager.
//!
//! Reproduces the article's second communication example: the program of
//! chapter 6, with the list moved into a manager's server process.
//!
//! ```python
//! from multiprocessing import Process, Manager
//!
//! manager = Manager()
//! li = manager.list()
//!
//! def foo(i):
//!     li.append(i)
//!     print('say hi', li)
//!
//! process_list = [Process(target=foo, args=(i,)) for i in range(10)]
//! for p in process_list:
//!     p.start()
//! for p in process_list:
//!     p.join()
//! print('ending', li)
//! ```
//!
//! `Manager::start()` forks a server process that holds the real list;
//! `li` is only a proxy, an object id and the server's address. Each
//! child's `append` and each print is a request to the server, so the
//! children now add to one list. Watch for: every printed list is a prefix
//! of the final one (not always longer than the line before), and the parent's
//! `ending` list holds all ten numbers, in the order the children got to the
//! server. Two children may append before either prints, so two lines can
//! show the same list.
//!
//! Run it: `cargo run --release --bin ch07_manager_list`

use forklore::managers::{ListProxy, Manager};
use forklore::{outln, Process};

fn foo(li: &ListProxy<i32>, i: i32) {
    li.append(i).expect("append failed");
    // Python's print(li) asks the server for the list: a second request,
    // so another child's append may land in between.
    outln!("say hi {:?}", li.to_vec().expect("reading the list failed"));
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let li: ListProxy<i32> = manager.list().expect("could not create the list");

    let mut process_list: Vec<Process> = (0..10)
        .map(|i| {
            // A clone of the proxy for the child: the same list on the server.
            let li = li.clone();
            Process::new(move || foo(&li, i))
        })
        .collect();
    for p in &mut process_list {
        p.start().expect("start failed");
    }
    for p in &mut process_list {
        p.join().expect("join failed");
    }
    outln!("ending {:?}", li.to_vec().expect("reading the list failed"));
    // Dropping `manager` at the end of main shuts the server down.
}
