//! Claims the pages make about CPython, Linux and Rust that a program can
//! check on the machine the tests run on. Each test names the page that
//! makes the claim; when one fails, the page is wrong (or the platform
//! changed) and the text must change with it.
//!
//! The Python claims are about the `python3` on PATH (3.11 on the project's
//! machines, the version the book compares against); a test skips, saying
//! so, when there is none. The runs that show Python's defaults remove
//! `PYTHONUNBUFFERED` from the environment, as a reader's shell has it.

use crate::common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::root;

fn python3() -> Option<(u32, u32)> {
    let out = Command::new("python3").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v = text.trim().strip_prefix("Python ")?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next()?, parts.next()?);
    Some(version)
}

macro_rules! need_python {
    () => {
        match python3() {
            Some(v) => v,
            None => {
                eprintln!("skipped: no python3 on PATH");
                return;
            }
        }
    };
}

/// `python3 -c CODE` with the default buffering, stdout a pipe.
fn py(code: &str) -> Output {
    Command::new("python3")
        .args(["-c", code])
        .env_remove("PYTHONUNBUFFERED")
        .current_dir(root())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Chapter 6 and chapter 1 ("Buffered output"): with the default
/// buffering, CPython's stdout to a pipe is block-buffered, so each child of
/// the article's program writes its line at exit in one `write(2)` and no
/// line tears.
#[test]
fn cpython_piped_stdout_is_block_buffered_so_the_article_never_tears() {
    need_python!();
    let out = py("import sys; print(sys.stdout.line_buffering, sys.stderr.line_buffering)");
    assert_eq!(text(&out), "False True\n", "{out:?}");
    for run in 0..5 {
        let out = Command::new("python3")
            .arg(root().join("workbook/python/ch06_isolation.py"))
            .env_remove("PYTHONUNBUFFERED")
            .output()
            .unwrap();
        let t = text(&out);
        let mut lines: Vec<&str> = t.lines().collect();
        lines.sort();
        let mut want: Vec<String> = (0..10).map(|i| format!("say hi [{i}]")).collect();
        want.push("ending []".into());
        want.sort();
        assert_eq!(lines, want, "run {run}: a torn line\n{t}");
    }
}

/// Chapter 16: through a pipe, CPython holds `parent process` in its buffer
/// until the interpreter exits. Leaving with `os._exit` (which skips the
/// flush) shows it was still there at the end.
#[test]
fn cpython_holds_a_piped_line_until_exit() {
    need_python!();
    let out = py("import os; print('parent process'); os._exit(0)");
    assert_eq!(text(&out), "", "the line left before exit: {out:?}");
    let out = py("print('parent process')");
    assert_eq!(text(&out), "parent process\n");
}

/// Chapter 17: `/bin/sh -c 'a; b'` forks `b` when the shell is dash, so
/// killing the shell leaves `b` holding the pipe; bash 5.1 and later exec
/// the last command itself, under the shell's pid. The probe prints the
/// shell's pid, then the last command's own pid (a Python one-liner).
#[test]
fn dash_forks_the_last_command_and_bash_execs_it() {
    need_python!();
    let probe = "echo $$; python3 -c 'import os; print(os.getpid())'";
    let pids = |shell: &str| -> Option<(String, String)> {
        let out = Command::new(shell)
            .args(["-c", probe])
            .env_remove("PYTHONUNBUFFERED")
            .output()
            .ok()?;
        let t = text(&out);
        let mut l = t.lines();
        Some((l.next()?.to_string(), l.next()?.to_string()))
    };
    let sh = std::fs::read_link("/bin/sh").unwrap_or_default();
    if sh.to_string_lossy().contains("dash") {
        let (shell, last) = pids("/bin/sh").unwrap();
        assert_ne!(shell, last, "dash ran the last command under its own pid");
    } else {
        eprintln!("skipped the dash half: /bin/sh is {}", sh.display());
    }
    let bash = Command::new("bash")
        .args(["-c", "echo ${BASH_VERSINFO[0]} ${BASH_VERSINFO[1]}"])
        .output();
    match bash {
        Ok(out) if out.status.success() => {
            let v: Vec<u32> = text(&out)
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect();
            let (shell, last) = pids("bash").unwrap();
            if (v[0], v[1]) >= (5, 1) {
                assert_eq!(shell, last, "bash {v:?} did not exec the last command");
            } else {
                eprintln!("skipped the bash half: bash {v:?} is older than 5.1");
            }
        }
        _ => eprintln!("skipped the bash half: no bash"),
    }
}

/// The introduction and appendix C: when a manager's server dies, CPython
/// does not hang. A call blocked on the server (`Queue.get`) raises a bare
/// `EOFError` as soon as the server is killed, and a later call fails at
/// once (`BrokenPipeError`). The bound is generous: the claim is "not a
/// hang", and the server is killed after 0.3 s.
#[test]
fn cpython_raises_at_once_when_its_manager_dies() {
    need_python!();
    let probe = r#"
import os, signal, threading
from multiprocessing import Manager
m = Manager()
q = m.Queue()
pid = m._process.pid
threading.Timer(0.3, lambda: os.kill(pid, signal.SIGKILL)).start()
try:
    q.get()
except BaseException as e:
    print('blocked get:', type(e).__name__, str(e) == '')
try:
    q.put(1)
except BaseException as e:
    print('next call:', type(e).__name__)
"#;
    let start = Instant::now();
    let out = Command::new("python3")
        .args(["-c", probe])
        .env_remove("PYTHONUNBUFFERED")
        .output()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(30), "it hung");
    assert_eq!(
        text(&out),
        "blocked get: EOFError True\nnext call: BrokenPipeError\n",
        "{out:?}"
    );
}

/// Appendices A and C: CPython 3.11 authenticates a manager connection with
/// HMAC-MD5; 3.12 made it HMAC-SHA256, with the digest's name sent first.
#[test]
fn cpython_manager_authentication_digest() {
    let version = need_python!();
    let out = py("import inspect, multiprocessing.connection as c; \
                  src = inspect.getsource(c); \
                  print(\"hmac.new(authkey, message, 'md5')\" in src, \"'{sha256}'\" in src or '{sha256}' in src)");
    let t = text(&out);
    if version <= (3, 11) {
        assert_eq!(t, "True False\n", "CPython {version:?}: {out:?}");
    } else {
        assert!(t.ends_with("True\n"), "CPython {version:?}: {out:?}");
    }
}

/// Chapter 12: CPython's manager `Value` ignores its typecode: a `Value('i')`
/// takes a string or a float.
#[test]
fn cpython_manager_value_ignores_its_typecode() {
    need_python!();
    let out = py("from multiprocessing import Manager\n\
                  with Manager() as m:\n    \
                      v = m.Value('i', 0)\n    \
                      v.value = 'not an int'\n    \
                      print(repr(v.value), repr(m.Value('i', 2.5).value))");
    assert_eq!(text(&out), "'not an int' 2.5\n", "{out:?}");
}

/// Chapter 19's twin passes a lambda to a Manager, and chapter 2's notes
/// rely on it: a lambda can be handed to a child only under the `fork` start
/// method; `spawn` must pickle it, and cannot.
#[test]
fn cpython_lambda_targets_need_the_fork_start_method() {
    need_python!();
    let probe = "import multiprocessing as mp\n\
                 if __name__ == '__main__':\n    \
                     p = mp.get_context('fork').Process(target=lambda: None); p.start(); p.join()\n    \
                     print('fork', p.exitcode)\n    \
                     try:\n        \
                         mp.get_context('spawn').Process(target=lambda: None).start()\n    \
                     except Exception as e:\n        \
                         print('spawn', type(e).__name__)";
    let out = py(probe);
    assert_eq!(text(&out), "fork 0\nspawn PicklingError\n", "{out:?}");
}

/// Chapter 13 (against chapter 12): CPython's manager `Array` is an
/// `array.array` in the server and does enforce its typecode.
#[test]
fn cpython_manager_array_enforces_its_typecode() {
    need_python!();
    let out = py("from multiprocessing import Manager\n\
                  with Manager() as m:\n    \
                      a = m.Array('i', [0, 0])\n    \
                      try:\n        \
                          a[0] = 'x'\n    \
                      except TypeError as e:\n        \
                          print(type(e).__name__)");
    assert_eq!(text(&out), "TypeError\n", "{out:?}");
}

/// Appendix C, "A worker killed mid-task": CPython's pool replaces the
/// worker but forgets its task; the task's `get()` and `pool.join()` never
/// return (checked here as: still waiting after 2 s, for tasks of 0.1 s),
/// while the other tasks complete.
#[test]
fn cpython_pool_forgets_the_task_of_a_killed_worker() {
    need_python!();
    let probe = "import os, signal, time, multiprocessing as mp\n\
                 def task(x):\n    \
                     if x == 1:\n        \
                         os.kill(os.getpid(), signal.SIGKILL)\n    \
                     time.sleep(0.1)\n    \
                     return x\n\
                 if __name__ == '__main__':\n    \
                     pool = mp.Pool(2)\n    \
                     rs = [pool.apply_async(task, (i,)) for i in range(3)]\n    \
                     print('task 0:', rs[0].get(timeout=30))\n    \
                     try:\n        \
                         rs[1].get(timeout=2)\n    \
                     except mp.TimeoutError:\n        \
                         print('task 1: still waiting after 2 s')\n    \
                     print('task 2:', rs[2].get(timeout=30))\n    \
                     import threading\n    \
                     pool.close()\n    \
                     t = threading.Thread(target=pool.join, daemon=True)\n    \
                     t.start(); t.join(2)\n    \
                     print('join returned within 2 s:', not t.is_alive())\n    \
                     pool.terminate()";
    let out = py(probe);
    assert_eq!(
        text(&out),
        "task 0: 0\ntask 1: still waiting after 2 s\ntask 2: 2\njoin returned within 2 s: False\n",
        "{out:?}"
    );
}

/// Appendix C, "A client that dies holding a lock": CPython's manager
/// server does not release a `Lock` whose holder died.
#[test]
fn cpython_manager_lock_stays_held_after_its_holder_dies() {
    need_python!();
    let probe = "import os, multiprocessing as mp\n\
                 def hold(lock):\n    \
                     lock.acquire()\n    \
                     os._exit(0)\n\
                 if __name__ == '__main__':\n    \
                     with mp.Manager() as m:\n        \
                         lock = m.Lock()\n        \
                         p = mp.Process(target=hold, args=(lock,)); p.start(); p.join()\n        \
                         print(lock.acquire(timeout=1))";
    let out = py(probe);
    assert_eq!(text(&out), "False\n", "{out:?}");
}

/// Chapter 6 and appendix C: unbuffered, `print('say hi', [0, 2, 1])` is
/// four `write(2)` calls: the two arguments, the separator and the newline.
#[test]
fn cpython_unbuffered_print_is_four_writes() {
    need_python!();
    let out = Command::new("python3")
        .args([
            "-u",
            "-c",
            "def syscw():\n    \
                 with open('/proc/self/io') as f:\n        \
                     return int(next(l for l in f if l.startswith('syscw')).split()[1])\n\
             b = syscw(); print('say hi', [0, 2, 1]); a = syscw(); print('writes', a - b)",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&out), "say hi [0, 2, 1]\nwrites 4\n", "{out:?}");
}

/// Chapters 2, 4 and 18, what they say CPython does: a child whose target
/// raises prints `Process Process-1:` and a traceback and exits with 1;
/// starting twice and joining before start are `AssertionError`s; a `Pool`
/// runs three threads in the parent; a command killed by a signal fails
/// `check=True` with "died with <Signals.SIGKILL: 9>." (the message
/// `ch18_try_2` prints from forklore).
#[test]
fn cpython_process_pool_and_subprocess_behaviour_the_chapters_cite() {
    need_python!();
    let probe = "import multiprocessing as mp, threading, subprocess\n\
                 def boom():\n    \
                     raise ValueError('gave up')\n\
                 if __name__ == '__main__':\n    \
                     p = mp.Process(target=boom); p.start(); p.join(); print('exitcode', p.exitcode)\n    \
                     try:\n        \
                         p.start()\n    \
                     except AssertionError as e:\n        \
                         print('start twice:', type(e).__name__)\n    \
                     try:\n        \
                         mp.Process(target=boom).join()\n    \
                     except AssertionError as e:\n        \
                         print('join before start:', type(e).__name__)\n    \
                     pool = mp.Pool(4); print('threads with a pool:', threading.active_count()); pool.terminate()\n    \
                     try:\n        \
                         subprocess.run('kill -KILL $$', shell=True, check=True)\n    \
                     except subprocess.CalledProcessError as e:\n        \
                         print(e)";
    let out = py(probe);
    assert_eq!(
        text(&out),
        "exitcode 1\n\
         start twice: AssertionError\n\
         join before start: AssertionError\n\
         threads with a pool: 4\n\
         Command 'kill -KILL $$' died with <Signals.SIGKILL: 9>.\n",
        "{out:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("Process Process-1:\nTraceback"), "{err}");
}

/// Chapter 11, Try it 3 (`workbook/examples/ch11_try_3.rs`): CPython's
/// manager `Condition` refuses `notify` without the lock, as forklore's
/// `Error::NotOwner` does.
#[test]
fn cpython_manager_condition_refuses_notify_without_the_lock() {
    need_python!();
    let out = py("from multiprocessing import Manager\n\
                  with Manager() as m:\n    \
                      try:\n        \
                          m.Condition().notify()\n    \
                      except RuntimeError as e:\n        \
                          print(e)");
    assert_eq!(text(&out), "cannot notify on un-acquired lock\n", "{out:?}");
}

/// Chapter 5 ("A dead worker breaks the executor, loudly ... that is
/// CPython's behaviour"): a killed worker fails the pending future with
/// `BrokenProcessPool`, a finished future keeps its result, and a later
/// `submit` fails too.
#[test]
fn cpython_executor_breaks_when_a_worker_dies() {
    need_python!();
    let probe = "import os, signal, time\n\
                 from concurrent.futures import ProcessPoolExecutor\n\
                 from concurrent.futures.process import BrokenProcessPool\n\
                 def task(x):\n    \
                     if x == 1:\n        \
                         os.kill(os.getpid(), signal.SIGKILL)\n    \
                     return x\n\
                 if __name__ == '__main__':\n    \
                     ex = ProcessPoolExecutor(2)\n    \
                     f0 = ex.submit(task, 0)\n    \
                     print('finished:', f0.result())\n    \
                     try:\n        \
                         ex.submit(task, 1).result(timeout=30)\n    \
                     except BrokenProcessPool as e:\n        \
                         print('pending:', type(e).__name__)\n    \
                     print('finished keeps:', f0.result())\n    \
                     try:\n        \
                         ex.submit(task, 2)\n    \
                     except BrokenProcessPool as e:\n        \
                         print('later submit:', type(e).__name__)";
    let out = py(probe);
    assert_eq!(
        text(&out),
        "finished: 0\npending: BrokenProcessPool\nfinished keeps: 0\nlater submit: BrokenProcessPool\n",
        "{out:?}"
    );
}
