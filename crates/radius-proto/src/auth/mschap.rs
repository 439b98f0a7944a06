//! RADIUS carriage of MS-CHAP v1 and v2 (RFC 2548): Microsoft attributes in, verdict and
//! reply attributes (MS-CHAP2-Success, MPPE keys, MS-CHAP-Error) out.
//!
//! Reply choices, as common servers make them: on success MS-MPPE-Encryption-Policy = 1
//! (encryption allowed) and MS-MPPE-Encryption-Types = 6 (40- and 128-bit RC4); MPPE keys are
//! the 128-bit RFC 3079 keys, salt-encrypted with the Request Authenticator (RFC 2548
//! §2.4.2–2.4.3). On failure MS-CHAP-Error carries `E=691 R=0` (no retry).

use super::{Credential, RejectReason, ReplyAttr, Verdict, mschapv1, mschapv2};
use crate::protocol::attrs::{USER_NAME, microsoft as ms};
use crate::protocol::{Packet, Signer, hidden_password_len, salt_encrypted_len};

/// MS-MPPE-Encryption-Policy value: encryption allowed (RFC 2548 §2.4.4).
pub const ENCRYPTION_POLICY_ALLOWED: u32 = 1;
/// MS-MPPE-Encryption-Types value: 40-bit (2) | 128-bit (4) RC4 (RFC 2548 §2.4.5).
pub const ENCRYPTION_TYPES_40_128: u32 = 6;

fn ms_attr(typ: u8, value: Vec<u8>) -> ReplyAttr {
    ReplyAttr {
        vendor: ms::VENDOR_ID,
        typ,
        value,
    }
}

fn malformed() -> Verdict {
    Verdict::Reject(RejectReason::Malformed, Vec::new())
}

/// The NT hash behind a credential; `None` for crypt hashes, which MS-CHAP cannot use.
fn nt_hash_of(credential: &Credential) -> Option<[u8; 16]> {
    match credential {
        Credential::Cleartext(password) => Some(mschapv2::nt_hash(password.expose())),
        Credential::NtHash(hash) => Some(*hash),
        Credential::Crypt(_) => None,
    }
}

/// MS-CHAP-Error for MS-CHAPv2 (RFC 2759 §6): `E=691 R=0 C=<challenge hex> V=3 M=...`.
fn v2_error(ident: u8, authenticator_challenge: &[u8; 16]) -> ReplyAttr {
    let mut hex = [0u8; 32];
    mschapv2::hex_upper(authenticator_challenge, &mut hex);
    let mut value = Vec::with_capacity(80);
    value.push(ident);
    value.extend_from_slice(b"E=691 R=0 C=");
    value.extend_from_slice(&hex);
    value.extend_from_slice(b" V=3 M=Authentication failed");
    ms_attr(ms::MS_CHAP_ERROR, value)
}

/// The encryption policy and types attributes sent with every set of MPPE keys.
fn mppe_policy() -> [ReplyAttr; 2] {
    [
        ms_attr(
            ms::MS_MPPE_ENCRYPTION_POLICY,
            ENCRYPTION_POLICY_ALLOWED.to_be_bytes().to_vec(),
        ),
        ms_attr(
            ms::MS_MPPE_ENCRYPTION_TYPES,
            ENCRYPTION_TYPES_40_128.to_be_bytes().to_vec(),
        ),
    ]
}

/// Two distinct MPPE salts from four random bytes (MSB set, RFC 2548 §2.4.2).
pub(super) fn salts(salt: [u8; 4]) -> ([u8; 2], [u8; 2]) {
    let first = [salt[0] | 0x80, salt[1]];
    let mut second = [salt[2] | 0x80, salt[3]];
    if first == second {
        second[1] ^= 1;
    }
    (first, second)
}

/// Check MS-CHAPv2 (RFC 2759) and build the reply attributes.
pub(super) fn check_v2(
    packet: &Packet<'_>,
    signer: &Signer,
    credential: &Credential,
    salt: [u8; 4],
) -> Verdict {
    let challenge = packet.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE);
    let Some(Ok(challenge)) = challenge.map(<[u8; 16]>::try_from) else {
        return malformed();
    };
    let response = packet.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE);
    let (Some(response), Some(username)) = (
        response.and_then(mschapv2::Response::parse),
        packet.attr(USER_NAME),
    ) else {
        return malformed();
    };
    let Some(hash) = nt_hash_of(credential) else {
        let error = v2_error(response.ident, &challenge);
        return Verdict::Reject(RejectReason::MethodUnsupported, vec![error]);
    };
    let peer = &response.peer_challenge;
    let nt = &response.nt_response;
    // Windows peers hash the name without its `DOMAIN\` prefix; try the name as sent first.
    let stripped = username
        .iter()
        .rposition(|&b| b == b'\\')
        .and_then(|i| username.get(i + 1..));
    let matched = std::iter::once(username)
        .chain(stripped)
        .find(|name| mschapv2::verify(&challenge, peer, name, &hash, nt));
    let Some(name) = matched else {
        let error = v2_error(response.ident, &challenge);
        return Verdict::Reject(RejectReason::BadCredentials, vec![error]);
    };

    let auth = mschapv2::authenticator_response(&hash, nt, peer, &challenge, name);
    let mut success = Vec::with_capacity(1 + auth.len());
    success.push(response.ident);
    success.extend_from_slice(&auth);

    let keys = mschapv2::mppe_keys(&hash, nt);
    let (send_salt, recv_salt) = salts(salt);
    let request_auth = packet.authenticator();
    let hidden = salt_encrypted_len(keys.send.len()).and_then(|len| {
        let (mut send, mut recv) = (vec![0; len], vec![0; len]);
        signer.salt_encrypt(&keys.send, request_auth, send_salt, &mut send)?;
        signer.salt_encrypt(&keys.recv, request_auth, recv_salt, &mut recv)?;
        Ok((send, recv))
    });
    let Ok((send, recv)) = hidden else {
        // Unreachable for 16-byte keys; refuse rather than accept without keys.
        return malformed();
    };
    let mut attrs = vec![
        ms_attr(ms::MS_CHAP2_SUCCESS, success),
        ms_attr(ms::MS_MPPE_SEND_KEY, send),
        ms_attr(ms::MS_MPPE_RECV_KEY, recv),
    ];
    attrs.extend(mppe_policy());
    Verdict::Accept(attrs)
}

/// Check MS-CHAPv1 (RFC 2433, NT-Response only) and build the reply attributes.
pub(super) fn check_v1(packet: &Packet<'_>, signer: &Signer, credential: &Credential) -> Verdict {
    let challenge = packet.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE);
    let Some(Ok(challenge)) = challenge.map(<[u8; 8]>::try_from) else {
        return malformed();
    };
    let response = packet.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE);
    let Some(response) = response.and_then(mschapv1::Response::parse) else {
        return malformed();
    };
    let error = || {
        let mut value = vec![response.ident];
        value.extend_from_slice(b"E=691 R=0");
        vec![ms_attr(ms::MS_CHAP_ERROR, value)]
    };
    let (Some(hash), true) = (nt_hash_of(credential), response.uses_nt_response()) else {
        return Verdict::Reject(RejectReason::MethodUnsupported, error());
    };
    if !mschapv1::verify(&challenge, &hash, &response.nt_response) {
        return Verdict::Reject(RejectReason::BadCredentials, error());
    }
    let plain = mschapv1::mppe_keys_plaintext(&hash);
    // RFC 2548 §2.4.1: hidden like a User-Password (24 bytes, padded to 32).
    let hidden = hidden_password_len(plain.len()).and_then(|len| {
        let mut keys = vec![0; len];
        signer.hide_password(&plain, packet.authenticator(), &mut keys)?;
        Ok(keys)
    });
    let Ok(keys) = hidden else {
        return malformed();
    };
    let mut attrs = vec![ms_attr(mschapv1::MS_CHAP_MPPE_KEYS, keys)];
    attrs.extend(mppe_policy());
    Verdict::Accept(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_are_distinct_with_msb_set() {
        for raw in [[0, 0, 0, 0], [0x80, 5, 0x00, 5], [1, 2, 3, 4], [0xff; 4]] {
            let (a, b) = salts(raw);
            assert_ne!(a, b, "{raw:?}");
            assert!(a[0] & 0x80 != 0 && b[0] & 0x80 != 0);
        }
        assert_eq!(salts([1, 2, 3, 4]), ([0x81, 2], [0x83, 4]));
    }

    #[test]
    fn v2_error_text() {
        let attr = v2_error(9, &[0xab; 16]);
        assert_eq!(attr.vendor, 311);
        assert_eq!(attr.typ, ms::MS_CHAP_ERROR);
        assert_eq!(attr.value[0], 9);
        assert_eq!(
            &attr.value[1..],
            b"E=691 R=0 C=ABABABABABABABABABABABABABABABAB V=3 M=Authentication failed"
        );
    }
}
