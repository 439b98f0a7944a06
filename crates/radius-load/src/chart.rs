//! Hand-written SVG line charts for the `--report` file: a plot area with axis ticks and
//! labels, one polyline per series, a legend, and XML escaping of every piece of text.
//! No scripts, no styles from elsewhere, no plotting crate: plain SVG elements that any
//! browser or image viewer draws.

use std::fmt::Write as _;

/// Width of a chart, in SVG user units.
pub(crate) const WIDTH: f64 = 900.0;
/// Height of a chart.
pub(crate) const HEIGHT: f64 = 300.0;
/// Plot area margins: left (tick labels), right (legend), top (title), bottom (x labels).
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 44.0;

/// `s` with the five XML special characters replaced by entities, safe in text and in
/// attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A number for a tick label: `75k`, `1.5M`, `0.25`, `12`.
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    let (v, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = if v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        let t = format!("{v:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    format!("{text}{suffix}")
}

/// One axis: its range, whether it is logarithmic, and its ticks (value, label).
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) label: String,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) log: bool,
    pub(crate) ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A linear axis from 0 to a round number at or above `max`, with about five ticks.
    pub(crate) fn linear(label: &str, max: f64) -> Self {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let raw = max / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        let top = (max / step).ceil() * step;
        let n = (top / step).round() as usize;
        Self {
            label: label.to_owned(),
            min: 0.0,
            max: top,
            log: false,
            ticks: (0..=n.min(20))
                .map(|i| {
                    let v = i as f64 * step;
                    (v, short(v))
                })
                .collect(),
        }
    }

    /// A logarithmic axis covering `min..=max` (both positive) in whole decades.
    pub(crate) fn log(label: &str, min: f64, max: f64) -> Self {
        // No data (or nonsense): one decade either side of 1.
        let (min, max) = if min.is_finite() && max.is_finite() && min > 0.0 && max >= min {
            (min, max)
        } else {
            (0.1, 10.0)
        };
        let (lo, hi) = (min.log10().floor() as i32, max.log10().ceil() as i32);
        let hi = hi.max(lo + 1);
        Self {
            label: label.to_owned(),
            min: 10f64.powi(lo),
            max: 10f64.powi(hi),
            log: true,
            ticks: (lo..=hi)
                .map(|e| {
                    let v = 10f64.powi(e);
                    (v, short(v))
                })
                .collect(),
        }
    }

    /// An axis with the caller's range and ticks.
    pub(crate) fn custom(label: &str, min: f64, max: f64, ticks: Vec<(f64, String)>) -> Self {
        Self {
            label: label.to_owned(),
            min,
            max,
            log: false,
            ticks,
        }
    }

    /// Where `v` falls on the axis, from 0 (min) to 1 (max), clamped.
    fn fraction(&self, v: f64) -> f64 {
        let f = if self.log {
            let v = v.max(self.min);
            (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    /// An SVG colour, e.g. `#c62828`.
    pub(crate) color: &'static str,
    pub(crate) dashed: bool,
    pub(crate) points: Vec<(f64, f64)>,
}

impl Series {
    pub(crate) fn new(name: &str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.to_owned(),
            color,
            dashed: false,
            points,
        }
    }

    pub(crate) fn dashed(self) -> Self {
        Self {
            dashed: true,
            ..self
        }
    }
}

/// A line chart: a title, two axes and its series.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub(crate) title: String,
    pub(crate) x: Axis,
    pub(crate) y: Axis,
    pub(crate) series: Vec<Series>,
}

impl Chart {
    /// Append the chart as an SVG group `WIDTH` × `HEIGHT` whose top-left corner is at
    /// (0, `top`) of the enclosing SVG.
    pub(crate) fn write(&self, out: &mut String, top: f64) {
        let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let px = |v: f64| LEFT + self.x.fraction(v) * w;
        let py = |v: f64| TOP + (1.0 - self.y.fraction(v)) * h;
        let _ = writeln!(
            out,
            r#"<g class="chart" transform="translate(0,{top:.1})">"#
        );
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="20" class="title">{}</text>"#,
            escape(&self.title)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{TOP}" width="{w:.1}" height="{h:.1}" fill="#fff" stroke="#888"/>"##
        );
        for (v, label) in &self.y.ticks {
            let y = py(*v);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
                LEFT + w,
                LEFT - 6.0,
                y + 4.0,
                escape(label)
            );
        }
        for (v, label) in &self.x.ticks {
            let x = px(*v);
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                TOP + h,
                TOP + h + 16.0,
                escape(label)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
            LEFT + w / 2.0,
            HEIGHT - 6.0,
            escape(&self.x.label)
        );
        let _ = writeln!(
            out,
            r#"<text x="14" y="{:.1}" text-anchor="middle" class="axis" transform="rotate(-90 14 {:.1})">{}</text>"#,
            TOP + h / 2.0,
            TOP + h / 2.0,
            escape(&self.y.label)
        );
        if self.series.iter().all(|s| s.points.is_empty()) {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">no data</text>"#,
                LEFT + w / 2.0,
                TOP + h / 2.0
            );
        }
        for (i, s) in self.series.iter().enumerate() {
            self.write_series(out, s, &px, &py);
            let y = TOP + 8.0 + 18.0 * i as f64;
            let x = LEFT + w + 12.0;
            let dash = if s.dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2.5"{dash}/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
                x + 22.0,
                s.color,
                x + 28.0,
                y + 4.0,
                escape(&s.name)
            );
        }
        out.push_str("</g>\n");
    }

    fn write_series(
        &self,
        out: &mut String,
        s: &Series,
        px: &impl Fn(f64) -> f64,
        py: &impl Fn(f64) -> f64,
    ) {
        if s.points.is_empty() {
            return;
        }
        let dash = if s.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<polyline class="series" data-series="{}" fill="none" stroke="{}" stroke-width="2"{dash} points=""#,
            escape(&s.name),
            s.color
        );
        for (k, (x, y)) in s.points.iter().enumerate() {
            let sep = if k == 0 { "" } else { " " };
            let _ = write!(out, "{sep}{:.1},{:.1}", px(*x), py(*y));
        }
        out.push_str("\"/>\n");
        // Few points (a short run): mark each, so a single second still shows.
        if s.points.len() <= 60 {
            for (x, y) in &s.points {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                    px(*x),
                    py(*y),
                    s.color
                );
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Check that `xml` is well-formed enough for a browser's XML parser: tags balance and
    /// nest, attributes are quoted, text has no raw `<`, and every `&` starts an entity.
    /// Returns the element names in document order.
    pub(crate) fn well_formed(xml: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = xml;
        let check_text = |t: &str| -> Result<(), String> {
            for (i, _) in t.match_indices('&') {
                let entity = &t[i..];
                let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&#"]
                    .iter()
                    .any(|e| entity.starts_with(e))
                    && entity.contains(';');
                if !ok {
                    return Err(format!("bare & in {:?}", &t[i..t.len().min(i + 20)]));
                }
            }
            if t.contains('>') && t.contains("]]>") {
                return Err("]]> in text".into());
            }
            Ok(())
        };
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open])?;
            rest = &rest[open..];
            if let Some(r) = rest.strip_prefix("<!--") {
                let end = r.find("-->").ok_or("unclosed comment")?;
                rest = &r[end + 3..];
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                let end = rest.find('>').ok_or("unclosed declaration")?;
                rest = &rest[end + 1..];
                continue;
            }
            // Find the end of the tag, skipping over quoted attribute values.
            let mut quote = None;
            let mut end = None;
            for (i, c) in rest.char_indices().skip(1) {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), '<') => return Err("raw < in an attribute value".into()),
                    (None, '<') => return Err(format!("< inside a tag: {:.40}", rest)),
                    (None, '>') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unclosed tag")?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let name = name.trim();
                match stack.pop() {
                    Some(open) if open == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
            if name.is_empty() {
                return Err("empty tag name".into());
            }
            check_text(&body[name.len()..])?;
            names.push(name.clone());
            if !self_closing {
                stack.push(name);
            }
        }
        check_text(rest)?;
        match stack.pop() {
            None => Ok(names),
            Some(open) => Err(format!("<{open}> never closed")),
        }
    }

    #[test]
    fn the_checker_catches_broken_xml() {
        assert!(well_formed("<a><b x=\"1\"/>t &amp; u</a>").is_ok());
        assert!(well_formed("<a><b></a></b>").is_err());
        assert!(well_formed("<a>x & y</a>").is_err());
        assert!(well_formed("<a>").is_err());
        assert!(well_formed("<a x=\"<\"></a>").is_err());
    }

    #[test]
    fn escape_replaces_every_special_character() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("bell\u{7}"), "bell\u{fffd}");
    }

    #[test]
    fn linear_ticks_are_round_and_cover_the_maximum() {
        let a = Axis::linear("req/s", 73_500.0);
        assert_eq!(a.min, 0.0);
        assert!(a.max >= 73_500.0 && a.max <= 100_000.0, "{a:?}");
        let labels: Vec<&str> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels.first(), Some(&"0"));
        assert!(labels.contains(&"20k"), "{labels:?}");
        assert_eq!(Axis::linear("x", 0.0).max, 1.0);
        let l = Axis::log("ms", 0.04, 230.0);
        assert_eq!((l.min, l.max), (0.01, 1000.0));
        assert_eq!(l.ticks.len(), 6);
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(1_500_000.0), "1.5M");
    }

    #[test]
    fn a_chart_draws_each_series_with_its_legend_and_escapes_names() {
        let chart = Chart {
            title: "Answers <per> second".into(),
            x: Axis::linear("s", 3.0),
            y: Axis::linear("per second", 900.0),
            series: vec![
                Series::new("accepts & co", "#2e7d32", vec![(0.5, 800.0), (1.5, 900.0)]),
                Series::new("rejects", "#c62828", vec![(0.5, 5.0)]).dashed(),
                Series::new("empty", "#000", vec![]),
            ],
        };
        let mut svg = String::from(r#"<svg xmlns="http://www.w3.org/2000/svg">"#);
        chart.write(&mut svg, 10.0);
        svg.push_str("</svg>");
        let names = well_formed(&svg).unwrap();
        assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 2);
        assert!(svg.contains("Answers &lt;per&gt; second"));
        assert!(svg.contains(r#"data-series="accepts &amp; co""#));
        assert!(svg.contains(">rejects</text>"));
        assert!(svg.contains(">empty</text>"));
    }
}
