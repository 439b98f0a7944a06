//! Comparison check items (`==`, `!=`, `<`, `=~`, `=*`, ...) against the request's
//! attributes.
//!
//! Values are resolved once, at compile time, into the request's wire form (numbers, bytes,
//! a compiled regex); matching walks the request's attribute views and never allocates
//! (a regex search may reuse its per-thread cache).
//!
//! Semantics (FreeRADIUS 3 `paircmp`, with the deviations marked):
//! - a comparison passes when **any** instance of the attribute in the request satisfies it;
//! - integers, dates and IP addresses compare numerically; strings and octets compare as
//!   bytes, exactly (so `Calling-Station-Id == "AA:BB:CC:DD:EE:FF"` is case-sensitive, as in
//!   FreeRADIUS; write the MAC as the NAS sends it, or use `=~` with `(?i)`);
//! - `=~` / `!~` search the value rendered as text: strings as they are, IPs dotted, MACs as
//!   lower-case `aa:bb:cc:dd:ee:ff`, octets as `0x` + hex, integers and dates as decimal
//!   (**deviation**: FreeRADIUS renders named VALUEs and dates by name);
//! - when the attribute is absent, `!=`, `!~` and `!*` pass and everything else fails
//!   (**deviation**: FreeRADIUS fails `!=` and `!~` on an absent attribute; "not equal to X"
//!   is true of a missing value, and the task defines it so);
//! - an instance that cannot be compared (wrong length for its type, text that is not UTF-8
//!   under a regex) satisfies no operator, so it can never open a check.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use regex_lite::{Regex, RegexBuilder};

/// Most memory one compiled `=~`/`!~` comparison may take: rows come from an admin app,
/// and a pathological pattern must not cost the server megabytes per cached profile (it
/// becomes a broken comparison instead, which fails closed).
const REGEX_SIZE_LIMIT: usize = 64 << 10;
/// Deepest nesting of groups/repetitions accepted in such a pattern.
const REGEX_NEST_LIMIT: u32 = 64;

use super::op::CmpOp;
use radius_proto::dictionary::{AttrDef, AttrType, Dictionary, Encrypt};
use radius_proto::protocol::Packet;

/// Where the attribute lives in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// A standard attribute (type octet).
    Standard(u8),
    /// A vendor sub-attribute (vendor id, vendor type octet).
    Vendor(u32, u8),
}

/// How a value is compared and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Big-endian unsigned number (integers, dates).
    Unsigned,
    /// Big-endian signed 32-bit number.
    Signed,
    /// IPv4 address (compared numerically, rendered dotted).
    Ipv4,
    /// IPv6 address (compared numerically).
    Ipv6,
    /// UTF-8 text.
    Text,
    /// MAC address.
    Ether,
    /// Any other bytes (octets, prefixes, combo addresses, ...).
    Bytes,
}

/// A compiled comparison.
#[derive(Debug, Clone)]
pub(super) struct Check {
    target: Target,
    kind: Kind,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    /// `==`, `!=`, `>`, `>=`, `<`, `<=` against a resolved value.
    Compare(CmpOp, Expected),
    /// `=~` (`negate == false`) or `!~`.
    Regex { re: Box<Regex>, negate: bool },
    /// `=*`.
    Present,
    /// `!*`.
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Unsigned(u128),
    Signed(i64),
    Bytes(Box<[u8]>),
}

impl Check {
    /// Compile `def op text`. Errors are readable messages that never include the value.
    pub(super) fn compile(
        dict: &Dictionary,
        def: &AttrDef,
        op: CmpOp,
        text: &str,
    ) -> Result<Self, String> {
        let target = target_of(def)?;
        if def.has_tag {
            return Err("comparisons on tagged attributes are not supported".into());
        }
        if def.encrypt != Encrypt::None {
            return Err("comparisons on encrypted attributes are not supported".into());
        }
        let kind = kind_of(def.typ);
        let test = match op {
            CmpOp::Present => Test::Present,
            CmpOp::Absent => Test::Absent,
            CmpOp::RegexMatch | CmpOp::RegexNoMatch => {
                let re = RegexBuilder::new(text)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .nest_limit(REGEX_NEST_LIMIT)
                    .build()
                    .map_err(|e| format!("invalid or too large regular expression: {e}"))?;
                Test::Regex {
                    re: Box::new(re),
                    negate: op == CmpOp::RegexNoMatch,
                }
            }
            _ => Test::Compare(op, expected(dict, def, kind, text)?),
        };
        Ok(Self { target, kind, test })
    }

    /// Does `request` satisfy this check?
    pub(super) fn matches(&self, request: &Packet<'_>) -> bool {
        let mut seen = false;
        let hit = any_value(request, self.target, |value| {
            seen = true;
            self.test_value(value)
        });
        match &self.test {
            Test::Present => seen,
            Test::Absent => !seen,
            Test::Compare(CmpOp::Ne, _) | Test::Regex { negate: true, .. } if !seen => true,
            _ => hit,
        }
    }

    fn test_value(&self, value: &[u8]) -> bool {
        match &self.test {
            Test::Present | Test::Absent => true,
            Test::Compare(op, want) => match compare(self.kind, value, want) {
                Some(ord) => op_holds(*op, ord),
                None => false,
            },
            Test::Regex { re, negate } => {
                let mut text = StackText::new();
                match render(self.kind, value, &mut text) {
                    Some(s) => re.is_match(s) != *negate,
                    None => false,
                }
            }
        }
    }
}

fn target_of(def: &AttrDef) -> Result<Target, String> {
    let code = u8::try_from(def.code).map_err(|_| {
        if def.vendor == 0 {
            "server-side attribute cannot be compared against the request".to_string()
        } else {
            "vendor attribute number above 255 is not supported".to_string()
        }
    })?;
    match (def.vendor, def.typ) {
        (_, AttrType::Vsa | AttrType::Tlv) => Err("container attributes cannot be compared".into()),
        (0, _) => Ok(Target::Standard(code)),
        (vendor, _) => Ok(Target::Vendor(vendor, code)),
    }
}

fn kind_of(typ: AttrType) -> Kind {
    match typ {
        AttrType::Integer
        | AttrType::Byte
        | AttrType::Short
        | AttrType::Integer64
        | AttrType::Date => Kind::Unsigned,
        AttrType::Signed => Kind::Signed,
        AttrType::IpAddr => Kind::Ipv4,
        AttrType::Ipv6Addr => Kind::Ipv6,
        AttrType::String => Kind::Text,
        AttrType::Ether => Kind::Ether,
        _ => Kind::Bytes,
    }
}

/// Resolve the check value into the request's wire form (named VALUEs, IPs, dates, ...).
fn expected(dict: &Dictionary, def: &AttrDef, kind: Kind, text: &str) -> Result<Expected, String> {
    let text = if kind == Kind::Text || kind == Kind::Bytes {
        text
    } else {
        text.trim()
    };
    let wire = match dict.encode_value(def, text) {
        Ok(wire) => wire,
        Err(_) => match dict.value_number(def, text) {
            Some(n) if kind == Kind::Unsigned => return Ok(Expected::Unsigned(u128::from(n))),
            _ => return Err(format!("value is not a valid {:?}", def.typ)),
        },
    };
    let bad = || format!("value is not a valid {:?}", def.typ);
    Ok(match kind {
        Kind::Unsigned | Kind::Ipv4 | Kind::Ipv6 => {
            Expected::Unsigned(be_unsigned(&wire).ok_or_else(bad)?)
        }
        Kind::Signed => Expected::Signed(be_signed(&wire).ok_or_else(bad)?),
        Kind::Text | Kind::Ether | Kind::Bytes => Expected::Bytes(wire.into_boxed_slice()),
    })
}

/// Big-endian unsigned value of 1 to 16 bytes.
fn be_unsigned(bytes: &[u8]) -> Option<u128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b)),
    )
}

/// Big-endian signed 32-bit value.
fn be_signed(bytes: &[u8]) -> Option<i64> {
    let four: [u8; 4] = bytes.try_into().ok()?;
    Some(i64::from(i32::from_be_bytes(four)))
}

/// `request value` compared with `want` (request first, as in FreeRADIUS: `Attr > 5` holds
/// when the request's value is greater than 5). `None` when not comparable.
fn compare(kind: Kind, value: &[u8], want: &Expected) -> Option<std::cmp::Ordering> {
    match (kind, want) {
        (Kind::Ipv4, Expected::Unsigned(w)) if value.len() == 4 => Some(be_unsigned(value)?.cmp(w)),
        (Kind::Ipv6, Expected::Unsigned(w)) if value.len() == 16 => {
            Some(be_unsigned(value)?.cmp(w))
        }
        (Kind::Unsigned, Expected::Unsigned(w)) => Some(be_unsigned(value)?.cmp(w)),
        (Kind::Signed, Expected::Signed(w)) => Some(be_signed(value)?.cmp(w)),
        (Kind::Text | Kind::Ether | Kind::Bytes, Expected::Bytes(w)) => Some(value.cmp(w)),
        _ => None,
    }
}

fn op_holds(op: CmpOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CmpOp::Eq => ord == Equal,
        CmpOp::Ne => ord != Equal,
        CmpOp::Gt => ord == Greater,
        CmpOp::Ge => ord != Less,
        CmpOp::Lt => ord == Less,
        CmpOp::Le => ord != Greater,
        CmpOp::RegexMatch | CmpOp::RegexNoMatch | CmpOp::Present | CmpOp::Absent => false,
    }
}

/// Call `f` on each value of `target` in `request` until it returns true; true if it did.
fn any_value(request: &Packet<'_>, target: Target, mut f: impl FnMut(&[u8]) -> bool) -> bool {
    match target {
        Target::Standard(typ) => request
            .attributes()
            .filter(|a| a.typ == typ)
            .any(|a| f(a.value)),
        Target::Vendor(vendor, typ) => request
            .vendor_attributes()
            .filter(|a| a.vendor == vendor && a.typ == typ)
            .any(|a| f(a.value)),
    }
}

/// Render a request value as text for a regex, into `out`.
fn render<'b>(kind: Kind, value: &'b [u8], out: &'b mut StackText) -> Option<&'b str> {
    match kind {
        Kind::Text => return std::str::from_utf8(value).ok(),
        Kind::Unsigned => write!(out, "{}", be_unsigned(value)?).ok()?,
        Kind::Signed => write!(out, "{}", be_signed(value)?).ok()?,
        Kind::Ipv4 => {
            let four: [u8; 4] = value.try_into().ok()?;
            write!(out, "{}", Ipv4Addr::from(four)).ok()?;
        }
        Kind::Ipv6 => {
            let sixteen: [u8; 16] = value.try_into().ok()?;
            write!(out, "{}", Ipv6Addr::from(sixteen)).ok()?;
        }
        Kind::Ether => {
            for (i, b) in value.iter().enumerate() {
                let sep = if i == 0 { "" } else { ":" };
                write!(out, "{sep}{b:02x}").ok()?;
            }
        }
        Kind::Bytes => {
            out.write_str("0x").ok()?;
            for b in value {
                write!(out, "{b:02x}").ok()?;
            }
        }
    }
    out.as_str()
}

/// A fixed stack buffer implementing `fmt::Write` (no allocation per request).
struct StackText {
    buf: [u8; 600],
    len: usize,
}

impl StackText {
    fn new() -> Self {
        Self {
            buf: [0; 600],
            len: 0,
        }
    }

    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.buf.get(..self.len)?).ok()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_wire() {
        assert_eq!(be_unsigned(&[0, 0, 0, 19]), Some(19));
        assert_eq!(be_unsigned(&[]), None);
        assert_eq!(be_unsigned(&[1; 17]), None);
        assert_eq!(be_signed(&[0xff, 0xff, 0xff, 0xfe]), Some(-2));
        assert_eq!(be_signed(&[0, 1]), None);
    }

    #[test]
    fn ordering_is_request_versus_check() {
        use std::cmp::Ordering::Greater;
        let want = Expected::Unsigned(5);
        assert_eq!(compare(Kind::Unsigned, &[0, 0, 0, 6], &want), Some(Greater));
        assert!(op_holds(CmpOp::Gt, Greater));
        assert!(op_holds(CmpOp::Ge, Greater));
        assert!(!op_holds(CmpOp::Lt, Greater));
        assert!(!op_holds(CmpOp::Eq, Greater));
        // A malformed IPv4 value (wrong length) compares with nothing.
        assert_eq!(
            compare(Kind::Ipv4, &[10, 0, 0], &Expected::Unsigned(1)),
            None
        );
    }

    #[test]
    fn rendering_for_regex() {
        let mut b = StackText::new();
        assert_eq!(render(Kind::Ipv4, &[10, 0, 0, 1], &mut b), Some("10.0.0.1"));
        let mut b = StackText::new();
        assert_eq!(
            render(Kind::Ether, &[0xaa, 0xbb, 0xcc, 0, 1, 2], &mut b),
            Some("aa:bb:cc:00:01:02")
        );
        let mut b = StackText::new();
        assert_eq!(render(Kind::Bytes, &[0xde, 0xad], &mut b), Some("0xdead"));
        let mut b = StackText::new();
        assert_eq!(render(Kind::Unsigned, &[0, 0, 0, 19], &mut b), Some("19"));
        let mut b = StackText::new();
        assert_eq!(render(Kind::Text, &[0xff], &mut b), None);
        // The longest attribute value still fits.
        let mut b = StackText::new();
        assert_eq!(
            render(Kind::Bytes, &[7; 253], &mut b).map(str::len),
            Some(508)
        );
    }
}
