//! CHAP (RFC 1994 §4.1, RADIUS carriage RFC 2865 §2.2, §5.3, §5.40).
//!
//! The response is MD5(CHAP ident ‖ password ‖ challenge); the challenge is CHAP-Challenge
//! or, when that is absent, the Request Authenticator. Only a cleartext password can be
//! checked.

use md5::{Digest, Md5};

use crate::protocol::crypto::ct_eq;

/// Length of the CHAP-Password value: ident octet + 16-byte response.
pub const CHAP_PASSWORD_LEN: usize = 17;

/// The CHAP response MD5(ident ‖ password ‖ challenge) (RFC 1994 §4.1), as a client computes it.
pub fn response(ident: u8, password: &[u8], challenge: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update([ident])
        .chain_update(password)
        .chain_update(challenge)
        .finalize()
        .into()
}

/// The 17-byte CHAP-Password attribute value for a client request.
pub fn chap_password(ident: u8, password: &[u8], challenge: &[u8]) -> [u8; CHAP_PASSWORD_LEN] {
    let mut out = [0u8; CHAP_PASSWORD_LEN];
    out[0] = ident;
    out[1..].copy_from_slice(&response(ident, password, challenge));
    out
}

/// Server side: does the CHAP-Password value match `cleartext`? `false` unless the value is
/// exactly 17 octets. The comparison is constant-time.
pub fn verify(chap_password: &[u8], challenge: &[u8], cleartext: &[u8]) -> bool {
    let Some((&ident, got)) = chap_password.split_first() else {
        return false;
    };
    if chap_password.len() != CHAP_PASSWORD_LEN {
        return false;
    }
    ct_eq(&response(ident, cleartext, challenge), got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 1994 §4.1 response computed independently on the build machine with
    /// `openssl md5` (and Python hashlib) over 0x2a ‖ "secret" ‖ 00 01 .. 0f.
    #[test]
    fn rfc1994_computed_example() {
        let challenge: Vec<u8> = (0u8..16).collect();
        let expected = unhex(EXPECTED_SECRET_2A);
        assert_eq!(response(0x2a, b"secret", &challenge).to_vec(), expected);
        let value = chap_password(0x2a, b"secret", &challenge);
        assert_eq!(value[0], 0x2a);
        assert!(verify(&value, &challenge, b"secret"));
        assert!(!verify(&value, &challenge, b"Secret"));
        assert!(!verify(&value, &challenge[..15], b"secret"));
    }

    const EXPECTED_SECRET_2A: &str = "03dc98c5a832692b49df73cf48fcb4e9";

    #[test]
    fn wrong_lengths_never_verify() {
        let challenge = [7u8; 16];
        let value = chap_password(1, b"pw", &challenge);
        assert!(verify(&value, &challenge, b"pw"));
        assert!(!verify(&value[..16], &challenge, b"pw"));
        let mut long = value.to_vec();
        long.push(0);
        assert!(!verify(&long, &challenge, b"pw"));
        assert!(!verify(&[], &challenge, b"pw"));
        let mut flipped = value;
        flipped[0] ^= 1;
        assert!(!verify(&flipped, &challenge, b"pw"));
    }
}
