//! What `bench` and `replay` report: outcome counts, throughput and latency percentiles,
//! as a table or JSON, and whether the run met its `--expect`.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::timeline::Timeline;

/// Quantiles of the latency curve drawn in a `--report` file.
const CURVE_QUANTILES: [f64; 16] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9998, 0.9999,
    1.0,
];

/// Outcome counts (the numbers both tools report).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Requests sent (first transmissions).
    pub sent: u64,
    /// Retransmissions after a timeout.
    pub retransmits: u64,
    /// Verified replies matched to a request.
    pub replies: u64,
    /// Access-Accept.
    pub accepts: u64,
    /// Access-Reject.
    pub rejects: u64,
    /// Access-Challenge.
    pub challenges: u64,
    /// Accounting-Response.
    pub acct_responses: u64,
    /// CoA-ACK or Disconnect-ACK.
    pub coa_acks: u64,
    /// CoA-NAK or Disconnect-NAK.
    pub coa_naks: u64,
    /// Requests given up after the last retry.
    pub timeouts: u64,
    /// Replies that failed verification (authenticator, Message-Authenticator, layout,
    /// a code that does not answer the request).
    pub bad_replies: u64,
    /// Replies for no outstanding request (late after a retransmit, duplicates, strangers).
    pub unmatched: u64,
    /// Send system-call failures.
    pub send_errors: u64,
    /// Open loop only: requests not sent on time because all 256 identifiers of a socket
    /// were in flight (or, in hotspot mode, every user had a session open).
    pub skipped: u64,
    /// Hotspot mode: sessions completed (login accepted, then Start, the Interim-Updates
    /// and the Stop all answered).
    pub sessions: u64,
    /// Sessions left open by the run (Start sent, Stop not answered) that the end-of-run
    /// Accounting Stop closed.
    pub sessions_closed: u64,
    /// Sessions left open by the run whose closing Stop went unanswered in time (they may
    /// still be open on the server).
    pub sessions_close_failed: u64,
}

impl Counts {
    /// Add another worker's counts.
    pub(crate) fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.retransmits += o.retransmits;
        self.replies += o.replies;
        self.accepts += o.accepts;
        self.rejects += o.rejects;
        self.challenges += o.challenges;
        self.acct_responses += o.acct_responses;
        self.coa_acks += o.coa_acks;
        self.coa_naks += o.coa_naks;
        self.timeouts += o.timeouts;
        self.bad_replies += o.bad_replies;
        self.unmatched += o.unmatched;
        self.send_errors += o.send_errors;
        self.skipped += o.skipped;
        self.sessions += o.sessions;
        self.sessions_closed += o.sessions_closed;
        self.sessions_close_failed += o.sessions_close_failed;
    }

    /// Errors for the progress line: timeouts, bad replies, send errors.
    pub fn errors(&self) -> u64 {
        self.timeouts + self.bad_replies + self.send_errors
    }
}

/// The outcome a run is expected to have (`--expect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Every request answered positively (Access-Accept, Accounting-Response, ACK).
    Accept,
    /// Every Access-Request answered with Access-Reject.
    Reject,
}

/// Latency percentiles in microseconds, from first transmission to verified reply.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Percentiles of a latency histogram (all zero when empty).
    fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Below this many replies a run is too small for [`Report::mostly_rejects`] to judge.
pub const MOSTLY_REJECTS_MIN_REPLIES: u64 = 100;

/// What `bench` and `replay` report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `bench` or `replay`.
    pub tool: &'static str,
    /// Bench mode, or the capture file for replay.
    pub mode: String,
    /// Target address (auth port).
    pub target: String,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
    /// Outcome counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Verified replies per second.
    pub throughput: f64,
    /// Completed sessions per second (hotspot mode).
    pub sessions_per_s: f64,
    /// Latency percentiles (µs).
    pub latency_us: Latency,
    /// The `--expect` given, if any.
    pub expect: Option<Expect>,
    /// False when `--expect` was given and some outcome differed.
    pub passed: bool,
    /// The run's parameters as (name, value), shown in the `--report` file.
    #[serde(skip)]
    pub params: Vec<(String, String)>,
    /// Per-second samples (for the `--report` charts).
    #[serde(skip)]
    pub(crate) timeline: Timeline,
    /// Latency (µs) at each of `CURVE_QUANTILES` over the whole run; empty when nothing
    /// was answered.
    #[serde(skip)]
    pub(crate) curve: Vec<(f64, u64)>,
}

impl Report {
    /// Build the report of a finished run.
    pub(crate) fn new(
        tool: &'static str,
        mode: String,
        target: String,
        elapsed: Duration,
        counts: Counts,
        hist: &Histogram<u64>,
        expect: Option<Expect>,
    ) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let passed = expect.is_none_or(|e| outcome_matches(&counts, e));
        Self {
            tool,
            mode,
            target,
            elapsed_s: secs,
            counts,
            throughput: counts.replies as f64 / secs,
            sessions_per_s: counts.sessions as f64 / secs,
            latency_us: Latency::from_histogram(hist),
            expect,
            passed,
            params: Vec::new(),
            timeline: Timeline::default(),
            curve: if hist.is_empty() {
                Vec::new()
            } else {
                CURVE_QUANTILES
                    .iter()
                    .map(|&q| (q, hist.value_at_quantile(q)))
                    .collect()
            },
        }
    }

    /// The same report with the run's per-second samples and parameters.
    pub(crate) fn with_details(self, timeline: Timeline, params: Vec<(String, String)>) -> Self {
        Self {
            timeline,
            params,
            ..self
        }
    }

    /// At least [`MOSTLY_REJECTS_MIN_REPLIES`] replies, and 90 % or more of them
    /// Access-Rejects: the figures measure how fast the server says no, which is rarely
    /// what was meant (users not seeded, wrong passwords, wrong secret).
    pub fn mostly_rejects(&self) -> bool {
        let c = &self.counts;
        c.replies >= MOSTLY_REJECTS_MIN_REPLIES && c.rejects * 10 >= c.replies * 9
    }

    /// Process exit code: 0, or 1 when `--expect` failed.
    pub fn exit_code(&self) -> i32 {
        if self.passed { 0 } else { 1 }
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as a human-readable table.
    pub fn to_table(&self) -> String {
        let c = &self.counts;
        let l = &self.latency_us;
        let mut s = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(
            s,
            "{} {} -> {} in {:.2} s",
            self.tool, self.mode, self.target, self.elapsed_s
        );
        let _ = writeln!(
            s,
            "  sent          {:>12}   retransmits  {:>10}",
            c.sent, c.retransmits
        );
        let _ = writeln!(
            s,
            "  replies       {:>12}   throughput   {:>10.0}/s",
            c.replies, self.throughput
        );
        let _ = writeln!(
            s,
            "  accepts       {:>12}   rejects      {:>10}",
            c.accepts, c.rejects
        );
        let hotspot = self.mode == "hotspot";
        if hotspot || c.sessions > 0 {
            let _ = writeln!(
                s,
                "  sessions      {:>12}   sessions/s   {:>10.0}/s",
                c.sessions, self.sessions_per_s
            );
        }
        let _ = writeln!(
            s,
            "  acct answers  {:>12}   challenges   {:>10}",
            c.acct_responses, c.challenges
        );
        if c.coa_acks + c.coa_naks > 0 {
            let _ = writeln!(
                s,
                "  coa/dm acks   {:>12}   coa/dm naks  {:>10}",
                c.coa_acks, c.coa_naks
            );
        }
        let _ = writeln!(
            s,
            "  timeouts      {:>12}   bad replies  {:>10}",
            c.timeouts, c.bad_replies
        );
        let _ = writeln!(
            s,
            "  unmatched     {:>12}   send errors  {:>10}",
            c.unmatched, c.send_errors
        );
        if c.sessions_closed + c.sessions_close_failed > 0 {
            let _ = writeln!(
                s,
                "  sessions left open at the end: {} closed with an Accounting Stop, {} not \
                 answered in time",
                c.sessions_closed, c.sessions_close_failed
            );
        }
        if c.skipped > 0 {
            let _ = writeln!(
                s,
                "  skipped (all 256 identifiers busy, or every hotspot user in a session) {}",
                c.skipped
            );
        }
        let _ = writeln!(
            s,
            "  latency ms    p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            l.p50 as f64 / 1000.0,
            l.p90 as f64 / 1000.0,
            l.p99 as f64 / 1000.0,
            l.p999 as f64 / 1000.0,
            l.max as f64 / 1000.0
        );
        if hotspot && c.rejects > 0 {
            let _ = writeln!(
                s,
                "  !!! {} LOGINS REJECTED: every bench session should be accepted; the setup is \
                 wrong (unknown user, wrong password, or a Simultaneous-Use / quota refusal), so \
                 these figures do not measure the hotspot mix !!!",
                c.rejects
            );
        }
        if let Some(e) = self.expect {
            let _ = writeln!(
                s,
                "  expect {:?}: {}",
                e,
                if self.passed { "passed" } else { "FAILED" }
            );
        }
        s
    }

    /// Print as JSON or table on stdout.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.to_json());
        } else {
            print!("{}", self.to_table());
        }
    }
}

/// Did every request end with the expected kind of answer?
fn outcome_matches(c: &Counts, e: Expect) -> bool {
    let failures = c.timeouts + c.bad_replies + c.send_errors + c.challenges + c.skipped;
    if failures > 0 || c.replies == 0 {
        return false;
    }
    match e {
        Expect::Accept => c.rejects == 0 && c.coa_naks == 0,
        Expect::Reject => c.accepts == 0 && c.rejects > 0 && c.coa_acks == 0,
    }
}
