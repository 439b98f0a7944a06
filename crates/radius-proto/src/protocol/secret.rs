//! `Secret`: shared secrets and passwords, never printed, compared in constant time.

/// Secret bytes (a NAS shared secret or a password). `Debug` and `Display` print
/// `Secret(***)`; equality is constant-time.
#[derive(Clone, Default)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wrap secret bytes.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes, for crypto only. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        super::crypto::ct_eq(&self.0, &other.0)
    }
}

impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Largest User-Password plaintext (RFC 2865 §5.2).
pub const MAX_PASSWORD_LEN: usize = 128;

/// An unhidden User-Password, held inline (no allocation). Trailing NUL padding is already
/// removed. `Debug` never shows it.
#[derive(Clone)]
pub struct Password {
    buf: [u8; MAX_PASSWORD_LEN],
    len: u8,
}

impl Password {
    /// Build from plaintext; `None` when longer than 128 bytes.
    pub fn new(plain: &[u8]) -> Option<Self> {
        let mut buf = [0u8; MAX_PASSWORD_LEN];
        buf.get_mut(..plain.len())?.copy_from_slice(plain);
        Some(Self {
            buf,
            len: plain.len() as u8,
        })
    }

    /// The plaintext bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}
