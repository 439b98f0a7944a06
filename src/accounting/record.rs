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
        tenant: None,
        realm: None,
        nas_ip: nas_ip_attr
            .or(nas_ipv6_attr)
            .unwrap_or_else(|| source.to_canonical()),
        client,
        nas_identifier,
        nas_port_id: nas_port_id_attr.or_else(|| nas_port.map(|p| p.to_string())),
        nas_port,
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

    /// Vectors derived from FreeRADIUS 3.2's `acct_unique` policy: the MD5 input is
    /// written out literally next to each expected hash (computed independently, with
    /// Python's hashlib).
    #[test]
    fn unique_id_matches_the_freeradius_policy() {
        let base = UniqueIdInput {
            username: "alice",
            session_id: "80f00001",
            nas_ip: Some("10.5.50.1".parse().unwrap()),
            nas_identifier: Some("hotspot1"),
            ..UniqueIdInput::default()
        };
        // md5("alice,80f00001,10.5.50.1,hotspot1,,")
        assert_eq!(unique_id(&base), "1ee52cf44ea3ffd22345c5593083199b");
        // md5("alice,80f00001,10.5.50.1,hotspot1,bridge1,15728640")
        let ports = UniqueIdInput {
            nas_port_id: Some("bridge1"),
            nas_port: Some(15_728_640),
            ..base
        };
        assert_eq!(unique_id(&ports), "1719637c32ddb47e9f1f4a69388ffda8");
        // md5("alice,80f00001,10.5.50.1,,,7"): NAS-Port alone, NAS-Identifier absent.
        let port_only = UniqueIdInput {
            nas_identifier: None,
            nas_port: Some(7),
            ..base
        };
        assert_eq!(unique_id(&port_only), "c2947e968092b04656a7d35440516c2a");
        // md5("alice,80f00001,2001:db8::1,,,"): NAS-IPv6-Address wins over NAS-IP-Address.
        let v6 = UniqueIdInput {
            nas_ip: Some("2001:db8::1".parse().unwrap()),
            nas_identifier: None,
            ..base
        };
        assert_eq!(unique_id(&v6), "6f620d378e7b358ca4f83934bdf493bc");
        // md5(",,,,,"): nothing present.
        assert_eq!(
            unique_id(&UniqueIdInput::default()),
            "8daa390830619c3758c0f67ab6e59c22"
        );
    }

    #[test]
    fn unique_id_from_an_ai_class() {
        let base = UniqueIdInput {
            username: "alice",
            session_id: "80f00001",
            nas_ip: Some("10.5.50.1".parse().unwrap()),
            ..UniqueIdInput::default()
        };
        // md5("0123456789abcdef0123456789ABCDEF,80f00001"): the 32 digits as sent (either
        // case), then Acct-Session-Id; User-Name and the NAS do not matter any more.
        let class = b"ai:0123456789abcdef0123456789ABCDEF";
        let with = UniqueIdInput {
            class: Some(class),
            ..base
        };
        assert_eq!(unique_id(&with), "01044a5cfd840a4c789fd4f3bbc290f7");
        let elsewhere = UniqueIdInput {
            username: "bob",
            nas_ip: Some("10.9.9.9".parse().unwrap()),
            ..with
        };
        assert_eq!(unique_id(&elsewhere), unique_id(&with));
        // Text after the 32 digits is allowed (the policy's regex is not anchored there).
        let longer = UniqueIdInput {
            class: Some(b"ai:0123456789abcdef0123456789ABCDEF-extra"),
            ..base
        };
        assert_eq!(unique_id(&longer), "01044a5cfd840a4c789fd4f3bbc290f7");
        // Not an issued class: the prefix is case-sensitive, the digits must be 32 hex.
        for other in [
            &b"AI:0123456789abcdef0123456789ABCDEF"[..],
            b"ai:0123456789abcdef0123456789ABCDE",
            b"ai:0123456789abcdef0123456789ABCDEG",
            b"xai:0123456789abcdef0123456789ABCDEF",
        ] {
            let input = UniqueIdInput {
                class: Some(other),
                ..base
            };
            assert_eq!(unique_id(&input), unique_id(&base), "{other:?}");
        }
    }

    #[test]
    fn counters_are_exact_then_saturate() {
        assert_eq!(counter64(7, 0), (7, false));
        assert_eq!(counter64(7, 5), (5 * (1 << 32) + 7, false));
        // The largest bigint: 2^31 - 1 gigawords and 2^32 - 1 octets.
        assert_eq!(counter64(u32::MAX, (1 << 31) - 1), (i64::MAX, false));
        assert_eq!(counter64(0, 1 << 31), (i64::MAX, true));
        assert_eq!(counter64(u32::MAX, u32::MAX), (i64::MAX, true));
    }

    #[test]
    fn text_is_made_storable() {
        assert_eq!(clean_text(b"alice"), ("alice".to_owned(), false));
        assert_eq!(clean_text(b"al\0ice\0"), ("alice".to_owned(), true));
        assert_eq!(clean_text(b"caf\xe9"), ("caf\u{fffd}".to_owned(), true));
        let long = vec![b'x'; 400];
        let (cut, changed) = clean_text(&long);
        assert_eq!((cut.chars().count(), changed), (MAX_TEXT, true));
    }
}
