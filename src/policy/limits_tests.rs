//! `limits::decide`, `periods` and `mikrotik_total_limit`, table-driven. Expected instants
//! are built independently with chrono-tz from local wall-clock times.

use chrono::TimeZone;
use chrono_tz::Tz;
use chrono_tz::{America::New_York, Asia::Jakarta, Europe::Berlin, UTC};

use super::limits::{Grant, LimitReason, Limits, LoginTime, decide, mikrotik_total_limit, periods};
use crate::model::Usage;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// Unix seconds of a local wall-clock time that exists exactly once.
fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    tz.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .unwrap_or_else(|| panic!("{y}-{mo}-{d} {h}:{mi} is not a single instant in {tz}"))
        .timestamp()
}

/// A compiled Login-Time for the table (leaked: tests only).
fn lt(spec: &str) -> Option<&'static LoginTime> {
    let parsed = LoginTime::parse(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    Some(Box::leak(Box::new(parsed)))
}

fn grant(session_timeout: Option<u32>, data_left: Option<u64>) -> Result<Grant, LimitReason> {
    Ok(Grant {
        session_timeout,
        data_left,
    })
}

/// Usage whose day and month counters are for the local period of `now` in `tz`, computed
/// independently of `periods`.
fn usage_on(tz: Tz, now: i64) -> Usage {
    let local = tz.timestamp_opt(now, 0).single().unwrap();
    let day: u32 = local.format("%Y%m%d").to_string().parse().unwrap();
    let month: u32 = local.format("%Y%m").to_string().parse().unwrap();
    Usage {
        day,
        month,
        ..Usage::default()
    }
}

struct Case {
    name: &'static str,
    limits: Limits<'static>,
    usage: Usage,
    now: i64,
    tz: Tz,
    want: Result<Grant, LimitReason>,
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    use LimitReason as R;
    let none = Limits::default();
    // Monday 2026-06-15 10:00 UTC.
    let now = at(UTC, 2026, 6, 15, 10, 0, 0);
    let today = usage_on(UTC, now);
    let yesterday = usage_on(UTC, now - 86_400);
    let last_month = usage_on(UTC, at(UTC, 2026, 5, 31, 12, 0, 0));
    let jkt_before = at(Jakarta, 2026, 6, 15, 23, 59, 30);
    let jkt_after = at(Jakarta, 2026, 6, 16, 0, 0, 0);
    let ber_jan = at(Berlin, 2026, 1, 31, 23, 59, 0);
    let ber_feb = at(Berlin, 2026, 2, 1, 0, 0, 0);
    let daily_hour = Limits {
        max_daily_session: Some(3600),
        ..none
    };
    let monthly_gib = Limits {
        max_monthly_octets: Some(GIB),
        ..none
    };
    vec![
        Case {
            name: "no limits",
            limits: none,
            usage: Usage {
                total_seconds: u64::MAX,
                ..today
            },
            now,
            tz: UTC,
            want: grant(None, None),
        },
        Case {
            name: "total time left",
            limits: Limits {
                max_all_session: Some(3600),
                ..none
            },
            usage: Usage {
                total_seconds: 3599,
                ..today
            },
            now,
            tz: UTC,
            want: grant(Some(1), None),
        },
        Case {
            name: "total time used up",
            limits: Limits {
                max_all_session: Some(3600),
                ..none
            },
            usage: Usage {
                total_seconds: 3600,
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::TimeQuotaTotal),
        },
        Case {
            name: "zero quota refuses",
            limits: Limits {
                max_all_session: Some(0),
                ..none
            },
            usage: today,
            now,
            tz: UTC,
            want: Err(R::TimeQuotaTotal),
        },
        Case {
            name: "daily time left",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 3000,
                ..today
            },
            now,
            tz: UTC,
            want: grant(Some(600), None),
        },
        Case {
            name: "daily time used up",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 4000,
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::TimeQuotaDaily),
        },
        Case {
            name: "yesterday's seconds do not count",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 4000,
                ..yesterday
            },
            now,
            tz: UTC,
            want: grant(Some(3600), None),
        },
        Case {
            name: "monthly time used up",
            limits: Limits {
                max_monthly_session: Some(36_000),
                ..none
            },
            usage: Usage {
                month_seconds: 36_000,
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::TimeQuotaMonthly),
        },
        Case {
            name: "last month's seconds do not count",
            limits: Limits {
                max_monthly_session: Some(36_000),
                ..none
            },
            usage: Usage {
                month_seconds: 99_999,
                ..last_month
            },
            now,
            tz: UTC,
            want: grant(Some(36_000), None),
        },
        Case {
            name: "smallest remaining time wins",
            limits: Limits {
                max_all_session: Some(100_000),
                max_monthly_session: Some(20_000),
                max_daily_session: Some(5_000),
                ..none
            },
            usage: Usage {
                total_seconds: 90_000,
                month_seconds: 19_000,
                day_seconds: 4_500,
                ..today
            },
            now,
            tz: UTC,
            want: grant(Some(500), None),
        },
        Case {
            name: "total data used up",
            limits: Limits {
                max_total_octets: Some(GIB),
                ..none
            },
            usage: Usage {
                total_octets: GIB,
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::DataQuotaTotal),
        },
        Case {
            name: "daily data used up",
            limits: Limits {
                max_daily_octets: Some(100 * MIB),
                ..none
            },
            usage: Usage {
                day_octets: 100 * MIB + 1,
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::DataQuotaDaily),
        },
        Case {
            name: "monthly data used up",
            limits: monthly_gib,
            usage: Usage {
                month_octets: GIB,
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::DataQuotaMonthly),
        },
        Case {
            name: "last month's octets do not count",
            limits: monthly_gib,
            usage: Usage {
                month_octets: 5 * GIB,
                ..last_month
            },
            now,
            tz: UTC,
            want: grant(None, Some(GIB)),
        },
        Case {
            name: "data left above 4 GiB",
            limits: Limits {
                max_total_octets: Some(5 * GIB),
                ..none
            },
            usage: Usage {
                total_octets: 100 * MIB,
                ..today
            },
            now,
            tz: UTC,
            want: grant(None, Some(5 * GIB - 100 * MIB)),
        },
        Case {
            name: "smallest remaining data wins; time and data apart",
            limits: Limits {
                max_total_octets: Some(10 * GIB),
                max_monthly_octets: Some(3 * GIB),
                max_daily_octets: Some(GIB),
                max_daily_session: Some(7200),
                ..none
            },
            usage: Usage {
                total_octets: 9 * GIB,
                month_octets: 2 * GIB + 512 * MIB,
                day_octets: 200 * MIB,
                day_seconds: 200,
                ..today
            },
            now,
            tz: UTC,
            want: grant(Some(7000), Some(512 * MIB)),
        },
        Case {
            name: "most lasting reason first",
            limits: Limits {
                max_all_session: Some(10),
                max_daily_octets: Some(10),
                expire_after: Some(10),
                ..none
            },
            usage: Usage {
                total_seconds: 10,
                day_octets: 10,
                first_login: Some(now - 10),
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::ExpireAfter),
        },
        // Local day and month in a zone ahead of UTC.
        Case {
            name: "Jakarta: last seconds of the local day are still today",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 3600,
                ..usage_on(Jakarta, jkt_before)
            },
            now: jkt_before,
            tz: Jakarta,
            want: Err(R::TimeQuotaDaily),
        },
        Case {
            name: "Jakarta: local midnight starts a new day (UTC still the day before)",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 3600,
                ..usage_on(Jakarta, jkt_before)
            },
            now: jkt_after,
            tz: Jakarta,
            want: grant(Some(3600), None),
        },
        Case {
            name: "Berlin: Jan 31 local counts January",
            limits: monthly_gib,
            usage: Usage {
                month_octets: GIB,
                ..usage_on(Berlin, ber_jan)
            },
            now: ber_jan,
            tz: Berlin,
            want: Err(R::DataQuotaMonthly),
        },
        Case {
            name: "Berlin: Feb 1 00:00 local is a new month (UTC still Jan 31)",
            limits: monthly_gib,
            usage: Usage {
                month_octets: GIB,
                ..usage_on(Berlin, ber_jan)
            },
            now: ber_feb,
            tz: Berlin,
            want: grant(None, Some(GIB)),
        },
        // Expire-After.
        Case {
            name: "Expire-After, first login now",
            limits: Limits {
                expire_after: Some(86_400),
                ..none
            },
            usage: today,
            now,
            tz: UTC,
            want: grant(Some(86_400), None),
        },
        Case {
            name: "Expire-After, time left since first login",
            limits: Limits {
                expire_after: Some(86_400),
                max_all_session: Some(1000),
                ..none
            },
            usage: Usage {
                first_login: Some(now - 86_000),
                ..today
            },
            now,
            tz: UTC,
            want: grant(Some(400), None),
        },
        Case {
            name: "Expire-After elapsed",
            limits: Limits {
                expire_after: Some(86_400),
                ..none
            },
            usage: Usage {
                first_login: Some(now - 86_400),
                ..today
            },
            now,
            tz: UTC,
            want: Err(R::ExpireAfter),
        },
        // Login-Time.
        Case {
            name: "Login-Time: inside Wk0800-1700, Monday 10:00",
            limits: Limits {
                login_time: lt("Wk0800-1700"),
                ..none
            },
            usage: today,
            now,
            tz: UTC,
            want: grant(Some(7 * 3600), None),
        },
        Case {
            name: "Login-Time: seconds into the minute count",
            limits: Limits {
                login_time: lt("Wk0800-1700"),
                ..none
            },
            usage: today,
            now: now + 30,
            tz: UTC,
            want: grant(Some(7 * 3600 - 30), None),
        },
        Case {
            name: "Login-Time: outside",
            limits: Limits {
                login_time: lt("Wk0800-1700"),
                max_all_session: Some(100),
                ..none
            },
            usage: today,
            now: at(UTC, 2026, 6, 15, 17, 0, 0),
            tz: UTC,
            want: Err(R::LoginTime),
        },
        Case {
            name: "Login-Time: weekend refused for Wk",
            limits: Limits {
                login_time: lt("Wk"),
                ..none
            },
            usage: today,
            now: at(UTC, 2026, 6, 13, 12, 0, 0),
            tz: UTC,
            want: Err(R::LoginTime),
        },
        Case {
            name: "Login-Time: Wk ends Friday midnight",
            limits: Limits {
                login_time: lt("Wk"),
                ..none
            },
            usage: today,
            now: at(UTC, 2026, 6, 19, 23, 0, 0),
            tz: UTC,
            want: grant(Some(3600), None),
        },
        Case {
            name: "Login-Time: Any never ends",
            limits: Limits {
                login_time: lt("Any"),
                ..none
            },
            usage: today,
            now,
            tz: UTC,
            want: grant(None, None),
        },
        Case {
            name: "Login-Time: adjacent windows join (Mo-Th then Fr)",
            limits: Limits {
                login_time: lt("Mo-Th,Fr0000-0600"),
                ..none
            },
            usage: today,
            now: at(UTC, 2026, 6, 18, 23, 0, 0),
            tz: UTC,
            want: grant(Some(7 * 3600), None),
        },
        Case {
            name: "Login-Time: wrap past midnight, Saturday 01:00",
            limits: Limits {
                login_time: lt("Fr2200-0200"),
                ..none
            },
            usage: today,
            now: at(UTC, 2026, 6, 20, 1, 0, 0),
            tz: UTC,
            want: grant(Some(3600), None),
        },
        Case {
            name: "Login-Time: window end is the minimum",
            limits: Limits {
                login_time: lt("MoWe0800-1030"),
                max_daily_session: Some(7200),
                ..none
            },
            usage: today,
            now,
            tz: UTC,
            want: grant(Some(1800), None),
        },
        Case {
            name: "Login-Time: local wall clock (Jakarta 08:00 = 01:00 UTC)",
            limits: Limits {
                login_time: lt("Mo0800-0900"),
                ..none
            },
            usage: today,
            now: at(Jakarta, 2026, 6, 15, 8, 0, 0),
            tz: Jakarta,
            want: grant(Some(3600), None),
        },
        // DST, Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST →
        // 02:00 CET.
        Case {
            name: "Berlin spring forward: window to 04:00 is two real hours from 01:00",
            limits: Limits {
                login_time: lt("Su0000-0400"),
                ..none
            },
            usage: today,
            now: at(Berlin, 2026, 3, 29, 1, 0, 0),
            tz: Berlin,
            want: grant(Some(2 * 3600), None),
        },
        Case {
            name: "Berlin spring forward: end inside the gap is the first instant after it",
            limits: Limits {
                login_time: lt("Su0000-0230"),
                ..none
            },
            usage: today,
            now: at(Berlin, 2026, 3, 29, 1, 30, 0),
            tz: Berlin,
            // 03:00 CEST
            want: grant(Some(1800), None),
        },
        Case {
            name: "Berlin fall back: window to 04:00 is four real hours from 01:00",
            limits: Limits {
                login_time: lt("Su0000-0400"),
                ..none
            },
            usage: today,
            now: at(Berlin, 2026, 10, 25, 1, 0, 0),
            tz: Berlin,
            want: grant(Some(4 * 3600), None),
        },
        Case {
            name: "Berlin fall back: ambiguous end, first pass takes the earlier",
            limits: Limits {
                login_time: lt("Su0000-0230"),
                ..none
            },
            usage: today,
            now: at(Berlin, 2026, 10, 25, 1, 0, 0),
            tz: Berlin,
            want: grant(Some(5400), None),
        },
        Case {
            name: "Berlin fall back: ambiguous end, second pass takes the later",
            limits: Limits {
                login_time: lt("Su0000-0230"),
                ..none
            },
            usage: today,
            now: Berlin
                .with_ymd_and_hms(2026, 10, 25, 2, 10, 0)
                .latest()
                .unwrap()
                .timestamp(),
            tz: Berlin,
            want: grant(Some(1200), None),
        },
        // DST, America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT →
        // 01:00 EST.
        Case {
            name: "New York spring forward: window to 03:00 is one real hour from 01:00",
            limits: Limits {
                login_time: lt("Su0000-0300"),
                ..none
            },
            usage: today,
            now: at(New_York, 2026, 3, 8, 1, 0, 0),
            tz: New_York,
            want: grant(Some(3600), None),
        },
        Case {
            name: "New York fall back: ambiguous 01:30 end, first pass",
            limits: Limits {
                login_time: lt("Su0000-0130"),
                ..none
            },
            usage: today,
            now: at(New_York, 2026, 11, 1, 0, 30, 0),
            tz: New_York,
            want: grant(Some(3600), None),
        },
        Case {
            name: "New York fall back: the 25-hour day is one period until local midnight",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 3600,
                ..usage_on(New_York, at(New_York, 2026, 11, 1, 0, 0, 0))
            },
            now: at(New_York, 2026, 11, 1, 23, 59, 59),
            tz: New_York,
            want: Err(R::TimeQuotaDaily),
        },
        Case {
            name: "Berlin spring forward: the 23-hour day ends at local midnight",
            limits: daily_hour,
            usage: Usage {
                day_seconds: 3600,
                ..usage_on(Berlin, at(Berlin, 2026, 3, 29, 0, 0, 0))
            },
            now: at(Berlin, 2026, 3, 30, 0, 0, 0),
            tz: Berlin,
            want: grant(Some(3600), None),
        },
    ]
}

#[test]
fn decide_table() {
    let cases = cases();
    assert!(cases.len() > 40);
    for c in cases {
        assert_eq!(
            decide(&c.limits, &c.usage, c.now, c.tz),
            c.want,
            "{}",
            c.name
        );
    }
}

#[test]
fn periods_are_local_days_and_months() {
    // (zone, local wall time, day, month)
    let cases: [(Tz, i64, u32, u32); 8] = [
        (UTC, at(UTC, 2026, 6, 15, 23, 59, 59), 20260615, 202606),
        (Jakarta, at(Jakarta, 2026, 6, 16, 0, 0, 0), 20260616, 202606),
        (
            Jakarta,
            at(Jakarta, 2026, 6, 15, 23, 59, 59),
            20260615,
            202606,
        ),
        (
            Berlin,
            at(Berlin, 2026, 1, 31, 23, 59, 59),
            20260131,
            202601,
        ),
        (Berlin, at(Berlin, 2026, 2, 1, 0, 0, 0), 20260201, 202602),
        (Berlin, at(Berlin, 2026, 3, 29, 23, 30, 0), 20260329, 202603),
        (
            New_York,
            at(New_York, 2026, 11, 1, 23, 59, 59),
            20261101,
            202611,
        ),
        (
            New_York,
            at(New_York, 2027, 1, 1, 0, 0, 0),
            20270101,
            202701,
        ),
    ];
    for (tz, now, day, month) in cases {
        assert_eq!(periods(now, tz), (day, month), "{tz} {now}");
    }
    // The local day differs from the UTC day around midnight.
    let jkt_midnight = at(Jakarta, 2026, 6, 16, 0, 0, 0);
    assert_eq!(periods(jkt_midnight, UTC).0, 20260615);
    // Out-of-range clocks are clamped, never panic.
    assert_eq!(periods(i64::MIN, UTC), (19700101, 197001));
    assert_eq!(periods(i64::MAX, UTC), (99991231, 999912));
}

#[test]
fn mikrotik_total_limit_splits_gigawords() {
    assert_eq!(mikrotik_total_limit(0), (0, 0));
    assert_eq!(mikrotik_total_limit(GIB), (1 << 30, 0));
    assert_eq!(mikrotik_total_limit(u64::from(u32::MAX)), (u32::MAX, 0));
    assert_eq!(mikrotik_total_limit(1 << 32), (0, 1));
    // 5 GiB limit, 100 MiB used.
    assert_eq!(mikrotik_total_limit(5 * GIB - 100 * MIB), (968_884_224, 1));
    assert_eq!(mikrotik_total_limit(u64::MAX), (u32::MAX, u32::MAX));
}

#[test]
fn reasons_have_stable_names_and_messages() {
    use LimitReason as R;
    let all = [
        R::TimeQuotaTotal,
        R::TimeQuotaDaily,
        R::TimeQuotaMonthly,
        R::DataQuotaTotal,
        R::DataQuotaDaily,
        R::DataQuotaMonthly,
        R::ExpireAfter,
        R::LoginTime,
    ];
    let names: std::collections::HashSet<_> = all.iter().map(LimitReason::name).collect();
    assert_eq!(names.len(), all.len());
    for r in all {
        assert!(
            r.name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        );
        // A Reply-Message fits one attribute.
        assert!(!r.message().is_empty() && r.message().len() <= 253);
    }
    assert_eq!(R::TimeQuotaDaily.name(), "time_quota_daily");
    assert_eq!(
        R::LoginTime.message(),
        "Logins are not allowed at this time"
    );
}

#[test]
fn limits_emptiness() {
    let none = Limits::default();
    assert!(none.is_empty() && !none.needs_usage());
    let login_only = Limits {
        login_time: lt("Wk"),
        ..none
    };
    assert!(!login_only.is_empty() && !login_only.needs_usage());
    let quota = Limits {
        max_daily_octets: Some(1),
        ..none
    };
    assert!(!quota.is_empty() && quota.needs_usage());
}
