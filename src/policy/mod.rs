//! Authorization with FreeRADIUS rlm_sql semantics, compiled once per profile load.
//!
//! `Profile::compile` turns a user's rows (radcheck, radreply, groups) into check items and
//! pre-encoded reply attributes (dictionary work happens here, not per packet);
//! `Profile::authorize` evaluates the check items against one request.
//!
//! # Semantics (FreeRADIUS 3.2 `rlm_sql` authorize, `rlm_expiration`)
//! 1. **User level.** When the user has radcheck rows and all of their comparisons pass, the
//!    radcheck control items (`:=`, `=`, `+=`) are merged into the control set and the
//!    radreply items into the reply. Comparisons failing skips both. A user without radcheck
//!    rows has no user level: their radreply rows are ignored, as in FreeRADIUS.
//! 2. **Groups**, in priority order, unless the user level's reply said `Fall-Through = No`.
//!    A group whose comparisons fail is passed over. The first group that matches is merged
//!    (control and reply); the walk goes on to the next group only if that group's reply
//!    holds `Fall-Through = Yes`. Fall-Through is never sent.
//! 3. **Merging**: `=` adds if the attribute is not there yet, `:=` replaces every earlier
//!    instance, `+=` always adds. Later levels merge over earlier ones, so a group's `:=`
//!    overrides the user's value and a group's `=` does not (FreeRADIUS order). Reply items
//!    are identified by (vendor, type); tags are not told apart. Single-valued items
//!    (passwords, Auth-Type, Expiration, Simultaneous-Use, Session-Timeout and the limits)
//!    treat `+=` as `=`.
//! 4. **Result**: the walk reached a level with a comparison that could not be compiled
//!    or an unknown `Auth-Type` ⇒ `Deny(BrokenRow)` (fail closed, as FreeRADIUS fails the
//!    request); no level matched ⇒ `Deny(CheckItemsFailed)`; `Auth-Type := Reject` ⇒
//!    `Deny(AuthTypeReject)`; `Expiration` at or before `now` ⇒ `Deny(Expired)`, later ⇒
//!    `session_timeout` is at most the seconds left; `Auth-Type := Accept` ⇒ no password
//!    check; otherwise no credential ⇒ `Deny(NoCredential)`, or `Deny(CheckItemsFailed)` if
//!    the user's own comparisons failed (that is then why the password is missing).
//!    With several password attributes merged, Cleartext-Password is preferred (it serves
//!    every method), then NT-Password, then Crypt-Password.
//!
//! # Deviations from FreeRADIUS, on purpose
//! - `Cleartext-Password == x`, `NT-Password == x`, `Crypt-Password == x` and the FreeRADIUS
//!   1.x spelling `User-Password == x` set the credential as `:=` would. FreeRADIUS 3 would
//!   compare them with the request and (except PAP with User-Password) fail; daloRADIUS-era
//!   data is full of them. The same holds for `==` on Auth-Type, Expiration,
//!   Simultaneous-Use and the limits above.
//! - `=` on a server-side attribute in a check list sets it (as FreeRADIUS documents); on a
//!   protocol attribute it compares, like `==`.
//! - `!=` and `!~` pass when the request lacks the attribute (see `check`).
//! - Rows FreeRADIUS would refuse outright (unknown attribute, bad value) make it fail the
//!   whole request; here they are skipped and reported by `problems()`, except that an
//!   unusable *comparison*, an unknown `Auth-Type` or an unreadable limit (quota,
//!   `Expire-After`, `Login-Time`) fails every request that reaches its level (`BrokenRow`) and an unreadable `Expiration` counts as expired — a broken
//!   restriction never turns into no restriction.
//! - Zone-less `Expiration` text is read in the configured zone (`Profile::compile_in`;
//!   `compile` uses UTC; see `date`).
//!
//! # Enforced elsewhere
//! `authorize` compiles and merges these, but does not enforce them: enforcing them takes
//! the session store, which this module never touches.
//! - **Limits** (`Max-All-Session`, `Max-Daily-Session`, `Max-Monthly-Session`,
//!   `Max-Total-Octets`, `Max-Daily-Octets`, `Max-Monthly-Octets`, `Expire-After`,
//!   `Login-Time`) come out merged per request in `Proceed::limits`. The handler fetches the
//!   user's usage from the session store and calls [`limits::decide`], which refuses a
//!   used-up quota, an elapsed `Expire-After` or a time outside `Login-Time`
//!   ([`limits::LimitReason`]) or grants a session timeout and the data left.
//!   An unreadable limit value fails closed (`Deny(BrokenRow)`), like a broken comparison.
//! - **`Simultaneous-Use`** comes out merged per request in `Proceed::simultaneous_use`
//!   (statically in [`Profile::simultaneous_use`]); the handler compares it with the
//!   session store's count of open sessions.
//!
//! # Known limitations
//! Encrypted reply attributes (Tunnel-Password) cannot be pre-encoded and are not sent;
//! `%{...}` expansions and back-quoted values are not run; comparisons on tagged attributes
//! and on server-side attributes other than those above are not supported (they fail
//! closed).

mod check;
mod compile;
mod date;
pub mod limits;
#[cfg(test)]
mod limits_tests;
mod login_time;
mod op;
mod standing;
#[cfg(test)]
mod tests;

use compile::{AuthType, Compiler, Control, CredKind, Level, Origin, ReplyValue};
pub use limits::Limits;
use op::Merge;
pub use standing::Standing;

use crate::model::UserRows;
use radius_proto::auth::Credential;
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::Packet;

/// A compiled user profile, cached (as `Arc<Profile>`) in L1. Immutable, `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// The user's own level (radcheck + radreply).
    user: Level,
    /// Groups in priority order.
    groups: Box<[Level]>,
    /// Arena of pre-encoded reply TLVs, indexed by `ReplyValue::Wire` ranges.
    wire: Box<[u8]>,
    /// Total reply items over all levels (capacity of the per-request reply list).
    reply_items: usize,
    /// Rows skipped at compile time.
    problems: Box<[String]>,
    /// Simultaneous-Use when every level's comparisons pass.
    simultaneous_use: Option<u32>,
    /// Other server-side control items when every level's comparisons pass.
    other_control: Box<[(String, String)]>,
    /// The Acct-Interim-Interval reply item when every level's comparisons pass.
    interim_interval: Option<u32>,
}

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
    /// A level the walk reached holds a comparison that could not be compiled, or an
    /// `Auth-Type` we do not know: the request fails (FreeRADIUS does the same), rather
    /// than skipping a restriction and letting the next group accept.
    BrokenRow,
}

impl DenyReason {
    /// Stable label.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthTypeReject => "auth_type_reject",
            Self::Expired => "expired",
            Self::CheckItemsFailed => "check_items_failed",
            Self::NoCredential => "no_credential",
            Self::BrokenRow => "broken_row",
        }
    }
}

/// The result of authorizing one request against a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
// `Proceed` holds its reply items inline (no allocation per request); the value is
// consumed at once by the caller, so its size costs a copy, not memory.
#[allow(clippy::large_enum_variant)]
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
        reply: ReplyItems<'p>,
        /// Session-Timeout to send: the reply item, capped by the time left before
        /// `Expiration` (not yet by `limits`: see [`limits::decide`]).
        session_timeout: Option<u32>,
        /// Quotas, `Expire-After` and `Login-Time` merged for this request, to be decided
        /// with [`limits::decide`] when not [`Limits::is_empty`].
        limits: Limits<'p>,
        /// `Simultaneous-Use` merged for this request: the handler compares it with the
        /// session store's count of open sessions.
        simultaneous_use: Option<u32>,
    },
    /// Refuse without checking credentials.
    Deny(DenyReason),
}

/// The control set merged over the matched levels (borrowing the profile).
#[derive(Default)]
struct ControlSet<'p> {
    cleartext: Option<&'p Credential>,
    nt: Option<&'p Credential>,
    crypt: Option<&'p Credential>,
    auth_type: Option<AuthType>,
    expiration: Option<i64>,
    simultaneous_use: Option<u32>,
    limits: Limits<'p>,
}

impl<'p> ControlSet<'p> {
    fn merge(&mut self, level: &'p Level) {
        for (merge, control) in &level.control {
            match control {
                Control::Credential(kind, cred) => {
                    let slot = match kind {
                        CredKind::Cleartext => &mut self.cleartext,
                        CredKind::Nt => &mut self.nt,
                        CredKind::Crypt => &mut self.crypt,
                    };
                    assign(slot, *merge, cred);
                }
                Control::AuthType(t) => assign(&mut self.auth_type, *merge, *t),
                Control::Expiration(t) => assign(&mut self.expiration, *merge, *t),
                Control::SimultaneousUse(n) => assign(&mut self.simultaneous_use, *merge, *n),
                Control::Quota(quota, n) => assign(self.limits.slot(*quota), *merge, *n),
                Control::LoginTime(t) => assign(&mut self.limits.login_time, *merge, &**t),
                Control::Other { .. } => {}
            }
        }
    }

    fn credential(&self) -> Option<&'p Credential> {
        self.cleartext.or(self.nt).or(self.crypt)
    }
}

/// Single-valued assignment: `:=` replaces, `=` and `+=` set only when unset.
fn assign<T>(slot: &mut Option<T>, merge: Merge, value: T) {
    if merge == Merge::Replace || slot.is_none() {
        *slot = Some(value);
    }
}

/// (vendor, type) of a pre-encoded reply attribute TLV (vendor 0 for a standard
/// attribute): what reply merging keys on, and how callers recognise an item.
pub fn reply_key(tlv: &[u8]) -> (u32, u8) {
    match tlv {
        [26, _, a, b, c, d, typ, ..] => (u32::from_be_bytes([*a, *b, *c, *d]), *typ),
        [typ, ..] => (0, *typ),
        [] => (0, 0),
    }
}

/// How the level walk went.
struct Walk {
    /// At least one level matched.
    matched_any: bool,
    /// The user had radcheck rows and their comparisons failed.
    user_failed: bool,
    /// The walk reached a level with a broken comparison: fail the request.
    broken: bool,
}

impl Profile {
    /// Compile rows, zone-less `Expiration` text read as UTC. Rows that cannot be
    /// understood (unknown attribute, bad value, unknown operator) are skipped and listed in
    /// `problems()`.
    pub fn compile(rows: &UserRows, dict: &Dictionary) -> Self {
        Self::compile_in(rows, dict, chrono_tz::Tz::UTC)
    }

    /// [`Profile::compile`], zone-less `Expiration` text read in `tz` (the configured
    /// `[sessions] time_zone`, as FreeRADIUS reads it in the server's zone).
    pub fn compile_in(rows: &UserRows, dict: &Dictionary, tz: chrono_tz::Tz) -> Self {
        let mut c = Compiler {
            dict,
            tz,
            wire: Vec::new(),
            problems: Vec::new(),
        };
        let origin = |list| Origin { list, group: None };
        let user = c.level(
            (&rows.check, origin("radcheck")),
            (&rows.reply, origin("radreply")),
        );
        let groups: Box<[Level]> = rows
            .groups
            .iter()
            .map(|g| {
                let origin = |list| Origin {
                    list,
                    group: Some(&g.name),
                };
                c.level(
                    (&g.check, origin("radgroupcheck")),
                    (&g.reply, origin("radgroupreply")),
                )
            })
            .collect();
        let mut profile = Self {
            user,
            groups,
            wire: c.wire.into_boxed_slice(),
            reply_items: 0,
            problems: c.problems.into_boxed_slice(),
            simultaneous_use: None,
            other_control: Box::default(),
            interim_interval: None,
        };
        profile.finish();
        profile
    }

    /// A profile with one credential and fixed reply items, without a dictionary or a
    /// database (tests, benches, the in-memory store). `reply` holds complete pre-encoded
    /// TLV runs, one reply item each.
    pub fn with_credential(
        credential: Credential,
        reply: &[&[u8]],
        session_timeout: Option<u32>,
    ) -> Self {
        let kind = match credential {
            Credential::Cleartext(_) => CredKind::Cleartext,
            Credential::NtHash(_) => CredKind::Nt,
            Credential::Crypt(_) => CredKind::Crypt,
        };
        let mut wire = Vec::new();
        let mut items = Vec::new();
        for tlv in reply {
            let start = wire.len();
            wire.extend_from_slice(tlv);
            items.push((Merge::Append, ReplyValue::Wire(start..wire.len())));
        }
        if let Some(seconds) = session_timeout {
            items.push((Merge::Replace, ReplyValue::SessionTimeout(seconds)));
        }
        let user = Level {
            has_check_rows: true,
            control: vec![(Merge::Replace, Control::Credential(kind, credential))],
            reply: items,
            ..Level::default()
        };
        let mut profile = Self {
            user,
            wire: wire.into_boxed_slice(),
            ..Self::default()
        };
        profile.finish();
        profile
    }

    /// Precompute what does not depend on the request.
    fn finish(&mut self) {
        self.reply_items = std::iter::once(&self.user)
            .chain(self.groups.iter())
            .map(|l| l.reply.len())
            .sum();
        // Static view: every level's comparisons assumed to pass.
        let mut control = ControlSet::default();
        let mut other: Vec<(String, String)> = Vec::new();
        self.walk(
            |level| !level.broken,
            |level| {
                control.merge(level);
                for (merge, c) in &level.control {
                    if let Control::Other { name, value } = c {
                        let existing = other.iter().position(|(n, _)| n == name);
                        match (existing, merge) {
                            (Some(i), Merge::Replace) => {
                                if let Some(slot) = other.get_mut(i) {
                                    slot.1.clone_from(value);
                                }
                            }
                            (Some(_), _) => {}
                            (None, _) => other.push((name.clone(), value.clone())),
                        }
                    }
                }
            },
        );
        self.simultaneous_use = control.simultaneous_use;
        self.other_control = other.into_boxed_slice();
        self.interim_interval = self.standing(i64::MIN).interim_interval;
    }

    /// Walk the levels in FreeRADIUS order, calling `visit` on each matched one.
    fn walk<'s>(
        &'s self,
        mut matches: impl FnMut(&'s Level) -> bool,
        mut visit: impl FnMut(&'s Level),
    ) -> Walk {
        let mut walk = Walk {
            matched_any: false,
            user_failed: false,
            broken: false,
        };
        let mut fall_through = None;
        if self.user.broken {
            walk.broken = true;
            return walk;
        }
        if self.user.has_check_rows {
            if matches(&self.user) {
                walk.matched_any = true;
                fall_through = self.user.fall_through;
                visit(&self.user);
            } else {
                walk.user_failed = true;
            }
        }
        if fall_through == Some(false) {
            return walk;
        }
        for group in &self.groups {
            if group.broken {
                // Reached but not understood: never skip a restriction.
                walk.broken = true;
                break;
            }
            if !matches(group) {
                continue;
            }
            walk.matched_any = true;
            visit(group);
            if group.fall_through != Some(true) {
                break;
            }
        }
        walk
    }

    /// Rows skipped at compile time, as readable messages (no secrets).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// `Simultaneous-Use` check item, if any (enforced by the session layer).
    ///
    /// Computed assuming every level's comparisons pass; a Simultaneous-Use set only by a
    /// level whose comparisons fail for some request is still reported.
    pub fn simultaneous_use(&self) -> Option<u32> {
        self.simultaneous_use
    }

    /// The limits (quotas, `Expire-After`, `Login-Time`) merged assuming every level's
    /// comparisons pass, like `simultaneous_use`; the per-request merge is in
    /// [`Authorization::Proceed`].
    pub fn limits(&self) -> Limits<'_> {
        let mut control = ControlSet::default();
        self.walk(|level| !level.broken, |level| control.merge(level));
        control.limits
    }

    /// The `Acct-Interim-Interval` this profile's Access-Accepts carry (static view, like
    /// `simultaneous_use`): how often the NAS will send Interim-Updates.
    pub fn interim_interval(&self) -> Option<u32> {
        self.interim_interval
    }

    /// Another server-side control item by name, case-insensitive, as text; merged like
    /// `simultaneous_use`. Password attributes, Auth-Type, Expiration, Simultaneous-Use and
    /// the limits (see [`Profile::limits`]) are never returned here.
    pub fn control(&self, name: &str) -> Option<&str> {
        self.other_control
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Evaluate check items against `request` at time `now` (Unix seconds).
    pub fn authorize(&self, request: &Packet<'_>, now: i64) -> Authorization<'_> {
        let mut control = ControlSet::default();
        let mut reply = ReplyItems::with_capacity(self.reply_items);
        let mut session_timeout = None;
        let walk = self.walk(
            |level| !level.broken && level.checks.iter().all(|c| c.matches(request)),
            |level| {
                control.merge(level);
                for (merge, item) in &level.reply {
                    match item {
                        ReplyValue::SessionTimeout(s) => assign(&mut session_timeout, *merge, *s),
                        ReplyValue::Wire(range) => {
                            if let Some(tlv) = self.wire.get(range.clone()) {
                                merge_reply(&mut reply, *merge, tlv);
                            }
                        }
                    }
                }
            },
        );
        if walk.broken {
            return Authorization::Deny(DenyReason::BrokenRow);
        }
        if !walk.matched_any {
            return Authorization::Deny(DenyReason::CheckItemsFailed);
        }
        if control.auth_type == Some(AuthType::Reject) {
            return Authorization::Deny(DenyReason::AuthTypeReject);
        }
        if let Some(expiration) = control.expiration {
            if expiration <= now {
                return Authorization::Deny(DenyReason::Expired);
            }
            let left = u32::try_from(expiration.saturating_sub(now)).unwrap_or(u32::MAX);
            session_timeout = Some(session_timeout.map_or(left, |s: u32| s.min(left)));
        }
        let accept_without_password = control.auth_type == Some(AuthType::Accept);
        let credential = control.credential();
        if credential.is_none() && !accept_without_password {
            return Authorization::Deny(if walk.user_failed {
                DenyReason::CheckItemsFailed
            } else {
                DenyReason::NoCredential
            });
        }
        Authorization::Proceed {
            credential,
            accept_without_password,
            reply,
            session_timeout,
            limits: control.limits,
            simultaneous_use: control.simultaneous_use,
        }
    }
}

/// Reply items held inline (no allocation per request) up to this many.
const INLINE_REPLY_ITEMS: usize = 8;

/// The merged reply items of one request: pre-encoded attribute TLVs borrowed from the
/// profile, in order. Up to [`INLINE_REPLY_ITEMS`] are kept inline, so authorizing a
/// typical profile allocates nothing; more move to the heap. Reads as a slice.
#[derive(Clone)]
pub struct ReplyItems<'p> {
    inline: [&'p [u8]; INLINE_REPLY_ITEMS],
    len: usize,
    /// Every item once more than fit inline (`inline` is then unused).
    heap: Option<Vec<&'p [u8]>>,
}

impl Default for ReplyItems<'_> {
    fn default() -> Self {
        Self {
            inline: [&[]; INLINE_REPLY_ITEMS],
            len: 0,
            heap: None,
        }
    }
}

impl<'p> ReplyItems<'p> {
    /// Room for `n` items (on the heap only when they cannot fit inline).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            heap: (n > INLINE_REPLY_ITEMS).then(|| Vec::with_capacity(n)),
            ..Self::default()
        }
    }

    /// Append one item.
    pub fn push(&mut self, tlv: &'p [u8]) {
        if let Some(heap) = &mut self.heap {
            heap.push(tlv);
        } else if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = tlv;
            self.len += 1;
        } else {
            let mut heap = Vec::with_capacity(2 * INLINE_REPLY_ITEMS);
            heap.extend_from_slice(&self.inline);
            heap.push(tlv);
            self.heap = Some(heap);
        }
    }

    /// Keep only the items `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        if let Some(heap) = &mut self.heap {
            heap.retain(|t| keep(t));
            return;
        }
        let mut kept = 0;
        for i in 0..self.len {
            let tlv = self.inline[i];
            if keep(tlv) {
                self.inline[kept] = tlv;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

impl<'p> std::ops::Deref for ReplyItems<'p> {
    type Target = [&'p [u8]];

    fn deref(&self) -> &Self::Target {
        match &self.heap {
            Some(heap) => heap,
            None => self.inline.get(..self.len).unwrap_or_default(),
        }
    }
}

impl std::fmt::Debug for ReplyItems<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for ReplyItems<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for ReplyItems<'_> {}

impl<'p, const N: usize> PartialEq<[&'p [u8]; N]> for ReplyItems<'p> {
    fn eq(&self, other: &[&'p [u8]; N]) -> bool {
        **self == other[..]
    }
}

/// Merge one pre-encoded reply item per its operator.
fn merge_reply<'p>(reply: &mut ReplyItems<'p>, merge: Merge, tlv: &'p [u8]) {
    let key = reply_key(tlv);
    match merge {
        Merge::Append => {}
        Merge::IfAbsent => {
            if reply.iter().any(|r| reply_key(r) == key) {
                return;
            }
        }
        Merge::Replace => reply.retain(|r| reply_key(r) != key),
    }
    reply.push(tlv);
}
