//! `forklore::Process` semantics, checked against what CPython does
//! (`shared/reference/python-semantics.md`). Each case runs in the
//! `fx_process` fixture, a fresh single-threaded process, because forking
//! inside this multithreaded test harness would not be sound.

use crate::common;

use common::{run_ok, stderr, stdout, value};
use predicates::prelude::*;

#[test]
fn panic_in_child_exits_1_with_python_style_header() {
    let out = run_ok("fx_process", &["panic"]);
    assert_eq!(value(&stdout(&out), "exitcode"), "1");
    let err = stderr(&out);
    assert!(
        predicate::str::is_match(
            r"(?m)^Process Process-1:\npanicked at .*fx_process\.rs:\d+:\d+:\nboom in the child$"
        )
        .unwrap()
        .eval(&err),
        "stderr was:\n{err}"
    );
}

/// Starting a process leaves the caller's process-wide panic hook as it
/// was (the child installs its own), and the child still reports its panic
/// with Python's header.
#[test]
fn starting_a_process_leaves_the_callers_panic_hook_in_place() {
    let out = run_ok("fx_process", &["hook_kept"]);
    let text = stdout(&out);
    assert_eq!(value(&text, "exitcode"), "1");
    assert_eq!(value(&text, "hook_kept"), "true");
    assert!(
        stderr(&out).contains("Process Process-1:\npanicked at"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_3_gives_exitcode_3() {
    let out = run_ok("fx_process", &["exit3"]);
    assert_eq!(value(&stdout(&out), "exitcode"), "3");
}

#[test]
fn terminate_gives_minus_15_and_kill_minus_9() {
    let out = stdout(&run_ok("fx_process", &["terminate"]));
    assert_eq!(value(&out, "exitcode"), "-15");
    assert_eq!(value(&out, "signal"), "Some(SIGTERM)");
    let out = stdout(&run_ok("fx_process", &["kill"]));
    assert_eq!(value(&out, "exitcode"), "-9");
    assert_eq!(value(&out, "signal"), "Some(SIGKILL)");
}

#[test]
fn a_real_time_signal_is_reported_not_lost() {
    let out = stdout(&run_ok("fx_process", &["rt_signal"]));
    assert_eq!(value(&out, "exitcode"), "-35");
    assert_eq!(value(&out, "status"), "SignaledOther(35)");
    assert_eq!(value(&out, "reaped"), "true");
}

#[test]
fn lifecycle_matches_python() {
    let out = stdout(&run_ok("fx_process", &["lifecycle"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "before_start pid=None exitcode=None alive=false");
    assert_eq!(
        lines[1],
        "join_before_start=can only join a started process (Process-1 has not been started; call start() first)"
    );
    assert_eq!(lines[2], "alive_after_start=true");
    // join(timeout) returns after the timeout, the child still alive.
    assert_eq!(
        lines[3],
        "join_timeout_result=None waited_ms_at_least_50=true"
    );
    assert_eq!(lines[4], "alive_after_timeout=true exitcode=None");
    assert_eq!(
        lines[5],
        "start_twice=cannot start a process twice (Process-1 was already started)"
    );
    assert_eq!(lines[6], "set_daemon_after_start=true");
    assert_eq!(lines[7], "joined exitcode=0 alive=false");
    // Reaped: no zombie left in /proc (checked by the parent, before exit).
    assert_eq!(value(&out, "in_proc_after_join"), "false", "{out}");
}

#[test]
fn join_timeout_accepts_a_timeout_too_large_for_a_deadline() {
    let out = stdout(&run_ok("fx_process", &["join_timeout_max"]));
    assert_eq!(value(&out, "join_timeout_max"), "0", "{out}");
}

#[test]
fn names_and_current_process() {
    let out = stdout(&run_ok("fx_process", &["names"]));
    assert_eq!(value(&out, "names"), "Process-1 Process-2");
    let main = out.lines().find(|l| l.starts_with("main ")).unwrap();
    let child = out.lines().find(|l| l.starts_with("child ")).unwrap();
    let field = |l: &str, k: &str| {
        l.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    assert_eq!(field(main, "name"), "MainProcess");
    assert_eq!(field(child, "name"), "worker");
    assert_eq!(
        field(child, "ppid"),
        field(main, "pid"),
        "the child's parent is the main process"
    );
    assert_ne!(field(child, "pid"), field(main, "pid"));
}

#[test]
fn child_never_repeats_parent_buffers_or_destructors() {
    let out = stdout(&run_ok("fx_process", &["no_double"]));
    assert_eq!(out.matches("buffered-before-fork").count(), 1, "{out}");
    assert_eq!(out.matches("drop ran in").count(), 1, "{out}");
    assert_eq!(out.matches("child ran").count(), 1, "{out}");
    // The drop ran in the parent, after its last line, not in the child.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[lines.len() - 2], "parent done", "{out}");
    assert!(lines[lines.len() - 1].starts_with("drop ran in "), "{out}");
}

#[test]
fn dropping_a_daemon_terminates_and_reaps_it() {
    let out = stdout(&run_ok("fx_process", &["drop_daemon"]));
    assert_eq!(value(&out, "drop_was_quick"), "true");
    assert_eq!(
        value(&out, "in_proc_after_drop"),
        "false",
        "the daemon child survived its handle, or was left a zombie:\n{out}"
    );
}

#[test]
fn dropping_a_non_daemon_joins_it() {
    let out = stdout(&run_ok("fx_process", &["drop_nondaemon"]));
    // The child's line comes before "dropped": the drop waited for it.
    assert_eq!(
        out.lines().take(2).collect::<Vec<_>>(),
        ["child finished", "dropped"]
    );
    assert_eq!(
        value(&out, "in_proc_after_drop"),
        "false",
        "zombie left:\n{out}"
    );
}

#[test]
fn the_process_that_starts_a_handle_is_the_one_that_joins_it_on_drop() {
    // The handle was made in the main process and moved into a child's
    // target; the child started it, so the child's drop must join it.
    let out = stdout(&run_ok("fx_process", &["started_elsewhere"]));
    assert_eq!(
        out.lines().take(2).collect::<Vec<_>>(),
        ["grandchild finished", "dropped in child"],
        "{out}"
    );
    assert_eq!(value(&out, "in_proc_after_drop"), "false", "{out}");
    assert_eq!(value(&out, "child exitcode"), "0", "{out}");
}

#[test]
fn forking_a_threaded_process_is_refused_with_the_thread_count() {
    let out = run_ok("fx_process", &["threaded"]);
    let err = stderr(&out);
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(
        stdout(&out),
        "refused=fork refused: this process has 2 threads\nrefused=fork refused: this process has 2 threads\ndone\n"
    );
}
