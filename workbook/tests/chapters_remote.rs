//! The remote Manager chapter: canonical output pinned in
//! `workbook/snapshots/`, its claim checked run by run, and its roles in a
//! mixed fleet with the classic CPython master and workers
//! (`workbook/python/fleet/`). The roles' key handling and the runs across
//! network namespaces are tested in `tests/remote.rs`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{bin, chapter, chapter_canon, exe, root};

/// The numbers of the `result: n * n = n²` lines, each checked.
fn results(out: &str) -> Vec<u64> {
    let mut got: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("result: "))
        .map(|r| {
            let (n, rest) = r.split_once(" * ").unwrap();
            let (m, sq) = rest.split_once(" = ").unwrap();
            let n: u64 = n.parse().unwrap();
            assert_eq!(m.parse::<u64>().unwrap(), n, "{r}");
            assert_eq!(sq.parse::<u64>().unwrap(), n * n, "{r}");
            n
        })
        .collect();
    got.sort();
    got
}

#[test]
fn ch19_remote_manager() {
    let canon = chapter_canon("ch19_remote_manager");
    for raw in chapter("ch19_remote_manager", 3, &canon) {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 14, "{raw}");
        assert!(
            lines[0]
                .starts_with("master: serving get_task_queue and get_result_queue on 127.0.0.1:"),
            "{raw}"
        );
        assert_eq!(lines[1], "master: put 10 tasks");
        // Ten results, each number once, each squared.
        assert_eq!(results(&raw), (1..=10).collect::<Vec<_>>(), "{raw}");
        assert_eq!(
            lines[12],
            "master: all 10 results in; the sum of the squares is 385"
        );
        assert_eq!(lines[13], "master: shutting down");
    }
}

fn python3_or_skip() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 is not on PATH");
    }
    ok
}

/// The address in the first line a master prints (`... on HOST:PORT`).
fn served(line: &str) -> (String, String) {
    let addr = line.trim().rsplit(' ').next().unwrap();
    let (h, p) = addr.rsplit_once(':').unwrap();
    (h.to_string(), p.to_string())
}

/// A forklore master, two classic CPython workers (unmodified: they know
/// only the address, the names and the key).
#[test]
fn ch19_rust_master_serves_classic_cpython_workers() {
    if !python3_or_skip() {
        return;
    }
    let key = "fleet-key-1";
    let mut master = Command::new(exe("ch19_remote_manager"))
        .args(["master", "--bind", "127.0.0.1:0", "--tasks", "20"])
        .env("FORKLORE_AUTHKEY", key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(master.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let (host, port) = served(&first);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new("python3")
                .arg(root().join("workbook/python/fleet/ch19_worker.py"))
                .args([&host, &port])
                .env("FORKLORE_AUTHKEY", key)
                .env_remove("PYTHONUNBUFFERED")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect::<Vec<_>>();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(master.wait().unwrap().success(), "{rest}");
    let mut done = 0;
    for w in workers {
        let w = w.wait_with_output().unwrap();
        // The master lingers after the last result, so a classic worker
        // sees queue.Empty and ends cleanly, not with an EOFError.
        assert!(w.status.success(), "{w:?}");
        let text = String::from_utf8(w.stdout).unwrap();
        let n: u64 = text
            .trim()
            .strip_prefix("worker: done after ")
            .and_then(|t| t.strip_suffix(" tasks"))
            .unwrap_or_else(|| panic!("{text}"))
            .parse()
            .unwrap();
        done += n;
    }
    assert_eq!(done, 20, "{rest}");
    assert_eq!(results(&rest), (1..=20).collect::<Vec<_>>(), "{rest}");
    assert!(
        rest.ends_with(
            "master: all 20 results in; the sum of the squares is 2870\nmaster: shutting down\n"
        ),
        "{rest}"
    );
}

/// The classic CPython master, a forklore worker.
#[test]
fn ch19_rust_worker_serves_the_classic_cpython_master() {
    if !python3_or_skip() {
        return;
    }
    let key = "fleet-key-2";
    let mut master = Command::new("python3")
        .arg(root().join("workbook/python/fleet/ch19_master.py"))
        .args(["127.0.0.1", "0"])
        .env("FORKLORE_AUTHKEY", key)
        .env_remove("PYTHONUNBUFFERED")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(master.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let (host, port) = served(&first);
    let w = bin("ch19_remote_manager")
        .args([
            "worker",
            &format!("{host}:{port}"),
            "--name",
            "rust",
            "--work-ms",
            "1",
        ])
        .env("FORKLORE_AUTHKEY", key)
        .output()
        .unwrap();
    let wout = String::from_utf8(w.stdout).unwrap();
    assert!(
        w.status.success(),
        "{wout}\n{}",
        String::from_utf8_lossy(&w.stderr)
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(master.wait().unwrap().success(), "{rest}");
    assert_eq!(results(&rest), (1..=10).collect::<Vec<_>>(), "{rest}");
    assert!(rest.ends_with("master: done\n"), "{rest}");
    // The worker did all ten, and left when the master shut down (or the
    // queue stayed empty), not with an error.
    assert!(
        wout.ends_with("rust: no more tasks; leaving after 10 tasks\n"),
        "{wout}"
    );
}
