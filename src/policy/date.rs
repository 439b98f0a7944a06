//! `Expiration` values as admin tools write them, turned into Unix seconds.
//!
//! Accepted spellings (case-insensitive month names, full or three-letter):
//! - FreeRADIUS style: `January 1 2027`, `Jan 01 2027 12:00:00`, `01 Jan 2027`,
//!   `1 January 2027 12:00`, with optional commas and an optional `UTC`/`GMT`/`Z` suffix;
//! - ISO 8601: `2027-01-01T00:00:00Z`, `2027-01-01T00:00:00+03:00`,
//!   `2027-01-01 00:00:00`, `2027-01-01 00:00`, `2027-01-01`;
//! - Unix seconds: `1798761600`.
//!
//! **Text without a zone is UTC.** FreeRADIUS reads it in the server's local time zone; a
//! server whose zone is not UTC expires such accounts earlier or later than FreeRADIUS did
//! by the zone offset. Write an explicit offset (ISO form) to be exact.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parse an Expiration value into Unix seconds; `None` when it is not a date we read.
pub(super) fn parse_expiration(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    if t.len() >= 5 && t.as_bytes().get(4) == Some(&b'-') {
        return parse_iso(t);
    }
    parse_words(t)
}

fn parse_iso(t: &str) -> Option<i64> {
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
            return Some(dt.and_utc().timestamp());
        }
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// `Month day year [time]` or `day Month year [time]`.
fn parse_words(t: &str) -> Option<i64> {
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
            continue;
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
    Some(date.and_hms_opt(h, m, s)?.and_utc().timestamp())
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
    use super::parse_expiration;

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
}
