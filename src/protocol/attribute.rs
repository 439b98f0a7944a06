//! Attribute views: raw TLVs (RFC 2865 §5) and Vendor-Specific sub-attributes (§5.26).
//!
//! Views borrow the datagram; `Packet::decode` has already validated the layout, so
//! iteration cannot fail.

use std::net::Ipv4Addr;

use super::DecodeError;

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
        todo!()
    }

    /// The value as an IPv4 address (RFC 8044 `ipv4addr`).
    pub fn as_ipv4(&self) -> Result<Ipv4Addr, DecodeError> {
        todo!()
    }

    /// The value as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        todo!()
    }

    /// For a Vendor-Specific attribute (type 26), its vendor id and sub-attributes.
    pub fn vendor_attributes(&self) -> Option<VendorAttributes<'a>> {
        todo!()
    }
}

/// Iterator over the attributes of a decoded packet, in wire order.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
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

/// Iterator over the sub-attributes of one Vendor-Specific attribute.
#[derive(Debug, Clone)]
pub struct VendorAttributes<'a> {
    pub(crate) vendor: u32,
    pub(crate) rest: &'a [u8],
}

impl<'a> Iterator for VendorAttributes<'a> {
    type Item = VendorAttribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
}
