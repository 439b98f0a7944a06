//! Credential-check benchmarks: CHAP, MS-CHAPv2 (full server work) and PAP, each as
//! decode + verify, next to the closest equivalent through the `radius` crate 0.4.0.
//!
//! The `radius` crate has no CHAP or MS-CHAP verification: for CHAP its decode extracts the
//! attributes and the MD5 response is computed with the same `md-5` crate we use, so the
//! comparison is decode + verify against decode + verify. It cannot decode Vendor-Specific
//! sub-attributes, so there is no MS-CHAPv2 equivalent (reported as n/a).

use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{Criterion, criterion_group, criterion_main};
use md5::{Digest, Md5};
use radius_proto::auth::{self, Credential, Verdict, chap, mschapv2};
use radius_proto::protocol::attrs::{self, microsoft as ms};
use radius_proto::protocol::{Packet, Secret, Signer, crypto};

const SECRET: &[u8] = b"testing123-bench";
/// The NAS secret prepared once, as the server does per NAS entry.
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));
const AUTH: [u8; 16] = *b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00";
const AUTH_CHALLENGE: [u8; 16] = *b"auth-challenge16";
const PEER_CHALLENGE: [u8; 16] = *b"peer-challenge16";
const PASSWORD: &[u8] = b"correct horse battery";
const USER: &[u8] = b"alice@example.net";

/// A hand-encoded Access-Request (independent of both codecs under test).
fn access_request(attributes: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![1u8, 7, 0, 0];
    out.extend_from_slice(&AUTH);
    for (typ, value) in attributes {
        out.push(*typ);
        out.push(u8::try_from(value.len() + 2).expect("short value"));
        out.extend_from_slice(value);
    }
    let len = u16::try_from(out.len())
        .expect("short packet")
        .to_be_bytes();
    out[2..4].copy_from_slice(&len);
    out
}

fn vsa(vendor: u32, typ: u8, value: &[u8]) -> (u8, Vec<u8>) {
    let mut v = vendor.to_be_bytes().to_vec();
    v.push(typ);
    v.push(u8::try_from(value.len() + 2).expect("short value"));
    v.extend_from_slice(value);
    (attrs::VENDOR_SPECIFIC, v)
}

/// Attributes a MikroTik hotspot typically sends besides the credentials.
fn common() -> Vec<(u8, Vec<u8>)> {
    vec![
        (attrs::USER_NAME, USER.to_vec()),
        (attrs::NAS_IP_ADDRESS, vec![10, 0, 0, 1]),
        (attrs::NAS_PORT, 0x8010_0000_u32.to_be_bytes().to_vec()),
        (attrs::CALLING_STATION_ID, b"AA:BB:CC:00:11:22".to_vec()),
        (attrs::CALLED_STATION_ID, b"hotspot1".to_vec()),
        (attrs::NAS_IDENTIFIER, b"MikroTik".to_vec()),
    ]
}

fn bench_chap(c: &mut Criterion) {
    let challenge = *b"0123456789abcdef";
    let mut a = common();
    a.push((
        attrs::CHAP_PASSWORD,
        chap::chap_password(5, PASSWORD, &challenge).to_vec(),
    ));
    a.push((attrs::CHAP_CHALLENGE, challenge.to_vec()));
    let bytes = access_request(&a);
    let credential = Credential::Cleartext(Secret::new(PASSWORD));

    let mut g = c.benchmark_group("chap");
    g.bench_function("hotspot-radius decode+check", |b| {
        b.iter(|| {
            let packet = Packet::decode(black_box(&bytes)).expect("decode");
            let verdict = auth::check(&packet, &SIGNER, &credential, [0; 4]);
            assert!(matches!(verdict, Verdict::Accept(_)));
        })
    });
    g.bench_function("hotspot-radius chap::verify only", |b| {
        let value = chap::chap_password(5, PASSWORD, &challenge);
        b.iter(|| assert!(chap::verify(black_box(&value), &challenge, PASSWORD)))
    });
    g.bench_function("radius-0.4.0 decode+md5 verify", |b| {
        b.iter(|| {
            let packet =
                radius::core::packet::Packet::decode(black_box(&bytes), SECRET).expect("decode");
            let value = radius::core::rfc2865::lookup_chap_password(&packet).expect("chap");
            let challenge = radius::core::rfc2865::lookup_chap_challenge(&packet)
                .unwrap_or_else(|| packet.get_authenticator().clone());
            let (ident, response) = value.split_first().expect("17 bytes");
            let expected: [u8; 16] = Md5::new()
                .chain_update([*ident])
                .chain_update(PASSWORD)
                .chain_update(&challenge)
                .finalize()
                .into();
            assert!(crypto::ct_eq(&expected, response));
        })
    });
    g.finish();
}

fn bench_mschapv2(c: &mut Criterion) {
    let response = mschapv2::client_response(3, &AUTH_CHALLENGE, &PEER_CHALLENGE, USER, PASSWORD);
    let mut a = common();
    a.push(vsa(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &AUTH_CHALLENGE));
    a.push(vsa(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &response));
    let bytes = access_request(&a);
    let credential = Credential::Cleartext(Secret::new(PASSWORD));

    let mut g = c.benchmark_group("mschapv2");
    g.bench_function("hotspot-radius decode+check (full)", |b| {
        b.iter(|| {
            let packet = Packet::decode(black_box(&bytes)).expect("decode");
            let verdict = auth::check(&packet, &SIGNER, &credential, [1, 2, 3, 4]);
            assert!(matches!(verdict, Verdict::Accept(ref v) if v.len() == 5));
        })
    });
    g.bench_function("hotspot-radius primitives only", |b| {
        let nt = mschapv2::generate_nt_response(&AUTH_CHALLENGE, &PEER_CHALLENGE, USER, PASSWORD);
        b.iter(|| {
            let hash = mschapv2::nt_hash(black_box(PASSWORD));
            assert!(mschapv2::verify(
                &AUTH_CHALLENGE,
                &PEER_CHALLENGE,
                USER,
                &hash,
                &nt
            ));
            let s = mschapv2::authenticator_response(
                &hash,
                &nt,
                &PEER_CHALLENGE,
                &AUTH_CHALLENGE,
                USER,
            );
            black_box((s, mschapv2::mppe_keys(&hash, &nt)))
        })
    });
    g.finish();
}

fn bench_pap(c: &mut Criterion) {
    let mut hidden =
        vec![0; radius_proto::protocol::hidden_password_len(PASSWORD.len()).expect("len")];
    SIGNER
        .hide_password(PASSWORD, &AUTH, &mut hidden)
        .expect("hide");
    let mut a = common();
    a.push((attrs::USER_PASSWORD, hidden));
    let bytes = access_request(&a);
    let credential = Credential::Cleartext(Secret::new(PASSWORD));

    let mut g = c.benchmark_group("pap");
    g.bench_function("hotspot-radius decode+check cleartext", |b| {
        b.iter(|| {
            let packet = Packet::decode(black_box(&bytes)).expect("decode");
            let verdict = auth::check(&packet, &SIGNER, &credential, [0; 4]);
            assert!(matches!(verdict, Verdict::Accept(_)));
        })
    });
    g.bench_function("radius-0.4.0 decode+unhide+compare", |b| {
        b.iter(|| {
            let packet =
                radius::core::packet::Packet::decode(black_box(&bytes), SECRET).expect("decode");
            let password = radius::core::rfc2865::lookup_user_password(&packet)
                .expect("present")
                .expect("valid");
            assert!(crypto::ct_eq(&password, PASSWORD));
        })
    });
    g.finish();

    // Stored-hash cost, for choosing a Crypt-Password format (no `radius` equivalent).
    let mut g = c.benchmark_group("pap-crypt");
    g.sample_size(10);
    for (name, hash) in [
        (
            "md5-crypt $1$",
            auth::crypt::md5_crypt(PASSWORD, b"8saltchr"),
        ),
        (
            "sha512-crypt $6$ rounds=5000",
            sha_crypt::sha512_simple(
                std::str::from_utf8(PASSWORD).expect("utf8"),
                &sha_crypt::Sha512Params::default(),
            )
            .expect("hash"),
        ),
        ("bcrypt $2y$ cost 10", {
            let h = bcrypt::hash(PASSWORD, 10).expect("hash");
            h.replacen("$2b$", "$2y$", 1)
        }),
    ] {
        let credential = Credential::Crypt(Secret::from(hash));
        g.bench_function(name, |b| {
            b.iter(|| assert!(auth::pap::verify(black_box(PASSWORD), &credential)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_chap, bench_mschapv2, bench_pap);
criterion_main!(benches);
