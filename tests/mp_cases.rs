//! Cases of CPython's `Lib/test/_test_multiprocessing.py` (issue 14),
//! re-expressed against forklore's public API. Each runs in the
//! `fx_mp_cases` fixture, a fresh single-threaded process, because forking
//! inside this multithreaded test harness would not be sound. Each test
//! names the CPython test it derives from.

use crate::common;

use common::{run_ok, stdout};

/// Run a case and return its `key=value` lines.
fn case(name: &str) -> String {
    stdout(&run_ok("fx_mp_cases", &[name]))
}

/// Assert `key=want` for each pair.
fn expect(out: &str, pairs: &[(&str, &str)]) {
    for (k, want) in pairs {
        let got = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in\n{out}"));
        assert_eq!(got, *want, "{k} in\n{out}");
    }
}

// CPython: `_TestContainers.test_list` / `test_dict` run list and dict
// methods on Python objects, where `True == 1 == 1.0`. Expected values are
// CPython's: `l = [1.0, 2, True, 2.5]; l.count(1) == 2; l.index(2.0) == 1;
// l.remove(1)` removes the `1.0`; `d = {1.0: 'one'}; d[1] == 'one'`;
// `d[1] = 'uno'` gives `{1.0: 'uno'}`.
#[test]
fn numbers_compare_as_in_python() {
    let out = case("numbers");
    expect(
        &out,
        &[
            ("count_1", "2"),
            ("index_2f", "1"),
            ("in_1", "true"),
            ("in_2_5", "true"),
            ("after_remove", "[2, True, 2.5]"),
            ("sorted", "[-3, True, 2, 2.5]"),
            ("d_get_1", "Some(Str(\"one\"))"),
            ("d", "{1.0: 'uno'}"),
            ("d_len", "1"),
            ("d_in_true", "true"),
        ],
    );
}

// CPython: `_TestProcess.test_active_children` (a started child is listed,
// a joined one is not), for each start method; plus CPython's reaping: a
// child that ended is dropped from the list and reaped by asking, and its
// handle's `join` still returns its status.
#[test]
fn active_children_lists_live_children_and_reaps_ended_ones() {
    let out = case("active_children");
    for tag in ["fork", "spawn", "forkserver"] {
        let k = |s: &str| format!("{tag}_{s}");
        expect(
            &out,
            &[
                (&k("empty"), "true"),
                (&k("listed"), "true"),
                (&k("names"), r#"["sleeper"]"#),
                (&k("after_join"), "false"),
                (&k("ended_listed"), "false"),
                (&k("join"), "3"),
                (&k("exitcode"), "3"),
            ],
        );
    }
    expect(
        &out,
        &[
            ("fork_reaped", "true"),
            ("spawn_reaped", "true"),
            ("child_sees_none", "0"),
            ("parent_sees", "1"),
        ],
    );
}

// CPython: `_TestBarrier.test_default_timeout`: `Barrier(n, timeout=t)`'s
// own timeout applies to a `wait()` given none, and breaks the barrier.
#[test]
fn a_barrier_default_timeout_breaks_a_lonely_wait() {
    let out = case("barrier_default_timeout");
    expect(
        &out,
        &[
            ("alone", "7"),
            ("broken", "true"),
            ("pair_ok", "true"),
            ("pair_child", "0"),
            ("zero", "true"),
        ],
    );
}

// CPython: `_TestContainers.test_list` (`b *= 2` gives the list twice), and
// Python's list semantics of `+=` and `*=` (`n <= 0` empties the list).
#[test]
fn in_place_add_and_repeat_on_a_managed_list() {
    let out = case("list_in_place");
    expect(
        &out,
        &[
            ("imul2", "[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]"),
            ("iadd", "[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]"),
            ("imul1_len", "12"),
            ("imul_huge", "true"),
            ("after_huge_len", "12"),
            ("imul_neg", "[]"),
            ("imul0", "[]"),
        ],
    );
}

// CPython: lock_tests.ConditionTests.test_acquire (`Condition(lock)` takes
// the caller's lock), test_unacquired_notify and test_unacquired_wait
// (RuntimeError, here `Error::NotOwner`); and two conditions sharing one
// RLock across processes, as `threading.Condition(lock)` allows.
#[test]
fn conditions_share_a_caller_supplied_lock() {
    let out = case("condition_shared_lock");
    expect(
        &out,
        &[
            ("lock_free_while_cond", "false"),
            ("lock_free_after", "true"),
            ("cond_free_while_lock", "false"),
            ("lock_free_in_with", "false"),
            ("rlock_mine", "true"),
            ("child", "0"),
            ("other_refused", "0"),
            ("lock_kept", "true"),
            ("cond_still_works", "true"),
        ],
    );
    for k in ["notify_unheld", "wait_unheld"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{k}=")))
            .unwrap();
        assert!(line.contains("on a Condition"), "{line}");
    }
}

// CPython: `_TestContainers.test_list_iter` and `test_dict_iter`: live
// iterators that see a change made mid-way (`a[0] = 100`), are empty once
// exhausted, and fail after the dict changed size (`d.clear()`: RuntimeError
// "dictionary changed size during iteration"). Python checked for the
// extra cases: `it = iter(l)` past the end sees an append; `d[2] = 'z'`
// mid-way is fine; `del d[3]` mid-way raises.
#[test]
fn live_iterators_see_changes_as_cpython_does() {
    let out = case("iterators");
    expect(
        &out,
        &[
            ("list_all", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
            ("list_exhausted", "true"),
            ("list_sees_set", "100"),
            ("list_sees_append", "Some(10)"),
            ("list_then_ends", "true"),
            ("dict_all", "[65, 66, 67, 68, 69]"),
            ("dict_exhausted", "true"),
            (
                "dict_after_clear",
                "dictionary changed size during iteration",
            ),
            ("dict_after_error", "true"),
            ("dict_first", "1"),
            ("dict_rest", "[2, 3]"),
            ("dict_after_del", "dictionary changed size during iteration"),
        ],
    );
}

// CPython: `_TestContainers.test_list_proxy_in_list`, `test_list` (`f =
// list([a])` sees `a.append`), `test_dict_proxy_nested` and
// `test_nested_queue`; plus the reference counts (CPython's are the
// server's `refcount`): an object lives while a container or a process
// refers to it and is freed when the last reference goes.
#[test]
fn proxies_travel_inside_containers_queues_and_process_arguments() {
    let out = case("nested");
    expect(
        &out,
        &[
            ("inner", "[[0, 1, 2], [0, 1, 2], [0, 1, 2]]"),
            ("a0", "[0, 1, 55]"),
            ("a1", "[0, 1, 2]"),
            ("a1_pop", "2"),
            ("a1_len", "2"),
            ("a2_len", "3"),
            ("objects_with_a", "4"),
            ("objects_after_a", "0"),
            ("cycle_repr", "true"),
            ("objects_after_cycle", "0"),
            ("f0", "[0, 1, 2, 3]"),
            ("d_supplies_water", "10"),
            ("supplies_blankets", "5"),
            ("d_pets_ferrets_after_del", "2"),
            ("d_len", "0"),
            ("supplies_water_after_clear", "10"),
            ("pets_hamsters_after_clear", "4"),
            ("pets_marmots", "1"),
            ("l0_marmots", "1"),
            ("objects_after_dicts", "0"),
            ("queue_in_list", "123"),
            ("queue_in_dict", "456"),
            ("child", "0"),
            ("from_child", "[7, 8]"),
            ("objects_after_queue", "0"),
            ("arg_child", "0"),
            ("arg_list", "[42]"),
            ("spawn_arg_child", "0"),
            ("forkserver_arg_child", "0"),
            ("arg_list_after", "[42, 42, 42]"),
            ("wrong_type", "true"),
            ("objects_at_end", "0"),
            ("foreign_len", "0"),
        ],
    );
    let stray = out.lines().find(|l| l.starts_with("stray=")).unwrap();
    assert!(stray.contains("does not know"), "{stray}");
    let foreign = out.lines().find(|l| l.starts_with("foreign=")).unwrap();
    assert!(
        foreign.contains("cannot be stored in an object of the manager"),
        "{foreign}"
    );
}
