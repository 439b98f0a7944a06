//! FreeRADIUS-format dictionaries, loaded at runtime (v3 syntax; v4 spellings accepted).
//!
//! Maps attribute names used in SQL rows and config (`Mikrotik-Rate-Limit`) to wire codes and
//! types, and converts values between text and wire form. The parser is pure; reading files
//! is one function. The `dictionaries/` folder ships our own files, embedded in the binary by
//! [`Dictionary::builtin`].

use std::path::Path;

/// Data type of an attribute (RFC 8044 names, FreeRADIUS spellings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// 32-bit unsigned (`integer`, v4 `uint32`).
    Integer,
    /// 8-bit unsigned.
    Byte,
    /// 16-bit unsigned.
    Short,
    /// 32-bit signed.
    Signed,
    /// 64-bit unsigned.
    Integer64,
    /// UTF-8 text.
    String,
    /// Opaque bytes (also `abinary`).
    Octets,
    /// IPv4 address (`ipaddr`).
    IpAddr,
    /// IPv6 address.
    Ipv6Addr,
    /// IPv6 prefix (RFC 3162 §2.3 layout).
    Ipv6Prefix,
    /// IPv4 prefix (RFC 6572 layout).
    Ipv4Prefix,
    /// IPv6 interface id (8 bytes).
    Ifid,
    /// MAC address (6 bytes).
    Ether,
    /// Seconds since the Unix epoch, 32-bit.
    Date,
    /// TLV container (kept as octets).
    Tlv,
    /// IPv4 or IPv6 address by length.
    ComboIp,
    /// Vendor-Specific container.
    Vsa,
}

/// Value hiding applied on the wire (`encrypt=` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encrypt {
    /// No hiding.
    None,
    /// `encrypt=1`: RFC 2865 §5.2 User-Password method.
    UserPassword,
    /// `encrypt=2`: RFC 2868 §3.5 salt method (Tunnel-Password, MS-MPPE keys).
    TunnelPassword,
    /// `encrypt=3`: Ascend's method.
    Ascend,
}

/// One attribute definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDef {
    /// Name as written in the dictionary (lookups are case-insensitive).
    pub name: String,
    /// Vendor id; 0 for standard attributes.
    pub vendor: u32,
    /// Attribute number (type octet for standard and 1/1-format vendor attributes).
    pub code: u32,
    /// Data type.
    pub typ: AttrType,
    /// `has_tag` flag (RFC 2868).
    pub has_tag: bool,
    /// `encrypt=` flag.
    pub encrypt: Encrypt,
    /// `concat` flag: long values split over several attributes.
    pub concat: bool,
}

/// Dictionary load or parse failure; always names file and line.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    /// A file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// Path.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A line could not be parsed.
    #[error("{file}:{line}: {message}")]
    Parse {
        /// File name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Text <-> wire conversion failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// No attribute of that name.
    #[error("unknown attribute {0}")]
    UnknownAttribute(String),
    /// The text does not parse as the attribute's type.
    #[error("invalid value for {attribute}: {message}")]
    Invalid {
        /// Attribute name.
        attribute: String,
        /// What is wrong.
        message: String,
    },
    /// Encrypted attributes need the request authenticator; they cannot be pre-encoded.
    #[error("attribute {0} is encrypted and cannot be pre-encoded")]
    Encrypted(String),
}

/// An immutable, `Arc`-shareable dictionary.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {}

impl Dictionary {
    /// Load a dictionary file and everything it `$INCLUDE`s (paths relative to the including
    /// file, cycle-guarded).
    pub fn load(path: &Path) -> Result<Self, DictError> {
        let _ = path;
        todo!()
    }

    /// Our own dictionaries from `dictionaries/`, embedded in the binary.
    pub fn builtin() -> Self {
        todo!()
    }

    /// Parse one file's text; `$INCLUDE` lines are an error here (no file system).
    pub fn parse_str(name: &str, text: &str) -> Result<Self, DictError> {
        let _ = (name, text);
        todo!()
    }

    /// Attribute by name, case-insensitive.
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        let _ = name;
        todo!()
    }

    /// Attribute by (vendor, code); vendor 0 for standard attributes.
    pub fn attr_by_code(&self, vendor: u32, code: u32) -> Option<&AttrDef> {
        let _ = (vendor, code);
        todo!()
    }

    /// Vendor id by name, case-insensitive.
    pub fn vendor_id(&self, name: &str) -> Option<u32> {
        let _ = name;
        todo!()
    }

    /// Name of a numeric VALUE of an attribute.
    pub fn value_name(&self, def: &AttrDef, number: u64) -> Option<&str> {
        let _ = (def, number);
        todo!()
    }

    /// Number of a named VALUE of an attribute, case-insensitive.
    pub fn value_number(&self, def: &AttrDef, name: &str) -> Option<u64> {
        let _ = (def, name);
        todo!()
    }

    /// Encode a text value (as stored in SQL rows: `2M/5M`, `3600`, `Login-User`,
    /// `10.0.0.1`) into wire value bytes for `def`'s type. A tag, if any, is the caller's.
    pub fn encode_value(&self, def: &AttrDef, text: &str) -> Result<Vec<u8>, ValueError> {
        let _ = (def, text);
        todo!()
    }

    /// Encode `name = text` as complete attribute TLV bytes appended to `out` (wrapped in a
    /// Vendor-Specific attribute for vendor attributes). `name` may carry a tag suffix
    /// (`Tunnel-Type:1`). Encrypted attributes return `ValueError::Encrypted`.
    pub fn encode_attribute(
        &self,
        name: &str,
        text: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        let _ = (name, text, out);
        todo!()
    }

    /// Render a wire value readably (`Mikrotik-Rate-Limit = "2M/5M"`, named VALUEs, IPs).
    pub fn render(&self, vendor: u32, code: u32, value: &[u8]) -> String {
        let _ = (vendor, code, value);
        todo!()
    }
}
