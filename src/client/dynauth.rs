//! Dynamic Authorization (RFC 5176): Disconnect-Request and CoA-Request to a NAS, and the
//! ACK or NAK that answers them.
//!
//! The request names the session (User-Name, Acct-Session-Id, Framed-IP-Address, and the
//! NAS's own address when known: MikroTik NAKs a NAS-IP-Address that is not its own), may
//! carry extra pre-encoded attributes (a CoA's new Mikrotik-Rate-Limit, Session-Timeout),
//! and is always signed with a Message-Authenticator (first attribute) and the computed
//! Request Authenticator (§2.3, as FreeRADIUS's `radclient` does). The reply must verify
//! and be of the request's class: Disconnect-ACK/NAK for a Disconnect, CoA-ACK/NAK for a
//! CoA. MikroTik listens for these on `/radius incoming` (3799, some setups 1700), which
//! must be enabled (`accept=yes`).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{
    Attributes, Code, EncodeError, HEADER_LEN, Packet, PacketBuilder, ReplyVector, Signer, attrs,
};

use super::{ClientError, Timing, exchange};

/// The port NASes listen on for Disconnect and CoA requests (RFC 5176 §3.1; MikroTik's
/// `/radius incoming` may instead use 1700).
pub const DEFAULT_DYNAUTH_PORT: u16 = 3799;

/// Which dynamic-authorization request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DynAuthKind {
    /// Disconnect-Request (40): end the session. Answered by Disconnect-ACK (41) or -NAK (42).
    Disconnect,
    /// CoA-Request (43): change the session's authorization. Answered by CoA-ACK (44) or
    /// CoA-NAK (45).
    Coa,
}

impl DynAuthKind {
    /// The request code (RFC 5176 §2.1, §2.2).
    pub fn request_code(self) -> Code {
        match self {
            Self::Disconnect => Code::DisconnectRequest,
            Self::Coa => Code::CoaRequest,
        }
    }

    /// The positive reply code.
    pub fn ack_code(self) -> Code {
        match self {
            Self::Disconnect => Code::DisconnectAck,
            Self::Coa => Code::CoaAck,
        }
    }

    /// The negative reply code.
    pub fn nak_code(self) -> Code {
        match self {
            Self::Disconnect => Code::DisconnectNak,
            Self::Coa => Code::CoaNak,
        }
    }

    /// `Disconnect` or `CoA`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disconnect => "Disconnect",
            Self::Coa => "CoA",
        }
    }
}

impl std::fmt::Display for DynAuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The session a request is about (RFC 5176 §3, session identification attributes).
/// MikroTik needs Framed-IP-Address to find a hotspot session; User-Name alone is not enough.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRef {
    /// User-Name; not sent when empty.
    pub user_name: String,
    /// Acct-Session-Id, as the NAS reported it in accounting.
    pub acct_session_id: Option<String>,
    /// Framed-IP-Address: the client's address.
    pub framed_ip: Option<Ipv4Addr>,
    /// The NAS's own address, sent as NAS-IP-Address (IPv4) or NAS-IPv6-Address (IPv6).
    pub nas_ip: Option<IpAddr>,
}

/// Error-Cause (RFC 5176 §3.5, attribute 101): why a NAS refused, or a note on an ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCause(pub u32);

impl ErrorCause {
    /// 503 Session-Context-Not-Found: no session matched the identification attributes.
    pub const SESSION_CONTEXT_NOT_FOUND: Self = Self(503);

    /// The RFC 5176 §3.5 name, or `Error-Cause-<n>` for a value the RFC does not list.
    pub fn name(self) -> Cow<'static, str> {
        let name = match self.0 {
            201 => "Residual-Session-Context-Removed",
            202 => "Invalid-EAP-Packet",
            401 => "Unsupported-Attribute",
            402 => "Missing-Attribute",
            403 => "NAS-Identification-Mismatch",
            404 => "Invalid-Request",
            405 => "Unsupported-Service",
            406 => "Unsupported-Extension",
            407 => "Invalid-Attribute-Value",
            501 => "Administratively-Prohibited",
            502 => "Request-Not-Routable",
            503 => "Session-Context-Not-Found",
            504 => "Session-Context-Not-Removable",
            505 => "Other-Proxy-Processing-Error",
            506 => "Resources-Unavailable",
            507 => "Request-Initiated",
            508 => "Multiple-Session-Selection-Unsupported",
            n => return Cow::Owned(format!("Error-Cause-{n}")),
        };
        Cow::Borrowed(name)
    }
}

impl std::fmt::Display for ErrorCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// What the NAS answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynAuthReply {
    /// Disconnect-ACK or CoA-ACK: done.
    Ack,
    /// Disconnect-NAK or CoA-NAK, with its Error-Cause when the NAS sent one.
    Nak {
        /// The first Error-Cause of the NAK (absent or not a 4-octet integer: `None`).
        error_cause: Option<ErrorCause>,
    },
}

/// Build and sign a request of `kind` for `session`.
///
/// Attributes, in order: Message-Authenticator (always, first), User-Name (unless empty),
/// Acct-Session-Id, Framed-IP-Address, NAS-IP-Address or NAS-IPv6-Address (those that are
/// known), then `extra`: each entry one or more complete, well-formed attribute TLVs (as
/// [`parse_assignments`] or `Dictionary::encode_attribute` produce), copied verbatim. The
/// Message-Authenticator is computed over the packet with a zero authenticator field, then
/// the Request Authenticator over the whole packet (RFC 5176 §2.3, §3.3; FreeRADIUS
/// `rad_sign` does the same).
///
/// Errors: `BadRawAttributes` when an `extra` entry is malformed or carries a
/// Message-Authenticator (it would be a second, unsigned one); `PacketTooLong` when it all
/// exceeds 4096 bytes; `ValueTooLong` for an identification value over 253 bytes.
pub fn build_request(
    kind: DynAuthKind,
    signer: &Signer,
    identifier: u8,
    session: &SessionRef,
    extra: &[Vec<u8>],
) -> Result<Vec<u8>, EncodeError> {
    let mut b = PacketBuilder::new(kind.request_code(), identifier).with_message_authenticator();
    if !session.user_name.is_empty() {
        b.add(attrs::USER_NAME, session.user_name.as_bytes())?;
    }
    if let Some(id) = &session.acct_session_id {
        b.add(attrs::ACCT_SESSION_ID, id.as_bytes())?;
    }
    if let Some(ip) = session.framed_ip {
        b.add(attrs::FRAMED_IP_ADDRESS, &ip.octets())?;
    }
    match session.nas_ip {
        Some(IpAddr::V4(v4)) => {
            b.add(attrs::NAS_IP_ADDRESS, &v4.octets())?;
        }
        Some(IpAddr::V6(v6)) => {
            b.add(attrs::NAS_IPV6_ADDRESS, &v6.octets())?;
        }
        None => {}
    }
    for encoded in extra {
        if Attributes::new(encoded).any(|a| a.typ == attrs::MESSAGE_AUTHENTICATOR) {
            return Err(EncodeError::BadRawAttributes);
        }
        b.add_raw(encoded)?;
    }
    b.sign_computed_request(signer)
}

/// Verify `datagram` as the reply to `request` (the bytes [`build_request`] made for
/// `kind`): Response Authenticator, Message-Authenticator when present (over the request's
/// authenticator, RFC 5176 §3.3), then the code, which must be `kind`'s ACK or NAK.
pub fn read_reply(
    kind: DynAuthKind,
    signer: &Signer,
    request: &[u8],
    datagram: &[u8],
) -> Result<DynAuthReply, ClientError> {
    let request_authenticator: [u8; 16] = request
        .get(4..HEADER_LEN)
        .and_then(|a| a.try_into().ok())
        .ok_or(ClientError::BadRequest)?;
    let reply = signer
        .verify_reply(datagram, &request_authenticator, ReplyVector::Request)
        .map_err(ClientError::Verify)?;
    interpret(kind, &reply)
}

/// The verified `reply`'s meaning for a request of `kind`.
fn interpret(kind: DynAuthKind, reply: &Packet<'_>) -> Result<DynAuthReply, ClientError> {
    let code = reply.code();
    if code == kind.ack_code() {
        Ok(DynAuthReply::Ack)
    } else if code == kind.nak_code() {
        let error_cause = reply
            .attr_u32(attrs::ERROR_CAUSE)
            .ok()
            .flatten()
            .map(ErrorCause);
        Ok(DynAuthReply::Nak { error_cause })
    } else {
        Err(ClientError::UnexpectedReply {
            request: kind.request_code(),
            reply: code,
        })
    }
}

/// Send a request of `kind` for `session` to the NAS at `server` and wait for its verified
/// ACK or NAK. A random identifier; on silence the same bytes are resent, `timing.attempts`
/// times in all (RFC 5080 §2.2.1), then `ClientError::Timeout`. A reply that does not
/// verify is `Verify`, one of the wrong code (a CoA-ACK to a Disconnect) `UnexpectedReply`.
pub async fn send(
    kind: DynAuthKind,
    server: SocketAddr,
    signer: &Signer,
    session: &SessionRef,
    extra: &[Vec<u8>],
    timing: Timing,
) -> Result<DynAuthReply, ClientError> {
    let identifier: u8 = rand::random();
    let request =
        build_request(kind, signer, identifier, session, extra).map_err(ClientError::Encode)?;
    let datagram = exchange(server, &request, timing).await?;
    read_reply(kind, signer, &request, &datagram)
}

/// Standard attributes that identify the session: set through [`SessionRef`], never as
/// changes (RFC 5176 §3: a CoA cannot move a session).
const IDENTITY: [u8; 5] = [
    attrs::USER_NAME,
    attrs::ACCT_SESSION_ID,
    attrs::FRAMED_IP_ADDRESS,
    attrs::NAS_IP_ADDRESS,
    attrs::NAS_IPV6_ADDRESS,
];

/// Encode `ATTR=VALUE` arguments (`Mikrotik-Rate-Limit=2M/4M`, `Session-Timeout=600`,
/// `Tunnel-Type:1=VLAN`) into attribute TLVs for [`build_request`]'s `extra`, one entry per
/// argument, values converted by the dictionary (named VALUEs, addresses, quotes stripped).
///
/// Refused: the session identification attributes (User-Name, Acct-Session-Id,
/// Framed-IP-Address, NAS-IP-Address, NAS-IPv6-Address: they select the session, they do not
/// change it), Message-Authenticator (added and signed by [`build_request`]) and
/// Error-Cause (only in replies, RFC 5176 §3.6 table). Every error names the argument.
pub fn parse_assignments(dict: &Dictionary, args: &[String]) -> Result<Vec<Vec<u8>>, String> {
    args.iter()
        .map(|arg| parse_assignment(dict, arg).map_err(|e| format!("`{arg}`: {e}")))
        .collect()
}

/// One `ATTR=VALUE` argument; the error does not yet name the argument.
fn parse_assignment(dict: &Dictionary, arg: &str) -> Result<Vec<u8>, String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| "expected ATTR=VALUE".to_owned())?;
    let name = name.trim();
    // A tag suffix (`Tunnel-Type:1`) does not change which attribute it is.
    let base = match name.rsplit_once(':') {
        Some((base, tag)) if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    };
    let def = dict
        .attr(base)
        .ok_or_else(|| format!("unknown attribute {name}"))?;
    if def.vendor == 0 {
        let code = u8::try_from(def.code).ok();
        if code.is_some_and(|c| IDENTITY.contains(&c)) {
            return Err(format!(
                "{} identifies the session and cannot be changed by a request",
                def.name
            ));
        }
        if code == Some(attrs::MESSAGE_AUTHENTICATOR) {
            return Err("Message-Authenticator is added and signed automatically".to_owned());
        }
        if code == Some(attrs::ERROR_CAUSE) {
            return Err("Error-Cause is only sent in ACK and NAK replies".to_owned());
        }
    }
    let mut out = Vec::new();
    dict.encode_attribute(name, value.trim(), &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};
    use md5::{Digest, Md5};
    use radius_proto::protocol::attrs::mikrotik;

    use super::*;

    const SECRET: &[u8] = b"coa-secret";

    fn session() -> SessionRef {
        SessionRef {
            user_name: "alice".into(),
            acct_session_id: Some("81f00003".into()),
            framed_ip: Some(Ipv4Addr::new(10, 5, 50, 7)),
            nas_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        }
    }

    /// MD5(packet with a zero authenticator ‖ secret), computed here, not by the Signer.
    fn expected_request_authenticator(bytes: &[u8]) -> [u8; 16] {
        let mut zeroed = bytes.to_vec();
        zeroed[4..20].fill(0);
        Md5::new()
            .chain_update(&zeroed)
            .chain_update(SECRET)
            .finalize()
            .into()
    }

    /// HMAC-MD5 over the packet with zero authenticator and zero MA value (RFC 3579 §3.2
    /// with the RFC 5176 §3.3 zero vector), computed here; `ma` is the value's offset.
    fn expected_message_authenticator(bytes: &[u8], ma: usize) -> [u8; 16] {
        let mut zeroed = bytes.to_vec();
        zeroed[4..20].fill(0);
        zeroed[ma..ma + 16].fill(0);
        let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(SECRET).unwrap();
        mac.update(&zeroed);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn request_is_signed_like_radclient() {
        let rate = parse_assignments(
            &Dictionary::builtin(),
            &["Mikrotik-Rate-Limit=2M/4M".to_owned()],
        )
        .unwrap();
        for kind in [DynAuthKind::Disconnect, DynAuthKind::Coa] {
            let bytes = build_request(kind, &Signer::new(SECRET), 77, &session(), &rate).unwrap();
            assert_eq!(bytes[0], kind.request_code().as_u8());
            assert_eq!(bytes[1], 77);
            assert_eq!(
                usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                bytes.len()
            );
            // Message-Authenticator first (type 80, length 18), valid.
            assert_eq!(&bytes[20..22], &[attrs::MESSAGE_AUTHENTICATOR, 18]);
            assert_eq!(bytes[22..38], expected_message_authenticator(&bytes, 22));
            // Request Authenticator over the packet containing the MA.
            assert_eq!(bytes[4..20], expected_request_authenticator(&bytes));
            // The codec agrees, and every attribute is there.
            let p = Packet::decode(&bytes).unwrap();
            let signer = Signer::new(SECRET);
            p.verify_request_authenticator(&signer).unwrap();
            assert!(p.verify_message_authenticator(&signer, None).unwrap());
            assert_eq!(p.attr_str(attrs::USER_NAME), Some("alice"));
            assert_eq!(p.attr_str(attrs::ACCT_SESSION_ID), Some("81f00003"));
            assert_eq!(p.attr(attrs::FRAMED_IP_ADDRESS), Some(&[10, 5, 50, 7][..]));
            assert_eq!(p.attr(attrs::NAS_IP_ADDRESS), Some(&[192, 0, 2, 1][..]));
            assert_eq!(
                p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
                Some(&b"2M/4M"[..])
            );
        }
    }

    #[test]
    fn ipv6_nas_and_missing_parts() {
        let s = SessionRef {
            user_name: String::new(),
            acct_session_id: Some("x".into()),
            framed_ip: None,
            nas_ip: Some("2001:db8::1".parse().unwrap()),
        };
        let bytes = build_request(DynAuthKind::Coa, &Signer::new(SECRET), 1, &s, &[]).unwrap();
        let p = Packet::decode(&bytes).unwrap();
        assert_eq!(p.attr(attrs::USER_NAME), None);
        assert_eq!(p.attr(attrs::FRAMED_IP_ADDRESS), None);
        assert_eq!(p.attr(attrs::NAS_IP_ADDRESS), None);
        assert_eq!(p.attr(attrs::NAS_IPV6_ADDRESS).map(<[u8]>::len), Some(16));
    }

    #[test]
    fn extra_with_a_message_authenticator_or_garbage_is_refused() {
        let signer = Signer::new(SECRET);
        let mut ma = vec![attrs::MESSAGE_AUTHENTICATOR, 18];
        ma.extend_from_slice(&[0; 16]);
        for bad in [ma, vec![27, 9, 0]] {
            let err = build_request(DynAuthKind::Coa, &signer, 1, &session(), &[bad]);
            assert!(matches!(err, Err(EncodeError::BadRawAttributes)), "{err:?}");
        }
    }

    /// A reply to `request` signed with `secret`.
    fn reply(request: &[u8], code: Code, cause: Option<u32>, secret: &[u8]) -> Vec<u8> {
        let req = Packet::decode(request).unwrap();
        let mut b = PacketBuilder::reply(&req, code);
        if let Some(c) = cause {
            b.add_u32(attrs::ERROR_CAUSE, c).unwrap();
        }
        b.sign_response(
            req.authenticator(),
            ReplyVector::Request,
            &Signer::new(secret),
        )
        .unwrap()
    }

    #[test]
    fn replies_are_verified_and_classified() {
        let signer = Signer::new(SECRET);
        let kind = DynAuthKind::Disconnect;
        let req = build_request(kind, &signer, 9, &session(), &[]).unwrap();
        let ack = reply(&req, Code::DisconnectAck, None, SECRET);
        assert_eq!(
            read_reply(kind, &signer, &req, &ack).unwrap(),
            DynAuthReply::Ack
        );
        let nak = reply(&req, Code::DisconnectNak, Some(503), SECRET);
        assert_eq!(
            read_reply(kind, &signer, &req, &nak).unwrap(),
            DynAuthReply::Nak {
                error_cause: Some(ErrorCause::SESSION_CONTEXT_NOT_FOUND)
            }
        );
        let coa_ack = reply(&req, Code::CoaAck, None, SECRET);
        assert!(matches!(
            read_reply(kind, &signer, &req, &coa_ack),
            Err(ClientError::UnexpectedReply {
                request: Code::DisconnectRequest,
                reply: Code::CoaAck
            })
        ));
        let forged = reply(&req, Code::DisconnectAck, None, b"other");
        assert!(matches!(
            read_reply(kind, &signer, &req, &forged),
            Err(ClientError::Verify(_))
        ));
    }

    #[test]
    fn error_cause_names() {
        let table = [
            (201, "Residual-Session-Context-Removed"),
            (202, "Invalid-EAP-Packet"),
            (401, "Unsupported-Attribute"),
            (402, "Missing-Attribute"),
            (403, "NAS-Identification-Mismatch"),
            (404, "Invalid-Request"),
            (405, "Unsupported-Service"),
            (406, "Unsupported-Extension"),
            (407, "Invalid-Attribute-Value"),
            (501, "Administratively-Prohibited"),
            (502, "Request-Not-Routable"),
            (503, "Session-Context-Not-Found"),
            (504, "Session-Context-Not-Removable"),
            (505, "Other-Proxy-Processing-Error"),
            (506, "Resources-Unavailable"),
            (507, "Request-Initiated"),
            (508, "Multiple-Session-Selection-Unsupported"),
        ];
        let dict = Dictionary::builtin();
        let def = dict.attr("Error-Cause").unwrap();
        for (n, name) in table {
            assert_eq!(ErrorCause(n).name(), name);
            assert_eq!(ErrorCause(n).to_string(), name);
            // The dictionary knows the same value by this name (perhaps among aliases).
            assert_eq!(dict.value_number(def, name), Some(u64::from(n)), "{name}");
        }
        assert_eq!(ErrorCause(999).name(), "Error-Cause-999");
        assert_eq!(ErrorCause(0).to_string(), "Error-Cause-0");
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn assignments_encode_through_the_dictionary() {
        let dict = Dictionary::builtin();
        let tlvs = parse_assignments(
            &dict,
            &args(&[
                "Mikrotik-Rate-Limit=2M/4M",
                "Session-Timeout = 600",
                "Filter-Id=\"gold plan\"",
            ]),
        )
        .unwrap();
        assert_eq!(tlvs.len(), 3);
        // Vendor-Specific(26) ‖ len ‖ 14988 ‖ type 8 ‖ len ‖ "2M/4M"
        let mut rate = vec![26, 13, 0, 0, 0x3a, 0x8c, 8, 7];
        rate.extend_from_slice(b"2M/4M");
        assert_eq!(tlvs[0], rate);
        assert_eq!(tlvs[1], [27, 6, 0, 0, 2, 0x58]);
        let mut filter = vec![11, 11];
        filter.extend_from_slice(b"gold plan");
        assert_eq!(tlvs[2], filter);
        assert!(parse_assignments(&dict, &[]).unwrap().is_empty());
    }

    #[test]
    fn assignment_errors_name_the_argument() {
        let dict = Dictionary::builtin();
        let cases = [
            ("No-Such-Attribute=1", "unknown attribute"),
            ("Session-Timeout=soon", "Session-Timeout"),
            ("Session-Timeout", "expected ATTR=VALUE"),
            ("User-Name=bob", "identifies the session"),
            ("acct-session-id=1", "identifies the session"),
            ("Framed-IP-Address=10.0.0.9", "identifies the session"),
            ("NAS-IP-Address=10.0.0.1", "identifies the session"),
            ("Message-Authenticator=0x00", "automatically"),
            ("Error-Cause=503", "only sent in ACK and NAK"),
            ("User-Password=secret", "encrypted"),
        ];
        for (arg, why) in cases {
            let err = parse_assignments(&dict, &args(&["Session-Timeout=60", arg])).unwrap_err();
            assert!(err.starts_with(&format!("`{arg}`: ")), "{err}");
            assert!(err.contains(why), "{arg}: {err}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            DynAuthKind::Disconnect.request_code(),
            Code::DisconnectRequest
        );
        assert_eq!(DynAuthKind::Disconnect.nak_code(), Code::DisconnectNak);
        assert_eq!(DynAuthKind::Coa.ack_code(), Code::CoaAck);
        assert_eq!(DynAuthKind::Coa.to_string(), "CoA");
        assert_eq!(DEFAULT_DYNAUTH_PORT, 3799);
    }
}
