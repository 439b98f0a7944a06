//! Per-second samples of a load run, for the `--report` charts: how many requests went out,
//! how they were answered (by code) or timed out, and a coarse latency histogram, for each
//! second since the run started.
//!
//! Each engine worker keeps its own [`Timeline`] (one counter set per second, indexed by
//! whole seconds since the shared start, so recording is an index and an add); `run` merges
//! them second by second at the end.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Longest run sampled: a sample past it is folded into the last second (runs are bounded
/// by `--duration`/`--requests`; this only bounds memory for absurd ones).
const MAX_SECONDS: usize = 7 * 24 * 3600;

/// Per-second latency histograms: 1 µs .. 2 min, 1 significant digit (a few percent of
/// precision, about 3 KB each): enough for a chart, cheap enough to keep one per second.
fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 1)
        .unwrap_or_else(|_| unreachable!("constant, valid histogram bounds"))
}

/// What happened during one second of a run.
#[derive(Debug, Clone)]
pub(crate) struct Second {
    /// Requests sent (first transmissions).
    pub(crate) sent: u64,
    /// Access-Accept.
    pub(crate) accepts: u64,
    /// Access-Reject.
    pub(crate) rejects: u64,
    /// Accounting-Response.
    pub(crate) acct: u64,
    /// Access-Challenge, CoA/Disconnect ACK or NAK.
    pub(crate) other: u64,
    /// Requests given up after the last retry.
    pub(crate) timeouts: u64,
    /// Replies that failed verification.
    pub(crate) bad: u64,
    /// Latency of the replies received in this second (µs).
    pub(crate) latency: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Self {
            sent: 0,
            accepts: 0,
            rejects: 0,
            acct: 0,
            other: 0,
            timeouts: 0,
            bad: 0,
            latency: second_histogram(),
        }
    }
}

impl Second {
    fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.accepts += o.accepts;
        self.rejects += o.rejects;
        self.acct += o.acct;
        self.other += o.other;
        self.timeouts += o.timeouts;
        self.bad += o.bad;
        // Same bounds: cannot fail.
        let _ = self.latency.add(&o.latency);
    }
}

/// The per-second samples of a run (or of one worker, before merging).
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    start: Instant,
    seconds: Vec<Second>,
}

impl Timeline {
    /// An empty timeline whose second 0 starts at `start`.
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            seconds: Vec::new(),
        }
    }

    /// The sample of the second that contains `now` (created on first use).
    pub(crate) fn at(&mut self, now: Instant) -> &mut Second {
        let i = (now.saturating_duration_since(self.start).as_secs() as usize).min(MAX_SECONDS);
        if i >= self.seconds.len() {
            self.seconds.resize_with(i + 1, Second::default);
        }
        &mut self.seconds[i]
    }

    /// Count a verified reply of `code` received at `now`, `us` after the first send.
    pub(crate) fn reply(&mut self, now: Instant, code: u8, us: u64) {
        let s = self.at(now);
        match code {
            2 => s.accepts += 1,
            3 => s.rejects += 1,
            5 => s.acct += 1,
            _ => s.other += 1,
        }
        s.latency.saturating_record(us.max(1));
    }

    /// Add another worker's samples, second by second.
    pub(crate) fn merge(&mut self, o: &Self) {
        if o.seconds.len() > self.seconds.len() {
            self.seconds.resize_with(o.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&o.seconds) {
            mine.add(theirs);
        }
    }

    /// The samples, second 0 first.
    #[cfg(test)]
    pub(crate) fn seconds(&self) -> &[Second] {
        &self.seconds
    }

    /// Rates per second and latency percentiles of each sample, for a run that lasted
    /// `elapsed`: the last, partial second's counts are divided by its length, so every
    /// point is a rate.
    pub(crate) fn points(&self, elapsed: Duration) -> Vec<Point> {
        let total = elapsed.as_secs_f64();
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let from = i as f64;
                // A sample past the end (a late reply) still counts over a whole second.
                let len = if total > from && total < from + 1.0 {
                    (total - from).max(0.05)
                } else {
                    1.0
                };
                let rate = |n: u64| n as f64 / len;
                let q = |q: f64| {
                    if s.latency.is_empty() {
                        None
                    } else {
                        Some(s.latency.value_at_quantile(q))
                    }
                };
                Point {
                    t: from + len / 2.0,
                    sent: rate(s.sent),
                    accepts: rate(s.accepts),
                    rejects: rate(s.rejects),
                    acct: rate(s.acct),
                    other: rate(s.other),
                    timeouts: rate(s.timeouts),
                    bad: rate(s.bad),
                    p50: q(0.50),
                    p90: q(0.90),
                    p99: q(0.99),
                    p999: q(0.999),
                    max: (!s.latency.is_empty()).then(|| s.latency.max()),
                }
            })
            .collect()
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

/// One second of a run as rates (per second) and latency percentiles (µs; `None` when
/// nothing was answered in that second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    /// Middle of the second, in seconds since the start.
    pub(crate) t: f64,
    pub(crate) sent: f64,
    pub(crate) accepts: f64,
    pub(crate) rejects: f64,
    pub(crate) acct: f64,
    pub(crate) other: f64,
    pub(crate) timeouts: f64,
    pub(crate) bad: f64,
    pub(crate) p50: Option<u64>,
    pub(crate) p90: Option<u64>,
    pub(crate) p99: Option<u64>,
    pub(crate) p999: Option<u64>,
    pub(crate) max: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_their_second_and_merge_by_second() {
        let start = Instant::now();
        let mut a = Timeline::new(start);
        a.reply(start, 2, 100);
        a.reply(start + Duration::from_millis(1500), 3, 200);
        a.at(start + Duration::from_millis(2100)).timeouts += 1;
        let mut b = Timeline::new(start);
        b.reply(start + Duration::from_millis(200), 5, 300);
        b.at(start).sent += 4;
        a.merge(&b);
        let s = a.seconds();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].accepts, s[0].acct, s[0].sent), (1, 1, 4));
        assert_eq!(s[1].rejects, 1);
        assert_eq!(s[2].timeouts, 1);
        assert_eq!(s[0].latency.len(), 2);

        // 2.5 s: the last second lasted half a second, so its one timeout is a rate of 2/s.
        let p = a.points(Duration::from_millis(2500));
        assert_eq!(p[0].t, 0.5);
        assert_eq!(p[0].sent, 4.0);
        assert_eq!(p[2].timeouts, 2.0);
        assert_eq!(p[2].t, 2.25);
        assert_eq!(p[2].p50, None);
        assert!(p[1].p50.is_some_and(|v| (190..=210).contains(&v)), "{p:?}");
    }
}
