//! `[sessions]`: the session store, Simultaneous-Use and quotas, stale-session closing,
//! and Disconnect/CoA to the NAS.

use serde::{Deserialize, Serialize};

/// `[sessions]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// IANA time zone (`Asia/Jakarta`, `Europe/Berlin`, `UTC`) in which daily and monthly
    /// quotas reset at local midnight, and `Login-Time` windows and zone-less `Expiration`
    /// dates are read.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Acct-Interim-Interval sent in every Access-Accept that does not already carry one
    /// (MikroTik then sends an Interim-Update this often), seconds; 0 sends none.
    #[serde(default = "default_interim_interval_secs")]
    pub interim_interval_secs: u32,
    /// A session with no accounting update for `2 × interval + stale_grace_secs` is closed
    /// as stale (`acctterminatecause = Stale-Session`).
    #[serde(default = "default_stale_grace_secs")]
    pub stale_grace_secs: u32,
    /// How often stale sessions are looked for (and the online gauges refreshed), seconds.
    #[serde(default = "default_housekeeping_secs")]
    pub housekeeping_secs: u64,
    /// Upper bound on the Session-Timeout of every Access-Accept, seconds (0: none).
    #[serde(default)]
    pub max_session_timeout_secs: u32,
    /// Disconnect a session when an Interim shows its time or data is used up, and when an
    /// admin disables, expires or deletes its user; CoA when its rate limit changes.
    #[serde(default = "yes")]
    pub automatic_actions: bool,
    /// Wait per Disconnect/CoA attempt, milliseconds.
    #[serde(default = "default_dynauth_timeout_ms")]
    pub dynauth_timeout_ms: u64,
    /// Disconnect/CoA attempts in all (retransmissions of the same request).
    #[serde(default = "default_dynauth_attempts")]
    pub dynauth_attempts: u32,
}

fn default_time_zone() -> String {
    "UTC".into()
}
fn default_interim_interval_secs() -> u32 {
    300
}
fn default_stale_grace_secs() -> u32 {
    120
}
fn default_housekeeping_secs() -> u64 {
    10
}
fn yes() -> bool {
    true
}
fn default_dynauth_timeout_ms() -> u64 {
    1_000
}
fn default_dynauth_attempts() -> u32 {
    3
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            time_zone: default_time_zone(),
            interim_interval_secs: default_interim_interval_secs(),
            stale_grace_secs: default_stale_grace_secs(),
            housekeeping_secs: default_housekeeping_secs(),
            max_session_timeout_secs: 0,
            automatic_actions: true,
            dynauth_timeout_ms: default_dynauth_timeout_ms(),
            dynauth_attempts: default_dynauth_attempts(),
        }
    }
}

impl SessionsConfig {
    /// The configured zone (checked at load: `Config::validate`).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }
}
