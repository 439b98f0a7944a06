//! Time and data quotas, `Expire-After` and `Login-Time`: what a user may still use, decided
//! from the merged check items and the usage the session store counted.
//!
//! Pure functions: the clock (`now`, Unix seconds), the configured time zone and the usage
//! are passed in; nothing here does I/O. [`Profile::authorize`](super::Profile::authorize)
//! hands out the merged [`Limits`] for the request; the handler fetches [`Usage`] (only
//! when [`Limits::needs_usage`]) and calls [`decide`].
//!
//! Day and month quotas count the local calendar day and month in the configured zone
//! ([`periods`]), the same keys the session store writes into `Usage::day` / `Usage::month`;
//! counters kept for another period than the current one count as zero.

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;

pub use super::login_time::{LoginTime, LoginTimeError};
use crate::model::Usage;

/// The limits merged for one request (check items of the user and matched groups, merged
/// like every single-valued control item). `Copy`: Login-Time is borrowed from the
/// profile, so handing these out costs no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits<'p> {
    /// `Max-All-Session`: seconds of session time, all time.
    pub max_all_session: Option<u64>,
    /// `Max-Daily-Session`: seconds of session time per local day.
    pub max_daily_session: Option<u64>,
    /// `Max-Monthly-Session`: seconds of session time per local month.
    pub max_monthly_session: Option<u64>,
    /// `Expire-After`: seconds from the first login after which the account is expired.
    pub expire_after: Option<u64>,
    /// `Max-Total-Octets`: octets (input + output), all time.
    pub max_total_octets: Option<u64>,
    /// `Max-Daily-Octets`: octets per local day.
    pub max_daily_octets: Option<u64>,
    /// `Max-Monthly-Octets`: octets per local month.
    pub max_monthly_octets: Option<u64>,
    /// `Login-Time`: the weekly windows in which logins are allowed.
    pub login_time: Option<&'p LoginTime>,
}

impl Limits<'_> {
    /// No limit at all: nothing to decide, no usage to fetch.
    pub fn is_empty(&self) -> bool {
        !self.needs_usage() && self.login_time.is_none()
    }

    /// Some limit depends on [`Usage`] (a quota or `Expire-After`); `Login-Time` alone
    /// needs only the clock.
    pub fn needs_usage(&self) -> bool {
        self.max_all_session.is_some()
            || self.max_daily_session.is_some()
            || self.max_monthly_session.is_some()
            || self.expire_after.is_some()
            || self.max_total_octets.is_some()
            || self.max_daily_octets.is_some()
            || self.max_monthly_octets.is_some()
    }

    /// The slot of a numeric limit.
    pub(super) fn slot(&mut self, quota: Quota) -> &mut Option<u64> {
        match quota {
            Quota::AllSession => &mut self.max_all_session,
            Quota::DailySession => &mut self.max_daily_session,
            Quota::MonthlySession => &mut self.max_monthly_session,
            Quota::ExpireAfter => &mut self.expire_after,
            Quota::TotalOctets => &mut self.max_total_octets,
            Quota::DailyOctets => &mut self.max_daily_octets,
            Quota::MonthlyOctets => &mut self.max_monthly_octets,
        }
    }
}

/// The numeric limit check items, by their dictionary names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quota {
    /// `Max-All-Session`.
    AllSession,
    /// `Max-Daily-Session`.
    DailySession,
    /// `Max-Monthly-Session`.
    MonthlySession,
    /// `Expire-After`.
    ExpireAfter,
    /// `Max-Total-Octets`.
    TotalOctets,
    /// `Max-Daily-Octets`.
    DailyOctets,
    /// `Max-Monthly-Octets`.
    MonthlyOctets,
}

impl Quota {
    /// Every numeric limit with its attribute name.
    pub(super) const ALL: [(&'static str, Self); 7] = [
        ("Max-All-Session", Self::AllSession),
        ("Max-Daily-Session", Self::DailySession),
        ("Max-Monthly-Session", Self::MonthlySession),
        ("Expire-After", Self::ExpireAfter),
        ("Max-Total-Octets", Self::TotalOctets),
        ("Max-Daily-Octets", Self::DailyOctets),
        ("Max-Monthly-Octets", Self::MonthlyOctets),
    ];
}

/// What an allowed login may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    /// Seconds the session may last (smallest of the time left on each time quota, before
    /// `Expire-After` runs out and before the current `Login-Time` window ends); `None`
    /// when nothing limits it. Saturates at `u32::MAX`. The handler still caps it with the
    /// profile's own Session-Timeout.
    pub session_timeout: Option<u32>,
    /// Octets the session may move (smallest remainder of the data quotas); `None` when
    /// no data quota applies. May exceed 4 GiB: see [`mikrotik_total_limit`].
    pub data_left: Option<u64>,
}

/// Why a login was refused by a limit. When several apply, the most lasting one is
/// reported: `Expire-After`, then the total, monthly and daily quotas (time before data),
/// then `Login-Time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// `Max-All-Session` used up.
    TimeQuotaTotal,
    /// `Max-Daily-Session` used up for today.
    TimeQuotaDaily,
    /// `Max-Monthly-Session` used up for this month.
    TimeQuotaMonthly,
    /// `Max-Total-Octets` used up.
    DataQuotaTotal,
    /// `Max-Daily-Octets` used up for today.
    DataQuotaDaily,
    /// `Max-Monthly-Octets` used up for this month.
    DataQuotaMonthly,
    /// `Expire-After` has elapsed since the first login.
    ExpireAfter,
    /// Outside every `Login-Time` window.
    LoginTime,
}

impl LimitReason {
    /// Stable label (metrics, logs).
    pub fn name(&self) -> &'static str {
        match self {
            Self::TimeQuotaTotal => "time_quota_total",
            Self::TimeQuotaDaily => "time_quota_daily",
            Self::TimeQuotaMonthly => "time_quota_monthly",
            Self::DataQuotaTotal => "data_quota_total",
            Self::DataQuotaDaily => "data_quota_daily",
            Self::DataQuotaMonthly => "data_quota_monthly",
            Self::ExpireAfter => "expire_after",
            Self::LoginTime => "login_time",
        }
    }

    /// The Reply-Message for the user (the hotspot login page shows it).
    pub fn message(&self) -> &'static str {
        match self {
            Self::TimeQuotaTotal => "Your time allowance is used up",
            Self::TimeQuotaDaily => "Your daily time allowance is used up",
            Self::TimeQuotaMonthly => "Your monthly time allowance is used up",
            Self::DataQuotaTotal => "Your data allowance is used up",
            Self::DataQuotaDaily => "Your daily data allowance is used up",
            Self::DataQuotaMonthly => "Your monthly data allowance is used up",
            Self::ExpireAfter => "This account has expired",
            Self::LoginTime => "Logins are not allowed at this time",
        }
    }
}

/// The local day `YYYYMMDD` and month `YYYYMM` at `now` (Unix seconds) in `tz`: the keys of
/// `Usage::day` and `Usage::month`. Times before 1970 or after 9999 are clamped.
pub fn periods(now: i64, tz: Tz) -> (u32, u32) {
    let local = local_time(now, tz);
    // The clamp keeps the year in 1970..=9999.
    let year = u32::try_from(local.year()).unwrap_or(0);
    let month = year * 100 + local.month();
    (month * 100 + local.day(), month)
}

/// `now` on the wall clock of `tz`, clamped to 1970-01-01..=9999-12-31 UTC.
pub(super) fn local_time(now: i64, tz: Tz) -> DateTime<Tz> {
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    DateTime::from_timestamp(now.clamp(0, MAX), 0)
        .unwrap_or_default()
        .with_timezone(&tz)
}

/// Decide whether a login at `now` is within `limits` given `usage`, and what it may use.
///
/// Refused when a time or data quota is used up (used ≥ limit), when `Expire-After` has
/// elapsed since `usage.first_login` (no first login yet: it is now), or outside
/// `Login-Time`. Day and month counters of another period than the current one (in `tz`)
/// count as zero.
pub fn decide(limits: &Limits<'_>, usage: &Usage, now: i64, tz: Tz) -> Result<Grant, LimitReason> {
    if limits.is_empty() {
        return Ok(Grant::default());
    }
    let periodic = limits.max_daily_session.is_some()
        || limits.max_monthly_session.is_some()
        || limits.max_daily_octets.is_some()
        || limits.max_monthly_octets.is_some();
    let (day, month) = if periodic { periods(now, tz) } else { (0, 0) };
    let today = |n: u64| if usage.day == day { n } else { 0 };
    let this_month = |n: u64| if usage.month == month { n } else { 0 };

    let mut time = Min::default();
    let mut data = Min::default();
    if let Some(after) = limits.expire_after {
        let first = usage.first_login.unwrap_or(now);
        let end = first.saturating_add_unsigned(after);
        if now >= end {
            return Err(LimitReason::ExpireAfter);
        }
        time.add(end.abs_diff(now));
    }
    use LimitReason as R;
    // (limit, used, reason, counts time rather than data), most lasting first.
    let quotas = [
        (
            limits.max_all_session,
            usage.total_seconds,
            R::TimeQuotaTotal,
            true,
        ),
        (
            limits.max_total_octets,
            usage.total_octets,
            R::DataQuotaTotal,
            false,
        ),
        (
            limits.max_monthly_session,
            this_month(usage.month_seconds),
            R::TimeQuotaMonthly,
            true,
        ),
        (
            limits.max_monthly_octets,
            this_month(usage.month_octets),
            R::DataQuotaMonthly,
            false,
        ),
        (
            limits.max_daily_session,
            today(usage.day_seconds),
            R::TimeQuotaDaily,
            true,
        ),
        (
            limits.max_daily_octets,
            today(usage.day_octets),
            R::DataQuotaDaily,
            false,
        ),
    ];
    for (limit, used, reason, is_time) in quotas {
        if let Some(limit) = limit {
            if used >= limit {
                return Err(reason);
            }
            if is_time { &mut time } else { &mut data }.add(limit - used);
        }
    }
    if let Some(login_time) = limits.login_time {
        match login_time.window(now, tz) {
            Err(_) => return Err(LimitReason::LoginTime),
            Ok(Some(left)) => time.add(left),
            Ok(None) => {}
        }
    }
    Ok(Grant {
        session_timeout: time.0.map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
        data_left: data.0,
    })
}

/// The smallest of the values added so far.
#[derive(Default)]
struct Min(Option<u64>);

impl Min {
    fn add(&mut self, value: u64) {
        self.0 = Some(self.0.map_or(value, |m| m.min(value)));
    }
}

/// `(Mikrotik-Total-Limit, Mikrotik-Total-Limit-Gigawords)` for `data_left` octets: the low
/// 32 bits and the high 32 bits (saturated).
pub fn mikrotik_total_limit(data_left: u64) -> (u32, u32) {
    let low = (data_left & u64::from(u32::MAX)) as u32;
    let high = u32::try_from(data_left >> 32).unwrap_or(u32::MAX);
    (low, high)
}
