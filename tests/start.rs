//! Start methods in programs that have threads (issue 12). Every case runs
//! in the `fx_start` fixture, whose busy threads print to stdout (sent to
//! /dev/null here, so that printing is fast and stdout's lock is nearly
//! always held), allocate and hold mutexes. Every wait in the fixture is
//! bounded, so a hung child is counted, never waited for.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run `fx_start` with `args`, stdout to /dev/null; return its stderr.
fn run(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fx_start"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("fx_start {args:?} did not finish in 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "fx_start {args:?}: {err}");
    err
}

fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {text}"))
}

#[test]
fn fork_in_a_threaded_process_is_refused_and_starts_no_child() {
    let err = run(&["fork_refused", "20"]);
    assert_eq!(value(&err, "started"), "0", "{err}");
    assert_eq!(value(&err, "refused"), "20", "{err}");
    assert_eq!(value(&err, "all_fork_with_threads"), "true", "{err}");
    assert!(
        value(&err, "error").starts_with("fork refused: this process has 9 threads"),
        "{err}"
    );
}

/// The measured finding: with a second thread printing, 15 of 20 empty
/// children hung for ever in `exit_child`'s flush of stdout. Opted in with
/// `start_with_threads`, the child's exit path now takes no lock.
#[test]
fn children_forked_with_threads_never_hang_on_stdout() {
    let err = run(&["fork_with_threads", "20"]);
    assert_eq!(value(&err, "hung"), "0", "{err}");
    assert_eq!(value(&err, "ok"), "20", "{err}");
}

/// The issue's fixture: 8 threads print, allocate and hold mutexes while
/// the main thread starts 1,000 children by forkserver (8 at a time); each
/// child returns, exits with 3 or panics, by its index.
#[test]
fn forkserver_starts_1000_children_from_a_threaded_program() {
    let err = run(&["forkserver", "1000"]);
    assert_eq!(value(&err, "hung"), "0", "{err}");
    assert_eq!(value(&err, "wrong"), "0", "{err}");
    assert_eq!(value(&err, "ok"), "1000", "{err}");
    // No thread of forklore's making is left in the caller.
    assert_eq!(value(&err, "threads_at_end"), "1", "{err}");
}

/// The same with 200 children by spawn.
#[test]
fn spawn_starts_200_children_from_a_threaded_program() {
    let err = run(&["spawn", "200"]);
    assert_eq!(value(&err, "hung"), "0", "{err}");
    assert_eq!(value(&err, "wrong"), "0", "{err}");
    assert_eq!(value(&err, "ok"), "200", "{err}");
    assert_eq!(value(&err, "threads_at_end"), "1", "{err}");
}

fn semantics(method: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_fx_start"))
        .args(["semantics", method])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let expected = format!(
        "hello from greeter
hello exitcode=0
child 2 \"Process-2\"
panic exitcode=1
child 1 \"Process-3\"
exit3 exitcode=3
terminate alive=true
terminate join_timeout=None
terminate exitcode=-15 alive=false exitcode_again=Some(-15)
kill alive=true
kill join_timeout=None
kill exitcode=-9 alive=false exitcode_again=Some(-9)
join_before_start=can only join a started process (Process-6 has not been started; call start() first)
start_twice=cannot start a process twice (Process-6 was already started)
closure=invalid argument: Process-7 runs a closure, which only the fork start method can start (a fresh process has none of this one's memory); use Process::from_fn with a fn item and serde arguments for {method}
"
    );
    assert_eq!(stdout, expected);
    let header = regex::Regex::new(
        r"(?m)^Process Process-2:\npanicked at .*fx_start\.rs:\d+:\d+:\nchild 2 panics$",
    )
    .unwrap();
    assert!(header.is_match(&stderr), "{stderr}");
}

/// join, exitcode, is_alive, terminate (-15), kill (-9), a panic (1 with
/// the `Process Process-N:` header), exit(3), the child's stdout and the
/// handle's errors are those of fork.
#[test]
fn a_forkserver_child_behaves_as_a_forked_one() {
    semantics("forkserver");
}

#[test]
fn a_spawned_child_behaves_as_a_forked_one() {
    semantics("spawn");
}

#[test]
fn spawn_without_init_is_a_clear_error_and_starts_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_fx_process"))
        .arg("spawn_without_init")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    for method in ["spawn", "forkserver"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{method}:")))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains("not_initialized=true pid=None"), "{line}");
        assert!(
            line.contains("need forklore::init() as the first call in main"),
            "{line}"
        );
    }
}

/// A spawned child locates its function by offset: it refuses to run when
/// the executable on disk is no longer the one its parent started from.
#[test]
fn spawn_refuses_when_the_executable_changed_on_disk() {
    let dir = std::env::temp_dir().join(format!("forklore-exe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("fx_start_copy");
    std::fs::copy(env!("CARGO_BIN_EXE_fx_start"), &exe).unwrap();
    let out = Command::new(&exe).arg("exe_changed").output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("exitcode=1"), "{stderr}");
    assert!(
        stderr.contains("forklore: spawned process: the executable changed on disk"),
        "{stderr}"
    );
    assert!(!stderr.contains("never from"), "{stderr}");
}

/// With a live proxy and its manager's server stopped (SIGSTOP), the old
/// `pthread_atfork` handler made every fork of the process, even std's
/// `Command` with `pre_exec`, wait for the server (8 s measured). No hook
/// is installed now: such a fork takes as long as with no manager. The
/// bound is generous (the slowest of 5 forks, plus half a second).
#[test]
fn a_fork_forklore_did_not_make_does_not_wait_for_a_stopped_manager() {
    let err = run(&["pre_exec_stopped_manager"]);
    let without: u64 = value(&err, "without_ms").parse().unwrap();
    let stopped: u64 = value(&err, "stopped_ms").parse().unwrap();
    assert!(stopped < without + 500, "{err}");
    assert_eq!(value(&err, "list"), "[1]", "{err}");
}

/// A dropped `Popen` whose child still ran used to start a reaper thread,
/// after which the process had 2 threads and a fork was refused. Now the
/// child is reaped by the next call, and no thread appears.
#[test]
fn a_dropped_popen_starts_no_thread_and_is_reaped_by_a_later_call() {
    let err = run(&["dropped_popen"]);
    assert_eq!(value(&err, "threads_after_drop"), "1", "{err}");
    assert_eq!(value(&err, "zombie_before_next_call"), "true", "{err}");
    assert_eq!(value(&err, "reaped_after_next_call"), "true", "{err}");
    assert_eq!(value(&err, "fork_after_drop"), "Ok(0)", "{err}");
}

/// Manager::start from a program with 8 busy threads: its server is
/// spawned (under spawn and forkserver alike; it stays our child, so it is
/// reaped on shutdown), and fork is refused with the thread count.
#[test]
fn a_manager_starts_from_a_threaded_program_by_spawn_and_forkserver() {
    for method in ["spawn", "forkserver"] {
        let err = run(&["manager", method]);
        assert_eq!(value(&err, "list"), "[0, 1, 2, 3]", "{method}: {err}");
        assert_eq!(
            value(&err, "server_is_our_child"),
            "true",
            "{method}: {err}"
        );
        assert_eq!(value(&err, "shutdown"), "Some(0)", "{method}: {err}");
        assert_eq!(value(&err, "server_reaped"), "true", "{method}: {err}");
    }
    let err = run(&["manager", "fork"]);
    assert!(
        value(&err, "error").starts_with("fork refused: this process has 9 threads"),
        "{err}"
    );
}

/// A Pool (map, a worker's death and its replacement, close and join) and
/// an executor, created and used from a program with 8 busy threads, their
/// workers spawned; by fork, the pool is refused with the thread count.
#[test]
fn pools_start_from_a_threaded_program_by_spawn_and_forkserver() {
    for method in ["spawn", "forkserver"] {
        let err = run(&["pool", method]);
        assert_eq!(value(&err, "map_ok"), "true", "{method}: {err}");
        assert_eq!(value(&err, "worker_death"), "true", "{method}: {err}");
        assert_eq!(value(&err, "after_replacement"), "144", "{method}: {err}");
        assert_eq!(value(&err, "executor"), "81", "{method}: {err}");
        assert!(
            value(&err, "initializer").contains("only the fork start method can run"),
            "{method}: {err}"
        );
    }
    let err = run(&["pool", "fork"]);
    assert!(
        value(&err, "error").starts_with("fork refused: this process has 9 threads"),
        "{err}"
    );
}

/// After `forklore::init()`, with the default method (forkserver), a Pool
/// and a Manager are created from a threaded program without naming a
/// method.
#[test]
fn pool_and_manager_follow_the_default_method_after_init() {
    let err = run(&["pool_default"]);
    assert_eq!(value(&err, "map"), "[0, 1, 4, 9, 16]", "{err}");
    assert_eq!(value(&err, "list"), "[5]", "{err}");
}

/// The fork server killed: a child it had started reports ForkServerGone on
/// join (its status is lost), can still be killed through its pidfd, and
/// the next start spawns a new server (the old one is reaped).
#[test]
fn a_dead_fork_server_is_reported_and_replaced() {
    let err = run(&["forkserver_gone"]);
    assert_eq!(value(&err, "first"), "0", "{err}");
    assert_eq!(
        value(&err, "join_after_server_died"),
        "the fork server is gone (wait): the child's status is unknown",
        "{err}"
    );
    assert_eq!(value(&err, "is_gone"), "true", "{err}");
    assert_eq!(value(&err, "orphan_killed"), "true", "{err}");
    assert_eq!(value(&err, "after_restart"), "0", "{err}");
    assert_eq!(value(&err, "old_server_reaped"), "true", "{err}");
}

/// Arguments of any size reach a spawned or fork-served child whole (a
/// spawned child gets small payloads in its environment, large ones through
/// a pipe).
#[test]
fn arguments_of_any_size_cross_to_fresh_children() {
    let err = run(&["big_args"]);
    for method in ["spawn", "forkserver"] {
        for len in ["10", "100000", "3000000"] {
            assert_eq!(value(&err, &format!("{method} {len}")), "0", "{err}");
        }
    }
}

/// A spawned child whose spawner died before the child reached `init` was
/// handed to init (another parent), and used to run `main` again, which
/// spawned again: a chain of re-executions (seen as a Manager's server
/// "outliving its owner"). It must run its target, once.
#[test]
fn a_spawned_child_of_a_dead_parent_runs_its_target_not_main() {
    let dir = std::env::temp_dir().join(format!("forklore-orphan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let st = Command::new(env!("CARGO_BIN_EXE_fx_start"))
        .arg("spawner_dies")
        .env("FX_START_LOG", &log)
        .status()
        .unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(9));
    // Wait (bounded) for the orphan's line, then a moment more for any
    // extra run of main to show.
    let t = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("target ran")
        && t.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(text, "main spawner_dies\ntarget ran\n");
}
