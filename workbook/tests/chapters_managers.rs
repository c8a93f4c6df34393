//! The Manager chapters: canonical output pinned in `workbook/snapshots/`, and each
//! chapter's claim checked run by run.

use crate::common;

use common::{chapter, chapter_canon, parse_list};

#[test]
fn ch07_manager_list() {
    let canon = chapter_canon("ch07_manager_list");
    for raw in chapter("ch07_manager_list", 5, &canon) {
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
