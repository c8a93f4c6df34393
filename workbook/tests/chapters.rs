//! Every chapter binary runs under assert_cmd; its canonical output is pinned
//! in `workbook/snapshots/`, and predicates check the chapter's real claim.

use crate::common;

use common::{chapter, chapter_canon};
use predicates::prelude::*;
use regex::Regex;

#[test]
fn ch01_fork() {
    let canon = chapter_canon("ch01_fork");
    let parent_line =
        Regex::new(r"^I \((\d+)\) just created a child process \((\d+)\)\.$").unwrap();
    let child_line =
        Regex::new(r"^I am child process \((\d+)\) and my parent is (\d+)\.$").unwrap();
    for raw in chapter("ch01_fork", 5, &canon) {
        let (mut parent, mut child) = (None, None);
        for line in raw.lines() {
            if let Some(c) = parent_line.captures(line) {
                parent = Some((c[1].to_string(), c[2].to_string()));
            } else if let Some(c) = child_line.captures(line) {
                child = Some((c[1].to_string(), c[2].to_string()));
            } else {
                panic!("unexpected line {line:?}");
            }
        }
        let (ppid, child_pid) = parent.expect("the parent printed its line");
        let (own_pid, its_parent) = child.expect("the child printed its line");
        assert_eq!(
            child_pid, own_pid,
            "the pid fork() gave the parent is the child's pid"
        );
        assert_eq!(
            ppid, its_parent,
            "the child's parent is the process that forked it"
        );
        assert_ne!(ppid, own_pid);
    }
}

#[test]
fn ch02_process() {
    let canon = chapter_canon("ch02_process");
    for raw in chapter("ch02_process", 3, &canon) {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 4, "{raw}");
        assert!(predicate::str::starts_with("Parent process ").eval(lines[0]));
        assert_eq!(lines[1], "Child process will start.");
        assert!(
            predicate::str::is_match(r"^Run child process test \(\d+\)\.\.\.$")
                .unwrap()
                .eval(lines[2])
        );
        assert_eq!(lines[3], "Child process end.");
        let parent: &str = lines[0]
            .trim_start_matches("Parent process ")
            .trim_end_matches('.');
        assert!(
            !lines[2].contains(&format!("({parent})")),
            "the child has its own pid"
        );
    }
}

#[test]
fn ch06_isolation() {
    let canon = chapter_canon("ch06_isolation");
    for raw in chapter("ch06_isolation", 5, &canon) {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 11, "{raw}");
        let mut seen: Vec<i32> = lines[..10]
            .iter()
            .map(|l| {
                let list = l.strip_prefix("say hi ").expect("a child line");
                // Each child's list holds exactly one number: its own.
                let inner = list
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .unwrap();
                assert!(!inner.contains(','), "a child saw another's append: {l}");
                inner.parse().unwrap()
            })
            .collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(lines[10], "ending []", "the parent's list is untouched");
    }
}

#[test]
fn tour_lists_every_chapter_and_runs_one_by_number_or_name() {
    use common::{bin, root, run_ok, stdout};
    let mut chapters: Vec<String> = std::fs::read_dir(root().join("workbook/src/bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ch") && n.ends_with(".rs"))
        .map(|n| n.trim_end_matches(".rs").to_string())
        .collect();
    chapters.sort();
    let list = stdout(&run_ok("tour", &["--list"]));
    let listed: Vec<&str> = list
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(listed, chapters, "tour --list, in order");

    // `tour 6` and `tour ch06_isolation` run the same chapter under its header.
    let canon = chapter_canon("ch06_isolation");
    for arg in ["6", "ch06_isolation"] {
        let out = stdout(&run_ok("tour", &[arg]));
        let (header, rest) = out.split_once('\n').unwrap();
        assert_eq!(
            header,
            "== ch06_isolation: processes do not share memory =="
        );
        let alone = stdout(&run_ok("ch06_isolation", &[]));
        assert_eq!(canon.apply(rest), canon.apply(&alone));
    }

    // An unknown chapter is a clear error, not a silent no-op.
    bin("tour")
        .arg("99")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no chapter \"99\""));
}

#[test]
fn ch03_start_methods() {
    let canon = chapter_canon("ch03_start_methods");
    let hung = Regex::new(r"(?m)^fork: (\d+) of 5 children hung on the log's lock$").unwrap();
    for raw in chapter("ch03_start_methods", 2, &canon) {
        let first = raw.lines().next().unwrap();
        // forklore refuses, naming the thread count (the logger makes two).
        assert!(
            first.starts_with("fork: fork refused: this process has 2 threads"),
            "{raw}"
        );
        // Forked anyway (the unsafe opt-in), children hang on the lock the
        // logger held at the fork; the ones that got through said hello.
        let n: usize = hung.captures(&raw).expect("the fork count")[1]
            .parse()
            .unwrap();
        assert!(n >= 1, "no forked child hung:\n{raw}");
        let through = raw.lines().filter(|l| l.starts_with("fork child ")).count();
        assert_eq!(through, 5 - n, "{raw}");
        // forkserver and spawn: every child finished and said hello, in order.
        for method in ["forkserver", "spawn"] {
            assert!(
                raw.contains(&format!("{method}: 5 of 5 children finished")),
                "{raw}"
            );
            for i in 0..5 {
                assert!(
                    raw.contains(&format!("\n{method} child {i}: hello\n")),
                    "{raw}"
                );
            }
        }
    }
}
