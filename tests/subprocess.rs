//! `forklore::subprocess`, checked against what CPython's `subprocess` does
//! (`shared/reference/python-semantics.md`).
//!
//! `Popen` never forks through `forklore::fork`: std starts the child with
//! `posix_spawnp` (or a fork+exec it keeps async-signal-safe), which is sound
//! in this multithreaded harness, so most cases run right here. Cases that
//! need a process whose only children are their own (zombie accounting,
//! inherited streams) run in the `fx_subprocess` fixture, which also serves
//! as a child program with a known I/O pattern.

use crate::common;

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::pattern::pattern;
use common::{proc_exists, run_ok, stderr, stdout, value, TempDir};
use forklore::subprocess::{self, Popen, PopenArgs, PopenBuilder, Redirect};
use forklore::{Error, ExitStatus, Signal};

/// The `fx_subprocess` fixture's path, as text for `PopenBuilder::new`.
fn fx() -> String {
    common::exe("fx_subprocess").to_str().unwrap().to_string()
}
const MB: usize = 1 << 20;

/// Compare big buffers without printing megabytes on failure.
fn same(what: &str, got: &[u8], want: &[u8]) {
    let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "{what}: got {} bytes, want {}; first difference at {first_diff:?}",
        got.len(),
        want.len()
    );
}

/// Run `f` on its own thread and fail if it has not finished within
/// `limit`: a deadlock regression must fail the test, not hang it. (A stuck
/// thread is left behind; the process ends with the harness.)
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("did not finish within {limit:?}: deadlock?"),
    }
}

/// CPU time this thread has used (user + system).
fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes one `rusage` into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut ru), 0);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

// ---- Popen, argv and shell -------------------------------------------------

#[test]
fn argv_runs_without_a_shell_and_a_string_runs_with_one() {
    // No shell: `$HOME` and `;` reach echo as they are.
    let out = subprocess::check_output(["echo", "$HOME;", "x"]).unwrap();
    assert_eq!(out, b"$HOME; x\n");
    // Shell: arithmetic, a pipe and `;` are the shell's.
    let out = PopenBuilder::shell("echo $((6 * 7)); printf 'b\\na\\n' | sort")
        .check_output()
        .unwrap();
    assert_eq!(out, b"42\na\nb\n");
    let p = Popen::shell("exit 0").unwrap();
    assert_eq!(p.args(), &PopenArgs::Shell("exit 0".into()));
}

// ---- stdin, stdout, stderr ---------------------------------------------------

#[test]
fn pipes_devnull_and_merging_stderr_into_stdout() {
    // DEVNULL stdin: cat sees EOF at once (it would hang on an inherited tty).
    let done = PopenBuilder::new(["cat"])
        .stdin(Redirect::DevNull)
        .stdout(Redirect::Pipe)
        .timeout(Duration::from_secs(30))
        .run()
        .unwrap();
    assert_eq!(done.stdout.as_deref(), Some(&b""[..]));
    assert!(done.returncode.success());

    // DEVNULL stdout: the output vanishes; only piped streams come back.
    let done = PopenBuilder::new(["sh", "-c", "echo out; echo err >&2"])
        .stdout(Redirect::DevNull)
        .stderr(Redirect::Pipe)
        .run()
        .unwrap();
    assert_eq!(done.stdout, None);
    assert_eq!(done.stderr.as_deref(), Some(&b"err\n"[..]));

    // stderr=STDOUT with stdout a pipe: both in one pipe, in order.
    let done = PopenBuilder::new(["sh", "-c", "echo out; echo err >&2; echo out2"])
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Stdout)
        .run()
        .unwrap();
    assert_eq!(done.stdout.as_deref(), Some(&b"out\nerr\nout2\n"[..]));
    assert_eq!(done.stderr, None);

    // capture_output: two separate pipes.
    let done = PopenBuilder::new(["sh", "-c", "echo out; echo err >&2"])
        .capture_output()
        .run()
        .unwrap();
    assert_eq!(done.stdout.as_deref(), Some(&b"out\n"[..]));
    assert_eq!(done.stderr.as_deref(), Some(&b"err\n"[..]));
}

#[test]
fn an_open_file_can_be_a_stream() {
    let dir = TempDir::new("sp-file");
    let path = dir.path().join("out.txt");
    let file = File::create(&path).unwrap();
    let done = PopenBuilder::new(["sh", "-c", "echo to the file; echo and err >&2"])
        .stdout(file)
        .stderr(Redirect::Stdout)
        .run()
        .unwrap();
    assert!(done.returncode.success());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "to the file\nand err\n"
    );
    let input = dir.file("in.txt", "from a file\n");
    let out = PopenBuilder::new(["cat"])
        .stdin(File::open(input).unwrap())
        .check_output()
        .unwrap();
    assert_eq!(out, b"from a file\n");
}

#[test]
fn inherited_streams_and_stderr_merged_into_an_inherited_stdout() {
    let out = run_ok("fx_subprocess", &["inherit"]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(
        o, "child stdout, inherited\nchild stderr, merged into stdout\n",
        "stderr was: {e}"
    );
    assert_eq!(e, "child stderr, inherited\n");
}

#[test]
fn a_pipeline_through_a_taken_pipe() {
    let mut p1 = PopenBuilder::new(["printf", "b\\nc\\na\\n"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let mut p2 = PopenBuilder::new(["sort"])
        .stdin(p1.take_stdout().unwrap())
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let (out, err) = p2
        .communicate_timeout(None, Duration::from_secs(30))
        .unwrap();
    assert_eq!(out.as_deref(), Some(&b"a\nb\nc\n"[..]));
    assert_eq!(err, None);
    assert!(p1.wait_timeout(Duration::from_secs(30)).unwrap().success());
    assert!(p2.returncode().unwrap().success());
}

// ---- cwd and environment -----------------------------------------------------

#[test]
fn cwd_sets_the_directory_and_relative_programs_are_found_in_it() {
    let dir = TempDir::new("sp-cwd");
    let out = PopenBuilder::new(["pwd"])
        .cwd(dir.path())
        .check_output()
        .unwrap();
    let want = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap().trim_end(),
        want.to_str().unwrap()
    );
    // As in Python on POSIX, `./tool` is resolved in the child's cwd.
    let script = dir.file("tool.sh", "#!/bin/sh\necho tool ran in \"$(pwd)\"\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = PopenBuilder::new(["./tool.sh"])
        .cwd(dir.path())
        .check_output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("tool ran in {}\n", want.display())
    );
}

#[test]
fn env_extends_the_environment_or_replaces_it() {
    let path = std::env::var("PATH").unwrap();
    // Extend: the new variable is there, and so is the parent's PATH.
    let out = PopenBuilder::new(["sh", "-c", "printf '%s|%s' \"$FORKLORE_X\" \"$PATH\""])
        .env("FORKLORE_X", "set by the parent")
        .check_output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("set by the parent|{path}")
    );
    // Replace: the child sees exactly what was given (Python: env={...}).
    let out = PopenBuilder::new(["env"])
        .env_clear()
        .env("ONLY", "this")
        .envs([("AND", "that")])
        .check_output()
        .unwrap();
    let mut lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    lines.sort();
    assert_eq!(lines, ["AND=that", "ONLY=this"]);
    // Remove one variable.
    let out = PopenBuilder::new(["sh", "-c", "echo ${FORKLORE_Y-unset}"])
        .env("FORKLORE_Y", "1")
        .env_remove("FORKLORE_Y")
        .check_output()
        .unwrap();
    assert_eq!(out, b"unset\n");
}

#[test]
fn an_environment_name_with_equals_is_refused_not_set() {
    // CPython: ValueError: illegal environment variable name. Before, the
    // child got the entry `A=B=c`, that is `A` set to `B=c`.
    let e = PopenBuilder::new(["sh", "-c", "echo \"${A-unset}\""])
        .env("A=B", "c")
        .check_output()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        r#"invalid argument: illegal environment variable name "A=B": a name cannot contain '='"#
    );
    let e = PopenBuilder::new(["true"])
        .env_remove("A=B")
        .run()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}

#[test]
fn a_nul_byte_anywhere_is_an_invalid_argument_shown_escaped() {
    // CPython: ValueError: embedded null byte, for each of these.
    let cases: Vec<(PopenBuilder, &str)> = vec![
        (
            PopenBuilder::new(["ec\0ho", "x"]),
            r#"the program: "ec\0ho""#,
        ),
        (PopenBuilder::new(["echo", "a\0b"]), r#"argument 1: "a\0b""#),
        (
            PopenBuilder::shell("echo a\0b"),
            r#"the command line: "echo a\0b""#,
        ),
        (
            PopenBuilder::new(["true"]).env("K\0", "v"),
            r#"an environment variable's name: "K\0""#,
        ),
        (
            PopenBuilder::new(["true"]).env("K", "v\0"),
            r#"the value of environment variable "K": "v\0""#,
        ),
        (
            PopenBuilder::new(["true"]).cwd("/tm\0p"),
            r#"the working directory: "/tm\0p""#,
        ),
    ];
    for (cmd, what) in cases {
        let e = cmd.spawn().unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::InvalidArgument(_)), "{what}: {e:?}");
        assert_eq!(
            msg,
            format!("invalid argument: embedded null byte in {what}")
        );
        assert!(!msg.contains('\0'), "no raw NUL in the message: {msg:?}");
    }
}

// ---- communicate -------------------------------------------------------------

#[test]
fn communicate_moves_10_mb_each_way_while_the_child_echoes_to_both_pipes() {
    within(Duration::from_secs(90), || {
        // The child writes each chunk to stdout *and* stderr as soon as it reads
        // it. A parent that wrote all input before reading would fill both
        // pipes and deadlock; the timeout turns such a bug into a failure.
        let input = pattern(10 * MB, 3);
        let mut p = PopenBuilder::new([fx().as_str(), "echo_both"])
            .stdin(Redirect::Pipe)
            .capture_output()
            .spawn()
            .unwrap();
        let (out, err) = p
            .communicate_timeout(Some(&input), Duration::from_secs(60))
            .unwrap();
        same("stdout", &out.unwrap(), &input);
        same("stderr", &err.unwrap(), &input);
        assert!(p.returncode().unwrap().success());
    });
}

#[test]
fn communicate_survives_a_child_that_floods_both_pipes_before_reading() {
    within(Duration::from_secs(90), || {
        let input = pattern(10 * MB, 5);
        let mut p = PopenBuilder::new([fx().as_str(), "flood", &(10 * MB).to_string()])
            .stdin(Redirect::Pipe)
            .capture_output()
            .spawn()
            .unwrap();
        let (out, err) = p
            .communicate_timeout(Some(&input), Duration::from_secs(60))
            .unwrap();
        let flood = pattern(10 * MB, 7);
        let mut want = flood.clone();
        want.extend_from_slice(&input);
        same("stdout", &out.unwrap(), &want);
        same("stderr", &err.unwrap(), &flood);
    });
}

#[test]
fn communicate_timeout_leaves_the_child_running_and_loses_no_output() {
    within(Duration::from_secs(90), || {
        // The child writes 1 MB (more than a pipe holds, so the parent must read
        // during the first call), then blocks until its stdin is closed.
        let mut p = PopenBuilder::new([fx().as_str(), "gated", &MB.to_string()])
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .spawn()
            .unwrap();
        let gate = p.take_stdin(); // held here: communicate cannot close it
        let t = Instant::now();
        let e = p
            .communicate_timeout(None, Duration::from_millis(300))
            .unwrap_err();
        let waited = t.elapsed();
        assert!(e.is_timeout(), "{e}");
        assert!(
            matches!(&e, Error::TimeoutExpired { timeout, .. } if *timeout == Duration::from_millis(300))
        );
        assert_eq!(
            e.to_string(),
            format!(
                "Command '['{}', 'gated', '{MB}']' timed out after 0.3 seconds",
                fx()
            )
        );
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        // Not killed: it still runs, waiting for its stdin.
        assert_eq!(p.poll().unwrap(), None);
        assert_eq!(p.returncode(), None);
        drop(gate);
        let (out, err) = p
            .communicate_timeout(None, Duration::from_secs(60))
            .unwrap();
        let mut want = pattern(MB, 11);
        want.extend_from_slice(b"done\n");
        same("stdout after the timeout", &out.unwrap(), &want);
        assert_eq!(err, None);
        assert!(p.returncode().unwrap().success());
        // Later calls have nothing more to return.
        assert_eq!(p.communicate(None).unwrap(), (Some(vec![]), None));
    });
}

// CPython: test_subprocess.ProcessTestCase.test_communicate_timeout (the
// output so far comes with the timeout: `TimeoutExpired.stdout`/`.stderr`,
// issue 14 item 7), and the whole output afterwards.
#[test]
fn communicate_timeout_carries_the_output_read_so_far() {
    within(Duration::from_secs(90), || {
        let mut p = PopenBuilder::shell("echo started; echo pineapple >&2; exec cat")
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .stderr(Redirect::Pipe)
            .spawn()
            .unwrap();
        let gate = p.take_stdin(); // held: the child blocks in `cat`
                                   // Each timeout carries everything read so far; wait until the
                                   // child's two lines have arrived (a loaded machine may be slow).
        let deadline = Instant::now() + Duration::from_secs(60);
        let (out, err) = loop {
            let e = p
                .communicate_timeout(None, Duration::from_millis(100))
                .unwrap_err();
            let Error::TimeoutExpired { stdout, stderr, .. } = e else {
                panic!("not a timeout: {e}");
            };
            let (out, err) = (stdout.expect("a pipe"), stderr.expect("a pipe"));
            if (out.len(), err.len()) == (8, 10) || Instant::now() > deadline {
                break (out, err);
            }
        };
        assert_eq!(out, b"started\n");
        assert_eq!(err, b"pineapple\n");
        drop(gate);
        let (out, err) = p
            .communicate_timeout(None, Duration::from_secs(60))
            .unwrap();
        assert_eq!(out.unwrap(), b"started\n");
        assert_eq!(err.unwrap(), b"pineapple\n");
    });
}

#[test]
fn communicate_after_a_timeout_sends_the_rest_of_the_input() {
    within(Duration::from_secs(90), || {
        // A zero timeout cannot push 10 MB through a 64 KiB pipe: the first
        // calls time out with input unsent, and the last one sends the rest.
        let input = pattern(10 * MB, 13);
        let mut p = PopenBuilder::new([fx().as_str(), "echo_both"])
            .stdin(Redirect::Pipe)
            .capture_output()
            .spawn()
            .unwrap();
        let e = p
            .communicate_timeout(Some(&input), Duration::ZERO)
            .unwrap_err();
        assert!(e.is_timeout(), "{e}");
        for _ in 0..3 {
            let e = p.communicate_timeout(None, Duration::ZERO).unwrap_err();
            assert!(e.is_timeout(), "{e}");
        }
        let again = p.communicate(Some(b"more")).unwrap_err();
        assert!(matches!(again, Error::InvalidArgument(_)), "{again}");
        let (out, err) = p
            .communicate_timeout(None, Duration::from_secs(60))
            .unwrap();
        same("stdout", &out.unwrap(), &input);
        same("stderr", &err.unwrap(), &input);
    });
}

#[test]
fn communicate_without_pipes_just_waits() {
    let mut p = Popen::new(["sh", "-c", "exit 4"]).unwrap();
    assert_eq!(p.communicate(None).unwrap(), (None, None));
    assert_eq!(p.returncode(), Some(ExitStatus::Exited(4)));
}

// ---- wait, poll, returncode, signals ---------------------------------------

#[test]
fn wait_timeout_sleeps_in_the_kernel_and_leaves_the_child_running() {
    let mut p = Popen::new(["sleep", "30"]).unwrap();
    assert_eq!(p.poll().unwrap(), None);
    let (cpu, t) = (thread_cpu(), Instant::now());
    let e = p.wait_timeout(Duration::from_millis(500)).unwrap_err();
    let (cpu, waited) = (thread_cpu() - cpu, t.elapsed());
    assert_eq!(
        e.to_string(),
        "Command '['sleep', '30']' timed out after 0.5 seconds"
    );
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    // A busy loop would burn about 500 ms of CPU; a pidfd poll almost none.
    assert!(cpu < Duration::from_millis(50), "wait used {cpu:?} of CPU");
    assert_eq!(p.poll().unwrap(), None, "a wait timeout does not kill");
    p.terminate().unwrap();
    let st = p.wait_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(st, ExitStatus::Signaled(Signal::SIGTERM));
    assert_eq!(st.to_string(), "-15");
    assert_eq!(p.returncode(), Some(st));
    // Signalling a reaped child does nothing.
    p.kill().unwrap();
    assert_eq!(p.wait().unwrap(), st);
}

#[test]
fn a_timeout_too_large_for_a_deadline_means_no_timeout() {
    // Python accepts any timeout; `Instant + Duration::MAX` would overflow.
    let mut p = Popen::new(["true"]).unwrap();
    assert!(p.wait_timeout(Duration::MAX).unwrap().success());
    let mut p = PopenBuilder::new(["echo", "hi"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let (out, _) = p.communicate_timeout(None, Duration::MAX).unwrap();
    assert_eq!(out.as_deref(), Some(&b"hi\n"[..]));
    let done = PopenBuilder::new(["true"])
        .timeout(Duration::MAX)
        .run()
        .unwrap();
    assert!(done.returncode.success());
}

#[test]
fn a_death_by_signal_is_its_own_variant_shown_negative() {
    let mut p = Popen::new(["sleep", "30"]).unwrap();
    p.kill().unwrap();
    let st = p.wait().unwrap();
    assert_eq!(st, ExitStatus::Signaled(Signal::SIGKILL));
    assert_eq!((st.code(), st.to_string()), (-9, "-9".to_string()));
    // A child that kills itself, and a plain exit code, for contrast.
    let st = subprocess::run(["sh", "-c", "kill -TERM $$"])
        .unwrap()
        .returncode;
    assert_eq!((st.signal(), st.code()), (Some(Signal::SIGTERM), -15));
    let st = subprocess::run(["sh", "-c", "exit 3"]).unwrap().returncode;
    assert_eq!(st, ExitStatus::Exited(3));
    assert_eq!(st.to_string(), "3");
}

#[test]
fn a_death_by_a_real_time_signal_keeps_its_number() {
    // nix's Signal has no real-time signals; the status must not be lost
    // (it used to be: waitpid succeeded, then decoding failed with EINVAL).
    let st = subprocess::run(["sh", "-c", "kill -35 $$"])
        .unwrap()
        .returncode;
    assert_eq!(st, ExitStatus::SignaledOther(35));
    assert_eq!((st.code(), st.to_string()), (-35, "-35".to_string()));
    assert_eq!((st.signal(), st.signal_number()), (None, Some(35)));
    // Python's CalledProcessError wording, for both kinds (checked on
    // CPython 3.11: SIGRTMIN is named, 35 is not).
    for (n, want) in [
        (34, "died with <Signals.SIGRTMIN: 34>."),
        (35, "died with unknown signal 35."),
    ] {
        let cmd = format!("kill -{n} $$");
        let e = PopenBuilder::shell(&cmd).check().run().unwrap_err();
        assert_eq!(e.to_string(), format!("Command '{cmd}' {want}"));
    }
}

// ---- run, check, check_output, timeouts ---------------------------------------

#[test]
fn check_turns_a_non_zero_exit_into_an_error_with_the_output() {
    let cmd = PopenBuilder::new(["sh", "-c", "echo out; echo err >&2; exit 2"]).capture_output();
    let e = cmd.check().run().unwrap_err();
    assert_eq!(
        e.to_string(),
        "Command '['sh', '-c', 'echo out; echo err >&2; exit 2']' returned non-zero exit status 2."
    );
    match e {
        Error::CommandFailed {
            returncode,
            stdout,
            stderr,
            ..
        } => {
            assert_eq!(returncode, ExitStatus::Exited(2));
            assert_eq!(stdout.as_deref(), Some(&b"out\n"[..]));
            assert_eq!(stderr.as_deref(), Some(&b"err\n"[..]));
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    // Without check the same run succeeds, and check_returncode() says it.
    let done = PopenBuilder::new(["sh", "-c", "exit 2"]).run().unwrap();
    assert_eq!(
        done.args,
        PopenArgs::Argv(vec!["sh".into(), "-c".into(), "exit 2".into()])
    );
    assert_eq!(done.returncode.code(), 2);
    assert_eq!((done.stdout.as_ref(), done.stderr.as_ref()), (None, None));
    assert!(matches!(
        done.check_returncode(),
        Err(Error::CommandFailed { .. })
    ));
    // A shell command shows as its string; a death by signal says so, in
    // CPython 3.11's words.
    let e = PopenBuilder::shell("kill -KILL $$")
        .check()
        .run()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Command 'kill -KILL $$' died with <Signals.SIGKILL: 9>."
    );
}

#[test]
fn check_output_returns_stdout_or_the_failure() {
    assert_eq!(subprocess::check_output(["echo", "hi"]).unwrap(), b"hi\n");
    let e = PopenBuilder::new(["sh", "-c", "echo partial; exit 1"])
        .check_output()
        .unwrap_err();
    match e {
        Error::CommandFailed {
            returncode, stdout, ..
        } => {
            assert_eq!(returncode.code(), 1);
            assert_eq!(stdout.as_deref(), Some(&b"partial\n"[..]));
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    let input = PopenBuilder::new(["cat"])
        .input("fed in")
        .check_output()
        .unwrap();
    assert_eq!(input, b"fed in");
}

#[test]
fn a_run_timeout_kills_and_reaps_the_child_then_reports() {
    let t = Instant::now();
    let e = PopenBuilder::new(["sh", "-c", "echo $$; exec sleep 30"])
        .stdout(Redirect::Pipe)
        .timeout(Duration::from_secs(2))
        .check()
        .run()
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(
        e.to_string(),
        "Command '['sh', '-c', 'echo $$; exec sleep 30']' timed out after 2 seconds"
    );
    let Error::TimeoutExpired { stdout, .. } = e else {
        panic!("expected TimeoutExpired, got {e:?}")
    };
    let out = String::from_utf8(stdout.expect("stdout was a pipe")).unwrap();
    let pid: u32 = out.trim().parse().unwrap_or_else(|_| panic!("{out:?}"));
    // Killed and reaped: not even a zombie is left.
    assert!(!proc_exists(pid), "child {pid} is still in /proc");
}

// ---- launch failures ----------------------------------------------------------

fn launch_error(
    e: Error,
) -> (
    String,
    Option<std::path::PathBuf>,
    std::io::ErrorKind,
    String,
) {
    let msg = e.to_string();
    match e {
        Error::Launch {
            program,
            cwd,
            source,
        } => (program.display().to_string(), cwd, source.kind(), msg),
        other => panic!("expected Error::Launch, got {other:?}"),
    }
}

#[test]
fn a_missing_program_fails_in_the_parent_naming_it() {
    let e = Popen::new(["forklore-no-such-program", "x"]).unwrap_err();
    let (program, cwd, kind, msg) = launch_error(e);
    assert_eq!(program, "forklore-no-such-program");
    assert_eq!(cwd, None);
    assert_eq!(kind, std::io::ErrorKind::NotFound);
    assert_eq!(
        msg,
        "cannot launch forklore-no-such-program: No such file or directory (os error 2)"
    );
    // Through a shell the same name *is* a child exiting 127: the shell ran.
    let done = PopenBuilder::shell("forklore-no-such-program 2>/dev/null")
        .run()
        .unwrap();
    assert_eq!(done.returncode.code(), 127);
}

#[test]
fn a_missing_cwd_fails_in_the_parent_naming_the_directory() {
    let dir = TempDir::new("sp-nocwd");
    let missing = dir.path().join("not-there");
    let e = PopenBuilder::new(["ls"]).cwd(&missing).spawn().unwrap_err();
    let (program, cwd, kind, msg) = launch_error(e);
    assert_eq!(program, "ls");
    assert_eq!(cwd.as_deref(), Some(missing.as_path()));
    assert_eq!(kind, std::io::ErrorKind::NotFound);
    assert_eq!(
        msg,
        format!(
            "cannot launch ls: working directory {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    // A file where a directory should be.
    let file = dir.file("plain", "");
    let (_, cwd, kind, _) = launch_error(PopenBuilder::new(["ls"]).cwd(&file).spawn().unwrap_err());
    assert_eq!(cwd.as_deref(), Some(file.as_path()));
    assert_eq!(kind, std::io::ErrorKind::NotADirectory);
}

#[test]
fn a_file_that_is_not_executable_fails_in_the_parent_naming_it() {
    let dir = TempDir::new("sp-noexec");
    let path = dir.file("a.txt", "just text\n");
    let e = Popen::new([&path]).unwrap_err();
    let (program, cwd, kind, msg) = launch_error(e);
    assert_eq!(program, path.display().to_string());
    assert_eq!(cwd, None);
    assert_eq!(kind, std::io::ErrorKind::PermissionDenied);
    assert_eq!(
        msg,
        format!(
            "cannot launch {}: Permission denied (os error 13)",
            path.display()
        )
    );
    // run() reports it the same way, before any child exists.
    assert!(matches!(
        subprocess::run([&path]),
        Err(Error::Launch { .. })
    ));
}

// ---- misuse --------------------------------------------------------------------

#[test]
fn arguments_that_cannot_work_are_refused_with_a_reason() {
    let invalid = |r: forklore::Result<Popen>| match r {
        Err(Error::InvalidArgument(why)) => why,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    let why = invalid(PopenBuilder::new(["true"]).stdout(Redirect::Stdout).spawn());
    assert!(why.contains("only makes sense for stderr"), "{why}");
    let why = invalid(PopenBuilder::new(Vec::<String>::new()).spawn());
    assert!(why.contains("empty"), "{why}");
    let why = invalid(PopenBuilder::new(["true"]).check().spawn());
    assert!(why.contains("run()"), "{why}");
    // Input for a child whose stdin is not a pipe.
    let mut p = PopenBuilder::new(["true"]).spawn().unwrap();
    let e = p.communicate(Some(b"lost")).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    p.wait().unwrap();
    // run: input and stdin together.
    let e = PopenBuilder::new(["cat"])
        .stdin(Redirect::DevNull)
        .input("x")
        .run()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

// ---- no zombies ------------------------------------------------------------------

#[test]
fn a_dropped_running_popen_does_not_block_and_its_child_is_reaped() {
    let out = stdout(&run_ok("fx_subprocess", &["drop_running"]));
    assert_eq!(value(&out, "drop_quick"), "true", "{out}");
    assert_eq!(value(&out, "alive_after_drop"), "true", "{out}");
    assert_eq!(value(&out, "gone_within_10s"), "true", "{out}");
}

#[test]
fn dropping_closes_the_stdin_pipe_so_a_reader_ends_and_is_reaped() {
    let out = stdout(&run_ok("fx_subprocess", &["drop_reader"]));
    assert_eq!(value(&out, "gone_within_10s"), "true", "{out}");
}

#[test]
fn waited_children_leave_nothing_in_proc() {
    let mut p = Popen::new(["true"]).unwrap();
    let pid = p.pid().as_raw() as u32;
    assert!(p.wait().unwrap().success());
    assert!(!proc_exists(pid), "child {pid} left a zombie");
}
