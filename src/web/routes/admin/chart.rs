//! The dashboard's 7-day chart, drawn server-side as inline SVG (no script, CSP-clean). It
//! holds numbers and fixed labels only, never text from a request. Colours come from the
//! stylesheet's classes, so the dark scheme repaints it; the legend is HTML beside the SVG, so
//! it keeps a readable size on a phone, where the drawing shrinks.

use chrono::NaiveDate;

const W: i64 = 640;
const H: i64 = 260;
const LEFT: i64 = 44;
const RIGHT: i64 = 12;
const TOP: i64 = 36;
const BOTTOM: i64 = 36;
/// Each series' label and its colour class (`static/style.css`).
const SERIES: [(&str, &str); 3] = [
    ("Sign-ins", "series-0"),
    ("Sign-outs", "series-1"),
    ("Incidents", "series-2"),
];

pub fn svg(days: &[(NaiveDate, i64, i64, i64)]) -> String {
    let max = days
        .iter()
        .flat_map(|d| [d.1, d.2, d.3])
        .max()
        .unwrap_or(0)
        .max(1);
    // A round, even top for the axis (2, 4, 6, 8, 10, 20, 40, ...), so its half is whole too.
    let mut step = 1;
    let top = loop {
        if let Some(t) = [2, 4, 6, 8, 10]
            .iter()
            .map(|m| m * step)
            .find(|t| *t >= max)
        {
            break t;
        }
        step *= 10;
    };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: i64| TOP + plot_h - v * plot_h / top;
    let mut out = String::from(r#"<ul class="chart-legend">"#);
    for (label, class) in SERIES {
        out.push_str(&format!(
            r#"<li><span class="swatch {class}" aria-hidden="true"></span>{label}</li>"#
        ));
    }
    out.push_str(&format!(
        r#"</ul><svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Sign-ins, sign-outs and incidents per day, last 7 days</title>"#
    ));
    // Axis and grid: 0, half, top.
    for v in [0, top / 2, top] {
        let yy = y(v);
        out.push_str(&format!(
            r##"<line x1="{LEFT}" y1="{yy}" x2="{}" y2="{yy}" class="chart-grid"/><text x="{}" y="{}" font-size="11" text-anchor="end" class="chart-text">{v}</text>"##,
            W - RIGHT,
            LEFT - 6,
            yy + 4
        ));
    }
    let slot = plot_w / days.len().max(1) as i64;
    let bar = (slot - 16) / 3;
    for (i, (day, a, b, c)) in days.iter().enumerate() {
        let x0 = LEFT + i as i64 * slot + 8;
        for (j, (value, (label, class))) in [a, b, c].iter().zip(SERIES).enumerate() {
            let x = x0 + j as i64 * bar;
            let yy = y(**value);
            out.push_str(&format!(
                r#"<rect x="{x}" y="{yy}" width="{}" height="{}" class="{class}"><title>{label}: {value}</title></rect>"#,
                bar - 2,
                TOP + plot_h - yy
            ));
        }
        out.push_str(&format!(
            r##"<text x="{}" y="{}" font-size="11" text-anchor="middle" class="chart-text">{}</text>"##,
            x0 + (slot - 16) / 2,
            H - BOTTOM + 16,
            day.format("%b %d")
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_bar_per_series_per_day_with_axes_and_legend() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let days: Vec<_> = (0..7)
            .map(|i| (d + chrono::Duration::days(i), i, 1, 0))
            .collect();
        let s = svg(&days);
        assert_eq!(s.matches("<rect").count(), 21, "a bar per series and day");
        assert_eq!(
            s.matches("class=\"swatch").count(),
            3,
            "the legend, in HTML"
        );
        assert!(!s.contains("fill=\"#"), "colours come from the stylesheet");
        assert!(s.contains("Sign-ins") && s.contains("Incidents"));
        assert!(s.contains("Nov 30"));
        assert!(
            s.contains(">6</text>") && s.contains(">3</text>"),
            "axis top 6, half 3"
        );
        let big: Vec<_> = (0..7)
            .map(|i| (d + chrono::Duration::days(i), 37, 0, 0))
            .collect();
        assert!(svg(&big).contains(">40</text>"));
    }
}
