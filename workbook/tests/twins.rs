//! Each chapter's Python twin (`workbook/python/chNN_slug.py`) against the
//! chapter binary: run both, canonicalize both the same way, require equality.
//!
//! The twins run with stdout block-buffered (PYTHONUNBUFFERED removed from
//! their environment), as a plain `python3 x.py | cat` does. Unbuffered,
//! Python's `print` tears lines between processes; that difference is not
//! compared away but asserted on its own in
//! `python_print_is_several_writes_and_outln_is_one`.

use crate::common;

use std::process::Command;

use common::{bin, chapter_canon, root, run_ok, stdout, TempDir};

fn python3() -> Option<String> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some("python3".into())
    } else {
        eprintln!("skipped: python3 is not on PATH, so the Python twins cannot be run");
        None
    }
}

fn twins() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("workbook/python"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".py").map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Chapters whose twin must differ from the binary, with the reason; the
/// difference is asserted by a dedicated test.
const DIFFERENT: &[(&str, &str)] = &[];

#[test]
fn every_chapter_has_a_python_twin() {
    let bins: Vec<String> = std::fs::read_dir(root().join("workbook/src/bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ch") && n.ends_with(".rs"))
        .map(|n| n.trim_end_matches(".rs").to_string())
        .collect();
    for b in &bins {
        assert!(
            twins().contains(b),
            "{b} has no twin workbook/python/{b}.py"
        );
    }
}

#[test]
fn twins_print_what_the_chapters_print() {
    let Some(py) = python3() else { return };
    for name in twins() {
        if DIFFERENT.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let canon = chapter_canon(&name);
        // Both run in a private folder that holds only a.txt and b.txt, the
        // article's folder, for the chapters that list it.
        let dir = TempDir::new(&format!("twin-{name}"));
        dir.file("a.txt", "");
        dir.file("b.txt", "");
        for run in 0..3 {
            let py_out = Command::new(&py)
                .arg(root().join(format!("workbook/python/{name}.py")))
                .env_remove("PYTHONUNBUFFERED")
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(py_out.status.success(), "{name}.py failed: {py_out:?}");
            let py_text = String::from_utf8(py_out.stdout).unwrap();
            let rust_out = bin(&name)
                .current_dir(dir.path())
                .assert()
                .success()
                .get_output()
                .clone();
            let rust_text = stdout(&rust_out);
            assert_eq!(
                canon.apply(&py_text),
                canon.apply(&rust_text),
                "{name} (run {run}): the Python twin and the Rust chapter differ\n\
                 python:\n{py_text}\nrust:\n{rust_text}"
            );
        }
    }
}

/// The reason the article's programs tear their lines, measured the same
/// way on both sides: the `syscw` counter of `/proc/self/io` counts the
/// process's write system calls.
#[test]
fn python_print_is_several_writes_and_outln_is_one() {
    let Some(py) = python3() else { return };
    let probe = r#"
import sys
def syscw():
    with open('/proc/self/io') as f:
        return int(next(l for l in f if l.startswith('syscw')).split()[1])
before = syscw()
print('say hi', [0, 2, 1])
after = syscw()
print('writes', after - before)
"#;
    let out = Command::new(&py)
        .args(["-u", "-c", probe])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let writes: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("writes "))
        .unwrap()
        .parse()
        .unwrap();
    // The probe's own read of /proc/self/io makes no write; 'say hi', the
    // space, the list and the newline each became a write(2).
    assert!(
        writes >= 2,
        "unbuffered print made {writes} writes:\n{text}"
    );

    let rust = stdout(&run_ok("fx_process", &["syscw"]));
    assert_eq!(rust.lines().last().unwrap(), "writes 1", "{rust}");
}

/// Chapter 15's one line that differs on purpose: in CPython the producer
/// that put five 100 kB items is still alive after `join(timeout=2)`, since
/// its feeder thread waits for room in the 64 kB pipe (the "joining
/// processes that use queues" trap); `chapters_shared::ch15_queue` pins
/// forklore's `false`.
#[test]
fn ch15_queue_twin_producer_is_alive_after_join_in_cpython() {
    let Some(py) = python3() else { return };
    let out = Command::new(&py)
        .arg(root().join("workbook/python/ch15_queue.py"))
        .env_remove("PYTHONUNBUFFERED")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\njoin before get: alive after join: True\n"),
        "{text}"
    );
}
