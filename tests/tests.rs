//! forklore's integration tests, one crate (as ripgrep's `tests/tests.rs`):
//! each module checks one part of the library against CPython's behaviour,
//! through fixture programs (`tests/fixtures/`, binaries of this package) so that
//! nothing forks inside this multithreaded test harness.

mod api_surface;
mod common;
mod cpython;
#[path = "fixtures/pattern.rs"]
mod pattern;

mod dialects;
mod edge;
mod executor;
mod hostile_dialects;
mod layering;
mod managers;
mod mp_cases;
mod pool;
mod process;
mod pyproto;
mod pyproto_server;
mod python_map;
mod remote;
mod review_pyproto;
mod shm;
mod start;
mod subprocess;
