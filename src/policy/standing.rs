//! A user's standing without a request: what the profile says when every level's
//! comparisons are assumed to pass (as [`Profile::limits`] does). Used where there is no
//! Access-Request to evaluate — an admin's change pushed by NOTIFY, an Interim-Update — to
//! decide whether an open session must be disconnected or its rate limit changed.

use radius_proto::auth::Credential;
use radius_proto::protocol::attrs;

use super::compile::{AuthType, Level, ReplyValue};
use super::{ControlSet, DenyReason, Limits, Profile, assign, merge_reply, reply_key};

/// What the profile allows, request aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing<'p> {
    /// The user may not log in at all now (`Auth-Type := Reject`, `Expiration` passed, a
    /// broken row on the way).
    pub denied: Option<DenyReason>,
    /// The merged limits.
    pub limits: Limits<'p>,
    /// The merged Mikrotik-Rate-Limit reply item, as a complete attribute TLV.
    pub rate_limit: Option<Vec<u8>>,
    /// The merged Acct-Interim-Interval reply item, seconds.
    pub interim_interval: Option<u32>,
    /// Every merged reply item (Session-Timeout aside), as complete attribute TLVs.
    pub reply: Vec<&'p [u8]>,
    /// The merged Session-Timeout reply item (before `Expiration` and the limits cap it).
    pub session_timeout: Option<u32>,
    /// The credential a password is checked against (Cleartext, then NT, then Crypt).
    pub credential: Option<&'p Credential>,
    /// `Auth-Type := Accept`: no password is checked.
    pub accept_without_password: bool,
    /// The merged `Expiration` (Unix seconds).
    pub expiration: Option<i64>,
}

const RATE_LIMIT: (u32, u8) = (attrs::mikrotik::VENDOR_ID, attrs::mikrotik::RATE_LIMIT);
const INTERIM: (u32, u8) = (0, attrs::ACCT_INTERIM_INTERVAL);

impl Profile {
    /// Whether the user may log in at all at `now`, and the merged limits — the part of
    /// [`Profile::standing`] the accounting path needs, without allocating.
    pub fn admission(&self, now: i64) -> (Option<DenyReason>, Limits<'_>) {
        let (denied, control) = self.walk_control(now, |_| {});
        (denied, control.limits)
    }

    /// The control walk behind both: `visit` also sees every matched level.
    fn walk_control<'s>(
        &'s self,
        now: i64,
        mut visit: impl FnMut(&'s Level),
    ) -> (Option<DenyReason>, ControlSet<'s>) {
        let mut control = ControlSet::default();
        let walk = self.walk(
            |level| !level.broken,
            |level| {
                control.merge(level);
                visit(level);
            },
        );
        let denied = if walk.broken {
            Some(DenyReason::BrokenRow)
        } else if control.auth_type == Some(AuthType::Reject) {
            Some(DenyReason::AuthTypeReject)
        } else if control.expiration.is_some_and(|e| e <= now) {
            Some(DenyReason::Expired)
        } else {
            None
        };
        (denied, control)
    }

    /// The user's standing at `now` (Unix seconds), every comparison assumed to pass.
    pub fn standing(&self, now: i64) -> Standing<'_> {
        let mut reply = super::ReplyItems::default();
        let mut session_timeout = None;
        let (denied, control) = self.walk_control(now, |level| {
            for (merge, item) in &level.reply {
                match item {
                    ReplyValue::Wire(range) => {
                        if let Some(tlv) = self.wire.get(range.clone()) {
                            merge_reply(&mut reply, *merge, tlv);
                        }
                    }
                    ReplyValue::SessionTimeout(s) => assign(&mut session_timeout, *merge, *s),
                }
            }
        });
        Standing {
            denied,
            limits: control.limits,
            session_timeout,
            credential: control.credential(),
            accept_without_password: control.auth_type == Some(AuthType::Accept),
            expiration: control.expiration,
            rate_limit: reply
                .iter()
                .rev()
                .find(|t| reply_key(t) == RATE_LIMIT)
                .map(|t| t.to_vec()),
            interim_interval: reply
                .iter()
                .rev()
                .find(|t| reply_key(t) == INTERIM)
                .and_then(|t| <[u8; 4]>::try_from(t.get(2..)?).ok())
                .map(u32::from_be_bytes),
            reply: reply.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{RadRow, UserRows};
    use crate::policy::{DenyReason, Profile};
    use radius_proto::auth::Credential;
    use radius_proto::dictionary::Dictionary;

    fn row(attribute: &str, op: &str, value: &str) -> RadRow {
        RadRow {
            attribute: attribute.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    fn profile(check: Vec<RadRow>, reply: Vec<RadRow>) -> Profile {
        let rows = UserRows {
            username: "u".into(),
            check,
            reply,
            groups: Vec::new(),
        };
        Profile::compile(&rows, &Dictionary::builtin())
    }

    #[test]
    fn standing_reports_rejection_expiry_limits_and_rate_limit() {
        let ok = profile(
            vec![
                row("Cleartext-Password", ":=", "x"),
                row("Max-Daily-Session", ":=", "3600"),
            ],
            vec![
                row("Mikrotik-Rate-Limit", ":=", "2M/4M"),
                row("Acct-Interim-Interval", ":=", "900"),
            ],
        );
        assert_eq!(ok.interim_interval(), Some(900));
        let s = ok.standing(1_000);
        assert_eq!(ok.admission(1_000), (s.denied, s.limits));
        assert_eq!(s.denied, None);
        assert_eq!(s.limits.max_daily_session, Some(3600));
        let rate = s.rate_limit.clone().expect("rate limit");
        assert!(rate.ends_with(b"2M/4M"), "{rate:?}");
        assert_eq!(s.reply.len(), 2, "{:?}", s.reply);
        assert!(matches!(s.credential, Some(Credential::Cleartext(_))));
        assert!(!s.accept_without_password);
        assert_eq!((s.session_timeout, s.expiration), (None, None));

        let rejected = profile(
            vec![
                row("Cleartext-Password", ":=", "x"),
                row("Auth-Type", ":=", "Reject"),
            ],
            vec![],
        );
        assert_eq!(
            rejected.standing(0).denied,
            Some(DenyReason::AuthTypeReject)
        );
        assert_eq!(rejected.admission(0).0, Some(DenyReason::AuthTypeReject));

        let expiring = profile(
            vec![
                row("Cleartext-Password", ":=", "x"),
                row("Expiration", ":=", "2026-12-05T10:00:00Z"),
            ],
            vec![],
        );
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(expiring.standing(at - 1).denied, None);
        assert_eq!(expiring.standing(at).denied, Some(DenyReason::Expired));
        assert_eq!(expiring.standing(at).rate_limit, None);
    }
}
