//! Tagged attribute values (RFC 2868 §3.1): the Tag octet that groups tunnel attributes.
//!
//! Tagged strings carry an optional tag (0x01..=0x1F) in front of the text; tagged integers
//! carry it in the high octet of the 4-byte value; salt-encrypted tagged attributes
//! (Tunnel-Password) always carry a tag octet, which may be 0.

use super::DecodeError;

/// Largest valid tag (RFC 2868 §3.1).
pub const MAX_TAG: u8 = 0x1F;

/// Split a tagged string (e.g. Tunnel-Private-Group-Id): when the first octet is a valid
/// tag (0x01..=0x1F) it is returned with the rest; otherwise the tag is 0 and the whole
/// value is the string (RFC 2868 §3.1, "greater than 0x1F ... interpreted as the first
/// byte of the following field").
pub fn split_tagged_string(value: &[u8]) -> (u8, &[u8]) {
    match value.split_first() {
        Some((&tag, rest)) if (1..=MAX_TAG).contains(&tag) => (tag, rest),
        _ => (0, value),
    }
}

/// A tagged integer (e.g. Tunnel-Type): the tag is the high octet, the value the low 24 bits.
pub fn tagged_integer(value: &[u8]) -> Result<(u8, u32), DecodeError> {
    let b: [u8; 4] = value.try_into().map_err(|_| DecodeError::BadValueLength)?;
    Ok((b[0], u32::from_be_bytes([0, b[1], b[2], b[3]])))
}

/// Split a salt-encrypted tagged value (Tunnel-Password, RFC 2868 §3.5): the tag octet,
/// then `salt ‖ ciphertext` for [`super::Signer::salt_decrypt`].
pub fn split_tagged_salted(value: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let (&tag, rest) = value.split_first().ok_or(DecodeError::BadSaltEncrypted)?;
    if tag > MAX_TAG {
        return Err(DecodeError::BadSaltEncrypted);
    }
    Ok((tag, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_string() {
        assert_eq!(split_tagged_string(b"\x01vlan10"), (1, &b"vlan10"[..]));
        assert_eq!(split_tagged_string(b"\x1fx"), (0x1f, &b"x"[..]));
        assert_eq!(split_tagged_string(b"vlan10"), (0, &b"vlan10"[..]));
        assert_eq!(split_tagged_string(b"\x00x"), (0, &b"\x00x"[..]));
        assert_eq!(split_tagged_string(b""), (0, &b""[..]));
    }

    #[test]
    fn tagged_int() {
        assert_eq!(tagged_integer(&[3, 0, 0, 13]), Ok((3, 13)));
        assert_eq!(tagged_integer(&[0, 1, 2, 3]), Ok((0, 0x010203)));
        assert_eq!(tagged_integer(&[1, 2, 3]), Err(DecodeError::BadValueLength));
    }

    #[test]
    fn tagged_salted() {
        assert_eq!(split_tagged_salted(&[0, 0x80, 1]), Ok((0, &[0x80, 1][..])));
        assert_eq!(
            split_tagged_salted(&[0x20, 0x80]),
            Err(DecodeError::BadSaltEncrypted)
        );
        assert_eq!(split_tagged_salted(&[]), Err(DecodeError::BadSaltEncrypted));
    }
}
