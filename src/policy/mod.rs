//! Authorization with FreeRADIUS rlm_sql semantics, compiled once per profile load.
//!
//! `Profile::compile` turns a user's rows (radcheck, radreply, groups) into check items and
//! pre-encoded reply attributes (dictionary work happens here, not per packet);
//! `Profile::authorize` evaluates the check items against one request.

use crate::auth::Credential;
use crate::dictionary::Dictionary;
use crate::protocol::Packet;
use crate::store::model::UserRows;

/// A compiled user profile, cached (as `Arc<Profile>`) in L1.
#[derive(Debug, Clone, Default)]
pub struct Profile {}

/// Why authorization refused the user before any password check (a metric label via
/// `name()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// `Auth-Type := Reject`.
    AuthTypeReject,
    /// `Expiration` is in the past.
    Expired,
    /// No check set matched (user's and every group's check items failed).
    CheckItemsFailed,
    /// No credential and no `Auth-Type := Accept`.
    NoCredential,
}

impl DenyReason {
    /// Stable label.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthTypeReject => "auth_type_reject",
            Self::Expired => "expired",
            Self::CheckItemsFailed => "check_items_failed",
            Self::NoCredential => "no_credential",
        }
    }
}

/// The result of authorizing one request against a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization<'p> {
    /// Go on to the credential check (skipped when `accept_without_password`), then reply
    /// with `reply`.
    Proceed {
        /// The credential to check the request against.
        credential: Option<&'p Credential>,
        /// `Auth-Type := Accept`: accept without checking a password.
        accept_without_password: bool,
        /// Pre-encoded reply attribute TLVs, merged over user and matched groups per the
        /// operators; Session-Timeout excluded (see `session_timeout`).
        reply: Vec<&'p [u8]>,
        /// Session-Timeout to send: the reply item, capped by the time left before
        /// `Expiration`.
        session_timeout: Option<u32>,
    },
    /// Refuse without checking credentials.
    Deny(DenyReason),
}

impl Profile {
    /// Compile rows. Rows that cannot be understood (unknown attribute, bad value, unknown
    /// operator) are skipped and listed in `problems()`.
    pub fn compile(rows: &UserRows, dict: &Dictionary) -> Self {
        let _ = (rows, dict);
        todo!()
    }

    /// Rows skipped at compile time, as readable messages (no secrets).
    pub fn problems(&self) -> &[String] {
        todo!()
    }

    /// `Simultaneous-Use` check item, if any (enforced by the session layer).
    pub fn simultaneous_use(&self) -> Option<u32> {
        todo!()
    }

    /// Evaluate check items against `request` at time `now` (Unix seconds).
    pub fn authorize(&self, request: &Packet<'_>, now: i64) -> Authorization<'_> {
        let _ = (request, now);
        todo!()
    }
}
