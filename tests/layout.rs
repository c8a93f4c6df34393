//! The repository's shape: one name ties each chapter's binary, workbook page
//! and snapshot together, and every page shows its binary's exact source and
//! its snapshot's exact output.
//!
//! Set `FORKLORE_BLESS_WORKBOOK=1` to rewrite the pages' source and output
//! blocks from the files instead of failing (then read the diff).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{root, snapshot_body};

fn names(dir: &str, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(root().join(dir))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let stem = name.strip_suffix(ext)?;
            (stem.starts_with("ch") && stem.as_bytes().get(2).is_some_and(u8::is_ascii_digit))
                .then(|| stem.to_string())
        })
        .collect()
}

#[test]
fn each_chapter_has_a_binary_a_page_and_a_snapshot() {
    let bins = names("src/bin", ".rs");
    let pages = names("workbook", ".md");
    let snaps = names("snapshots", ".snap");
    assert!(!bins.is_empty());
    assert_eq!(
        bins, pages,
        "src/bin/chNN_*.rs and workbook/chNN_*.md differ"
    );
    assert_eq!(
        bins, snaps,
        "src/bin/chNN_*.rs and snapshots/chNN_*.snap differ"
    );
    let summary = std::fs::read_to_string(root().join("workbook/SUMMARY.md")).unwrap();
    let tour = std::fs::read_to_string(root().join("src/bin/tour.rs")).unwrap();
    for ch in &bins {
        assert!(
            summary.contains(&format!("({ch}.md)")),
            "SUMMARY.md does not list {ch}"
        );
        assert!(
            tour.contains(&format!("slug: \"{ch}\"")),
            "tour does not run {ch}"
        );
    }
}

/// A page marks each included file with `<!-- include: PATH -->` on the line
/// before a fenced block; the block's body must be that file's content
/// (for a `.snap`, its body after the insta header).
fn check_page(page: &Path, bless: bool) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut out = String::new();
    let mut problems = Vec::new();
    let mut lines = text.split_inclusive('\n').peekable();
    let mut includes = 0;
    while let Some(line) = lines.next() {
        out.push_str(line);
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- include: ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        includes += 1;
        let want = if path.ends_with(".snap") {
            snapshot_body(&root().join(path))
        } else {
            std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let fence = lines
            .next()
            .unwrap_or_else(|| panic!("{}: no block after include", page.display()));
        assert!(
            fence.starts_with("```"),
            "{}: include of {path} not followed by a fence",
            page.display()
        );
        out.push_str(fence);
        let mut have = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                if have != want {
                    problems.push(format!(
                        "{}: block for {path} differs from the file",
                        page.display()
                    ));
                }
                out.push_str(&want);
                if !want.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(l);
                break;
            }
            have.push_str(l);
        }
    }
    if includes == 0 {
        problems.push(format!("{}: no <!-- include: --> blocks", page.display()));
    }
    if bless && out != text {
        std::fs::write(page, out).unwrap();
        return Vec::new();
    }
    problems
}

#[test]
fn workbook_pages_show_the_real_source_and_output() {
    let bless = std::env::var_os("FORKLORE_BLESS_WORKBOOK").is_some();
    let mut problems = Vec::new();
    for ch in names("workbook", ".md") {
        let page = root().join(format!("workbook/{ch}.md"));
        let text = std::fs::read_to_string(&page).unwrap();
        for needed in [
            format!("<!-- include: src/bin/{ch}.rs -->"),
            format!("<!-- include: snapshots/{ch}.snap -->"),
            format!("<!-- include: workbook/python/{ch}.py -->"),
        ] {
            assert!(text.contains(&needed), "{ch}.md lacks {needed}");
        }
        for heading in [
            "## The program",
            "## The output",
            "## From Python to Rust",
            "## What to notice",
            "## Try it",
            "## See also",
        ] {
            assert!(
                text.contains(heading),
                "{ch}.md lacks the section {heading:?}"
            );
        }
        problems.extend(check_page(&page, bless));
    }
    assert!(
        problems.is_empty(),
        "{}\n(FORKLORE_BLESS_WORKBOOK=1 cargo test --test layout rewrites them)",
        problems.join("\n")
    );
}
