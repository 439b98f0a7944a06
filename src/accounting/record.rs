//! Accounting-Request → [`AcctRecord`]: pure normalisation (no I/O). Gigawords are folded
//! into 64-bit counters, enumerations rendered by dictionary name, the event time derived
//! from Event-Timestamp or Acct-Delay-Time, and the FreeRADIUS-style unique session id
//! computed.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{AcctStatus, Packet, attrs, crypto};

use crate::model::AcctRecord;

/// Normalise an Accounting-Request received from `source` at `now` (Unix seconds).
/// `None` when it has no usable Acct-Status-Type.
pub fn from_packet(
    packet: &Packet<'_>,
    source: IpAddr,
    now: i64,
    dict: &Dictionary,
) -> Option<AcctRecord> {
    let u32_of = |typ: u8| packet.attr_u32(typ).ok().flatten();
    let text = |typ: u8| {
        packet
            .attr(typ)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let status = AcctStatus::from(u32_of(attrs::ACCT_STATUS_TYPE)?);
    let username = text(attrs::USER_NAME).unwrap_or_default();
    let session_id = text(attrs::ACCT_SESSION_ID).unwrap_or_default();
    let nas_ip_attr = packet
        .attr(attrs::NAS_IP_ADDRESS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(|b| IpAddr::V4(Ipv4Addr::from(b)));
    let nas_ipv6_attr = packet
        .attr(attrs::NAS_IPV6_ADDRESS)
        .and_then(|v| <[u8; 16]>::try_from(v).ok())
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)));
    let nas_identifier = text(attrs::NAS_IDENTIFIER);
    let nas_port = u32_of(attrs::NAS_PORT);
    let nas_port_id_attr = text(attrs::NAS_PORT_ID);
    let unique_id = unique_id(
        &username,
        &session_id,
        nas_ipv6_attr.or(nas_ip_attr),
        nas_identifier.as_deref(),
        nas_port_id_attr.as_deref(),
        nas_port,
    );
    let event_time = match u32_of(attrs::EVENT_TIMESTAMP) {
        Some(ts) => i64::from(ts),
        None => now - i64::from(u32_of(attrs::ACCT_DELAY_TIME).unwrap_or(0)),
    };
    let octets = |low: u8, giga: u8| {
        let lo = u32_of(low)?;
        let hi = u32_of(giga).unwrap_or(0);
        Some((i64::from(hi) << 32) | i64::from(lo))
    };
    let named = |typ: u8| {
        let n = u32_of(typ)?;
        Some(
            dict.attr_by_code(0, u32::from(typ))
                .and_then(|def| dict.value_name(def, u64::from(n)))
                .map_or_else(|| n.to_string(), str::to_owned),
        )
    };
    Some(AcctRecord {
        status,
        event_time,
        session_id,
        unique_id,
        username,
        realm: None,
        nas_ip: nas_ip_attr
            .or(nas_ipv6_attr)
            .unwrap_or_else(|| source.to_canonical()),
        nas_identifier,
        nas_port_id: nas_port_id_attr.or_else(|| nas_port.map(|p| p.to_string())),
        nas_port_type: named(attrs::NAS_PORT_TYPE),
        session_time: u32_of(attrs::ACCT_SESSION_TIME).map(i64::from),
        input_octets: octets(attrs::ACCT_INPUT_OCTETS, attrs::ACCT_INPUT_GIGAWORDS),
        output_octets: octets(attrs::ACCT_OUTPUT_OCTETS, attrs::ACCT_OUTPUT_GIGAWORDS),
        authentic: named(attrs::ACCT_AUTHENTIC),
        called_station_id: text(attrs::CALLED_STATION_ID),
        calling_station_id: text(attrs::CALLING_STATION_ID),
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
    })
}

/// FreeRADIUS `acct_unique`: MD5 hex of the comma-joined User-Name, Acct-Session-Id,
/// NAS-IP(v6)-Address, NAS-Identifier, NAS-Port-Id and NAS-Port (absent ones empty).
pub fn unique_id(
    username: &str,
    session_id: &str,
    nas_ip: Option<IpAddr>,
    nas_identifier: Option<&str>,
    nas_port_id: Option<&str>,
    nas_port: Option<u32>,
) -> String {
    let input = format!(
        "{username},{session_id},{},{},{},{}",
        nas_ip.map(|i| i.to_string()).unwrap_or_default(),
        nas_identifier.unwrap_or_default(),
        nas_port_id.unwrap_or_default(),
        nas_port.map(|p| p.to_string()).unwrap_or_default(),
    );
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
