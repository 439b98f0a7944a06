//! Attribute views: raw TLVs (RFC 2865 §5) and Vendor-Specific sub-attributes (§5.26).
//!
//! Views borrow the datagram; `Packet::decode` has already validated the layout, so
//! iteration cannot fail. The iterators still stop (rather than panic) on malformed bytes,
//! so views built by hand over unvalidated data are safe too.

use std::net::Ipv4Addr;
use std::ops::Range;

use super::{DecodeError, HEADER_LEN, VENDOR_SPECIFIC};

/// Vendors whose Vendor-Specific payload does not use the RFC 2865 §5.26 recommended
/// 1-octet type / 1-octet length layout. Their VSAs are kept opaque: decode checks only the
/// vendor id, and [`Attribute::vendor_attributes`] yields no sub-attributes for them.
/// USR (429): 4-octet type, no length. Lucent (4846): 2-octet type, 1-octet length.
/// Starent (8164): 2-octet type, 2-octet length.
pub const OPAQUE_VSA_VENDORS: &[u32] = &[429, 4846, 8164];

/// True when `vendor` uses a non-standard VSA layout (see [`OPAQUE_VSA_VENDORS`]).
pub fn is_opaque_vendor(vendor: u32) -> bool {
    OPAQUE_VSA_VENDORS.contains(&vendor)
}

/// One attribute as it appears on the wire: type octet and value bytes.
/// RFC 6929 extended types (241..=246) are kept as opaque views like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Type octet.
    pub typ: u8,
    /// Value bytes (length octet excluded).
    pub value: &'a [u8],
}

impl<'a> Attribute<'a> {
    /// The value as a 4-byte big-endian integer (RFC 8044 `integer`).
    pub fn as_u32(&self) -> Result<u32, DecodeError> {
        let b: [u8; 4] = self
            .value
            .try_into()
            .map_err(|_| DecodeError::BadValueLength)?;
        Ok(u32::from_be_bytes(b))
    }

    /// The value as an IPv4 address (RFC 8044 `ipv4addr`).
    pub fn as_ipv4(&self) -> Result<Ipv4Addr, DecodeError> {
        let b: [u8; 4] = self
            .value
            .try_into()
            .map_err(|_| DecodeError::BadValueLength)?;
        Ok(Ipv4Addr::from(b))
    }

    /// The value as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }

    /// For a Vendor-Specific attribute (type 26), its vendor id and sub-attributes.
    /// `None` for other types or a value shorter than the 4-octet vendor id. For the
    /// vendors in [`OPAQUE_VSA_VENDORS`] the iterator yields nothing (the raw payload is
    /// still in `value`).
    pub fn vendor_attributes(&self) -> Option<VendorAttributes<'a>> {
        if self.typ != VENDOR_SPECIFIC {
            return None;
        }
        let (id, rest) = self.value.split_first_chunk::<4>()?;
        let vendor = u32::from_be_bytes(*id);
        let rest = if is_opaque_vendor(vendor) { &[] } else { rest };
        Some(VendorAttributes { vendor, rest })
    }
}

/// Iterator over the attributes of a decoded packet, in wire order.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    /// Iterate over raw attribute TLVs. Stops at the first malformed TLV; use it on bytes
    /// `Packet::decode` (or [`validate_attributes`]) accepted.
    pub fn new(encoded: &'a [u8]) -> Self {
        Self { rest: encoded }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (tlv, rest) = split_tlv(self.rest)?;
        self.rest = rest;
        Some(tlv)
    }
}

/// Byte range, within an encoded `packet`, of the value of its first attribute of type
/// `typ`. Walks the attributes after the header and stops at the first malformed one.
pub(crate) fn value_range(packet: &[u8], typ: u8) -> Option<Range<usize>> {
    let mut pos = HEADER_LEN;
    for a in Attributes::new(packet.get(HEADER_LEN..)?) {
        let start = pos + 2;
        if a.typ == typ {
            return Some(start..start + a.value.len());
        }
        pos = start + a.value.len();
    }
    None
}

/// Split one `type, length, value` TLV off `bytes`. `None` (and the caller stops) when
/// fewer than 2 bytes remain, the length octet is below 2, or it overruns.
#[inline]
fn split_tlv(bytes: &[u8]) -> Option<(Attribute<'_>, &[u8])> {
    let [typ, len, ..] = *bytes else {
        return None;
    };
    let len = usize::from(len);
    if len < 2 {
        return None;
    }
    let value = bytes.get(2..len)?;
    let rest = bytes.get(len..)?;
    Some((Attribute { typ, value }, rest))
}

/// Check that `bytes` is a sequence of well-formed TLVs: no type 0, no length octet below 2,
/// no overrun. Vendor-Specific layout is checked separately, by `Packet::decode`.
pub fn validate_attributes(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut rest = bytes;
    while let [typ, len, ..] = *rest {
        if typ == 0 {
            return Err(DecodeError::AttributeTypeZero);
        }
        if len < 2 {
            return Err(DecodeError::AttributeTooShort { typ, len });
        }
        rest = rest
            .get(usize::from(len)..)
            .ok_or(DecodeError::AttributeOverrun { typ })?;
    }
    match *rest {
        [] => Ok(()),
        [typ, ..] => Err(DecodeError::AttributeOverrun { typ }),
    }
}

/// Check one Vendor-Specific value (vendor id + payload): at least 5 bytes, and unless the
/// vendor is in [`OPAQUE_VSA_VENDORS`], sub-attributes (1-octet type, 1-octet length >= 2)
/// that tile the payload exactly. Any failure is `BadVsa`.
pub(super) fn validate_vsa(value: &[u8]) -> Result<(), DecodeError> {
    let Some((id, mut rest)) = value.split_first_chunk::<4>() else {
        return Err(DecodeError::BadVsa);
    };
    if rest.is_empty() {
        return Err(DecodeError::BadVsa);
    }
    if is_opaque_vendor(u32::from_be_bytes(*id)) {
        return Ok(());
    }
    while !rest.is_empty() {
        let (_, tail) = split_tlv(rest).ok_or(DecodeError::BadVsa)?;
        rest = tail;
    }
    Ok(())
}

/// One vendor sub-attribute (RFC 2865 §5.26 recommended format: type, length, value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttribute<'a> {
    /// SMI enterprise number.
    pub vendor: u32,
    /// Vendor type octet.
    pub typ: u8,
    /// Value bytes.
    pub value: &'a [u8],
}

impl<'a> VendorAttribute<'a> {
    /// The value as a 4-byte big-endian integer.
    pub fn as_u32(&self) -> Result<u32, DecodeError> {
        Attribute {
            typ: self.typ,
            value: self.value,
        }
        .as_u32()
    }

    /// The value as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// Iterator over the sub-attributes of one Vendor-Specific attribute.
#[derive(Debug, Clone)]
pub struct VendorAttributes<'a> {
    pub(crate) vendor: u32,
    pub(crate) rest: &'a [u8],
}

impl VendorAttributes<'_> {
    /// The SMI enterprise number of this Vendor-Specific attribute.
    pub fn vendor(&self) -> u32 {
        self.vendor
    }
}

impl<'a> Iterator for VendorAttributes<'a> {
    type Item = VendorAttribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (tlv, rest) = split_tlv(self.rest)?;
        self.rest = rest;
        Some(VendorAttribute {
            vendor: self.vendor,
            typ: tlv.typ,
            value: tlv.value,
        })
    }
}
