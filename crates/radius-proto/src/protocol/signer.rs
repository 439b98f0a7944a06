//! `Signer`: one shared secret, prepared once, and every RADIUS computation keyed by it.
//!
//! RADIUS uses the shared secret three ways: MD5 with the secret *appended* (Response
//! Authenticator, RFC 2865 §3; computed Request Authenticator, RFC 2866 §3 and RFC 5176
//! §2.3), HMAC-MD5 keyed with it (Message-Authenticator, RFC 3579 §3.2), and MD5 with the
//! secret *prepended* as the key stream of an XOR chain (User-Password, RFC 2865 §5.2; salt
//! encryption, RFC 2868 §3.5 and RFC 2548 §2.4.2). A [`Signer`] holds the secret with the
//! HMAC key pads and the secret-prefixed MD5 state already hashed, so each use clones a
//! small state instead of re-hashing the key, and nothing allocates.
//!
//! This is the only implementation of these algorithms: [`Packet`](super::Packet) verifies
//! and [`PacketBuilder`](super::PacketBuilder) signs through it, and the load tools sign
//! pre-built buffers in place with the `sign_*` methods. The server builds one `Signer` per
//! NAS entry, the tools one per run.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use super::attribute::value_range;
use super::attrs::MESSAGE_AUTHENTICATOR;
use super::crypto::ct_eq;
use super::{
    AUTHENTICATOR_LEN, Code, DecodeError, EncodeError, HEADER_LEN, MAX_PASSWORD_LEN, Packet,
    Password, Secret,
};

type HmacMd5 = Hmac<Md5>;

/// Block size of the RFC 2865 §5.2 / RFC 2868 §3.5 XOR chain (one MD5 output).
const CHUNK: usize = 16;

/// MD5's block size, which is also the HMAC key block (RFC 2104 §2).
const MD5_BLOCK: usize = 64;

/// Range of the authenticator field in the header.
const AUTH: std::ops::Range<usize> = 4..HEADER_LEN;

/// Largest plaintext [`Signer::salt_encrypt`] accepts: `1 + len` padded to 240 bytes, so
/// that tag + salt + ciphertext (243 bytes) still fits a Vendor-Specific sub-attribute.
pub const MAX_SALT_PLAINTEXT: usize = 239;

/// Length of a hidden User-Password (RFC 2865 §5.2): the plaintext NUL-padded to a multiple
/// of 16, at least 16. `PasswordTooLong` above 128 bytes of plaintext.
pub fn hidden_password_len(password_len: usize) -> Result<usize, EncodeError> {
    if password_len > MAX_PASSWORD_LEN {
        return Err(EncodeError::PasswordTooLong);
    }
    Ok(password_len.div_ceil(CHUNK).max(1) * CHUNK)
}

/// Length of a salt-encrypted value (RFC 2868 §3.5): 2-octet salt plus `len ‖ plaintext`
/// NUL-padded to a multiple of 16. `ValueTooLong` above [`MAX_SALT_PLAINTEXT`].
pub fn salt_encrypted_len(plaintext_len: usize) -> Result<usize, EncodeError> {
    if plaintext_len > MAX_SALT_PLAINTEXT {
        return Err(EncodeError::ValueTooLong(plaintext_len));
    }
    Ok(2 + (1 + plaintext_len).div_ceil(CHUNK) * CHUNK)
}

/// The 16 octets in the authenticator field while a reply's Message-Authenticator is
/// computed (or checked).
///
/// RFC 3579 §3.2 (Access-*), RFC 5176 §3.3 (CoA/Disconnect ACK and NAK) and RFC 5997 §3
/// (replies to Status-Server) say: the Request Authenticator of the request being answered.
/// RFC 2866 defines no Message-Authenticator for Accounting-Response; FreeRADIUS (and so
/// `radclient`) signs and checks one in an Accounting-Response to an Accounting-Request
/// over a zero field, like the Accounting-Request's own, but with the Request
/// Authenticator when the Accounting-Response answers a Status-Server on the accounting
/// port. [`ReplyVector::for_request`] encodes exactly that rule; the choice is a parameter
/// because both cases occur on the wire with the same reply code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyVector {
    /// The request's authenticator (RFC 3579 §3.2, RFC 5176 §3.3, RFC 5997 §3).
    Request,
    /// Sixteen zero octets (FreeRADIUS: Accounting-Response to an Accounting-Request).
    Zero,
}

impl ReplyVector {
    /// The vector for a reply to a request of code `request`: `Zero` for an
    /// Accounting-Request, `Request` for everything else (including Status-Server, whose
    /// Accounting-Response carries a Message-Authenticator by RFC 5997 §3).
    pub fn for_request(request: Code) -> Self {
        if request == Code::AccountingRequest {
            Self::Zero
        } else {
            Self::Request
        }
    }

    /// The 16 octets this vector stands for, given the request's authenticator.
    pub fn bytes(self, request_authenticator: &[u8; 16]) -> &[u8; 16] {
        const ZERO: &[u8; 16] = &[0; 16];
        match self {
            Self::Request => request_authenticator,
            Self::Zero => ZERO,
        }
    }
}

/// Which way the XOR chain runs: the key for block i+1 is MD5(S ‖ ciphertext of block i),
/// which is the block after the XOR when encrypting and before it when decrypting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

/// A shared secret prepared for signing and verification: the secret, its HMAC-MD5 keyed
/// state and an MD5 state with the secret already absorbed. Cheap to clone (a few hundred
/// bytes, no hashing); `Send + Sync`; `Debug` never shows the secret.
#[derive(Clone)]
pub struct Signer {
    secret: Secret,
    /// HMAC-MD5 with the key pads hashed (RFC 2104): cloned per Message-Authenticator.
    hmac: HmacMd5,
    /// MD5 with the secret absorbed: cloned per block of the password / salt chains.
    keyed_md5: Md5,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    /// Prepare `secret` (any length; RADIUS secrets are usually 8..=64 bytes).
    pub fn new(secret: &[u8]) -> Self {
        // The HMAC key block (RFC 2104 §2): the key zero-padded to the hash's block size, or
        // its hash when longer. Building the block here keeps the constructor infallible.
        let mut key = [0u8; MD5_BLOCK];
        let digest: [u8; 16];
        let material = if secret.len() > MD5_BLOCK {
            digest = Md5::digest(secret).into();
            &digest[..]
        } else {
            secret
        };
        if let Some(dst) = key.get_mut(..material.len()) {
            dst.copy_from_slice(material);
        }
        let hmac = <HmacMd5 as KeyInit>::new(&key.into());
        key.fill(0);
        Self {
            secret: Secret::new(secret),
            hmac,
            keyed_md5: Md5::new_with_prefix(secret),
        }
    }

    /// The shared secret, for comparing two signers' secrets (constant time) or the rare
    /// computation that needs the raw bytes. Everything in this crate goes through the
    /// methods instead.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// HMAC-MD5 keyed with the secret over the concatenation of `parts`.
    fn hmac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut mac = self.hmac.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// MD5 over the concatenation of `parts`, then the secret.
    fn md5_then_secret(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut h = Md5::new();
        for p in parts {
            h.update(p);
        }
        h.update(self.secret.expose());
        h.finalize().into()
    }

    /// Response Authenticator (RFC 2865 §3, RFC 2866 §4, RFC 5176 §2.3):
    /// MD5(Code ‖ ID ‖ Length ‖ RequestAuth ‖ Attributes ‖ Secret) of the encoded `reply`,
    /// whose own authenticator field is ignored.
    pub fn response_authenticator(
        &self,
        reply: &[u8],
        request_authenticator: &[u8; 16],
    ) -> [u8; 16] {
        let (head, attributes) = split_packet(reply);
        self.md5_then_secret(&[head, request_authenticator, attributes])
    }

    /// Computed Request Authenticator of an Accounting-Request (RFC 2866 §3), CoA-Request
    /// or Disconnect-Request (RFC 5176 §2.3): MD5 over the packet with a zero authenticator
    /// field, then the secret. The packet's own field is ignored.
    pub fn computed_request_authenticator(&self, request: &[u8]) -> [u8; 16] {
        let (head, attributes) = split_packet(request);
        self.md5_then_secret(&[head, &[0; AUTHENTICATOR_LEN], attributes])
    }

    /// Message-Authenticator (RFC 3579 §3.2) of an encoded packet whose value starts at
    /// `value_offset`: HMAC-MD5 over the packet with `vector` in the authenticator field
    /// and the value counted as zero. Nothing is copied.
    pub(crate) fn message_authenticator_at(
        &self,
        packet: &[u8],
        vector: &[u8; 16],
        value_offset: usize,
    ) -> [u8; 16] {
        let (head, _) = split_packet(packet);
        let before = packet.get(HEADER_LEN..value_offset).unwrap_or(&[]);
        let after = packet.get(value_offset + CHUNK..).unwrap_or(&[]);
        self.hmac(&[head, vector, before, &[0; CHUNK], after])
    }

    /// The Message-Authenticator (RFC 3579 §3.2) that belongs in the encoded `packet`,
    /// computed with `vector` in the authenticator field: the request's own authenticator
    /// for Access-Request and Status-Server, zero for Accounting/CoA/Disconnect-Request
    /// (RFC 5176 §3.3), [`ReplyVector::bytes`] for replies. `None` when the packet has no
    /// Message-Authenticator (the first attribute 80 with a 16-octet value).
    pub fn message_authenticator(&self, packet: &[u8], vector: &[u8; 16]) -> Option<[u8; 16]> {
        let offset = message_authenticator_offset(packet)?;
        Some(self.message_authenticator_at(packet, vector, offset))
    }

    /// Write the Message-Authenticator of `packet` (see
    /// [`Signer::message_authenticator`]) into its value. Returns false when there is none.
    pub fn fill_message_authenticator(&self, packet: &mut [u8], vector: &[u8; 16]) -> bool {
        match message_authenticator_offset(packet) {
            Some(offset) => {
                self.fill_message_authenticator_at(packet, vector, offset);
                true
            }
            None => false,
        }
    }

    /// Write the Message-Authenticator whose value starts at `value_offset`.
    fn fill_message_authenticator_at(&self, packet: &mut [u8], vector: &[u8; 16], offset: usize) {
        let mac = self.message_authenticator_at(packet, vector, offset);
        if let Some(v) = packet.get_mut(offset..offset + CHUNK) {
            v.copy_from_slice(&mac);
        }
    }

    /// Check the Message-Authenticator of `packet` against `vector` (see
    /// [`Signer::message_authenticator`]), in constant time. `Ok(false)` when absent,
    /// `Ok(true)` when valid, `Err(BadMessageAuthenticator)` when wrong.
    pub fn verify_message_authenticator(
        &self,
        packet: &[u8],
        vector: &[u8; 16],
    ) -> Result<bool, DecodeError> {
        match message_authenticator_offset(packet) {
            Some(offset) => self.verify_message_authenticator_at(packet, vector, offset),
            None => Ok(false),
        }
    }

    /// [`Signer::verify_message_authenticator`] with the value's offset already known.
    pub(crate) fn verify_message_authenticator_at(
        &self,
        packet: &[u8],
        vector: &[u8; 16],
        offset: usize,
    ) -> Result<bool, DecodeError> {
        let expected = self.message_authenticator_at(packet, vector, offset);
        let got = packet.get(offset..offset + CHUNK).unwrap_or(&[]);
        if ct_eq(&expected, got) {
            Ok(true)
        } else {
            Err(DecodeError::BadMessageAuthenticator)
        }
    }

    /// En/decrypt `data` (a multiple of 16 bytes) in place: c1 = p1 ^ MD5(S ‖ iv ‖ extra),
    /// ci = pi ^ MD5(S ‖ c(i-1)). One MD5 per block: no key is derived after the last one.
    fn xor_chain(&self, data: &mut [u8], iv: &[u8; 16], extra: &[u8], dir: Direction) {
        let mut key: [u8; 16] = self
            .keyed_md5
            .clone()
            .chain_update(iv)
            .chain_update(extra)
            .finalize()
            .into();
        let blocks = data.len() / CHUNK;
        for (i, block) in data.chunks_exact_mut(CHUNK).enumerate() {
            let last = i + 1 == blocks;
            let next_from_input = (dir == Direction::Decrypt && !last)
                .then(|| self.keyed_md5.clone().chain_update(&*block).finalize());
            for (d, k) in block.iter_mut().zip(&key) {
                *d ^= k;
            }
            if !last {
                key = match next_from_input {
                    Some(next) => next.into(),
                    None => self
                        .keyed_md5
                        .clone()
                        .chain_update(&*block)
                        .finalize()
                        .into(),
                };
            }
        }
    }

    /// Hide a User-Password (RFC 2865 §5.2) into `out`, the attribute's value: `password`
    /// NUL-padded to `out.len()`, XOR-chained with MD5(secret ‖ previous). `out` must be a
    /// multiple of 16 in 16..=128 bytes (`BadHiddenLength`) and at least as long as the
    /// password (`PasswordTooLong`); [`hidden_password_len`] gives the usual length. Also
    /// hides RFC 2548 §2.4.1 MS-CHAP-MPPE-Keys, which use the same scheme.
    pub fn hide_password(
        &self,
        password: &[u8],
        authenticator: &[u8; 16],
        out: &mut [u8],
    ) -> Result<(), EncodeError> {
        let len = out.len();
        if !(CHUNK..=MAX_PASSWORD_LEN).contains(&len) || !len.is_multiple_of(CHUNK) {
            return Err(EncodeError::BadHiddenLength(len));
        }
        let (head, padding) = out
            .split_at_mut_checked(password.len())
            .ok_or(EncodeError::PasswordTooLong)?;
        head.copy_from_slice(password);
        padding.fill(0);
        self.xor_chain(out, authenticator, &[], Direction::Encrypt);
        Ok(())
    }

    /// Unhide a User-Password (RFC 2865 §5.2). The value must be a multiple of 16 bytes in
    /// 16..=128 (`BadPasswordLength`); trailing NULs are removed. No allocation: the
    /// [`Password`] is held inline, and the scratch copy is wiped.
    pub fn unhide_password(
        &self,
        hidden: &[u8],
        authenticator: &[u8; 16],
    ) -> Result<Password, DecodeError> {
        let len = hidden.len();
        if !(CHUNK..=MAX_PASSWORD_LEN).contains(&len) || !len.is_multiple_of(CHUNK) {
            return Err(DecodeError::BadPasswordLength(len));
        }
        let mut buf = [0u8; MAX_PASSWORD_LEN];
        let plain = buf
            .get_mut(..len)
            .ok_or(DecodeError::BadPasswordLength(len))?;
        plain.copy_from_slice(hidden);
        self.xor_chain(plain, authenticator, &[], Direction::Decrypt);
        let end = plain.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let password = Password::new(plain.get(..end).unwrap_or_default());
        buf.fill(0);
        password.ok_or(DecodeError::BadPasswordLength(len))
    }

    /// Salt-encrypt (RFC 2868 §3.5 Tunnel-Password, RFC 2548 §2.4.2 MS-MPPE keys) into
    /// `out`: `salt ‖ E(len ‖ plaintext ‖ NUL padding)` keyed with the Request Authenticator
    /// of the request the reply answers. `out` must be exactly
    /// [`salt_encrypted_len`]`(plaintext.len())` bytes (`BadHiddenLength`). The salt's most
    /// significant bit is forced on; the caller supplies the salt (randomness is passed in).
    /// Tags are the caller's.
    pub fn salt_encrypt(
        &self,
        plaintext: &[u8],
        request_authenticator: &[u8; 16],
        salt: [u8; 2],
        out: &mut [u8],
    ) -> Result<(), EncodeError> {
        let want = salt_encrypted_len(plaintext.len())?;
        if out.len() != want {
            return Err(EncodeError::BadHiddenLength(out.len()));
        }
        let salt = [salt[0] | 0x80, salt[1]];
        let (salt_out, cipher) = out
            .split_first_chunk_mut::<2>()
            .ok_or(EncodeError::BadHiddenLength(want))?;
        *salt_out = salt;
        let (len_octet, rest) = cipher
            .split_first_mut()
            .ok_or(EncodeError::BadHiddenLength(want))?;
        // `salt_encrypted_len` bounded the plaintext to 239 bytes.
        *len_octet = plaintext.len() as u8;
        let (text, padding) = rest
            .split_at_mut_checked(plaintext.len())
            .ok_or(EncodeError::BadHiddenLength(want))?;
        text.copy_from_slice(plaintext);
        padding.fill(0);
        self.xor_chain(cipher, request_authenticator, &salt, Direction::Encrypt);
        Ok(())
    }

    /// Reverse [`Signer::salt_encrypt`] into `out` and return the plaintext (length octet
    /// honoured, padding dropped). The value (tag removed) must be a 2-byte salt plus a
    /// non-empty multiple of 16 bytes, and the length octet must fit the decrypted data;
    /// else `BadSaltEncrypted`, as when `out` is shorter than the ciphertext (an `out` of
    /// [`MAX_ATTR_VALUE_LEN`](super::MAX_ATTR_VALUE_LEN) bytes always suffices). The salt's
    /// most significant bit is not checked (RFC 2868 puts that duty on the sender).
    pub fn salt_decrypt<'o>(
        &self,
        value: &[u8],
        request_authenticator: &[u8; 16],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], DecodeError> {
        let (salt, cipher) = value
            .split_first_chunk::<2>()
            .ok_or(DecodeError::BadSaltEncrypted)?;
        if cipher.is_empty() || !cipher.len().is_multiple_of(CHUNK) {
            return Err(DecodeError::BadSaltEncrypted);
        }
        let plain = out
            .get_mut(..cipher.len())
            .ok_or(DecodeError::BadSaltEncrypted)?;
        plain.copy_from_slice(cipher);
        self.xor_chain(plain, request_authenticator, salt, Direction::Decrypt);
        let plain: &'o [u8] = plain;
        let (&len, rest) = plain.split_first().ok_or(DecodeError::BadSaltEncrypted)?;
        rest.get(..usize::from(len))
            .ok_or(DecodeError::BadSaltEncrypted)
    }

    /// Sign a finished reply in place (Access-*, Accounting-Response, CoA/Disconnect ACK and
    /// NAK): `packet` is exactly the encoded reply with its Length field written. Fills the
    /// Message-Authenticator, if the packet has one, over `vector` (see [`ReplyVector`]),
    /// then writes the Response Authenticator (RFC 2865 §3).
    pub fn sign_reply(
        &self,
        packet: &mut [u8],
        request_authenticator: &[u8; 16],
        vector: ReplyVector,
    ) {
        let offset = message_authenticator_offset(packet);
        self.sign_reply_at(packet, request_authenticator, vector, offset);
    }

    /// [`Signer::sign_reply`] with the Message-Authenticator's value offset known.
    pub(crate) fn sign_reply_at(
        &self,
        packet: &mut [u8],
        request_authenticator: &[u8; 16],
        vector: ReplyVector,
        ma: Option<usize>,
    ) {
        if let Some(offset) = ma {
            let vector = vector.bytes(request_authenticator);
            self.fill_message_authenticator_at(packet, vector, offset);
        }
        let auth = self.response_authenticator(packet, request_authenticator);
        write_authenticator(packet, &auth);
    }

    /// Sign a finished Access-Request or Status-Server in place: its (random) Request
    /// Authenticator is already in the header, so only the Message-Authenticator, if the
    /// packet has one, is computed (RFC 3579 §3.2, RFC 5997 §3).
    pub fn sign_access_request(&self, packet: &mut [u8]) {
        let offset = message_authenticator_offset(packet);
        self.sign_access_request_at(packet, offset);
    }

    /// [`Signer::sign_access_request`] with the Message-Authenticator's offset known.
    pub(crate) fn sign_access_request_at(&self, packet: &mut [u8], ma: Option<usize>) {
        if let Some(offset) = ma {
            let mut vector = [0u8; 16];
            if let Some(a) = packet.get(AUTH) {
                vector.copy_from_slice(a);
            }
            self.fill_message_authenticator_at(packet, &vector, offset);
        }
    }

    /// Sign a finished Accounting-Request, CoA-Request or Disconnect-Request in place:
    /// Message-Authenticator (if present) over a zero authenticator field, then the computed
    /// Request Authenticator (RFC 2866 §3, RFC 5176 §2.3), which is also returned (replies
    /// are verified against it).
    pub fn sign_computed_request(&self, packet: &mut [u8]) -> [u8; 16] {
        let offset = message_authenticator_offset(packet);
        self.sign_computed_request_at(packet, offset)
    }

    /// [`Signer::sign_computed_request`] with the Message-Authenticator's offset known.
    pub(crate) fn sign_computed_request_at(
        &self,
        packet: &mut [u8],
        ma: Option<usize>,
    ) -> [u8; 16] {
        if let Some(offset) = ma {
            self.fill_message_authenticator_at(packet, &[0; AUTHENTICATOR_LEN], offset);
        }
        let auth = self.computed_request_authenticator(packet);
        write_authenticator(packet, &auth);
        auth
    }

    /// Decode a reply datagram and verify it against the request it answers: layout (as
    /// [`Packet::decode`]), Response Authenticator, and Message-Authenticator when present
    /// (over `vector`). Which reply codes may answer which request is the caller's business.
    pub fn verify_reply<'a>(
        &self,
        datagram: &'a [u8],
        request_authenticator: &[u8; 16],
        vector: ReplyVector,
    ) -> Result<Packet<'a>, DecodeError> {
        let reply = Packet::decode(datagram)?;
        reply.verify_response(request_authenticator, vector, self)?;
        Ok(reply)
    }
}

/// The first 4 header octets and the attributes of an encoded packet (never panics on
/// short input: missing parts are empty).
fn split_packet(packet: &[u8]) -> (&[u8], &[u8]) {
    (
        packet.get(..4).unwrap_or(packet),
        packet.get(HEADER_LEN..).unwrap_or(&[]),
    )
}

/// Offset of the first Message-Authenticator value (attribute 80 with 16 octets) in an
/// encoded packet, if any.
fn message_authenticator_offset(packet: &[u8]) -> Option<usize> {
    value_range(packet, MESSAGE_AUTHENTICATOR)
        .filter(|r| r.len() == CHUNK)
        .map(|r| r.start)
}

/// Write `auth` into the header's authenticator field.
fn write_authenticator(packet: &mut [u8], auth: &[u8; 16]) {
    if let Some(a) = packet.get_mut(AUTH) {
        a.copy_from_slice(auth);
    }
}

#[cfg(test)]
#[path = "signer_tests.rs"]
mod tests;
