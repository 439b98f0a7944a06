//! Client side of MS-CHAPv2 (RFC 2759 §8) for `bench --mode mschapv2`: the NT-Response a
//! PPPoE client would send. The server side lives in `auth::mschapv2`; the load generator
//! needs only the peer's computation, with the NT hash precomputed per user.

use des::Des;
use des::cipher::{Block, BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use sha1::Sha1;

/// NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password.
pub(crate) fn nt_password_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    for u in password.encode_utf16() {
        h.update(u.to_le_bytes());
    }
    h.finalize().into()
}

/// ChallengeHash (RFC 2759 §8.2): first 8 bytes of SHA1(peer ‖ authenticator ‖ user).
fn challenge_hash(peer: &[u8; 16], auth: &[u8; 16], user: &[u8]) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer);
    h.update(auth);
    h.update(user);
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// Expand 7 key bytes to a DES key (parity bits left zero; DES ignores them).
fn des_key(k: &[u8]) -> [u8; 8] {
    let mut b = [0u8; 7];
    b.copy_from_slice(&k[..7]);
    let v = b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (((v >> (49 - 7 * i)) & 0x7f) as u8) << 1;
    }
    out
}

/// NT-Response (RFC 2759 §8.1): ChallengeResponse(ChallengeHash, NtPasswordHash).
pub(crate) fn nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    nt_hash: &[u8; 16],
) -> [u8; 24] {
    let ch = challenge_hash(peer_challenge, auth_challenge, user);
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(nt_hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        let key = des_key(&z[i * 7..i * 7 + 7]);
        let cipher = Des::new(&key.into());
        let mut block: Block<Des> = ch.into();
        cipher.encrypt_block(&mut block);
        out[i * 8..i * 8 + 8].copy_from_slice(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn rfc2759_vector() {
        // RFC 2759 §9.2.
        let auth: [u8; 16] = hex("5B5D7C7D7B3F2F3E3C2C602132262628")
            .try_into()
            .unwrap_or([0; 16]);
        let peer: [u8; 16] = hex("21402324255E262A28295F2B3A337C7E")
            .try_into()
            .unwrap_or([0; 16]);
        let nt = nt_password_hash("clientPass");
        assert_eq!(nt.to_vec(), hex("44EBBA8D5312B8D611474411F56989AE"));
        let r = nt_response(&auth, &peer, b"User", &nt);
        assert_eq!(
            r.to_vec(),
            hex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
    }
}
