//! MS-CHAPv2 (RFC 2759) and its MPPE key derivation (RFC 3079 §3), both directions.
//!
//! The server side checks an NT-Response and builds the authenticator response carried in
//! MS-CHAP2-Success; the client side (bench and test tools) builds the 50-byte
//! MS-CHAP2-Response value and checks the server's `S=` string. The DES, MD4 and SHA-1
//! building blocks are the RFC's own functions, named after them.

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use sha1::Sha1;

use crate::protocol::crypto::ct_eq;

/// Length of the MS-CHAP2-Response value (RFC 2548 §2.3.2).
pub const RESPONSE_LEN: usize = 50;
/// Length of the MS-CHAP-Challenge value for MS-CHAPv2 (RFC 2548 §2.3.2).
pub const CHALLENGE_LEN: usize = 16;
/// Length of the authenticator response string `S=` + 40 hex digits (RFC 2759 §8.7).
pub const AUTHENTICATOR_RESPONSE_LEN: usize = 42;

/// RFC 2759 §8.7 Magic1.
const AUTH_MAGIC1: &[u8] = b"Magic server to client signing constant";
/// RFC 2759 §8.7 Magic2.
const AUTH_MAGIC2: &[u8] = b"Pad to make it do more than one iteration";
/// RFC 3079 §3.4 Magic1 (master key).
const MPPE_MAGIC1: &[u8] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 Magic2: client send key, server receive key.
const MPPE_MAGIC2: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 Magic3: client receive key, server send key.
const MPPE_MAGIC3: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// RFC 3079 §3.4 SHSpad1 and SHSpad2.
const SHS_PAD1: [u8; 40] = [0x00; 40];
const SHS_PAD2: [u8; 40] = [0xf2; 40];

/// The parts of an MS-CHAP2-Response value (RFC 2548 §2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// PPP CHAP identifier, echoed in MS-CHAP2-Success / MS-CHAP-Error.
    pub ident: u8,
    /// Flags (zero per RFC 2759; ignored).
    pub flags: u8,
    /// Peer-Challenge chosen by the client.
    pub peer_challenge: [u8; 16],
    /// The 24-byte NT-Response.
    pub nt_response: [u8; 24],
}

impl Response {
    /// Split a 50-byte MS-CHAP2-Response value; `None` for any other length.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let value: &[u8; RESPONSE_LEN] = value.try_into().ok()?;
        let (head, rest) = value.split_at(2);
        let (peer, rest) = rest.split_at(16);
        let (_reserved, nt) = rest.split_at(8);
        Some(Self {
            ident: head[0],
            flags: head[1],
            peer_challenge: peer.try_into().ok()?,
            nt_response: nt.try_into().ok()?,
        })
    }

    /// Encode as the 50-byte attribute value (reserved octets zero).
    pub fn encode(&self) -> [u8; RESPONSE_LEN] {
        let mut out = [0u8; RESPONSE_LEN];
        out[0] = self.ident;
        out[1] = self.flags;
        out[2..18].copy_from_slice(&self.peer_challenge);
        out[26..50].copy_from_slice(&self.nt_response);
        out
    }
}

/// NtPasswordHash (RFC 2759 §8.3): MD4 of the password in UTF-16LE.
///
/// The password bytes are read as UTF-8; bytes that are not valid UTF-8 are taken one per
/// code unit (Latin-1), so every byte string has a defined hash.
pub fn nt_hash(password: &[u8]) -> [u8; 16] {
    let mut md4 = Md4::new();
    match std::str::from_utf8(password) {
        Ok(text) => text
            .encode_utf16()
            .for_each(|unit| md4.update(unit.to_le_bytes())),
        Err(_) => password
            .iter()
            .for_each(|&byte| md4.update(u16::from(byte).to_le_bytes())),
    }
    md4.finalize().into()
}

/// HashNtPasswordHash (RFC 2759 §8.4): MD4 of the NT hash.
pub fn nt_hash_hash(nt_hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(nt_hash).into()
}

/// ChallengeHash (RFC 2759 §8.2): first 8 bytes of SHA-1(peer ‖ authenticator ‖ user name).
/// `username` is the name without any domain prefix.
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    username: &[u8],
) -> [u8; 8] {
    let digest = sha1(&[peer_challenge, authenticator_challenge, username]);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// ChallengeResponse (RFC 2759 §8.5): DES-encrypt the 8-byte challenge under the three
/// 7-byte thirds of the zero-padded 21-byte NT hash.
pub fn challenge_response(challenge: &[u8; 8], nt_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(nt_hash);
    let mut out = [0u8; 24];
    for (key, chunk) in z.chunks_exact(7).zip(out.chunks_exact_mut(8)) {
        let mut key7 = [0u8; 7];
        key7.copy_from_slice(key);
        chunk.copy_from_slice(&des_encrypt(challenge, &key7));
    }
    out
}

/// DesEncrypt (RFC 2759 §8.6): the 7-byte key is spread over 8 bytes (parity bits unset).
fn des_encrypt(clear: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    let k = key7;
    let key8 = [
        k[0] & 0xfe,
        (k[0] << 7) | (k[1] >> 1),
        (k[1] << 6) | (k[2] >> 2),
        (k[2] << 5) | (k[3] >> 3),
        (k[3] << 4) | (k[4] >> 4),
        (k[4] << 3) | (k[5] >> 5),
        (k[5] << 2) | (k[6] >> 6),
        k[6] << 1,
    ];
    let cipher = Des::new(&key8.into());
    let mut block = (*clear).into();
    cipher.encrypt_block(&mut block);
    block.into()
}

/// GenerateNTResponse (RFC 2759 §8.1) from the NT hash.
pub fn nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    username: &[u8],
    nt_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, username);
    challenge_response(&challenge, nt_hash)
}

/// GenerateNTResponse (RFC 2759 §8.1) from the cleartext password (client side).
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    username: &[u8],
    password: &[u8],
) -> [u8; 24] {
    nt_response(
        authenticator_challenge,
        peer_challenge,
        username,
        &nt_hash(password),
    )
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7): `S=` followed by 40 uppercase hex digits.
pub fn authenticator_response(
    nt_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    username: &[u8],
) -> [u8; AUTHENTICATOR_RESPONSE_LEN] {
    let hash_hash = nt_hash_hash(nt_hash);
    let digest = sha1(&[&hash_hash, nt_response, AUTH_MAGIC1]);
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, username);
    let digest = sha1(&[&digest, &challenge, AUTH_MAGIC2]);
    let mut out = [0u8; AUTHENTICATOR_RESPONSE_LEN];
    out[0] = b'S';
    out[1] = b'=';
    hex_upper(&digest, &mut out[2..]);
    out
}

/// Server side: is `nt_response` right for this NT hash? Constant-time.
pub fn verify(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    username: &[u8],
    nt_hash: &[u8; 16],
    nt_response: &[u8; 24],
) -> bool {
    let expected = self::nt_response(authenticator_challenge, peer_challenge, username, nt_hash);
    ct_eq(&expected, nt_response)
}

/// Client side: the 50-byte MS-CHAP2-Response value for `password`.
pub fn client_response(
    ident: u8,
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    username: &[u8],
    password: &[u8],
) -> [u8; RESPONSE_LEN] {
    Response {
        ident,
        flags: 0,
        peer_challenge: *peer_challenge,
        nt_response: generate_nt_response(
            authenticator_challenge,
            peer_challenge,
            username,
            password,
        ),
    }
    .encode()
}

/// Client side: check an MS-CHAP2-Success value (ident ‖ `S=<40 hex>` [‖ ` M=<text>`])
/// against the expected authenticator response. Hex case is ignored (RFC 2759 §8.7 says
/// uppercase; some servers differ).
pub fn verify_success(
    success: &[u8],
    password: &[u8],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    username: &[u8],
) -> bool {
    let Some(got) = success.get(1..1 + AUTHENTICATOR_RESPONSE_LEN) else {
        return false;
    };
    let expected = authenticator_response(
        &nt_hash(password),
        nt_response,
        peer_challenge,
        authenticator_challenge,
        username,
    );
    let mut got_upper = [0u8; AUTHENTICATOR_RESPONSE_LEN];
    got_upper.copy_from_slice(got);
    got_upper.make_ascii_uppercase();
    ct_eq(&got_upper, &expected)
}

/// MPPE session keys (RFC 3079 §3.4), named from the server's (authenticator's) side:
/// `send` goes in MS-MPPE-Send-Key, `recv` in MS-MPPE-Recv-Key (RFC 2548 §2.4.2–2.4.3).
#[derive(Clone, PartialEq, Eq)]
pub struct MppeKeys {
    /// Key the server (NAS) encrypts with: GetAsymmetricStartKey(IsSend, IsServer) (Magic3).
    pub send: [u8; 16],
    /// Key the server (NAS) decrypts with (Magic2).
    pub recv: [u8; 16],
}

impl std::fmt::Debug for MppeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MppeKeys(***)")
    }
}

/// GetMasterKey (RFC 3079 §3.4): first 16 bytes of SHA-1(hash-hash ‖ NT-Response ‖ Magic1).
pub fn master_key(nt_hash: &[u8; 16], nt_response: &[u8; 24]) -> [u8; 16] {
    let digest = sha1(&[&nt_hash_hash(nt_hash), nt_response, MPPE_MAGIC1]);
    first16(&digest)
}

/// GetAsymmetricStartKey (RFC 3079 §3.4) for a 128-bit session key.
pub fn asymmetric_start_key(master_key: &[u8; 16], is_send: bool, is_server: bool) -> [u8; 16] {
    let magic = if is_send == is_server {
        MPPE_MAGIC3
    } else {
        MPPE_MAGIC2
    };
    first16(&sha1(&[master_key, &SHS_PAD1, magic, &SHS_PAD2]))
}

/// The server-side 128-bit MPPE keys for a successful exchange.
pub fn mppe_keys(nt_hash: &[u8; 16], nt_response: &[u8; 24]) -> MppeKeys {
    let master = master_key(nt_hash, nt_response);
    MppeKeys {
        send: asymmetric_start_key(&master, true, true),
        recv: asymmetric_start_key(&master, false, true),
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize().into()
}

fn first16(digest: &[u8; 20]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Uppercase hex of `bytes` into `out` (which holds exactly twice as many bytes).
pub(crate) fn hex_upper(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let v: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    // RFC 2759 §9.2 inputs.
    const USER: &[u8] = b"User";
    const PASSWORD: &[u8] = b"clientPass";
    fn auth_challenge() -> [u8; 16] {
        unhex("5B5D7C7D7B3F2F3E3C2C602132262628")
    }
    fn peer_challenge() -> [u8; 16] {
        unhex("21402324255E262A28295F2B3A337C7E")
    }
    const NT_RESPONSE: &str = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF";

    #[test]
    fn rfc2759_section_9_2() {
        assert_eq!(
            challenge_hash(&peer_challenge(), &auth_challenge(), USER),
            unhex::<8>("D02E4386BCE91226")
        );
        let hash = nt_hash(PASSWORD);
        assert_eq!(hash, unhex::<16>("44EBBA8D5312B8D611474411F56989AE"));
        assert_eq!(
            nt_hash_hash(&hash),
            unhex::<16>("41C00C584BD2D91C4017A2A12FA59F3F")
        );
        let nt = generate_nt_response(&auth_challenge(), &peer_challenge(), USER, PASSWORD);
        assert_eq!(nt, unhex::<24>(NT_RESPONSE));
        let auth = authenticator_response(&hash, &nt, &peer_challenge(), &auth_challenge(), USER);
        assert_eq!(&auth, b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
    }

    #[test]
    fn rfc3079_section_3_5_keys() {
        let hash = nt_hash(PASSWORD);
        let nt = unhex::<24>(NT_RESPONSE);
        let master = master_key(&hash, &nt);
        assert_eq!(master, unhex::<16>("FDECE3717A8C838CB388E527AE3CDD31"));
        // RFC 3079 §3.5.3 SendStartKey128 is computed with IsSend = IsServer = TRUE.
        let keys = mppe_keys(&hash, &nt);
        assert_eq!(keys.send, unhex::<16>("8B7CDC149B993A1BA118CB153F56DCCB"));
        assert_eq!(keys.recv, unhex::<16>("D5F0E9521E3EA9589645E86051C82226"));
        // The client's receive key is the server's send key, and vice versa.
        assert_eq!(asymmetric_start_key(&master, false, false), keys.send);
        assert_eq!(asymmetric_start_key(&master, true, false), keys.recv);
        assert_eq!(format!("{keys:?}"), "MppeKeys(***)");
    }

    #[test]
    fn verify_accepts_right_and_rejects_wrong() {
        let hash = nt_hash(PASSWORD);
        let nt = unhex::<24>(NT_RESPONSE);
        assert!(verify(
            &auth_challenge(),
            &peer_challenge(),
            USER,
            &hash,
            &nt
        ));
        assert!(!verify(
            &auth_challenge(),
            &peer_challenge(),
            USER,
            &nt_hash(b"clientPasS"),
            &nt
        ));
        assert!(!verify(
            &auth_challenge(),
            &peer_challenge(),
            b"user",
            &hash,
            &nt
        ));
        let mut bad = nt;
        bad[23] ^= 1;
        assert!(!verify(
            &auth_challenge(),
            &peer_challenge(),
            USER,
            &hash,
            &bad
        ));
    }

    #[test]
    fn client_response_round_trip_and_success_check() {
        let value = client_response(7, &auth_challenge(), &peer_challenge(), USER, PASSWORD);
        let parsed = Response::parse(&value).unwrap();
        assert_eq!(parsed.ident, 7);
        assert_eq!(parsed.peer_challenge, peer_challenge());
        assert_eq!(parsed.nt_response, unhex::<24>(NT_RESPONSE));
        assert_eq!(&value[18..26], &[0u8; 8]);
        assert!(Response::parse(&value[..49]).is_none());

        let mut success = vec![7u8];
        success.extend_from_slice(b"S=407a5589115fd0d6209f510fe9c04566932cda56 M=ok");
        let nt = parsed.nt_response;
        let (pc, ac) = (peer_challenge(), auth_challenge());
        assert!(verify_success(&success, PASSWORD, &nt, &pc, &ac, USER));
        assert!(!verify_success(&success, b"other", &nt, &pc, &ac, USER));
        assert!(!verify_success(
            &success[..40],
            PASSWORD,
            &nt,
            &pc,
            &ac,
            USER
        ));
    }

    #[test]
    fn nt_hash_of_non_ascii_and_invalid_utf8() {
        // "é" is U+00E9 both in UTF-8 and as a Latin-1 byte: both spellings hash the same.
        assert_eq!(nt_hash("é".as_bytes()), nt_hash(&[0xe9]));
        // Empty password: MD4 of nothing.
        assert_eq!(
            nt_hash(b""),
            unhex::<16>("31D6CFE0D16AE931B73C59D7E0C089C0")
        );
    }
}
