//! `forklore::ProcessPoolExecutor` semantics, checked against CPython's
//! `concurrent.futures.ProcessPoolExecutor`
//! (`shared/reference/python-semantics.md`). Each case runs in the `fx_pool`
//! fixture, a fresh single-threaded process.

use crate::common;

use common::{run_ok, stdout, value};
use predicates::prelude::*;

fn case(name: &str) -> String {
    stdout(&run_ok("fx_pool", &["executor", name]))
}

#[test]
fn submit_map_and_future_queries() {
    let out = case("basic");
    assert_eq!(
        value(&out, "zero"),
        "max_workers must be at least 1 (got 0)"
    );
    assert_eq!(value(&out, "result"), "49");
    assert_eq!(value(&out, "done"), "true running=false cancelled=false");
    assert_eq!(value(&out, "exception"), "None");
    assert!(
        value(&out, "bad_exception").starts_with("task panicked in a worker process: boom 5"),
        "{out}"
    );
    assert_eq!(value(&out, "bad_result_is_panic"), "true");
    assert_eq!(value(&out, "map"), "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    assert_eq!(
        value(&out, "map_chunksize_zero"),
        "chunksize must be at least 1 (got 0)"
    );
    // The map iterator raises at the failed item, then ends (a generator
    // that raised is finished).
    assert_eq!(value(&out, "map_with_error"), "0,2,err(true)");
    assert_eq!(
        value(&out, "submit_after_shutdown"),
        "cannot schedule new futures after shutdown"
    );
    assert_eq!(value(&out, "children_after_shutdown"), "0");
}

#[test]
fn cancel_only_what_has_not_started() {
    let out = case("cancel");
    assert_eq!(value(&out, "cancel_running"), "false");
    assert_eq!(value(&out, "running_running"), "true");
    assert_eq!(value(&out, "cancel_queued"), "true");
    assert_eq!(value(&out, "queued_cancelled"), "true done=true");
    let cancelled = "the task was cancelled before it finished";
    assert_eq!(value(&out, "queued_result"), cancelled);
    assert_eq!(value(&out, "queued_exception"), cancelled);
    assert_eq!(value(&out, "running_result"), "300");
    assert_eq!(value(&out, "cancel_after_done"), "false");
}

#[test]
fn shutdown_with_cancel_futures() {
    // One worker, five 200 ms tasks: the first runs, the four queued ones are
    // cancelled, and shutdown(wait) returns after the first alone.
    let out = case("shutdown_cancel");
    assert_eq!(
        value(&out, "states"),
        "ok 200,cancelled,cancelled,cancelled,cancelled"
    );
    assert_eq!(value(&out, "shutdown_ms_under_1000"), "true");
    assert_eq!(
        value(&out, "submit_after"),
        "cannot schedule new futures after shutdown"
    );
    assert_eq!(value(&out, "children_after"), "0");
}

#[test]
fn shutdown_without_wait_returns_at_once_and_work_completes() {
    let out = case("shutdown_nowait");
    assert_eq!(value(&out, "returned_at_once"), "true");
    assert_eq!(value(&out, "queued_work_completed"), "[200, 200, 200]");
    assert_eq!(value(&out, "children_after_drop"), "0");
}

#[test]
fn map_timeout_counts_from_the_call() {
    let out = case("map_timeout");
    assert_eq!(value(&out, "first"), "Some(10)");
    assert_eq!(value(&out, "second"), "map timed out after 300ms");
    assert_eq!(value(&out, "timed_out_near_300"), "true");
    assert_eq!(value(&out, "then"), "None");
}

#[test]
fn as_completed_yields_in_completion_order() {
    let out = case("as_completed");
    assert_eq!(value(&out, "order"), "[10, 250, 500]");
    assert_eq!(
        value(&out, "with_timeout"),
        "20 | as_completed timed out after 300ms"
    );
    assert_eq!(value(&out, "timed_out_near_300"), "true");
    assert_eq!(value(&out, "two_executors"), "[10, 300]");
}

#[test]
fn a_killed_worker_breaks_the_executor_without_hanging() {
    let out = case("sigkill");
    assert_eq!(value(&out, "finished_before"), "16");
    assert!(
        predicate::str::is_match(
            r"^a child process terminated abruptly \(worker \d+, killed by SIGKILL\); the process pool is not usable anymore$"
        )
        .unwrap()
        .eval(value(&out, "killer")),
        "{out}"
    );
    assert_eq!(value(&out, "killer_is_broken"), "true");
    // Every pending future fails, the finished one keeps its result, and
    // later submits fail the same way.
    assert_eq!(value(&out, "pending_broken"), "[true, true, true, true]");
    assert_eq!(value(&out, "finished_keeps_result"), "16");
    assert!(value(&out, "submit_after").starts_with("a child process terminated abruptly"));
    assert_eq!(value(&out, "fast"), "true", "{out}");
    assert_eq!(value(&out, "children_after"), "0");
}

#[test]
fn initializer_runs_once_per_worker_and_a_failing_one_breaks_the_pool() {
    let out = case("initializer");
    assert_eq!(value(&out, "init_runs_seen"), "[1, 1, 1, 1, 1, 1]");
    assert!(
        predicate::str::is_match(
            r"^a child process terminated abruptly \(worker \d+, exit code 1\); the process pool is not usable anymore$"
        )
        .unwrap()
        .eval(value(&out, "bad_initializer")),
        "{out}"
    );
    assert_eq!(value(&out, "submit_after"), "true");
}

#[test]
fn a_worker_killed_while_idle_breaks_the_executor() {
    // CPython watches every worker, idle or not: any abrupt death breaks
    // the pool. The map's first item reports it and the iterator ends.
    let out = case("idle_killed");
    let broken = predicate::str::is_match(
        r"^a child process terminated abruptly \(worker \d+, killed by SIGKILL\); the process pool is not usable anymore$",
    )
    .unwrap();
    assert!(broken.eval(value(&out, "map_after_idle_kill")), "{out}");
    assert!(broken.eval(value(&out, "submit_after")), "{out}");
    assert_eq!(value(&out, "children_after"), "0");
}

#[test]
fn max_tasks_per_child_with_a_backlog_does_not_hang() {
    // CPython 3.11-3.13 can hang here (gh-115634).
    let out = case("max_tasks");
    assert_eq!(value(&out, "distinct_pids"), "20");
    assert_eq!(value(&out, "fast"), "true");
    assert_eq!(value(&out, "children_after_drop"), "0");
}

#[test]
fn drop_waits_for_submitted_work() {
    let out = case("drop_waits");
    assert_eq!(value(&out, "drop_waited"), "true");
    assert_eq!(value(&out, "result_after_drop"), "300");
    assert_eq!(value(&out, "children_after_drop"), "0");
}

// ---- issue 13 ---------------------------------------------------------------

fn both(name: &str) -> [String; 2] {
    [
        case(name),
        stdout(&run_ok("fx_pool", &["bg-executor", name])),
    ]
}

/// CPython's test_concurrent_futures/test_wait.py: test_first_completed,
/// test_first_exception, test_all_completed, test_timeout.
#[test]
fn wait_with_return_when() {
    for out in both("wait") {
        assert_eq!(
            value(&out, "first_completed done"),
            "1 not_done=1 quick=true",
            "{out}"
        );
        assert_eq!(
            value(&out, "first_exception done"),
            "1 not_done=1 quick=true",
            "{out}"
        );
        assert_eq!(value(&out, "all_completed done"), "2 not_done=0", "{out}");
        assert_eq!(
            value(&out, "timeout done"),
            "1 not_done=1 bounded=true",
            "{out}"
        );
        assert_eq!(value(&out, "finished_first_exception done"), "2", "{out}");
    }
}

/// Issue 13: dropping `map`'s iterator cancels the chunks not started, so
/// the shutdown that follows waits only for the one running (it waited for
/// all seven left, 2.1 s).
#[test]
fn dropping_the_map_iterator_cancels_what_has_not_started() {
    for out in both("map_drop") {
        assert_eq!(value(&out, "first"), "300", "{out}");
        assert_eq!(value(&out, "shutdown_quick"), "true", "{out}");
    }
}

/// Issue 13: `submit` of 8 MiB returns at once behind a stopped worker.
#[test]
fn a_large_submit_returns_at_once_behind_a_stopped_worker() {
    for out in both("big_arg_stopped") {
        assert!(crate::pool::returned_at_once(&out), "{out}");
        assert_eq!(value(&out, "result_timeout"), "true bounded=true", "{out}");
        assert_eq!(value(&out, "result"), (8 << 20).to_string(), "{out}");
    }
}

/// Every wait has a form its timeout bounds: `shutdown(wait=True)` too.
#[test]
fn shutdown_with_a_timeout_is_bounded() {
    for out in both("shutdown_timeout") {
        assert_eq!(value(&out, "shutdown_timeout"), "false", "{out}");
        assert_eq!(value(&out, "bounded"), "true", "{out}");
        assert_eq!(
            value(&out, "submit_after"),
            "cannot schedule new futures after shutdown",
            "{out}"
        );
        assert_eq!(value(&out, "result"), "800", "{out}");
        assert_eq!(value(&out, "second"), "true", "{out}");
        assert_eq!(value(&out, "children_after"), "0", "{out}");
    }
}
