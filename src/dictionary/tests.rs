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

// ---- values -----------------------------------------------------------------------------

const TYPES: &str = "\
VENDOR V 9\n\
ATTRIBUTE T-Integer 101 integer\nATTRIBUTE T-Byte 102 byte\nATTRIBUTE T-Short 103 short\n\
ATTRIBUTE T-Signed 104 signed\nATTRIBUTE T-Integer64 105 integer64\nATTRIBUTE T-String 106 string\n\
ATTRIBUTE T-Octets 107 octets\nATTRIBUTE T-Ipaddr 108 ipaddr\nATTRIBUTE T-Ipv6addr 109 ipv6addr\n\
ATTRIBUTE T-Ipv6prefix 110 ipv6prefix\nATTRIBUTE T-Ipv4prefix 111 ipv4prefix\nATTRIBUTE T-Ifid 112 ifid\n\
ATTRIBUTE T-Ether 113 ether\nATTRIBUTE T-Date 114 date\nATTRIBUTE T-Tlv 115 tlv\n\
ATTRIBUTE T-Combo 116 combo-ip\nATTRIBUTE T-Abinary 117 abinary\n\
VALUE T-Integer Named 7\nVALUE T-Signed Minus-One -1\n\
ATTRIBUTE Tunnel-Type 64 integer has_tag\nATTRIBUTE Tunnel-Private-Group-Id 81 string has_tag\n\
ATTRIBUTE Tunnel-Password 69 string has_tag,encrypt=2\nVALUE Tunnel-Type VLAN 13\n\
ATTRIBUTE EAP-Message 79 octets concat\nATTRIBUTE Class 25 octets\n\
ATTRIBUTE Cleartext-Password 3000 string secret\nATTRIBUTE Expiration 3001 date\n\
BEGIN-VENDOR V\nATTRIBUTE V-Text 1 string\nATTRIBUTE V-Long 2 octets concat\nEND-VENDOR V\n";

fn types() -> Dictionary {
    parse(TYPES)
}

/// (attribute, text in, wire bytes, text rendered back).
const CASES: &[(&str, &str, &[u8], &str)] = &[
    ("T-Integer", "3600", &[0, 0, 0x0e, 0x10], "3600"),
    ("T-Integer", "0x10", &[0, 0, 0, 0x10], "16"),
    ("T-Integer", "named", &[0, 0, 0, 7], "Named"),
    (
        "T-Integer",
        "\"4294967295\"",
        &[255, 255, 255, 255],
        "4294967295",
    ),
    ("T-Byte", "255", &[255], "255"),
    ("T-Short", "65535", &[255, 255], "65535"),
    ("T-Signed", "-2", &[255, 255, 255, 254], "-2"),
    ("T-Signed", "Minus-One", &[255, 255, 255, 255], "Minus-One"),
    (
        "T-Integer64",
        "5000000000",
        &[0, 0, 0, 1, 0x2a, 0x05, 0xf2, 0],
        "5000000000",
    ),
    ("T-String", "2M/5M", b"2M/5M", "\"2M/5M\""),
    (
        "T-String",
        "\"say \\\"hi\\\"\\n\"",
        b"say \"hi\"\n",
        "\"say \\\"hi\\\"\\n\"",
    ),
    ("T-String", "'it''s'", b"it''s", "\"it''s\""),
    ("T-String", "\"\\001\\377\"", &[1, 0xff], "\"\\001\\377\""),
    ("T-Octets", "0x00ff10", &[0, 0xff, 0x10], "0x00ff10"),
    ("T-Octets", "abc", b"abc", "0x616263"),
    ("T-Ipaddr", "10.0.0.1", &[10, 0, 0, 1], "10.0.0.1"),
    (
        "T-Ipaddr",
        "192.168.1.2/32",
        &[192, 168, 1, 2],
        "192.168.1.2",
    ),
    (
        "T-Ipv6addr",
        "2001:db8::1",
        &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        "2001:db8::1",
    ),
    (
        "T-Ipv6prefix",
        "2001:db8::/32",
        &[0, 32, 0x20, 1, 0xd, 0xb8],
        "2001:db8::/32",
    ),
    ("T-Ipv6prefix", "::/0", &[0, 0], "::/0"),
    (
        "T-Ipv4prefix",
        "10.1.0.0/16",
        &[0, 16, 10, 1, 0, 0],
        "10.1.0.0/16",
    ),
    (
        "T-Ifid",
        "0011:2233:4455:6677",
        &[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77],
        "0011:2233:4455:6677",
    ),
    (
        "T-Ether",
        "AA-BB-CC-00-11-22",
        &[0xaa, 0xbb, 0xcc, 0, 0x11, 0x22],
        "aa:bb:cc:00:11:22",
    ),
    (
        "T-Ether",
        "aabb.cc00.1122",
        &[0xaa, 0xbb, 0xcc, 0, 0x11, 0x22],
        "aa:bb:cc:00:11:22",
    ),
    (
        "T-Date",
        "1767225600",
        &[0x69, 0x55, 0xb9, 0x00],
        "\"Jan 1 2026 00:00:00 UTC\"",
    ),
    (
        "T-Date",
        "\"Jan 01 2026\"",
        &[0x69, 0x55, 0xb9, 0x00],
        "\"Jan 1 2026 00:00:00 UTC\"",
    ),
    (
        "T-Date",
        "2026-01-01T00:00:10Z",
        &[0x69, 0x55, 0xb9, 0x0a],
        "\"Jan 1 2026 00:00:10 UTC\"",
    ),
    (
        "T-Tlv",
        "0x0103616263",
        &[1, 3, b'a', b'b', b'c'],
        "0x0103616263",
    ),
    ("T-Combo", "10.0.0.9", &[10, 0, 0, 9], "10.0.0.9"),
    (
        "T-Combo",
        "::1",
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        "::1",
    ),
    ("T-Abinary", "0x01", &[1], "0x01"),
];

#[test]
fn every_type_encodes_and_renders_back() {
    let dict = types();
    for (name, text, wire, shown) in CASES {
        let d = def(&dict, name);
        let value = dict.encode_value(d, text);
        assert_eq!(value.as_deref(), Ok(*wire), "{name} = {text}");
        let rendered = dict.render(0, d.code, wire);
        assert_eq!(rendered, format!("{name} = {shown}"));
        // What render prints encodes to the same bytes again.
        assert_eq!(
            dict.encode_value(d, shown).as_deref(),
            Ok(*wire),
            "{name} round trip of {shown}"
        );
        let mut attr = Vec::new();
        assert_eq!(
            dict.encode_attribute(name, text, &mut attr),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            (attr.first(), attr.get(1).map(|l| usize::from(*l))),
            (Some(&(d.code as u8)), Some(wire.len() + 2))
        );
    }
}

#[test]
fn invalid_values_are_refused_with_the_attribute_named() {
    let dict = types();
    for (name, text) in [
        ("T-Integer", "4294967296"),
        ("T-Integer", "12abc"),
        ("T-Byte", "256"),
        ("T-Short", "70000"),
        ("T-Signed", "3000000000"),
        ("T-Ipaddr", "10.0.0.256"),
        ("T-Ipaddr", "10.0.0.0/8"),
        ("T-Ipv6addr", "10.0.0.1"),
        ("T-Ipv6prefix", "2001:db8::1/32"),
        ("T-Ipv6prefix", "2001:db8::/129"),
        ("T-Ipv4prefix", "10.0.0.1/8"),
        ("T-Ifid", "0011:2233"),
        ("T-Ether", "aa:bb:cc:dd:ee"),
        ("T-Date", "Feb 30 2026"),
        ("T-Date", "someday"),
        ("T-Combo", "host.example"),
    ] {
        match dict.encode_value(def(&dict, name), text) {
            Err(ValueError::Invalid { attribute, .. }) => assert_eq!(attribute, name),
            other => panic!("{name} = {text}: {other:?}"),
        }
    }
}

#[test]
fn dates_accept_common_freeradius_spellings() {
    let jan31 = 1_769_860_800; // 2026-01-31 12:00:00 UTC
    for text in [
        "1769860800",
        "Jan 31 2026 12:00:00",
        "31 Jan 2026 12:00",
        "January 31, 2026 12:00:00",
        "Sat Jan 31 2026 12:00:00 UTC",
        "2026-01-31 12:00:00",
        "2026-01-31T12:00:00Z",
    ] {
        assert_eq!(parse_date(text), Some(jan31), "{text}");
    }
    assert_eq!(parse_date("Jan 31 2026"), Some(jan31 - 12 * 3600));
    assert_eq!(parse_date(&format_date(jan31)), Some(jan31));
    assert_eq!(parse_date("1969-12-31"), None);
}

#[test]
fn tags_follow_rfc_2868() {
    let dict = types();
    assert_eq!(
        encode(&dict, "Tunnel-Type:1", "VLAN"),
        Ok(vec![64, 6, 1, 0, 0, 13])
    );
    assert_eq!(
        encode(&dict, "Tunnel-Type", "VLAN"),
        Ok(vec![64, 6, 0, 0, 0, 13])
    );
    assert_eq!(
        encode(&dict, "Tunnel-Private-Group-Id:1", "\"100\""),
        Ok(vec![81, 6, 1, b'1', b'0', b'0'])
    );
    assert_eq!(
        encode(&dict, "Tunnel-Private-Group-Id", "\":2:100\""),
        Ok(vec![81, 6, 2, b'1', b'0', b'0'])
    );
    assert_eq!(
        encode(&dict, "Tunnel-Private-Group-Id", "100"),
        Ok(vec![81, 5, b'1', b'0', b'0'])
    );
    // A first octet that would read as a tag gets an explicit zero tag.
    assert_eq!(
        encode(&dict, "Tunnel-Private-Group-Id", "\"\\001\""),
        Ok(vec![81, 4, 0, 1])
    );
    assert_eq!(dict.render(0, 64, &[1, 0, 0, 13]), "Tunnel-Type:1 = VLAN");
    assert_eq!(
        dict.render(0, 81, &[3, b'4', b'2']),
        "Tunnel-Private-Group-Id:3 = \"42\""
    );
    assert_eq!(
        dict.render(0, 81, b"42"),
        "Tunnel-Private-Group-Id = \"42\""
    );
    assert!(matches!(
        encode(&dict, "Tunnel-Type:32", "VLAN"),
        Err(ValueError::Invalid { .. })
    ));
    assert!(matches!(
        encode(&dict, "Tunnel-Type:1", "16777216"),
        Err(ValueError::Invalid { .. })
    ));
    assert!(matches!(
        encode(&dict, "T-Integer:1", "1"),
        Err(ValueError::Invalid { .. })
    ));
}

#[test]
fn encrypted_internal_and_unknown_attributes_are_not_pre_encoded() {
    let dict = types();
    assert_eq!(
        encode(&dict, "Tunnel-Password:1", "pw"),
        Err(ValueError::Encrypted("Tunnel-Password".into()))
    );
    assert!(matches!(
        encode(&dict, "Expiration", "1"),
        Err(ValueError::Invalid { .. })
    ));
    assert_eq!(
        encode(&dict, "No-Such", "1"),
        Err(ValueError::UnknownAttribute("No-Such".into()))
    );
    // Internal attributes still convert values (the policy reads them that way).
    assert_eq!(
        dict.encode_value(def(&dict, "Expiration"), "0x10"),
        Ok(vec![0, 0, 0, 16])
    );
}

#[test]
fn long_values_split_only_when_concat() {
    let dict = types();
    let long = format!("0x{}", "ab".repeat(600));
    let out = encode(&dict, "EAP-Message", &long).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.len(), 600 + 3 * 2);
    assert_eq!(
        (out[0], out[1], out[255], out[256], out[510], out[511]),
        (79, 255, 79, 255, 79, 96)
    );
    assert!(matches!(
        encode(&dict, "Class", &long),
        Err(ValueError::Invalid { .. })
    ));
    assert!(encode(&dict, "Class", &format!("0x{}", "00".repeat(253))).is_ok());
    // Vendor attributes lose six octets to the Vendor-Specific header.
    assert!(encode(&dict, "V-Text", &"x".repeat(247)).is_ok());
    assert!(matches!(
        encode(&dict, "V-Text", &"x".repeat(248)),
        Err(ValueError::Invalid { .. })
    ));
    let vsa = encode(&dict, "V-Long", &"y".repeat(300)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((vsa.len(), vsa[1], vsa[255 + 1]), (300 + 2 * 8, 255, 61));
}

#[test]
fn render_hides_secrets_and_names_unknown_attributes() {
    let dict = types();
    assert_eq!(
        dict.render(0, 3000, b"hunter2"),
        "Cleartext-Password = <hidden>"
    );
    assert_eq!(
        dict.render(0, 69, b"\x01secret"),
        "Tunnel-Password = <hidden>"
    );
    assert_eq!(dict.render(0, 200, &[1, 2]), "Attr-200 = 0x0102");
    assert_eq!(dict.render(9, 77, &[]), "Attr-26.9.77 = 0x");
    // A malformed value falls back to hex instead of failing.
    assert_eq!(dict.render(0, 108, &[1, 2, 3]), "T-Ipaddr = 0x010203");
    assert_eq!(dict.render(9, 1, b"hi"), "V-Text = \"hi\"");
}

#[test]
fn builtin_encodes_sql_reply_rows() {
    let dict = Dictionary::builtin();
    let rows: &[(&str, &str, &[u8])] = &[
        ("Session-Timeout", "3600", &[27, 6, 0, 0, 0x0e, 0x10]),
        ("Service-Type", "Login-User", &[6, 6, 0, 0, 0, 1]),
        ("Framed-IP-Address", "10.5.0.7", &[8, 6, 10, 5, 0, 7]),
        ("Acct-Interim-Interval", "\"300\"", &[85, 6, 0, 0, 1, 0x2c]),
        (
            "Mikrotik-Group",
            "gold",
            &[26, 12, 0, 0, 0x3a, 0x8c, 3, 6, b'g', b'o', b'l', b'd'],
        ),
        (
            "Mikrotik-Total-Limit-Gigawords",
            "1",
            &[26, 12, 0, 0, 0x3a, 0x8c, 18, 6, 0, 0, 0, 1],
        ),
        (
            "WISPr-Bandwidth-Max-Down",
            "5000000",
            &[26, 12, 0, 0, 0x37, 0x2a, 8, 6, 0, 0x4c, 0x4b, 0x40],
        ),
    ];
    for (name, text, wire) in rows {
        assert_eq!(encode(&dict, name, text).as_deref(), Ok(*wire), "{name}");
    }
    for key in [
        "MS-MPPE-Send-Key",
        "MS-MPPE-Recv-Key",
        "User-Password",
        "Tunnel-Password",
    ] {
        assert!(
            matches!(encode(&dict, key, "x"), Err(ValueError::Encrypted(_))),
            "{key}"
        );
    }
    let auth_type = def(&dict, "Auth-Type");
    assert!(
        dict.value_number(auth_type, "Accept").is_some()
            && dict.value_number(auth_type, "Reject").is_some()
    );
    let fall = def(&dict, "Fall-Through");
    assert_eq!(
        (
            dict.value_number(fall, "No"),
            dict.value_number(fall, "Yes")
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        dict.render(14988, 8, b"2M/5M"),
        "Mikrotik-Rate-Limit = \"2M/5M\""
    );
    assert_eq!(
        dict.render(0, 40, &[0, 0, 0, 3]),
        "Acct-Status-Type = Interim-Update"
    );
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
