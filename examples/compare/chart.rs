//! A small SVG line chart: panels side by side, sharing their x values (the
//! connection counts, spaced evenly), one line per server in each. Written
//! by hand: a few shapes and labels need no plotting library.

use std::fmt::Write;

/// One line of a panel: a server's value at each x (`None`: no value).
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) values: Vec<Option<f64>>,
}

/// One chart of the picture.
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) series: Vec<Series>,
}

/// Colours of the lines, in the servers' order.
const COLOURS: [&str; 6] = ["#1f5fbf", "#e07b00", "#2e9940", "#c8322d", "#7a4bb0", "#6b6b6b"];

const PANEL_WIDTH: f64 = 440.0;
const PANEL_HEIGHT: f64 = 300.0;
/// Room around each panel's plot area: left (y labels), right, top (title),
/// bottom (x labels).
const MARGIN: (f64, f64, f64, f64) = (70.0, 20.0, 40.0, 45.0);
/// Room above the panels for the title and the legend, besides the
/// subtitle's lines.
const HEADER: f64 = 60.0;
/// The height of one line of the subtitle.
const LINE: f64 = 16.0;
/// Room between a plot's sides and its first and last points.
const INSET: f64 = 24.0;

/// The picture: `title` and the lines of `subtitle` on top, a legend, then
/// the panels in a row, their x axes labelled with `xs` under `x_label`.
pub(crate) fn svg(title: &str, subtitle: &[String], x_label: &str, xs: &[String], panels: &[Panel]) -> String {
    let width = PANEL_WIDTH * panels.len() as f64;
    let header = HEADER + LINE * subtitle.len() as f64;
    let height = header + PANEL_HEIGHT;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" font-size="16" text-anchor="middle">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for (i, line) in subtitle.iter().enumerate() {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            width / 2.0,
            40.0 + LINE * i as f64,
            escape(line)
        );
    }
    let legend_y = header - 15.0;
    // The legend: the first panel's series names.
    let names: Vec<&str> = panels
        .first()
        .map(|p| p.series.iter().map(|s| s.name.as_str()).collect())
        .unwrap_or_default();
    let legend_width = 130.0 * names.len() as f64;
    let mut x = (width - legend_width) / 2.0;
    for (i, name) in names.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 24.0,
            x + 30.0,
            legend_y + 4.0,
            escape(name)
        );
        x += 130.0;
    }
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, PANEL_WIDTH * i as f64, header, x_label, xs, panel);
    }
    out.push_str("</svg>\n");
    out
}

/// Draws one panel with its top-left corner at (`left`, `top`).
fn draw_panel(out: &mut String, left: f64, top: f64, x_label: &str, xs: &[String], panel: &Panel) {
    let (ml, mr, mt, mb) = MARGIN;
    let (x0, x1) = (left + ml, left + PANEL_WIDTH - mr);
    let (y0, y1) = (top + PANEL_HEIGHT - mb, top + mt);
    let max = panel
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let (top_value, step) = nice_scale(max);
    let x_at = |i: usize| {
        if xs.len() < 2 {
            (x0 + x1) / 2.0
        } else {
            x0 + INSET + (x1 - x0 - 2.0 * INSET) * i as f64 / (xs.len() - 1) as f64
        }
    };
    let y_at = |v: f64| y0 - (y0 - y1) * v / top_value;

    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="14" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        top + 20.0,
        escape(&panel.title)
    );
    // Horizontal grid lines with their values.
    let mut v = 0.0;
    while v <= top_value * 1.0001 {
        let y = y_at(v);
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#333">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            short(v)
        );
        v += step;
    }
    // The x axis: one label per connection count.
    for (i, label) in xs.iter().enumerate() {
        let x = x_at(i);
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{}" stroke="#999"/><text x="{x}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
            y0 + 4.0,
            y0 + 18.0,
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
        (x0 + x1) / 2.0,
        y0 + 36.0,
        escape(x_label)
    );
    // The lines, and a dot at each value.
    for (i, series) in panel.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = series
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (x_at(i), y_at(v))))
            .collect();
        let path: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5"/>"#,
            path.join(" ")
        );
        for (x, y) in points {
            let _ = writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#);
        }
    }
}

/// The top of a y axis that holds `max`, and the step between its grid
/// lines: 1, 2 or 5 times a power of ten, about five steps.
fn nice_scale(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// A value as an axis label: 250000 as "250k", 1.5 as "1.5".
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// `v` with at most two decimals and no trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `text` safe inside an SVG element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
