//! `Packet`: a validated, zero-copy view of one RADIUS datagram (RFC 2865 §3).

use std::ops::Range;

use super::attribute::{validate_vsa, value_range};
use super::attrs::{ACCT_STATUS_TYPE, MESSAGE_AUTHENTICATOR, USER_PASSWORD};
use super::crypto::ct_eq;
use super::{
    AcctStatus, Attribute, Attributes, Code, DecodeError, HEADER_LEN, MAX_PACKET_LEN,
    MIN_PACKET_LEN, Password, ReplyVector, Signer, VENDOR_SPECIFIC, VendorAttribute,
};

/// Whether a packet of this code may carry a Message-Authenticator.
///
/// Our choice, documented: allowed in every code that RFC 3579 §3.2 (Access-Request,
/// -Accept, -Reject, -Challenge), RFC 5997 (Status-Server, and the Accounting-Response /
/// Access-Accept that answer it; RFC 5997 §3 also has Accounting-Request carry it in
/// practice, and FreeRADIUS verifies it there) or RFC 5176 §3.5 (all six CoA/Disconnect
/// codes, "0-1") lists it in. "Misplaced" therefore means Status-Client (13, reserved by
/// RFC 5997 and never a valid request or reply) and codes we do not know: we cannot know
/// which authenticator such an HMAC would cover. Position inside the packet is *not*
/// checked on receipt: only our own replies put it first (BlastRADIUS), and NASes place it
/// anywhere.
fn message_authenticator_allowed(code: Code) -> bool {
    !matches!(code, Code::StatusClient | Code::Unknown(_))
}

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
    /// Validate and decode a datagram. Never panics on any input, never allocates.
    ///
    /// Checks, in order: header present (`ShortHeader`), Length field in 20..=4096
    /// (`BadLength`) and within the datagram (`Truncated`); then every attribute: type 0
    /// (`AttributeTypeZero`), length octet 0/1 (`AttributeTooShort`), overrun
    /// (`AttributeOverrun`), Vendor-Specific layout (`BadVsa`), Message-Authenticator size
    /// (`BadMessageAuthenticatorLength`), count (`DuplicateMessageAuthenticator`) and code
    /// (`MisplacedMessageAuthenticator`).
    pub fn decode(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let Some(&[code, identifier, l0, l1]) = datagram.first_chunk::<4>() else {
            return Err(DecodeError::ShortHeader);
        };
        if datagram.len() < HEADER_LEN {
            return Err(DecodeError::ShortHeader);
        }
        let length = u16::from_be_bytes([l0, l1]);
        let len = usize::from(length);
        if !(MIN_PACKET_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(DecodeError::BadLength(length));
        }
        let bytes = datagram.get(..len).ok_or(DecodeError::Truncated {
            length,
            datagram: datagram.len(),
        })?;
        let code = Code::from_u8(code);
        let mut message_authenticator = None;
        let mut pos = HEADER_LEN;
        loop {
            let rest = bytes.get(pos..).unwrap_or(&[]);
            let (typ, alen) = match *rest {
                [] => break,
                [typ] => return Err(DecodeError::AttributeOverrun { typ }),
                [typ, alen, ..] => (typ, alen),
            };
            if typ == 0 {
                return Err(DecodeError::AttributeTypeZero);
            }
            if alen < 2 {
                return Err(DecodeError::AttributeTooShort { typ, len: alen });
            }
            let value = rest
                .get(2..usize::from(alen))
                .ok_or(DecodeError::AttributeOverrun { typ })?;
            match typ {
                VENDOR_SPECIFIC => validate_vsa(value)?,
                MESSAGE_AUTHENTICATOR => {
                    if value.len() != 16 {
                        return Err(DecodeError::BadMessageAuthenticatorLength);
                    }
                    if message_authenticator.is_some() {
                        return Err(DecodeError::DuplicateMessageAuthenticator);
                    }
                    if !message_authenticator_allowed(code) {
                        return Err(DecodeError::MisplacedMessageAuthenticator);
                    }
                    message_authenticator = Some(pos + 2);
                }
                _ => {}
            }
            pos += usize::from(alen);
        }
        Ok(Self {
            code,
            identifier,
            bytes,
            message_authenticator,
        })
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
        const ZERO: &[u8; 16] = &[0; 16];
        self.bytes
            .get(4..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .unwrap_or(ZERO)
    }

    /// The packet bytes (exactly `Length` long).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// All attributes in wire order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            rest: self.bytes.get(HEADER_LEN..).unwrap_or(&[]),
        }
    }

    /// Value of the first standard attribute of this type.
    pub fn attr(&self, typ: u8) -> Option<&'a [u8]> {
        self.find(typ).map(|a| a.value)
    }

    /// Values of every standard attribute of this type, in order.
    pub fn attrs(&self, typ: u8) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.attributes()
            .filter(move |a| a.typ == typ)
            .map(|a| a.value)
    }

    /// The first attribute of this type as an integer; `Ok(None)` when absent.
    pub fn attr_u32(&self, typ: u8) -> Result<Option<u32>, DecodeError> {
        self.find(typ).map(|a| a.as_u32()).transpose()
    }

    /// The first attribute of this type as UTF-8 text; `None` when absent or not UTF-8.
    pub fn attr_str(&self, typ: u8) -> Option<&'a str> {
        self.find(typ).and_then(|a| a.as_str())
    }

    /// Value of the first vendor sub-attribute `(vendor, typ)`.
    pub fn vendor_attr(&self, vendor: u32, typ: u8) -> Option<&'a [u8]> {
        self.attributes()
            .filter_map(|a| a.vendor_attributes())
            .filter(|v| v.vendor() == vendor)
            .flatten()
            .find(|v| v.typ == typ)
            .map(|v| v.value)
    }

    /// Every vendor sub-attribute of every Vendor-Specific attribute, in order.
    pub fn vendor_attributes(&self) -> impl Iterator<Item = VendorAttribute<'a>> + 'a {
        self.attributes()
            .filter_map(|a| a.vendor_attributes())
            .flatten()
    }

    /// True when the packet carries a Message-Authenticator.
    pub fn has_message_authenticator(&self) -> bool {
        self.message_authenticator.is_some()
    }

    /// Verify the Message-Authenticator (RFC 3579 §3.2, RFC 5176 §3.3).
    ///
    /// `request_authenticator`: `None` for a request we received (the HMAC covers the packet
    /// as sent; for Accounting/CoA/Disconnect requests the authenticator field counts as
    /// zero), `Some(vector)` for a reply: the authenticator of the request it answers, or
    /// the [`ReplyVector`] bytes. Returns `Ok(true)` when present and valid, `Ok(false)`
    /// when absent, `Err(BadMessageAuthenticator)` when present and wrong.
    ///
    /// The zero authenticator for Accounting-Request, CoA-Request and Disconnect-Request
    /// matches FreeRADIUS (`rad_sign`/`rad_verify` zero the vector for these codes), so
    /// packets from `radclient` verify.
    pub fn verify_message_authenticator(
        &self,
        signer: &Signer,
        request_authenticator: Option<&[u8; 16]>,
    ) -> Result<bool, DecodeError> {
        let Some(offset) = self.message_authenticator else {
            return Ok(false);
        };
        let vector = match request_authenticator {
            Some(auth) => auth,
            None if self.code.has_computed_request_authenticator() => &[0u8; 16],
            None => self.authenticator(),
        };
        signer.verify_message_authenticator_at(self.bytes, vector, offset)
    }

    /// Verify the computed Request Authenticator of an Accounting-Request (RFC 2866 §3),
    /// CoA-Request or Disconnect-Request (RFC 5176 §2.3). The Message-Authenticator, if
    /// any, is a separate check ([`Packet::verify_message_authenticator`]), so that the
    /// server decides about it in one place for every code.
    pub fn verify_request_authenticator(&self, signer: &Signer) -> Result<(), DecodeError> {
        let expected = signer.computed_request_authenticator(self.bytes);
        if ct_eq(&expected, self.authenticator()) {
            Ok(())
        } else {
            Err(DecodeError::BadRequestAuthenticator)
        }
    }

    /// Verify a reply: identifier is the caller's business; this checks the Response
    /// Authenticator (RFC 2865 §3) and the Message-Authenticator if present, computed over
    /// `vector` (see [`ReplyVector`]).
    pub fn verify_response(
        &self,
        request_authenticator: &[u8; 16],
        vector: ReplyVector,
        signer: &Signer,
    ) -> Result<(), DecodeError> {
        let expected = signer.response_authenticator(self.bytes, request_authenticator);
        if !ct_eq(&expected, self.authenticator()) {
            return Err(DecodeError::BadResponseAuthenticator);
        }
        self.verify_message_authenticator(signer, Some(vector.bytes(request_authenticator)))?;
        Ok(())
    }

    /// The unhidden User-Password (RFC 2865 §5.2), trailing NULs removed; `Ok(None)` when
    /// absent; an error when its length is not a multiple of 16 in 16..=128.
    pub fn user_password(&self, signer: &Signer) -> Result<Option<Password>, DecodeError> {
        self.attr(USER_PASSWORD)
            .map(|hidden| signer.unhide_password(hidden, self.authenticator()))
            .transpose()
    }

    /// Acct-Status-Type (RFC 2866 §5.1); `None` when absent or not a 4-octet integer.
    pub fn acct_status(&self) -> Option<AcctStatus> {
        self.attr_u32(ACCT_STATUS_TYPE)
            .ok()
            .flatten()
            .map(AcctStatus::from)
    }

    /// The attribute view at the first position of type `typ`, for callers that need both
    /// type and value.
    pub fn find(&self, typ: u8) -> Option<Attribute<'a>> {
        self.attributes().find(|a| a.typ == typ)
    }

    /// Byte range, within [`Packet::as_bytes`], of the value of the first attribute of
    /// type `typ`: for tools that copy a packet and rewrite values in place (replay
    /// re-hides User-Password and rewrites NAS-IP-Address in a captured request).
    pub fn attr_range(&self, typ: u8) -> Option<Range<usize>> {
        value_range(self.bytes, typ)
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
