//! `PacketBuilder`: build and sign the packets we send (replies, client requests).
//!
//! Message-Authenticator, when wanted, is always the *first* attribute (BlastRADIUS,
//! CVE-2024-3596). Signing order: MA over the packet with the right authenticator in place,
//! then the Response or Request Authenticator.

use super::attribute::validate_attributes;
use super::attrs::{MESSAGE_AUTHENTICATOR, PROXY_STATE};
use super::signer::{hidden_password_len, salt_encrypted_len};
use super::writer::{
    MESSAGE_AUTHENTICATOR_LEN, attribute_len, put_attribute, put_tlv, put_user_password,
    put_vendor_attribute, put_vendor_tlv, vendor_attribute_len,
};
use super::{
    AUTHENTICATOR_LEN, Code, EncodeError, HEADER_LEN, MAX_PACKET_LEN, Packet, ReplyVector, Signer,
};

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
        let mut tlv = [0u8; MESSAGE_AUTHENTICATOR_LEN];
        if self.message_authenticator.is_none()
            && self.buf.len() + MESSAGE_AUTHENTICATOR_LEN <= MAX_PACKET_LEN
            && put_attribute(&mut tlv, MESSAGE_AUTHENTICATOR, &[0; AUTHENTICATOR_LEN]).is_ok()
        {
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

    /// Append `n` bytes written by `write` (one of the [`super::writer`] encoders), or
    /// nothing: `PacketTooLong` when they would push the packet past 4096 bytes, and the
    /// encoder's error (the buffer restored) when it fails.
    fn append(
        &mut self,
        n: usize,
        write: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
    ) -> Result<&mut Self, EncodeError> {
        if self.buf.len() + n > MAX_PACKET_LEN {
            return Err(EncodeError::PacketTooLong);
        }
        let start = self.buf.len();
        self.buf.resize(start + n, 0);
        match write(self.buf.get_mut(start..).unwrap_or_default()) {
            Ok(_) => Ok(self),
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    /// Append a standard attribute. Type 80 added this way is copied verbatim and not
    /// signed; use [`PacketBuilder::with_message_authenticator`] to get a signed one.
    pub fn add(&mut self, typ: u8, value: &[u8]) -> Result<&mut Self, EncodeError> {
        let n = attribute_len(value.len())?;
        self.append(n, |dst| put_attribute(dst, typ, value))
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
        let n = vendor_attribute_len(value.len())?;
        self.append(n, |dst| put_vendor_attribute(dst, vendor, typ, value))
    }

    /// Append already-encoded attribute TLVs verbatim (pre-encoded reply items). They must
    /// be well-formed (no type 0, lengths >= 2 that tile `encoded`), else `BadRawAttributes`.
    pub fn add_raw(&mut self, encoded: &[u8]) -> Result<&mut Self, EncodeError> {
        validate_attributes(encoded).map_err(|_| EncodeError::BadRawAttributes)?;
        self.append(encoded.len(), |dst| {
            dst.copy_from_slice(encoded);
            Ok(encoded.len())
        })
    }

    /// Append a hidden User-Password (RFC 2865 §5.2), for clients (bench, test-auth).
    /// `authenticator` is the Request Authenticator the packet will be signed with.
    pub fn add_user_password(
        &mut self,
        password: &[u8],
        signer: &Signer,
        authenticator: &[u8; 16],
    ) -> Result<&mut Self, EncodeError> {
        let n = 2 + hidden_password_len(password.len())?;
        self.append(n, |dst| {
            put_user_password(dst, password, signer, authenticator)
        })
    }

    /// Append a salt-encrypted attribute (RFC 2868 §3.5, e.g. Tunnel-Password): optional
    /// tag octet, then `salt ‖ E(len ‖ plaintext ‖ padding)` keyed with the Request
    /// Authenticator of the request this reply answers. The salt is the caller's randomness.
    pub fn add_salt_encrypted(
        &mut self,
        typ: u8,
        tag: Option<u8>,
        plaintext: &[u8],
        signer: &Signer,
        request_authenticator: &[u8; 16],
        salt: [u8; 2],
    ) -> Result<&mut Self, EncodeError> {
        let salted = salt_encrypted_len(plaintext.len())?;
        let value_len = usize::from(tag.is_some()) + salted;
        let n = attribute_len(value_len)?;
        self.append(n, |dst| {
            put_tlv(dst, typ, value_len, |v| {
                let v = match (tag, v.split_first_mut()) {
                    (Some(tag), Some((first, rest))) => {
                        *first = tag;
                        rest
                    }
                    _ => v,
                };
                signer.salt_encrypt(plaintext, request_authenticator, salt, v)
            })
        })
    }

    /// Append a salt-encrypted vendor sub-attribute in its own Vendor-Specific attribute
    /// (RFC 2548 §2.4.2/§2.4.3 MS-MPPE-Send-Key / MS-MPPE-Recv-Key).
    pub fn add_vendor_salt_encrypted(
        &mut self,
        vendor: u32,
        typ: u8,
        plaintext: &[u8],
        signer: &Signer,
        request_authenticator: &[u8; 16],
        salt: [u8; 2],
    ) -> Result<&mut Self, EncodeError> {
        let salted = salt_encrypted_len(plaintext.len())?;
        let n = vendor_attribute_len(salted)?;
        self.append(n, |dst| {
            put_vendor_tlv(dst, vendor, typ, salted, |v| {
                signer.salt_encrypt(plaintext, request_authenticator, salt, v)
            })
        })
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

    /// Finish a reply (Access-*, Accounting-Response, CoA/Disconnect ACK/NAK): fill the
    /// Message-Authenticator if reserved, computed over `vector` (see [`ReplyVector`]: the
    /// request authenticator except for an Accounting-Response to an Accounting-Request),
    /// then the Response Authenticator (RFC 2865 §3).
    pub fn sign_response(
        mut self,
        request_authenticator: &[u8; 16],
        vector: ReplyVector,
        signer: &Signer,
    ) -> Result<Vec<u8>, EncodeError> {
        self.finish_header(request_authenticator);
        signer.sign_reply_at(
            &mut self.buf,
            request_authenticator,
            vector,
            self.message_authenticator,
        );
        Ok(self.buf)
    }

    /// Finish an Access-Request or Status-Server with the caller's random authenticator,
    /// filling the Message-Authenticator if reserved.
    pub fn sign_access_request(
        mut self,
        authenticator: &[u8; 16],
        signer: &Signer,
    ) -> Result<Vec<u8>, EncodeError> {
        self.finish_header(authenticator);
        signer.sign_access_request_at(&mut self.buf, self.message_authenticator);
        Ok(self.buf)
    }

    /// Finish an Accounting-Request, CoA-Request or Disconnect-Request: Message-Authenticator
    /// (if reserved) over the packet with a zero authenticator, then the computed Request
    /// Authenticator (RFC 2866 §3, RFC 5176 §2.3).
    pub fn sign_computed_request(mut self, signer: &Signer) -> Result<Vec<u8>, EncodeError> {
        self.finish_header(&[0; AUTHENTICATOR_LEN]);
        signer.sign_computed_request_at(&mut self.buf, self.message_authenticator);
        Ok(self.buf)
    }
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
