//! The shared-memory chapters 14 and 15: canonical output pinned in
//! `workbook/snapshots/`, and what the canonical form hides checked run by
//! run.

use crate::common;

use common::{chapter, chapter_canon};
use regex::Regex;

#[test]
fn ch14_shared_value() {
    let lost =
        Regex::new(r"(?m)^(without lock|lock per access): counter = (\d+) \(expected 1000\)$")
            .unwrap();
    for raw in chapter("ch14_shared_value", 3, &chapter_canon("ch14_shared_value")) {
        let counts: Vec<u32> = lost
            .captures_iter(&raw)
            .map(|c| c[2].parse().unwrap())
            .collect();
        assert_eq!(counts.len(), 2, "{raw}");
        // Updates can be lost, never invented.
        for x in counts {
            assert!(x > 0 && x <= 1000, "{raw}");
        }
        // The lock held around the pair, and the atomic add, lose nothing.
        assert!(
            raw.contains("\nwith get_lock(): counter = 1000 (expected 1000)\n"),
            "{raw}"
        );
        assert!(
            raw.contains("\nwith fetch_add: counter = 1000 (expected 1000)\n"),
            "{raw}"
        );
        assert!(raw.contains("\n  with fetch_add: "), "{raw}");
    }
}

#[test]
fn ch15_queue() {
    for raw in chapter("ch15_queue", 3, &chapter_canon("ch15_queue")) {
        // forklore's put has copied every item into shared memory before it
        // returned, so the producer has exited by the time join returns.
        assert!(
            raw.contains("\njoin before get: alive after join: false\n"),
            "{raw}"
        );
        assert!(raw.contains("then got 500000 bytes"), "{raw}");
    }
}
