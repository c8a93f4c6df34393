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
//!
//! `cargo bench --bench versus -- --report` measures nothing: it turns the
//! last `target/versus.json` into the table of
//! `workbook/appendix_performance.md` and the chart `workbook/versus.svg`.

mod bulk;
mod harness;
mod interop;
mod managers;
mod pool;
mod process;
mod report;
mod shm;
mod subprocess;

use harness::{measure, print_table, python_available, write_json, Spec};

fn specs() -> Vec<Spec<'static>> {
    vec![
        process::spawn_join(),
        process::spawn_join_forkserver(),
        process::spawn_join_spawn(),
        managers::list_append(),
        managers::list_append_8clients(),
        managers::queue_put_get(),
        managers::value_get_set(),
        bulk::list_extend_1m(),
        bulk::list_to_vec_1m(),
        bulk::bytes_get_16mib(),
        bulk::object_bytes(),
        // How cost grows with size (1 k to 100 k; 1 M is the rows above),
        // shown in the appendix as a table of their own.
        bulk::list_extend(bulk::GROWTH[0]),
        bulk::list_extend(bulk::GROWTH[1]),
        bulk::list_extend(bulk::GROWTH[2]),
        bulk::list_to_vec(bulk::GROWTH[0]),
        bulk::list_to_vec(bulk::GROWTH[1]),
        bulk::list_to_vec(bulk::GROWTH[2]),
        subprocess::spawn_wait(),
        pool::apply_async(),
        pool::map(),
        pool::submit(),
        pool::away(),
        shm::value_add_locked(),
        shm::lock_acquire_release(),
        shm::queue_put_get(),
        interop::list_append(),
        interop::rust_client_list_append(),
        interop::rust_client_forklore_server(),
    ]
}

fn main() {
    // The floor of `process.spawn_join.spawn`: a run that only starts.
    if std::env::var_os(process::FLOOR_EXIT).is_some() {
        std::process::exit(0);
    }
    // The spawn and forkserver rows re-execute this binary: run the target.
    forklore::init();
    // Every other row measures fork (pools, managers), as its CPython twin
    // does; the forkserver and spawn rows choose their method per process.
    forklore::start::set_start_method(forklore::StartMethod::Fork);
    if std::env::args().any(|a| a == "--report") {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        match report::write(&harness::json_path(), &root.join("workbook")) {
            Ok(paths) => {
                for p in paths {
                    eprintln!("versus: wrote {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("versus: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
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
