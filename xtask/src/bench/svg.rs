//! A small SVG writer and the report's three plots: latency distributions (box plots), a
//! grouped bar chart, and a scatter plot. Hand-written so xtask needs no plotting crate.

use std::fmt::Write as _;

use super::measure::Summary;

/// Series colours (colour-blind-safe, after Okabe and Ito).
const COLORS: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000",
];

/// The colour of series number `i`.
pub(crate) fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// An SVG document under construction.
#[derive(Debug)]
pub(crate) struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    pub(crate) fn new(width: f64, height: f64) -> Self {
        Self {
            width,
            height,
            body: String::new(),
        }
    }

    pub(crate) fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        stroke: Option<&str>,
    ) {
        let stroke = stroke.map_or(String::new(), |s| {
            format!(r#" stroke="{}" stroke-width="1""#, escape(s))
        });
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"{stroke}/>"#,
            w.max(0.0),
            h.max(0.0),
            escape(fill)
        );
    }

    pub(crate) fn line(
        &mut self,
        (x1, y1): (f64, f64),
        (x2, y2): (f64, f64),
        stroke: &str,
        width: f64,
    ) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{}" stroke-width="{width}"/>"#,
            escape(stroke)
        );
    }

    pub(crate) fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{}"/>"#,
            escape(fill)
        );
    }

    /// Text at (`x`, `y`); `anchor` is `start`, `middle` or `end`.
    pub(crate) fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, content: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{}">{}</text>"#,
            escape(anchor),
            escape(content)
        );
    }

    /// Text turned 90° anticlockwise, centred on (`x`, `y`).
    pub(crate) fn vertical_text(&mut self, x: f64, y: f64, size: f64, content: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="middle" transform="rotate(-90 {x:.1} {y:.1})">{}</text>"#,
            escape(content)
        );
    }

    /// The finished document.
    pub(crate) fn finish(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
             font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n\
             <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n{body}</svg>\n",
            w = self.width,
            h = self.height,
            body = self.body
        )
    }
}

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters outright.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Tick positions covering 0..=`max` with a 1/2/5 × 10ⁿ step, about `count` of them.
pub(crate) fn ticks(max: f64, count: usize) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|v| *v <= max + step * 0.999)
        .collect()
}

fn format_tick(v: f64) -> String {
    if v == 0.0 || v.abs() >= 10.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Draws a legend row at the top-right; returns nothing.
fn legend(svg: &mut Svg, x: f64, y: f64, series: &[String]) {
    for (i, name) in series.iter().enumerate() {
        let yy = y + i as f64 * 16.0;
        svg.rect(x, yy - 9.0, 10.0, 10.0, color(i), None);
        svg.text(x + 14.0, yy, 11.0, "start", name);
    }
}

/// One box of the latency plot.
#[derive(Debug, Clone)]
pub(crate) struct BoxRow {
    pub(crate) group: String,
    pub(crate) series: usize,
    pub(crate) summary: Summary,
}

/// Horizontal box plots (whiskers p5–p95, box p25–p75, bar at the median, dot at p99), one row
/// per (group, series), grouped by `group`.
pub(crate) fn box_plot(title: &str, unit: &str, series: &[String], rows: &[BoxRow]) -> String {
    let (left, right, top, row_h) = (110.0, 250.0, 40.0, 16.0);
    let width = 900.0;
    let plot_w = width - left - right;
    let groups: Vec<&str> = rows.iter().fold(Vec::new(), |mut g, r| {
        if !g.contains(&r.group.as_str()) {
            g.push(&r.group);
        }
        g
    });
    let height = top + rows.len() as f64 * row_h + groups.len() as f64 * 10.0 + 50.0;
    let max = rows.iter().map(|r| r.summary.p99).fold(0.0, f64::max);
    let ticks = ticks(max, 8);
    let scale_max = ticks.last().copied().unwrap_or(1.0);
    let x = |v: f64| left + plot_w * (v / scale_max).clamp(0.0, 1.0);
    let mut svg = Svg::new(width, height);
    svg.text(left, 20.0, 14.0, "start", title);
    let bottom = height - 40.0;
    for t in &ticks {
        svg.line((x(*t), top - 5.0), (x(*t), bottom), "#dddddd", 1.0);
        svg.text(x(*t), bottom + 14.0, 10.0, "middle", &format_tick(*t));
    }
    svg.text(left + plot_w / 2.0, bottom + 30.0, 11.0, "middle", unit);
    let mut y = top;
    for group in &groups {
        svg.text(left - 8.0, y + row_h * 0.7, 11.0, "end", group);
        for row in rows.iter().filter(|r| r.group == *group) {
            let s = &row.summary;
            let mid = y + row_h / 2.0;
            let c = color(row.series);
            svg.line((x(s.p5), mid), (x(s.p95), mid), c, 1.0);
            svg.rect(x(s.p25), y + 3.0, x(s.p75) - x(s.p25), row_h - 6.0, c, None);
            svg.line(
                (x(s.median), y + 1.0),
                (x(s.median), y + row_h - 1.0),
                "#000000",
                2.0,
            );
            svg.circle(x(s.p99), mid, 2.5, "#000000");
            y += row_h;
        }
        y += 10.0;
    }
    legend(&mut svg, width - right + 20.0, top, series);
    svg.text(
        width - right + 20.0,
        top + series.len() as f64 * 16.0 + 10.0,
        10.0,
        "start",
        "box p25–p75, | median,",
    );
    svg.text(
        width - right + 20.0,
        top + series.len() as f64 * 16.0 + 24.0,
        10.0,
        "start",
        "whiskers p5–p95, • p99",
    );
    svg.finish()
}

/// One series of a bar chart: a value per group, `None` where it was not measured.
#[derive(Debug, Clone)]
pub(crate) struct Bars {
    pub(crate) name: String,
    pub(crate) values: Vec<Option<f64>>,
    /// Text drawn where a value is missing (e.g. "pending").
    pub(crate) missing: String,
}

/// Vertical grouped bars: one group per entry of `groups`, one bar per series.
pub(crate) fn bar_chart(title: &str, unit: &str, groups: &[String], series: &[Bars]) -> String {
    let (left, right, top, bottom_margin) = (60.0, 250.0, 40.0, 50.0);
    let (width, height) = (900.0, 380.0);
    let plot_w = width - left - right;
    let bottom = height - bottom_margin;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0, |m: f64, v| m.max(*v));
    let ticks = ticks(max, 6);
    let scale_max = ticks.last().copied().unwrap_or(1.0);
    let y = |v: f64| bottom - (bottom - top) * (v / scale_max).clamp(0.0, 1.0);
    let mut svg = Svg::new(width, height);
    svg.text(left, 20.0, 14.0, "start", title);
    for t in &ticks {
        svg.line((left, y(*t)), (left + plot_w, y(*t)), "#dddddd", 1.0);
        svg.text(left - 6.0, y(*t) + 4.0, 10.0, "end", &format_tick(*t));
    }
    svg.vertical_text(16.0, (top + bottom) / 2.0, 11.0, unit);
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (g, group) in groups.iter().enumerate() {
        let gx = left + g as f64 * group_w + group_w * 0.1;
        svg.text(gx + group_w * 0.4, bottom + 16.0, 11.0, "middle", group);
        for (i, s) in series.iter().enumerate() {
            let bx = gx + i as f64 * bar_w;
            match s.values.get(g).copied().flatten() {
                Some(v) => svg.rect(bx, y(v), bar_w - 2.0, bottom - y(v), color(i), None),
                None => svg.vertical_text(bx + bar_w / 2.0 + 3.0, bottom - 30.0, 9.0, &s.missing),
            }
        }
    }
    svg.line((left, bottom), (left + plot_w, bottom), "#000000", 1.0);
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    legend(&mut svg, width - right + 20.0, top, &names);
    svg.finish()
}

/// One point of a scatter plot.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) series: usize,
    pub(crate) label: String,
    pub(crate) x: f64,
    pub(crate) y: f64,
}

/// A scatter plot of labelled points; the y axis starts at `y_floor`.
pub(crate) fn scatter(
    title: &str,
    x_unit: &str,
    y_unit: &str,
    series: &[String],
    points: &[Point],
    y_floor: f64,
) -> String {
    let (left, right, top, bottom_margin) = (60.0, 250.0, 40.0, 50.0);
    let (width, height) = (900.0, 420.0);
    let plot_w = width - left - right;
    let bottom = height - bottom_margin;
    let x_ticks = ticks(points.iter().map(|p| p.x).fold(0.0, f64::max), 8);
    let x_max = x_ticks.last().copied().unwrap_or(1.0);
    let y_span = points.iter().map(|p| p.y - y_floor).fold(0.0, f64::max);
    let y_ticks: Vec<f64> = ticks(y_span, 6).into_iter().map(|t| t + y_floor).collect();
    let y_max = y_ticks.last().copied().unwrap_or(y_floor + 1.0);
    let px = |v: f64| left + plot_w * (v / x_max).clamp(0.0, 1.0);
    let py = |v: f64| {
        bottom
            - (bottom - top)
                * ((v - y_floor) / (y_max - y_floor).max(f64::MIN_POSITIVE)).clamp(0.0, 1.0)
    };
    let mut svg = Svg::new(width, height);
    svg.text(left, 20.0, 14.0, "start", title);
    for t in &x_ticks {
        svg.line((px(*t), top), (px(*t), bottom), "#eeeeee", 1.0);
        svg.text(px(*t), bottom + 14.0, 10.0, "middle", &format_tick(*t));
    }
    for t in &y_ticks {
        svg.line((left, py(*t)), (left + plot_w, py(*t)), "#eeeeee", 1.0);
        svg.text(left - 6.0, py(*t) + 4.0, 10.0, "end", &format_tick(*t));
    }
    svg.text(left + plot_w / 2.0, bottom + 32.0, 11.0, "middle", x_unit);
    svg.vertical_text(16.0, (top + bottom) / 2.0, 11.0, y_unit);
    for p in points {
        svg.circle(px(p.x), py(p.y), 4.5, color(p.series));
        svg.text(px(p.x) + 6.0, py(p.y) - 5.0, 9.0, "start", &p.label);
    }
    legend(&mut svg, width - right + 20.0, top, series);
    svg.finish()
}

#[cfg(test)]
mod tests;
