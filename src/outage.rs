//! Outage bookkeeping for log lines: when a dependency (PostgreSQL, Redis, the NOTIFY
//! connection) fails for every request, say so once when the outage starts and once when
//! it ends, not once per packet. Metrics count every failure; logs tell the story.

use std::sync::atomic::{AtomicBool, Ordering};

/// One dependency's up/down state, as far as logging is concerned. `const`-constructible,
/// so a call site can keep one in a `static`.
#[derive(Debug, Default)]
pub struct Outage {
    down: AtomicBool,
}

impl Outage {
    /// Up.
    pub const fn new() -> Self {
        Self {
            down: AtomicBool::new(false),
        }
    }

    /// Records a failure; `true` when it starts an outage (log it then).
    pub fn failed(&self) -> bool {
        !self.down.swap(true, Ordering::AcqRel)
    }

    /// Records a success; `true` when it ends an outage (log the recovery then). Costs one
    /// relaxed load while up, so it can sit on the packet path.
    pub fn recovered(&self) -> bool {
        self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::AcqRel)
    }

    /// Whether an outage is in progress.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::Outage;

    #[test]
    fn logs_once_per_outage() {
        let o = Outage::new();
        assert!(!o.recovered(), "nothing to recover from while up");
        assert!(o.failed(), "the first failure starts the outage");
        assert!(!o.failed(), "later failures are the same outage");
        assert!(o.is_down());
        assert!(o.recovered(), "the first success ends it");
        assert!(!o.recovered());
        assert!(o.failed(), "a new outage is logged again");
    }
}
