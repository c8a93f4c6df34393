//! Chapters 4 and 5, `Pool` and `ProcessPoolExecutor`: each binary runs
//! under assert_cmd, its canonical output is pinned in `workbook/snapshots/`, and
//! explicit checks assert the chapter's claim on every run's raw output.

use crate::common;

use common::{chapter, chapter_canon, chapter_with};
use regex::Regex;

/// Chapter 4's claims on one raw run: four tasks start at once in four
/// workers; the fifth starts only after one of them has finished, in that
/// worker; `join` makes the last line wait for all.
fn check_ch03(raw: &str) {
    let lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines.len(), 13, "{raw}");
    let parent = lines[0]
        .strip_prefix("Parent process ")
        .and_then(|l| l.strip_suffix('.'))
        .unwrap_or_else(|| panic!("first line: {raw}"));
    assert_eq!(lines[12], "All subprocesses done.", "{raw}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == "Waiting for all subprocesses done...")
            .count(),
        1,
        "{raw}"
    );
    let run = Regex::new(r"^Run task (\d) \((\d+)\)\.\.\.$").unwrap();
    let done = Regex::new(r"^Task (\d) runs (\d+\.\d\d) seconds\.$").unwrap();
    // For each task: (line of `Run task`, pid), (line of `Task i runs`, seconds).
    let mut started: [Option<(usize, String)>; 5] = Default::default();
    let mut finished: [Option<(usize, f64)>; 5] = Default::default();
    for (at, line) in lines.iter().enumerate() {
        if let Some(c) = run.captures(line) {
            let i: usize = c[1].parse().unwrap();
            assert!(started[i].replace((at, c[2].to_string())).is_none());
        } else if let Some(c) = done.captures(line) {
            let i: usize = c[1].parse().unwrap();
            assert!(finished[i].replace((at, c[2].parse().unwrap())).is_none());
        }
    }
    let started: Vec<(usize, String)> = started.into_iter().map(Option::unwrap).collect();
    let finished: Vec<(usize, f64)> = finished.into_iter().map(Option::unwrap).collect();
    for i in 0..5 {
        assert!(
            started[i].0 < finished[i].0,
            "task {i} ended before it began:\n{raw}"
        );
        assert_ne!(started[i].1, parent, "task {i} ran in the parent:\n{raw}");
        // FORKLORE_CH04_SCALE=0.1: every sleep is under 0.3 s.
        assert!(finished[i].1 < 1.3, "task {i} slept too long:\n{raw}");
    }
    let mut first_four: Vec<&str> = started[..4].iter().map(|s| s.1.as_str()).collect();
    first_four.sort();
    first_four.dedup();
    assert_eq!(first_four.len(), 4, "tasks 0-3 share a worker:\n{raw}");
    // The fifth task starts only when a worker frees up, and runs in it.
    let (run4, pid4) = &started[4];
    let freed: Vec<&str> = (0..4)
        .filter(|&i| finished[i].0 < *run4)
        .map(|i| started[i].1.as_str())
        .collect();
    assert!(
        !freed.is_empty(),
        "task 4 started before any task finished:\n{raw}"
    );
    assert!(
        freed.contains(&pid4.as_str()),
        "task 4 ran in {pid4}, which had not finished a task:\n{raw}"
    );
}

#[test]
fn ch04_pool() {
    for raw in chapter_with("ch04_pool", 5, &chapter_canon("ch04_pool"), |cmd| {
        cmd.env("FORKLORE_CH04_SCALE", "0.1");
    }) {
        check_ch03(&raw);
    }
}

/// What CPython 3.11 prints for the same program (`workbook/python/ch05_executor.py`).
const CH04_CPYTHON: &str = "\
112272535095293 is prime: True
112582705942171 is prime: True
112272535095293 is prime: True
115280095190773 is prime: True
115797848077099 is prime: True
1099726899285419 is prime: False
";

#[test]
fn ch05_executor() {
    // Fully deterministic: no canonicalization at all.
    for raw in chapter("ch05_executor", 3, &chapter_canon("ch05_executor")) {
        assert_eq!(raw, CH04_CPYTHON);
    }
}
