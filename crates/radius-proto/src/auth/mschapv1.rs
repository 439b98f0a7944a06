//! MS-CHAPv1 (RFC 2433), NT-Response only; LAN Manager responses are not accepted.
//!
//! The RADIUS carriage is RFC 2548 §2.1: MS-CHAP-Challenge (8 octets) and MS-CHAP-Response
//! (50 octets: ident, flags, LM-Response 24, NT-Response 24; flags bit 0 set means "use the
//! NT-Response"). On success the server returns MS-CHAP-MPPE-Keys (§2.4.1).

use super::mschapv2::{challenge_response, nt_hash, nt_hash_hash};
use crate::protocol::crypto::ct_eq;

/// Length of the MS-CHAP-Challenge value for MS-CHAPv1.
pub const CHALLENGE_LEN: usize = 8;
/// Length of the MS-CHAP-Response value.
pub const RESPONSE_LEN: usize = 50;
/// Microsoft vendor type of MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1).
pub const MS_CHAP_MPPE_KEYS: u8 = 12;

/// The parts of an MS-CHAP-Response value (RFC 2548 §2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// PPP CHAP identifier.
    pub ident: u8,
    /// 1 when the NT-Response is to be used, 0 for LM-Response only.
    pub flags: u8,
    /// LAN Manager response (ignored).
    pub lm_response: [u8; 24],
    /// NT-Response.
    pub nt_response: [u8; 24],
}

impl Response {
    /// Split a 50-byte MS-CHAP-Response value; `None` for any other length.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let value: &[u8; RESPONSE_LEN] = value.try_into().ok()?;
        let (head, rest) = value.split_at(2);
        let (lm, nt) = rest.split_at(24);
        Some(Self {
            ident: head[0],
            flags: head[1],
            lm_response: lm.try_into().ok()?,
            nt_response: nt.try_into().ok()?,
        })
    }

    /// Encode as the 50-byte attribute value.
    pub fn encode(&self) -> [u8; RESPONSE_LEN] {
        let mut out = [0u8; RESPONSE_LEN];
        out[0] = self.ident;
        out[1] = self.flags;
        out[2..26].copy_from_slice(&self.lm_response);
        out[26..].copy_from_slice(&self.nt_response);
        out
    }

    /// True when the client asks for its NT-Response to be used.
    pub fn uses_nt_response(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// NtChallengeResponse (RFC 2433 §A.5).
pub fn nt_response(challenge: &[u8; 8], nt_hash: &[u8; 16]) -> [u8; 24] {
    challenge_response(challenge, nt_hash)
}

/// Server side: is `nt_response` right for this NT hash? Constant-time.
pub fn verify(challenge: &[u8; 8], nt_hash: &[u8; 16], nt_response: &[u8; 24]) -> bool {
    ct_eq(&self::nt_response(challenge, nt_hash), nt_response)
}

/// Client side: the MS-CHAP-Response value (NT-Response only, LM-Response zero, flags 1).
pub fn client_response(ident: u8, challenge: &[u8; 8], password: &[u8]) -> [u8; RESPONSE_LEN] {
    Response {
        ident,
        flags: 1,
        lm_response: [0; 24],
        nt_response: nt_response(challenge, &nt_hash(password)),
    }
    .encode()
}

/// Plaintext of MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1): LM-Key (8 octets, zero because LAN
/// Manager hashes are not kept) ‖ NT-Key (MD4 of the NT hash). The caller hides it like a
/// User-Password.
pub fn mppe_keys_plaintext(nt_hash: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[8..].copy_from_slice(&nt_hash_hash(nt_hash));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let v: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    /// RFC 2433 Appendix B.2.
    #[test]
    fn rfc2433_appendix_b() {
        let challenge = unhex::<8>("102DB5DF085D3041");
        let hash = nt_hash(b"MyPw");
        assert_eq!(hash, unhex::<16>("FC156AF7EDCD6C0EDDE3337D427F4EAC"));
        let nt = nt_response(&challenge, &hash);
        assert_eq!(
            nt,
            unhex::<24>("4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61")
        );
        assert!(verify(&challenge, &hash, &nt));
        assert!(!verify(&challenge, &nt_hash(b"MyPW"), &nt));

        let value = client_response(3, &challenge, b"MyPw");
        let parsed = Response::parse(&value).unwrap();
        assert!(parsed.uses_nt_response());
        assert_eq!(parsed.ident, 3);
        assert_eq!(parsed.nt_response, nt);
        assert!(Response::parse(&value[1..]).is_none());
    }

    #[test]
    fn mppe_plaintext_layout() {
        let hash = nt_hash(b"clientPass");
        let plain = mppe_keys_plaintext(&hash);
        assert_eq!(&plain[..8], &[0u8; 8]);
        // RFC 2759 §9.2 PasswordHashHash of "clientPass".
        assert_eq!(
            &plain[8..],
            &unhex::<16>("41C00C584BD2D91C4017A2A12FA59F3F")
        );
    }
}
