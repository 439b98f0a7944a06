//! RFC vectors for `Signer`: RFC 2865 §7.1 (User-Password hiding, Response Authenticator),
//! RFC 2202 (HMAC-MD5, including a key longer than the block), salt encryption round trips,
//! in-place signing against the builder, and a differential check against the `radius`
//! crate.

use super::*;
use crate::protocol::{PacketBuilder, attrs, crypto};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr16(v: &[u8]) -> [u8; 16] {
    v.try_into().unwrap()
}

/// Hide into a fresh buffer of the usual length.
fn hide(signer: &Signer, password: &[u8], auth: &[u8; 16]) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0; hidden_password_len(password.len())?];
    signer.hide_password(password, auth, &mut out)?;
    Ok(out)
}

/// Salt-encrypt into a fresh buffer of the exact length.
fn salt_encrypt(
    signer: &Signer,
    plaintext: &[u8],
    auth: &[u8; 16],
    salt: [u8; 2],
) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0; salt_encrypted_len(plaintext.len())?];
    signer.salt_encrypt(plaintext, auth, salt, &mut out)?;
    Ok(out)
}

fn salt_decrypt(signer: &Signer, value: &[u8], auth: &[u8; 16]) -> Result<Vec<u8>, DecodeError> {
    let mut out = [0u8; crate::protocol::MAX_ATTR_VALUE_LEN];
    signer
        .salt_decrypt(value, auth, &mut out)
        .map(<[u8]>::to_vec)
}

/// RFC 2865 §7.1 request authenticator.
const RFC7_1_AUTH: &str = "0f403f9473978057bd83d5cb98f4227a";

#[test]
fn rfc2865_7_1_user_password_hiding() {
    let auth = arr16(&hex(RFC7_1_AUTH));
    let s = Signer::new(b"xyzzy5461");
    let out = hide(&s, b"arctangent", &auth).unwrap();
    assert_eq!(out, hex("0dbe708d93d413ce3196e43f782a0aee"));
    let plain = s.unhide_password(&out, &auth).unwrap();
    assert_eq!(plain.as_bytes(), b"arctangent");
}

#[test]
fn rfc2865_7_1_response_authenticator() {
    let accept = hex("02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2
         06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03");
    let auth = arr16(&hex(RFC7_1_AUTH));
    let s = Signer::new(b"xyzzy5461");
    assert_eq!(
        &s.response_authenticator(&accept, &auth)[..],
        &accept[4..20]
    );
    // Signing the same bytes in place reproduces them (no Message-Authenticator in it).
    let mut again = accept.clone();
    again[4..20].fill(0xEE);
    s.sign_reply(&mut again, &auth, ReplyVector::Request);
    assert_eq!(again, accept);
    let reply = s
        .verify_reply(&accept, &auth, ReplyVector::Request)
        .unwrap();
    assert_eq!(reply.code(), Code::AccessAccept);
    assert_eq!(
        s.verify_reply(&accept, &[0; 16], ReplyVector::Request)
            .unwrap_err(),
        DecodeError::BadResponseAuthenticator
    );
}

#[test]
fn rfc2202_hmac_md5_vectors() {
    let cases: [(Vec<u8>, Vec<u8>, &str); 4] = [
        (
            vec![0x0b; 16],
            b"Hi There".to_vec(),
            "9294727a3638bb1c13f48ef8158bfc9d",
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "750c783e6ab0b503eaa86e310a5db738",
        ),
        (
            vec![0xaa; 16],
            vec![0xdd; 50],
            "56be34521d144c88dbb8c733f0e8b3f6",
        ),
        (
            vec![0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
        ),
    ];
    for (key, data, want) in cases {
        let s = Signer::new(&key);
        assert_eq!(s.hmac(&[&data]).to_vec(), hex(want));
        // Split input gives the same MAC.
        let (a, b) = data.split_at(data.len() / 2);
        assert_eq!(s.hmac(&[a, b]).to_vec(), hex(want));
    }
}

#[test]
fn user_password_lengths() {
    let auth = [7u8; 16];
    let s = Signer::new(b"s3cret");
    for len in 0..=128usize {
        let pw: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let out = hide(&s, &pw, &auth).unwrap();
        assert_eq!(out.len(), len.div_ceil(16).max(1) * 16);
        assert_eq!(s.unhide_password(&out, &auth).unwrap().as_bytes(), &pw[..]);
    }
    assert_eq!(
        hide(&s, &[b'x'; 129], &auth),
        Err(EncodeError::PasswordTooLong)
    );
    for bad in [0usize, 1, 15, 17, 31, 33, 127, 144, 253] {
        assert_eq!(
            s.unhide_password(&vec![1u8; bad], &auth).unwrap_err(),
            DecodeError::BadPasswordLength(bad)
        );
    }
}

#[test]
fn hide_password_into_a_larger_slot_pads_and_refuses_bad_slots() {
    let (s, auth) = (Signer::new(b"s"), [3u8; 16]);
    // A 5-byte password in a 32-byte slot (replay keeps the captured length).
    let mut slot = [0xFFu8; 32];
    s.hide_password(b"short", &auth, &mut slot).unwrap();
    assert_eq!(
        s.unhide_password(&slot, &auth).unwrap().as_bytes(),
        b"short"
    );
    for bad in [0usize, 15, 17, 144] {
        assert_eq!(
            s.hide_password(b"", &auth, &mut vec![0; bad]),
            Err(EncodeError::BadHiddenLength(bad))
        );
    }
    assert_eq!(
        s.hide_password(&[b'x'; 17], &auth, &mut [0; 16]),
        Err(EncodeError::PasswordTooLong)
    );
}

#[test]
fn salt_encrypt_round_trip_with_length_byte_and_msb() {
    let auth = arr16(&hex(RFC7_1_AUTH));
    let s = Signer::new(b"xyzzy5461");
    for len in [0usize, 1, 15, 16, 31, 32, 100, MAX_SALT_PLAINTEXT] {
        let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let out = salt_encrypt(&s, &plain, &auth, [0x01, 0x23]).unwrap();
        assert_eq!(out[0], 0x81, "salt MSB forced on");
        assert_eq!(out[1], 0x23);
        assert_eq!((out.len() - 2) % 16, 0);
        assert_eq!(out.len() - 2, (len + 1).div_ceil(16) * 16);
        assert_eq!(salt_decrypt(&s, &out, &auth).unwrap(), plain);
        // Wrong secret gives different bytes (or a bad length octet), never the plaintext.
        if len > 0 {
            assert_ne!(
                salt_decrypt(&Signer::new(b"other"), &out, &auth).ok(),
                Some(plain)
            );
        }
    }
    assert_eq!(
        salt_encrypt(&s, &[0; 240], &auth, [0, 0]),
        Err(EncodeError::ValueTooLong(240))
    );
    assert_eq!(
        s.salt_encrypt(b"abc", &auth, [0, 0], &mut [0; 19]),
        Err(EncodeError::BadHiddenLength(19))
    );
}

#[test]
fn salt_encrypt_first_block_uses_salt() {
    // c1 = (len ‖ p) ^ MD5(S ‖ R ‖ A): check by hand.
    let auth = [3u8; 16];
    let out = salt_encrypt(&Signer::new(b"sec"), b"key", &auth, [0x80, 0x01]).unwrap();
    let b1 = crypto::md5(&[b"sec", &auth, &[0x80, 0x01]]);
    let mut p1 = [0u8; 16];
    p1[0] = 3;
    p1[1..4].copy_from_slice(b"key");
    let c1: Vec<u8> = p1.iter().zip(b1).map(|(p, b)| p ^ b).collect();
    assert_eq!(&out[2..18], &c1[..]);
}

#[test]
fn salt_decrypt_rejects_malformed() {
    let auth = [0u8; 16];
    let s = Signer::new(b"s");
    for bad in [0usize, 1, 2, 3, 17, 19, 33] {
        assert_eq!(
            salt_decrypt(&s, &vec![0x80; bad], &auth),
            Err(DecodeError::BadSaltEncrypted),
            "{bad}"
        );
    }
    // A length octet larger than the data.
    let mut out = salt_encrypt(&s, b"abc", &auth, [0x80, 0]).unwrap();
    // Flip the length octet (first plaintext byte) to 200 by XOR on the ciphertext.
    out[2] ^= 3 ^ 200;
    assert_eq!(
        salt_decrypt(&s, &out, &auth),
        Err(DecodeError::BadSaltEncrypted)
    );
    // An output buffer shorter than the ciphertext.
    let out = salt_encrypt(&s, b"abc", &auth, [0x80, 0]).unwrap();
    assert_eq!(
        s.salt_decrypt(&out, &auth, &mut [0; 15]),
        Err(DecodeError::BadSaltEncrypted)
    );
}

/// The in-place `sign_*` methods give the same bytes as the builder for every family, and
/// `ReplyVector` picks the Message-Authenticator vector of an Accounting-Response.
#[test]
fn in_place_signing_matches_the_builder() {
    let s = Signer::new(b"in-place");
    let build = |code| {
        let mut b = PacketBuilder::new(code, 7).with_message_authenticator();
        b.add(attrs::USER_NAME, b"bob").unwrap();
        b
    };
    let access = build(Code::AccessRequest)
        .sign_access_request(&[9; 16], &s)
        .unwrap();
    let mut in_place = access.clone();
    in_place[22..38].fill(0);
    s.sign_access_request(&mut in_place);
    assert_eq!(in_place, access);

    let acct = build(Code::AccountingRequest)
        .sign_computed_request(&s)
        .unwrap();
    let mut in_place = acct.clone();
    in_place[4..20].fill(0);
    in_place[22..38].fill(0);
    assert_eq!(&s.sign_computed_request(&mut in_place)[..], &acct[4..20]);
    assert_eq!(in_place, acct);

    for vector in [ReplyVector::Request, ReplyVector::Zero] {
        let reply = build(Code::AccountingResponse)
            .sign_response(&[5; 16], vector, &s)
            .unwrap();
        let mut in_place = reply.clone();
        in_place[4..20].fill(0);
        in_place[22..38].fill(0);
        s.sign_reply(&mut in_place, &[5; 16], vector);
        assert_eq!(in_place, reply, "{vector:?}");
        s.verify_reply(&reply, &[5; 16], vector).unwrap();
        let other = match vector {
            ReplyVector::Request => ReplyVector::Zero,
            ReplyVector::Zero => ReplyVector::Request,
        };
        assert_eq!(
            s.verify_reply(&reply, &[5; 16], other).unwrap_err(),
            DecodeError::BadMessageAuthenticator
        );
        assert_eq!(
            s.verify_message_authenticator(&reply, vector.bytes(&[5; 16])),
            Ok(true)
        );
        assert_eq!(
            s.message_authenticator(&reply, vector.bytes(&[5; 16])),
            Some(arr16(&reply[22..38]))
        );
    }
    assert_eq!(
        ReplyVector::for_request(Code::AccountingRequest),
        ReplyVector::Zero
    );
    assert_eq!(
        ReplyVector::for_request(Code::StatusServer),
        ReplyVector::Request
    );
    // No Message-Authenticator: nothing to fill, nothing to verify.
    let mut plain = PacketBuilder::new(Code::AccessRequest, 1)
        .sign_access_request(&[1; 16], &s)
        .unwrap();
    assert!(!s.fill_message_authenticator(&mut plain, &[1; 16]));
    assert_eq!(s.verify_message_authenticator(&plain, &[1; 16]), Ok(false));
    assert_eq!(s.message_authenticator(&plain, &[1; 16]), None);
}

#[test]
fn debug_is_redacted_and_signers_compare_by_secret() {
    let s = Signer::new(b"hunter2");
    assert_eq!(format!("{s:?}"), "Signer(***)");
    assert_eq!(s.secret(), Signer::new(b"hunter2").secret());
    assert_ne!(s.secret(), Signer::new(b"hunter3").secret());
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Signer>();
}

/// Differential check against the `radius` crate (0.4.0) for User-Password hiding.
#[test]
fn differential_user_password_vs_radius_crate() {
    use radius::core::code::Code as RCode;
    use radius::core::packet::Packet as RPacket;
    use radius::core::rfc2865;
    let secret = b"differential-secret";
    let s = Signer::new(secret);
    for len in [1usize, 5, 16, 17, 40, 64, 100, 128] {
        let pw: Vec<u8> = (0..len).map(|i| 0x21 + (i % 90) as u8).collect();
        let mut p = RPacket::new(RCode::AccessRequest, secret);
        rfc2865::add_user_password(&mut p, &pw).unwrap();
        let auth = arr16(p.get_authenticator());
        let theirs = p
            .lookup(rfc2865::USER_PASSWORD_TYPE)
            .unwrap()
            .encode_bytes();
        assert_eq!(hide(&s, &pw, &auth).unwrap(), theirs, "len {len}");
        assert_eq!(rfc2865::lookup_user_password(&p).unwrap().unwrap(), pw);
    }
}
