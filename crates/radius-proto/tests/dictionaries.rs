//! Dictionaries: our embedded set, the FreeRADIUS tree and `protocol::attrs` agree.
//!
//! The FreeRADIUS tree comes from Debian's `freeradius-common`; without it these tests
//! fail (they never skip).

use std::path::Path;

use radius_proto::dictionary::{AttrType, Dictionary};
use radius_proto::protocol::AcctStatus;

const FREERADIUS_TREE: &str = "/usr/share/freeradius/dictionary";

fn freeradius() -> Dictionary {
    let path = Path::new(FREERADIUS_TREE);
    assert!(
        path.exists(),
        "{FREERADIUS_TREE} is missing: install Debian package freeradius-common"
    );
    match Dictionary::load(path) {
        Ok(dict) => dict,
        Err(e) => panic!("the FreeRADIUS tree must load without error: {e}"),
    }
}

#[test]
fn the_whole_freeradius_tree_loads() {
    let dict = freeradius();
    assert!(dict.len() > 5000, "only {} attributes", dict.len());
    // Spot checks across the tree: a TLV parent, a 2,1-format vendor, an internal number.
    let wimax = dict
        .attr("WiMAX-Capability")
        .map(|d| (d.vendor, d.code, d.typ));
    assert_eq!(wimax, Some((24757, 1, AttrType::Tlv)));
    let lucent = dict
        .vendor(4846)
        .map(|v| (v.format.type_len, v.format.len_len));
    assert_eq!(lucent, Some((2, 1)));
    assert!(
        dict.attr("Cleartext-Password")
            .is_some_and(|d| d.is_internal())
    );
}

/// Names resolved identically by our files and FreeRADIUS's: standard, Microsoft,
/// MikroTik and WISPr.
const SAME_ATTRIBUTES: &[&str] = &[
    "User-Name",
    "User-Password",
    "CHAP-Password",
    "NAS-IP-Address",
    "NAS-Port",
    "Service-Type",
    "Framed-Protocol",
    "Framed-IP-Address",
    "Framed-IP-Netmask",
    "Filter-Id",
    "Reply-Message",
    "State",
    "Class",
    "Vendor-Specific",
    "Session-Timeout",
    "Idle-Timeout",
    "Called-Station-Id",
    "Calling-Station-Id",
    "NAS-Identifier",
    "Acct-Status-Type",
    "Acct-Input-Octets",
    "Acct-Session-Id",
    "Acct-Terminate-Cause",
    "Acct-Input-Gigawords",
    "Event-Timestamp",
    "CHAP-Challenge",
    "NAS-Port-Type",
    "Port-Limit",
    "Tunnel-Type",
    "Tunnel-Medium-Type",
    "Tunnel-Password",
    "Tunnel-Private-Group-Id",
    "EAP-Message",
    "Message-Authenticator",
    "Acct-Interim-Interval",
    "NAS-Port-Id",
    "Framed-Pool",
    "NAS-IPv6-Address",
    "Framed-Interface-Id",
    "Framed-IPv6-Prefix",
    "Error-Cause",
    "Delegated-IPv6-Prefix",
    "Operator-Name",
    "Framed-IPv6-Address",
    "Delegated-IPv6-Prefix-Pool",
    "MS-CHAP-Response",
    "MS-CHAP-Challenge",
    "MS-CHAP-MPPE-Keys",
    "MS-MPPE-Encryption-Policy",
    "MS-MPPE-Encryption-Types",
    "MS-MPPE-Send-Key",
    "MS-MPPE-Recv-Key",
    "MS-CHAP2-Response",
    "MS-CHAP2-Success",
    "MS-Primary-DNS-Server",
    "Mikrotik-Recv-Limit",
    "Mikrotik-Xmit-Limit",
    "Mikrotik-Group",
    "Mikrotik-Rate-Limit",
    "Mikrotik-Realm",
    "Mikrotik-Host-IP",
    "Mikrotik-Recv-Limit-Gigawords",
    "Mikrotik-Total-Limit",
    "Mikrotik-Total-Limit-Gigawords",
    "Mikrotik-Address-List",
    "Mikrotik-Wireless-Enc-Algo",
    "Mikrotik-Switching-Filter",
    "WISPr-Location-ID",
    "WISPr-Location-Name",
    "WISPr-Logoff-URL",
    "WISPr-Redirection-URL",
    "WISPr-Bandwidth-Min-Up",
    "WISPr-Bandwidth-Max-Down",
    "WISPr-Session-Terminate-Time",
];

/// (attribute, VALUE name) pairs that must map to the same number in both.
const SAME_VALUES: &[(&str, &str)] = &[
    ("Service-Type", "Login-User"),
    ("Service-Type", "Framed-User"),
    ("Service-Type", "Authorize-Only"),
    ("Framed-Protocol", "PPP"),
    ("Acct-Status-Type", "Start"),
    ("Acct-Status-Type", "Interim-Update"),
    ("Acct-Status-Type", "Accounting-Off"),
    ("Acct-Terminate-Cause", "Idle-Timeout"),
    ("Acct-Terminate-Cause", "Admin-Reset"),
    ("Acct-Terminate-Cause", "Host-Request"),
    ("NAS-Port-Type", "Ethernet"),
    ("NAS-Port-Type", "Wireless-802.11"),
    ("Tunnel-Type", "VLAN"),
    ("Tunnel-Type", "L2TP"),
    ("Tunnel-Medium-Type", "IEEE-802"),
    ("Error-Cause", "Session-Context-Not-Found"),
    ("Error-Cause", "Unsupported-Attribute"),
    ("MS-MPPE-Encryption-Policy", "Encryption-Required"),
    ("MS-MPPE-Encryption-Types", "RC4-40or128-bit-Allowed"),
    ("Mikrotik-Wireless-Enc-Algo", "AES-CCM"),
];

#[test]
fn our_dictionaries_match_freeradius_on_a_sample() {
    let ours = Dictionary::builtin();
    let theirs = freeradius();
    let mut differences = Vec::new();
    for name in SAME_ATTRIBUTES {
        let (a, b) = (ours.attr(name), theirs.attr(name));
        if a.is_none() || a != b {
            differences.push(format!("{name}: ours {a:?}, FreeRADIUS {b:?}"));
        }
    }
    for (attr, value) in SAME_VALUES {
        let a = ours.attr(attr).and_then(|d| ours.value_number(d, value));
        let b = theirs
            .attr(attr)
            .and_then(|d| theirs.value_number(d, value));
        if a.is_none() || a != b {
            differences.push(format!("{attr} = {value}: ours {a:?}, FreeRADIUS {b:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(SAME_ATTRIBUTES.len() + SAME_VALUES.len() >= 40);
}

#[test]
fn internal_check_items_keep_freeradius_names_and_types() {
    let ours = Dictionary::builtin();
    let theirs = freeradius();
    for name in [
        "Cleartext-Password",
        "NT-Password",
        "Crypt-Password",
        "Auth-Type",
        "Expiration",
        "Simultaneous-Use",
        "Fall-Through",
        "Login-Time",
    ] {
        let a = ours.attr(name).map(|d| (d.typ, d.is_internal()));
        let b = theirs.attr(name).map(|d| (d.typ, d.is_internal()));
        assert_eq!(a, b, "{name}");
    }
    for name in ["Max-Daily-Session", "Max-Total-Octets", "Expire-After"] {
        assert!(ours.attr(name).is_some_and(|d| d.is_internal()), "{name}");
    }
}

#[test]
fn the_folder_on_disk_loads_like_the_embedded_copy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries/dictionary");
    let disk = match Dictionary::load(&dir) {
        Ok(dict) => dict,
        Err(e) => panic!("{e}"),
    };
    let embedded = Dictionary::builtin();
    assert_eq!(disk.len(), embedded.len());
    for name in SAME_ATTRIBUTES {
        assert_eq!(disk.attr(name), embedded.attr(name), "{name}");
    }
}

/// Lowercase dictionary name for a constant: `NAS_IP_ADDRESS` → `nas-ip-address`.
fn const_to_name(prefix: &str, constant: &str) -> String {
    format!(
        "{prefix}{}",
        constant.to_ascii_lowercase().replace('_', "-")
    )
}

/// Every `pub const` in `src/protocol/attrs.rs` resolves, by its name, to the same number
/// and vendor in the builtin dictionary. The file is read as text so that constants added
/// later are checked without touching this test.
#[test]
fn every_protocol_attrs_constant_matches_the_dictionary() {
    let source = include_str!("../src/protocol/attrs.rs");
    let dict = Dictionary::builtin();
    let (mut module, mut vendor, mut checked) = (String::new(), 0u32, 0);
    let mut problems = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub mod ") {
            module = rest.trim_end_matches(['{', ' ']).to_owned();
            continue;
        }
        if line == "}" {
            (module, vendor) = (String::new(), 0);
            continue;
        }
        let Some(decl) = line.strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, number)) = decl.split_once(':').and_then(|(n, rest)| {
            let number = rest.split('=').nth(1)?.trim().trim_end_matches(';');
            Some((n.trim(), number.parse::<u32>().ok()?))
        }) else {
            problems.push(format!("cannot read {line:?}"));
            continue;
        };
        if name == "VENDOR_ID" {
            vendor = number;
            continue;
        }
        checked += 1;
        let found = match module.as_str() {
            "" | "microsoft" => dict
                .attr(&const_to_name("", name))
                .map(|d| (d.vendor, d.code)),
            "mikrotik" => dict
                .attr(&const_to_name("mikrotik-", name))
                .map(|d| (d.vendor, d.code)),
            "wispr" => dict
                .attr(&const_to_name("wispr-", name))
                .map(|d| (d.vendor, d.code)),
            other => {
                problems.push(format!("teach this test the naming of module {other}"));
                continue;
            }
        };
        if found != Some((vendor, number)) {
            problems.push(format!(
                "{module}::{name} = {number} (vendor {vendor}), dictionary says {found:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked >= 60,
        "only {checked} constants read: parser out of date?"
    );
}

/// Every named `AcctStatus` is the dictionary's Acct-Status-Type VALUE of the same name and
/// number (its `Display` is the dictionary name).
#[test]
fn acct_status_matches_the_dictionary() {
    let dict = Dictionary::builtin();
    let attr = dict.attr("Acct-Status-Type").expect("Acct-Status-Type");
    for status in AcctStatus::KNOWN {
        let number = dict.value_number(attr, &status.to_string());
        assert_eq!(
            number.and_then(|n| u32::try_from(n).ok()),
            Some(status.as_u32()),
            "{status}"
        );
    }
}
