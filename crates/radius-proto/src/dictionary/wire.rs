//! Whole attributes: name (with RFC 2868 tag) + text → TLV bytes, and TLV value → a
//! readable `Name = value` line.
//!
//! Vendor attributes are wrapped in Vendor-Specific (RFC 2865 §5.26) using the vendor's
//! `format=` layout; values longer than one attribute are split only for `concat`
//! attributes, otherwise refused.

use std::borrow::Cow;

use super::value::{self, hex, unquote};
use super::{AttrDef, AttrType, Dictionary, Encrypt, ValueError, VendorFormat};
use crate::protocol::{MAX_ATTR_VALUE_LEN, VENDOR_SPECIFIC};

/// Largest RFC 2868 tag.
const MAX_TAG: u8 = 0x1F;

fn invalid(def: &AttrDef, message: impl Into<String>) -> ValueError {
    ValueError::Invalid {
        attribute: def.name.clone(),
        message: message.into(),
    }
}

/// `Tunnel-Type:1` → (`Tunnel-Type`, Some(1)); names without a numeric suffix are whole.
fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(':') {
        Some((base, tag)) if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit()) => {
            (base, Some(tag))
        }
        _ => (name, None),
    }
}

/// FreeRADIUS v2 value-side tag: `:1:value` → (Some("1"), "value").
fn split_value_tag(raw: &[u8]) -> Option<(&str, &[u8])> {
    let rest = raw.strip_prefix(b":")?;
    let end = rest.iter().position(|b| *b == b':')?;
    let digits = rest.get(..end)?;
    if digits.is_empty() || digits.len() > 2 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(digits).ok()?, rest.get(end + 1..)?))
}

pub(super) fn encode_attribute(
    dict: &Dictionary,
    name: &str,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let (base, mut tag_text) = split_tag(name.trim());
    let def = dict
        .attr(base)
        .ok_or_else(|| ValueError::UnknownAttribute(name.to_owned()))?;
    if def.encrypt != Encrypt::None {
        return Err(ValueError::Encrypted(def.name.clone()));
    }
    if def.is_internal() {
        return Err(invalid(def, "internal attribute, never sent on the wire"));
    }
    let raw = unquote(text);
    let mut raw: &[u8] = &raw;
    if def.has_tag
        && tag_text.is_none()
        && let Some((tag, rest)) = split_value_tag(raw)
    {
        tag_text = Some(tag);
        raw = rest;
    }
    let tag = match tag_text {
        None => None,
        Some(_) if !def.has_tag => return Err(invalid(def, "not a tagged attribute (RFC 2868)")),
        Some(t) => Some(
            t.parse::<u8>()
                .ok()
                .filter(|t| *t <= MAX_TAG)
                .ok_or_else(|| invalid(def, format!("tag {t} is not in 0..=31")))?,
        ),
    };
    let mut bytes = value::encode(dict, def, raw)?;
    if def.has_tag {
        apply_tag(def, tag, &mut bytes)?;
    }
    write(dict, def, &bytes, out)
}

/// RFC 2868 §3: integers carry the tag in their first octet; strings get a tag octet
/// prepended when one is given or when the first octet would be mistaken for one.
fn apply_tag(def: &AttrDef, tag: Option<u8>, bytes: &mut Vec<u8>) -> Result<(), ValueError> {
    match def.typ {
        AttrType::Integer => match bytes.first_mut() {
            Some(first) if *first == 0 => *first = tag.unwrap_or(0),
            _ => return Err(invalid(def, "tagged integers hold at most 24 bits")),
        },
        _ => match tag {
            Some(t) => bytes.insert(0, t),
            None if bytes.first().is_none_or(|b| *b <= MAX_TAG) => bytes.insert(0, 0),
            None => {}
        },
    }
    Ok(())
}

/// Append `bytes` as one or more attributes of `def`.
fn write(
    dict: &Dictionary,
    def: &AttrDef,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let format = dict
        .vendor(def.vendor)
        .map_or_else(VendorFormat::default, |v| v.format);
    let header = if def.vendor == 0 {
        0
    } else {
        4 + usize::from(format.type_len)
            + usize::from(format.len_len)
            + usize::from(format.continuation)
    };
    let max = MAX_ATTR_VALUE_LEN - header;
    if bytes.len() > max && !def.concat {
        return Err(invalid(
            def,
            format!("value is {} octets; at most {max} fit", bytes.len()),
        ));
    }
    let chunks: Vec<&[u8]> = if bytes.is_empty() {
        vec![bytes]
    } else {
        bytes.chunks(max).collect()
    };
    let count = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let total = 2 + header + chunk.len();
        let Ok(total) = u8::try_from(total) else {
            return Err(invalid(def, "value too long"));
        };
        if def.vendor == 0 {
            out.push(u8::try_from(def.code).map_err(|_| invalid(def, "number above 255"))?);
            out.push(total);
        } else {
            out.push(VENDOR_SPECIFIC);
            out.push(total);
            out.extend(def.vendor.to_be_bytes());
            let code = def.code.to_be_bytes();
            out.extend(
                code.get(4 - usize::from(format.type_len)..)
                    .unwrap_or_default(),
            );
            let inner = header - 4 + chunk.len();
            match format.len_len {
                1 => out.push(u8::try_from(inner).unwrap_or(u8::MAX)),
                2 => out.extend(u16::try_from(inner).unwrap_or(u16::MAX).to_be_bytes()),
                _ => {}
            }
            if format.continuation {
                out.push(if i + 1 < count { 0x80 } else { 0 });
            }
        }
        out.extend_from_slice(chunk);
    }
    Ok(())
}

pub(super) fn render(dict: &Dictionary, vendor: u32, code: u32, value: &[u8]) -> String {
    let Some(def) = dict.attr_by_code(vendor, code) else {
        let name = if vendor == 0 {
            format!("Attr-{code}")
        } else {
            format!("Attr-{VENDOR_SPECIFIC}.{vendor}.{code}")
        };
        return format!("{name} = {}", hex(value));
    };
    if def.encrypt != Encrypt::None || dict.is_secret(def) {
        return format!("{} = <hidden>", def.name);
    }
    let (tag, body) = if def.has_tag {
        strip_tag(def, value)
    } else {
        (0, Cow::Borrowed(value))
    };
    let text = value::decode(dict, def, &body).unwrap_or_else(|_| hex(value));
    match tag {
        0 => format!("{} = {text}", def.name),
        t => format!("{}:{t} = {text}", def.name),
    }
}

/// Split an RFC 2868 tag off a received value: (tag or 0, value without it).
fn strip_tag<'v>(def: &AttrDef, value: &'v [u8]) -> (u8, Cow<'v, [u8]>) {
    match (def.typ, value) {
        (AttrType::Integer, [tag, rest @ ..]) if rest.len() == 3 && *tag <= MAX_TAG => {
            let mut plain = vec![0];
            plain.extend_from_slice(rest);
            (*tag, Cow::Owned(plain))
        }
        (AttrType::Integer, _) => (0, Cow::Borrowed(value)),
        (_, [tag, rest @ ..]) if *tag <= MAX_TAG => (*tag, Cow::Borrowed(rest)),
        _ => (0, Cow::Borrowed(value)),
    }
}
