//! The objects that live in shared memory (`synchronize`, `sharedctypes`,
//! `queues`, `shared_memory`), used by real processes. Each case runs in the
//! `fx_shm` fixture, a fresh single-threaded process, because forking
//! inside this multithreaded test harness would not be sound. The CPython
//! test each case derives from (Lib/test/_test_multiprocessing.py) is named
//! in the fixture.

use crate::common;

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

#[test]
fn shared_memory_basics_follow_cpython() {
    let out = case("shm_basics");
    assert_eq!(value(&out, "prefix_ok"), "true", "{out}");
    assert_eq!(value(&out, "write_past_end"), "true", "{out}");
    assert_eq!(value(&out, "read_back"), "abcde", "{out}");
    assert_eq!(value(&out, "create_existing"), "AlreadyExists", "{out}");
    assert_eq!(value(&out, "size_zero_refused"), "true", "{out}");
    assert_eq!(value(&out, "attach_after_unlink"), "NotFound", "{out}");
    assert_eq!(value(&out, "list"), "[1.5, -1.0]", "{out}");
    assert_eq!(value(&out, "list_wrong_type_refused"), "true", "{out}");
}

#[test]
fn a_shared_memory_block_lives_while_any_user_has_it_and_no_longer() {
    let out = case("shm_lifecycle");
    assert_eq!(value(&out, "exists_after_creator_closed"), "true", "{out}");
    assert_eq!(value(&out, "read_from_holder"), "hi", "{out}");
    assert_eq!(value(&out, "gone_after_last_user"), "true", "{out}");
}

#[test]
fn no_block_is_left_in_dev_shm_when_every_user_is_killed() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fx_shm"))
        .arg("shm_killed")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    for line in out.lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line == "ready" {
            break;
        }
    }
    let name = value(&text, "name").to_string();
    let path = std::path::PathBuf::from(format!("/dev/shm/{name}"));
    assert!(path.exists(), "{text}");
    for pid in value(&text, "pids").split(' ') {
        let pid = nix::unistd::Pid::from_raw(pid.parse().unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    child.wait().unwrap();
    // The guardian wakes when the kernel drops the last user's lock; the
    // bound is generous, the claim is only that it goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while path.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        !path.exists(),
        "{} left behind after SIGKILL of every user",
        path.display()
    );
}

#[test]
fn processes_killed_inside_put_and_get_leave_the_queue_usable_and_counted() {
    let out = case("queue_killed_inside");
    assert_eq!(value(&out, "consistent_rounds"), "30/30", "{out}");
}

#[test]
fn a_forked_child_does_not_own_its_parents_rlock() {
    let out = case("rlock_forked_child");
    assert_eq!(
        value(&out, "child_acquired_parents_rlock"),
        "false",
        "{out}"
    );
    assert_eq!(value(&out, "child_release_refused"), "true", "{out}");
    assert_eq!(value(&out, "parent_level"), "1", "{out}");
}

#[test]
fn create_succeeds_when_another_thread_reaps_every_child() {
    let out = case("shm_create_with_reaper");
    assert_eq!(value(&out, "created"), "20/20", "{out}");
}

// ---- the objects as `Process::from_fn` arguments, under each start method ----

const METHODS: [&str; 3] = ["fork", "spawn", "forkserver"];

fn case_with(name: &str, method: &str) -> String {
    let out = stdout(&run_ok("fx_shm", &[name, method]));
    format!("method={method}\n{out}")
}

#[test]
fn a_child_of_each_start_method_increments_a_value_under_a_lock_puts_and_waits_on_an_event() {
    for m in METHODS {
        let out = case_with("start_counter", m);
        assert_eq!(value(&out, "items_before_set"), "0", "{out}");
        assert_eq!(value(&out, "value_before_set"), "0", "{out}");
        assert_eq!(value(&out, "value"), "1500", "{out}");
        assert_eq!(
            value(&out, "items"),
            "child 0 waited=true,child 1 waited=true,child 2 waited=true",
            "{out}"
        );
        assert_eq!(value(&out, "queue_empty_after"), "true", "{out}");
        assert_eq!(value(&out, "lock_free_after"), "true", "{out}");
        // The descriptors duplicated for the starts are all closed again.
        assert_eq!(value(&out, "parent_fds_leaked"), "0", "{out}");
        if m != "fork" {
            // Exactly the five objects' memfds reached the fresh child.
            assert_eq!(value(&out, "child_fds"), "5,5,5", "{out}");
        }
    }
}

#[test]
fn an_rlock_passed_to_a_child_of_each_start_method_is_owned_per_process() {
    for m in METHODS {
        let out = case_with("start_rlock", m);
        assert_eq!(
            value(&out, "took_parents_rlock"),
            "false release_refused=true level=0",
            "{out}"
        );
        assert_eq!(value(&out, "parent_level"), "2", "{out}");
        assert_eq!(
            value(&out, "child_level"),
            "2 extra_release_refused=true",
            "{out}"
        );
        assert_eq!(value(&out, "parent_acquires_after"), "true", "{out}");
        assert_eq!(value(&out, "lock_held_by_dead_child"), "true", "{out}");
        assert_eq!(value(&out, "parent_releases"), "true", "{out}");
        assert_eq!(value(&out, "second_release_refused"), "true", "{out}");
    }
}

#[test]
fn a_robust_lock_held_by_a_child_that_ended_reports_its_death_under_each_start_method() {
    for m in METHODS {
        let out = case_with("start_robust", m);
        assert_eq!(
            value(&out, "robust"),
            "owner_died pid_matches=true",
            "{out}"
        );
        assert_eq!(value(&out, "robust_usable_again"), "true", "{out}");
        assert_eq!(value(&out, "semaphore_after_child"), "0", "{out}");
        assert_eq!(value(&out, "semaphore_after_release"), "1", "{out}");
    }
}

#[test]
fn shared_memory_reaches_a_child_of_each_start_method_by_name_or_as_itself_and_leaves_nothing() {
    for m in METHODS {
        let out = case_with("start_shm", m);
        assert_eq!(value(&out, "by_name"), "howdy", "{out}");
        assert_eq!(value(&out, "by_object"), "HELLO", "{out}");
        assert_eq!(value(&out, "list"), "[7, 70]", "{out}");
        assert_eq!(value(&out, "list_gone"), "true", "{out}");
        assert_eq!(value(&out, "moved"), "pickle", "{out}");
        assert_eq!(value(&out, "gone_after"), "true", "{out}");
        assert_eq!(value(&out, "held"), "true", "{out}");
        assert_eq!(value(&out, "gone_after_kill"), "true", "{out}");
    }
}

#[test]
fn a_shared_object_serialized_outside_a_start_is_a_clear_error_and_shared_memory_goes_by_name() {
    let out = case("outside_start");
    assert!(
        value(&out, "queue_put").starts_with(
            "Lock objects should only be shared between processes through inheritance"
        ),
        "{out}"
    );
    assert_eq!(value(&out, "shm_by_name_same"), "true", "{out}");
}

#[test]
fn every_kind_of_shared_object_reaches_a_child_of_each_start_method() {
    for m in METHODS {
        let out = case_with("start_all_kinds", m);
        assert_eq!(value(&out, "child_checks"), "eErbBqQjva", "{out}");
        assert_eq!(value(&out, "event_cleared"), "true", "{out}");
        assert_eq!(value(&out, "lock_held"), "true", "{out}");
        assert_eq!(value(&out, "lock_release"), "true", "{out}");
        assert_eq!(value(&out, "rlock_free"), "true", "{out}");
        assert_eq!(value(&out, "sem"), "0 bsem=0", "{out}");
        assert_eq!(value(&out, "queue_empty"), "true not_full=true", "{out}");
        assert_eq!(value(&out, "joined"), "true", "{out}");
        assert_eq!(value(&out, "simple"), "42", "{out}");
        assert_eq!(value(&out, "value"), "2 raw=-1.5", "{out}");
        assert_eq!(value(&out, "array"), "[10, 1] raw=[0, 0, 7]", "{out}");
    }
}

#[test]
fn the_most_descriptors_one_start_carries_reach_a_child_of_each_start_method() {
    for m in METHODS {
        let out = case_with("start_many", m);
        assert_eq!(value(&out, "set"), "250", "{out}");
    }
}
