//! Codec benchmarks (criterion): our zero-copy codec against the `radius` 0.4.0 crate on a
//! typical MikroTik hotspot Access-Request and the Access-Accept we send back.
//!
//! Operations (each benched as `<op>/ours` and `<op>/radius`):
//! - `decode`: datagram → packet, then look up User-Name and Calling-Station-Id.
//! - `verify_ma`: verify the request's Message-Authenticator. The `radius` crate has no
//!   HMAC support, so its side copies the datagram, zeroes the MA found by a TLV scan and
//!   runs HMAC-MD5 (the same `hmac` + `md-5` crates we use): that is what a user of that
//!   crate would have to write.
//! - `unhide_pap`: look up and unhide User-Password.
//! - `build_sign_accept`: Access-Accept with Message-Authenticator first and 6 reply
//!   attributes (Mikrotik-Rate-Limit, Session-Timeout, Acct-Interim-Interval, Idle-Timeout,
//!   Class, Mikrotik-Group). The `radius` side builds and encodes with the crate, then
//!   fills the MA (HMAC-MD5 with the request authenticator in place) and recomputes the
//!   Response Authenticator over its encoded bytes, as RFC 3579 requires.
//! - `pipeline`: decode + verify MA + build + sign.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use radius::core::avp::AVP;
use radius::core::code::Code as RCode;
use radius::core::packet::Packet as RPacket;
use radius::core::rfc2865;
use radius_proto::protocol::attrs::{self, mikrotik, wispr};
use radius_proto::protocol::{Code, Packet, PacketBuilder, ReplyVector, Signer, crypto};

const SECRET: &[u8] = b"mikrotik-shared-secret";
/// The NAS secret prepared once, as the server does per NAS entry.
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));
const REQUEST_AUTH: [u8; 16] = [
    0x6d, 0x1e, 0x2a, 0x95, 0x02, 0x44, 0xc1, 0x7f, 0x3b, 0x90, 0x12, 0xee, 0x58, 0x07, 0xaa, 0x31,
];
const CLASS: &[u8] = b"profile:default-1h/session:8f3a9c21";

/// A typical MikroTik hotspot Access-Request (PAP) with Message-Authenticator.
fn hotspot_request() -> Vec<u8> {
    let mut b = PacketBuilder::new(Code::AccessRequest, 0x8c).with_message_authenticator();
    b.add(attrs::SERVICE_TYPE, &1u32.to_be_bytes()).unwrap(); // Login-User
    b.add(attrs::USER_NAME, b"guest-4821").unwrap();
    b.add_user_password(b"pass1234", &SIGNER, &REQUEST_AUTH)
        .unwrap();
    b.add(attrs::CALLING_STATION_ID, b"AA:BB:CC:DD:EE:FF")
        .unwrap();
    b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
    b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap(); // Wireless-802.11
    b.add_u32(attrs::NAS_PORT, 2_149_580_805).unwrap();
    b.add(attrs::ACCT_SESSION_ID, b"80b00003").unwrap();
    b.add(attrs::FRAMED_IP_ADDRESS, &[10, 5, 50, 200]).unwrap();
    b.add_vendor(
        wispr::VENDOR_ID,
        wispr::LOGOFF_URL,
        b"http://10.5.50.1/logout",
    )
    .unwrap();
    b.add_vendor(mikrotik::VENDOR_ID, mikrotik::HOST_IP, &[10, 5, 50, 200])
        .unwrap();
    b.add(attrs::NAS_IDENTIFIER, b"MikroTik-HS-01").unwrap();
    b.add(attrs::NAS_IP_ADDRESS, &[192, 168, 88, 1]).unwrap();
    b.sign_access_request(&REQUEST_AUTH, &SIGNER).unwrap()
}

fn vsa(vendor: u32, typ: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vendor.to_be_bytes().to_vec();
    v.extend_from_slice(&[typ, 2 + value.len() as u8]);
    v.extend_from_slice(value);
    v
}

// ---- ours ----

fn ours_decode(dgram: &[u8]) -> usize {
    let p = Packet::decode(dgram).unwrap();
    p.attr(attrs::USER_NAME).map_or(0, <[u8]>::len)
        + p.attr(attrs::CALLING_STATION_ID).map_or(0, <[u8]>::len)
}

fn ours_build_sign(req: &Packet<'_>) -> Vec<u8> {
    let mut b = PacketBuilder::reply(req, Code::AccessAccept);
    b.add_vendor(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT, b"2M/4M")
        .unwrap();
    b.add_u32(attrs::SESSION_TIMEOUT, 3600).unwrap();
    b.add_u32(attrs::ACCT_INTERIM_INTERVAL, 300).unwrap();
    b.add_u32(attrs::IDLE_TIMEOUT, 600).unwrap();
    b.add(attrs::CLASS, CLASS).unwrap();
    b.add_vendor(mikrotik::VENDOR_ID, mikrotik::GROUP, b"hotspot-default")
        .unwrap();
    b.sign_response(req.authenticator(), ReplyVector::Request, &SIGNER)
        .unwrap()
}

fn ours_pipeline(dgram: &[u8]) -> Vec<u8> {
    let req = Packet::decode(dgram).unwrap();
    assert!(req.verify_message_authenticator(&SIGNER, None).unwrap());
    ours_build_sign(&req)
}

// ---- radius crate (+ hmac/md-5 for the Message-Authenticator it lacks) ----

fn radius_decode(dgram: &[u8]) -> usize {
    let p = RPacket::decode(dgram, SECRET).unwrap();
    rfc2865::lookup_user_name(&p).unwrap().unwrap().len()
        + rfc2865::lookup_calling_station_id(&p)
            .unwrap()
            .unwrap()
            .len()
}

/// Offset of the MA value in an encoded packet (the crate exposes no offsets).
fn ma_offset(bytes: &[u8]) -> Option<usize> {
    let mut pos = 20;
    while pos + 2 <= bytes.len() {
        let len = usize::from(bytes[pos + 1]);
        if bytes[pos] == attrs::MESSAGE_AUTHENTICATOR && len == 18 {
            return Some(pos + 2);
        }
        if len < 2 {
            return None;
        }
        pos += len;
    }
    None
}

fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn radius_verify_ma(p: &RPacket, dgram: &[u8]) -> bool {
    let got = p
        .lookup(attrs::MESSAGE_AUTHENTICATOR)
        .unwrap()
        .encode_bytes();
    let mut copy = dgram.to_vec();
    let off = ma_offset(&copy).unwrap();
    copy[off..off + 16].fill(0);
    crypto::ct_eq(&hmac_md5(SECRET, &copy), &got)
}

fn radius_build_sign(req: &RPacket) -> Vec<u8> {
    let mut r = req.make_response_packet(RCode::AccessAccept);
    r.add(AVP::from_bytes(attrs::MESSAGE_AUTHENTICATOR, &[0; 16]));
    r.add(AVP::from_bytes(
        26,
        &vsa(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT, b"2M/4M"),
    ));
    r.add(AVP::from_u32(attrs::SESSION_TIMEOUT, 3600));
    r.add(AVP::from_u32(attrs::ACCT_INTERIM_INTERVAL, 300));
    r.add(AVP::from_u32(attrs::IDLE_TIMEOUT, 600));
    r.add(AVP::from_bytes(attrs::CLASS, CLASS));
    r.add(AVP::from_bytes(
        26,
        &vsa(mikrotik::VENDOR_ID, mikrotik::GROUP, b"hotspot-default"),
    ));
    let mut bytes = r.encode().unwrap();
    // MA with the request authenticator in place, then the Response Authenticator again.
    bytes[4..20].copy_from_slice(req.get_authenticator());
    let mac = hmac_md5(SECRET, &bytes);
    bytes[22..38].copy_from_slice(&mac);
    let ra: [u8; 16] = Md5::new()
        .chain_update(&bytes)
        .chain_update(SECRET)
        .finalize()
        .into();
    bytes[4..20].copy_from_slice(&ra);
    bytes
}

fn radius_pipeline(dgram: &[u8]) -> Vec<u8> {
    let req = RPacket::decode(dgram, SECRET).unwrap();
    assert!(radius_verify_ma(&req, dgram));
    radius_build_sign(&req)
}

fn configure<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g
}

fn codec(c: &mut Criterion) {
    let dgram = hotspot_request();
    let ours_req = Packet::decode(&dgram).unwrap();
    let their_req = RPacket::decode(&dgram, SECRET).unwrap();

    // Both sides produce the same, valid reply.
    let a = ours_build_sign(&ours_req);
    let b = radius_build_sign(&their_req);
    assert_eq!(a, b, "both builders produce the same Access-Accept");
    Packet::decode(&a)
        .unwrap()
        .verify_response(&REQUEST_AUTH, ReplyVector::Request, &SIGNER)
        .unwrap();
    assert!(radius_verify_ma(&their_req, &dgram));
    assert_eq!(
        ours_req.user_password(&SIGNER).unwrap().unwrap().as_bytes(),
        &rfc2865::lookup_user_password(&their_req).unwrap().unwrap()[..]
    );

    let mut g = configure(c, "decode");
    g.bench_function("ours", |b| b.iter(|| ours_decode(black_box(&dgram))));
    g.bench_function("radius", |b| b.iter(|| radius_decode(black_box(&dgram))));
    g.finish();

    let mut g = configure(c, "verify_ma");
    g.bench_function("ours", |b| {
        b.iter(|| {
            black_box(&ours_req)
                .verify_message_authenticator(&SIGNER, None)
                .unwrap()
        })
    });
    g.bench_function("radius", |b| {
        b.iter(|| radius_verify_ma(black_box(&their_req), black_box(&dgram)))
    });
    g.finish();

    let mut g = configure(c, "unhide_pap");
    g.bench_function("ours", |b| {
        b.iter(|| black_box(&ours_req).user_password(&SIGNER).unwrap())
    });
    g.bench_function("radius", |b| {
        b.iter(|| {
            rfc2865::lookup_user_password(black_box(&their_req))
                .unwrap()
                .unwrap()
        })
    });
    g.finish();

    let mut g = configure(c, "build_sign_accept");
    g.bench_function("ours", |b| b.iter(|| ours_build_sign(black_box(&ours_req))));
    g.bench_function("radius", |b| {
        b.iter(|| radius_build_sign(black_box(&their_req)))
    });
    g.finish();

    let mut g = configure(c, "pipeline");
    g.bench_function("ours", |b| b.iter(|| ours_pipeline(black_box(&dgram))));
    g.bench_function("radius", |b| b.iter(|| radius_pipeline(black_box(&dgram))));
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
