//! What a misconfigured router is told: a drop that means "fix something" (an unknown NAS,
//! a secret mismatch, a Message-Authenticator the policy requires) is logged as a warning
//! that says what to fix — at most once a minute per source address and reason, so a
//! flood costs one line a minute, not one per packet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::reason;

/// How often one (source, reason) pair is logged.
const EVERY: Duration = Duration::from_secs(60);
/// Most (source, reason) pairs remembered; beyond it, new ones are not logged until the
/// oldest age out (a spoofed-source flood cannot grow memory).
const MAX_SOURCES: usize = 4_096;

static LAST: LazyLock<Mutex<HashMap<(IpAddr, &'static str), Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The advice for a drop reason, if it is one an operator can act on.
pub(super) fn advice(why: &str) -> Option<&'static str> {
    Some(match why {
        reason::UNKNOWN_CLIENT => {
            "datagram from an unknown NAS dropped: add it with `hotspot-radius nas add --address <ip> --secret <secret>` or a [[nas]] entry"
        }
        reason::BAD_MESSAGE_AUTHENTICATOR => {
            "bad Message-Authenticator: the shared secret on the router differs from ours"
        }
        reason::BAD_REQUEST_AUTHENTICATOR => {
            "bad Request Authenticator on an Accounting-Request: the shared secret on the router differs from ours"
        }
        reason::MISSING_MESSAGE_AUTHENTICATOR => {
            "Access-Request without Message-Authenticator, which this NAS's policy requires: enable it on the router, or set require_message_authenticator = \"off\" for this NAS"
        }
        reason::MISS_BUDGET => {
            "this NAS has max_misses_per_nas lookups of uncached users waiting (a flood of unknown or random usernames?): the excess is dropped; find what sends them, or raise [server] max_misses_per_nas if these are real logins"
        }
        reason::WRONG_PORT => {
            "request sent to the wrong port (Access-Request to accounting, or the reverse): check the router's authentication and accounting ports"
        }
        _ => return None,
    })
}

/// Log `why`'s advice for `source`, rate limited; `true` when a line was written.
pub(super) fn complain(source: IpAddr, why: &'static str, nas: Option<&str>) -> bool {
    let Some(advice) = advice(why) else {
        return false;
    };
    let now = Instant::now();
    {
        let Ok(mut last) = LAST.lock() else {
            return false;
        };
        match last.get(&(source, why)) {
            Some(at) if now.duration_since(*at) < EVERY => return false,
            Some(_) => {}
            None if last.len() >= MAX_SOURCES => {
                last.retain(|_, at| now.duration_since(*at) < EVERY);
                if last.len() >= MAX_SOURCES {
                    return false;
                }
            }
            None => {}
        }
        last.insert((source, why), now);
    }
    match nas {
        Some(nas) => {
            tracing::warn!(%source, nas, reason = why, "{advice} (logged at most once a minute per source)")
        }
        None => {
            tracing::warn!(%source, reason = why, "{advice} (logged at most once a minute per source)")
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actionable_reasons_have_advice_and_others_none() {
        for why in [
            reason::UNKNOWN_CLIENT,
            reason::BAD_MESSAGE_AUTHENTICATOR,
            reason::BAD_REQUEST_AUTHENTICATOR,
            reason::MISSING_MESSAGE_AUTHENTICATOR,
            reason::WRONG_PORT,
            reason::MISS_BUDGET,
        ] {
            assert!(advice(why).is_some(), "{why}");
        }
        assert!(advice(reason::OVERLOAD).is_none());
        assert!(advice(reason::STORE_UNAVAILABLE).is_none());
    }

    #[test]
    fn one_line_per_source_and_reason_a_minute() {
        let a: IpAddr = "192.0.2.10".parse().unwrap();
        let b: IpAddr = "192.0.2.11".parse().unwrap();
        assert!(complain(a, reason::UNKNOWN_CLIENT, None));
        assert!(
            !complain(a, reason::UNKNOWN_CLIENT, None),
            "repeated within the minute"
        );
        assert!(
            complain(a, reason::WRONG_PORT, Some("r1")),
            "another reason"
        );
        assert!(complain(b, reason::UNKNOWN_CLIENT, None), "another source");
        assert!(!complain(b, reason::OVERLOAD, None), "nothing to advise");
    }
}
