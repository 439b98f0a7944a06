//! Crypt-Password checks: the `crypt(3)` hash formats operators actually store.
//!
//! Supported: bcrypt `$2a$`/`$2b$`/`$2y$` (PHP `password_hash`, Laravel), SHA-512 crypt
//! `$6$`, SHA-256 crypt `$5$` (optional `rounds=N$`), and MD5 crypt `$1$` (implemented here,
//! it is short). Anything else — DES crypt, `$2x$`, yescrypt `$y$`, malformed strings — is
//! rejected: an unknown format never authenticates.

use md5::{Digest, Md5};

use crate::protocol::crypto::ct_eq;

/// The `crypt(3)` base-64 alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Which scheme a stored hash uses, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `$2a$`, `$2b$`, `$2y$`.
    Bcrypt,
    /// `$6$`.
    Sha512,
    /// `$5$`.
    Sha256,
    /// `$1$`.
    Md5,
}

impl Scheme {
    /// Detect the scheme of `hash`; `None` for unsupported or unknown formats.
    pub fn detect(hash: &[u8]) -> Option<Self> {
        match hash {
            [b'$', b'2', b'a' | b'b' | b'y', b'$', ..] => Some(Self::Bcrypt),
            [b'$', b'6', b'$', ..] => Some(Self::Sha512),
            [b'$', b'5', b'$', ..] => Some(Self::Sha256),
            [b'$', b'1', b'$', ..] => Some(Self::Md5),
            _ => None,
        }
    }
}

/// Highest bcrypt cost accepted (2^13 rounds, about 0.8 s of CPU per check; PHP and
/// Laravel default to 10).
pub const MAX_BCRYPT_COST: u32 = 13;
/// Most SHA-crypt rounds accepted (glibc's default is 5,000; Python passlib's 656,000).
pub const MAX_SHA_ROUNDS: u64 = 1_000_000;

/// Whether checking a password against `hash` costs a bounded amount of work: a bcrypt cost
/// above [`MAX_BCRYPT_COST`] or SHA-crypt rounds above [`MAX_SHA_ROUNDS`] (a row that would
/// let one login burn seconds to hours of CPU) is an error naming the limit. Other formats
/// have a fixed cost (or never verify) and pass.
pub fn check_work_factor(hash: &str) -> Result<(), String> {
    match Scheme::detect(hash.as_bytes()) {
        Some(Scheme::Bcrypt) => {
            let cost = hash.get(4..6).and_then(|c| c.parse::<u32>().ok());
            match cost {
                Some(c) if c <= MAX_BCRYPT_COST => Ok(()),
                Some(c) => Err(format!(
                    "bcrypt cost {c} is above the limit {MAX_BCRYPT_COST}"
                )),
                None => Ok(()), // malformed: never verifies, costs nothing
            }
        }
        Some(Scheme::Sha512 | Scheme::Sha256) => {
            let rounds = hash
                .split('$')
                .nth(2)
                .and_then(|f| f.strip_prefix("rounds="))
                .and_then(|n| n.parse::<u64>().ok());
            match rounds {
                Some(r) if r > MAX_SHA_ROUNDS => Err(format!(
                    "SHA-crypt rounds {r} are above the limit {MAX_SHA_ROUNDS}"
                )),
                _ => Ok(()),
            }
        }
        Some(Scheme::Md5) | None => Ok(()),
    }
}

/// Does `password` match the stored crypt `hash`? Unknown or malformed hashes ⇒ `false`.
pub fn verify(password: &[u8], hash: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(hash) else {
        return false;
    };
    match Scheme::detect(hash) {
        Some(Scheme::Bcrypt) => bcrypt::verify(password, text).unwrap_or(false),
        Some(Scheme::Sha512) => verify_sha(password, text, "6"),
        Some(Scheme::Sha256) => verify_sha(password, text, "5"),
        Some(Scheme::Md5) => verify_md5(password, text),
        None => false,
    }
}

/// `$5$`/`$6$`: `$id$[rounds=N$]salt$hash`. Rounds outside 1000..=999999999 are rejected
/// (glibc would have clamped them when writing, so such a string was not written by it).
fn verify_sha(password: &[u8], hash: &str, id: &str) -> bool {
    let mut fields = hash.split('$');
    if fields.next() != Some("") || fields.next() != Some(id) {
        return false;
    }
    let Some(mut salt) = fields.next() else {
        return false;
    };
    let mut rounds = sha_crypt::ROUNDS_DEFAULT;
    if let Some(n) = salt.strip_prefix("rounds=") {
        let Ok(n) = n.parse::<usize>() else {
            return false;
        };
        rounds = n;
        let Some(next) = fields.next() else {
            return false;
        };
        salt = next;
    }
    let (Some(stored), None) = (fields.next(), fields.next()) else {
        return false;
    };
    // glibc uses at most 16 salt characters.
    let salt = salt.as_bytes().get(..16).unwrap_or(salt.as_bytes());
    let computed = if id == "6" {
        sha_crypt::Sha512Params::new(rounds)
            .ok()
            .and_then(|p| sha_crypt::sha512_crypt_b64(password, salt, &p).ok())
    } else {
        sha_crypt::Sha256Params::new(rounds)
            .ok()
            .and_then(|p| sha_crypt::sha256_crypt_b64(password, salt, &p).ok())
    };
    computed.is_some_and(|c| ct_eq(c.as_bytes(), stored.as_bytes()))
}

/// `$1$salt$hash`.
fn verify_md5(password: &[u8], hash: &str) -> bool {
    let Some(rest) = hash.strip_prefix("$1$") else {
        return false;
    };
    let Some((salt, stored)) = rest.split_once('$') else {
        return false;
    };
    let computed = md5_crypt_hash(password, salt.as_bytes());
    ct_eq(&computed, stored.as_bytes())
}

/// MD5 crypt (`$1$`, P.-H. Kamp's FreeBSD scheme): the full `$1$salt$hash` string.
/// At most 8 salt characters are used.
pub fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    let salt = md5_salt(salt);
    let hash = md5_crypt_hash(password, salt);
    let mut out = String::with_capacity(3 + salt.len() + 1 + hash.len());
    out.push_str("$1$");
    out.extend(salt.iter().map(|&b| char::from(b)));
    out.push('$');
    out.extend(hash.iter().map(|&b| char::from(b)));
    out
}

fn md5_salt(salt: &[u8]) -> &[u8] {
    let salt = salt.get(..8).unwrap_or(salt);
    let end = salt.iter().position(|&b| b == b'$').unwrap_or(salt.len());
    salt.get(..end).unwrap_or(salt)
}

/// The 22-character hash part of an MD5 crypt string.
fn md5_crypt_hash(password: &[u8], salt: &[u8]) -> [u8; 22] {
    let salt = md5_salt(salt);
    let alternate: [u8; 16] = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize()
        .into();

    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(b"$1$")
        .chain_update(salt);
    let mut remaining = password.len();
    while remaining > 0 {
        let n = remaining.min(16);
        ctx.update(alternate.get(..n).unwrap_or(&alternate));
        remaining -= n;
    }
    let first = password.first().copied().unwrap_or(0);
    let mut bits = password.len();
    while bits > 0 {
        ctx.update([if bits & 1 == 1 { 0 } else { first }]);
        bits >>= 1;
    }
    let mut digest: [u8; 16] = ctx.finalize().into();

    for i in 0..1000 {
        let mut round = Md5::new();
        if i % 2 == 1 {
            round.update(password);
        } else {
            round.update(digest);
        }
        if i % 3 != 0 {
            round.update(salt);
        }
        if i % 7 != 0 {
            round.update(password);
        }
        if i % 2 == 1 {
            round.update(digest);
        } else {
            round.update(password);
        }
        digest = round.finalize().into();
    }

    let d = digest;
    let groups = [
        (d[0], d[6], d[12]),
        (d[1], d[7], d[13]),
        (d[2], d[8], d[14]),
        (d[3], d[9], d[15]),
        (d[4], d[10], d[5]),
    ];
    let mut out = [0u8; 22];
    for (i, (a, b, c)) in groups.into_iter().enumerate() {
        let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
        to64(v, &mut out[i * 4..i * 4 + 4]);
    }
    to64(u32::from(d[11]), &mut out[20..22]);
    out
}

/// Little-end-first base-64 of `v` into `out.len()` characters.
fn to64(mut v: u32, out: &mut [u8]) {
    for slot in out {
        *slot = ITOA64[(v & 0x3f) as usize];
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_factor_is_capped() {
        let ok = "$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert_eq!(check_work_factor(ok), Ok(()));
        let heavy = "$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert!(
            check_work_factor(heavy)
                .unwrap_err()
                .contains("bcrypt cost 31")
        );
        assert_eq!(check_work_factor("$6$saltsalt$abc"), Ok(()));
        assert_eq!(check_work_factor("$6$rounds=656000$salt$abc"), Ok(()));
        let rounds = "$6$rounds=999999999$salt$abc";
        assert!(check_work_factor(rounds).unwrap_err().contains("999999999"));
        assert!(check_work_factor("$5$rounds=1000001$salt$abc").is_err());
        assert_eq!(check_work_factor("$1$salt$abc"), Ok(()));
        assert_eq!(check_work_factor("plain"), Ok(()));
    }

    /// Generated on the build machine with `openssl passwd -1 -salt SALT PASSWORD`.
    const MD5_VECTORS: &[(&str, &str)] = &[
        ("password", "$1$abcdefgh$G//4keteveJp0qb8z2DxG/"),
        ("", "$1$abcdefgh$M55TzYaaccxVGbptZWaxX/"),
        ("password", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"),
        ("", "$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0"),
        ("password", "$1$x$ntiM1/Tz/A.K1foNwVMof0"),
        (
            "a longer password with spaces and ünïcode",
            "$1$abcdefgh$.PoMmHlfIwuolKsefmI7P1",
        ),
    ];

    #[test]
    fn md5_crypt_matches_openssl() {
        for &(password, hash) in MD5_VECTORS {
            let salt = hash[3..].split('$').next().unwrap();
            assert_eq!(md5_crypt(password.as_bytes(), salt.as_bytes()), hash);
            assert!(verify(password.as_bytes(), hash.as_bytes()), "{hash}");
            assert!(!verify(b"passwore", hash.as_bytes()), "{hash}");
        }
        // Salt longer than 8 characters is cut, as openssl does.
        assert_eq!(
            md5_crypt(b"password", b"abcdefghXYZ"),
            "$1$abcdefgh$G//4keteveJp0qb8z2DxG/"
        );
    }

    #[test]
    fn sha_crypt_matches_openssl() {
        // `openssl passwd -5 / -6 -salt ...` on the build machine.
        let cases: &[(&str, &str)] = &[
            (
                "Hello world!",
                "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
            ),
            (
                "Hello world!",
                "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            ),
            (
                "Hello world!",
                "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
            ),
            (
                "secret",
                "$5$rounds=1000$abc$Mz4DiYKTnNKbZLo/mIp3d8Y4aQBhv3uhSwxLDy55/Y8",
            ),
        ];
        for &(password, hash) in cases {
            assert!(verify(password.as_bytes(), hash.as_bytes()), "{hash}");
            assert!(!verify(b"Hello world?", hash.as_bytes()), "{hash}");
        }
    }

    #[test]
    fn bcrypt_published_vectors() {
        // Openwall crypt_blowfish test vectors and the PHP manual's password_verify example.
        let cases: &[(&[u8], &str)] = &[
            (
                b"U*U",
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            ),
            (
                b"U*U*",
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
            ),
            // $2b$ / $2y$ differ from $2a$ only in bugs that ASCII passwords never hit.
            (
                b"U*U",
                "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            ),
            (
                b"U*U",
                "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            ),
            (
                b"rasmuslerdorf",
                "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
            ),
        ];
        for &(password, hash) in cases {
            assert!(verify(password, hash.as_bytes()), "{hash}");
            assert!(!verify(b"U*V", hash.as_bytes()), "{hash}");
        }
    }

    #[test]
    fn unknown_and_malformed_hashes_never_match() {
        let cases: &[&[u8]] = &[
            b"",
            b"password",
            b"abJnggxhB/yWI", // DES crypt of "password" with salt "ab" is not supported
            b"$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            b"$2y$05$short",
            b"$y$j9T$salt$hash",
            b"$6$",
            b"$6$salt",
            b"$6$rounds=abc$salt$hash",
            b"$6$rounds=10$salt$hash",
            b"$6$salt$hash$extra",
            b"$1$",
            b"$1$salt",
            b"$5$\xff\xfe$x",
        ];
        for &hash in cases {
            assert!(!verify(b"password", hash), "{hash:?}");
            assert!(!verify(b"", hash), "{hash:?}");
            assert!(!verify(b"U*U", hash), "{hash:?}");
        }
    }
}
