//! Hot-path RADIUS signing and verification for the load tools.
//!
//! `bench`, `replay` and the trivial responder sign and verify hundreds of thousands of
//! packets a second. They patch pre-built packets in place, so instead of going through
//! `PacketBuilder` (which owns a `Vec`) they use a [`Signer`]: the shared secret with its
//! HMAC-MD5 key schedule computed once, and functions that work on `&mut [u8]` without
//! allocating. The algorithms are the RFC ones: RFC 2865 §3 (Response Authenticator),
//! §5.2 (User-Password hiding), RFC 2866 §3 (computed Request Authenticator), RFC 3579 §3.2
//! (Message-Authenticator).

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use radius_proto::protocol::attrs;
use radius_proto::protocol::crypto::ct_eq;

/// Length of an encoded Message-Authenticator attribute (type, length, 16-byte value).
pub(crate) const MA_ATTR_LEN: usize = 18;

/// Why a reply failed verification (the tools count these as "bad replies").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadReply {
    /// Length field or attribute layout invalid.
    Malformed,
    /// Response Authenticator did not match.
    Authenticator,
    /// Message-Authenticator present and wrong.
    MessageAuthenticator,
}

/// A shared secret prepared for fast signing: the secret bytes and a keyed HMAC-MD5 state
/// that is cloned per use (the key pads are hashed once).
#[derive(Clone)]
pub(crate) struct Signer {
    secret: Box<[u8]>,
    hmac: Hmac<Md5>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    /// Prepare `secret`.
    pub(crate) fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length; this cannot fail.
        let hmac = <Hmac<Md5> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self {
            secret: secret.into(),
            hmac,
        }
    }

    /// HMAC-MD5 keyed with the secret over the concatenation of `parts`.
    pub(crate) fn hmac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut m = self.hmac.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// MD5 over the concatenation of `parts`, then the secret.
    pub(crate) fn md5_then_secret(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut m = Md5::new();
        for p in parts {
            m.update(p);
        }
        m.update(&self.secret);
        m.finalize().into()
    }

    /// MD5(secret ‖ `tail`): one step of the User-Password chain.
    fn md5_secret_then(&self, tail: &[u8]) -> [u8; 16] {
        let mut m = Md5::new();
        m.update(&self.secret);
        m.update(tail);
        m.finalize().into()
    }

    /// Fill the Message-Authenticator whose *value* starts at `ma` (RFC 3579 §3.2): HMAC over
    /// the packet as it is, with the value zeroed. The caller has put the right
    /// authenticator in the header first.
    pub(crate) fn fill_message_authenticator(&self, pkt: &mut [u8], ma: usize) {
        if let Some(v) = pkt.get_mut(ma..ma + 16) {
            v.fill(0);
        } else {
            return;
        }
        let mac = self.hmac(&[pkt]);
        if let Some(v) = pkt.get_mut(ma..ma + 16) {
            v.copy_from_slice(&mac);
        }
    }

    /// Finish an Access-Request or Status-Server whose random authenticator is already in
    /// place: only the Message-Authenticator, if any, needs computing.
    pub(crate) fn sign_access_request(&self, pkt: &mut [u8], ma: Option<usize>) {
        if let Some(ma) = ma {
            self.fill_message_authenticator(pkt, ma);
        }
    }

    /// Finish an Accounting/CoA/Disconnect-Request (RFC 2866 §3, RFC 5176 §2.3):
    /// Message-Authenticator over the packet with a zero authenticator, then the computed
    /// Request Authenticator. Returns the authenticator.
    pub(crate) fn sign_computed_request(&self, pkt: &mut [u8], ma: Option<usize>) -> [u8; 16] {
        if let Some(a) = pkt.get_mut(4..20) {
            a.fill(0);
        }
        if let Some(ma) = ma {
            self.fill_message_authenticator(pkt, ma);
        }
        let auth = self.md5_then_secret(&[pkt]);
        if let Some(a) = pkt.get_mut(4..20) {
            a.copy_from_slice(&auth);
        }
        auth
    }

    /// Finish a reply in place (RFC 2865 §3): request authenticator into the header,
    /// Message-Authenticator if any, then the Response Authenticator.
    ///
    /// An Accounting-Response's Message-Authenticator is computed over a zero authenticator
    /// field, as FreeRADIUS (and so `radclient`) computes and checks it; other replies use
    /// the request authenticator (RFC 3579 §3.2, RFC 5176 §3.3).
    pub(crate) fn sign_response(&self, pkt: &mut [u8], request_auth: &[u8; 16], ma: Option<usize>) {
        let zero_for_ma = pkt.first() == Some(&5);
        if let Some(a) = pkt.get_mut(4..20) {
            if zero_for_ma {
                a.fill(0);
            } else {
                a.copy_from_slice(request_auth);
            }
        }
        if let Some(ma) = ma {
            self.fill_message_authenticator(pkt, ma);
        }
        if let Some(a) = pkt.get_mut(4..20) {
            a.copy_from_slice(request_auth);
        }
        let auth = self.md5_then_secret(&[pkt]);
        if let Some(a) = pkt.get_mut(4..20) {
            a.copy_from_slice(&auth);
        }
    }

    /// Verify a reply to a request with authenticator `request_auth`: Length field,
    /// attribute layout, Response Authenticator, and the Message-Authenticator when present.
    /// `pkt` is the datagram; bytes past the Length field are ignored.
    pub(crate) fn verify_response(
        &self,
        pkt: &[u8],
        request_auth: &[u8; 16],
    ) -> Result<(), BadReply> {
        let pkt = packet_bytes(pkt).ok_or(BadReply::Malformed)?;
        let (head, rest) = pkt.split_at(4);
        let attrs_bytes = rest.get(16..).ok_or(BadReply::Malformed)?;
        let ma = find_attr(attrs_bytes, attrs::MESSAGE_AUTHENTICATOR)
            .map_err(|()| BadReply::Malformed)?;
        let expected = self.md5_then_secret(&[head, request_auth, attrs_bytes]);
        if !ct_eq(&expected, rest.get(..16).ok_or(BadReply::Malformed)?) {
            return Err(BadReply::Authenticator);
        }
        if let Some((off, len)) = ma {
            if len != 16 {
                return Err(BadReply::Malformed);
            }
            let before = attrs_bytes.get(..off).ok_or(BadReply::Malformed)?;
            let value = attrs_bytes.get(off..off + 16).ok_or(BadReply::Malformed)?;
            let after = attrs_bytes.get(off + 16..).ok_or(BadReply::Malformed)?;
            let mac = self.hmac(&[head, request_auth, before, &[0u8; 16], after]);
            // Accounting-Response: servers differ; FreeRADIUS uses a zero authenticator.
            let ok = ct_eq(&mac, value)
                || (head.first() == Some(&5)
                    && ct_eq(
                        &self.hmac(&[head, &[0u8; 16], before, &[0u8; 16], after]),
                        value,
                    ));
            if !ok {
                return Err(BadReply::MessageAuthenticator);
            }
        }
        Ok(())
    }

    /// Verify the Message-Authenticator of a request we received (authenticator field as
    /// sent, or zero for computed-authenticator requests). `Ok(false)` when absent.
    pub(crate) fn verify_request_ma(&self, pkt: &[u8], zero_auth: bool) -> Result<bool, BadReply> {
        let pkt = packet_bytes(pkt).ok_or(BadReply::Malformed)?;
        let attrs_bytes = pkt.get(20..).ok_or(BadReply::Malformed)?;
        let Some((off, len)) = find_attr(attrs_bytes, attrs::MESSAGE_AUTHENTICATOR)
            .map_err(|()| BadReply::Malformed)?
        else {
            return Ok(false);
        };
        if len != 16 {
            return Err(BadReply::Malformed);
        }
        let auth: &[u8] = if zero_auth {
            &[0u8; 16]
        } else {
            pkt.get(4..20).ok_or(BadReply::Malformed)?
        };
        let before = attrs_bytes.get(..off).ok_or(BadReply::Malformed)?;
        let value = attrs_bytes.get(off..off + 16).ok_or(BadReply::Malformed)?;
        let after = attrs_bytes.get(off + 16..).ok_or(BadReply::Malformed)?;
        let head = pkt.get(..4).ok_or(BadReply::Malformed)?;
        let mac = self.hmac(&[head, auth, before, &[0u8; 16], after]);
        if ct_eq(&mac, value) {
            Ok(true)
        } else {
            Err(BadReply::MessageAuthenticator)
        }
    }

    /// Check the computed Request Authenticator of an Accounting/CoA/Disconnect-Request.
    pub(crate) fn verify_computed_request(&self, pkt: &[u8]) -> bool {
        let Some(pkt) = packet_bytes(pkt) else {
            return false;
        };
        let (Some(head), Some(auth), Some(tail)) = (pkt.get(..4), pkt.get(4..20), pkt.get(20..))
        else {
            return false;
        };
        let expected = self.md5_then_secret(&[head, &[0u8; 16], tail]);
        ct_eq(&expected, auth)
    }

    /// Hide `password` into `out` (RFC 2865 §5.2). `out.len()` must be a multiple of 16,
    /// at least the password length; the password is NUL-padded to it.
    pub(crate) fn hide_password(&self, password: &[u8], auth: &[u8; 16], out: &mut [u8]) {
        let mut prev: [u8; 16] = *auth;
        for (i, chunk) in out.chunks_mut(16).enumerate() {
            let b = self.md5_secret_then(&prev);
            for (j, o) in chunk.iter_mut().enumerate() {
                let p = password.get(i * 16 + j).copied().unwrap_or(0);
                *o = p ^ b.get(j).copied().unwrap_or(0);
            }
            let mut next = [0u8; 16];
            let n = chunk.len().min(16);
            next[..n].copy_from_slice(&chunk[..n]);
            prev = next;
        }
    }

    /// Unhide a User-Password value into `out` (same length as `hidden`); returns the
    /// plaintext length with trailing NULs removed.
    pub(crate) fn unhide_password(&self, hidden: &[u8], auth: &[u8; 16], out: &mut [u8]) -> usize {
        let mut prev: [u8; 16] = *auth;
        for (i, chunk) in hidden.chunks(16).enumerate() {
            let b = self.md5_secret_then(&prev);
            for (j, c) in chunk.iter().enumerate() {
                if let Some(o) = out.get_mut(i * 16 + j) {
                    *o = c ^ b.get(j).copied().unwrap_or(0);
                }
            }
            let mut next = [0u8; 16];
            let n = chunk.len().min(16);
            next[..n].copy_from_slice(&chunk[..n]);
            prev = next;
        }
        let n = hidden.len().min(out.len());
        out[..n].iter().rposition(|&c| c != 0).map_or(0, |p| p + 1)
    }
}

/// The packet bytes up to its Length field, when the header is sane (20..=4096 and not
/// longer than the datagram).
pub(crate) fn packet_bytes(datagram: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]));
    if !(20..=4096).contains(&len) {
        return None;
    }
    datagram.get(..len)
}

/// Walk the attributes in `attrs_bytes` and return the offset (of the value, relative to
/// `attrs_bytes`) and value length of the first attribute of type `typ`. `Err` when the
/// layout is invalid anywhere.
pub(crate) fn find_attr(attrs_bytes: &[u8], typ: u8) -> Result<Option<(usize, usize)>, ()> {
    let mut found = None;
    let mut pos = 0;
    while pos < attrs_bytes.len() {
        let t = *attrs_bytes.get(pos).ok_or(())?;
        let l = usize::from(*attrs_bytes.get(pos + 1).ok_or(())?);
        if l < 2 || pos + l > attrs_bytes.len() {
            return Err(());
        }
        if t == typ && found.is_none() {
            found = Some((pos + 2, l - 2));
        }
        pos += l;
    }
    Ok(found)
}

/// Append one attribute to `buf` at `*pos`; values longer than 253 bytes are truncated
/// (the tools only encode short values they made themselves).
pub(crate) fn put_attr(buf: &mut [u8], pos: &mut usize, typ: u8, value: &[u8]) {
    let value = &value[..value.len().min(253)];
    let end = *pos + 2 + value.len();
    if let Some(dst) = buf.get_mut(*pos..end) {
        dst[0] = typ;
        dst[1] = (value.len() + 2) as u8;
        dst[2..].copy_from_slice(value);
        *pos = end;
    }
}

/// Append a Vendor-Specific attribute with one sub-attribute.
pub(crate) fn put_vendor(buf: &mut [u8], pos: &mut usize, vendor: u32, typ: u8, value: &[u8]) {
    let value = &value[..value.len().min(247)];
    let end = *pos + 8 + value.len();
    if let Some(dst) = buf.get_mut(*pos..end) {
        dst[0] = attrs::VENDOR_SPECIFIC;
        dst[1] = (value.len() + 8) as u8;
        dst[2..6].copy_from_slice(&vendor.to_be_bytes());
        dst[6] = typ;
        dst[7] = (value.len() + 2) as u8;
        dst[8..].copy_from_slice(value);
        *pos = end;
    }
}

/// Write the 20-byte header (authenticator left as is) with the final length.
pub(crate) fn put_header(buf: &mut [u8], code: u8, id: u8, len: usize) {
    if let Some(h) = buf.get_mut(..4) {
        h[0] = code;
        h[1] = id;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    }
}

/// A small, fast, non-cryptographic generator (wyrand) for authenticators and challenges in
/// load tests, seeded from the OS. Load tests need unpredictability across runs, not
/// cryptographic strength, and this keeps the send path free of locks.
#[derive(Debug, Clone)]
pub(crate) struct FastRng(u64);

impl FastRng {
    /// Seeded from the thread RNG.
    pub(crate) fn from_os() -> Self {
        use rand::Rng;
        Self(rand::rng().next_u64())
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// 16 random bytes.
    pub(crate) fn bytes16(&mut self) -> [u8; 16] {
        let a = self.next_u64().to_le_bytes();
        let b = self.next_u64().to_le_bytes();
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a);
        out[8..].copy_from_slice(&b);
        out
    }

    /// Uniform-ish value below `n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hide_unhide_round_trip() {
        let s = Signer::new(b"xyzzy5461");
        let auth = [7u8; 16];
        let mut hidden = [0u8; 32];
        s.hide_password(b"a-password-longer-than-16", &auth, &mut hidden);
        let mut plain = [0u8; 32];
        let n = s.unhide_password(&hidden, &auth, &mut plain);
        assert_eq!(&plain[..n], b"a-password-longer-than-16");
    }

    #[test]
    fn rfc2865_password_vector() {
        // RFC 2865 §7.1: secret "xyzzy5461", password "arctangent".
        let s = Signer::new(b"xyzzy5461");
        let auth = [
            0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4,
            0x22, 0x7a,
        ];
        let mut hidden = [0u8; 16];
        s.hide_password(b"arctangent", &auth, &mut hidden);
        assert_eq!(
            hidden,
            [
                0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
                0x0a, 0xee
            ]
        );
    }

    #[test]
    fn signed_reply_verifies_and_tampering_is_caught() {
        let s = Signer::new(b"secret");
        let req_auth = [3u8; 16];
        let mut pkt = [0u8; 20 + MA_ATTR_LEN];
        put_header(&mut pkt, 2, 9, 20 + MA_ATTR_LEN);
        pkt[20] = attrs::MESSAGE_AUTHENTICATOR;
        pkt[21] = 18;
        s.sign_response(&mut pkt, &req_auth, Some(22));
        assert_eq!(s.verify_response(&pkt, &req_auth), Ok(()));
        assert_eq!(
            s.verify_response(&pkt, &[4u8; 16]),
            Err(BadReply::Authenticator)
        );
        assert!(
            Signer::new(b"other")
                .verify_response(&pkt, &req_auth)
                .is_err()
        );
        let mut bad = pkt;
        bad[25] ^= 1;
        assert!(s.verify_response(&bad, &req_auth).is_err());
    }
}
