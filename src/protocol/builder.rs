//! `PacketBuilder`: build and sign the packets we send (replies, client requests).
//!
//! Message-Authenticator, when wanted, is always the *first* attribute (BlastRADIUS,
//! CVE-2024-3596). Signing order: MA over the packet with the right authenticator in place,
//! then the Response or Request Authenticator.

use super::{Code, EncodeError, Packet};

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
    pub fn with_buffer(code: Code, identifier: u8, buf: Vec<u8>) -> Self {
        let _ = (code, identifier, buf);
        todo!()
    }

    /// A reply to `request`: same identifier, Message-Authenticator reserved first, and the
    /// request's Proxy-State attributes copied in order (RFC 2865 §5.33).
    pub fn reply(request: &Packet<'_>, code: Code) -> Self {
        let _ = (request, code);
        todo!()
    }

    /// Reserve the Message-Authenticator as the first attribute. Call before any `add`.
    pub fn with_message_authenticator(mut self) -> Self {
        let _ = &mut self;
        todo!()
    }

    /// Append a standard attribute.
    pub fn add(&mut self, typ: u8, value: &[u8]) -> Result<&mut Self, EncodeError> {
        let _ = (typ, value);
        todo!()
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
        let _ = (vendor, typ, value);
        todo!()
    }

    /// Append already-encoded attribute TLVs verbatim (pre-encoded reply items).
    pub fn add_raw(&mut self, encoded: &[u8]) -> Result<&mut Self, EncodeError> {
        let _ = encoded;
        todo!()
    }

    /// Append a hidden User-Password (RFC 2865 §5.2), for clients (bench, test-auth).
    pub fn add_user_password(
        &mut self,
        password: &[u8],
        secret: &[u8],
        authenticator: &[u8; 16],
    ) -> Result<&mut Self, EncodeError> {
        let _ = (password, secret, authenticator);
        todo!()
    }

    /// Finish a reply (Access-*, Accounting-Response, CoA/Disconnect ACK/NAK): fill the
    /// Message-Authenticator if reserved (HMAC-MD5 with the request authenticator in the
    /// authenticator field), then the Response Authenticator.
    pub fn sign_response(
        self,
        request_authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let _ = (request_authenticator, secret);
        todo!()
    }

    /// Finish an Access-Request or Status-Server with the caller's random authenticator,
    /// filling the Message-Authenticator if reserved.
    pub fn sign_access_request(
        self,
        authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let _ = (authenticator, secret);
        todo!()
    }

    /// Finish an Accounting-Request, CoA-Request or Disconnect-Request: Message-Authenticator
    /// (if reserved) over the packet with a zero authenticator, then the computed Request
    /// Authenticator (RFC 2866 §3, RFC 5176 §2.3).
    pub fn sign_computed_request(self, secret: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let _ = secret;
        todo!()
    }
}
