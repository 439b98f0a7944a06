//! Tests for `Packet` (and the replies `PacketBuilder` makes from it): RFC 2865 §7
//! examples, every `DecodeError` variant with its `reason()`, Message-Authenticator
//! sign→verify for each code family, Proxy-State copying, VSA policy, and packets captured
//! from `radclient`. Builder-only checks are in `builder_tests.rs`.

use std::sync::LazyLock;

use super::*;
use crate::protocol::PacketBuilder;
use crate::protocol::attrs::{self, mikrotik};

/// Decrypt a salt-encrypted value into a fresh Vec.
fn salt_decrypt(value: &[u8], auth: &[u8; 16]) -> Result<Vec<u8>, DecodeError> {
    SIGNER
        .salt_decrypt(value, auth, &mut [0; 253])
        .map(<[u8]>::to_vec)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 2865 §7.1 Access-Request (PAP, user "nemo", password "arctangent").
const RFC7_1_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a
    01 06 6e 65 6d 6f 02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee
    04 06 c0 a8 01 10 05 06 00 00 00 03";
/// RFC 2865 §7.1 Access-Accept.
const RFC7_1_ACCEPT: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2
    06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03";
/// RFC 2865 §7.2 Access-Request (CHAP, user "flopsy").
const RFC7_2_REQUEST: &str = "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e 0d 33 67 a2
    01 08 66 6c 6f 70 73 79 03 13 16 e9 75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75
    04 06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00 02 07 06 00 00 00 01";

const SECRET: &[u8] = b"xyzzy5461";
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));

#[test]
fn rfc2865_7_1_pap_request_decodes_and_unhides() {
    let bytes = hex(RFC7_1_REQUEST);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.code(), Code::AccessRequest);
    assert_eq!(p.identifier(), 0);
    assert_eq!(p.attr_str(attrs::USER_NAME), Some("nemo"));
    assert_eq!(
        p.find(attrs::NAS_IP_ADDRESS).unwrap().as_ipv4().unwrap(),
        std::net::Ipv4Addr::new(192, 168, 1, 16)
    );
    assert_eq!(p.attr_u32(attrs::NAS_PORT), Ok(Some(3)));
    assert_eq!(p.attr_u32(attrs::STATE), Ok(None));
    assert_eq!(
        p.attr(USER_PASSWORD).unwrap(),
        &hex("0dbe708d93d413ce3196e43f782a0aee")[..]
    );
    let pw = p.user_password(&SIGNER).unwrap().unwrap();
    assert_eq!(pw.as_bytes(), b"arctangent");
    assert!(!p.has_message_authenticator());
    assert_eq!(p.verify_message_authenticator(&SIGNER, None), Ok(false));
}

#[test]
fn rfc2865_7_1_accept_is_rebuilt_bit_exact() {
    let req_bytes = hex(RFC7_1_REQUEST);
    let req = Packet::decode(&req_bytes).unwrap();
    let mut b = PacketBuilder::reply(&req, Code::AccessAccept).without_message_authenticator();
    b.add_u32(attrs::SERVICE_TYPE, 1).unwrap();
    b.add_u32(15, 0).unwrap(); // Login-Service = Telnet
    b.add(14, &[192, 168, 1, 3]).unwrap(); // Login-IP-Host
    let out = b
        .sign_response(req.authenticator(), ReplyVector::Request, &SIGNER)
        .unwrap();
    assert_eq!(out, hex(RFC7_1_ACCEPT));
    let accept = Packet::decode(&out).unwrap();
    accept
        .verify_response(req.authenticator(), ReplyVector::Request, &SIGNER)
        .unwrap();
    assert_eq!(
        accept.verify_response(
            req.authenticator(),
            ReplyVector::Request,
            &Signer::new(b"wrong")
        ),
        Err(DecodeError::BadResponseAuthenticator)
    );
}

#[test]
fn rfc2865_7_2_chap_request_decodes() {
    let bytes = hex(RFC7_2_REQUEST);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.code(), Code::AccessRequest);
    assert_eq!(p.identifier(), 1);
    assert_eq!(p.attr_str(attrs::USER_NAME), Some("flopsy"));
    let chap = p.attr(attrs::CHAP_PASSWORD).unwrap();
    assert_eq!(chap.len(), 17);
    assert_eq!(chap[0], 0x16);
    assert_eq!(p.attr_u32(attrs::NAS_PORT), Ok(Some(20)));
    assert_eq!(p.attr_u32(attrs::SERVICE_TYPE), Ok(Some(2)));
    assert_eq!(p.attr_u32(attrs::FRAMED_PROTOCOL), Ok(Some(1)));
    assert_eq!(p.attr(attrs::CHAP_CHALLENGE), None);
    let types: Vec<u8> = p.attributes().map(|a| a.typ).collect();
    assert_eq!(types, [1, 3, 4, 5, 6, 7]);
}

#[test]
fn bytes_past_length_are_ignored() {
    let mut bytes = hex(RFC7_1_REQUEST);
    bytes.extend_from_slice(&[0xde, 0xad, 0, 0, 0]);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.as_bytes().len(), 0x38);
    assert_eq!(p.attributes().count(), 4);
}

/// A minimal packet: header with `code`, then `attrs` raw, Length set to fit.
fn raw(code: u8, attrs: &[u8]) -> Vec<u8> {
    let mut v = vec![code, 9, 0, 0];
    v.extend_from_slice(&[0x11; 16]);
    v.extend_from_slice(attrs);
    let len = v.len() as u16;
    v[2..4].copy_from_slice(&len.to_be_bytes());
    v
}

#[test]
fn every_decode_error_variant_has_its_reason() {
    let ma = |fill: u8| {
        let mut v = vec![80, 18];
        v.extend_from_slice(&[fill; 16]);
        v
    };
    let mut long = raw(1, &[]);
    long[2..4].copy_from_slice(&4097u16.to_be_bytes());
    let mut truncated = raw(1, &[1, 3, b'a']);
    truncated[2..4].copy_from_slice(&30u16.to_be_bytes());
    let mut short_len = raw(1, &[]);
    short_len[2..4].copy_from_slice(&19u16.to_be_bytes());
    let cases: Vec<(Vec<u8>, DecodeError, &str)> = vec![
        (vec![1, 0, 0, 20], DecodeError::ShortHeader, "short_header"),
        (vec![], DecodeError::ShortHeader, "short_header"),
        (long, DecodeError::BadLength(4097), "bad_length"),
        (short_len, DecodeError::BadLength(19), "bad_length"),
        (
            truncated,
            DecodeError::Truncated {
                length: 30,
                datagram: 23,
            },
            "truncated",
        ),
        (
            raw(1, &[1, 1]),
            DecodeError::AttributeTooShort { typ: 1, len: 1 },
            "attribute_too_short",
        ),
        (
            raw(1, &[5, 0, 0]),
            DecodeError::AttributeTooShort { typ: 5, len: 0 },
            "attribute_too_short",
        ),
        (
            raw(1, &[1, 9, b'a']),
            DecodeError::AttributeOverrun { typ: 1 },
            "attribute_overrun",
        ),
        (
            raw(1, &[1, 3, b'a', 7]),
            DecodeError::AttributeOverrun { typ: 7 },
            "attribute_overrun",
        ),
        (
            raw(1, &[0, 3, b'a']),
            DecodeError::AttributeTypeZero,
            "attribute_type_zero",
        ),
        (
            raw(1, &[26, 6, 0, 0, 0x3a, 0x8c]),
            DecodeError::BadVsa,
            "bad_vsa",
        ),
        (
            raw(1, &[26, 7, 0, 0, 0x3a, 0x8c, 8]),
            DecodeError::BadVsa,
            "bad_vsa",
        ),
        (
            raw(1, &[26, 9, 0, 0, 0x3a, 0x8c, 8, 4, b'x']),
            DecodeError::BadVsa,
            "bad_vsa",
        ),
        (
            raw(1, &[26, 9, 0, 0, 0x3a, 0x8c, 8, 1, b'x']),
            DecodeError::BadVsa,
            "bad_vsa",
        ),
        (
            raw(1, &[ma(0), ma(1)].concat()),
            DecodeError::DuplicateMessageAuthenticator,
            "duplicate_message_authenticator",
        ),
        (
            raw(1, &[80, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            DecodeError::BadMessageAuthenticatorLength,
            "bad_message_authenticator_length",
        ),
        (
            raw(13, &ma(0)),
            DecodeError::MisplacedMessageAuthenticator,
            "misplaced_message_authenticator",
        ),
        (
            raw(99, &ma(0)),
            DecodeError::MisplacedMessageAuthenticator,
            "misplaced_message_authenticator",
        ),
    ];
    for (bytes, want, reason) in cases {
        let got = Packet::decode(&bytes).unwrap_err();
        assert_eq!(got, want, "{bytes:02x?}");
        assert_eq!(got.reason(), reason);
    }
}

#[test]
fn verification_error_variants_have_their_reason() {
    // BadMessageAuthenticator.
    let mut b = PacketBuilder::new(Code::AccessRequest, 1).with_message_authenticator();
    b.add(attrs::USER_NAME, b"u").unwrap();
    let mut bytes = b.sign_access_request(&[5; 16], &SIGNER).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let e = Packet::decode(&bytes)
        .unwrap()
        .verify_message_authenticator(&SIGNER, None)
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.reason()),
        (
            DecodeError::BadMessageAuthenticator,
            "bad_message_authenticator"
        )
    );
    // BadRequestAuthenticator.
    let mut b = PacketBuilder::new(Code::AccountingRequest, 2);
    b.add_u32(ACCT_STATUS_TYPE, AcctStatus::Start.as_u32())
        .unwrap();
    let mut bytes = b.sign_computed_request(&SIGNER).unwrap();
    bytes[4] ^= 1;
    let e = Packet::decode(&bytes)
        .unwrap()
        .verify_request_authenticator(&SIGNER)
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.reason()),
        (
            DecodeError::BadRequestAuthenticator,
            "bad_request_authenticator"
        )
    );
    // BadResponseAuthenticator.
    let bytes = PacketBuilder::new(Code::AccessReject, 2)
        .sign_response(&[1; 16], ReplyVector::Request, &SIGNER)
        .unwrap();
    let e = Packet::decode(&bytes)
        .unwrap()
        .verify_response(&[2; 16], ReplyVector::Request, &SIGNER)
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.reason()),
        (
            DecodeError::BadResponseAuthenticator,
            "bad_response_authenticator"
        )
    );
    // BadPasswordLength via Packet::user_password.
    let bytes = raw(
        1,
        &[
            2,
            2 + 17,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            15,
            16,
            17,
        ],
    );
    let e = Packet::decode(&bytes)
        .unwrap()
        .user_password(&SIGNER)
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.reason()),
        (DecodeError::BadPasswordLength(17), "bad_password_length")
    );
    // BadValueLength via a typed getter.
    let bytes = raw(1, &[5, 5, 0, 0, 1]);
    let e = Packet::decode(&bytes)
        .unwrap()
        .attr_u32(attrs::NAS_PORT)
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.reason()),
        (DecodeError::BadValueLength, "bad_value_length")
    );
    // BadSaltEncrypted.
    let e = salt_decrypt(&[0x80, 0, 1], &[0; 16]).unwrap_err();
    assert_eq!(e.reason(), "bad_salt_encrypted");
    // MissingMessageAuthenticator is the handler's verdict; its label still exists.
    assert_eq!(
        DecodeError::MissingMessageAuthenticator.reason(),
        "missing_message_authenticator"
    );
}

#[test]
fn message_authenticator_allowed_in_every_defined_family() {
    for code in [1u8, 2, 3, 4, 5, 11, 12, 40, 41, 42, 43, 44, 45] {
        let mut ma = vec![80, 18];
        ma.extend_from_slice(&[0; 16]);
        let bytes = raw(code, &ma);
        let p = Packet::decode(&bytes).unwrap();
        assert!(p.has_message_authenticator(), "code {code}");
    }
    // Unknown codes without MA decode fine.
    let bytes = raw(200, &[1, 3, b'x']);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.code(), Code::Unknown(200));
}

#[test]
fn reply_ma_first_and_sign_verify_round_trip_for_each_family() {
    let replies = [
        (Code::AccessRequest, Code::AccessAccept),
        (Code::AccessRequest, Code::AccessReject),
        (Code::AccessRequest, Code::AccessChallenge),
        (Code::StatusServer, Code::AccessAccept),
        (Code::StatusServer, Code::AccountingResponse),
        (Code::AccountingRequest, Code::AccountingResponse),
        (Code::CoaRequest, Code::CoaAck),
        (Code::CoaRequest, Code::CoaNak),
        (Code::DisconnectRequest, Code::DisconnectAck),
        (Code::DisconnectRequest, Code::DisconnectNak),
    ];
    for (req_code, reply_code) in replies {
        let mut rb = PacketBuilder::new(req_code, 42).with_message_authenticator();
        rb.add(attrs::USER_NAME, b"alice").unwrap();
        rb.add(attrs::PROXY_STATE, b"ps-one").unwrap();
        rb.add(attrs::NAS_PORT, &[0, 0, 0, 1]).unwrap();
        rb.add(attrs::PROXY_STATE, b"ps-two").unwrap();
        let req_bytes = if req_code.has_computed_request_authenticator() {
            rb.sign_computed_request(&SIGNER).unwrap()
        } else {
            rb.sign_access_request(&[0x5a; 16], &SIGNER).unwrap()
        };
        let req = Packet::decode(&req_bytes).unwrap();
        assert_eq!(
            req.verify_message_authenticator(&SIGNER, None),
            Ok(true),
            "{req_code}"
        );
        assert_eq!(
            req.verify_message_authenticator(&Signer::new(b"nope"), None),
            Err(DecodeError::BadMessageAuthenticator)
        );
        if req_code.has_computed_request_authenticator() {
            req.verify_request_authenticator(&SIGNER).unwrap();
            assert!(
                req.verify_request_authenticator(&Signer::new(b"nope"))
                    .is_err()
            );
        }

        let mut b = PacketBuilder::reply(&req, reply_code);
        b.add_u32(attrs::SESSION_TIMEOUT, 3600).unwrap();
        b.add_vendor(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT, b"1M/2M")
            .unwrap();
        // Request authenticator for the MA, except Accounting-Response to Accounting-Request.
        let vector = ReplyVector::for_request(req_code);
        let out = b
            .sign_response(req.authenticator(), vector, &SIGNER)
            .unwrap();
        let reply = Packet::decode(&out).unwrap();
        assert_eq!(reply.code(), reply_code);
        assert_eq!(reply.identifier(), 42);
        let first = reply.attributes().next().unwrap();
        assert_eq!(first.typ, MESSAGE_AUTHENTICATOR, "MA first in {reply_code}");
        let ps: Vec<&[u8]> = reply.attrs(attrs::PROXY_STATE).collect();
        assert_eq!(ps, [&b"ps-one"[..], b"ps-two"]);
        reply
            .verify_response(req.authenticator(), vector, &SIGNER)
            .unwrap();
        assert_eq!(
            reply.verify_message_authenticator(&SIGNER, Some(vector.bytes(req.authenticator()))),
            Ok(true)
        );
        let wrong = match vector {
            ReplyVector::Request => &[0; 16],
            ReplyVector::Zero => req.authenticator(),
        };
        assert_eq!(
            reply.verify_message_authenticator(&SIGNER, Some(wrong)),
            Err(DecodeError::BadMessageAuthenticator)
        );
        assert_eq!(
            reply.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
            Some(&b"1M/2M"[..])
        );
    }
}

#[test]
fn vsa_with_several_sub_attributes_and_opaque_vendors() {
    // MikroTik VSA holding two sub-attributes.
    let vsa = [
        26, 18, 0, 0, 0x3a, 0x8c, 8, 5, b'1', b'M', b'!', 3, 5, b'g', b'r', b'p', 10, 2,
    ];
    let bytes = raw(2, &vsa);
    let p = Packet::decode(&bytes).unwrap();
    let subs: Vec<(u32, u8, &[u8])> = p
        .vendor_attributes()
        .map(|v| (v.vendor, v.typ, v.value))
        .collect();
    assert_eq!(
        subs,
        [
            (14988, 8, &b"1M!"[..]),
            (14988, 3, &b"grp"[..]),
            (14988, 10, &b""[..])
        ]
    );
    assert_eq!(p.vendor_attr(14988, 3), Some(&b"grp"[..]));
    assert_eq!(p.vendor_attr(311, 3), None);
    // Lucent (4846) uses a 2-octet type: kept opaque, not validated, yields nothing.
    let lucent = [26, 10, 0, 0, 0x12, 0xee, 0, 1, 4, 0xff];
    let bytes = raw(2, &lucent);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.vendor_attributes().count(), 0);
    let v = p.find(26).unwrap().vendor_attributes().unwrap();
    assert_eq!(v.vendor(), 4846);
    // Opaque vendor still needs at least one payload byte.
    assert_eq!(
        Packet::decode(&raw(2, &[26, 6, 0, 0, 0x12, 0xee])).unwrap_err(),
        DecodeError::BadVsa
    );
}

/// Packets captured from FreeRADIUS 3.2.1 `radclient` (secret "testing123", each with
/// `Message-Authenticator = 0x00` so radclient signs it): our verification must accept them.
/// Generated with e.g. `printf 'User-Name = "alice"\nAcct-Status-Type = Start\n…' |
/// radclient 127.0.0.1:PORT acct testing123` against a UDP capture socket.
const RADCLIENT_ACCT: &str = "0463003da342ae31a9e613fac19be0f902e9906c0107616c6963652806000000012c0a38313030303030615012e62f0beb394f3a2aa765781c51faa85e";
const RADCLIENT_COA: &str = "2bfb003a4fc08e632145f45bb78d08bb988ea6bf0107616c6963651a0d00003a8c0807324d2f344d50123d4b331eddba8f19a3bcdf53f68ca675";
const RADCLIENT_DISCONNECT: &str =
    "28b6002da49153d51da708336d5003c30ca64caa0107616c6963655012dd090fb2101b3e28b2b24c9d8cbaa589";
const RADCLIENT_AUTH: &str = "01e7003f76b7d2bc1b0256b885017f50d2bd3cfb0107616c6963650212fe7c050429e8b4a8d4afa30550c1c2515012c073e79c2b246d0e893a9d756677aa9a";

#[test]
fn radclient_packets_verify() {
    let signer = Signer::new(b"testing123");
    for (hexp, code) in [
        (RADCLIENT_ACCT, Code::AccountingRequest),
        (RADCLIENT_COA, Code::CoaRequest),
        (RADCLIENT_DISCONNECT, Code::DisconnectRequest),
    ] {
        let bytes = hex(hexp);
        let p = Packet::decode(&bytes).unwrap();
        assert_eq!(p.code(), code);
        assert!(p.has_message_authenticator());
        p.verify_request_authenticator(&signer).unwrap();
        assert_eq!(
            p.verify_message_authenticator(&signer, None),
            Ok(true),
            "{code}"
        );
        assert_eq!(p.attr_str(attrs::USER_NAME), Some("alice"));
    }
    let coa = hex(RADCLIENT_COA);
    let coa = Packet::decode(&coa).unwrap();
    assert_eq!(
        coa.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
        Some(&b"2M/4M"[..])
    );

    let bytes = hex(RADCLIENT_AUTH);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.verify_message_authenticator(&signer, None), Ok(true));
    assert_eq!(
        p.user_password(&signer).unwrap().unwrap().as_bytes(),
        b"hunter2"
    );
}
