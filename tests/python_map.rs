//! The "Python to Rust" appendix is generated from the table below, and the
//! table cannot name an item the crate does not export: every row's Rust
//! side is a path that `compile_checks` uses, so a renamed or removed item
//! breaks the build of this test.
//!
//! `FORKLORE_BLESS_WORKBOOK=1 cargo test --test integration python_map` rewrites the
//! appendix from the table; otherwise the test fails when they differ.

use crate::common;

use common::root;

/// Use each item so the compiler proves it exists.
macro_rules! check {
    (func ($($p:tt)*)) => { let _ = $($p)*; };
    (ty ($($p:tt)*)) => { let _: Option<$($p)*> = None; };
    (mac ($m:ident)) => { use forklore::$m as _; };
    // A function with an `impl Trait` argument, which cannot be named
    // without calling it: call it (never run) with a string.
    (strfn ($($p:tt)*)) => { let _ = |s: &'static str| $($p)*(s); };
    // A function whose arguments must be spelled out: a call that is
    // type-checked but never run.
    (args (($($p:tt)*) ($($a:expr),*))) => { let _ = || $($p)*($($a),*); };
    // A variant of the error enum.
    (variant ($($p:tt)*)) => { let _ = |e: forklore::Error| matches!(e, $($p)* { .. }); };
}

/// How an item is shown in the table.
macro_rules! shown {
    (func ($($p:tt)*)) => { stringify!($($p)*) };
    (ty ($($p:tt)*)) => { stringify!($($p)*) };
    (mac ($m:ident)) => { concat!(stringify!($m), "!") };
    (strfn ($($p:tt)*)) => { stringify!($($p)*) };
    (variant ($($p:tt)*)) => { stringify!($($p)*) };
    (args (($($p:tt)*) ($($a:expr),*))) => { stringify!($($p)*) };
}

macro_rules! table {
    ($( [$section:literal, $py:literal, $kind:ident $item:tt, $note:literal] )*) => {
        #[allow(dead_code, unused_imports, unreachable_code, clippy::diverging_sub_expression)]
        fn compile_checks() {
            $( check!($kind $item); )*
        }
        const ROWS: &[(&str, &str, &str, &str)] = &[
            $( ($section, $py, shown!($kind $item), $note) ),*
        ];
    };
}

table! {
    ["Processes", "os.fork()", func (forklore::fork), "`unsafe`: returns `Fork::Parent { child }` or `Fork::Child`; flushes stdio first; refused (`Error::ForkWithThreads`) if the process has other threads, `fork_with_threads` opts in"]
    ["Processes", "os._exit(n)", func (forklore::process::exit_child), "flushes what the child printed, then `_exit`"]
    ["Processes", "os.waitpid(pid, 0)", func (forklore::process::wait_pid), "returns an `ExitStatus`"]
    ["Processes", "multiprocessing.Process(target=f)", func (forklore::Process::new::<fn()>), "a closure replaces `target=` and `args=`; `.with_name(..)`, `.daemon()` set the rest"]
    ["Processes", "multiprocessing.Process(target=f, args=(a,))", func (forklore::Process::from_fn::<i32>), "a `fn` item and serde arguments: any start method (a closure is fork-only)"]
    ["Processes", "multiprocessing.set_start_method(m)", func (forklore::start::set_start_method), "`StartMethod::{Fork, Spawn, ForkServer}`; `forkserver` by default, as in CPython 3.14"]
    ["Processes", "multiprocessing.get_context(m)", func (forklore::start::get_context), "`.process(f, a)`, `.manager()`; `Process::start_method`, `PoolBuilder::start_method` per object"]
    ["Processes", "if __name__ == '__main__':", func (forklore::init), "first in `main`: a spawned process runs its target there and exits"]
    ["Processes", "p.start()", func (forklore::Process::start), "a second call is `Error::AlreadyStarted`"]
    ["Processes", "p.join()", func (forklore::Process::join), "before `start` it is `Error::NotStarted`"]
    ["Processes", "p.join(timeout)", func (forklore::Process::join_timeout), "`Ok(None)` while the child still runs; sleeps on a pidfd"]
    ["Processes", "p.is_alive()", func (forklore::Process::is_alive), ""]
    ["Processes", "p.pid", func (forklore::Process::pid), ""]
    ["Processes", "p.exitcode", func (forklore::Process::exitcode), "an `ExitStatus` enum that displays as Python's number (`-15` after `terminate`)"]
    ["Processes", "p.terminate(), p.kill()", func (forklore::Process::terminate), "and `Process::kill`"]
    ["Processes", "p.daemon = True", func (forklore::Process::set_daemon), "after `start` it is `Error::DaemonAfterStart`"]
    ["Processes", "p.name", func (forklore::Process::name), "set with `.with_name(..)`"]
    ["Processes", "multiprocessing.current_process()", func (forklore::current_process), "name, pid and the parent's pid"]
    ["Processes", "multiprocessing.active_children()", func (forklore::active_children), "`ActiveChild { pid, name }` of the live children started with `Process`; asking reaps the ended ones and keeps their status for `join`"]
    ["Processes", "p.exitcode values", ty (forklore::ExitStatus), "`Exited(code)` or `Signaled(signal)`"]
    ["Processes", "print(...) from several processes", mac (outln), "one `write(2)` per line, so lines never tear"]
    ["Pools", "multiprocessing.Pool(n)", func (forklore::Pool::new), "0 workers is `Error::InvalidCount`; workers are forked once and reused"]
    ["Pools", "Pool(n, initializer, maxtasksperchild=k)", func (forklore::Pool::builder), "`.initializer(..)`, `.maxtasksperchild(..)`, `.build()`"]
    ["Pools", "pool.apply(f, (x,))", func (forklore::Pool::apply::<i32, i32>), "tasks are plain `fn(A) -> R`; a fork keeps the function pointer valid"]
    ["Pools", "pool.apply_async(f, (x,))", func (forklore::Pool::apply_async::<i32, i32>), "`apply_async_with` takes a callback and an error callback"]
    ["Pools", "res.get(timeout)", func (forklore::pool::AsyncResult::<i32>::get_timeout), "`Error::Timeout`; also `get`, `ready`, `successful`, `wait`"]
    ["Pools", "pool.map(f, xs)", args ((forklore::Pool::map) (unreachable!(), (|x: i32| x) as fn(i32) -> i32, vec![1])), "input order; Python's default chunksize; `map_chunked` sets it"]
    ["Pools", "pool.imap(f, xs), pool.imap_unordered(f, xs)", args ((forklore::Pool::imap) (unreachable!(), (|x: i32| x) as fn(i32) -> i32, vec![1])), "and `imap_unordered`, in completion order"]
    ["Pools", "pool.starmap(f, pairs)", args ((forklore::Pool::starmap) (unreachable!(), (|a: i32, b: i32| a + b) as fn(i32, i32) -> i32, vec![(1, 2)])), "for `fn(A, B) -> R` over pairs"]
    ["Pools", "pool.close(), pool.join(), pool.terminate()", func (forklore::Pool::join), "and `close`, `terminate`; `join` before `close` is `Error::PoolStillRunning`"]
    ["Pools", "ValueError: Pool not running", variant (forklore::Error::PoolNotRunning), "a task after `close`"]
    ["Pools", "a task that raises", variant (forklore::Error::TaskPanicked), "the panic message and where; the pool keeps working"]
    ["Pools", "(hangs for ever in CPython)", variant (forklore::Error::WorkerDied), "a task whose worker was killed; the worker is replaced"]
    ["Pools", "ProcessPoolExecutor(max_workers=n)", func (forklore::ProcessPoolExecutor::new), "`builder` adds `initializer`, `max_tasks_per_child`"]
    ["Pools", "executor.submit(f, x)", func (forklore::ProcessPoolExecutor::submit::<i32, i32>), "returns a `TaskFuture<R>` (Python: `Future`)"]
    ["Pools", "future.result(timeout)", func (forklore::executor::TaskFuture::<i32>::result_timeout), "also `result`, `exception`, `done`, `running`, `cancel`"]
    ["Pools", "executor.map(f, xs, chunksize=n)", args ((forklore::ProcessPoolExecutor::map) (unreachable!(), (|x: i32| x) as fn(i32) -> i32, vec![1], 1)), "yields in order"]
    ["Pools", "executor.map(f, xs, timeout, chunksize)", args ((forklore::ProcessPoolExecutor::map_timeout) (unreachable!(), (|x: i32| x) as fn(i32) -> i32, vec![1], std::time::Duration::ZERO, 1)), "the timeout counts from the call"]
    ["Pools", "futures.as_completed(fs)", func (forklore::executor::as_completed::<i32>), "`as_completed_timeout` for `as_completed(fs, timeout)`"]
    ["Pools", "futures.wait(fs, timeout, return_when)", func (forklore::executor::wait_timeout::<i32>), "`executor::wait` without a timeout"]
    ["Pools", "executor.shutdown(wait=True)", func (forklore::ProcessPoolExecutor::shutdown), "`submit` after it is `Error::ExecutorShutdown`; `shutdown_timeout(d)` bounds the wait"]
    ["Pools", "executor.shutdown(wait=False)", func (forklore::ProcessPoolExecutor::shutdown_nowait), ""]
    ["Pools", "ex.shutdown(cancel_futures=True)", func (forklore::ProcessPoolExecutor::cancel_futures), "then `shutdown()` or `shutdown_nowait()`"]
    ["Pools", "BrokenProcessPool", variant (forklore::Error::BrokenProcessPool), "every pending future and later `submit`, after a worker died"]
    ["Pools", "CancelledError", variant (forklore::Error::Cancelled), ""]
    ["Connections", "multiprocessing.Pipe()", func (forklore::connection::pipe), "a Unix socketpair; both ends send and receive"]
    ["Connections", "conn.send(obj)", func (forklore::connection::Connection::send::<u8>), "serde + postcard instead of pickle"]
    ["Connections", "conn.recv()", func (forklore::connection::Connection::recv::<u8>), "distinct errors: `Closed`, `Truncated`, `FrameTooLarge`, `Decode`"]
    ["Connections", "conn.send_bytes(b), conn.recv_bytes()", func (forklore::connection::Connection::send_bytes), "and `recv_bytes`"]
    ["Connections", "conn.poll(timeout)", func (forklore::connection::Connection::poll), ""]
    ["Managers", "multiprocessing.Manager()", func (forklore::managers::Manager::start), "forks the server; dropping the last handle shuts it down, reaps it and removes its socket"]
    ["Managers", "BaseManager(address, authkey).connect()", func (forklore::managers::Manager::connect), "a handle that does not own the server"]
    ["Managers", "manager.list()", func (forklore::managers::Manager::list::<i32>), "typed: `ListProxy<T>` over any serde `T`"]
    ["Managers", "li.append(x), li.extend(xs), li.insert(i, x)", args ((forklore::managers::ListProxy::<i32>::append) (unreachable!(), 1)), "and `extend`, `insert`"]
    ["Managers", "li.pop(), li.remove(x), li.index(x), li.count(x)", func (forklore::managers::ListProxy::<i32>::remove::<i32>), "`Error::ValueNotInList` as Python's `ValueError`"]
    ["Managers", "li[i], li[i] = x, del li[i]", func (forklore::managers::ListProxy::<i32>::get), "and `set`, `del`; `Error::IndexOutOfRange` as `IndexError`"]
    ["Managers", "li.sort(), li.reverse(), len(li), x in li", func (forklore::managers::ListProxy::<i32>::sort), "and `reverse`, `len`, `contains`; the server orders values itself"]
    ["Managers", "1 == 1.0 == True: li.count(1), d[1] finding the key 1.0", func (forklore::managers::datum::to_datum::<i32>), "the server compares `bool`, integers and floats by value, as CPython; a NaN equals itself (a total order, for sorting)"]
    ["Managers", "li += items, li *= n", func (forklore::managers::ListProxy::<i32>::imul), "and `iadd`: one server-side step each; methods, not `+=`, so a dead manager is an error, not a panic"]
    ["Managers", "list(li), print(li)", func (forklore::managers::ListProxy::<i32>::to_vec), "a plain `Vec<T>`"]
    ["Managers", "for x in li (live)", func (forklore::managers::ListProxy::<i32>::iter), "one request per step: sees `li[0] = 100` made mid-way; `to_vec` is the one-request snapshot"]
    ["Managers", "manager.dict()", func (forklore::managers::Manager::dict::<String, i32>), "`DictProxy<K, V>`"]
    ["Managers", "d[k], d[k] = v, del d[k], d.get(k)", func (forklore::managers::DictProxy::<String, i32>::get_item::<str>), "and `set`, `del`, `get`; `Error::KeyNotFound` as `KeyError`"]
    ["Managers", "d.items(), d.keys(), d.values(), d.update(..)", func (forklore::managers::DictProxy::<String, i32>::items), "plain `Vec`s, as Python returns plain lists"]
    ["Managers", "for k in d (live)", func (forklore::managers::DictProxy::<String, i32>::iter), "one request per step; after a change of size `Error::ChangedDuringIteration` (Python's `RuntimeError`)"]
    ["Managers", "manager.Queue(), manager.Queue(n)", func (forklore::managers::Manager::queue::<i32>), "and `queue_with_maxsize`; also a JoinableQueue"]
    ["Managers", "q.put(x), q.get()", func (forklore::managers::QueueProxy::<i32>::get), "and `put`"]
    ["Managers", "q.get(timeout=t) raising queue.Empty", func (forklore::managers::QueueProxy::<i32>::get_timeout), "`Error::QueueEmpty`, apart from `Error::Timeout` and `Error::ManagerGone`"]
    ["Managers", "q.put_nowait(x) raising queue.Full", args ((forklore::managers::QueueProxy::<i32>::put_nowait) (unreachable!(), 1)), "`Error::QueueFull`"]
    ["Managers", "q.task_done(), q.join()", func (forklore::managers::QueueProxy::<i32>::task_done), "and `join`"]
    ["Managers", "manager.Event()", func (forklore::managers::Manager::event), ""]
    ["Managers", "ev.wait(timeout) -> bool", func (forklore::managers::EventProxy::wait_timeout), "`false` on timeout; also `set`, `clear`, `is_set`"]
    ["Managers", "manager.Lock(), manager.RLock()", func (forklore::managers::Manager::lock), "and `rlock`; held when the holder dies, as in CPython"]
    ["Managers", "(no Python equivalent)", func (forklore::managers::Manager::robust_lock), "a robust lock: the next owner gets `Acquired::OwnerDied`"]
    ["Managers", "lock.acquire(timeout=t) -> bool", func (forklore::managers::LockProxy::acquire_timeout), "`release` of an unheld lock is `Error::ReleaseUnlocked`"]
    ["Managers", "with lock:", func (forklore::managers::LockProxy::guard), "a `Guard` that releases on drop"]
    ["Managers", "manager.Semaphore(n), manager.BoundedSemaphore(n)", func (forklore::managers::Manager::semaphore), "and `bounded_semaphore`"]
    ["Managers", "manager.Condition()", func (forklore::managers::Manager::condition), ""]
    ["Managers", "manager.Condition(lock)", args ((forklore::managers::Manager::condition_with) (unreachable!(), { let l: &forklore::managers::LockProxy = unreachable!(); l })), "a `LockProxy` or `RLockProxy` of the same manager, which several conditions may share; the condition keeps the lock alive"]
    ["Managers", "cond.wait(timeout) -> bool", func (forklore::managers::ConditionProxy::wait_timeout), "`false` on timeout; also `notify`, `notify_n`, `notify_all`, `wait_for`, `wait_for_timeout`"]
    ["Managers", "manager.Barrier(n)", func (forklore::managers::Manager::barrier), "`wait` returns each party's index; a broken barrier is `Error::BrokenBarrier`"]
    ["Managers", "manager.Barrier(n, timeout=t)", func (forklore::managers::Manager::barrier_with_timeout), "the barrier's own timeout, kept on the server, for every `wait()` given none; `wait_timeout` overrides it"]
    ["Managers", "manager.Value(typecode, v)", func (forklore::managers::Manager::value::<i64>), "`ValueProxy<T>`"]
    ["Managers", "v.value, v.value = x", func (forklore::managers::ValueProxy::<i64>::get), "and `set`: racy, as in Python"]
    ["Managers", "(no Python equivalent)", args ((forklore::managers::ValueProxy::<i64>::fetch_add) (unreachable!(), 1)), "an atomic update on the server; also `compare_and_swap`"]
    ["Managers", "manager.Array(typecode, items)", args ((forklore::managers::Manager::array) (unreachable!(), vec![0i64])), "`ArrayProxy<T>`: `len`, `get`, `set`, slices"]
    ["Managers", "manager.Namespace()", func (forklore::managers::Manager::namespace), "attributes by name: `get`, `set`, `del`"]
    ["Managers", "d['jobs'] = m.Queue(); b = m.list([a])", args ((forklore::managers::DictProxy::<String, forklore::managers::QueueProxy<i32>>::set) (unreachable!(), String::new(), { let q: forklore::managers::QueueProxy<i32> = unreachable!(); q })), "every proxy is serde: stored in lists, dicts, queues, `Process::from_fn` arguments (any start method); the server keeps an object alive while anything refers to it"]
    ["Managers", "manager.Pool()", func (forklore::Pool::new), "not hosted by the manager (the server never runs callers' code): a `Pool` per process, fed from a managed queue"]
    ["Managers", "connection.deliver_challenge / answer_challenge", func (forklore::connection::deliver_challenge), "HMAC-SHA256 over a random nonce, both ways (CPython 3.11: HMAC-MD5)"]
    ["Managers", "AuthenticationError", variant (forklore::Error::AuthenticationFailed), "on both sides, with no access to any object"]
    ["Managers", "EOFError / BrokenPipeError from a dead manager", variant (forklore::Error::ManagerGone), "every call, even one blocked in `get`"]
    ["Remote managers", "BaseManager(address=(host, port), authkey=key).start()", args ((forklore::managers::Manager::start_tcp) ("127.0.0.1:0", b"key")), "the bind address is explicit; an empty authkey is refused"]
    ["Remote managers", "QueueManager.register('get_task_queue', callable=...)", func (forklore::managers::Manager::register::<forklore::managers::QueueProxy<i32>>), "names an existing proxy's object on the server"]
    ["Remote managers", "m.connect(); m.get_task_queue()", func (forklore::managers::Manager::lookup::<forklore::managers::QueueProxy<i32>>), "typed: asking for a dict as a queue is refused"]
    ["Remote managers", "AttributeError for an unregistered name", variant (forklore::Error::NotRegistered), ""]
    ["Remote managers", "(a blocked call waits for ever on a cut link in CPython)", variant (forklore::Error::ManagerUnreachable), "TCP keepalive and a user timeout: a call fails within the bound `managers::tcp::DEAD_PEER_BOUND`"]
    ["subprocess", "subprocess.Popen([...])", func (forklore::subprocess::Popen::new::<[&str; 1], &str>), "launch failures are errors in the parent that name the path"]
    ["subprocess", "Popen(..., shell=True)", strfn (forklore::subprocess::Popen::shell), "`/bin/sh -c`"]
    ["subprocess", "Popen(..., stdin=PIPE, cwd=..., env=...)", func (forklore::subprocess::PopenBuilder::new::<[&str; 1], &str>), "a builder: `.stdin(Redirect::Pipe)`, `.cwd(..)`, `.env(..)` extends, `.env_clear()` replaces"]
    ["subprocess", "PIPE, DEVNULL, STDOUT", ty (forklore::subprocess::Redirect), "`Redirect::Pipe`, `Redirect::DevNull`, `Redirect::Stdout` (merge stderr)"]
    ["subprocess", "p.communicate(input)", func (forklore::subprocess::Popen::communicate), "never deadlocks"]
    ["subprocess", "p.communicate(input, timeout)", func (forklore::subprocess::Popen::communicate_timeout), "a timeout does not kill, and a later call returns all the output"]
    ["subprocess", "p.wait()", func (forklore::subprocess::Popen::wait), ""]
    ["subprocess", "p.wait(timeout)", func (forklore::subprocess::Popen::wait_timeout), "sleeps on a pidfd"]
    ["subprocess", "p.poll()", func (forklore::subprocess::Popen::poll), "`None` while running"]
    ["subprocess", "p.returncode", func (forklore::subprocess::Popen::returncode), "an `ExitStatus`"]
    ["subprocess", "p.terminate(), p.kill()", func (forklore::subprocess::Popen::terminate), "and `Popen::kill`"]
    ["subprocess", "subprocess.run(args)", func (forklore::subprocess::run::<[&str; 1], &str>), "returns a `CompletedProcess`; `PopenBuilder::run` takes `check`, `timeout`, `input`"]
    ["subprocess", "subprocess.check_output(args)", func (forklore::subprocess::check_output::<[&str; 1], &str>), ""]
    ["subprocess", "CalledProcessError", variant (forklore::Error::CommandFailed), "carries the code and the output; displays as Python's message"]
    ["subprocess", "TimeoutExpired", variant (forklore::Error::TimeoutExpired), "`is_timeout()` is true for it and for `Error::Timeout`"]
    ["subprocess", "TimeoutExpired.stdout, .stderr", variant (forklore::Error::TimeoutExpired), "the fields `stdout`/`stderr`: what `communicate` or `run` read before the timeout (`Some` for each pipe)"]
    ["subprocess", "FileNotFoundError, PermissionError at launch", variant (forklore::Error::Launch), "names the program or the cwd that failed"]
}

const BEGIN: &str = "<!-- python-map -->";
const END: &str = "<!-- /python-map -->";

fn render() -> String {
    let turbofish = regex::Regex::new(r"::<[^>]*>+").unwrap();
    let mut out = String::new();
    let mut section = "";
    for (sec, py, rust, note) in ROWS {
        if *sec != section {
            if !section.is_empty() {
                out.push('\n');
            }
            section = sec;
            out.push_str(&format!(
                "## {sec}\n\n| Python | forklore | Notes |\n|---|---|---|\n"
            ));
        }
        let rust = turbofish.replace_all(rust, "");
        let rust = rust.replace(' ', "").replace("forklore::", "");
        out.push_str(&format!("| `{py}` | `{rust}` | {note} |\n"));
    }
    out
}

#[test]
fn appendix_matches_the_table() {
    compile_checks();
    let path = root().join("workbook/appendix_python_to_rust.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page.split_once(BEGIN).expect("begin marker");
    let (current, tail) = rest.split_once(END).expect("end marker");
    let want = format!("\n{}", render());
    if current != want {
        if std::env::var_os("FORKLORE_BLESS_WORKBOOK").is_some() {
            std::fs::write(&path, format!("{head}{BEGIN}{want}{END}{tail}")).unwrap();
        } else {
            panic!(
                "workbook/appendix_python_to_rust.md is out of date with tests/python_map.rs; \
                 rerun with FORKLORE_BLESS_WORKBOOK=1"
            );
        }
    }
}
