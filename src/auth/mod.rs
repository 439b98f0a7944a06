//! Credential checks: PAP (cleartext, NT hash, crypt hashes), CHAP, MS-CHAPv2 (+ MPPE keys).
//!
//! Pure and synchronous; no I/O; randomness (salts) is passed in. Every comparison of a
//! secret value is constant-time.

use crate::protocol::{Packet, Secret};

/// A stored credential, from a check item (Cleartext-Password, NT-Password, Crypt-Password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Cleartext-Password: works with PAP, CHAP, MS-CHAPv1/v2.
    Cleartext(Secret),
    /// NT-Password (MD4 of UTF-16LE password): works with PAP and MS-CHAP.
    NtHash([u8; 16]),
    /// Crypt-Password (`$2y$`/`$2b$` bcrypt, `$6$` SHA-512, `$5$` SHA-256, `$1$` MD5 crypt):
    /// PAP only.
    Crypt(Secret),
}

/// How the request authenticates, detected from its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// User-Password present.
    Pap,
    /// CHAP-Password present.
    Chap,
    /// MS-CHAP-Challenge + MS-CHAP2-Response.
    MsChapV2,
    /// MS-CHAP-Challenge + MS-CHAP-Response.
    MsChapV1,
    /// None of the above.
    None,
}

impl Method {
    /// Detect the method from a request's attributes.
    pub fn detect(packet: &Packet<'_>) -> Self {
        let _ = packet;
        todo!()
    }

    /// Stable label for metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pap => "pap",
            Self::Chap => "chap",
            Self::MsChapV2 => "mschapv2",
            Self::MsChapV1 => "mschapv1",
            Self::None => "none",
        }
    }
}

/// An attribute the verdict adds to the reply (MS-CHAP2-Success, MPPE keys, MS-CHAP-Error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAttr {
    /// Vendor id, 0 for standard attributes.
    pub vendor: u32,
    /// Type octet.
    pub typ: u8,
    /// Value bytes (already hidden where the attribute is encrypted).
    pub value: Vec<u8>,
}

/// Why credentials were refused (a metric label via `name()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Wrong password / response.
    BadCredentials,
    /// The request's method cannot be checked against this credential (e.g. CHAP vs bcrypt).
    MethodUnsupported,
    /// No credential attributes in the request, or malformed ones.
    Malformed,
}

impl RejectReason {
    /// Stable label for metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadCredentials => "bad_credentials",
            Self::MethodUnsupported => "method_unsupported",
            Self::Malformed => "malformed",
        }
    }
}

/// Outcome of a credential check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Credentials are right; add these attributes to the Access-Accept.
    Accept(Vec<ReplyAttr>),
    /// Credentials are wrong; add these attributes to the Access-Reject.
    Reject(RejectReason, Vec<ReplyAttr>),
}

/// Check the request's credentials against `credential`.
///
/// `secret` is the NAS shared secret (User-Password unhiding, MPPE key hiding); `salt` is
/// fresh randomness for the two MPPE key salts.
pub fn check(
    packet: &Packet<'_>,
    secret: &[u8],
    credential: &Credential,
    salt: [u8; 4],
) -> Verdict {
    let _ = (packet, secret, credential, salt);
    todo!()
}
