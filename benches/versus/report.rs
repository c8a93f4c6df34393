//! `cargo bench --bench versus -- --report`: turn `target/versus.json` into the
//! workbook's performance appendix, without measuring anything.
//!
//! It rewrites the table between the `<!-- versus:table -->` markers of
//! `workbook/appendix_performance.md` and draws `workbook/versus.svg`: one
//! group of three bars per row (forklore, CPython, the floor) on a shared
//! logarithmic axis of microseconds per operation, so that a glance shows
//! how far forklore sits from CPython on one side and the floor on the other.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

const BEGIN: &str = "<!-- versus:table -->";
const END: &str = "<!-- /versus:table -->";

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
    out.push_str("| row | unit | forklore | CPython | floor | speedup vs CPython | over floor |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for r in doc["rows"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
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

/// An SVG bar chart of the rows on a log scale.
pub fn svg(doc: &Value) -> String {
    let rows: Vec<&Value> = doc["rows"].as_array().into_iter().flatten().collect();
    let series = [
        ("forklore", "forklore", "#d9480f"),
        ("cpython", "CPython", "#1c7ed6"),
        ("floor", "system-call floor", "#868e96"),
    ];
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| series.iter().filter_map(|(k, _, _)| num(&r[*k])))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(1e-3);
    let hi = values.iter().cloned().fold(0.0, f64::max).max(lo * 10.0);
    let (lo_exp, hi_exp) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let (left, width, bar, gap, top) = (230.0, 520.0, 11.0, 14.0, 40.0);
    let group = 3.0 * bar + gap;
    let height = top + rows.len() as f64 * group + 50.0;
    let x = |v: f64| left + (v.log10() - lo_exp as f64) / (hi_exp - lo_exp) as f64 * width;
    let mut s = String::new();
    writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#,
        w = left + width + 90.0
    )
    .unwrap();
    writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
    writeln!(
        s,
        r#"<text x="{left}" y="16" font-weight="bold">microseconds per operation (log scale; shorter is faster)</text>"#
    )
    .unwrap();
    for e in lo_exp..=hi_exp {
        let gx = x(10f64.powi(e));
        writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{y2:.1}" stroke="#dee2e6"/><text x="{gx:.1}" y="{ty:.1}" text-anchor="middle" fill="#495057">{label}</text>"##,
            y2 = height - 40.0,
            ty = height - 26.0,
            label = fmt_us(Some(10f64.powi(e)))
        )
        .unwrap();
    }
    for (i, r) in rows.iter().enumerate() {
        let y0 = top + i as f64 * group;
        writeln!(
            s,
            r#"<text x="{lx}" y="{ly:.1}" text-anchor="end">{name}</text>"#,
            lx = left - 8.0,
            ly = y0 + 1.5 * bar + 4.0,
            name = r["name"].as_str().unwrap_or("?")
        )
        .unwrap();
        for (j, (key, _, color)) in series.iter().enumerate() {
            let Some(v) = num(&r[*key]).filter(|v| *v > 0.0) else {
                continue;
            };
            let y = y0 + j as f64 * bar;
            writeln!(
                s,
                r#"<rect x="{left}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="{color}"/><text x="{tx:.1}" y="{ty:.1}" font-size="10">{label}</text>"#,
                bw = (x(v) - left).max(1.0),
                bh = bar - 1.0,
                tx = x(v) + 4.0,
                ty = y + bar - 2.0,
                label = fmt_us(Some(v))
            )
            .unwrap();
        }
    }
    let ly = height - 10.0;
    for (j, (_, label, color)) in series.iter().enumerate() {
        let lx = left + j as f64 * 150.0;
        writeln!(
            s,
            r#"<rect x="{lx}" y="{ry}" width="10" height="10" fill="{color}"/><text x="{tx}" y="{ly}">{label}</text>"#,
            ry = ly - 9.0,
            tx = lx + 14.0
        )
        .unwrap();
    }
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
    let new = format!("{head}{BEGIN}\n{}{END}{tail}", table(&doc));
    std::fs::write(&page, new).map_err(|e| e.to_string())?;
    let chart = workbook.join("versus.svg");
    std::fs::write(&chart, svg(&doc)).map_err(|e| e.to_string())?;
    Ok(vec![page, chart])
}
