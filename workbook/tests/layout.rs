//! The repository's shape: one name ties each chapter's binary, workbook page
//! and snapshot together, and every page shows its binary's exact source and
//! its snapshot's exact output.
//!
//! Set `FORKLORE_BLESS_WORKBOOK=1` to rewrite the pages' source and output
//! blocks from the files instead of failing (then read the diff).

use crate::common;

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
    let bins = names("workbook/src/bin", ".rs");
    let pages = names("workbook", ".md");
    let snaps = names("workbook/snapshots", ".snap");
    assert!(!bins.is_empty());
    assert_eq!(
        bins, pages,
        "workbook/src/bin/chNN_*.rs and workbook/chNN_*.md differ"
    );
    assert_eq!(
        bins, snaps,
        "workbook/src/bin/chNN_*.rs and workbook/snapshots/chNN_*.snap differ"
    );
    let summary = std::fs::read_to_string(root().join("workbook/SUMMARY.md")).unwrap();
    let tour = std::fs::read_to_string(root().join("workbook/src/bin/tour.rs")).unwrap();
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

/// The marker's suffix that shows a program from its first `use` line: the
/// header comment above it repeats the Python program shown just before, so
/// the page leaves it out (the file in the repository keeps it).
const FROM_FIRST_USE: &str = " from the first use";

/// The part of `source` a page shows: all of it, or from the first line that
/// starts with `use ` when `from_first_use` is set.
pub fn shown_part(source: &str, from_first_use: bool) -> Option<&str> {
    if !from_first_use {
        return Some(source);
    }
    let mut at = 0;
    for line in source.split_inclusive('\n') {
        if line.starts_with("use ") {
            return Some(&source[at..]);
        }
        at += line.len();
    }
    None
}

/// A page marks each included file with `<!-- include: PATH -->` on the line
/// before a fenced block; the block's body must be that file's content
/// (for a `.snap`, its body after the insta header), or with
/// `<!-- include: PATH from the first use -->` the file from its first `use`.
/// The last non-blank line above the marker is a caption that names
/// `PATH`, so a reader sees which file a listing comes from.
fn check_page(page: &Path, bless: bool) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut out = String::new();
    let mut problems = Vec::new();
    let mut lines = text.split_inclusive('\n').peekable();
    let mut includes = 0;
    let mut last_nonblank = String::new();
    while let Some(line) = lines.next() {
        out.push_str(line);
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- include: ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            if !line.trim().is_empty() {
                last_nonblank = line.to_string();
            }
            continue;
        };
        let (path, from_first_use) = match marker.strip_suffix(FROM_FIRST_USE) {
            Some(path) => (path, true),
            None => (marker, false),
        };
        if !last_nonblank.contains(path) {
            problems.push(format!(
                "{}: the listing of {path} has no caption naming it on the line above",
                page.display()
            ));
        }
        includes += 1;
        let want = if path.ends_with(".snap") {
            snapshot_body(&root().join(path))
        } else {
            let full = std::fs::read_to_string(root().join(path))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            match shown_part(&full, from_first_use) {
                Some(part) => part.to_string(),
                None => panic!("{path} has no line starting with `use `"),
            }
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
                last_nonblank.clear();
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
        let program = format!("<!-- include: workbook/src/bin/{ch}.rs{FROM_FIRST_USE} -->");
        for needed in [
            program,
            format!("<!-- include: workbook/snapshots/{ch}.snap -->"),
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
        "{}\n(FORKLORE_BLESS_WORKBOOK=1 cargo test -p forklore-workbook --test book layout rewrites them)",
        problems.join("\n")
    );
}

/// The library package carries only the library: chapters live in the
/// workbook package and fixtures in the tests package, so `cargo install
/// forklore` installs no teaching or test program (issue 11).
#[test]
fn the_library_package_carries_no_chapter_or_fixture_program() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let forklore = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "forklore")
        .expect("the forklore package");
    let programs: Vec<String> = forklore["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"][0] != "lib")
        .map(|t| {
            format!(
                "{} {}",
                t["kind"][0].as_str().unwrap(),
                t["name"].as_str().unwrap()
            )
        })
        .collect();
    // The library, its benchmark, and the one real tool a user installs
    // (with the test of its command line).
    let allowed = [
        "bench versus",
        "bin forklore-manager",
        "test forklore-manager",
    ];
    let stray: Vec<&String> = programs
        .iter()
        .filter(|p| !allowed.contains(&p.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "the forklore package carries programs that belong to the workbook or the tests: {stray:?}"
    );
}

/// The declared MSRV is honest: at least the `rust-version` of every locked
/// dependency the library builds with on this platform. (Clippy, which reads
/// `rust-version`, flags standard-library APIs newer than it.)
#[test]
fn the_declared_rust_version_covers_every_locked_dependency() {
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", host])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |v: &serde_json::Value| -> Vec<u32> {
        v.as_str()
            .map(|s| s.split('.').map(|n| n.parse().unwrap()).collect())
            .unwrap_or_default()
    };
    let packages = meta["packages"].as_array().unwrap();
    let by_id = |id: &str| packages.iter().find(|p| p["id"] == id).unwrap();
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let forklore = packages.iter().find(|p| p["name"] == "forklore").unwrap();
    let declared = version(&forklore["rust_version"]);
    // Walk the normal (non-dev, non-build) dependencies from forklore.
    let mut todo = vec![forklore["id"].as_str().unwrap().to_string()];
    let mut seen = BTreeSet::new();
    let mut too_new = Vec::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let p = by_id(&id);
        let needs = version(&p["rust_version"]);
        if needs > declared {
            too_new.push(format!(
                "{} {} needs {}",
                p["name"], p["version"], p["rust_version"]
            ));
        }
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                todo.push(dep["pkg"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(seen.len() > 5, "the walk found forklore's dependencies");
    assert!(
        too_new.is_empty(),
        "rust-version {declared:?} is older than what these need: {too_new:?}"
    );
}

/// The sidebar numbers each chapter once: SUMMARY.md's titles carry the
/// book's own numbers ("1.", "A."), so mdBook must not add its own in front
/// of them (issue 18: "1. 1. The raw fork()", "17. A. Python to Rust").
#[test]
fn the_sidebar_numbers_each_chapter_once() {
    let summary = std::fs::read_to_string(root().join("workbook/SUMMARY.md")).unwrap();
    let numbered_titles = summary
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- ["))
        .filter(|t| {
            t.split_once(". ")
                .is_some_and(|(n, _)| n.len() <= 2 && n.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .count();
    let toml = std::fs::read_to_string(root().join("workbook/book.toml")).unwrap();
    let no_labels = toml
        .lines()
        .any(|l| l.split('#').next().unwrap().replace(' ', "") == "no-section-label=true");
    assert!(numbered_titles > 0, "SUMMARY.md has no numbered titles");
    assert!(
        no_labels,
        "SUMMARY.md numbers {numbered_titles} titles itself: book.toml needs no-section-label = true"
    );
}

/// The performance chart's bars are proportional to the ratios the
/// appendix's table prints (issue 18: on the old log-scale bars a 20×
/// speedup looked like 1.3×). Each panel's bars, read from
/// `workbook/versus.svg`, are compared with the table's column; a bar drawn
/// to the edge for a ratio beyond the axis ends in an arrow and is skipped.
#[test]
fn the_performance_chart_draws_lengths_proportional_to_the_ratios() {
    let page = std::fs::read_to_string(root().join("workbook/appendix_performance.md")).unwrap();
    // `| `row` (unit) | forklore | CPython | floor | 13.42× | 1.24× |`; a
    // row without a CPython figure or a floor has "—" there, and no bar.
    let row = regex::Regex::new(
        r"(?m)^\| `[^`]+` \([^)]*\) \|[^|]+\|[^|]+\|[^|]+\| (?:([\d.]+)×|—) \| (?:([\d.]+)×|—) \|$",
    )
    .unwrap();
    let table = page
        .split("<!-- versus:table -->")
        .nth(1)
        .and_then(|t| t.split("<!-- /versus:table -->").next())
        .expect("the appendix has the versus:table markers");
    let ratios: Vec<(Option<f64>, Option<f64>)> = row
        .captures_iter(table)
        .map(|c| {
            let ratio = |i: usize| c.get(i).map(|m| m.as_str().parse::<f64>().unwrap());
            (ratio(1), ratio(2))
        })
        .collect();
    let table_rows = table.lines().filter(|l| l.starts_with("| `")).count();
    assert!(ratios.len() >= 5, "the table has its rows");
    assert_eq!(ratios.len(), table_rows, "every row of the table is read");
    let speedups: Vec<f64> = ratios.iter().filter_map(|r| r.0).collect();
    let floors: Vec<f64> = ratios.iter().filter_map(|r| r.1).collect();
    let svg = std::fs::read_to_string(root().join("workbook/versus.svg")).unwrap();
    let bar = |color: &str| -> Vec<f64> {
        let re = regex::Regex::new(&format!(
            r#"<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="12" fill="{color}"/>"#
        ))
        .unwrap();
        re.captures_iter(&svg)
            .map(|c| c[1].parse().unwrap())
            .collect()
    };
    for (name, values, color) in [
        ("speedup", &speedups, "#1c7ed6"),
        ("over floor", &floors, "#d9480f"),
    ] {
        let widths = bar(color);
        assert_eq!(widths.len(), values.len(), "{name}: one bar per row");
        // A ratio beyond the axis is drawn to the edge and ends in an arrow
        // (a path of the bar's colour): leave out that many of the largest.
        let arrows = svg.matches(&format!(r#"z" fill="{color}"/>"#)).count();
        let mut pairs: Vec<(f64, f64)> = values.iter().cloned().zip(widths).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs.truncate(pairs.len() - arrows);
        // The units per 1× of ratio, from the longest bar (the one the two
        // roundings below disturb least).
        let (v_max, w_max) = *pairs.last().expect("at least one bar");
        let scale = w_max / v_max;
        for (v, w) in &pairs {
            // The table rounds a ratio to 2 decimals (±0.005, which the scale
            // turns into units) and the SVG a width to 0.1 unit; allow both,
            // and 3 % besides.
            let slack = 0.005 * scale + 0.05 + 0.03 * v * scale;
            assert!(
                (w - v * scale).abs() <= slack,
                "{name}: a bar of ratio {v} is {w} long, not {:.1} \
                 (bars: {pairs:?})",
                v * scale
            );
        }
    }
}

/// Every image a page shows exists (mdBook does not warn about a missing
/// one), and every diagram in `workbook/diagrams/` is shown somewhere, with
/// a `<title>` for screen readers.
#[test]
fn every_image_exists_and_every_diagram_is_shown() {
    let image = regex::Regex::new(r"!\[[^\]]*\]\(([^)\s]+)\)").unwrap();
    let mut shown = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("workbook")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for c in image.captures_iter(&text) {
            let src = c[1].to_string();
            assert!(
                root().join("workbook").join(&src).is_file(),
                "{} shows {src}, which does not exist",
                path.display()
            );
            shown.insert(src);
        }
    }
    let diagrams: Vec<String> = std::fs::read_dir(root().join("workbook/diagrams"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(diagrams.len() >= 3, "at least three diagrams: {diagrams:?}");
    for d in diagrams {
        let svg = std::fs::read_to_string(root().join("workbook/diagrams").join(&d)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<title>"), "{d}");
        assert!(
            shown.contains(&format!("diagrams/{d}")),
            "workbook/diagrams/{d} is not shown on any page"
        );
    }
}
