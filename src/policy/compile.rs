//! Rows → compiled check levels: every dictionary lookup, value parse, reply encoding and
//! regex compilation happens here, once per profile load.
//!
//! A row that cannot be understood is skipped and described in a problem message (which
//! names the list, row number, attribute and operator, never the value). A *comparison* row
//! that cannot be understood makes its whole check list fail ("fail closed"): skipping it
//! would silently drop a restriction such as a MAC binding.

use std::ops::Range;

use super::check::Check;
use super::date::parse_expiration;
use super::limits::{LoginTime, Quota};
use super::op::{CmpOp, Merge, Op, ValueTextError, parse_yes_no, unquote};
use crate::model::RadRow;
use radius_proto::auth::Credential;
use radius_proto::dictionary::{Dictionary, ValueError};
use radius_proto::protocol::Secret;

/// Which password attribute a credential came from (each is its own control slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CredKind {
    /// Cleartext-Password (or User-Password in a check list).
    Cleartext,
    /// NT-Password.
    Nt,
    /// Crypt-Password.
    Crypt,
}

/// `Auth-Type` values that change what we do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthType {
    /// Accept without a password.
    Accept,
    /// Reject.
    Reject,
    /// PAP, CHAP, MS-CHAP, Local...: the normal credential check.
    Normal,
}

/// A control ("config") item set by a check list.
#[derive(Clone)]
pub(super) enum Control {
    /// A known-good password.
    Credential(CredKind, Credential),
    /// `Auth-Type`.
    AuthType(AuthType),
    /// `Expiration`, Unix seconds.
    Expiration(i64),
    /// `Simultaneous-Use`.
    SimultaneousUse(u32),
    /// A numeric limit (`Max-*-Session`, `Max-*-Octets`, `Expire-After`).
    Quota(Quota, u64),
    /// `Login-Time`, compiled (boxed: the bitset is about 1.3 KiB).
    LoginTime(Box<LoginTime>),
    /// Any other server-side attribute, as text.
    Other {
        /// Dictionary name.
        name: String,
        /// Value text.
        value: String,
    },
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credential(kind, _) => write!(f, "Credential({kind:?}, ***)"),
            Self::AuthType(t) => write!(f, "AuthType({t:?})"),
            Self::Expiration(t) => write!(f, "Expiration({t})"),
            Self::SimultaneousUse(n) => write!(f, "SimultaneousUse({n})"),
            Self::Quota(q, n) => write!(f, "Quota({q:?}, {n})"),
            Self::LoginTime(t) => write!(f, "{t:?}"),
            Self::Other { name, value } => write!(f, "Other({name} = {value:?})"),
        }
    }
}

/// A reply item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReplyValue {
    /// Pre-encoded TLV bytes: a range of `Profile::wire`.
    Wire(Range<usize>),
    /// Session-Timeout (kept apart: it is capped by Expiration).
    SessionTimeout(u32),
}

/// One check level: the user's radcheck/radreply, or one group's.
#[derive(Debug, Clone, Default)]
pub(super) struct Level {
    /// The check list had rows (FreeRADIUS ignores a user's radreply without radcheck rows).
    pub(super) has_check_rows: bool,
    /// A comparison row could not be compiled: this level never matches.
    pub(super) broken: bool,
    /// Comparisons, all of which must pass.
    pub(super) checks: Vec<Check>,
    /// Control items merged when the level matches.
    pub(super) control: Vec<(Merge, Control)>,
    /// Reply items merged when the level matches.
    pub(super) reply: Vec<(Merge, ReplyValue)>,
    /// `Fall-Through` from the reply list (first one wins), `None` when absent.
    pub(super) fall_through: Option<bool>,
}

/// Shared compile state: the dictionary, the reply byte arena and the problem list.
pub(super) struct Compiler<'d> {
    pub(super) dict: &'d Dictionary,
    /// Zone of zone-less `Expiration` text.
    pub(super) tz: chrono_tz::Tz,
    pub(super) wire: Vec<u8>,
    pub(super) problems: Vec<String>,
}

/// Where a row came from, for problem messages.
#[derive(Clone, Copy)]
pub(super) struct Origin<'a> {
    pub(super) list: &'static str,
    pub(super) group: Option<&'a str>,
}

impl Compiler<'_> {
    /// Compile one level from its check and reply rows.
    pub(super) fn level(
        &mut self,
        check: (&[RadRow], Origin<'_>),
        reply: (&[RadRow], Origin<'_>),
    ) -> Level {
        let mut level = Level {
            has_check_rows: !check.0.is_empty(),
            ..Level::default()
        };
        for (i, row) in check.0.iter().enumerate() {
            if let Err(reason) = self.check_row(&mut level, row) {
                self.problem(check.1, i, row, &reason);
            }
        }
        for (i, row) in reply.0.iter().enumerate() {
            if let Err(reason) = self.reply_row(&mut level, row) {
                self.problem(reply.1, i, row, &reason);
            }
        }
        level
    }

    fn problem(&mut self, origin: Origin<'_>, index: usize, row: &RadRow, reason: &str) {
        let attribute: String = row.attribute.trim().chars().take(64).collect();
        let op: String = row.op.trim().chars().take(4).collect();
        let place = match origin.group {
            Some(group) => format!("{} (group {group:?})", origin.list),
            None => origin.list.to_string(),
        };
        self.problems.push(format!(
            "{place} row {} ({attribute} {op}): {reason}",
            index + 1
        ));
    }

    /// One radcheck / radgroupcheck row. On error the row is skipped; comparison rows
    /// also mark the level broken.
    fn check_row(&mut self, level: &mut Level, row: &RadRow) -> Result<(), String> {
        let name = row.attribute.trim();
        let Some(op) = Op::parse(&row.op) else {
            level.broken = true;
            return Err("unknown operator; the check list will never match".into());
        };
        let text = match unquote(&row.value) {
            Ok(text) => text,
            Err(e) => {
                if matches!(op, Op::Cmp(_) | Op::Eq) {
                    level.broken = true;
                }
                return Err(value_text_error(e));
            }
        };
        if let Some(special) = Special::from_name(name) {
            return self.special_check(level, special, op, &text);
        }
        if is_password_name(name) {
            if matches!(op, Op::Cmp(_)) {
                level.broken = true;
            }
            return Err("password attribute not supported (use Cleartext-Password, \
                        NT-Password or Crypt-Password)"
                .into());
        }
        let Some(def) = self.dict.attr(name) else {
            if matches!(op, Op::Cmp(_) | Op::Eq) {
                level.broken = true;
            }
            return Err("unknown attribute".into());
        };
        let server_side = def.vendor == 0 && def.code > 255;
        match op {
            Op::Set | Op::Eq | Op::Add if server_side => {
                let value = text.trim();
                self.dict
                    .encode_value(def, value)
                    .map_err(|_| format!("value is not a valid {:?}", def.typ))?;
                level.control.push((
                    merge_of(op),
                    Control::Other {
                        name: def.name.clone(),
                        value: value.to_string(),
                    },
                ));
                Ok(())
            }
            Op::Set | Op::Add => {
                Err("a protocol attribute set in a check list has no effect; ignored".into())
            }
            // FreeRADIUS reverts `=` on a protocol attribute in a check list to `==`.
            Op::Eq | Op::Cmp(_) => {
                let cmp = match op {
                    Op::Cmp(cmp) => cmp,
                    _ => CmpOp::Eq,
                };
                match Check::compile(self.dict, def, cmp, &text) {
                    Ok(check) => {
                        level.checks.push(check);
                        Ok(())
                    }
                    Err(reason) => {
                        level.broken = true;
                        Err(format!("{reason}; the check list will never match"))
                    }
                }
            }
        }
    }

    fn special_check(
        &mut self,
        level: &mut Level,
        special: Special,
        op: Op,
        text: &str,
    ) -> Result<(), String> {
        let merge = match op {
            Op::Set | Op::Cmp(CmpOp::Eq) => Merge::Replace,
            Op::Eq | Op::Add => Merge::IfAbsent,
            Op::Cmp(_) => {
                level.broken = true;
                return Err("operator not supported on this attribute; \
                            the check list will never match"
                    .into());
            }
        };
        let control = match special {
            Special::Credential(CredKind::Crypt) => {
                if let Err(e) = radius_proto::auth::crypt::check_work_factor(text.trim()) {
                    // Fail closed: a hash too costly to check is a broken row, not a
                    // login that burns the server's CPU.
                    level.broken = true;
                    return Err(e);
                }
                Control::Credential(CredKind::Crypt, credential(CredKind::Crypt, text)?)
            }
            Special::Credential(kind) => Control::Credential(kind, credential(kind, text)?),
            Special::AuthType => match auth_type(text) {
                Ok(t) => Control::AuthType(t),
                Err(e) => {
                    // Fail closed: FreeRADIUS fails a request whose Auth-Type it cannot run.
                    level.broken = true;
                    return Err(e);
                }
            },
            Special::Expiration => match parse_expiration(text, self.tz) {
                Some(t) => Control::Expiration(t),
                None => {
                    // Fail closed: an unreadable expiry must not mean "never expires".
                    level
                        .control
                        .push((Merge::Replace, Control::Expiration(i64::MIN)));
                    return Err("unreadable date; the account is treated as expired".into());
                }
            },
            Special::SimultaneousUse => Control::SimultaneousUse(
                text.trim()
                    .parse()
                    .map_err(|_| "not a non-negative integer; ignored".to_string())?,
            ),
            Special::Quota(quota) => match text.trim().parse() {
                Ok(n) => Control::Quota(quota, n),
                Err(_) => {
                    // Fail closed: an unreadable limit must not mean "no limit".
                    level.broken = true;
                    return Err("not a non-negative 64-bit integer; \
                                the check list will never match"
                        .into());
                }
            },
            Special::LoginTime => match LoginTime::parse(text) {
                Ok(t) => Control::LoginTime(Box::new(t)),
                Err(e) => {
                    level.broken = true;
                    return Err(format!("{e}; the check list will never match"));
                }
            },
            // Fall-Through only means something in reply lists.
            Special::FallThrough => return Ok(()),
        };
        level.control.push((merge, control));
        Ok(())
    }

    /// One radreply / radgroupreply row.
    fn reply_row(&mut self, level: &mut Level, row: &RadRow) -> Result<(), String> {
        let name = row.attribute.trim();
        let merge = match Op::parse(&row.op) {
            Some(op @ (Op::Set | Op::Eq | Op::Add)) => merge_of(op),
            Some(Op::Cmp(_)) => return Err("comparison operator in a reply list; ignored".into()),
            None => return Err("unknown operator; ignored".into()),
        };
        let text = unquote(&row.value).map_err(value_text_error)?;
        match Special::from_name(name) {
            Some(Special::FallThrough) => {
                let yes = parse_yes_no(&text).ok_or("Fall-Through must be Yes or No; ignored")?;
                level.fall_through.get_or_insert(yes);
                return Ok(());
            }
            Some(_) => return Err("server-side attribute in a reply list; never sent".into()),
            None => {}
        }
        if name.eq_ignore_ascii_case("Session-Timeout") {
            let seconds = text
                .trim()
                .parse()
                .map_err(|_| "not a 32-bit number of seconds; ignored".to_string())?;
            level
                .reply
                .push((merge, ReplyValue::SessionTimeout(seconds)));
            return Ok(());
        }
        let def = self.dict.attr(untagged(name)).ok_or("unknown attribute")?;
        if def.vendor == 0 && def.code > 255 {
            return Err("server-side attribute in a reply list; never sent".into());
        }
        let start = self.wire.len();
        let encoded = self
            .dict
            .encode_attribute(name, encode_text(def.typ, &text), &mut self.wire);
        if let Err(e) = encoded {
            self.wire.truncate(start);
            return Err(match e {
                ValueError::Encrypted(_) => {
                    "encrypted attribute cannot be pre-encoded (known limitation); not sent".into()
                }
                ValueError::UnknownAttribute(_) => "unknown attribute".into(),
                ValueError::Invalid { message, .. } if !is_password_name(name) => {
                    format!("invalid value ({message}); not sent")
                }
                ValueError::Invalid { .. } => "invalid value; not sent".into(),
            });
        }
        level
            .reply
            .push((merge, ReplyValue::Wire(start..self.wire.len())));
        Ok(())
    }
}

/// Attributes with meaning to the policy itself, recognised by name (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Credential(CredKind),
    AuthType,
    Expiration,
    SimultaneousUse,
    Quota(Quota),
    LoginTime,
    FallThrough,
}

impl Special {
    fn from_name(name: &str) -> Option<Self> {
        const NAMES: [(&str, Special); 9] = [
            (
                "Cleartext-Password",
                Special::Credential(CredKind::Cleartext),
            ),
            ("User-Password", Special::Credential(CredKind::Cleartext)),
            ("NT-Password", Special::Credential(CredKind::Nt)),
            ("Crypt-Password", Special::Credential(CredKind::Crypt)),
            ("Auth-Type", Special::AuthType),
            ("Expiration", Special::Expiration),
            ("Simultaneous-Use", Special::SimultaneousUse),
            ("Fall-Through", Special::FallThrough),
            ("Login-Time", Special::LoginTime),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, s)| *s)
            .or_else(|| {
                Quota::ALL
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, q)| Self::Quota(*q))
            })
    }
}

/// Any attribute name that looks like it holds a password (never echoed with its value).
fn is_password_name(name: &str) -> bool {
    name.to_ascii_lowercase().contains("password")
}

/// `Tunnel-Type:1` → `Tunnel-Type`.
fn untagged(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((base, tag)) if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// Blanks around numbers, dates and addresses are admin noise; text keeps them.
fn encode_text(typ: radius_proto::dictionary::AttrType, text: &str) -> &str {
    use radius_proto::dictionary::AttrType;
    match typ {
        AttrType::String | AttrType::Octets => text,
        _ => text.trim(),
    }
}

fn merge_of(op: Op) -> Merge {
    match op {
        Op::Set => Merge::Replace,
        Op::Add => Merge::Append,
        Op::Eq | Op::Cmp(_) => Merge::IfAbsent,
    }
}

fn value_text_error(e: ValueTextError) -> String {
    match e {
        ValueTextError::Expansion => "%{...} expansions are not supported".into(),
        ValueTextError::Exec => "back-quoted (program) values are not supported".into(),
    }
}

fn credential(kind: CredKind, text: &str) -> Result<Credential, String> {
    match kind {
        CredKind::Cleartext if text.is_empty() => Err("empty password; ignored".into()),
        CredKind::Cleartext => Ok(Credential::Cleartext(Secret::from(text))),
        CredKind::Crypt if text.trim().is_empty() => Err("empty hash; ignored".into()),
        CredKind::Crypt => Ok(Credential::Crypt(Secret::from(text.trim()))),
        CredKind::Nt => parse_nt_hash(text)
            .map(Credential::NtHash)
            .ok_or_else(|| "not 32 hexadecimal digits; ignored".into()),
    }
}

/// 32 hex digits, optionally `0x`-prefixed.
fn parse_nt_hash(text: &str) -> Option<[u8; 16]> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn auth_type(text: &str) -> Result<AuthType, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("Accept") {
        Ok(AuthType::Accept)
    } else if t.eq_ignore_ascii_case("Reject") {
        Ok(AuthType::Reject)
    } else if ["PAP", "CHAP", "MS-CHAP", "Local"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
    {
        Ok(AuthType::Normal)
    } else {
        Err("Auth-Type value not supported; requests reaching it are rejected".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_hash_parsing() {
        let want = [
            0x88, 0x46, 0xf7, 0xea, 0xee, 0x8f, 0xb1, 0x17, 0xad, 0x06, 0xbd, 0xd8, 0x30, 0xb7,
            0x58, 0x6c,
        ];
        assert_eq!(
            parse_nt_hash("8846F7EAEE8FB117AD06BDD830B7586C"),
            Some(want)
        );
        assert_eq!(
            parse_nt_hash("0x8846f7eaee8fb117ad06bdd830b7586c"),
            Some(want)
        );
        assert_eq!(parse_nt_hash("8846f7eaee8fb117ad06bdd830b7586"), None);
        assert_eq!(parse_nt_hash("zz46f7eaee8fb117ad06bdd830b7586c"), None);
        assert_eq!(parse_nt_hash("+846f7eaee8fb117ad06bdd830b7586c"), None);
        assert_eq!(parse_nt_hash("ññ46f7eaee8fb117ad06bdd830b758"), None);
    }

    #[test]
    fn auth_types() {
        assert_eq!(auth_type("accept"), Ok(AuthType::Accept));
        assert_eq!(auth_type(" Reject "), Ok(AuthType::Reject));
        assert_eq!(auth_type("PAP"), Ok(AuthType::Normal));
        assert!(auth_type("EAP").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(untagged("Tunnel-Type:1"), "Tunnel-Type");
        assert_eq!(untagged("Mikrotik-Rate-Limit"), "Mikrotik-Rate-Limit");
        assert_eq!(untagged("Odd:"), "Odd:");
        assert_eq!(
            Special::from_name("cleartext-password"),
            Some(Special::Credential(CredKind::Cleartext))
        );
        assert!(is_password_name("SSHA-Password"));
    }

    #[test]
    fn control_debug_hides_credentials() {
        let c = Control::Credential(CredKind::Nt, Credential::NtHash([0xab; 16]));
        let shown = format!("{c:?}");
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }
}
