//! `Expiration` values as admin tools write them, turned into Unix seconds.
//!
//! Accepted spellings (case-insensitive month names, full or three-letter):
//! - FreeRADIUS style: `January 1 2027`, `Jan 01 2027 12:00:00`, `01 Jan 2027`,
//!   `1 January 2027 12:00`, with optional commas and an optional `UTC`/`GMT`/`Z` suffix;
//! - ISO 8601: `2027-01-01T00:00:00Z`, `2027-01-01T00:00:00+03:00`,
//!   `2027-01-01 00:00:00`, `2027-01-01 00:00`, `2027-01-01`;
//! - Unix seconds: `1798761600`.
//!
//! **Text without a zone is read in the configured zone** (`[sessions] time_zone`, default
//! UTC), as FreeRADIUS reads it in the server's local zone: `2027-01-01 00:00` in
//! Asia/Jakarta is 2026-12-31T17:00Z. A local time that does not exist (a DST gap) is read
//! as the first instant after the gap; one that exists twice, as the earlier. `UTC`/`GMT`/
//! `Z` or an ISO offset make the text exact whatever the zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parse an Expiration value into Unix seconds, zone-less text in `tz`; `None` when it is
/// not a date we read.
pub(super) fn parse_expiration(text: &str, tz: Tz) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    if t.len() >= 5 && t.as_bytes().get(4) == Some(&b'-') {
        return parse_iso(t, tz);
    }
    parse_words(t, tz)
}

/// A wall-clock time in `tz` as Unix seconds (DST gap: the first instant after it;
/// repeated hour: the earlier).
fn local(ndt: NaiveDateTime, tz: Tz) -> Option<i64> {
    if let Some(t) = tz.from_local_datetime(&ndt).earliest() {
        return Some(t.timestamp());
    }
    // In a gap: step forward a minute at a time (gaps are at most a few hours).
    (1..=24 * 60).find_map(|m| {
        tz.from_local_datetime(&(ndt + chrono::Duration::minutes(m)))
            .earliest()
            .map(|t| {
                let after = t.timestamp();
                after - after.rem_euclid(60)
            })
    })
}

fn parse_iso(t: &str, tz: Tz) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(dt, tz);
        }
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
    local(date.and_hms_opt(0, 0, 0)?, tz)
}

/// `Month day year [time]` or `day Month year [time]`.
fn parse_words(t: &str, tz: Tz) -> Option<i64> {
    let mut utc = false;
    let mut month = None;
    let mut numbers: [u32; 2] = [0; 2];
    let mut count = 0;
    let mut time = (0, 0, 0);
    for token in t.split(|c: char| c.is_whitespace() || c == ',') {
        if token.is_empty() {
            continue;
        }
        if token.contains(':') {
            time = parse_time(token)?;
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            *numbers.get_mut(count)? = token.parse().ok()?;
            count += 1;
        } else if ["utc", "gmt", "z"]
            .iter()
            .any(|z| token.eq_ignore_ascii_case(z))
        {
            utc = true;
        } else if month.is_none() && token.len() >= 3 && token.is_ascii() {
            let prefix = token.get(..3)?.to_ascii_lowercase();
            let index = MONTHS.iter().position(|m| *m == prefix)?;
            // A full name must be the real one ("Janitor" is not January).
            let full = month_name(index);
            if token.len() > 3 && !full.eq_ignore_ascii_case(token) {
                return None;
            }
            month = Some(index as u32 + 1);
        } else {
            return None;
        }
    }
    let month = month?;
    if count != 2 {
        return None;
    }
    let [a, b] = numbers;
    // The year is the number that cannot be a day.
    let (day, year) = if a > 31 { (b, a) } else { (a, b) };
    if year < 1970 {
        return None;
    }
    let (h, m, s) = time;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let ndt = date.and_hms_opt(h, m, s)?;
    if utc {
        return Some(ndt.and_utc().timestamp());
    }
    local(ndt, tz)
}

fn month_name(index: usize) -> &'static str {
    const FULL: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    FULL.get(index).copied().unwrap_or("")
}

fn parse_time(token: &str) -> Option<(u32, u32, u32)> {
    let mut parts = token.split(':');
    let h = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let s = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((h, m, s))
}

#[cfg(test)]
mod tests {
    use super::parse_expiration as parse;
    use chrono_tz::Tz;

    fn parse_expiration(text: &str) -> Option<i64> {
        parse(text, Tz::UTC)
    }

    const JAN_1_2027: i64 = 1_798_761_600;

    #[test]
    fn freeradius_spellings() {
        assert_eq!(parse_expiration("January 1 2027"), Some(JAN_1_2027));
        assert_eq!(parse_expiration("Jan 01 2027"), Some(JAN_1_2027));
        assert_eq!(parse_expiration("01 Jan 2027"), Some(JAN_1_2027));
        assert_eq!(parse_expiration("jan 1, 2027"), Some(JAN_1_2027));
        assert_eq!(
            parse_expiration("Jan 01 2027 12:00:00"),
            Some(JAN_1_2027 + 12 * 3600)
        );
        assert_eq!(
            parse_expiration("1 January 2027 00:30"),
            Some(JAN_1_2027 + 1800)
        );
        assert_eq!(
            parse_expiration("Jan 1 2027 00:00:01 UTC"),
            Some(JAN_1_2027 + 1)
        );
        assert_eq!(parse_expiration("2027 Jan 1"), Some(JAN_1_2027));
    }

    #[test]
    fn iso_and_unix() {
        assert_eq!(parse_expiration("2027-01-01T00:00:00Z"), Some(JAN_1_2027));
        assert_eq!(
            parse_expiration("2027-01-01T03:00:00+03:00"),
            Some(JAN_1_2027)
        );
        assert_eq!(parse_expiration("2027-01-01 00:00:00"), Some(JAN_1_2027));
        assert_eq!(parse_expiration("2027-01-01 00:01"), Some(JAN_1_2027 + 60));
        assert_eq!(parse_expiration("2027-01-01"), Some(JAN_1_2027));
        assert_eq!(parse_expiration(" 1798761600 "), Some(JAN_1_2027));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "soon",
            "Janitor 1 2027",
            "Feb 30 2027",
            "Jan 2027",
            "Jan 1 2 2027",
            "Jan 1 2027 25:00:00",
            "2027-13-01",
            "Foo 1 2027",
            "1 1 2027",
            "Jan 1 1969",
            "99999999999999999999999",
            "Jan 1 2027 1:2:3:4",
            "ñ 1 2027",
        ] {
            assert_eq!(parse_expiration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn zone_less_text_is_read_in_the_configured_zone() {
        let jakarta: Tz = "Asia/Jakarta".parse().unwrap();
        // 2027-01-01 00:00 in Jakarta (UTC+7) is 2026-12-31T17:00:00Z.
        let midnight_jakarta = JAN_1_2027 - 7 * 3600;
        assert_eq!(parse("2027-01-01", jakarta), Some(midnight_jakarta));
        assert_eq!(
            parse("2027-01-01 00:00:00", jakarta),
            Some(midnight_jakarta)
        );
        assert_eq!(parse("January 1 2027", jakarta), Some(midnight_jakarta));
        // Explicit zones stay exact.
        assert_eq!(parse("Jan 1 2027 00:00:00 UTC", jakarta), Some(JAN_1_2027));
        assert_eq!(parse("2027-01-01T00:00:00Z", jakarta), Some(JAN_1_2027));
        assert_eq!(parse("1798761600", jakarta), Some(JAN_1_2027));
        // Berlin springs forward at 02:00 on 2027-03-28 (CET → CEST): 02:30 does not exist
        // and reads as 03:00 CEST = 01:00Z; 2027-10-31 02:30 exists twice: the earlier
        // (CEST, 00:30Z).
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let gap_end = chrono::DateTime::parse_from_rfc3339("2027-03-28T01:00:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(parse("2027-03-28 02:30", berlin), Some(gap_end));
        let repeated = chrono::DateTime::parse_from_rfc3339("2027-10-31T00:30:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(parse("2027-10-31 02:30", berlin), Some(repeated));
    }
}
