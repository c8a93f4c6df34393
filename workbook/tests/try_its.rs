//! The "Try it" exercises that are programs: `workbook/examples/chNN_try_K.rs`,
//! built by `cargo test` (cargo builds a package's examples before its
//! tests) and run here, so an exercise whose promised outcome stops being
//! true fails the build as a wrong chapter does.
//!
//! Every example must be named on its chapter's page, and every example must
//! have a test below.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::root;

/// The built example `name`: `target/<profile>/examples/<name>`, next to the
/// `deps/` folder of this test binary. When only this test target was built
/// (`cargo test --test book`), cargo has not built the examples: build it.
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let path: PathBuf = profile.join("examples").join(name);
    if !path.is_file() {
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-q", "-p", "forklore-workbook", "--example", name])
            .current_dir(root());
        if profile.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    let mut cmd = Command::new(path);
    cmd.current_dir(root());
    cmd
}

fn examples() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("workbook/examples"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_try_it_program_is_named_on_its_page_and_tested() {
    let me = std::fs::read_to_string(root().join("workbook/tests/try_its.rs")).unwrap();
    for ex in examples() {
        let chapter = &ex[..4]; // "ch05"
        let page = std::fs::read_dir(root().join("workbook"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.extension().is_some_and(|x| x == "md")
                    && p.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .starts_with(chapter)
            })
            .unwrap_or_else(|| panic!("{ex}: no page for {chapter}"));
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(
            text.contains(&format!("workbook/examples/{ex}.rs")),
            "{} does not name workbook/examples/{ex}.rs",
            page.display()
        );
        assert!(
            me.contains(&format!("example(\"{ex}\")")),
            "workbook/examples/{ex}.rs has no test in try_its.rs"
        );
    }
}

/// Chapter 1, Try it 2: with `nix::unistd::fork`, which does not flush,
/// the unflushed `before fork ` is printed by both processes.
#[test]
fn ch01_try_2_the_unflushed_buffer_is_printed_twice() {
    let out = example("ch01_try_2").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("before fork ").count(), 2, "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().all(|l| l.starts_with("before fork I")),
        "{text}"
    );
}

/// Chapter 5, Try it 2: `print!` then `println!` leave in one `write(2)`
/// (std's stdout is line-buffered), so the lines cannot tear; a flush
/// between them makes two writes.
#[test]
fn ch05_try_2_two_prints_are_one_write_unless_flushed_between() {
    for (args, want) in [(&[][..], "writes: 1"), (&["--flush"][..], "writes: 2")] {
        let out = example("ch05_try_2").args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        let counts: Vec<&str> = err.lines().collect();
        assert_eq!(counts.len(), 10, "{args:?}: {err}");
        assert!(counts.iter().all(|c| *c == want), "{args:?}: {err}");
        if args.is_empty() {
            // One write per line, and a pipe write under PIPE_BUF is
            // atomic: every line arrives whole.
            let text = String::from_utf8(out.stdout).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.pop(), Some("ending []"), "{text}");
            lines.sort();
            let want: Vec<String> = (0..10).map(|i| format!("say hi [{i}]")).collect();
            assert_eq!(lines, want, "{text}");
        }
    }
}
