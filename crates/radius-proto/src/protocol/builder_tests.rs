//! Tests for `PacketBuilder`: Message-Authenticator placement checked against an
//! independent HMAC, size limits, password and salt-encrypted attributes, buffer reuse,
//! and a differential check of Response Authenticators against the `radius` crate.

use std::sync::LazyLock;

use hmac::{Hmac, KeyInit, Mac};

use super::*;
use crate::protocol::{DecodeError, ReplyVector, attrs, crypto};

const SECRET: &[u8] = b"xyzzy5461";
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));

/// HMAC-MD5 straight from the `hmac` crate: an independent check of the Signer.
fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<md5::Md5> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Decrypt a salt-encrypted value into a fresh Vec.
fn salt_decrypt(value: &[u8], auth: &[u8; 16]) -> Result<Vec<u8>, DecodeError> {
    SIGNER
        .salt_decrypt(value, auth, &mut [0; 253])
        .map(<[u8]>::to_vec)
}

#[test]
fn access_request_ma_matches_independent_computation() {
    // HMAC over the packet as sent with the MA value zeroed (RFC 3579 §3.2).
    let mut b = PacketBuilder::new(Code::AccessRequest, 7);
    b.add(attrs::USER_NAME, b"bob").unwrap();
    let b = b.with_message_authenticator();
    let out = b.sign_access_request(&[9; 16], &SIGNER).unwrap();
    assert_eq!(&out[20..22], &[80, 18]);
    let mut zeroed = out.clone();
    zeroed[22..38].fill(0);
    assert_eq!(&out[22..38], &hmac_md5(SECRET, &zeroed)[..]);
    assert_eq!(&out[4..20], &[9; 16]);
}

#[test]
fn computed_request_ma_uses_zero_authenticator_then_md5() {
    let mut b = PacketBuilder::new(Code::DisconnectRequest, 3).with_message_authenticator();
    b.add(attrs::USER_NAME, b"bob").unwrap();
    let out = b.sign_computed_request(&SIGNER).unwrap();
    let mut zeroed = out.clone();
    zeroed[4..20].fill(0);
    zeroed[22..38].fill(0);
    assert_eq!(&out[22..38], &hmac_md5(SECRET, &zeroed)[..]);
    let mut with_ma = out.clone();
    with_ma[4..20].fill(0);
    assert_eq!(&out[4..20], &crypto::md5(&[&with_ma, SECRET])[..]);
}

#[test]
fn builder_limits() {
    let mut b = PacketBuilder::new(Code::AccessAccept, 1);
    assert_eq!(
        b.add(1, &[0; 254]).unwrap_err(),
        EncodeError::ValueTooLong(254)
    );
    assert!(b.add(1, &[0; 253]).is_ok());
    assert_eq!(
        b.add_vendor(1, 1, &[0; 248]).unwrap_err(),
        EncodeError::ValueTooLong(248)
    );
    assert!(b.add_vendor(1, 1, &[0; 247]).is_ok());
    assert_eq!(
        b.add_raw(&[1, 1]).unwrap_err(),
        EncodeError::BadRawAttributes
    );
    assert_eq!(
        b.add_raw(&[1, 4, 0]).unwrap_err(),
        EncodeError::BadRawAttributes
    );
    assert!(b.add_raw(&[1, 3, b'a', 18, 2]).is_ok());
    assert_eq!(
        b.add_user_password(&[1; 129], &SIGNER, &[0; 16])
            .unwrap_err(),
        EncodeError::PasswordTooLong
    );
    let mut full = PacketBuilder::new(Code::AccessAccept, 1);
    let mut n = 0;
    while full.add(1, &[b'x'; 253]).is_ok() {
        n += 1;
    }
    assert_eq!(n, (4096 - 20) / 255);
    assert_eq!(
        full.add(1, &[b'x'; 253]).unwrap_err(),
        EncodeError::PacketTooLong
    );
    let out = full
        .sign_response(&[0; 16], ReplyVector::Request, &SIGNER)
        .unwrap();
    assert!(out.len() <= 4096);
    assert!(Packet::decode(&out).is_ok());
}

#[test]
fn user_password_via_builder_round_trips() {
    let auth = [0x33; 16];
    let mut b = PacketBuilder::new(Code::AccessRequest, 1);
    b.add(attrs::USER_NAME, b"u").unwrap();
    b.add_user_password(b"hunter2", &SIGNER, &auth).unwrap();
    let out = b.sign_access_request(&auth, &SIGNER).unwrap();
    let p = Packet::decode(&out).unwrap();
    assert_eq!(
        p.user_password(&SIGNER).unwrap().unwrap().as_bytes(),
        b"hunter2"
    );
}

#[test]
fn with_buffer_reuses_and_resets() {
    let buf = vec![0xff; 300];
    let cap = buf.capacity();
    let b = PacketBuilder::with_buffer(Code::CoaRequest, 5, buf);
    let out = b.sign_computed_request(&SIGNER).unwrap();
    assert_eq!(out.len(), 20);
    assert_eq!(out.capacity(), cap);
    assert_eq!(out[0], 43);
}

/// Differential check against the `radius` crate for Response Authenticators.
#[test]
fn differential_response_authenticator_vs_radius_crate() {
    use radius::core::code::Code as RCode;
    use radius::core::packet::Packet as RPacket;
    let secret = b"s3cr3t";
    for (rcode, code) in [
        (RCode::AccessAccept, Code::AccessAccept),
        (RCode::AccessReject, Code::AccessReject),
        (RCode::AccountingResponse, Code::AccountingResponse),
        (RCode::CoAACK, Code::CoaAck),
    ] {
        let req = RPacket::new(RCode::AccessRequest, secret);
        let mut resp = req.make_response_packet(rcode);
        resp.add(radius::core::avp::AVP::from_u32(27, 60));
        resp.add(radius::core::avp::AVP::from_string(18, "hello"));
        let theirs = resp.encode().unwrap();
        let auth: [u8; 16] = req.get_authenticator().as_slice().try_into().unwrap();
        let mut b = PacketBuilder::new(code, req.get_identifier());
        b.add_u32(27, 60).unwrap();
        b.add(18, b"hello").unwrap();
        let ours = b
            .sign_response(&auth, ReplyVector::Request, &Signer::new(secret))
            .unwrap();
        assert_eq!(ours, theirs, "{code}");
        assert!(RPacket::is_authentic_response(
            &ours,
            &req.encode().unwrap(),
            secret
        ));
    }
    // Accounting-Request computed authenticator.
    let mut r = RPacket::new(RCode::AccountingRequest, secret);
    r.add(radius::core::avp::AVP::from_u32(40, 1));
    let theirs = r.encode().unwrap();
    let mut b = PacketBuilder::new(Code::AccountingRequest, r.get_identifier());
    b.add_u32(40, 1).unwrap();
    assert_eq!(
        b.sign_computed_request(&Signer::new(secret)).unwrap(),
        theirs
    );
}

#[test]
fn tunnel_password_and_mppe_keys_round_trip() {
    use crate::protocol::attrs::microsoft;
    use crate::protocol::tagged::split_tagged_salted;
    let req_auth = [0x21u8; 16];
    let mut b = PacketBuilder::new(Code::AccessAccept, 1);
    b.add_salt_encrypted(
        attrs::TUNNEL_PASSWORD,
        Some(1),
        b"tunnel-pw",
        &SIGNER,
        &req_auth,
        [0x12, 0x34],
    )
    .unwrap();
    b.add_salt_encrypted(
        attrs::TUNNEL_PASSWORD,
        None,
        b"",
        &SIGNER,
        &req_auth,
        [0, 0],
    )
    .unwrap();
    let key = [0xa5u8; 32];
    b.add_vendor_salt_encrypted(
        microsoft::VENDOR_ID,
        microsoft::MS_MPPE_SEND_KEY,
        &key,
        &SIGNER,
        &req_auth,
        [0x80, 0x01],
    )
    .unwrap();
    assert_eq!(
        b.add_salt_encrypted(1, None, &[0; 240], &SIGNER, &req_auth, [0, 0])
            .unwrap_err(),
        EncodeError::ValueTooLong(240)
    );
    let out = b
        .sign_response(&req_auth, ReplyVector::Request, &SIGNER)
        .unwrap();
    let p = Packet::decode(&out).unwrap();
    let tps: Vec<&[u8]> = p.attrs(attrs::TUNNEL_PASSWORD).collect();
    assert_eq!(tps[0].len(), 1 + 2 + 16);
    let (tag, salted) = split_tagged_salted(tps[0]).unwrap();
    assert_eq!(tag, 1);
    assert_eq!(salted[0] & 0x80, 0x80);
    assert_eq!(salt_decrypt(salted, &req_auth).unwrap(), b"tunnel-pw");
    // Untagged one: salt directly.
    assert_eq!(salt_decrypt(tps[1], &req_auth).unwrap(), b"");
    let mppe = p
        .vendor_attr(microsoft::VENDOR_ID, microsoft::MS_MPPE_SEND_KEY)
        .unwrap();
    assert_eq!(mppe.len(), 2 + 48); // salt + (1 + 32 → 48)
    assert_eq!(salt_decrypt(mppe, &req_auth).unwrap(), key);
}
