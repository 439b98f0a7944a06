//! RADIUS crypto primitives: authenticators, Message-Authenticator (HMAC-MD5), User-Password
//! hiding (RFC 2865 §5.2), salt encryption (RFC 2868 §3.5, RFC 2548 §2.4.2), and
//! constant-time comparison.

use super::{DecodeError, EncodeError, Password};

/// Constant-time equality (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// MD5 over the concatenation of `parts`.
pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let _ = parts;
    todo!()
}

/// HMAC-MD5 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let _ = (key, parts);
    todo!()
}

/// Response Authenticator (RFC 2865 §3): MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
/// `packet` is the encoded reply; its authenticator field is ignored and
/// `request_authenticator` used in its place.
pub fn response_authenticator(
    packet: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let _ = (packet, request_authenticator, secret);
    todo!()
}

/// Computed Request Authenticator (RFC 2866 §3, RFC 5176 §2.3): MD5 over the packet with a
/// zero authenticator field, then the secret. The packet's own field is ignored.
pub fn computed_request_authenticator(packet: &[u8], secret: &[u8]) -> [u8; 16] {
    let _ = (packet, secret);
    todo!()
}

/// Hide a User-Password (RFC 2865 §5.2): NUL-pad to a multiple of 16 (at least 16), XOR
/// chain with MD5(secret + previous). Appends the hidden value to `out`.
pub fn hide_user_password(
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let _ = (password, secret, authenticator, out);
    todo!()
}

/// Unhide a User-Password (RFC 2865 §5.2). The value must be a multiple of 16 bytes in
/// 16..=128; trailing NULs are removed.
pub fn unhide_user_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Password, DecodeError> {
    let _ = (hidden, secret, authenticator);
    todo!()
}

/// Salt-encrypt (RFC 2868 §3.5 Tunnel-Password, RFC 2548 §2.4.2 MS-MPPE keys): appends
/// `salt ‖ E(len ‖ plaintext ‖ NUL padding)` to `out`. The salt's most significant bit is
/// forced on. The caller supplies the salt (randomness is passed in). Tags are the caller's.
pub fn salt_encrypt(
    plaintext: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let _ = (plaintext, secret, request_authenticator, salt, out);
    todo!()
}

/// Reverse `salt_encrypt`: returns the plaintext (length octet honoured, padding dropped).
pub fn salt_decrypt(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<Vec<u8>, DecodeError> {
    let _ = (value, secret, request_authenticator);
    todo!()
}
