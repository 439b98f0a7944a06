//! Value conversions: every type, tags, encryption, length limits, rendering.

use super::*;

// ---- values -----------------------------------------------------------------------------

pub(super) const TYPES: &str = "\
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

pub(super) fn types() -> Dictionary {
    parse(TYPES)
}

/// (attribute, text in, wire bytes, text rendered back).
pub(super) const CASES: &[(&str, &str, &[u8], &str)] = &[
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
