//! Text ↔ wire conversion of attribute values by dictionary type (RFC 8044 layouts).
//!
//! Text comes from SQL rows, config and the CoA command line; wire bytes come from decoded
//! packets. [`decode`] produces text that [`encode`] accepts back, so values round-trip.
//! Dates are UTC: the server never consults the local time zone.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Datelike, NaiveDate, Timelike};

use super::{AttrDef, AttrType, Dictionary, ValueError};

/// Strip one pair of surrounding quotes. Inside `"..."` the escapes `\\ \" \' \n \r \t`
/// and three-digit octal `\NNN` are decoded; `'...'` is taken literally.
pub(super) fn unquote(text: &str) -> Cow<'_, [u8]> {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    if bytes.len() >= 2 && trimmed.starts_with('\'') && trimmed.ends_with('\'') {
        return Cow::Borrowed(bytes.get(1..bytes.len() - 1).unwrap_or_default());
    }
    if !(bytes.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"')) {
        return Cow::Borrowed(bytes);
    }
    let inner = bytes.get(1..bytes.len() - 1).unwrap_or_default();
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let octal = inner.get(i..i + 3).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (octal, inner.get(i)) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, Some(&e)) => {
                out.push(match e {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    other => other,
                });
                i += 1;
            }
            (None, None) => out.push(b'\\'),
        }
    }
    Cow::Owned(out)
}

fn invalid(def: &AttrDef, message: impl Into<String>) -> ValueError {
    ValueError::Invalid {
        attribute: def.name.clone(),
        message: message.into(),
    }
}

/// Encode unquoted text as wire value bytes for `def`'s type.
pub(super) fn encode(dict: &Dictionary, def: &AttrDef, raw: &[u8]) -> Result<Vec<u8>, ValueError> {
    match def.typ {
        AttrType::String => return Ok(raw.to_vec()),
        AttrType::Octets | AttrType::Tlv | AttrType::Vsa => {
            return Ok(parse_hex(raw).unwrap_or_else(|| raw.to_vec()));
        }
        _ => {}
    }
    let text = std::str::from_utf8(raw)
        .map_err(|_| invalid(def, "not valid UTF-8"))?
        .trim();
    let bad = |what: &str| invalid(def, format!("{text:?} is not {what}"));
    Ok(match def.typ {
        AttrType::Integer => {
            integer(dict, def, text, u64::from(u32::MAX))?.to_be_bytes()[4..].to_vec()
        }
        AttrType::Byte => integer(dict, def, text, u64::from(u8::MAX))?.to_be_bytes()[7..].to_vec(),
        AttrType::Short => {
            integer(dict, def, text, u64::from(u16::MAX))?.to_be_bytes()[6..].to_vec()
        }
        AttrType::Integer64 => integer(dict, def, text, u64::MAX)?.to_be_bytes().to_vec(),
        AttrType::Signed => match text.parse::<i32>() {
            Ok(n) => n.to_be_bytes().to_vec(),
            Err(_) => {
                let n = dict
                    .value_number(def, text)
                    .ok_or_else(|| bad("a signed integer"))?;
                u32::try_from(n)
                    .map_err(|_| bad("a signed integer"))?
                    .to_be_bytes()
                    .to_vec()
            }
        },
        AttrType::Date => match parse_date(text) {
            Some(secs) => secs.to_be_bytes().to_vec(),
            None => integer(dict, def, text, u64::from(u32::MAX))
                .map_err(|_| bad("a date (Unix seconds or e.g. \"Jan 31 2026 12:00:00\")"))?
                .to_be_bytes()[4..]
                .to_vec(),
        },
        AttrType::IpAddr => ipv4(text)
            .ok_or_else(|| bad("an IPv4 address"))?
            .octets()
            .to_vec(),
        AttrType::Ipv6Addr => text
            .parse::<Ipv6Addr>()
            .map_err(|_| bad("an IPv6 address"))?
            .octets()
            .to_vec(),
        AttrType::ComboIp => match (ipv4(text), text.parse::<Ipv6Addr>()) {
            (Some(v4), _) => v4.octets().to_vec(),
            (None, Ok(v6)) => v6.octets().to_vec(),
            _ => return Err(bad("an IP address")),
        },
        AttrType::Ipv6Prefix => ipv6_prefix(text).map_err(|m| invalid(def, m))?,
        AttrType::Ipv4Prefix => ipv4_prefix(text).map_err(|m| invalid(def, m))?,
        AttrType::Ifid => {
            hex_groups(text, 8).ok_or_else(|| bad("an interface id (xxxx:xxxx:xxxx:xxxx)"))?
        }
        AttrType::Ether => hex_groups(text, 6).ok_or_else(|| bad("a MAC address"))?,
        AttrType::String | AttrType::Octets | AttrType::Tlv | AttrType::Vsa => raw.to_vec(),
    })
}

/// A number (decimal or `0x` hex) or a VALUE name, at most `max`.
fn integer(dict: &Dictionary, def: &AttrDef, text: &str, max: u64) -> Result<u64, ValueError> {
    let number = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse::<u64>().ok(),
    };
    let number = number
        .or_else(|| dict.value_number(def, text))
        .ok_or_else(|| {
            invalid(
                def,
                format!("{text:?} is neither a number nor a VALUE name"),
            )
        })?;
    if number > max {
        return Err(invalid(def, format!("{number} is larger than {max}")));
    }
    Ok(number)
}

/// IPv4 address; a `/32` suffix is tolerated (FreeRADIUS writes it that way).
fn ipv4(text: &str) -> Option<Ipv4Addr> {
    text.strip_suffix("/32").unwrap_or(text).parse().ok()
}

/// `0x`-prefixed hex → bytes.
fn parse_hex(raw: &[u8]) -> Option<Vec<u8>> {
    let digits = raw
        .strip_prefix(b"0x")
        .or_else(|| raw.strip_prefix(b"0X"))?;
    hex_bytes(digits)
}

fn hex_bytes(digits: &[u8]) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Hex digits with any of `: - .` as separators → exactly `len` bytes (MAC, interface id).
fn hex_groups(text: &str, len: usize) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.'))
        .collect();
    if text.contains(|c: char| !c.is_ascii_hexdigit() && !matches!(c, ':' | '-' | '.')) {
        return None;
    }
    let bytes = hex_bytes(&digits)?;
    (bytes.len() == len).then_some(bytes)
}

/// `addr/len` → RFC 3162 §2.3 layout: reserved, length, the prefix octets that carry bits.
fn ipv6_prefix(text: &str) -> Result<Vec<u8>, String> {
    let (addr, len) = text.split_once('/').unwrap_or((text, "128"));
    let addr: Ipv6Addr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an IPv6 prefix"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 128)
        .ok_or_else(|| format!("invalid prefix length in {text:?}"))?;
    let bits = u128::from(addr);
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    if bits & !mask != 0 {
        return Err(format!("{text:?} has bits set beyond the prefix length"));
    }
    let mut out = vec![0, len];
    out.extend(addr.octets().iter().take(usize::from(len).div_ceil(8)));
    Ok(out)
}

/// `addr/len` → RFC 6572 layout: reserved, length, four address octets.
fn ipv4_prefix(text: &str) -> Result<Vec<u8>, String> {
    let (addr, len) = text.split_once('/').unwrap_or((text, "32"));
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an IPv4 prefix"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("invalid prefix length in {text:?}"))?;
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    if u32::from(addr) & !mask != 0 {
        return Err(format!("{text:?} has bits set beyond the prefix length"));
    }
    let mut out = vec![0, len];
    out.extend(addr.octets());
    Ok(out)
}

/// Decode wire bytes to text that [`encode`] accepts back.
pub(super) fn decode(dict: &Dictionary, def: &AttrDef, value: &[u8]) -> Result<String, ValueError> {
    let wrong = || invalid(def, format!("{} octets do not fit the type", value.len()));
    let named = |n: u64| {
        dict.value_name(def, n)
            .map_or_else(|| n.to_string(), str::to_owned)
    };
    Ok(match def.typ {
        AttrType::Integer => named(u64::from(u32::from_be_bytes(
            fixed(value).ok_or_else(wrong)?,
        ))),
        AttrType::Byte => named(u64::from(u8::from_be_bytes(
            fixed(value).ok_or_else(wrong)?,
        ))),
        AttrType::Short => named(u64::from(u16::from_be_bytes(
            fixed(value).ok_or_else(wrong)?,
        ))),
        AttrType::Integer64 => named(u64::from_be_bytes(fixed(value).ok_or_else(wrong)?)),
        AttrType::Signed => {
            let n = i32::from_be_bytes(fixed(value).ok_or_else(wrong)?);
            dict.value_name(def, u64::from(n as u32))
                .map_or_else(|| n.to_string(), str::to_owned)
        }
        AttrType::Date => format!(
            "\"{}\"",
            format_date(u32::from_be_bytes(fixed(value).ok_or_else(wrong)?))
        ),
        AttrType::String => quote(value),
        AttrType::Octets | AttrType::Tlv | AttrType::Vsa => hex(value),
        AttrType::IpAddr => Ipv4Addr::from(fixed::<4>(value).ok_or_else(wrong)?).to_string(),
        AttrType::Ipv6Addr => Ipv6Addr::from(fixed::<16>(value).ok_or_else(wrong)?).to_string(),
        AttrType::ComboIp => match value.len() {
            4 => Ipv4Addr::from(fixed::<4>(value).ok_or_else(wrong)?).to_string(),
            _ => Ipv6Addr::from(fixed::<16>(value).ok_or_else(wrong)?).to_string(),
        },
        AttrType::Ipv6Prefix => {
            let (len, rest) = prefix_parts(value, 128, 16).ok_or_else(wrong)?;
            let mut octets = [0u8; 16];
            octets.iter_mut().zip(rest).for_each(|(o, b)| *o = *b);
            format!("{}/{len}", Ipv6Addr::from(octets))
        }
        AttrType::Ipv4Prefix => {
            let (len, rest) = prefix_parts(value, 32, 4).ok_or_else(wrong)?;
            let octets: [u8; 4] = rest.try_into().map_err(|_| wrong())?;
            format!("{}/{len}", Ipv4Addr::from(octets))
        }
        AttrType::Ifid => {
            let b: [u8; 8] = fixed(value).ok_or_else(wrong)?;
            let groups: Vec<String> = b
                .chunks(2)
                .map(|p| format!("{:02x}{:02x}", p[0], p[1]))
                .collect();
            groups.join(":")
        }
        AttrType::Ether => {
            let b: [u8; 6] = fixed(value).ok_or_else(wrong)?;
            let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            parts.join(":")
        }
    })
}

fn fixed<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    value.try_into().ok()
}

/// Reserved octet, prefix length (≤ `max_len`), then enough prefix octets (≤ `max_octets`).
fn prefix_parts(value: &[u8], max_len: u8, max_octets: usize) -> Option<(u8, &[u8])> {
    let [_, len, rest @ ..] = value else {
        return None;
    };
    let ok =
        *len <= max_len && rest.len() <= max_octets && rest.len() >= usize::from(*len).div_ceil(8);
    ok.then_some((*len, rest))
}

/// `0x` + lowercase hex.
pub(super) fn hex(value: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * value.len());
    out.push_str("0x");
    for b in value {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Double-quoted text with `\\ \" \n \r \t` escapes and `\NNN` octal for other control
/// bytes and bytes that are not UTF-8.
fn quote(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && c.is_ascii() => {
                    let _ = write!(out, "\\{:03o}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\{b:03o}");
        }
    }
    out.push('"');
    out
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parse a date as FreeRADIUS users write it, in UTC: Unix seconds (`1767225600`),
/// `Jan 31 2026`, `31 Jan 2026 12:00:00`, `January 31, 2026 12:00`, or ISO 8601
/// (`2026-01-31`, `2026-01-31T12:00:00Z`).
pub fn parse_date(text: &str) -> Option<u32> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (mut year, mut month, mut day, mut hms) = (None, None, None, (0, 0, 0));
    let lowered = text.to_ascii_lowercase();
    // ISO 8601 joins date and time with `T`: split it like a space.
    let tokens = lowered
        .split(|c: char| c.is_whitespace() || c == ',')
        .flat_map(|t| match t.split_once('t') {
            Some((d, c)) if t.starts_with(|c: char| c.is_ascii_digit()) => [d, c],
            _ => [t, ""],
        });
    for token in tokens.filter(|t| !t.is_empty()) {
        let lower = token.trim_end_matches('z');
        if let Some((y, m, d)) = iso_date(lower) {
            (year, month, day) = (Some(y), Some(m), Some(d));
        } else if lower.contains(':') {
            hms = clock(lower)?;
        } else if lower.len() >= 3 && lower.bytes().all(|b| b.is_ascii_alphabetic()) {
            let prefix = lower.get(..3)?;
            if let Some(m) = MONTHS.iter().position(|m| *m == prefix) {
                month = Some(u32::try_from(m).ok()? + 1);
            } else if !WEEKDAYS.contains(&prefix) && !matches!(lower, "utc" | "gmt") {
                return None;
            }
        } else if lower.len() == 4 {
            year = Some(lower.parse().ok()?);
        } else if lower.len() <= 2 {
            day = Some(lower.parse().ok()?);
        } else {
            return None;
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let secs = date.and_hms_opt(hms.0, hms.1, hms.2)?.and_utc().timestamp();
    u32::try_from(secs).ok()
}

/// `YYYY-MM-DD`.
fn iso_date(token: &str) -> Option<(i32, u32, u32)> {
    let mut parts = token.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    Some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
}

/// `HH:MM[:SS]`.
fn clock(token: &str) -> Option<(u32, u32, u32)> {
    let mut parts = token.split(':');
    let h = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let s = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    parts.next().is_none().then_some((h, m, s))
}

/// Render Unix seconds as `Jan 31 2026 12:00:00 UTC` (which [`parse_date`] reads back).
pub fn format_date(secs: u32) -> String {
    let Some(t) = DateTime::from_timestamp(i64::from(secs), 0) else {
        return secs.to_string();
    };
    let month = MONTHS.get(t.month0() as usize).map_or("?", |m| m);
    let mut name = month.to_owned();
    name[..1].make_ascii_uppercase();
    format!(
        "{name} {} {} {:02}:{:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
