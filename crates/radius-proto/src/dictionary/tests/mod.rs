//! Unit tests: every directive and flag, includes, errors with file:line, and value
//! conversions for every type (round trip encode → render), plus a bounded mutation loop
//! showing malformed input never panics.

use std::path::{Path, PathBuf};

use super::*;

fn parse(text: &str) -> Dictionary {
    match Dictionary::parse_str("test.dict", text) {
        Ok(dict) => dict,
        Err(e) => panic!("{e}"),
    }
}

fn parse_err(text: &str) -> String {
    match Dictionary::parse_str("test.dict", text) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

fn def<'d>(dict: &'d Dictionary, name: &str) -> &'d AttrDef {
    dict.attr(name)
        .unwrap_or_else(|| panic!("{name} not defined"))
}

fn encode(dict: &Dictionary, name: &str, text: &str) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    dict.encode_attribute(name, text, &mut out).map(|()| out)
}

mod values;

use values::{CASES, TYPES, types};

// ---- directives -------------------------------------------------------------------------

#[test]
fn attribute_and_value_directives() {
    let dict = parse(
        "# comment\n\nATTRIBUTE Service-Type 6 integer # trailing comment\n\
         VALUE Service-Type Login-User 1\nVALUE Service-Type Framed-User 0x02\n",
    );
    let st = def(&dict, "service-type");
    assert_eq!((st.vendor, st.code, st.typ), (0, 6, AttrType::Integer));
    assert_eq!(
        dict.attr_by_code(0, 6).map(|d| d.name.as_str()),
        Some("Service-Type")
    );
    assert_eq!(dict.value_number(st, "FRAMED-USER"), Some(2));
    assert_eq!(dict.value_name(st, 1), Some("Login-User"));
    assert_eq!(dict.value_name(st, 9), None);
    assert!(dict.attr("Nope").is_none());
}

#[test]
fn value_may_come_before_its_attribute() {
    let dict = parse("VALUE Acct-Status-Type Start 1\nATTRIBUTE Acct-Status-Type 40 integer\n");
    let ast = def(&dict, "Acct-Status-Type");
    assert_eq!(dict.value_number(ast, "start"), Some(1));
}

#[test]
fn vendor_blocks_and_formats() {
    let dict = parse(
        "VENDOR Acme 9999\nVENDOR Wide 4846 format=2,1\nVENDOR Usr 429 format=4,0\n\
         VENDOR Wmx 24757 format=1,1,c\n\
         BEGIN-VENDOR Acme\nATTRIBUTE Acme-Thing 3 string\nEND-VENDOR Acme\n\
         BEGIN-VENDOR Wide\nATTRIBUTE Wide-Thing 300 integer\nEND-VENDOR Wide\n\
         ATTRIBUTE Usr-Thing 0x9001 integer Usr\n\
         BEGIN-VENDOR Wmx\nATTRIBUTE Wmx-Thing 5 string concat\nEND-VENDOR Wmx\n",
    );
    assert_eq!(dict.vendor_id("acme"), Some(9999));
    let acme = def(&dict, "Acme-Thing");
    assert_eq!((acme.vendor, acme.code), (9999, 3));
    assert_eq!(def(&dict, "Usr-Thing").vendor, 429);
    let wide = dict.vendor(4846).map(|v| v.format);
    assert_eq!(
        wide,
        Some(VendorFormat {
            type_len: 2,
            len_len: 1,
            continuation: false
        })
    );

    assert_eq!(
        encode(&dict, "Acme-Thing", "x"),
        Ok(vec![26, 9, 0, 0, 0x27, 0x0f, 3, 3, b'x'])
    );
    let wide_bytes = vec![26, 13, 0, 0, 0x12, 0xee, 1, 0x2c, 7, 0, 0, 0, 5];
    assert_eq!(encode(&dict, "Wide-Thing", "5"), Ok(wide_bytes));
    let usr = vec![26, 14, 0, 0, 1, 0xad, 0, 0, 0x90, 0x01, 0, 0, 0, 1];
    assert_eq!(encode(&dict, "Usr-Thing", "1"), Ok(usr));
    assert_eq!(
        encode(&dict, "Wmx-Thing", "ab"),
        Ok(vec![26, 11, 0, 0, 0x60, 0xb5, 5, 5, 0, b'a', b'b'])
    );
    assert_eq!(dict.render(4846, 300, &[0, 0, 0, 5]), "Wide-Thing = 5");
}

#[test]
fn vendor_attribute_numbers_must_fit_the_format() {
    let e = parse_err("VENDOR A 1\nBEGIN-VENDOR A\nATTRIBUTE A-X 256 string\nEND-VENDOR A\n");
    assert!(e.starts_with("test.dict:3:"), "{e}");
}

#[test]
fn flags_in_v3_and_v4_spellings() {
    let dict = parse(
        "ATTRIBUTE A 1 string encrypt=1\nATTRIBUTE B 2 octets has_tag,encrypt=2\n\
         ATTRIBUTE C 3 string encrypt=3\nATTRIBUTE D 4 octets concat\n\
         ATTRIBUTE E 5 uint32 encrypt=User-Password\nATTRIBUTE F 6 string encrypt=Tunnel-Password\n\
         ATTRIBUTE G 7 ipv4addr array\nATTRIBUTE H 3005 string secret\n\
         ATTRIBUTE I 8 octets[16] virtual\nATTRIBUTE J 9 uint8\nATTRIBUTE K 10 uint16\n\
         ATTRIBUTE L 11 uint64\nATTRIBUTE M 12 int32\nATTRIBUTE N 13 combo-ipaddr\n\
         ATTRIBUTE O 14 ethernet\nATTRIBUTE P 15 abinary\nATTRIBUTE Q 16 String\n",
    );
    assert_eq!(def(&dict, "A").encrypt, Encrypt::UserPassword);
    let b = def(&dict, "B");
    assert!(b.has_tag && b.encrypt == Encrypt::TunnelPassword);
    assert_eq!(def(&dict, "C").encrypt, Encrypt::Ascend);
    assert!(def(&dict, "D").concat);
    assert_eq!(
        (def(&dict, "E").typ, def(&dict, "E").encrypt),
        (AttrType::Integer, Encrypt::UserPassword)
    );
    assert_eq!(def(&dict, "F").encrypt, Encrypt::TunnelPassword);
    assert_eq!(def(&dict, "G").typ, AttrType::IpAddr);
    assert!(dict.is_secret(def(&dict, "H")) && def(&dict, "H").is_internal());
    let types: Vec<AttrType> = ["I", "J", "K", "L", "M", "N", "O", "P", "Q"]
        .iter()
        .map(|n| def(&dict, n).typ)
        .collect();
    assert_eq!(
        types,
        [
            AttrType::Octets,
            AttrType::Byte,
            AttrType::Short,
            AttrType::Integer64,
            AttrType::Signed,
            AttrType::ComboIp,
            AttrType::Ether,
            AttrType::Octets,
            AttrType::String
        ]
    );
    assert!(parse_err("ATTRIBUTE A 1 string bogus=1\n").contains("unknown flag"));
    assert!(parse_err("ATTRIBUTE A 1 string encrypt=9\n").contains("encrypt"));
}

#[test]
fn deliberately_skipped_syntax_loads() {
    let dict = parse(
        "BEGIN-PROTOCOL RADIUS\nPROTOCOL RADIUS 1\nFLAGS internal\nALIAS Foo Bar\n\
         ATTRIBUTE Extended-Attribute-1 241 extended\nATTRIBUTE Frag-Status 241.1 integer\n\
         VALUE Frag-Status Reserved 0\n\
         VENDOR V 7\nATTRIBUTE V-Container 1 tlv V\nBEGIN-TLV V-Container\n\
         ATTRIBUTE V-Child 1 string\nEND-TLV V-Container\n\
         BEGIN-VENDOR V format=Extended-Vendor-Specific-5\nATTRIBUTE V-Evs 1 integer\n\
         END-VENDOR V\nEND-PROTOCOL RADIUS\n",
    );
    assert_eq!(def(&dict, "Extended-Attribute-1").typ, AttrType::Tlv);
    assert_eq!(def(&dict, "V-Container").typ, AttrType::Tlv);
    for skipped in ["Frag-Status", "V-Child", "V-Evs"] {
        assert!(dict.attr(skipped).is_none(), "{skipped}");
    }
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        (
            "ATTRIBUTE A 1 integer\nBOGUS x\n",
            "test.dict:2: unknown directive",
        ),
        ("ATTRIBUTE A 1\n", "test.dict:1: ATTRIBUTE needs"),
        (
            "\n\nATTRIBUTE A x integer\n",
            "test.dict:3: invalid attribute number",
        ),
        (
            "ATTRIBUTE A 1 nosuchtype\n",
            "test.dict:1: unknown attribute type",
        ),
        (
            "VALUE Nope X 1\n",
            "test.dict:1: VALUE for unknown attribute",
        ),
        (
            "ATTRIBUTE A 1 integer\nVALUE A X y\n",
            "test.dict:2: invalid VALUE number",
        ),
        (
            "ATTRIBUTE A 1 integer\nATTRIBUTE A 2 integer\n",
            "test.dict:2: attribute A already",
        ),
        ("BEGIN-VENDOR Nope\n", "test.dict:1: unknown vendor"),
        (
            "VENDOR V 1\nBEGIN-VENDOR V\n",
            "test.dict:2: BEGIN-VENDOR V without END-VENDOR",
        ),
        (
            "VENDOR V 1\nBEGIN-VENDOR V\nEND-VENDOR W\n",
            "test.dict:3: END-VENDOR does not match",
        ),
        (
            "VENDOR V 1 format=3,1\n",
            "test.dict:1: invalid vendor format",
        ),
        ("VENDOR V 1\nVENDOR V 2\n", "test.dict:2: vendor V already"),
        ("$INCLUDE other\n", "test.dict:1: $INCLUDE is not available"),
        ("END-TLV X\n", "test.dict:1: END-TLV does not match"),
    ];
    for (text, want) in cases {
        let e = parse_err(text);
        assert!(e.starts_with(want), "{text:?}: got {e:?}, want {want:?}");
    }
}

#[test]
fn redefinition_with_the_same_number_is_allowed() {
    let dict = parse(
        "ATTRIBUTE Old-Name 5 integer\nATTRIBUTE A 5 integer\nATTRIBUTE A 5 integer has_tag\n",
    );
    assert!(def(&dict, "A").has_tag);
    // The last name for a number is the one rendered.
    assert_eq!(dict.attr_by_code(0, 5).map(|d| d.name.as_str()), Some("A"));
    assert!(dict.attr("Old-Name").is_some());
}

// ---- includes ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("hotspot-radius-dict-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap_or_else(|e| panic!("{e}"));
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let dir = TempDir::new("relative");
    let root = dir.write(
        "dictionary",
        "$INCLUDE sub/dictionary.a\n$INCLUDE- dictionary.missing\n",
    );
    dir.write(
        "sub/dictionary.a",
        "ATTRIBUTE A 1 integer\n$INCLUDE dictionary.b\n$INCLUDE dictionary.b\n",
    );
    dir.write("sub/dictionary.b", "VALUE A Yes 1\n");
    let dict = Dictionary::load(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dict.value_number(def(&dict, "A"), "Yes"), Some(1));
}

#[test]
fn include_cycles_and_missing_files_are_errors_with_location() {
    let dir = TempDir::new("cycle");
    let root = dir.write(
        "dictionary",
        "ATTRIBUTE A 1 integer\n$INCLUDE dictionary.x\n",
    );
    dir.write("dictionary.x", "\n$INCLUDE dictionary\n");
    let e = Dictionary::load(&root).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("dictionary.x:2: $INCLUDE cycle"), "{e}");

    let root = dir.write("dictionary.y", "$INCLUDE nope\n");
    let e = Dictionary::load(&root).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("dictionary.y:1: cannot include nope"), "{e}");

    let e = Dictionary::load(&dir.0.join("absent"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent"), "{e}");
}

#[test]
fn builtin_embeds_every_file_of_the_folder() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let mut on_disk: Vec<String> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    on_disk.sort();
    let mut embedded: Vec<&str> = embedded::FILES.iter().map(|(name, _)| *name).collect();
    embedded.sort_unstable();
    assert_eq!(on_disk, embedded);
    let dict = Dictionary::builtin();
    assert!(dict.len() > 150);
    assert_eq!(dict.vendor_id("Mikrotik"), Some(14988));
}

// ---- robustness -------------------------------------------------------------------------

/// xorshift64: deterministic, dependency-free randomness for the mutation loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn malformed_input_never_panics() {
    let seeds: Vec<&[u8]> = vec![
        TYPES.as_bytes(),
        embedded::FILES
            .iter()
            .find(|(n, _)| *n == "dictionary.microsoft")
            .map_or(&b""[..], |(_, t)| t.as_bytes()),
    ];
    let alphabet = b" \t\n#.,=:-0123456789xABCDEFGHIJKLMNOPQRSTUVWXYZ$[]\"\\\xff";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let dict = types();
    let names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    for round in 0..1500 {
        let mut text = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(text.len());
            match rng.below(3) {
                0 => text.truncate(at),
                1 => text.insert(at, alphabet[rng.below(alphabet.len())]),
                _ => {
                    if let Some(b) = text.get_mut(at) {
                        *b = alphabet[rng.below(alphabet.len())];
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&text);
        let _ = Dictionary::parse_str("fuzz", &text);
        // Values: arbitrary text into every type, arbitrary bytes out of every type.
        let line = text.lines().nth(rng.below(20)).unwrap_or("");
        let name = names[rng.below(names.len())];
        let mut out = Vec::new();
        let _ = dict.encode_attribute(name, line, &mut out);
        let _ = dict.encode_attribute(&format!("{name}:{}", rng.below(40)), line, &mut out);
        let bytes = &line.as_bytes()[..line.len().min(rng.below(40))];
        for code in [64, 81, 101, 106, 108, 110, 111, 112, 113, 114, 116] {
            let _ = dict.render(0, code, bytes);
        }
    }
}
