//! The workbook's runner: every chapter, in order, each under a one-line header.
//!
//! ```console
//! $ cargo run --release --bin tour              # every chapter
//! $ cargo run --release --bin tour -- 6         # one chapter, by number...
//! $ cargo run --release --bin tour -- ch06_isolation   # ...or by name
//! $ cargo run --release --bin tour -- --list    # what there is
//! ```
//!
//! The chapters are compiled into this binary (each `workbook/src/bin/chNN_*.rs` is
//! also a module here, hence their `pub fn main`), so `cargo run --bin tour`
//! needs no other binary to have been built. Each chapter runs in its own
//! forked child — a `forklore::Process` — so a chapter that exits or panics
//! ends only itself, and its children are reaped before the next begins.

use std::process::ExitCode;

use forklore::{outln, Process};

#[path = "ch01_fork.rs"]
mod ch01_fork;
#[path = "ch02_process.rs"]
mod ch02_process;
#[path = "ch03_start_methods.rs"]
mod ch03_start_methods;
#[path = "ch04_pool.rs"]
mod ch04_pool;
#[path = "ch05_executor.rs"]
mod ch05_executor;
#[path = "ch06_isolation.rs"]
mod ch06_isolation;
#[path = "ch07_manager_list.rs"]
mod ch07_manager_list;
#[path = "ch08_manager_dict.rs"]
mod ch08_manager_dict;
#[path = "ch09_manager_queue.rs"]
mod ch09_manager_queue;
#[path = "ch10_manager_event.rs"]
mod ch10_manager_event;
#[path = "ch11_manager_condition.rs"]
mod ch11_manager_condition;
#[path = "ch12_manager_value.rs"]
mod ch12_manager_value;
#[path = "ch13_manager_array.rs"]
mod ch13_manager_array;
#[path = "ch14_shared_value.rs"]
mod ch14_shared_value;
#[path = "ch15_queue.rs"]
mod ch15_queue;
#[path = "ch16_popen.rs"]
mod ch16_popen;
#[path = "ch17_communicate.rs"]
mod ch17_communicate;
#[path = "ch18_pipeline.rs"]
mod ch18_pipeline;
#[path = "ch19_remote_manager.rs"]
mod ch19_remote_manager;

struct Chapter {
    slug: &'static str,
    title: &'static str,
    main: fn(),
}

const CHAPTERS: &[Chapter] = &[
    Chapter {
        slug: "ch01_fork",
        title: "the raw fork() system call",
        main: ch01_fork::main,
    },
    Chapter {
        slug: "ch02_process",
        title: "multiprocessing.Process: start and join",
        main: ch02_process::main,
    },
    Chapter {
        slug: "ch03_start_methods",
        title: "start methods: fork, spawn and forkserver in a threaded program",
        main: ch03_start_methods::main,
    },
    Chapter {
        slug: "ch04_pool",
        title: "multiprocessing.Pool: four workers, five tasks",
        main: ch04_pool::main,
    },
    Chapter {
        slug: "ch05_executor",
        title: "ProcessPoolExecutor: primes in parallel",
        main: ch05_executor::main,
    },
    Chapter {
        slug: "ch06_isolation",
        title: "processes do not share memory",
        main: ch06_isolation::main,
    },
    Chapter {
        slug: "ch07_manager_list",
        title: "sharing a list through a Manager",
        main: ch07_manager_list::main,
    },
    Chapter {
        slug: "ch08_manager_dict",
        title: "workers fill a shared dict",
        main: ch08_manager_dict::main,
    },
    Chapter {
        slug: "ch09_manager_queue",
        title: "a queue: producer, consumers and a sentinel",
        main: ch09_manager_queue::main,
    },
    Chapter {
        slug: "ch10_manager_event",
        title: "an event: workers wait for a start signal",
        main: ch10_manager_event::main,
    },
    Chapter {
        slug: "ch11_manager_condition",
        title: "a condition: wait and notify",
        main: ch11_manager_condition::main,
    },
    Chapter {
        slug: "ch12_manager_value",
        title: "a shared Value: the lost update, and the lock that fixes it",
        main: ch12_manager_value::main,
    },
    Chapter {
        slug: "ch13_manager_array",
        title: "workers fill their own slots of a shared Array",
        main: ch13_manager_array::main,
    },
    Chapter {
        slug: "ch14_shared_value",
        title: "the lost update again, with a Value in shared memory",
        main: ch14_shared_value::main,
    },
    Chapter {
        slug: "ch15_queue",
        title: "multiprocessing.Queue: producers and consumers without a server",
        main: ch15_queue::main,
    },
    Chapter {
        slug: "ch16_popen",
        title: "subprocess.Popen: start a program and go on",
        main: ch16_popen::main,
    },
    Chapter {
        slug: "ch17_communicate",
        title: "communicate: pipes both ways, and a timeout that does not kill",
        main: ch17_communicate::main,
    },
    Chapter {
        slug: "ch18_pipeline",
        title: "a pipeline without a shell, and run(check=True)",
        main: ch18_pipeline::main,
    },
    Chapter {
        slug: "ch19_remote_manager",
        title: "a remote Manager: a master and its workers over TCP",
        main: ch19_remote_manager::main,
    },
];

fn number(ch: &Chapter) -> u32 {
    ch.slug[2..4]
        .parse()
        .expect("chapter slugs start with chNN")
}

fn find(arg: &str) -> Option<&'static Chapter> {
    CHAPTERS
        .iter()
        .find(|ch| ch.slug == arg || arg.parse::<u32>().is_ok_and(|n| n == number(ch)))
}

fn run(ch: &Chapter) -> bool {
    outln!("== {}: {} ==", ch.slug, ch.title);
    let mut p = Process::new(ch.main).with_name(ch.slug);
    match p.start().and_then(|()| p.join()) {
        Ok(status) if status.success() => true,
        Ok(status) => {
            forklore::errln!("tour: {} ended with exit status {status}", ch.slug);
            false
        }
        Err(e) => {
            forklore::errln!("tour: could not run {}: {e}", ch.slug);
            false
        }
    }
}

fn usage() -> String {
    "usage: tour [--list | CHAPTER...]\n\
     Runs every chapter in order, or the chapters named (by number, like 6, \
     or by name, like ch06_isolation)."
        .to_string()
}

fn main() -> ExitCode {
    // First thing: a process that a chapter starts by `spawn` or through
    // the fork server is a fresh run of this binary, and `init` runs the
    // chapter's function there instead of the tour (chapter 3).
    forklore::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chosen: Vec<&Chapter> = match args.first().map(String::as_str) {
        None => CHAPTERS.iter().collect(),
        Some("--list") => {
            for ch in CHAPTERS {
                outln!("{}  {}", ch.slug, ch.title);
            }
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help") => {
            outln!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Some(_) => {
            let mut v = Vec::new();
            for a in &args {
                match find(a) {
                    Some(ch) => v.push(ch),
                    None => {
                        forklore::errln!("tour: no chapter {a:?}; `tour --list` shows them");
                        return ExitCode::from(2);
                    }
                }
            }
            v
        }
    };
    let mut ok = true;
    for ch in chosen {
        ok &= run(ch);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
