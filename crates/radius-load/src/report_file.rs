//! `--report FILE`: the run as a self-contained SVG image or HTML page (chosen by the file's
//! extension) for people who would rather look than read: the parameters and the summary
//! table, answers per second over time by code, latency percentiles per second, and the
//! latency percentile curve of the whole run. Plain markup from [`chart`](crate::chart):
//! no scripts, no external assets.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::chart::{self, Axis, Chart, Series};
use crate::error::LoadError;
use crate::report::Report;

/// The kind of report file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `.svg`: one SVG image.
    Svg,
    /// `.html` or `.htm`: a page with the charts inline.
    Html,
    /// `.csv`: the per-second samples, one line a second (for scripts: when did p99 come
    /// back under a bound, were there rejects in that second).
    Csv,
}

impl ReportFormat {
    /// The format `path`'s extension asks for; an error for any other extension (checked
    /// before a run starts, so a long run is not wasted).
    pub fn of(path: &Path) -> Result<Self, LoadError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(Self::Svg),
            Some("html" | "htm") => Ok(Self::Html),
            Some("csv") => Ok(Self::Csv),
            _ => Err(LoadError::Invalid(format!(
                "--report {}: the file name must end in .svg, .html or .csv",
                path.display()
            ))),
        }
    }
}

const CSS: &str = "text{font-family:sans-serif;font-size:12px;fill:#222}\
.title{font-size:15px;font-weight:bold}.tick{font-size:11px;fill:#555}\
.axis{font-size:12px;fill:#333}.legend{font-size:12px}\
.mono{font-family:monospace;font-size:12px;white-space:pre}";

/// Line height of the monospace text block at the top of the SVG report.
const LINE: f64 = 15.0;

impl Report {
    /// The three charts of the report.
    fn charts(&self) -> Vec<Chart> {
        let points = self
            .timeline
            .points(Duration::from_secs_f64(self.elapsed_s));
        let span = points
            .last()
            .map_or(self.elapsed_s, |p| p.t.max(self.elapsed_s))
            .max(1.0);
        let x = Axis::linear("seconds since the start", span);

        let rate = |f: fn(&crate::timeline::Point) -> f64| -> Vec<(f64, f64)> {
            points.iter().map(|p| (p.t, f(p))).collect()
        };
        let mut answers = vec![
            Series::new("sent", "#9e9e9e", rate(|p| p.sent)).dashed(),
            Series::new("Access-Accept", "#2e7d32", rate(|p| p.accepts)),
            Series::new("Access-Reject", "#c62828", rate(|p| p.rejects)),
            Series::new("Accounting-Response", "#1565c0", rate(|p| p.acct)),
        ];
        let c = &self.counts;
        if c.challenges + c.coa_acks + c.coa_naks > 0 {
            answers.push(Series::new("challenge / CoA", "#6a1b9a", rate(|p| p.other)));
        }
        answers.push(Series::new("timeouts", "#ef6c00", rate(|p| p.timeouts)));
        if c.bad_replies > 0 {
            answers.push(Series::new("bad replies", "#795548", rate(|p| p.bad)));
        }
        let top = answers
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let answers = Chart {
            title: "Answers per second, by code".into(),
            x: x.clone(),
            y: Axis::linear("per second", top),
            series: answers,
        };

        let ms = |us: u64| us as f64 / 1000.0;
        let lat = |f: fn(&crate::timeline::Point) -> Option<u64>| -> Vec<(f64, f64)> {
            points
                .iter()
                .filter_map(|p| f(p).map(|v| (p.t, ms(v))))
                .collect()
        };
        let latency = vec![
            Series::new("p50", "#1565c0", lat(|p| p.p50)),
            Series::new("p90", "#2e7d32", lat(|p| p.p90)),
            Series::new("p99", "#ef6c00", lat(|p| p.p99)),
            Series::new("p99.9", "#c62828", lat(|p| p.p999)),
            Series::new("max", "#424242", lat(|p| p.max)).dashed(),
        ];
        let (lo, hi) = latency
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let latency = Chart {
            title: "Latency per second (ms, log scale)".into(),
            x,
            y: Axis::log("ms", lo, hi),
            series: latency,
        };

        // The percentile curve on a "nines" axis: 90 % at 1, 99 % at 2, ...; max at the end.
        let nines = |q: f64| {
            if q >= 1.0 {
                4.5
            } else {
                (-(1.0 - q).log10()).min(4.0)
            }
        };
        let curve: Vec<(f64, f64)> = self
            .curve
            .iter()
            .map(|&(q, us)| (nines(q), ms(us)))
            .collect();
        let (lo, hi) = curve
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        let ticks = [
            (0.0, "0%"),
            (1.0, "90%"),
            (2.0, "99%"),
            (3.0, "99.9%"),
            (4.0, "99.99%"),
            (4.5, "max"),
        ]
        .iter()
        .map(|(v, l)| (*v, (*l).to_owned()))
        .collect();
        let curve = Chart {
            title: "Latency percentiles over the whole run (ms, log scale)".into(),
            x: Axis::custom("percentile", 0.0, 4.5, ticks),
            y: Axis::log("ms", lo, hi),
            series: vec![Series::new("latency", "#1565c0", curve)],
        };
        vec![answers, latency, curve]
    }

    /// The title line: tool, mode and target.
    fn title(&self) -> String {
        format!("{} {} -> {}", self.tool, self.mode, self.target)
    }

    /// The report as one self-contained SVG image.
    pub fn to_svg(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k:<22} {v}"))
            .collect();
        let table = self.to_table();
        let lines: Vec<&str> = params
            .iter()
            .map(String::as_str)
            .chain([""])
            .chain(table.lines())
            .collect();
        let text_height = 40.0 + LINE * lines.len() as f64;
        let charts = self.charts();
        let height = text_height + (chart::HEIGHT + 10.0) * charts.len() as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height:.0}" viewBox="0 0 {w} {height:.0}">"#,
            w = chart::WIDTH
        );
        let _ = writeln!(s, "<style>{CSS}</style>");
        let _ = writeln!(
            s,
            r##"<rect x="0" y="0" width="{}" height="{height:.0}" fill="#fafafa"/>"##,
            chart::WIDTH
        );
        let _ = writeln!(
            s,
            r#"<text x="16" y="24" class="title">{}</text>"#,
            chart::escape(&self.title())
        );
        for (i, line) in lines.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="16" y="{:.0}" class="mono" xml:space="preserve">{}</text>"#,
                44.0 + LINE * i as f64,
                chart::escape(line)
            );
        }
        for (i, c) in charts.iter().enumerate() {
            c.write(&mut s, text_height + (chart::HEIGHT + 10.0) * i as f64);
        }
        s.push_str("</svg>\n");
        s
    }

    /// The report as one self-contained HTML page (inline SVG charts, no scripts).
    pub fn to_html(&self) -> String {
        let title = chart::escape(&self.title());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
             <title>{title}</title>\n<style>body{{font-family:sans-serif;margin:1.5em;\
             background:#fafafa}}table{{border-collapse:collapse}}td{{padding:2px 12px 2px 0;\
             font-family:monospace}}pre{{font-size:13px}}{CSS}</style>\n</head>\n<body>\n\
             <h1>{title}</h1>"
        );
        s.push_str("<h2>Parameters</h2>\n<table>\n");
        for (k, v) in &self.params {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td></tr>",
                chart::escape(k),
                chart::escape(v)
            );
        }
        s.push_str("</table>\n<h2>Summary</h2>\n");
        let _ = writeln!(s, "<pre>{}</pre>", chart::escape(&self.to_table()));
        for c in self.charts() {
            let _ = writeln!(
                s,
                r#"<div><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#,
                w = chart::WIDTH,
                h = chart::HEIGHT
            );
            c.write(&mut s, 0.0);
            s.push_str("</svg></div>\n");
        }
        s.push_str("</body>\n</html>\n");
        s
    }

    /// The per-second samples as CSV: a header line, then one line per second of the run:
    /// its start (whole seconds since the run started), the rates of requests sent and of
    /// answers by kind, and latency percentiles in microseconds (empty when nothing was
    /// answered in that second). Rates of the last, partial second are per second too.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "second,sent,accepts,rejects,acct,other,timeouts,bad,p50_us,p90_us,p99_us,p999_us,max_us\n",
        );
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        for (i, p) in self
            .timeline
            .points(Duration::from_secs_f64(self.elapsed_s))
            .iter()
            .enumerate()
        {
            let _ = writeln!(
                s,
                "{i},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{},{},{},{},{}",
                p.sent,
                p.accepts,
                p.rejects,
                p.acct,
                p.other,
                p.timeouts,
                p.bad,
                opt(p.p50),
                opt(p.p90),
                opt(p.p99),
                opt(p.p999),
                opt(p.max),
            );
        }
        s
    }

    /// Write the report to `path`, as SVG, HTML or CSV by its extension.
    pub fn write_file(&self, path: &Path) -> Result<(), LoadError> {
        let text = match ReportFormat::of(path)? {
            ReportFormat::Svg => self.to_svg(),
            ReportFormat::Html => self.to_html(),
            ReportFormat::Csv => self.to_csv(),
        };
        std::fs::write(path, text).map_err(LoadError::io(format!("writing {}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::chart::tests::well_formed;
    use crate::engine::new_histogram;
    use crate::report::Counts;
    use crate::timeline::Timeline;

    /// A 2.5-second run: accepts then rejects, one timeout, with a hostile parameter.
    fn sample() -> Report {
        let start = Instant::now();
        let mut t = Timeline::new(start);
        let mut hist = new_histogram();
        for k in 0..300u64 {
            let at = start + Duration::from_millis(k * 8);
            let code = if k < 150 { 2 } else { 3 };
            t.at(at).sent += 1;
            t.reply(at, code, 200 + k);
            hist.record(200 + k).unwrap();
        }
        t.at(start + Duration::from_millis(2400)).timeouts += 1;
        let counts = Counts {
            sent: 301,
            replies: 300,
            accepts: 150,
            rejects: 150,
            timeouts: 1,
            ..Counts::default()
        };
        Report::new(
            "bench",
            "pap".into(),
            "127.0.0.1:1812".into(),
            Duration::from_millis(2500),
            counts,
            &hist,
            None,
        )
        .with_details(
            t,
            vec![
                ("concurrency".into(), "64".into()),
                (
                    "users file".into(),
                    "<script>alert('x')</script> & co".into(),
                ),
            ],
        )
    }

    fn assert_self_contained(doc: &str) {
        assert!(!doc.to_ascii_lowercase().contains("<script"), "a script");
        assert!(!doc.contains("href="), "a link");
        assert!(!doc.contains("src="), "an external asset");
        assert!(
            !doc.contains("@import") && !doc.contains("url("),
            "an external style"
        );
    }

    #[test]
    fn svg_report_is_well_formed_with_every_series_and_escaped_text() {
        let svg = sample().to_svg();
        let names = well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(names.first().map(String::as_str), Some("svg"));
        assert_self_contained(&svg);
        for label in [
            "Answers per second, by code",
            "Latency per second (ms, log scale)",
            "Latency percentiles over the whole run",
            "data-series=\"Access-Accept\"",
            "data-series=\"Access-Reject\"",
            "data-series=\"timeouts\"",
            "data-series=\"p50\"",
            "data-series=\"p90\"",
            "data-series=\"p99\"",
            "data-series=\"p99.9\"",
            "data-series=\"max\"",
            "data-series=\"latency\"",
            "99.9%",
            "bench pap -&gt; 127.0.0.1:1812",
            "concurrency",
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co",
            "latency ms",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        // Three charts: answers by code over time, latency over time, the curve.
        assert_eq!(names.iter().filter(|n| *n == "g").count(), 3);
    }

    #[test]
    fn html_report_embeds_the_charts_and_the_summary() {
        let html = sample().to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        let body = html.trim_start_matches("<!DOCTYPE html>");
        let names = well_formed(body).unwrap_or_else(|e| panic!("{e}\n{html}"));
        assert_eq!(names.iter().filter(|n| *n == "svg").count(), 3);
        assert_self_contained(&html);
        assert!(html.contains("<td>users file</td>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("data-series=\"Access-Reject\""));
        assert!(html.contains("rejects"));
    }

    #[test]
    fn a_run_with_no_answers_still_renders() {
        let r = Report::new(
            "replay",
            "x.pcap".into(),
            "[::1]:1812".into(),
            Duration::ZERO,
            Counts::default(),
            &new_histogram(),
            None,
        );
        for doc in [r.to_svg(), r.to_html()] {
            let doc = doc.trim_start_matches("<!DOCTYPE html>");
            well_formed(doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            assert!(doc.contains("no data"));
            assert!(!doc.contains("NaN") && !doc.contains("inf"), "{doc}");
        }
    }

    #[test]
    fn csv_has_one_line_per_second_with_its_rates_and_percentiles() {
        let start = Instant::now();
        let mut t = Timeline::new(start);
        t.at(start).sent += 3;
        t.reply(start, 2, 400);
        t.reply(start + Duration::from_millis(10), 3, 500);
        t.at(start + Duration::from_millis(1200)).timeouts += 1;
        t.reply(start + Duration::from_millis(2100), 2, 3000);
        let r = Report::new(
            "bench",
            "pap".into(),
            "127.0.0.1:1812".into(),
            Duration::from_secs(3),
            Counts::default(),
            &new_histogram(),
            None,
        )
        .with_details(t, Vec::new());
        let csv = r.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("second,sent,accepts,rejects,"));
        let f: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(&f[..4], ["0", "3", "1", "1"], "{csv}");
        let p99: u64 = f[10].parse().unwrap();
        assert!((400..=600).contains(&p99), "{csv}");
        let f: Vec<&str> = lines[2].split(',').collect();
        assert_eq!((f[6], f[10]), ("1", ""), "{csv}");
        let f: Vec<&str> = lines[3].split(',').collect();
        let p99: u64 = f[10].parse().unwrap();
        assert!((2500..=3500).contains(&p99), "{csv}");
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        assert_eq!(
            ReportFormat::of(Path::new("a/b.SVG")).unwrap(),
            ReportFormat::Svg
        );
        assert_eq!(
            ReportFormat::of(Path::new("r.html")).unwrap(),
            ReportFormat::Html
        );
        assert_eq!(
            ReportFormat::of(Path::new("r.htm")).unwrap(),
            ReportFormat::Html
        );
        assert_eq!(
            ReportFormat::of(Path::new("r.csv")).unwrap(),
            ReportFormat::Csv
        );
        assert!(ReportFormat::of(Path::new("r.png")).is_err());
        assert!(ReportFormat::of(Path::new("report")).is_err());
    }
}
