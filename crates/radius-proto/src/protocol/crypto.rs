//! RADIUS crypto primitives: authenticators, Message-Authenticator (HMAC-MD5), User-Password
//! hiding (RFC 2865 §5.2), salt encryption (RFC 2868 §3.5, RFC 2548 §2.4.2), and
//! constant-time comparison.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use super::{DecodeError, EncodeError, MAX_PASSWORD_LEN, Password};

type HmacMd5 = Hmac<Md5>;

/// Block size of the RFC 2865 §5.2 / RFC 2868 §3.5 XOR chain (one MD5 output).
const CHUNK: usize = 16;

/// Largest plaintext `salt_encrypt` accepts: `1 + len` padded to 240 bytes, so that
/// tag + salt + ciphertext (243 bytes) still fits a Vendor-Specific sub-attribute.
pub const MAX_SALT_PLAINTEXT: usize = 239;

/// Constant-time equality (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// MD5 over the concatenation of `parts`.
pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-MD5 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it. The fallback
    // (an all-zero tag, which never verifies against a real one) only avoids a panic path.
    let Ok(mut mac) = <HmacMd5 as KeyInit>::new_from_slice(key) else {
        return [0; 16];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The first 4 header octets and the attributes of an encoded packet (never panics on
/// short input: missing parts are empty).
fn split_packet(packet: &[u8]) -> (&[u8], &[u8]) {
    (
        packet.get(..4).unwrap_or(packet),
        packet.get(super::HEADER_LEN..).unwrap_or(&[]),
    )
}

/// Response Authenticator (RFC 2865 §3): MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
/// `packet` is the encoded reply; its authenticator field is ignored and
/// `request_authenticator` used in its place.
pub fn response_authenticator(
    packet: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let (head, attrs) = split_packet(packet);
    md5(&[head, request_authenticator, attrs, secret])
}

/// Computed Request Authenticator (RFC 2866 §3, RFC 5176 §2.3): MD5 over the packet with a
/// zero authenticator field, then the secret. The packet's own field is ignored.
pub fn computed_request_authenticator(packet: &[u8], secret: &[u8]) -> [u8; 16] {
    let (head, attrs) = split_packet(packet);
    md5(&[head, &[0u8; 16], attrs, secret])
}

/// Message-Authenticator (RFC 3579 §3.2) of an encoded packet: HMAC-MD5 keyed with the
/// secret over the packet with `authenticator` in the authenticator field and the 16 bytes
/// at `ma_value_offset` (the Message-Authenticator value) counted as zero. Nothing is copied.
pub fn message_authenticator(
    packet: &[u8],
    authenticator: &[u8; 16],
    ma_value_offset: usize,
    secret: &[u8],
) -> [u8; 16] {
    let (head, _) = split_packet(packet);
    let before = packet
        .get(super::HEADER_LEN..ma_value_offset)
        .unwrap_or(&[]);
    let after = packet.get(ma_value_offset + CHUNK..).unwrap_or(&[]);
    hmac_md5(secret, &[head, authenticator, before, &[0u8; 16], after])
}

/// XOR `block` into `dst` (both 16 bytes).
fn xor16(dst: &mut [u8], key: &[u8; 16]) {
    for (d, k) in dst.iter_mut().zip(key) {
        *d ^= k;
    }
}

/// Hide a User-Password (RFC 2865 §5.2): NUL-pad to a multiple of 16 (at least 16), XOR
/// chain with MD5(secret + previous). Appends the hidden value to `out`.
pub fn hide_user_password(
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(EncodeError::PasswordTooLong);
    }
    let padded = password.len().div_ceil(CHUNK).max(1) * CHUNK;
    let start = out.len();
    out.extend_from_slice(password);
    out.resize(start + padded, 0);
    xor_chain(
        out.get_mut(start..).unwrap_or_default(),
        secret,
        authenticator,
        &[],
        Direction::Encrypt,
    );
    Ok(())
}

/// Which way `xor_chain` runs: the chain key for block i+1 is MD5(S + ciphertext of block i),
/// which is the block after the XOR when encrypting and before it when decrypting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

/// En/decrypt `data` (a multiple of 16 bytes) in place: c1 = p1 ^ MD5(S + iv + extra),
/// ci = pi ^ MD5(S + c(i-1)). One MD5 per block: no key is derived after the last one.
fn xor_chain(data: &mut [u8], secret: &[u8], iv: &[u8; 16], extra: &[u8], dir: Direction) {
    let base = Md5::new_with_prefix(secret);
    let mut key: [u8; 16] = base
        .clone()
        .chain_update(iv)
        .chain_update(extra)
        .finalize()
        .into();
    let blocks = data.len() / CHUNK;
    for (i, block) in data.chunks_exact_mut(CHUNK).enumerate() {
        let last = i + 1 == blocks;
        let next_from_input = (dir == Direction::Decrypt && !last)
            .then(|| base.clone().chain_update(&*block).finalize());
        xor16(block, &key);
        if !last {
            key = match next_from_input {
                Some(next) => next.into(),
                None => base.clone().chain_update(&*block).finalize().into(),
            };
        }
    }
}

/// Unhide a User-Password (RFC 2865 §5.2). The value must be a multiple of 16 bytes in
/// 16..=128; trailing NULs are removed.
pub fn unhide_user_password(
    hidden: &[u8],
    secret: &[u8],
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
    xor_chain(plain, secret, authenticator, &[], Direction::Decrypt);
    let end = plain.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let password = Password::new(plain.get(..end).unwrap_or_default());
    buf.fill(0);
    password.ok_or(DecodeError::BadPasswordLength(len))
}

/// Salt-encrypt (RFC 2868 §3.5 Tunnel-Password, RFC 2548 §2.4.2 MS-MPPE keys): appends
/// `salt ‖ E(len ‖ plaintext ‖ NUL padding)` to `out`. The salt's most significant bit is
/// forced on. The caller supplies the salt (randomness is passed in). Tags are the caller's.
/// Plaintexts longer than [`MAX_SALT_PLAINTEXT`] are refused.
pub fn salt_encrypt(
    plaintext: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if plaintext.len() > MAX_SALT_PLAINTEXT {
        return Err(EncodeError::ValueTooLong(plaintext.len()));
    }
    let salt = [salt[0] | 0x80, salt[1]];
    let padded = (1 + plaintext.len()).div_ceil(CHUNK) * CHUNK;
    out.extend_from_slice(&salt);
    let start = out.len();
    out.push(plaintext.len() as u8);
    out.extend_from_slice(plaintext);
    out.resize(start + padded, 0);
    xor_chain(
        out.get_mut(start..).unwrap_or_default(),
        secret,
        request_authenticator,
        &salt,
        Direction::Encrypt,
    );
    Ok(())
}

/// Reverse `salt_encrypt`: returns the plaintext (length octet honoured, padding dropped).
/// The value (tag removed) must be a 2-byte salt plus a non-empty multiple of 16 bytes, and
/// the length octet must fit the decrypted data; else `BadSaltEncrypted`. The salt's most
/// significant bit is not checked (RFC 2868 puts that duty on the sender).
pub fn salt_decrypt(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<Vec<u8>, DecodeError> {
    let (salt, cipher) = value
        .split_first_chunk::<2>()
        .ok_or(DecodeError::BadSaltEncrypted)?;
    if cipher.is_empty() || !cipher.len().is_multiple_of(CHUNK) {
        return Err(DecodeError::BadSaltEncrypted);
    }
    let mut plain = cipher.to_vec();
    xor_chain(
        &mut plain,
        secret,
        request_authenticator,
        salt,
        Direction::Decrypt,
    );
    let (&len, rest) = plain.split_first().ok_or(DecodeError::BadSaltEncrypted)?;
    let Some(text) = rest.get(..usize::from(len)) else {
        return Err(DecodeError::BadSaltEncrypted);
    };
    Ok(text.to_vec())
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
