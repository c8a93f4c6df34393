//! The remote Manager chapter: canonical output pinned in `workbook/snapshots/`,
//! and its claim checked run by run. The roles (`master`, `worker`) and the
//! runs across network namespaces are tested in `tests/remote.rs`.

use crate::common;

use common::{chapter, chapter_canon};

#[test]
fn ch19_remote_manager() {
    let canon = chapter_canon("ch19_remote_manager");
    for raw in chapter("ch19_remote_manager", 5, &canon) {
        let lines: Vec<&str> = raw.lines().collect();
        assert_eq!(lines.len(), 19, "{raw}");
        assert!(
            lines[0].starts_with("master: serving task_queue and result_queue on 127.0.0.1:"),
            "{raw}"
        );
        assert_eq!(lines[1], "master: waiting for 2 workers");
        // Both workers joined before any task was put.
        let mut joined = lines[2..4].to_vec();
        joined.sort();
        assert_eq!(
            joined,
            ["master: worker-1 joined", "master: worker-2 joined"],
            "{raw}"
        );
        assert_eq!(lines[4], "master: put 10 tasks");
        // Ten results, each number once, each squared, each by a worker.
        let mut done = Vec::new();
        for line in &lines[5..15] {
            let rest = line.strip_prefix("result: ").expect(line);
            let (n, rest) = rest.split_once(" * ").unwrap();
            let n: u64 = n.parse().unwrap();
            let (sq, who) = rest.split_once(" = ").unwrap().1.split_once(' ').unwrap();
            assert_eq!(sq.parse::<u64>().unwrap(), n * n, "{line}");
            assert!(who == "(worker-1)" || who == "(worker-2)", "{line}");
            done.push(n);
        }
        done.sort();
        assert_eq!(done, (1..=10).collect::<Vec<_>>(), "{raw}");
        assert_eq!(
            lines[15],
            "master: all 10 results in; the sum of the squares is 385"
        );
        // Each worker says goodbye once, and their counts add up to ten.
        let mut total = 0;
        let mut left = Vec::new();
        for line in &lines[16..18] {
            let rest = line.strip_prefix("master: ").unwrap();
            let (who, n) = rest.split_once(" left after ").expect(line);
            total += n.strip_suffix(" tasks").unwrap().parse::<u64>().unwrap();
            left.push(who);
        }
        left.sort();
        assert_eq!(left, ["worker-1", "worker-2"], "{raw}");
        assert_eq!(total, 10, "{raw}");
        assert_eq!(lines[18], "master: shutting down");
    }
}
