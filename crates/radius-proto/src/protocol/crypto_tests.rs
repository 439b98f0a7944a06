//! RFC vectors for `crypto`: RFC 2865 §7.1 (User-Password hiding, Response Authenticator),
//! RFC 2202 (HMAC-MD5), salt encryption round trips, and a differential check against the
//! `radius` crate.

use super::*;

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

/// RFC 2865 §7.1 request authenticator.
const RFC7_1_AUTH: &str = "0f403f9473978057bd83d5cb98f4227a";

#[test]
fn rfc2865_7_1_user_password_hiding() {
    let auth = arr16(&hex(RFC7_1_AUTH));
    let mut out = Vec::new();
    hide_user_password(b"arctangent", b"xyzzy5461", &auth, &mut out).unwrap();
    assert_eq!(out, hex("0dbe708d93d413ce3196e43f782a0aee"));
    let plain = unhide_user_password(&out, b"xyzzy5461", &auth).unwrap();
    assert_eq!(plain.as_bytes(), b"arctangent");
}

#[test]
fn rfc2865_7_1_response_authenticator() {
    let accept = hex("02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2
         06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03");
    let auth = arr16(&hex(RFC7_1_AUTH));
    let ra = response_authenticator(&accept, &auth, b"xyzzy5461");
    assert_eq!(&ra[..], &accept[4..20]);
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
        assert_eq!(hmac_md5(&key, &[&data]).to_vec(), hex(want));
        // Split input gives the same MAC.
        let (a, b) = data.split_at(data.len() / 2);
        assert_eq!(hmac_md5(&key, &[a, b]).to_vec(), hex(want));
    }
}

#[test]
fn md5_rfc1321_vector() {
    assert_eq!(
        md5(&[b"abc"]).to_vec(),
        hex("900150983cd24fb0d6963f7d28e17f72")
    );
    assert_eq!(
        md5(&[b"a", b"bc"]).to_vec(),
        hex("900150983cd24fb0d6963f7d28e17f72")
    );
}

#[test]
fn user_password_lengths() {
    let auth = [7u8; 16];
    for len in 0..=128usize {
        let pw: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut out = Vec::new();
        hide_user_password(&pw, b"s3cret", &auth, &mut out).unwrap();
        assert_eq!(out.len(), len.div_ceil(16).max(1) * 16);
        assert_eq!(
            unhide_user_password(&out, b"s3cret", &auth)
                .unwrap()
                .as_bytes(),
            &pw[..]
        );
    }
    let mut out = Vec::new();
    assert_eq!(
        hide_user_password(&[b'x'; 129], b"s", &auth, &mut out),
        Err(EncodeError::PasswordTooLong)
    );
    for bad in [0usize, 1, 15, 17, 31, 33, 127, 144, 253] {
        assert_eq!(
            unhide_user_password(&vec![1u8; bad], b"s", &auth).unwrap_err(),
            DecodeError::BadPasswordLength(bad)
        );
    }
}

#[test]
fn salt_encrypt_round_trip_with_length_byte_and_msb() {
    let auth = arr16(&hex(RFC7_1_AUTH));
    for len in [0usize, 1, 15, 16, 31, 32, 100, MAX_SALT_PLAINTEXT] {
        let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut out = vec![0xAA]; // a tag the caller wrote first
        salt_encrypt(&plain, b"xyzzy5461", &auth, [0x01, 0x23], &mut out).unwrap();
        assert_eq!(out[0], 0xAA);
        assert_eq!(out[1], 0x81, "salt MSB forced on");
        assert_eq!(out[2], 0x23);
        assert_eq!((out.len() - 3) % 16, 0);
        assert_eq!(out.len() - 3, (len + 1).div_ceil(16) * 16);
        let back = salt_decrypt(&out[1..], b"xyzzy5461", &auth).unwrap();
        assert_eq!(back, plain);
        // Wrong secret gives different bytes (or a bad length octet), never the plaintext.
        if len > 0 {
            assert_ne!(salt_decrypt(&out[1..], b"other", &auth).ok(), Some(plain));
        }
    }
    let mut out = Vec::new();
    assert_eq!(
        salt_encrypt(&[0; 240], b"s", &auth, [0, 0], &mut out),
        Err(EncodeError::ValueTooLong(240))
    );
}

#[test]
fn salt_encrypt_first_block_uses_salt() {
    // c1 = (len ‖ p) ^ MD5(S ‖ R ‖ A): check by hand.
    let auth = [3u8; 16];
    let mut out = Vec::new();
    salt_encrypt(b"key", b"sec", &auth, [0x80, 0x01], &mut out).unwrap();
    let b1 = md5(&[b"sec", &auth, &[0x80, 0x01]]);
    let mut p1 = [0u8; 16];
    p1[0] = 3;
    p1[1..4].copy_from_slice(b"key");
    let c1: Vec<u8> = p1.iter().zip(b1).map(|(p, b)| p ^ b).collect();
    assert_eq!(&out[2..18], &c1[..]);
}

#[test]
fn salt_decrypt_rejects_malformed() {
    let auth = [0u8; 16];
    for bad in [0usize, 1, 2, 3, 17, 19, 33] {
        assert_eq!(
            salt_decrypt(&vec![0x80; bad], b"s", &auth),
            Err(DecodeError::BadSaltEncrypted),
            "{bad}"
        );
    }
    // A length octet larger than the data.
    let mut out = Vec::new();
    salt_encrypt(b"abc", b"s", &auth, [0x80, 0], &mut out).unwrap();
    // Flip the length octet (first plaintext byte) to 200 by XOR on the ciphertext.
    out[2] ^= 3 ^ 200;
    assert_eq!(
        salt_decrypt(&out, b"s", &auth),
        Err(DecodeError::BadSaltEncrypted)
    );
}

#[test]
fn ct_eq_behaviour() {
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
}

/// Differential check against the `radius` crate (0.4.0) for User-Password hiding.
#[test]
fn differential_user_password_vs_radius_crate() {
    use radius::core::code::Code as RCode;
    use radius::core::packet::Packet as RPacket;
    use radius::core::rfc2865;
    let secret = b"differential-secret";
    for len in [1usize, 5, 16, 17, 40, 64, 100, 128] {
        let pw: Vec<u8> = (0..len).map(|i| 0x21 + (i % 90) as u8).collect();
        let mut p = RPacket::new(RCode::AccessRequest, secret);
        rfc2865::add_user_password(&mut p, &pw).unwrap();
        let auth = arr16(p.get_authenticator());
        let theirs = p
            .lookup(rfc2865::USER_PASSWORD_TYPE)
            .unwrap()
            .encode_bytes();
        let mut ours = Vec::new();
        hide_user_password(&pw, secret, &auth, &mut ours).unwrap();
        assert_eq!(ours, theirs, "len {len}");
        assert_eq!(rfc2865::lookup_user_password(&p).unwrap().unwrap(), pw);
    }
}
