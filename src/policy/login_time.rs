//! `Login-Time`: the weekly windows in which a user may log in, compiled once per profile
//! load into a minute-of-week bitset and evaluated against the local wall clock.
//!
//! # Format (as FreeRADIUS deployments store it)
//! Specs separated by `,` or `|`; each spec is a day part optionally followed by a time
//! range `HHMM-HHMM`:
//! - days: `Mo Tu We Th Fr Sa Su`, `Wk` (Monday to Friday), `Any` and `Al` (every day),
//!   case-insensitive; several may be written back to back (`MoWe0800-1700`), and two
//!   single days joined by `-` name the days from one to the other (`Fr-Mo` = Friday,
//!   Saturday, Sunday, Monday);
//! - no time range: the whole day;
//! - a range is start (inclusive) to end (exclusive), `0000`-`2359`, end `2400` meaning
//!   midnight; an end before the start runs past midnight into the next day (`Fr2200-0200`
//!   also allows Saturday until 02:00, and Sunday's late hours run into Monday).
//!
//! Blanks are ignored. Anything else (an empty spec, an unknown day, a range with equal
//! ends, minutes past 59) makes the whole value invalid: the caller fails closed.

use chrono::{Datelike, Duration, LocalResult, TimeZone, Timelike};
use chrono_tz::Tz;

/// Minutes in a day.
const DAY: usize = 1440;
/// Minutes in a week.
const WEEK: usize = 7 * DAY;
/// `u64` words in the minute-of-week bitset.
const WORDS: usize = WEEK.div_ceil(64);

/// A compiled `Login-Time` value: which minutes of the (local) week allow logins.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginTime {
    /// Bit `m` set: minute `m` of the week (Monday 00:00 = 0) is allowed.
    bits: [u64; WORDS],
    /// The value as written, for logs.
    text: Box<str>,
}

impl std::fmt::Debug for LoginTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoginTime({:?})", self.text)
    }
}

/// Why a `Login-Time` value could not be read (for problem messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginTimeError(&'static str);

impl std::fmt::Display for LoginTimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for LoginTimeError {}

impl LoginTime {
    /// Parse a `Login-Time` value (see the module docs for the format).
    pub fn parse(text: &str) -> Result<Self, LoginTimeError> {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if compact.is_empty() {
            return Err(LoginTimeError("empty Login-Time"));
        }
        let mut lt = Self {
            bits: [0; WORDS],
            text: text.trim().into(),
        };
        for spec in compact.split(|b| *b == b',' || *b == b'|') {
            lt.add_spec(spec)?;
        }
        Ok(lt)
    }

    /// One `days[HHMM-HHMM]` spec.
    fn add_spec(&mut self, spec: &[u8]) -> Result<(), LoginTimeError> {
        if spec.is_empty() {
            return Err(LoginTimeError("empty Login-Time spec"));
        }
        let split = spec
            .iter()
            .position(u8::is_ascii_digit)
            .unwrap_or(spec.len());
        let (day_part, time_part) = spec.split_at(split);
        let days = parse_days(day_part)?;
        let (start, end) = if time_part.is_empty() {
            (0, DAY)
        } else {
            parse_range(time_part)?
        };
        for day in (0..7).filter(|d| days & (1 << d) != 0) {
            let base = day * DAY;
            if start < end {
                self.set(base + start, base + end);
            } else {
                // Past midnight into the next day (Sunday into Monday).
                self.set(base + start, base + DAY);
                let next = (day + 1) % 7 * DAY;
                self.set(next, next + end);
            }
        }
        Ok(())
    }

    /// Allow minutes `from..to` of the week.
    fn set(&mut self, from: usize, to: usize) {
        for m in from..to.min(WEEK) {
            if let Some(word) = self.bits.get_mut(m / 64) {
                *word |= 1 << (m % 64);
            }
        }
    }

    /// Whether minute `m` of the week is allowed.
    fn allows_minute(&self, m: usize) -> bool {
        self.bits
            .get(m / 64)
            .is_some_and(|word| word & (1 << (m % 64)) != 0)
    }

    /// Every minute of the week is allowed (no window ever ends).
    pub fn is_always(&self) -> bool {
        (0..WEEK).all(|m| self.allows_minute(m))
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a login is allowed at `now` (Unix seconds) in `tz`, and if so how many
    /// seconds until the current window ends (`None`: it never ends); `Err(Outside)`
    /// outside every window.
    ///
    /// The end is the first local wall-clock minute after now that is not allowed and
    /// exists: minutes in a DST gap are passed over (a window ending inside the gap ends at
    /// the first instant after it); of an ambiguous minute (DST overlap), the earlier
    /// instant still after `now` is taken.
    pub(super) fn window(&self, now: i64, tz: Tz) -> Result<Option<u64>, Outside> {
        let local = super::limits::local_time(now, tz);
        let minute = local.weekday().num_days_from_monday() as usize * DAY
            + local.hour() as usize * 60
            + local.minute() as usize;
        if !self.allows_minute(minute) {
            return Err(Outside);
        }
        let Some(minute_start) = local.naive_local().with_second(0) else {
            return Ok(None);
        };
        for ahead in 1..WEEK {
            if self.allows_minute((minute + ahead) % WEEK) {
                continue;
            }
            let wall = minute_start + Duration::minutes(ahead as i64);
            let end = match tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => t.timestamp(),
                LocalResult::Ambiguous(a, b) => {
                    let (a, b) = (a.timestamp(), b.timestamp());
                    let (early, late) = (a.min(b), a.max(b));
                    if early > now { early } else { late }
                }
                // Does not exist (DST gap): the window goes on.
                LocalResult::None => continue,
            };
            return Ok(Some(end.saturating_sub(now).max(1).unsigned_abs()));
        }
        Ok(None)
    }
}

/// Outside every `Login-Time` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Outside;

/// Day tokens back to back → a bit per weekday (Monday = bit 0).
fn parse_days(part: &[u8]) -> Result<u8, LoginTimeError> {
    if part.is_empty() {
        return Err(LoginTimeError("Login-Time spec without a day"));
    }
    let mut days = 0u8;
    let mut rest = part;
    while !rest.is_empty() {
        let (token, tail) = day_token(rest)?;
        rest = tail;
        match (token, rest.first()) {
            (Day::One(from), Some(b'-')) => {
                let (to, tail) = match day_token(rest.get(1..).unwrap_or_default())? {
                    (Day::One(to), tail) => (to, tail),
                    _ => return Err(LoginTimeError("day range must join two single days")),
                };
                rest = tail;
                let mut d = from;
                loop {
                    days |= 1 << d;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            (Day::One(d), _) => days |= 1 << d,
            (Day::Set(set), _) => days |= set,
        }
    }
    Ok(days)
}

/// One day token.
#[derive(Clone, Copy)]
enum Day {
    /// A single weekday, Monday = 0.
    One(u8),
    /// `Wk`, `Any`, `Al`.
    Set(u8),
}

/// The day token at the start of `s`, and what follows it.
fn day_token(s: &[u8]) -> Result<(Day, &[u8]), LoginTimeError> {
    const TOKENS: [(&[u8], Day); 10] = [
        (b"any", Day::Set(0x7f)),
        (b"al", Day::Set(0x7f)),
        (b"wk", Day::Set(0x1f)),
        (b"mo", Day::One(0)),
        (b"tu", Day::One(1)),
        (b"we", Day::One(2)),
        (b"th", Day::One(3)),
        (b"fr", Day::One(4)),
        (b"sa", Day::One(5)),
        (b"su", Day::One(6)),
    ];
    TOKENS
        .iter()
        .find_map(|(name, day)| {
            let head = s.get(..name.len())?;
            head.eq_ignore_ascii_case(name)
                .then(|| (*day, s.get(name.len()..).unwrap_or_default()))
        })
        .ok_or(LoginTimeError("unknown day in Login-Time"))
}

/// `HHMM-HHMM` → (start, end) minutes of the day; `end` may be below `start` (wraps).
fn parse_range(part: &[u8]) -> Result<(usize, usize), LoginTimeError> {
    let bad = LoginTimeError("Login-Time range must be HHMM-HHMM");
    let [a, b, c, d, b'-', e, f, g, h] = part else {
        return Err(bad);
    };
    let start = hhmm([*a, *b, *c, *d]).ok_or(bad)?;
    let end = hhmm([*e, *f, *g, *h]).ok_or(bad)?;
    if start >= DAY {
        return Err(bad);
    }
    if start == end {
        return Err(LoginTimeError("Login-Time range is empty"));
    }
    // An end of `2400` is midnight (never below the start, so it never wraps).
    Ok((start, end))
}

/// `HHMM` → minutes since midnight, `2400` allowed (end of day).
fn hhmm(digits: [u8; 4]) -> Option<usize> {
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let [h1, h2, m1, m2] = digits.map(|b| usize::from(b - b'0'));
    let (h, m) = (h1 * 10 + h2, m1 * 10 + m2);
    match (h, m) {
        (0..=23, 0..=59) | (24, 0) => Some(h * 60 + m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed (day, HHMM) samples, Monday = 0.
    fn allows(lt: &LoginTime, day: usize, hhmm_: usize) -> bool {
        lt.allows_minute(day * DAY + hhmm_ / 100 * 60 + hhmm_ % 100)
    }

    #[test]
    fn parses_valid_specs() {
        // (spec, allowed samples, refused samples)
        type Case = (
            &'static str,
            &'static [(usize, usize)],
            &'static [(usize, usize)],
        );
        let cases: &[Case] = &[
            ("Any", &[(0, 0), (6, 2359)], &[]),
            ("Al", &[(3, 1200)], &[]),
            ("al0000-2400", &[(3, 1200), (6, 2359)], &[]),
            ("Wk", &[(0, 0), (4, 2359)], &[(5, 0), (6, 1200)]),
            (
                "Wk0800-1700",
                &[(0, 800), (4, 1659)],
                &[(0, 759), (0, 1700), (5, 900)],
            ),
            (
                "MoWe0800-1700",
                &[(0, 800), (2, 1659)],
                &[(1, 900), (3, 900)],
            ),
            (
                "Sa-Su, Wk1800-2000",
                &[(5, 0), (6, 2359), (2, 1900)],
                &[(2, 1700), (4, 2000)],
            ),
            (
                "Fr-Mo",
                &[(4, 0), (5, 0), (6, 0), (0, 0)],
                &[(1, 0), (3, 2359)],
            ),
            (
                "Fr2200-0200",
                &[(4, 2200), (5, 0), (5, 159)],
                &[(4, 2159), (5, 200), (0, 100)],
            ),
            ("Su2300-0100", &[(6, 2330), (0, 30)], &[(0, 100), (5, 2330)]),
            ("Wk2200-2400", &[(0, 2359)], &[(1, 0)]),
            (
                " tu | th 1200 - 1300 ",
                &[(1, 0), (3, 1200)],
                &[(3, 1300), (2, 1200)],
            ),
        ];
        for (spec, yes, no) in cases {
            let lt = LoginTime::parse(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            for (d, t) in *yes {
                assert!(allows(&lt, *d, *t), "{spec:?} should allow day {d} {t:04}");
            }
            for (d, t) in *no {
                assert!(
                    !allows(&lt, *d, *t),
                    "{spec:?} should refuse day {d} {t:04}"
                );
            }
        }
        assert!(LoginTime::parse("Any").unwrap().is_always());
        assert!(LoginTime::parse("Wk,Sa,Su").unwrap().is_always());
        assert!(!LoginTime::parse("Wk").unwrap().is_always());
    }

    #[test]
    fn rejects_invalid_specs() {
        for bad in [
            "",
            "  ",
            "Wk,",
            ",Wk",
            "Xx",
            "Mon",
            "0800-1700",
            "Wk0800",
            "Wk800-1700",
            "Wk0800-1760",
            "Wk2500-0100",
            "Wk2400-0100",
            "Wk0800-0800",
            "Wk0000-0000",
            "Wk0800-17000",
            "Wk0800_1700",
            "Mo-Wk",
            "Mo-",
            "Mo0800-1700Tu",
            "ñ",
        ] {
            assert!(LoginTime::parse(bad).is_err(), "{bad:?}");
        }
    }
}
