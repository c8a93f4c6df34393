//! Chapter 17, Try it 3: stderr piped apart, then merged into stdout.
//!
//! Run it: `cargo run --example ch17_try_3`

use forklore::outln;
use forklore::subprocess::{PopenBuilder, Redirect};

pub fn main() {
    let mut p = PopenBuilder::new(["sh", "-c", "cat; echo done >&2"])
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Pipe)
        .spawn()
        .expect("could not launch sh");
    let (out, err) = p
        .communicate(Some(b"hello from the parent\n"))
        .expect("communicate failed");
    outln!(
        "stdout: {:?}",
        String::from_utf8_lossy(&out.unwrap_or_default())
    );
    outln!(
        "stderr: {:?}",
        String::from_utf8_lossy(&err.unwrap_or_default())
    );

    // Python's stderr=STDOUT: both streams in one pipe, stderr is None.
    let mut p = PopenBuilder::new(["sh", "-c", "cat; echo done >&2"])
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Stdout)
        .spawn()
        .expect("could not launch sh");
    let (out, err) = p
        .communicate(Some(b"hello from the parent\n"))
        .expect("communicate failed");
    outln!(
        "merged stdout: {:?}",
        String::from_utf8_lossy(&out.unwrap_or_default())
    );
    outln!("merged stderr: {err:?}");
}
