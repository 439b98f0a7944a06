//! The dictionary file parser: FreeRADIUS v3 syntax, with the v4 spellings accepted.
//!
//! Pure text in, [`Dictionary`] out. Where the text comes from (disk, the embedded set, or a
//! single string for the fuzzer) is behind [`Files`], so `$INCLUDE` resolution and its cycle
//! guard are tested without touching the file system.
//!
//! Handled: `ATTRIBUTE`, `VALUE`, `VENDOR` (`format=t,l[,c]`), `BEGIN-VENDOR`/`END-VENDOR`,
//! `$INCLUDE` and `$INCLUDE-` (optional), `BEGIN-TLV`/`END-TLV` and v4 `BEGIN`/`END` (nesting
//! only). Deliberately skipped, each for the reason given where it is matched:
//! - attributes inside TLVs and OID-style numbers (`241.1`, `26.24757.1.2`): RFC 6929
//!   extended and nested TLV attributes have no single (vendor, code) and our codec does not
//!   build them; their names are remembered so VALUEs for them are dropped quietly;
//! - vendor blocks with `format=Extended-Vendor-Specific-N` (RFC 6929 EVS), same reason;
//! - v4-only directives `PROTOCOL`, `BEGIN-PROTOCOL`/`END-PROTOCOL`, `FLAGS`, `ALIAS`,
//!   `ENUM`, `STRUCT`, `MEMBER`, `DEFINE`: they describe other protocols, internal
//!   grouping or aliases by OID path, none of which changes RADIUS wire encoding here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{
    AttrDef, AttrType, DictError, Dictionary, Encrypt, ValueTable, VendorDef, VendorFormat,
};

/// Deepest `$INCLUDE` nesting accepted (a guard beside the cycle check).
const MAX_INCLUDE_DEPTH: usize = 32;

/// Where included files come from.
pub(super) trait Files {
    /// Resolve `target` as written in `$INCLUDE`, relative to the including file `from`.
    /// Returns the canonical name (used for the cycle guard and in errors) and the text,
    /// or `Ok(None)` when the file does not exist.
    fn open(&mut self, from: &str, target: &str) -> Result<Option<(String, String)>, DictError>;
}

/// Files on disk.
pub(super) struct DiskFiles;

impl Files for DiskFiles {
    fn open(&mut self, from: &str, target: &str) -> Result<Option<(String, String)>, DictError> {
        let path = resolve(Path::new(from), target);
        let name = path.to_string_lossy().into_owned();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let canonical = std::fs::canonicalize(&path)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or(name);
                Ok(Some((canonical, text)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DictError::Io { file: name, source }),
        }
    }
}

/// `target` relative to the directory of `from` (absolute targets stand alone).
pub(super) fn resolve(from: &Path, target: &str) -> PathBuf {
    let target = Path::new(target);
    if target.is_absolute() {
        return target.to_path_buf();
    }
    from.parent().unwrap_or(Path::new("")).join(target)
}

/// A "file set" with no files: `$INCLUDE` is an error.
struct NoFiles;

impl Files for NoFiles {
    fn open(&mut self, _: &str, _: &str) -> Result<Option<(String, String)>, DictError> {
        Ok(None)
    }
}

/// Load `root` and everything it includes.
pub(super) fn load(files: &mut dyn Files, root: &str) -> Result<Dictionary, DictError> {
    let (name, text) = files.open("", root)?.ok_or_else(|| DictError::Io {
        file: root.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
    })?;
    let mut builder = Builder::new(files, false);
    builder.file(&name, &text)?;
    builder.finish()
}

/// Parse a single text; includes are refused.
pub(super) fn parse_one(name: &str, text: &str) -> Result<Dictionary, DictError> {
    let mut files = NoFiles;
    let mut builder = Builder::new(&mut files, true);
    builder.file(name, text)?;
    builder.finish()
}

/// A VALUE line kept until every file is read (some files define VALUEs first).
struct PendingValue {
    attribute: String,
    name: String,
    number: u64,
    file: String,
    line: usize,
}

/// Per-file block state: vendor block and TLV nesting do not cross file boundaries.
#[derive(Default)]
struct Block {
    /// `BEGIN-VENDOR` in effect: vendor id, and whether its attributes are skipped (EVS).
    vendor: Option<(String, u32, bool)>,
    /// Open `BEGIN-TLV` / `BEGIN` names.
    tlv: Vec<String>,
}

/// Accumulates definitions over all files.
struct Builder<'f> {
    files: &'f mut dyn Files,
    no_includes: bool,
    dict: Dictionary,
    pending: Vec<PendingValue>,
    /// Lowercase names of attributes deliberately not registered.
    skipped: HashSet<String>,
    /// Files being read (include stack) and already read.
    stack: Vec<String>,
    done: HashSet<String>,
}

/// A parse error at `file:line`.
fn err(file: &str, line: usize, message: impl Into<String>) -> DictError {
    DictError::Parse {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

/// Lookup key for names: ASCII-lowercase (Unicode-lowercase for the odd non-ASCII name).
pub(super) fn key(name: &str) -> String {
    if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        name.to_lowercase()
    }
}

/// Decimal, `0x` hex or `0`-led octal, as FreeRADIUS accepts in dictionaries.
fn parse_number(text: &str) -> Option<u64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

/// Attribute type keyword (v3 and v4 spellings, case-insensitive) → type.
fn parse_type(text: &str) -> Option<AttrType> {
    let lower = key(text);
    // `octets[16]`: fixed length, which only matters for validation; kept as octets.
    let base = lower.split('[').next().unwrap_or("");
    Some(match base {
        "integer" | "uint32" => AttrType::Integer,
        "byte" | "uint8" | "bool" => AttrType::Byte,
        "short" | "uint16" => AttrType::Short,
        "signed" | "int32" => AttrType::Signed,
        "integer64" | "uint64" => AttrType::Integer64,
        "string" => AttrType::String,
        "octets" | "abinary" => AttrType::Octets,
        "ipaddr" | "ipv4addr" => AttrType::IpAddr,
        "ipv6addr" => AttrType::Ipv6Addr,
        "ipv6prefix" => AttrType::Ipv6Prefix,
        "ipv4prefix" => AttrType::Ipv4Prefix,
        "ifid" => AttrType::Ifid,
        "ether" | "ethernet" => AttrType::Ether,
        "date" => AttrType::Date,
        "tlv" | "extended" | "long-extended" | "evs" | "struct" => AttrType::Tlv,
        "combo-ip" | "combo-ipaddr" => AttrType::ComboIp,
        "vsa" => AttrType::Vsa,
        _ => return None,
    })
}

/// `format=t,l[,c]` of `VENDOR`.
fn parse_vendor_format(text: &str) -> Option<VendorFormat> {
    let mut parts = text.split(',');
    let type_len: u8 = parts.next()?.trim().parse().ok()?;
    let len_len: u8 = parts.next()?.trim().parse().ok()?;
    let continuation = match parts.next() {
        None => false,
        Some("c") if type_len == 1 && len_len == 1 => true,
        Some(_) => return None,
    };
    if parts.next().is_some() || !matches!(type_len, 1 | 2 | 4) || !matches!(len_len, 0..=2) {
        return None;
    }
    Some(VendorFormat {
        type_len,
        len_len,
        continuation,
    })
}

/// Flags parsed from an `ATTRIBUTE` line.
#[derive(Default)]
struct Flags {
    has_tag: bool,
    encrypt: Option<Encrypt>,
    concat: bool,
    secret: bool,
    vendor: Option<String>,
}

fn parse_flags(tokens: &[&str]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for flag in tokens
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|f| !f.is_empty())
    {
        let (word, arg) = match flag.split_once('=') {
            Some((w, a)) => (w, Some(a)),
            None => (flag, None),
        };
        match (key(word).as_str(), arg) {
            ("has_tag", None) => flags.has_tag = true,
            ("concat", None) => flags.concat = true,
            ("secret", None) => flags.secret = true,
            ("encrypt", Some(method)) => {
                flags.encrypt = Some(match key(method).as_str() {
                    "0" => Encrypt::None,
                    "1" | "user-password" => Encrypt::UserPassword,
                    "2" | "tunnel-password" => Encrypt::TunnelPassword,
                    "3" | "ascend-secret" | "ascend-send-secret" => Encrypt::Ascend,
                    _ => return Err(format!("unknown encrypt method {method:?}")),
                });
            }
            // `array`: several values packed in one attribute (DHCP-style); RADIUS values here
            // are single. `virtual`/`internal`: never on the wire, which numbers > 255 already
            // express. The rest are v4 hints with no effect on RADIUS encoding.
            ("array" | "virtual" | "internal" | "counter" | "key" | "print_hex", None) => {}
            ("length" | "offset" | "precision" | "subtype" | "clone" | "ref" | "enum", Some(_)) => {
            }
            (_, None) if !flag.contains([':', '.']) => {
                // v3.0-era form `ATTRIBUTE name number type Vendor-Name`.
                if flags.vendor.is_some() {
                    return Err(format!("unknown flag {flag:?}"));
                }
                flags.vendor = Some(flag.to_owned());
            }
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    Ok(flags)
}

impl<'f> Builder<'f> {
    fn new(files: &'f mut dyn Files, no_includes: bool) -> Self {
        Self {
            files,
            no_includes,
            dict: Dictionary::default(),
            pending: Vec::new(),
            skipped: HashSet::new(),
            stack: Vec::new(),
            done: HashSet::new(),
        }
    }

    /// Parse one file (recursing into its includes).
    fn file(&mut self, name: &str, text: &str) -> Result<(), DictError> {
        self.stack.push(name.to_owned());
        self.done.insert(name.to_owned());
        let mut block = Block::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("");
            let tokens: Vec<&str> = content.split_whitespace().collect();
            if tokens.is_empty() {
                continue;
            }
            self.line(name, line, &tokens, &mut block)?;
        }
        let last = text.lines().count().max(1);
        if let Some((vendor, _, _)) = block.vendor {
            return Err(err(
                name,
                last,
                format!("BEGIN-VENDOR {vendor} without END-VENDOR"),
            ));
        }
        if let Some(tlv) = block.tlv.last() {
            return Err(err(name, last, format!("BEGIN-TLV {tlv} without END-TLV")));
        }
        self.stack.pop();
        Ok(())
    }

    fn line(
        &mut self,
        file: &str,
        line: usize,
        tokens: &[&str],
        block: &mut Block,
    ) -> Result<(), DictError> {
        let directive = tokens.first().copied().unwrap_or("");
        let args = tokens.get(1..).unwrap_or(&[]);
        match directive.to_ascii_uppercase().as_str() {
            "$INCLUDE" => self.include(file, line, args, false),
            "$INCLUDE-" => self.include(file, line, args, true),
            "ATTRIBUTE" => self.attribute(file, line, args, block),
            "VALUE" => self.value(file, line, args),
            "VENDOR" => self.vendor(file, line, args),
            "BEGIN-VENDOR" => {
                let [vendor, rest @ ..] = args else {
                    return Err(err(file, line, "BEGIN-VENDOR needs a vendor name"));
                };
                let id = self
                    .dict
                    .vendor_id(vendor)
                    .ok_or_else(|| err(file, line, format!("unknown vendor {vendor}")))?;
                // `format=Extended-Vendor-Specific-N`: the block's attributes live in the
                // RFC 6929 extended space, which we do not build (see the module doc).
                let evs = rest
                    .iter()
                    .any(|f| key(f).starts_with("format=extended-vendor"));
                block.vendor = Some(((*vendor).to_owned(), id, evs));
                Ok(())
            }
            "END-VENDOR" => match (&block.vendor, args.first()) {
                (Some((open, _, _)), Some(name)) if key(open) == key(name) => {
                    block.vendor = None;
                    Ok(())
                }
                _ => Err(err(file, line, "END-VENDOR does not match BEGIN-VENDOR")),
            },
            "BEGIN-TLV" | "BEGIN" => {
                let name = args
                    .first()
                    .ok_or_else(|| err(file, line, format!("{directive} needs a name")))?;
                block.tlv.push((*name).to_owned());
                Ok(())
            }
            "END-TLV" | "END" => match (block.tlv.last(), args.first()) {
                (Some(open), Some(name)) if key(open) == key(name) => {
                    block.tlv.pop();
                    Ok(())
                }
                _ => Err(err(
                    file,
                    line,
                    format!("{directive} does not match its BEGIN"),
                )),
            },
            // v4-only directives; see the module doc for why skipping them is safe.
            "PROTOCOL" | "BEGIN-PROTOCOL" | "END-PROTOCOL" | "FLAGS" | "ALIAS" | "ENUM"
            | "STRUCT" | "MEMBER" | "DEFINE" => Ok(()),
            _ => Err(err(file, line, format!("unknown directive {directive:?}"))),
        }
    }

    fn include(
        &mut self,
        file: &str,
        line: usize,
        args: &[&str],
        optional: bool,
    ) -> Result<(), DictError> {
        let [target] = args else {
            return Err(err(file, line, "$INCLUDE needs exactly one file name"));
        };
        if self.no_includes {
            return Err(err(
                file,
                line,
                "$INCLUDE is not available when parsing a single text",
            ));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(err(file, line, "$INCLUDE nested too deeply"));
        }
        let Some((name, text)) = self.files.open(file, target)? else {
            if optional {
                return Ok(());
            }
            return Err(err(
                file,
                line,
                format!("cannot include {target}: file not found"),
            ));
        };
        if self.stack.contains(&name) {
            return Err(err(
                file,
                line,
                format!("$INCLUDE cycle: {name} is already being read"),
            ));
        }
        if self.done.contains(&name) {
            // Included twice without a cycle: the definitions are already in.
            return Ok(());
        }
        self.file(&name, &text)
    }

    fn vendor(&mut self, file: &str, line: usize, args: &[&str]) -> Result<(), DictError> {
        let (name, number, rest) = match args {
            [name, number, rest @ ..] => (*name, *number, rest),
            _ => return Err(err(file, line, "VENDOR needs a name and a number")),
        };
        let id = parse_number(number)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| err(file, line, format!("invalid vendor number {number:?}")))?;
        let mut format = VendorFormat::default();
        for option in rest {
            let Some(spec) = option.strip_prefix("format=") else {
                return Err(err(file, line, format!("unknown VENDOR option {option:?}")));
            };
            format = parse_vendor_format(spec)
                .ok_or_else(|| err(file, line, format!("invalid vendor format {spec:?}")))?;
        }
        let lower = key(name);
        if let Some(&old) = self.dict.vendor_by_name.get(&lower)
            && old != id
        {
            return Err(err(
                file,
                line,
                format!("vendor {name} already defined as {old}"),
            ));
        }
        self.dict.vendor_by_name.insert(lower, id);
        let def = self.dict.vendors.entry(id).or_insert_with(|| VendorDef {
            name: name.to_owned(),
            id,
            format,
        });
        def.format = format;
        Ok(())
    }

    fn attribute(
        &mut self,
        file: &str,
        line: usize,
        args: &[&str],
        block: &Block,
    ) -> Result<(), DictError> {
        let (name, number, typ, rest) = match args {
            [name, number, typ, rest @ ..] => (*name, *number, *typ, rest),
            _ => {
                return Err(err(
                    file,
                    line,
                    "ATTRIBUTE needs a name, a number and a type",
                ));
            }
        };
        let attr_type = parse_type(typ)
            .ok_or_else(|| err(file, line, format!("unknown attribute type {typ:?}")))?;
        let flags = parse_flags(rest).map_err(|m| err(file, line, m))?;
        let in_evs = matches!(block.vendor, Some((_, _, true)));
        if !block.tlv.is_empty() || number.contains('.') || in_evs {
            // Nested TLV / RFC 6929 extended attribute: skipped deliberately (module doc).
            if !number.split('.').all(|n| parse_number(n).is_some()) {
                return Err(err(
                    file,
                    line,
                    format!("invalid attribute number {number:?}"),
                ));
            }
            self.skipped.insert(key(name));
            return Ok(());
        }
        let code = parse_number(number)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| err(file, line, format!("invalid attribute number {number:?}")))?;
        let vendor = match (&flags.vendor, &block.vendor) {
            (Some(v), _) => self
                .dict
                .vendor_id(v)
                .ok_or_else(|| err(file, line, format!("unknown flag or vendor {v:?}")))?,
            (None, Some((_, id, _))) => *id,
            (None, None) => 0,
        };
        if vendor != 0 {
            let type_len = self
                .dict
                .vendors
                .get(&vendor)
                .map_or(1, |v| v.format.type_len);
            let max = if type_len >= 4 {
                u32::MAX
            } else {
                (1u32 << (8 * type_len)) - 1
            };
            if code > max {
                return Err(err(
                    file,
                    line,
                    format!("attribute number {code} too large"),
                ));
            }
        }
        let def = AttrDef {
            name: name.to_owned(),
            vendor,
            code,
            typ: attr_type,
            has_tag: flags.has_tag,
            encrypt: flags.encrypt.unwrap_or(Encrypt::None),
            concat: flags.concat,
        };
        if flags.secret {
            self.dict.secret.insert((vendor, code));
        }
        self.register(def).map_err(|m| err(file, line, m))
    }

    /// Add a definition. Redefining a name with the same number replaces it (later flags
    /// win); giving an existing name a different number is an error.
    fn register(&mut self, def: AttrDef) -> Result<(), String> {
        let lower = key(&def.name);
        let slot = (def.vendor, def.code);
        if let Some(&index) = self.dict.by_name.get(&lower) {
            if let Some(old) = self.dict.attrs.get_mut(index) {
                if (old.vendor, old.code) != slot {
                    return Err(format!(
                        "attribute {} already defined as vendor {} number {}",
                        def.name, old.vendor, old.code
                    ));
                }
                *old = def;
            }
            self.dict.by_code.insert(slot, index);
            return Ok(());
        }
        let index = self.dict.attrs.len();
        self.dict.attrs.push(def);
        self.dict.by_name.insert(lower, index);
        self.dict.by_code.insert(slot, index);
        Ok(())
    }

    fn value(&mut self, file: &str, line: usize, args: &[&str]) -> Result<(), DictError> {
        let [attribute, name, number] = args else {
            return Err(err(
                file,
                line,
                "VALUE needs an attribute, a name and a number",
            ));
        };
        let number = match number.strip_prefix('-') {
            // Negative VALUEs belong to `signed` attributes: stored as their 32-bit pattern.
            Some(abs) => parse_number(abs)
                .and_then(|n| i32::try_from(n).ok())
                .map(|n| u64::from(n.wrapping_neg() as u32)),
            None => parse_number(number),
        }
        .ok_or_else(|| err(file, line, format!("invalid VALUE number {number:?}")))?;
        self.pending.push(PendingValue {
            attribute: key(attribute),
            name: (*name).to_owned(),
            number,
            file: file.to_owned(),
            line,
        });
        Ok(())
    }

    /// Attach the VALUEs, now that every ATTRIBUTE is known.
    fn finish(mut self) -> Result<Dictionary, DictError> {
        for value in std::mem::take(&mut self.pending) {
            let slot = self.dict.attr(&value.attribute).map(|d| (d.vendor, d.code));
            let Some(slot) = slot else {
                if self.skipped.contains(&value.attribute) {
                    continue;
                }
                return Err(err(
                    &value.file,
                    value.line,
                    format!("VALUE for unknown attribute {}", value.attribute),
                ));
            };
            let table: &mut ValueTable = self.dict.values.entry(slot).or_default();
            table.by_name.insert(key(&value.name), value.number);
            table.by_number.entry(value.number).or_insert(value.name);
        }
        Ok(self.dict)
    }
}
