//! In-place attribute encoding (RFC 2865 §5 TLVs, §5.26 Vendor-Specific) into a caller's
//! buffer.
//!
//! The one attribute encoder: [`PacketBuilder`](super::PacketBuilder) appends through these
//! crate-private functions, and the load tools write whole requests into fixed datagram
//! buffers with [`AttributeWriter`], then sign them in place with [`Signer`]; neither
//! allocates per packet.

use super::attrs::{MESSAGE_AUTHENTICATOR, USER_PASSWORD};
use super::signer::hidden_password_len;
use super::{
    AUTHENTICATOR_LEN, Code, EncodeError, HEADER_LEN, MAX_ATTR_VALUE_LEN, MAX_PACKET_LEN, Signer,
    VENDOR_SPECIFIC,
};

/// Largest value of one vendor sub-attribute inside its own Vendor-Specific attribute
/// (253 minus the 4-octet vendor id, type and length octets).
pub const MAX_VSA_VALUE_LEN: usize = MAX_ATTR_VALUE_LEN - 6;

/// Encoded length of a Message-Authenticator attribute (type, length, 16-octet value).
pub const MESSAGE_AUTHENTICATOR_LEN: usize = 2 + AUTHENTICATOR_LEN;

/// Encoded size of a standard attribute with a `value_len`-byte value; `ValueTooLong`
/// above 253.
pub(crate) fn attribute_len(value_len: usize) -> Result<usize, EncodeError> {
    if value_len > MAX_ATTR_VALUE_LEN {
        return Err(EncodeError::ValueTooLong(value_len));
    }
    Ok(2 + value_len)
}

/// Encoded size of a Vendor-Specific attribute holding one sub-attribute with a
/// `value_len`-byte value; `ValueTooLong` above `MAX_VSA_VALUE_LEN`.
pub(crate) fn vendor_attribute_len(value_len: usize) -> Result<usize, EncodeError> {
    if value_len > MAX_VSA_VALUE_LEN {
        return Err(EncodeError::ValueTooLong(value_len));
    }
    Ok(8 + value_len)
}

/// Write the type and length octets of a `value_len`-byte attribute at the start of `dst`
/// and let `fill` write the value. Returns the encoded length. `ValueTooLong` above 253,
/// `PacketTooLong` when `dst` is too short.
pub(crate) fn put_tlv(
    dst: &mut [u8],
    typ: u8,
    value_len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let n = attribute_len(value_len)?;
    let (tl, value) = dst
        .get_mut(..n)
        .and_then(<[u8]>::split_first_chunk_mut::<2>)
        .ok_or(EncodeError::PacketTooLong)?;
    // `attribute_len` bounded `n` to 255.
    *tl = [typ, n as u8];
    fill(value)?;
    Ok(n)
}

/// Write one standard attribute at the start of `dst`; returns its encoded length.
/// `ValueTooLong` above 253 bytes of value, `PacketTooLong` when `dst` is too short.
pub(crate) fn put_attribute(dst: &mut [u8], typ: u8, value: &[u8]) -> Result<usize, EncodeError> {
    put_tlv(dst, typ, value.len(), |v| {
        v.copy_from_slice(value);
        Ok(())
    })
}

/// Write a Vendor-Specific attribute (type 26, vendor id) around one sub-attribute whose
/// value `fill` writes; returns the encoded length.
pub(crate) fn put_vendor_tlv(
    dst: &mut [u8],
    vendor: u32,
    typ: u8,
    value_len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    vendor_attribute_len(value_len)?;
    put_tlv(dst, VENDOR_SPECIFIC, 6 + value_len, |v| {
        let (id, sub) = v
            .split_first_chunk_mut::<4>()
            .ok_or(EncodeError::PacketTooLong)?;
        *id = vendor.to_be_bytes();
        put_tlv(sub, typ, value_len, fill).map(|_| ())
    })
}

/// Write a Vendor-Specific attribute holding one sub-attribute `(vendor, typ)` at the start
/// of `dst`; returns its encoded length. `ValueTooLong` above [`MAX_VSA_VALUE_LEN`],
/// `PacketTooLong` when `dst` is too short.
pub(crate) fn put_vendor_attribute(
    dst: &mut [u8],
    vendor: u32,
    typ: u8,
    value: &[u8],
) -> Result<usize, EncodeError> {
    put_vendor_tlv(dst, vendor, typ, value.len(), |v| {
        v.copy_from_slice(value);
        Ok(())
    })
}

/// Write a User-Password attribute hidden with `signer` and the request's `authenticator`
/// (RFC 2865 §5.2) at the start of `dst`; returns its encoded length.
pub(crate) fn put_user_password(
    dst: &mut [u8],
    password: &[u8],
    signer: &Signer,
    authenticator: &[u8; 16],
) -> Result<usize, EncodeError> {
    let hidden = hidden_password_len(password.len())?;
    put_tlv(dst, USER_PASSWORD, hidden, |v| {
        signer.hide_password(password, authenticator, v)
    })
}

/// Writes the attributes of one packet into a caller's datagram buffer, after the 20-byte
/// header, then the header's code, identifier and Length field. The authenticator field is
/// left to the caller (a random Request Authenticator) and to [`Signer`]'s `sign_*`
/// methods, which also fill a Message-Authenticator reserved with
/// [`AttributeWriter::add_message_authenticator`]. Never writes past the buffer or past
/// 4096 bytes (`PacketTooLong`).
#[derive(Debug)]
pub struct AttributeWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> AttributeWriter<'b> {
    /// Start writing attributes at byte 20 of `buf`; the header is not touched until
    /// [`AttributeWriter::finish`].
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            len: HEADER_LEN,
        }
    }

    /// The writable rest of the buffer, capped at the 4096-byte packet limit.
    fn rest(&mut self) -> &mut [u8] {
        let end = self.buf.len().min(MAX_PACKET_LEN);
        self.buf.get_mut(self.len..end).unwrap_or_default()
    }

    /// Advance past `n` bytes just written.
    fn advance(&mut self, n: usize) -> &mut Self {
        self.len += n;
        self
    }

    /// Append a standard attribute.
    pub fn add(&mut self, typ: u8, value: &[u8]) -> Result<&mut Self, EncodeError> {
        let n = put_attribute(self.rest(), typ, value)?;
        Ok(self.advance(n))
    }

    /// Append a standard integer attribute (RFC 8044 `integer`).
    pub fn add_u32(&mut self, typ: u8, value: u32) -> Result<&mut Self, EncodeError> {
        self.add(typ, &value.to_be_bytes())
    }

    /// Append one vendor sub-attribute in its own Vendor-Specific attribute.
    pub fn add_vendor(
        &mut self,
        vendor: u32,
        typ: u8,
        value: &[u8],
    ) -> Result<&mut Self, EncodeError> {
        let n = put_vendor_attribute(self.rest(), vendor, typ, value)?;
        Ok(self.advance(n))
    }

    /// Append a zeroed Message-Authenticator for [`Signer`] to fill when signing. Put it
    /// first (BlastRADIUS, CVE-2024-3596) by calling this before any other `add`.
    pub fn add_message_authenticator(&mut self) -> Result<&mut Self, EncodeError> {
        self.add(MESSAGE_AUTHENTICATOR, &[0; AUTHENTICATOR_LEN])
    }

    /// Append a User-Password hidden under `authenticator`, which must be the Request
    /// Authenticator the packet is sent with (RFC 2865 §5.2).
    pub fn add_user_password(
        &mut self,
        password: &[u8],
        signer: &Signer,
        authenticator: &[u8; 16],
    ) -> Result<&mut Self, EncodeError> {
        let n = put_user_password(self.rest(), password, signer, authenticator)?;
        Ok(self.advance(n))
    }

    /// Write code, identifier and Length into the header; returns the packet's length.
    pub fn finish(self, code: Code, identifier: u8) -> usize {
        // `rest` capped the length at 4096.
        let [l0, l1] = (self.len as u16).to_be_bytes();
        if let Some(head) = self.buf.first_chunk_mut::<4>() {
            *head = [code.as_u8(), identifier, l0, l1];
        }
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Packet, attrs};

    #[test]
    fn writer_builds_a_packet_that_decodes_and_verifies() {
        let signer = Signer::new(b"s3cret");
        let auth = [7u8; 16];
        let mut buf = [0u8; 4096];
        buf[4..20].copy_from_slice(&auth);
        let mut w = AttributeWriter::new(&mut buf);
        w.add_message_authenticator().unwrap();
        w.add(attrs::USER_NAME, b"alice").unwrap();
        w.add_u32(attrs::NAS_PORT, 7).unwrap();
        w.add_vendor(14988, 8, b"1M/2M").unwrap();
        w.add_user_password(b"wonderland", &signer, &auth).unwrap();
        let len = w.finish(Code::AccessRequest, 9);
        signer.sign_access_request(&mut buf[..len]);
        let p = Packet::decode(&buf[..len]).unwrap();
        assert_eq!((p.code(), p.identifier()), (Code::AccessRequest, 9));
        assert_eq!(p.attr_str(attrs::USER_NAME), Some("alice"));
        assert_eq!(p.attr_u32(attrs::NAS_PORT), Ok(Some(7)));
        assert_eq!(p.vendor_attr(14988, 8), Some(&b"1M/2M"[..]));
        assert_eq!(p.verify_message_authenticator(&signer, None), Ok(true));
        let pw = p.user_password(&signer).unwrap().unwrap();
        assert_eq!(pw.as_bytes(), b"wonderland");
    }

    #[test]
    fn limits_are_errors_not_truncation() {
        let mut buf = [0u8; 64];
        let mut w = AttributeWriter::new(&mut buf);
        assert_eq!(
            w.add(1, &[0; 254]).unwrap_err(),
            EncodeError::ValueTooLong(254)
        );
        assert_eq!(
            w.add_vendor(9, 1, &[0; 248]).unwrap_err(),
            EncodeError::ValueTooLong(248)
        );
        // 44 bytes of room after the header: a 42-byte value fits, then nothing does.
        w.add(1, &[b'x'; 42]).unwrap();
        assert_eq!(w.add(1, b"").unwrap_err(), EncodeError::PacketTooLong);
        assert_eq!(w.finish(Code::AccessRequest, 1), 64);
        assert_eq!(&buf[..4], &[1, 1, 0, 64]);
        let mut big = vec![0u8; 5000];
        let mut w = AttributeWriter::new(&mut big);
        for _ in 0..15 {
            w.add(1, &[0; 253]).unwrap();
        }
        assert_eq!(w.add(1, &[0; 253]).unwrap_err(), EncodeError::PacketTooLong);
        assert_eq!(w.finish(Code::AccessRequest, 1), 20 + 15 * 255);
    }
}
