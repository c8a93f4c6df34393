//! `cargo bench --bench versus -- --report`: turn `target/versus.json` into the
//! workbook's performance appendix, without measuring anything.
//!
//! It rewrites the table between the `<!-- versus:table -->` markers of
//! `workbook/appendix_performance.md` and draws `workbook/versus.svg`: two
//! panels of bars on linear axes, the speedup over CPython and the cost over
//! the system-call floor, so that each bar's length is proportional to the
//! ratio it stands for (a log axis made a 20× speedup look like 1.3×).
//!
//! It also rewrites the growth table between the `<!-- versus:growth -->`
//! markers: `extend` and `to_vec` of 1 k, 10 k, 100 k and 1 M integers,
//! forklore against CPython (the 1 k to 100 k rows appear only there).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

const BEGIN: &str = "<!-- versus:table -->";
const END: &str = "<!-- /versus:table -->";
const GROWTH_BEGIN: &str = "<!-- versus:growth -->";
const GROWTH_END: &str = "<!-- /versus:growth -->";

/// The growth rows (issue 16): these operations at these sizes. The
/// `1m` rows are in the main table too; the others only in the growth
/// table.
const GROWTH_OPS: [(&str, &str); 2] = [
    ("list_extend", "`li.extend(range(n))`"),
    ("list_to_vec", "`li[:]` / `to_vec()`"),
];
const GROWTH_SIZES: [(&str, &str); 4] = [
    ("1k", "1,000"),
    ("10k", "10,000"),
    ("100k", "100,000"),
    ("1m", "1,000,000"),
];

/// Whether a row is shown only in the growth table.
fn growth_only(name: &str) -> bool {
    GROWTH_OPS.iter().any(|(op, _)| {
        GROWTH_SIZES
            .iter()
            .any(|(size, _)| *size != "1m" && name == format!("manager.{op}_{size}"))
    })
}

/// The rows of the main table and chart.
fn main_rows(doc: &Value) -> Vec<&Value> {
    doc["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !growth_only(r["name"].as_str().unwrap_or("")))
        .collect()
}

/// The growth tables, one per growth operation (narrow enough for a
/// phone): for each size, forklore's and CPython's time per call, their
/// ratio, and forklore's time per item (so that linear growth shows as a
/// constant). `None` when the run measured none of the growth rows.
pub fn growth(doc: &Value) -> Option<String> {
    let rows: Vec<&Value> = doc["rows"].as_array().into_iter().flatten().collect();
    let find = |name: String| rows.iter().copied().find(|r| r["name"] == name.as_str());
    let mut out = String::new();
    let mut any = false;
    for (i, (op, what)) in GROWTH_OPS.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        writeln!(out, "{what}:\n").unwrap();
        out.push_str("| items | forklore (µs) | CPython (µs) | speedup | forklore ns per item |\n");
        out.push_str("|---:|---:|---:|---:|---:|\n");
        for (size, items) in GROWTH_SIZES {
            let n: f64 = items.replace(',', "").parse().expect("a count");
            let r = find(format!("manager.{op}_{size}"));
            any |= r.is_some();
            let f = r.and_then(|r| num(&r["forklore"]));
            writeln!(
                out,
                "| {items} | {} | {} | {} | {} |",
                fmt_us(f),
                fmt_us(r.and_then(|r| num(&r["cpython"]))),
                fmt_ratio(r.and_then(|r| num(&r["speedup_vs_cpython"]))),
                fmt_us(f.map(|us| us * 1000.0 / n)),
            )
            .unwrap();
        }
    }
    any.then_some(out)
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn fmt_us(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}×")).unwrap_or_else(|| "—".into())
}

/// The Markdown table and the machine line for the appendix.
pub fn table(doc: &Value) -> String {
    let mut out = String::new();
    if let Some(m) = doc.get("machine") {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
        writeln!(
            out,
            "Measured on {} ({} cores, Linux {}) with {}, on {}.\n",
            s("cpu"),
            m.get("cores").and_then(Value::as_u64).unwrap_or(0),
            s("kernel"),
            s("python"),
            s("date")
        )
        .unwrap();
    }
    out.push_str("| row (unit) | forklore | CPython | floor | vs CPython | over floor |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for r in main_rows(doc) {
        writeln!(
            out,
            "| `{}` ({}) | {} | {} | {} | {} | {} |",
            r["name"].as_str().unwrap_or("?"),
            r["unit"].as_str().unwrap_or("?"),
            fmt_us(num(&r["forklore"])),
            fmt_us(num(&r["cpython"])),
            fmt_us(num(&r["floor"])),
            fmt_ratio(num(&r["speedup_vs_cpython"])),
            fmt_ratio(num(&r["over_floor"])),
        )
        .unwrap();
    }
    out
}

/// One panel of the chart: a ratio per row, drawn as a bar on a linear axis
/// from 0 to `max` (×), with a reference line at 1×. A ratio beyond `max` is
/// drawn to the edge, ends in an arrow and says so in its label, so that no
/// visible length lies.
struct Panel<'a> {
    key: &'a str,
    title: &'a str,
    note: &'a str,
    color: &'a str,
    max: f64,
    step: f64,
}

/// The chart's geometry, in SVG units. The chart is 400 wide so that on a
/// 390 px phone it is drawn at nearly its own size (text stays at 11–13 px)
/// and on the 750 px book column at nearly twice that.
const W: f64 = 400.0;
const LEFT: f64 = 12.0;
const RIGHT: f64 = 52.0;
const ROW: f64 = 34.0;

fn panel(s: &mut String, rows: &[&Value], p: &Panel, y0: f64) -> f64 {
    let plot = W - LEFT - RIGHT;
    let x = |v: f64| LEFT + v.min(p.max) / p.max * plot;
    writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
        y0 + 16.0,
        p.title
    )
    .unwrap();
    writeln!(
        s,
        r##"<text x="{LEFT}" y="{:.1}" font-size="12" fill="#495057">{}</text>"##,
        y0 + 33.0,
        p.note
    )
    .unwrap();
    let top = y0 + 44.0;
    let bottom = top + rows.len() as f64 * ROW;
    // Grid lines and their labels, on a linear axis starting at 0. The
    // lines run only through each row's band of bars, not through its name.
    let mut t = 0.0;
    while t <= p.max + 1e-9 {
        let gx = x(t);
        let (stroke, width) = if (t - 1.0).abs() < 1e-9 {
            ("#212529", 1.5)
        } else {
            ("#ced4da", 1.0)
        };
        for i in 0..rows.len() {
            let band = top + i as f64 * ROW + 15.0;
            writeln!(
                s,
                r#"<line x1="{gx:.1}" y1="{band:.1}" x2="{gx:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{width}"/>"#,
                band + 16.0
            )
            .unwrap();
        }
        writeln!(
            s,
            r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" font-size="12" fill="#495057">{}×</text>"##,
            bottom + 15.0,
            t
        )
        .unwrap();
        t += p.step;
    }
    for (i, r) in rows.iter().enumerate() {
        let ry = top + i as f64 * ROW;
        writeln!(
            s,
            r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-family="monospace">{}</text>"#,
            ry + 13.0,
            r["name"].as_str().unwrap_or("?")
        )
        .unwrap();
        let Some(v) = num(&r[p.key]).filter(|v| *v > 0.0) else {
            writeln!(
                s,
                r##"<text x="{LEFT}" y="{:.1}" font-size="12" fill="#495057">none (see the table)</text>"##,
                ry + 28.0
            )
            .unwrap();
            continue;
        };
        let (bar_y, bar_h) = (ry + 17.0, 12.0);
        let end = x(v);
        writeln!(
            s,
            r#"<rect x="{LEFT}" y="{bar_y:.1}" width="{:.1}" height="{bar_h}" fill="{}"/>"#,
            (end - LEFT).max(1.0),
            p.color
        )
        .unwrap();
        let label = if v > p.max {
            // Off the scale: an arrow head past the edge, and the value.
            writeln!(
                s,
                r#"<path d="M{end:.1},{:.1} l8,{:.1} l-8,{:.1} z" fill="{}"/>"#,
                bar_y - 2.0,
                bar_h / 2.0 + 2.0,
                bar_h / 2.0 + 2.0,
                p.color
            )
            .unwrap();
            format!("{v:.0}× →")
        } else {
            format!("{v:.1}×")
        };
        let (lx, anchor) = if v > p.max {
            (end - 4.0, "end")
        } else {
            (end + 4.0, "start")
        };
        let fill = if v > p.max { "white" } else { "#212529" };
        writeln!(
            s,
            r#"<text x="{lx:.1}" y="{:.1}" font-size="12" text-anchor="{anchor}" fill="{fill}">{label}</text>"#,
            bar_y + 10.5
        )
        .unwrap();
    }
    bottom + 24.0
}

/// The chart: two panels on linear axes, one bar per row in each. The first
/// is CPython's time divided by forklore's (longer is better for forklore);
/// the second is forklore's time divided by the floor's (1× means forklore
/// adds nothing to the system calls; shorter is better). Lengths are
/// proportional to the ratios they stand for.
pub fn svg(doc: &Value) -> String {
    let rows: Vec<&Value> = main_rows(doc);
    let ceil_to = |v: f64, step: f64| ((v / step).ceil() * step).max(step);
    let max_of = |key: &str| {
        rows.iter()
            .filter_map(|r| num(&r[key]))
            .fold(0.0_f64, f64::max)
    };
    let speedup = Panel {
        key: "speedup_vs_cpython",
        title: "Speedup over CPython",
        note: "CPython's time ÷ forklore's: longer is faster",
        color: "#1c7ed6",
        max: ceil_to(max_of("speedup_vs_cpython"), 5.0),
        step: 5.0,
    };
    // Most rows sit within a few times the floor; one far-off row would
    // squash them all to slivers, so the axis stops at the second largest
    // ratio (rounded up) and the far-off row is marked as off the scale.
    let mut floors: Vec<f64> = rows.iter().filter_map(|r| num(&r["over_floor"])).collect();
    floors.sort_by(f64::total_cmp);
    let second = floors.iter().rev().nth(1).copied().unwrap_or(1.0);
    let over = Panel {
        key: "over_floor",
        title: "Cost over the system-call floor",
        note: "forklore's time ÷ the floor's: 1× adds nothing",
        color: "#d9480f",
        max: ceil_to(second.max(1.0), 1.0),
        step: 1.0,
    };
    let mut body = String::new();
    let mid = panel(&mut body, &rows, &speedup, 0.0);
    let end = panel(&mut body, &rows, &over, mid + 8.0);
    let mut s = String::new();
    writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {end:.0}" width="{W}" height="{end:.0}" font-family="sans-serif">"#
    )
    .unwrap();
    writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
    s.push_str(&body);
    s.push_str("</svg>\n");
    s
}

/// Rewrite the appendix table and the chart from `json`.
pub fn write(json: &Path, workbook: &Path) -> Result<Vec<PathBuf>, String> {
    let text = std::fs::read_to_string(json).map_err(|e| {
        format!(
            "{}: {e} (run `cargo bench --bench versus` first)",
            json.display()
        )
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
    let page = workbook.join("appendix_performance.md");
    let old = std::fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
    let (head, rest) = old
        .split_once(BEGIN)
        .ok_or_else(|| format!("{} has no {BEGIN} marker", page.display()))?;
    let (_, tail) = rest
        .split_once(END)
        .ok_or_else(|| format!("{} has no {END} marker", page.display()))?;
    let mut new = format!("{head}{BEGIN}\n{}{END}{tail}", table(&doc));
    // The growth table, where the page has its markers and the run
    // measured its rows (a run of other rows leaves it as it was).
    if let (Some((head, rest)), Some(t)) = (new.split_once(GROWTH_BEGIN), growth(&doc)) {
        let (_, tail) = rest
            .split_once(GROWTH_END)
            .ok_or_else(|| format!("{} has no {GROWTH_END} marker", page.display()))?;
        new = format!("{head}{GROWTH_BEGIN}\n{t}{GROWTH_END}{tail}");
    }
    std::fs::write(&page, new).map_err(|e| e.to_string())?;
    let chart = workbook.join("versus.svg");
    std::fs::write(&chart, svg(&doc)).map_err(|e| e.to_string())?;
    Ok(vec![page, chart])
}
