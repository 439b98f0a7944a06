//! Load tools built into the binary: `bench` (synthetic MikroTik-like traffic), `replay`
//! (captured traffic, re-signed for the target), and a trivial responder that measures
//! the tools themselves.
//!
//! Both tools drive the same [`engine`]: one thread per UDP socket, a fixed in-flight
//! table indexed by identifier, batched system calls, and verification of every reply;
//! they report the same [`Report`] (counts, throughput, latency percentiles) as a table or
//! JSON. `pcap` reads captures (pcap-parser) and writes `--record` files.

pub mod bench;
mod engine;
pub mod pcap;
pub mod replay;
pub mod responder;
mod sys;
mod wire;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use bench::{BenchArgs, execute_bench, run_bench};
pub use engine::Counts;
pub use replay::{CaptureSummary, ReplayArgs, execute_replay, run_replay};

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
    /// Latency percentiles (µs).
    pub latency_us: Latency,
    /// The `--expect` given, if any.
    pub expect: Option<Expect>,
    /// False when `--expect` was given and some outcome differed.
    pub passed: bool,
}

impl Report {
    fn new(
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
            latency_us: Latency::from_histogram(hist),
            expect,
            passed,
        }
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
        if c.skipped > 0 {
            let _ = writeln!(s, "  skipped (all 256 identifiers busy) {}", c.skipped);
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

/// The live progress line: rate, outstanding, errors; hidden when stderr is not a terminal.
/// Returns a handle that stops it.
fn spawn_progress(shared: Arc<engine::Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let mut last = 0u64;
        let mut last_t = std::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let (mut sent, mut replies, mut errors, mut outstanding) = (0, 0, 0, 0);
            for l in &shared.live {
                sent += l.sent.load(Ordering::Relaxed);
                replies += l.replies.load(Ordering::Relaxed);
                errors += l.errors.load(Ordering::Relaxed);
                outstanding += l.outstanding.load(Ordering::Relaxed);
            }
            let now = std::time::Instant::now();
            let rate =
                (replies - last.min(replies)) as f64 / now.duration_since(last_t).as_secs_f64();
            last = replies;
            last_t = now;
            bar.set_message(format!(
                "{rate:>9.0} req/s  sent {sent}  replies {replies}  outstanding {outstanding}  errors {errors}"
            ));
            bar.tick();
            if shared.stop.load(Ordering::Relaxed) && outstanding == 0 {
                bar.finish_and_clear();
                return;
            }
        }
    })
}
