//! Accounting-Request → [`AcctRecord`]: pure normalisation (no I/O). Gigawords are folded
//! into 64-bit counters, enumerations rendered by dictionary name, the event time derived
//! from Event-Timestamp or Acct-Delay-Time, and the FreeRADIUS-style unique session id
//! computed.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{AcctStatus, Packet, attrs, crypto};

use crate::model::AcctRecord;

/// What normalisation had to repair in one packet (counted by the handler; the record is
/// written either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repairs {
    /// 64-bit counters clamped to `i64::MAX` (Gigawords ≥ 2^31: only a broken or hostile
    /// NAS sends that).
    pub saturated: u32,
    /// Text values that held NUL bytes or invalid UTF-8.
    pub sanitised: u32,
}

/// Normalise an Accounting-Request that arrived from the client entry covering `client`
/// (its network) at `now` (Unix seconds). `None` when it has no Acct-Status-Type.
///
/// Rules, so that PostgreSQL never refuses a record for its content:
/// - counters are `Octets + 2^32 × Gigawords`, exact for every value a `bigint` holds;
///   beyond it (Gigawords ≥ 2^31) they saturate at `i64::MAX`;
/// - text (User-Name, Acct-Session-Id, station ids, ...) loses NUL bytes, has invalid
///   UTF-8 replaced by U+FFFD, and is cut at [`MAX_TEXT`] characters;
/// - the session is owned by `client` (see `AcctRecord::client`): a NAS can only ever
///   touch sessions it created, whatever NAS-IP-Address it claims.
pub fn from_packet(
    packet: &Packet<'_>,
    client: IpNet,
    source: IpAddr,
    now: i64,
    dict: &Dictionary,
) -> Option<(AcctRecord, Repairs)> {
    let mut repairs = Repairs::default();
    let u32_of = |typ: u8| packet.attr_u32(typ).ok().flatten();
    let mut text = |typ: u8| {
        let (t, changed) = clean_text(packet.attr(typ)?);
        repairs.sanitised += u32::from(changed);
        Some(t)
    };
    let status = AcctStatus::from(u32_of(attrs::ACCT_STATUS_TYPE)?);
    let username = text(attrs::USER_NAME).unwrap_or_default();
    let session_id = text(attrs::ACCT_SESSION_ID).unwrap_or_default();
    let nas_identifier = text(attrs::NAS_IDENTIFIER);
    let nas_port_id_attr = text(attrs::NAS_PORT_ID);
    let called_station_id = text(attrs::CALLED_STATION_ID);
    let calling_station_id = text(attrs::CALLING_STATION_ID);
    let nas_ip_attr = packet
        .attr(attrs::NAS_IP_ADDRESS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(|b| IpAddr::V4(Ipv4Addr::from(b)));
    let nas_ipv6_attr = packet
        .attr(attrs::NAS_IPV6_ADDRESS)
        .and_then(|v| <[u8; 16]>::try_from(v).ok())
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)));
    let nas_port = u32_of(attrs::NAS_PORT);
    let unique_id = unique_id(&UniqueIdInput {
        class: packet.attr(attrs::CLASS),
        username: &username,
        session_id: &session_id,
        nas_ip: nas_ipv6_attr.or(nas_ip_attr),
        nas_identifier: nas_identifier.as_deref(),
        nas_port_id: nas_port_id_attr.as_deref(),
        nas_port,
    });
    let event_time = match u32_of(attrs::EVENT_TIMESTAMP) {
        Some(ts) => i64::from(ts),
        None => now - i64::from(u32_of(attrs::ACCT_DELAY_TIME).unwrap_or(0)),
    };
    let mut octets = |low: u8, giga: u8| {
        let lo = u32_of(low)?;
        let (value, saturated) = counter64(lo, u32_of(giga).unwrap_or(0));
        repairs.saturated += u32::from(saturated);
        Some(value)
    };
    let input_octets = octets(attrs::ACCT_INPUT_OCTETS, attrs::ACCT_INPUT_GIGAWORDS);
    let output_octets = octets(attrs::ACCT_OUTPUT_OCTETS, attrs::ACCT_OUTPUT_GIGAWORDS);
    let named = |typ: u8| {
        let n = u32_of(typ)?;
        Some(
            dict.attr_by_code(0, u32::from(typ))
                .and_then(|def| dict.value_name(def, u64::from(n)))
                .map_or_else(|| n.to_string(), str::to_owned),
        )
    };
    let record = AcctRecord {
        status,
        event_time,
        session_id,
        unique_id,
        username,
        realm: None,
        nas_ip: nas_ip_attr
            .or(nas_ipv6_attr)
            .unwrap_or_else(|| source.to_canonical()),
        client,
        nas_identifier,
        nas_port_id: nas_port_id_attr.or_else(|| nas_port.map(|p| p.to_string())),
        nas_port_type: named(attrs::NAS_PORT_TYPE),
        session_time: u32_of(attrs::ACCT_SESSION_TIME).map(i64::from),
        input_octets,
        output_octets,
        authentic: named(attrs::ACCT_AUTHENTIC),
        called_station_id,
        calling_station_id,
        terminate_cause: named(attrs::ACCT_TERMINATE_CAUSE),
        service_type: named(attrs::SERVICE_TYPE),
        framed_protocol: named(attrs::FRAMED_PROTOCOL),
        framed_ip: packet
            .attr(attrs::FRAMED_IP_ADDRESS)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        framed_ipv6: packet
            .attr(attrs::FRAMED_IPV6_ADDRESS)
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        framed_ipv6_prefix: packet.attr(attrs::FRAMED_IPV6_PREFIX).and_then(ipv6_prefix),
        delegated_ipv6_prefix: packet
            .attr(attrs::DELEGATED_IPV6_PREFIX)
            .and_then(ipv6_prefix),
        class: packet.attr(attrs::CLASS).map(class_text),
        interim_interval: u32_of(attrs::ACCT_INTERIM_INTERVAL).map(i64::from),
    };
    Some((record, repairs))
}

/// Longest text value kept, in characters (one attribute is at most 253 bytes).
pub const MAX_TEXT: usize = 253;

/// Text a NAS sent, made storable: NUL bytes dropped, invalid UTF-8 replaced by U+FFFD,
/// cut at [`MAX_TEXT`] characters. The flag says whether anything changed.
pub fn clean_text(raw: &[u8]) -> (String, bool) {
    let lossy = String::from_utf8_lossy(raw);
    let invalid = matches!(lossy, std::borrow::Cow::Owned(_));
    let out: String = lossy
        .chars()
        .filter(|&c| c != '\0')
        .take(MAX_TEXT)
        .collect();
    let changed = invalid || out.len() != lossy.len();
    (out, changed)
}

/// `Octets + 2^32 × Gigawords` as a `bigint`: exact below 2^63, else `i64::MAX` (and
/// `true`).
pub fn counter64(octets: u32, gigawords: u32) -> (i64, bool) {
    let value = (u64::from(gigawords) << 32) | u64::from(octets);
    match i64::try_from(value) {
        Ok(v) => (v, false),
        Err(_) => (i64::MAX, true),
    }
}

/// The request attributes FreeRADIUS 3.2's default `acct_unique` policy reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct UniqueIdInput<'a> {
    /// The first Class attribute, raw.
    pub class: Option<&'a [u8]>,
    /// User-Name.
    pub username: &'a str,
    /// Acct-Session-Id.
    pub session_id: &'a str,
    /// NAS-IPv6-Address if present, else NAS-IP-Address.
    pub nas_ip: Option<IpAddr>,
    /// NAS-Identifier.
    pub nas_identifier: Option<&'a str>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<&'a str>,
    /// NAS-Port.
    pub nas_port: Option<u32>,
}

/// Acct-Unique-Session-Id exactly as FreeRADIUS 3.2's default `acct_unique` policy makes
/// it (`raddb/policy.d/accounting`), so both servers write the same `acctuniqueid`:
/// - when the first Class starts with `ai:` followed by 32 hex digits (a Class the
///   server's `insert_acct_class` issued), MD5 hex of `<those 32 digits>,<Acct-Session-Id>`;
/// - otherwise MD5 hex of the comma-joined User-Name, Acct-Session-Id,
///   NAS-IPv6-Address (else NAS-IP-Address), NAS-Identifier, NAS-Port-Id and NAS-Port,
///   absent ones empty.
pub fn unique_id(input: &UniqueIdInput<'_>) -> String {
    if let Some(digits) = input.class.and_then(class_issued_id) {
        return md5_hex(&format!("{digits},{}", input.session_id));
    }
    md5_hex(&format!(
        "{},{},{},{},{},{}",
        input.username,
        input.session_id,
        input.nas_ip.map(|i| i.to_string()).unwrap_or_default(),
        input.nas_identifier.unwrap_or_default(),
        input.nas_port_id.unwrap_or_default(),
        input.nas_port.map(|p| p.to_string()).unwrap_or_default(),
    ))
}

/// The 32 hex digits of an `ai:`-prefixed Class (prefix case-sensitive, digits either
/// case, anything may follow them), as sent.
fn class_issued_id(class: &[u8]) -> Option<&str> {
    let digits = class.strip_prefix(b"ai:")?.get(..32)?;
    if digits.iter().all(u8::is_ascii_hexdigit) {
        std::str::from_utf8(digits).ok()
    } else {
        None
    }
}

fn md5_hex(input: &str) -> String {
    hex(&crypto::md5(&[input.as_bytes()]))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// RFC 3162 §2.3 prefix layout: reserved, prefix length, prefix bytes (0..=16).
fn ipv6_prefix(value: &[u8]) -> Option<String> {
    let (&len, rest) = value.get(1..)?.split_first()?;
    if len > 128 || rest.len() > 16 {
        return None;
    }
    let mut addr = [0u8; 16];
    addr.get_mut(..rest.len())?.copy_from_slice(rest);
    Some(format!("{}/{len}", Ipv6Addr::from(addr)))
}

/// Class as text when printable, else `0x`-hex (FreeRADIUS style).
fn class_text(value: &[u8]) -> String {
    if !value.is_empty() && value.iter().all(|b| (0x20..0x7f).contains(b)) {
        String::from_utf8_lossy(value).into_owned()
    } else {
        format!("0x{}", hex(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rendering() {
        assert_eq!(
            ipv6_prefix(&[0, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]).as_deref(),
            Some("2001:db8:0:1::/64")
        );
        assert_eq!(ipv6_prefix(&[0]), None);
        assert_eq!(class_text(b"abc"), "abc");
        assert_eq!(class_text(&[0, 255]), "0x00ff");
    }
}
