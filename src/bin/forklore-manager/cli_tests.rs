//! The command line of `forklore-manager` (the library package's one
//! program): how it refuses to start. Serving real CPython clients is tested
//! in `tests/pyproto_server.rs`, which runs the binary this target makes
//! cargo build (a package's binaries are built for its integration tests).

use std::process::{Command, Output};

fn run(args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forklore-manager"));
    cmd.args(args).env_remove("FORKLORE_AUTHKEY");
    if let Some(k) = key {
        cmd.env("FORKLORE_AUTHKEY", k);
    }
    cmd.output().expect("forklore-manager runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn without_a_command_it_prints_its_usage_and_exits_2() {
    let out = run(&[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("usage: forklore-manager serve"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_a_key_it_refuses_to_serve() {
    let out = run(&["serve", "--bind", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no authkey: set FORKLORE_AUTHKEY"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_key_on_the_command_line_is_refused_even_with_one_in_the_environment() {
    let out = run(
        &["serve", "--bind", "127.0.0.1:0", "--authkey", "x"],
        Some("k"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("never taken from the command line"),
        "{}",
        stderr(&out)
    );
}
