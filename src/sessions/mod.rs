//! Who is online and what each user has used: the session store behind Simultaneous-Use,
//! quotas, stale-session closing and Disconnect/CoA, so a login never runs SQL.
//!
//! Fed by accounting records once they are durable (`handler::accounting`), read at login
//! (`handler::access`) and by the housekeeping task ([`housekeeping`]). Two implementations
//! behind [`SessionStore`]: [`memory::MemorySessions`] (one process) and
//! [`redis::RedisSessions`] (shared by every instance; each update is one Lua script, so
//! two servers never double-count or both close the same session).
//!
//! # Rules
//! - A session is keyed by its unique id (`radacct.acctuniqueid`). Start and Interim open
//!   or update it; Stop closes it. Counters never move back: an Interim older than what the
//!   store holds changes nothing.
//! - Usage grows by the *difference* between a session's new cumulative counters and the
//!   ones held, so a repeated Interim or Stop (NAS retransmission, journal replay) adds
//!   nothing. A closed session is remembered for a day ([`CLOSED_TTL`]) so a late or
//!   repeated Stop is not counted twice. The difference goes to the local day and month of
//!   the record's event time (the caller passes `policy::limits::periods`); a record for an
//!   earlier day than the counters hold adds to the totals only.
//! - Lost Stop: a Start from the same client entry and NAS for a NAS-Port or a MAC
//!   (Calling-Station-Id) that still has an open session closes that session; it is handed
//!   back in [`Applied::replaced`] so the caller records a Stop in `radacct`.
//! - Accounting-On/Off closes the open sessions of that client entry and NAS-IP (the SQL
//!   side closes them in `radacct` itself).
//! - A session not updated for `2 × interim + grace` is due for closing as stale
//!   ([`SessionStore::due`], then [`SessionStore::close`], which hands the session to one
//!   caller only).
//!
//! Counters are 64-bit in Rust; the Redis scripts compute differences in Lua numbers
//! (doubles), exact below 2^53 octets (9 PB) per session.

pub mod actions;
pub mod housekeeping;
pub mod memory;
pub mod redis;

use std::future::Future;
use std::net::IpAddr;

use radius_proto::protocol::AcctStatus;

use crate::model::{AcctRecord, Session, Usage};

pub use memory::MemorySessions;
pub use redis::RedisSessions;

/// How long a closed session is remembered (repeated or late Stop/Interim detection).
pub const CLOSED_TTL: i64 = 86_400;

/// Why the session store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Redis refused or failed.
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer in time.
    #[error("Redis timed out")]
    Timeout,
    /// The Redis client could not be made (URL, TLS files).
    #[error(transparent)]
    Client(#[from] crate::store::StoreError),
    /// A stored value could not be read back.
    #[error("unreadable session store entry: {0}")]
    Corrupt(String),
}

/// When a session with no news is considered gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleRule {
    /// Interim interval assumed when neither the NAS nor the user's profile says (what
    /// Access-Accept asks for). 0: none was asked for, so the NAS may never send one, and
    /// such a session is never closed as stale.
    pub default_interim: i64,
    /// Extra seconds allowed on top of two intervals.
    pub grace: i64,
}

impl StaleRule {
    /// Unix time after which a session last updated at `last_update`, with interim
    /// interval `interim` (if known), is stale.
    pub fn deadline_at(&self, last_update: i64, interim: Option<i64>) -> i64 {
        let interim = interim.filter(|i| *i > 0).unwrap_or(self.default_interim);
        if interim <= 0 {
            return i64::MAX;
        }
        last_update
            .saturating_add(interim.saturating_mul(2))
            .saturating_add(self.grace)
    }

    /// Unix time after which `session` is stale.
    pub fn deadline(&self, session: &Session) -> i64 {
        self.deadline_at(session.last_update, session.interim)
    }
}

/// What applying one accounting record changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Open sessions closed because this Start took their NAS port or MAC (lost Stop).
    /// Their Stop is not in `radacct` yet.
    pub replaced: Vec<Session>,
    /// Sessions closed by Accounting-On/Off (already closed in `radacct` by its writer).
    pub nas_reset: usize,
    /// The user's usage after this record (zero for Accounting-On/Off).
    pub usage: Usage,
}

/// What a login needs to know, in one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserState {
    /// Open sessions.
    pub open: u32,
    /// Usage so far (open sessions included, as of their last Interim).
    pub usage: Usage,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this user's: a [`Session::user_id`] ((tenant, username) as one string, made
    /// by [`crate::tenants::scoped`]; a global user's is its username).
    pub user: Option<String>,
    /// Only sessions reported by this NAS-IP.
    pub nas: Option<IpAddr>,
}

impl Filter {
    /// Whether `s` passes.
    pub fn matches(&self, s: &Session) -> bool {
        self.user.as_ref().is_none_or(|u| *u == s.user_id())
            && self.nas.is_none_or(|n| n == s.nas_ip)
    }
}

/// The session store.
pub trait SessionStore: Send + Sync + 'static {
    /// Apply one accounting record that is already durable. `periods` are the local
    /// (day `YYYYMMDD`, month `YYYYMM`) of its event time; `deadline` is when the session
    /// it opens or updates becomes stale.
    fn apply(
        &self,
        record: &AcctRecord,
        periods: (u32, u32),
        deadline: i64,
    ) -> impl Future<Output = Result<Applied, SessionError>> + Send;

    /// A user's open-session count and usage. `username` is a [`Session::user_id`]: a
    /// global user's username, or (tenant, username) as [`crate::tenants::scoped`] makes it.
    fn user_state(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<UserState, SessionError>> + Send;

    /// Open sessions passing `filter`, oldest first.
    fn list(
        &self,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<Session>, SessionError>> + Send;

    /// Unique ids of sessions whose stale deadline is at or before `now` (at most `limit`).
    fn due(
        &self,
        now: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, SessionError>> + Send;

    /// Close one session; `Some` only for the one caller that closed it.
    fn close(
        &self,
        unique_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<Session>, SessionError>> + Send;

    /// Open sessions per NAS-IP.
    fn online_per_nas(
        &self,
    ) -> impl Future<Output = Result<Vec<(IpAddr, u64)>, SessionError>> + Send;

    /// Whether the store holds a loaded state (false: empty or lost, rebuild from
    /// `radacct`).
    fn is_loaded(&self) -> impl Future<Output = Result<bool, SessionError>> + Send;

    /// Claim `key` for `ttl_secs` seconds: `true` for the one caller (across every
    /// instance sharing the store) that got it first. Automatic actions claim before they
    /// are sent, so one admin change or one exhausted quota yields one request per session,
    /// however many servers saw it.
    fn claim(
        &self,
        key: &str,
        ttl_secs: u64,
    ) -> impl Future<Output = Result<bool, SessionError>> + Send;

    /// Replace everything with `sessions` and `usage` (rebuilt from `radacct`; usage keyed
    /// by [`Session::user_id`]).
    fn load(
        &self,
        sessions: Vec<Session>,
        usage: Vec<(String, Usage)>,
        stale: StaleRule,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;
}

/// The session an accounting record opens or updates (counters as the record says).
pub fn session_of(record: &AcctRecord) -> Session {
    let session_time = record.session_time.unwrap_or(0).max(0);
    let start = if record.status == AcctStatus::Start {
        record.event_time
    } else {
        record.event_time.saturating_sub(session_time)
    };
    Session {
        unique_id: record.unique_id.clone(),
        session_id: record.session_id.clone(),
        username: record.username.clone(),
        nas_ip: record.nas_ip,
        client: record.client,
        nas_port_id: record.nas_port_id.clone(),
        nas_port: record.nas_port,
        mac: record.calling_station_id.clone(),
        framed_ip: record.framed_ip,
        start,
        last_update: record.event_time,
        interim: record.interim_interval,
        session_time,
        input_octets: record.input_octets.unwrap_or(0).max(0),
        output_octets: record.output_octets.unwrap_or(0).max(0),
        tenant: record.tenant.clone(),
    }
}

/// Octets in + out of a session.
pub fn octets(s: &Session) -> u64 {
    u64::try_from(s.input_octets.max(0))
        .unwrap_or(0)
        .saturating_add(u64::try_from(s.output_octets.max(0)).unwrap_or(0))
}

/// What an accounting record adds to usage, given the counters held before it (`None`: a
/// session the store does not know).
pub fn delta(held: Option<&Session>, new: &Session) -> (u64, u64) {
    let (t0, o0) = held.map_or((0, 0), |h| (h.session_time.max(0), octets(h)));
    let t1 = new.session_time.max(0);
    (
        u64::try_from(t1.saturating_sub(t0)).unwrap_or(0),
        octets(new).saturating_sub(o0),
    )
}

/// Add `seconds` and `octets` to `usage` in `periods` (see the module rules).
pub fn add_usage(usage: &mut Usage, periods: (u32, u32), seconds: u64, octets: u64) {
    let (day, month) = periods;
    usage.total_seconds = usage.total_seconds.saturating_add(seconds);
    usage.total_octets = usage.total_octets.saturating_add(octets);
    add_in_period(
        (
            &mut usage.day,
            &mut usage.day_seconds,
            &mut usage.day_octets,
        ),
        day,
        seconds,
        octets,
    );
    add_in_period(
        (
            &mut usage.month,
            &mut usage.month_seconds,
            &mut usage.month_octets,
        ),
        month,
        seconds,
        octets,
    );
}

/// One period's counters: a later period starts them afresh, the same period adds, an
/// earlier one is left alone.
fn add_in_period(held: (&mut u32, &mut u64, &mut u64), period: u32, seconds: u64, octets: u64) {
    let (key, s, o) = held;
    if period > *key {
        (*key, *s, *o) = (period, seconds, octets);
    } else if period == *key {
        *s = s.saturating_add(seconds);
        *o = o.saturating_add(octets);
    }
}

/// Sessions in listing order: oldest first (ties by unique id).
pub fn oldest_first(sessions: &mut [Session]) {
    sessions.sort_by(|a, b| (a.start, &a.unique_id).cmp(&(b.start, &b.unique_id)));
}

/// Whether an update carries counters at least as far as those held (an older Interim
/// arriving late must not move a session back).
pub fn is_newer(held: &Session, new: &Session) -> bool {
    new.session_time >= held.session_time && octets(new) >= octets(held)
}

/// The configured store: one type for the handlers and tasks, whichever backs it.
#[derive(Debug, Clone)]
pub enum Sessions {
    /// In this process (no Redis configured).
    Memory(std::sync::Arc<MemorySessions>),
    /// In Redis, shared by every instance.
    Redis(RedisSessions),
}

impl Sessions {
    /// `memory` or `redis`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Self::Memory($s) => $e,
            Self::Redis($s) => $e,
        }
    };
}

impl SessionStore for Sessions {
    async fn apply(
        &self,
        record: &AcctRecord,
        periods: (u32, u32),
        deadline: i64,
    ) -> Result<Applied, SessionError> {
        delegate!(self, s => s.apply(record, periods, deadline).await)
    }

    async fn user_state(&self, username: &str) -> Result<UserState, SessionError> {
        delegate!(self, s => s.user_state(username).await)
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Session>, SessionError> {
        delegate!(self, s => s.list(filter).await)
    }

    async fn due(&self, now: i64, limit: usize) -> Result<Vec<String>, SessionError> {
        delegate!(self, s => s.due(now, limit).await)
    }

    async fn close(&self, unique_id: &str, now: i64) -> Result<Option<Session>, SessionError> {
        delegate!(self, s => s.close(unique_id, now).await)
    }

    async fn online_per_nas(&self) -> Result<Vec<(IpAddr, u64)>, SessionError> {
        delegate!(self, s => s.online_per_nas().await)
    }

    async fn is_loaded(&self) -> Result<bool, SessionError> {
        delegate!(self, s => s.is_loaded().await)
    }

    async fn claim(&self, key: &str, ttl_secs: u64) -> Result<bool, SessionError> {
        delegate!(self, s => s.claim(key, ttl_secs).await)
    }

    async fn load(
        &self,
        sessions: Vec<Session>,
        usage: Vec<(String, Usage)>,
        stale: StaleRule,
    ) -> Result<(), SessionError> {
        delegate!(self, s => s.load(sessions, usage, stale).await)
    }
}

#[cfg(test)]
mod tests;

/// What the request handlers need of the session layer.
#[derive(Debug, Clone)]
pub struct SessionRules {
    /// The store.
    pub store: Sessions,
    /// Zone of the daily/monthly periods and Login-Time.
    pub tz: chrono_tz::Tz,
    /// When a silent session is stale.
    pub stale: StaleRule,
    /// Acct-Interim-Interval to send in Access-Accept (0: none).
    pub interim_interval: u32,
    /// Upper bound on Session-Timeout (None: no bound).
    pub max_session_timeout: Option<u32>,
    /// Automatic Disconnect/CoA (None: off).
    pub actions: Option<actions::ActionQueue>,
}

impl SessionRules {
    /// Stale deadline of the session a record opens or updates.
    pub fn deadline(&self, record: &AcctRecord) -> i64 {
        self.stale
            .deadline_at(record.event_time, record.interim_interval)
    }
}
