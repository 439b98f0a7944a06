//! Credential checks: PAP (cleartext, NT hash, crypt hashes), CHAP, MS-CHAPv2 (+ MPPE keys).
//!
//! Pure and synchronous; no I/O; randomness (salts) is passed in. Every comparison of a
//! secret value is constant-time. [`check`] is the entry point the access handler calls;
//! the submodules expose the RFC primitives, including the client-side halves the bench
//! and test tools use to build requests.

pub mod chap;
pub mod crypt;
mod mschap;
pub mod mschapv1;
pub mod mschapv2;
pub mod pap;

pub use mschap::{ENCRYPTION_POLICY_ALLOWED, ENCRYPTION_TYPES_40_128};

use crate::protocol::attrs::{self, microsoft as ms};
use crate::protocol::{Packet, Secret, Signer};

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
    /// Detect the method from a request's attributes: User-Password first (MikroTik
    /// MAC-login sends one, possibly empty), then CHAP-Password, then the Microsoft pairs.
    /// Attribute values are not validated here; [`check`] does that.
    pub fn detect(packet: &Packet<'_>) -> Self {
        let has_ms = |typ| packet.vendor_attr(ms::VENDOR_ID, typ).is_some();
        if packet.attr(attrs::USER_PASSWORD).is_some() {
            Self::Pap
        } else if packet.attr(attrs::CHAP_PASSWORD).is_some() {
            Self::Chap
        } else if has_ms(ms::MS_CHAP_CHALLENGE) && has_ms(ms::MS_CHAP2_RESPONSE) {
            Self::MsChapV2
        } else if has_ms(ms::MS_CHAP_CHALLENGE) && has_ms(ms::MS_CHAP_RESPONSE) {
            Self::MsChapV1
        } else {
            Self::None
        }
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
/// `signer` holds the NAS shared secret (User-Password unhiding, MPPE key hiding); `salt`
/// is fresh randomness for the two MPPE key salts.
///
/// Malformed or missing credential attributes give `Reject(Malformed)`; a method the stored
/// credential cannot serve (CHAP or MS-CHAP against a crypt hash) gives
/// `Reject(MethodUnsupported)`. MS-CHAP rejects carry MS-CHAP-Error (`E=691 R=0`);
/// MS-CHAPv2 accepts carry MS-CHAP2-Success, MS-MPPE-Send-Key / MS-MPPE-Recv-Key (128-bit,
/// server direction, salts from `salt`), MS-MPPE-Encryption-Policy = 1 (allowed) and
/// MS-MPPE-Encryption-Types = 6 (40- and 128-bit), as common servers send; MS-CHAPv1
/// accepts carry MS-CHAP-MPPE-Keys and the same two policy attributes.
pub fn check(
    packet: &Packet<'_>,
    signer: &Signer,
    credential: &Credential,
    salt: [u8; 4],
) -> Verdict {
    check_method(Method::detect(packet), packet, signer, credential, salt)
}

/// [`check`] for a caller that already ran [`Method::detect`] on `packet` (`method` must
/// be its answer); `salt` is used by MS-CHAPv2 only.
pub fn check_method(
    method: Method,
    packet: &Packet<'_>,
    signer: &Signer,
    credential: &Credential,
    salt: [u8; 4],
) -> Verdict {
    match method {
        Method::Pap => match pap::password(packet, signer) {
            Ok(password) => pap::check(&password, credential),
            Err(why) => Verdict::Reject(why, Vec::new()),
        },
        Method::Chap => check_chap(packet, credential),
        Method::MsChapV2 => mschap::check_v2(packet, signer, credential, salt),
        Method::MsChapV1 => mschap::check_v1(packet, signer, credential),
        Method::None => Verdict::Reject(RejectReason::Malformed, Vec::new()),
    }
}

fn verdict(ok: bool) -> Verdict {
    if ok {
        Verdict::Accept(Vec::new())
    } else {
        Verdict::Reject(RejectReason::BadCredentials, Vec::new())
    }
}

fn check_chap(packet: &Packet<'_>, credential: &Credential) -> Verdict {
    let Some(value) = packet.attr(attrs::CHAP_PASSWORD) else {
        return Verdict::Reject(RejectReason::Malformed, Vec::new());
    };
    let challenge = match packet.attr(attrs::CHAP_CHALLENGE) {
        Some([]) => return Verdict::Reject(RejectReason::Malformed, Vec::new()),
        Some(challenge) => challenge,
        None => packet.authenticator().as_slice(),
    };
    if value.len() != chap::CHAP_PASSWORD_LEN {
        return Verdict::Reject(RejectReason::Malformed, Vec::new());
    }
    match credential {
        Credential::Cleartext(password) => {
            verdict(chap::verify(value, challenge, password.expose()))
        }
        Credential::NtHash(_) | Credential::Crypt(_) => {
            Verdict::Reject(RejectReason::MethodUnsupported, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod interop_tests;
