//! Property-style robustness test for `Packet::decode`: seeded random datagrams and
//! mutations of valid packets (bit flips, truncation, Length-field and attribute-length
//! edits, insertions, deletions). Decoding must never panic; whenever it succeeds, the
//! accessors must not panic either, and re-encoding the attributes with `PacketBuilder`
//! and decoding again must give identical attributes. Bounded: a fixed iteration count.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use radius_proto::protocol::attrs::{self, mikrotik, wispr};
use radius_proto::protocol::{
    AcctStatus, Attribute, Code, Packet, PacketBuilder, ReplyVector, Signer, VendorAttribute,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const ITERATIONS: usize = 200_000;
const SECRET: &[u8] = b"robustness-secret";
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));

/// A handful of valid packets covering every code family, VSAs, MA, passwords.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let auth = [0x42u8; 16];

    let mut b = PacketBuilder::new(Code::AccessRequest, 1).with_message_authenticator();
    b.add(attrs::USER_NAME, b"aa:bb:cc:dd:ee:ff").unwrap();
    b.add_user_password(b"secret-pw", &SIGNER, &auth).unwrap();
    b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
    b.add(attrs::NAS_IP_ADDRESS, &[10, 0, 0, 1]).unwrap();
    b.add_u32(attrs::NAS_PORT, 15728642).unwrap();
    b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
    b.add(attrs::CALLING_STATION_ID, b"AA:BB:CC:DD:EE:FF")
        .unwrap();
    b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
    b.add_vendor(
        wispr::VENDOR_ID,
        wispr::LOGOFF_URL,
        b"http://10.5.50.1/logout",
    )
    .unwrap();
    b.add_vendor(mikrotik::VENDOR_ID, mikrotik::HOST_IP, &[10, 5, 50, 2])
        .unwrap();
    out.push(b.sign_access_request(&auth, &SIGNER).unwrap());

    let mut b = PacketBuilder::new(Code::AccountingRequest, 2);
    b.add_u32(attrs::ACCT_STATUS_TYPE, AcctStatus::InterimUpdate.as_u32())
        .unwrap();
    b.add(attrs::ACCT_SESSION_ID, b"81a0000b").unwrap();
    b.add_u32(attrs::ACCT_INPUT_OCTETS, 123_456).unwrap();
    b.add_u32(attrs::ACCT_OUTPUT_GIGAWORDS, 1).unwrap();
    out.push(b.sign_computed_request(&SIGNER).unwrap());

    let mut b = PacketBuilder::new(Code::CoaRequest, 3).with_message_authenticator();
    b.add(attrs::USER_NAME, b"alice").unwrap();
    // One VSA with two sub-attributes, written raw.
    b.add_raw(&[
        26, 16, 0, 0, 0x3a, 0x8c, 8, 5, b'1', b'M', b'!', 3, 3, b'g', 19, 2,
    ])
    .unwrap();
    b.add(attrs::PROXY_STATE, b"\x00\x01\x02").unwrap();
    out.push(b.sign_computed_request(&SIGNER).unwrap());

    let mut b = PacketBuilder::new(Code::AccessAccept, 4).with_message_authenticator();
    b.add_u32(attrs::SESSION_TIMEOUT, 3600).unwrap();
    b.add(attrs::CLASS, &[0xff; 40]).unwrap();
    b.add(241, &[1, 2, 3, 4]).unwrap(); // RFC 6929 extended type, opaque
    b.add_raw(&[26, 10, 0, 0, 0x12, 0xee, 0, 1, 4, 0xff])
        .unwrap(); // Lucent, opaque
    out.push(
        b.sign_response(&auth, ReplyVector::Request, &SIGNER)
            .unwrap(),
    );

    out.push(
        PacketBuilder::new(Code::StatusServer, 5)
            .with_message_authenticator()
            .sign_access_request(&auth, &SIGNER)
            .unwrap(),
    );
    out.push(
        PacketBuilder::new(Code::DisconnectNak, 6)
            .sign_response(&auth, ReplyVector::Request, &SIGNER)
            .unwrap(),
    );
    out.push(
        PacketBuilder::new(Code::Unknown(77), 7)
            .sign_response(&auth, ReplyVector::Request, &SIGNER)
            .unwrap(),
    );
    out
}

/// Offsets of attribute headers in a (possibly mutated) packet, following length octets.
fn attribute_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut pos = 20;
    while pos + 1 < bytes.len() {
        v.push(pos);
        let len = usize::from(bytes[pos + 1]);
        if len < 2 {
            break;
        }
        pos += len;
    }
    v
}

fn set_length_field(bytes: &mut [u8], len: usize) {
    if bytes.len() >= 4 {
        bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    }
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut p = seed.to_vec();
    let rounds = rng.random_range(1..=3);
    for _ in 0..rounds {
        match rng.random_range(0..8) {
            0 => {
                // bit flips
                for _ in 0..rng.random_range(1..=4) {
                    if !p.is_empty() {
                        let i = rng.random_range(0..p.len());
                        p[i] ^= 1 << rng.random_range(0..8);
                    }
                }
            }
            1 => {
                // truncate
                let n = rng.random_range(0..=p.len());
                p.truncate(n);
            }
            2 => {
                // truncate and keep the Length field consistent
                let n = rng.random_range(20.min(p.len())..=p.len());
                p.truncate(n);
                set_length_field(&mut p, n);
            }
            3 => {
                // Length-field edit
                let len = match rng.random_range(0..4) {
                    0 => rng.random_range(0..=u16::MAX as usize),
                    1 => p.len() + rng.random_range(0..4),
                    2 => p.len().saturating_sub(rng.random_range(0..8)),
                    _ => rng.random_range(0..=4097),
                };
                set_length_field(&mut p, len);
            }
            4 => {
                // attribute-length edit
                let offs = attribute_offsets(&p);
                if !offs.is_empty() {
                    let o = offs[rng.random_range(0..offs.len())];
                    p[o + 1] = match rng.random_range(0..3) {
                        0 => rng.random_range(0..3),
                        1 => p[o + 1].wrapping_add(rng.random_range(1..4)),
                        _ => rng.random(),
                    };
                }
            }
            5 => {
                // attribute-type edit (e.g. create a second Message-Authenticator or VSA)
                let offs = attribute_offsets(&p);
                if !offs.is_empty() {
                    let o = offs[rng.random_range(0..offs.len())];
                    p[o] = [0, 26, 80, 2, 241, rng.random()][rng.random_range(0..6)];
                }
            }
            6 => {
                // insert bytes, then fix Length half of the time
                let at = rng.random_range(0..=p.len());
                let n = rng.random_range(1..8);
                let ins: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                p.splice(at..at, ins);
                if rng.random_bool(0.5) {
                    let l = p.len();
                    set_length_field(&mut p, l);
                }
            }
            _ => {
                // change the code octet
                if !p.is_empty() {
                    p[0] = [1, 2, 4, 5, 11, 12, 13, 40, 43, 45, 0, 255][rng.random_range(0..12)];
                }
            }
        }
    }
    p
}

fn random_datagram(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(0..300);
    let mut p: Vec<u8> = (0..n).map(|_| rng.random()).collect();
    if rng.random_bool(0.7) {
        set_length_field(&mut p, n);
    }
    p
}

/// Exercise every accessor; none may panic on a decoded packet.
fn poke(p: &Packet<'_>) {
    let _ = p.verify_message_authenticator(&SIGNER, None);
    let _ = p.verify_message_authenticator(&SIGNER, Some(&[1; 16]));
    let _ = p.verify_request_authenticator(&SIGNER);
    let _ = p.verify_response(&[1; 16], ReplyVector::Request, &SIGNER);
    let _ = p.user_password(&SIGNER);
    let _ = p.attr_u32(attrs::NAS_PORT);
    let _ = p.attr_str(attrs::USER_NAME);
    let _ = p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT);
    for a in p.attributes() {
        let _ = (a.as_u32(), a.as_ipv4(), a.as_str());
    }
}

/// Decode → re-encode with `PacketBuilder` → decode: attributes, code, identifier and
/// authenticator survive, and the bytes are identical.
fn check_round_trip(p: &Packet<'_>) {
    let attrs: Vec<Attribute<'_>> = p.attributes().collect();
    let covered: usize = attrs.iter().map(|a| 2 + a.value.len()).sum();
    assert_eq!(
        covered + 20,
        p.as_bytes().len(),
        "attributes tile the packet"
    );
    let vsas: Vec<VendorAttribute<'_>> = p.vendor_attributes().collect();

    let mut b = PacketBuilder::new(p.code(), p.identifier());
    for a in &attrs {
        b.add(a.typ, a.value).expect("decoded attributes re-encode");
    }
    // sign_access_request only sets Length and the authenticator (no MA reserved).
    let bytes = b.sign_access_request(p.authenticator(), &SIGNER).unwrap();
    assert_eq!(bytes, p.as_bytes());
    let q = Packet::decode(&bytes).expect("re-encoded packet decodes");
    assert_eq!(q.code(), p.code());
    assert_eq!(q.identifier(), p.identifier());
    assert_eq!(q.authenticator(), p.authenticator());
    assert_eq!(q.attributes().collect::<Vec<_>>(), attrs);
    assert_eq!(q.vendor_attributes().collect::<Vec<_>>(), vsas);
    assert_eq!(q.has_message_authenticator(), p.has_message_authenticator());
}

#[test]
fn decode_never_panics_and_round_trips() {
    let seeds = seeds();
    for s in &seeds {
        let p = Packet::decode(s).expect("seed decodes");
        check_round_trip(&p);
    }
    let mut rng = StdRng::seed_from_u64(0x5EED_2865);
    let mut ok = 0usize;
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    for i in 0..ITERATIONS {
        let datagram = if i % 4 == 0 {
            random_datagram(&mut rng)
        } else {
            let s = &seeds[rng.random_range(0..seeds.len())];
            mutate(&mut rng, s)
        };
        match Packet::decode(&datagram) {
            Ok(p) => {
                ok += 1;
                poke(&p);
                check_round_trip(&p);
            }
            Err(e) => *reasons.entry(e.reason()).or_default() += 1,
        }
    }
    // The generator must exercise both outcomes and the layout checks; if it stops doing
    // so this test is no longer testing anything.
    assert!(
        ok > ITERATIONS / 20,
        "only {ok} decodes succeeded; reasons: {reasons:?}"
    );
    for reason in [
        "short_header",
        "bad_length",
        "truncated",
        "attribute_too_short",
        "attribute_overrun",
        "attribute_type_zero",
        "bad_vsa",
        "duplicate_message_authenticator",
        "bad_message_authenticator_length",
        "misplaced_message_authenticator",
    ] {
        assert!(
            reasons.contains_key(reason),
            "{reason} never produced: {reasons:?}"
        );
    }
}
