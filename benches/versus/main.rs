//! `cargo bench --bench versus`: forklore against CPython and against the
//! system-call floor, in one run.
//!
//! Prints a table and writes `target/versus.json`:
//! `{"rows": [{"name", "unit", "forklore", "cpython", "floor",
//! "speedup_vs_cpython", "over_floor"}]}`, times in microseconds per
//! operation, `speedup_vs_cpython` = cpython / forklore and
//! `over_floor` = forklore / floor. Without `python3` the cpython column is
//! empty (null) and the bench says so.
//!
//! `cargo bench --bench versus -- ROW...` runs only the rows whose names
//! start with one of the given prefixes (for example `process.`).

mod harness;
mod pool;
mod process;

use harness::{measure, print_table, python_available, write_json, Spec};

fn specs() -> Vec<Spec<'static>> {
    vec![
        process::spawn_join(),
        pool::apply_async(),
        pool::map(),
        pool::submit(),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; everything else is a row filter.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let python = python_available();
    if !python {
        eprintln!("versus: python3 not found; the cpython column is left empty");
    }
    let mut rows = Vec::new();
    for spec in specs() {
        if !filters.is_empty() && !filters.iter().any(|f| spec.name.starts_with(f.as_str())) {
            continue;
        }
        eprintln!("versus: measuring {} ...", spec.name);
        rows.push(measure(spec, python));
    }
    print_table(&rows);
    match write_json(&rows) {
        Ok(path) => eprintln!("versus: wrote {}", path.display()),
        Err(e) => eprintln!("versus: could not write versus.json: {e}"),
    }
}
