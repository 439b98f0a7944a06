//! `PacketBuilder`: build and sign the packets we send (replies, client requests).
//!
//! Message-Authenticator, when wanted, is always the *first* attribute (BlastRADIUS,
//! CVE-2024-3596). Signing order: MA over the packet with the right authenticator in place,
//! then the Response or Request Authenticator.

use super::attribute::validate_attributes;
use super::attrs::{MESSAGE_AUTHENTICATOR, PROXY_STATE, USER_PASSWORD};
use super::crypto::{
    MAX_SALT_PLAINTEXT, hide_user_password, md5, message_authenticator, salt_encrypt,
};
use super::{
    AUTHENTICATOR_LEN, Code, EncodeError, HEADER_LEN, MAX_ATTR_VALUE_LEN, MAX_PACKET_LEN, Packet,
    VENDOR_SPECIFIC,
};

/// Largest value of one vendor sub-attribute inside its own Vendor-Specific attribute
/// (253 minus the 4-octet vendor id, type and length octets).
pub const MAX_VSA_VALUE_LEN: usize = MAX_ATTR_VALUE_LEN - 6;

/// Encoded size of a salt-encrypted value (salt + padded `len ‖ plaintext`).
fn salted_len(plaintext: usize) -> Result<usize, EncodeError> {
    if plaintext > MAX_SALT_PLAINTEXT {
        return Err(EncodeError::ValueTooLong(plaintext));
    }
    Ok(2 + (1 + plaintext).div_ceil(16) * 16)
}

/// Range of the authenticator field in the header.
const AUTH: std::ops::Range<usize> = 4..HEADER_LEN;

/// An owned packet under construction.
#[derive(Debug, Clone)]
pub struct PacketBuilder {
    buf: Vec<u8>,
    /// Offset of the Message-Authenticator value, when reserved.
    message_authenticator: Option<usize>,
}

impl PacketBuilder {
    /// A new packet with a zero authenticator and no attributes.
    pub fn new(code: Code, identifier: u8) -> Self {
        Self::with_buffer(code, identifier, Vec::with_capacity(256))
    }

    /// Like `new`, reusing `buf`'s allocation (its contents are discarded).
    pub fn with_buffer(code: Code, identifier: u8, mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&[code.as_u8(), identifier, 0, HEADER_LEN as u8]);
        buf.extend_from_slice(&[0; AUTHENTICATOR_LEN]);
        Self {
            buf,
            message_authenticator: None,
        }
    }

    /// A reply to `request`: same identifier, Message-Authenticator reserved first, and the
    /// request's Proxy-State attributes copied in order (RFC 2865 §5.33).
    pub fn reply(request: &Packet<'_>, code: Code) -> Self {
        Self::reply_with_buffer(request, code, Vec::with_capacity(256))
    }

    /// Like `reply`, reusing `buf`'s allocation.
    pub fn reply_with_buffer(request: &Packet<'_>, code: Code, buf: Vec<u8>) -> Self {
        let mut b = Self::with_buffer(code, request.identifier(), buf).with_message_authenticator();
        // The request was at most 4096 bytes, so its Proxy-States (each at most 255 bytes)
        // plus our 18-byte Message-Authenticator and header always fit.
        for value in request.attrs(PROXY_STATE) {
            let _ = b.add(PROXY_STATE, value);
        }
        b
    }

    /// Reserve the Message-Authenticator as the first attribute. Call before any `add`;
    /// if attributes were already added it is still inserted first. No-op when reserved.
    pub fn with_message_authenticator(mut self) -> Self {
        if self.message_authenticator.is_none() && self.buf.len() + 18 <= MAX_PACKET_LEN {
            let mut tlv = [0u8; 18];
            tlv[0] = MESSAGE_AUTHENTICATOR;
            tlv[1] = 18;
            self.buf.splice(HEADER_LEN..HEADER_LEN, tlv);
            self.message_authenticator = Some(HEADER_LEN + 2);
        }
        self
    }

    /// Drop a reserved Message-Authenticator (for peers known to reject it).
    pub fn without_message_authenticator(mut self) -> Self {
        if let Some(off) = self.message_authenticator.take() {
            self.buf.drain(off - 2..off + AUTHENTICATOR_LEN);
        }
        self
    }

    /// Bytes encoded so far (header length field and authenticator not yet final).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Fail when `extra` more bytes would push the packet past 4096.
    fn reserve(&self, extra: usize) -> Result<(), EncodeError> {
        if self.buf.len() + extra > MAX_PACKET_LEN {
            Err(EncodeError::PacketTooLong)
        } else {
            Ok(())
        }
    }

    /// Append a standard attribute. Type 80 added this way is copied verbatim and not
    /// signed; use [`PacketBuilder::with_message_authenticator`] to get a signed one.
    pub fn add(&mut self, typ: u8, value: &[u8]) -> Result<&mut Self, EncodeError> {
        if value.len() > MAX_ATTR_VALUE_LEN {
            return Err(EncodeError::ValueTooLong(value.len()));
        }
        self.reserve(2 + value.len())?;
        self.buf.extend_from_slice(&[typ, 2 + value.len() as u8]);
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    /// Append a standard integer attribute.
    pub fn add_u32(&mut self, typ: u8, value: u32) -> Result<&mut Self, EncodeError> {
        self.add(typ, &value.to_be_bytes())
    }

    /// Append one vendor sub-attribute wrapped in its own Vendor-Specific attribute.
    pub fn add_vendor(
        &mut self,
        vendor: u32,
        typ: u8,
        value: &[u8],
    ) -> Result<&mut Self, EncodeError> {
        if value.len() > MAX_VSA_VALUE_LEN {
            return Err(EncodeError::ValueTooLong(value.len()));
        }
        self.reserve(8 + value.len())?;
        let n = value.len() as u8;
        self.buf.extend_from_slice(&[VENDOR_SPECIFIC, 8 + n]);
        self.buf.extend_from_slice(&vendor.to_be_bytes());
        self.buf.extend_from_slice(&[typ, 2 + n]);
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    /// Append already-encoded attribute TLVs verbatim (pre-encoded reply items). They must
    /// be well-formed (no type 0, lengths >= 2 that tile `encoded`), else `BadRawAttributes`.
    pub fn add_raw(&mut self, encoded: &[u8]) -> Result<&mut Self, EncodeError> {
        validate_attributes(encoded).map_err(|_| EncodeError::BadRawAttributes)?;
        self.reserve(encoded.len())?;
        self.buf.extend_from_slice(encoded);
        Ok(self)
    }

    /// Append a hidden User-Password (RFC 2865 §5.2), for clients (bench, test-auth).
    pub fn add_user_password(
        &mut self,
        password: &[u8],
        secret: &[u8],
        authenticator: &[u8; 16],
    ) -> Result<&mut Self, EncodeError> {
        if password.len() > super::MAX_PASSWORD_LEN {
            return Err(EncodeError::PasswordTooLong);
        }
        let hidden = password.len().div_ceil(16).max(1) * 16;
        self.reserve(2 + hidden)?;
        self.buf
            .extend_from_slice(&[USER_PASSWORD, 2 + hidden as u8]);
        hide_user_password(password, secret, authenticator, &mut self.buf)?;
        Ok(self)
    }

    /// Append a salt-encrypted attribute (RFC 2868 §3.5, e.g. Tunnel-Password): optional
    /// tag octet, then `salt ‖ E(len ‖ plaintext ‖ padding)` keyed with the Request
    /// Authenticator of the request this reply answers. The salt is the caller's randomness.
    pub fn add_salt_encrypted(
        &mut self,
        typ: u8,
        tag: Option<u8>,
        plaintext: &[u8],
        secret: &[u8],
        request_authenticator: &[u8; 16],
        salt: [u8; 2],
    ) -> Result<&mut Self, EncodeError> {
        let len = usize::from(tag.is_some()) + salted_len(plaintext.len())?;
        self.reserve(2 + len)?;
        self.buf.extend_from_slice(&[typ, 2 + len as u8]);
        if let Some(tag) = tag {
            self.buf.push(tag);
        }
        salt_encrypt(
            plaintext,
            secret,
            request_authenticator,
            salt,
            &mut self.buf,
        )?;
        Ok(self)
    }

    /// Append a salt-encrypted vendor sub-attribute in its own Vendor-Specific attribute
    /// (RFC 2548 §2.4.2/§2.4.3 MS-MPPE-Send-Key / MS-MPPE-Recv-Key).
    pub fn add_vendor_salt_encrypted(
        &mut self,
        vendor: u32,
        typ: u8,
        plaintext: &[u8],
        secret: &[u8],
        request_authenticator: &[u8; 16],
        salt: [u8; 2],
    ) -> Result<&mut Self, EncodeError> {
        let len = salted_len(plaintext.len())?;
        self.reserve(8 + len)?;
        self.buf
            .extend_from_slice(&[VENDOR_SPECIFIC, 8 + len as u8]);
        self.buf.extend_from_slice(&vendor.to_be_bytes());
        self.buf.extend_from_slice(&[typ, 2 + len as u8]);
        salt_encrypt(
            plaintext,
            secret,
            request_authenticator,
            salt,
            &mut self.buf,
        )?;
        Ok(self)
    }

    /// Write the Length field and place `authenticator` in the header.
    fn finish_header(&mut self, authenticator: &[u8; 16]) {
        let len = (self.buf.len() as u16).to_be_bytes();
        if let Some(l) = self.buf.get_mut(2..4) {
            l.copy_from_slice(&len);
        }
        if let Some(a) = self.buf.get_mut(AUTH) {
            a.copy_from_slice(authenticator);
        }
    }

    /// Fill the reserved Message-Authenticator, HMAC computed with `authenticator` in the
    /// header (which `finish_header` already placed there).
    fn fill_message_authenticator(&mut self, authenticator: &[u8; 16], secret: &[u8]) {
        if let Some(off) = self.message_authenticator {
            let mac = message_authenticator(&self.buf, authenticator, off, secret);
            if let Some(v) = self.buf.get_mut(off..off + AUTHENTICATOR_LEN) {
                v.copy_from_slice(&mac);
            }
        }
    }

    /// MD5 over the whole buffer (authenticator field as it is now) and the secret, written
    /// into the authenticator field.
    fn fill_md5_authenticator(&mut self, secret: &[u8]) {
        let auth = md5(&[&self.buf, secret]);
        if let Some(a) = self.buf.get_mut(AUTH) {
            a.copy_from_slice(&auth);
        }
    }

    /// Finish a reply (Access-*, Accounting-Response, CoA/Disconnect ACK/NAK): fill the
    /// Message-Authenticator if reserved (HMAC-MD5 with the request authenticator in the
    /// authenticator field), then the Response Authenticator.
    pub fn sign_response(
        mut self,
        request_authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        self.finish_header(request_authenticator);
        self.fill_message_authenticator(request_authenticator, secret);
        self.fill_md5_authenticator(secret);
        Ok(self.buf)
    }

    /// Finish an Access-Request or Status-Server with the caller's random authenticator,
    /// filling the Message-Authenticator if reserved.
    pub fn sign_access_request(
        mut self,
        authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        self.finish_header(authenticator);
        self.fill_message_authenticator(authenticator, secret);
        Ok(self.buf)
    }

    /// Finish an Accounting-Request, CoA-Request or Disconnect-Request: Message-Authenticator
    /// (if reserved) over the packet with a zero authenticator, then the computed Request
    /// Authenticator (RFC 2866 §3, RFC 5176 §2.3).
    pub fn sign_computed_request(mut self, secret: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let zero = [0u8; AUTHENTICATOR_LEN];
        self.finish_header(&zero);
        self.fill_message_authenticator(&zero, secret);
        self.fill_md5_authenticator(secret);
        Ok(self.buf)
    }
}
