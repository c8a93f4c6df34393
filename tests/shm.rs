//! The objects that live in shared memory (`synchronize`, `sharedctypes`,
//! `queues`, `shared_memory`), used by real processes. Each case runs in the
//! `fx_shm` fixture, a fresh single-threaded process, because forking
//! inside this multithreaded test harness would not be sound. The CPython
//! test each case derives from (Lib/test/_test_multiprocessing.py) is named
//! in the fixture.

mod common;

use common::{run_ok, stdout, value};

fn case(name: &str) -> String {
    stdout(&run_ok("fx_shm", &[name]))
}

#[test]
fn a_shared_value_loses_updates_without_its_lock_and_none_with_it_or_fetch_add() {
    let out = case("lost_update");
    assert_eq!(value(&out, "expected"), "80000", "{out}");
    assert_eq!(value(&out, "unlocked_at_most_expected"), "true", "{out}");
    assert_eq!(value(&out, "locked"), "80000", "{out}");
    assert_eq!(value(&out, "atomic"), "80000", "{out}");
}

#[test]
fn a_lock_excludes_other_processes_and_any_process_may_release_it() {
    let out = case("lock_across");
    assert_eq!(
        value(&out, "parent_try_while_child_holds"),
        "false",
        "{out}"
    );
    assert_eq!(
        value(&out, "parent_timeout_while_child_holds"),
        "false",
        "{out}"
    );
    assert_eq!(
        value(&out, "parent_acquires_after_release"),
        "true",
        "{out}"
    );
    assert_eq!(value(&out, "released_by_child"), "true", "{out}");
}

#[test]
fn a_killed_holder_keeps_a_lock_but_a_robust_lock_tells_the_next_owner() {
    let out = case("holder_killed");
    assert_eq!(value(&out, "lock_after_kill_acquired"), "false", "{out}");
    assert_eq!(
        value(&out, "robust"),
        "owner_died pid_matches=true",
        "{out}"
    );
    assert_eq!(value(&out, "robust_usable_again"), "true", "{out}");
}

#[test]
fn a_barrier_of_processes_gives_each_a_distinct_index() {
    let out = case("barrier");
    assert_eq!(value(&out, "indices"), "[0, 1, 2, 3, 4]", "{out}");
    assert_eq!(value(&out, "broken"), "false", "{out}");
}

#[test]
fn condition_waiters_in_other_processes_see_the_predicate() {
    let out = case("condition");
    assert_eq!(value(&out, "waiters_saw"), "4", "{out}");
}

#[test]
fn joining_producers_before_getting_does_not_deadlock() {
    let out = case("queue_join_before_get");
    assert_eq!(value(&out, "joined_before_get"), "true qsize=60", "{out}");
    assert_eq!(value(&out, "items_per_producer"), "[20, 20, 20]", "{out}");
}

#[test]
fn producers_and_consumers_share_a_bounded_queue() {
    let out = case("producers_consumers");
    assert_eq!(value(&out, "sum_ok"), "true", "{out}");
    assert_eq!(value(&out, "empty"), "true", "{out}");
}

#[test]
fn joinable_queue_join_returns_when_every_item_is_done() {
    let out = case("joinable");
    assert_eq!(value(&out, "done_at_join"), "30", "{out}");
}

#[test]
fn objects_travel_as_memfds_to_a_child_that_did_not_fork_from_us() {
    let out = case("memfd_spawn");
    assert_eq!(
        value(&out, "from_child"),
        "hello from an exec'd child",
        "{out}"
    );
    assert_eq!(value(&out, "value_after_child"), "1005", "{out}");
    assert_eq!(value(&out, "lock_free"), "true", "{out}");
}
