//! The Manager chapters: canonical output pinned in `snapshots/`, and each
//! chapter's claim checked run by run.

mod common;

use common::{chapter, Canon};

/// Parse `[1, 2, 3]` into numbers.
fn parse_list(text: &str) -> Vec<i32> {
    let inner = text
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a list: {text:?}"));
    if inner.is_empty() {
        return Vec::new();
    }
    inner.split(", ").map(|n| n.parse().unwrap()).collect()
}

#[test]
fn ch06_manager_list() {
    // What varies from run to run is the order in which the children reach
    // the server, so each `say hi` list is pinned as `[..]` and the final
    // list with its items sorted; the checks below assert the rest.
    let canon = Canon::new()
        .rewrite(r"(?m)^say hi \[.*\]$", |_| "say hi [..]".to_string())
        .rewrite(r"(?m)^ending (\[.*\])$", |c| {
            let mut items = parse_list(&c[1]);
            items.sort();
            format!("ending {items:?} (sorted)")
        });
    for raw in chapter("ch06_manager_list", 5, &canon) {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 11, "{raw}");
        let last = lines[10]
            .strip_prefix("ending ")
            .unwrap_or_else(|| panic!("the parent's line comes last:\n{raw}"));
        let fin = parse_list(last);
        let mut sorted = fin.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..10).collect::<Vec<_>>(),
            "the final list holds 0..9 exactly once:\n{raw}"
        );
        for line in &lines[..10] {
            let list = parse_list(line.strip_prefix("say hi ").expect("a child's line"));
            assert!(
                !list.is_empty(),
                "a child printed after its own append: {line}"
            );
            assert!(
                fin.starts_with(&list),
                "every printed list is a prefix of the final list: {line} vs {last}"
            );
        }
    }
}
