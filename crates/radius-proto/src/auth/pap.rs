//! PAP (RFC 2865 §5.2): the unhidden User-Password against a stored credential.
//!
//! Cleartext and NT hashes are compared in constant time; crypt hashes go through
//! [`super::crypt`]. MikroTik MAC-login sends an empty (16 NUL) password; it is checked like
//! any other password. The check comes in two halves, [`password`] (unhide) and [`check`]
//! (compare), so that a caller can run the slow crypt comparison elsewhere (the server runs
//! it on a blocking thread) without a second copy of either half.

use super::{Credential, RejectReason, Verdict, crypt, mschapv2, verdict};
use crate::protocol::crypto::ct_eq;
use crate::protocol::{Packet, Password, Signer};

/// The request's unhidden User-Password (RFC 2865 §5.2). `Err(Malformed)` when absent or
/// when its length is not a multiple of 16 in 16..=128.
pub fn password(packet: &Packet<'_>, signer: &Signer) -> Result<Password, RejectReason> {
    match packet.user_password(signer) {
        Ok(Some(password)) => Ok(password),
        Ok(None) | Err(_) => Err(RejectReason::Malformed),
    }
}

/// The verdict for an unhidden `password` against `credential`: Accept, or
/// Reject(BadCredentials). Crypt hashes make this slow (milliseconds).
pub fn check(password: &Password, credential: &Credential) -> Verdict {
    verdict(verify(password.as_bytes(), credential))
}

/// Does `password` (already unhidden, padding removed) match `credential`?
///
/// For Cleartext-Password the comparison is constant-time in the content; only the length
/// of the stored password can leak, as with any equal-length check.
pub fn verify(password: &[u8], credential: &Credential) -> bool {
    match credential {
        Credential::Cleartext(stored) => ct_eq(password, stored.expose()),
        Credential::NtHash(stored) => ct_eq(&mschapv2::nt_hash(password), stored),
        Credential::Crypt(hash) => crypt::verify(password, hash.expose()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Secret;

    #[test]
    fn each_credential_kind() {
        let cases = [
            Credential::Cleartext(Secret::from("hunter2")),
            Credential::NtHash(mschapv2::nt_hash(b"hunter2")),
            Credential::Crypt(Secret::from(
                crypt::md5_crypt(b"hunter2", b"Nn3xSalt").as_str(),
            )),
            // `openssl passwd -6 -salt saltstring hunter2`
            Credential::Crypt(Secret::from(SHA512_HUNTER2)),
        ];
        for credential in &cases {
            assert!(verify(b"hunter2", credential), "{credential:?}");
            assert!(!verify(b"hunter3", credential), "{credential:?}");
            assert!(!verify(b"hunter", credential), "{credential:?}");
            assert!(!verify(b"", credential), "{credential:?}");
        }
    }

    const SHA512_HUNTER2: &str = "$6$saltstring$q2.778Y7vt0Ij2OIl01VlxEE6SEh8ZCtgFbyJX8fYkl5S7gx32QO24FVg.rs4DkoAs9t6R19x4z8g69teXFxA0";

    #[test]
    fn empty_password_mac_login() {
        assert!(verify(b"", &Credential::Cleartext(Secret::from(""))));
        assert!(!verify(b"", &Credential::Cleartext(Secret::from("AA:BB"))));
        assert!(verify(b"", &Credential::NtHash(mschapv2::nt_hash(b""))));
    }

    #[test]
    fn unknown_crypt_format_rejects() {
        assert!(!verify(b"x", &Credential::Crypt(Secret::from("x"))));
        assert!(!verify(b"", &Credential::Crypt(Secret::from(""))));
    }
}
