//! FreeRADIUS-format dictionaries, loaded at runtime (v3 syntax; v4 spellings accepted).
//!
//! Maps attribute names used in SQL rows and config (`Mikrotik-Rate-Limit`) to wire codes and
//! types, and converts values between text and wire form. The parser is pure; reading files
//! is one function. The `dictionaries/` folder ships our own files, embedded in the binary by
//! [`Dictionary::builtin`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

mod embedded;
mod parser;
mod value;
mod wire;

pub use value::{format_date, parse_date};

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

impl AttrDef {
    /// Standard-space attribute numbers above 255 cannot exist on the wire: they are server
    /// internal (check items such as `Cleartext-Password`, `Simultaneous-Use`).
    pub fn is_internal(&self) -> bool {
        self.vendor == 0 && self.code > 255
    }
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

/// How a vendor lays out its attributes inside Vendor-Specific (RFC 2865 §5.26; the
/// dictionary's `format=t,l[,c]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorFormat {
    /// Octets of the vendor type field: 1, 2 or 4.
    pub type_len: u8,
    /// Octets of the vendor length field: 0, 1 or 2.
    pub len_len: u8,
    /// WiMAX-style continuation octet after the length (`,c`).
    pub continuation: bool,
}

impl Default for VendorFormat {
    /// RFC 2865's suggested layout: one type octet, one length octet.
    fn default() -> Self {
        Self {
            type_len: 1,
            len_len: 1,
            continuation: false,
        }
    }
}

/// One vendor definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorDef {
    /// Name as first defined.
    pub name: String,
    /// SMI private enterprise number.
    pub id: u32,
    /// Layout inside Vendor-Specific.
    pub format: VendorFormat,
}

/// Named VALUEs of one attribute.
#[derive(Debug, Clone, Default)]
struct ValueTable {
    /// Lowercase name → number.
    by_name: HashMap<String, u64>,
    /// Number → name; the first name defined for a number wins (later ones are aliases).
    by_number: HashMap<u64, String>,
}

/// An immutable, `Arc`-shareable dictionary.
///
/// All lookups are hash lookups built once at load time; names are matched
/// case-insensitively through a lowercase key.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    /// Every registered definition; the maps below index into it.
    attrs: Vec<AttrDef>,
    /// Lowercase name → index into `attrs`.
    by_name: HashMap<String, usize>,
    /// (vendor, code) → index; the last definition of a number wins, so the canonical names
    /// of the RFC files override older aliases included before them.
    by_code: HashMap<(u32, u32), usize>,
    /// Lowercase vendor name → id.
    vendor_by_name: HashMap<String, u32>,
    /// Vendor id → definition.
    vendors: HashMap<u32, VendorDef>,
    /// (vendor, code) → named VALUEs.
    values: HashMap<(u32, u32), ValueTable>,
    /// (vendor, code) of attributes flagged `secret`: never rendered.
    secret: HashSet<(u32, u32)>,
}

impl Dictionary {
    /// Load a dictionary file and everything it `$INCLUDE`s (paths relative to the including
    /// file, cycle-guarded).
    pub fn load(path: &Path) -> Result<Self, DictError> {
        parser::load(&mut parser::DiskFiles, &path.to_string_lossy())
    }

    /// Our own dictionaries from `dictionaries/`, embedded in the binary.
    ///
    /// # Panics
    /// Only if the embedded files do not parse, which the unit tests rule out.
    pub fn builtin() -> Self {
        match parser::load(&mut embedded::EmbeddedFiles, embedded::ROOT) {
            Ok(dict) => dict,
            Err(e) => panic!("embedded dictionaries are invalid: {e}"),
        }
    }

    /// Parse one file's text; `$INCLUDE` lines are an error here (no file system).
    pub fn parse_str(name: &str, text: &str) -> Result<Self, DictError> {
        parser::parse_one(name, text)
    }

    /// Attribute by name, case-insensitive.
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        let index = with_lowercase(name, |key| self.by_name.get(key).copied())?;
        self.attrs.get(index)
    }

    /// Attribute by (vendor, code); vendor 0 for standard attributes.
    pub fn attr_by_code(&self, vendor: u32, code: u32) -> Option<&AttrDef> {
        let index = *self.by_code.get(&(vendor, code))?;
        self.attrs.get(index)
    }

    /// Vendor id by name, case-insensitive.
    pub fn vendor_id(&self, name: &str) -> Option<u32> {
        with_lowercase(name, |key| self.vendor_by_name.get(key).copied())
    }

    /// Vendor definition by id.
    pub fn vendor(&self, id: u32) -> Option<&VendorDef> {
        self.vendors.get(&id)
    }

    /// Number of registered attribute definitions.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// True when no attribute is defined.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Whether the attribute carries the `secret` flag (its value is never rendered).
    pub fn is_secret(&self, def: &AttrDef) -> bool {
        self.secret.contains(&(def.vendor, def.code))
    }

    /// Name of a numeric VALUE of an attribute.
    pub fn value_name(&self, def: &AttrDef, number: u64) -> Option<&str> {
        let table = self.values.get(&(def.vendor, def.code))?;
        table.by_number.get(&number).map(String::as_str)
    }

    /// Number of a named VALUE of an attribute, case-insensitive.
    pub fn value_number(&self, def: &AttrDef, name: &str) -> Option<u64> {
        let table = self.values.get(&(def.vendor, def.code))?;
        with_lowercase(name, |key| table.by_name.get(key).copied())
    }

    /// Encode a text value (as stored in SQL rows: `2M/5M`, `3600`, `Login-User`,
    /// `10.0.0.1`) into wire value bytes for `def`'s type. A tag, if any, is the caller's.
    /// Surrounding quotes (`"..."`, `'...'`) are stripped.
    pub fn encode_value(&self, def: &AttrDef, text: &str) -> Result<Vec<u8>, ValueError> {
        value::encode(self, def, &value::unquote(text))
    }

    /// Decode wire value bytes into text that [`Dictionary::encode_value`] accepts back
    /// (strings quoted, named VALUEs by name, addresses in their usual notation).
    pub fn decode_value(&self, def: &AttrDef, value: &[u8]) -> Result<String, ValueError> {
        value::decode(self, def, value)
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
        wire::encode_attribute(self, name, text, out)
    }

    /// Render a wire value readably (`Mikrotik-Rate-Limit = "2M/5M"`, named VALUEs, IPs).
    pub fn render(&self, vendor: u32, code: u32, value: &[u8]) -> String {
        wire::render(self, vendor, code, value)
    }
}

/// Run `f` on the ASCII-lowercased `name` without allocating for the usual short names.
fn with_lowercase<T>(name: &str, f: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let mut buf = [0u8; 64];
    if name.is_ascii() && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(name);
    }
    match buf.get_mut(..name.len()) {
        Some(slot) if name.is_ascii() => {
            slot.copy_from_slice(name.as_bytes());
            slot.make_ascii_lowercase();
            // ASCII in, ASCII out: always valid UTF-8.
            std::str::from_utf8(slot).ok().and_then(f)
        }
        _ => f(&name.to_lowercase()),
    }
}

#[cfg(test)]
mod tests;
