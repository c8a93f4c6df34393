//! The subprocess chapters (13 to 15) under assert_cmd: each one's canonical
//! output is pinned in `workbook/snapshots/`, and its real claim is checked
//! explicitly. Chapters that list a folder run in a private temp dir that
//! holds only `a.txt` and `b.txt`, as in the article.

use crate::common;

use common::{chapter, chapter_canon, chapter_with, run_ok, stdout, TempDir};
use predicates::prelude::*;

/// A private folder holding only `a.txt` and `b.txt`.
fn article_folder(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.file("a.txt", "");
    dir.file("b.txt", "");
    dir
}

#[test]
fn ch16_popen() {
    // The claim the output makes is the set of lines, with `ls`'s listing in
    // its own order. "parent process" first is a race the parent almost
    // always wins (CPython: 30 of 30 runs), not a guarantee, so the
    // canonical form hoists it to where CPython prints it; the asynchrony
    // itself is proven deterministically by the next test.
    let dir = article_folder("ch16");
    let canon = chapter_canon("ch16_popen");
    // The rare run where ls wins canonicalizes to the same form.
    assert_eq!(
        canon.apply("a.txt\nparent process\nb.txt\n"),
        "parent process\na.txt\nb.txt\n"
    );
    let raws = chapter_with("ch16_popen", 5, &canon, |cmd| {
        cmd.current_dir(dir.path());
    });
    for raw in raws {
        let mut lines: Vec<&str> = raw.lines().collect();
        let listing: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| *l != "parent process")
            .collect();
        assert_eq!(
            listing,
            ["a.txt", "b.txt"],
            "ls's own lines, in order:\n{raw}"
        );
        lines.sort();
        assert_eq!(lines, ["a.txt", "b.txt", "parent process"], "{raw}");
    }
}

#[test]
fn ch16_popen_returns_while_the_child_still_runs() {
    // `cat` with a piped stdin cannot end before the parent closes the pipe,
    // so a `poll()` right after `Popen` returns must see it running.
    let out = stdout(&run_ok("fx_subprocess", &["popen_async"]));
    assert_eq!(
        out,
        "poll_after_popen=None\nreturncode_after_popen=None\nwait_after_closing_stdin=0\n"
    );
}

#[test]
fn ch17_communicate() {
    // Deterministic: the timeout leaves sh/sleep running, the kill ends it.
    let raws = chapter("ch17_communicate", 3, &chapter_canon("ch17_communicate"));
    for raw in raws {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 6, "{raw}");
        assert_eq!(lines[0], "tr answered: HELLO FROM THE PARENT");
        assert_eq!(lines[1], "tr exited with 0");
        assert!(
            predicate::str::is_match(r"^Command '.*' timed out after 1 seconds$")
                .unwrap()
                .eval(lines[2]),
            "{raw}"
        );
        assert_eq!(
            lines[3], "after the timeout, poll() = None",
            "the timeout must not kill the child"
        );
        assert_eq!(
            lines[4], "after kill(), communicate() returned: started",
            "what was written before the timeout is not lost"
        );
        assert_eq!(lines[5], "returncode -9", "killed by SIGKILL shows as -9");
    }
}

#[test]
fn ch18_pipeline() {
    let dir = article_folder("ch18");
    let raws = chapter_with("ch18_pipeline", 3, &chapter_canon("ch18_pipeline"), |cmd| {
        cmd.current_dir(dir.path());
    });
    for raw in raws {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 6, "{raw}");
        // Two files, counted the same way with and without a shell.
        assert_eq!(lines[0], "ls | wc -l, two Popens joined by a pipe: 2");
        assert_eq!(lines[1], "ls exited with 0 and wc with 0");
        assert_eq!(lines[2], "ls | wc -l, run by /bin/sh: 2");
        // Python's CalledProcessError message, word for word.
        assert_eq!(
            lines[3],
            "Command '['ls', 'no-such-file']' returned non-zero exit status 2."
        );
        assert_eq!(lines[4], "returncode 2");
        assert!(
            predicate::str::contains("no-such-file").eval(lines[5]),
            "the error carries ls's stderr: {raw}"
        );
    }
}
