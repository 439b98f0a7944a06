//! `Packet`: a validated, zero-copy view of one RADIUS datagram (RFC 2865 §3).

use super::{Attribute, Attributes, Code, DecodeError, Password, VendorAttribute};

/// A decoded packet borrowing the datagram. Construction validates the whole layout
/// (header, every attribute, every VSA, Message-Authenticator count and size), so the
/// accessors never fail on layout. Bytes past the Length field are ignored (RFC 2865 §3).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    code: Code,
    identifier: u8,
    /// Exactly `Length` bytes of the datagram.
    bytes: &'a [u8],
    /// Byte offset of the Message-Authenticator *value* within `bytes`, if present.
    message_authenticator: Option<usize>,
}

impl<'a> Packet<'a> {
    /// Validate and decode a datagram. Never panics on any input.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let _ = datagram;
        todo!()
    }

    /// Packet code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// Identifier octet.
    pub fn identifier(&self) -> u8 {
        self.identifier
    }

    /// The 16-byte authenticator field.
    pub fn authenticator(&self) -> &'a [u8; 16] {
        todo!()
    }

    /// The packet bytes (exactly `Length` long).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// All attributes in wire order.
    pub fn attributes(&self) -> Attributes<'a> {
        todo!()
    }

    /// Value of the first standard attribute of this type.
    pub fn attr(&self, typ: u8) -> Option<&'a [u8]> {
        let _ = typ;
        todo!()
    }

    /// Values of every standard attribute of this type, in order.
    pub fn attrs(&self, typ: u8) -> impl Iterator<Item = &'a [u8]> + 'a {
        let _ = typ;
        std::iter::empty()
    }

    /// The first attribute of this type as an integer; `Ok(None)` when absent.
    pub fn attr_u32(&self, typ: u8) -> Result<Option<u32>, DecodeError> {
        let _ = typ;
        todo!()
    }

    /// The first attribute of this type as UTF-8 text; `None` when absent or not UTF-8.
    pub fn attr_str(&self, typ: u8) -> Option<&'a str> {
        let _ = typ;
        todo!()
    }

    /// Value of the first vendor sub-attribute `(vendor, typ)`.
    pub fn vendor_attr(&self, vendor: u32, typ: u8) -> Option<&'a [u8]> {
        let _ = (vendor, typ);
        todo!()
    }

    /// Every vendor sub-attribute of every Vendor-Specific attribute, in order.
    pub fn vendor_attributes(&self) -> impl Iterator<Item = VendorAttribute<'a>> + 'a {
        std::iter::empty()
    }

    /// True when the packet carries a Message-Authenticator.
    pub fn has_message_authenticator(&self) -> bool {
        self.message_authenticator.is_some()
    }

    /// Verify the Message-Authenticator (RFC 3579 §3.2, RFC 5176 §3.3).
    ///
    /// `request_authenticator`: `None` for a request we received (the HMAC covers the packet
    /// as sent; for Accounting/CoA/Disconnect requests the authenticator field counts as
    /// zero), `Some(auth)` for a reply, with the authenticator of the request it answers.
    /// Returns `Ok(true)` when present and valid, `Ok(false)` when absent,
    /// `Err(BadMessageAuthenticator)` when present and wrong.
    pub fn verify_message_authenticator(
        &self,
        secret: &[u8],
        request_authenticator: Option<&[u8; 16]>,
    ) -> Result<bool, DecodeError> {
        let _ = (secret, request_authenticator);
        todo!()
    }

    /// Verify the computed Request Authenticator of an Accounting-Request (RFC 2866 §3),
    /// CoA-Request or Disconnect-Request (RFC 5176 §2.3), and its Message-Authenticator
    /// if present.
    pub fn verify_request_authenticator(&self, secret: &[u8]) -> Result<(), DecodeError> {
        let _ = secret;
        todo!()
    }

    /// Verify a reply: identifier is the caller's business; this checks the Response
    /// Authenticator (RFC 2865 §3) and the Message-Authenticator if present.
    pub fn verify_response(
        &self,
        request_authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<(), DecodeError> {
        let _ = (request_authenticator, secret);
        todo!()
    }

    /// The unhidden User-Password (RFC 2865 §5.2), trailing NULs removed; `Ok(None)` when
    /// absent; an error when its length is not a multiple of 16 in 16..=128.
    pub fn user_password(&self, secret: &[u8]) -> Result<Option<Password>, DecodeError> {
        let _ = secret;
        todo!()
    }

    /// The attribute view at the first position of type `typ`, for callers that need both
    /// type and value.
    pub fn find(&self, typ: u8) -> Option<Attribute<'a>> {
        let _ = typ;
        todo!()
    }
}
