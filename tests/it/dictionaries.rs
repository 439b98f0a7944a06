//! Dictionaries: our embedded set, the FreeRADIUS tree, and `protocol::attrs` agree.

use std::path::Path;

use hotspot_radius::dictionary::Dictionary;

const FREERADIUS_TREE: &str = "/usr/share/freeradius/dictionary";

fn freeradius() -> Dictionary {
    let path = Path::new(FREERADIUS_TREE);
    assert!(
        path.exists(),
        "{FREERADIUS_TREE} is missing: install Debian package freeradius-common"
    );
    match Dictionary::load(path) {
        Ok(dict) => dict,
        Err(e) => panic!("the FreeRADIUS tree must load: {e}"),
    }
}

#[test]
fn freeradius_tree_loads() {
    let dict = freeradius();
    assert!(dict.len() > 5000, "only {} attributes", dict.len());
}

#[test]
fn builtin_encodes_a_mikrotik_reply() {
    let dict = Dictionary::builtin();
    let mut out = Vec::new();
    assert_eq!(
        dict.encode_attribute("Mikrotik-Rate-Limit", "\"2M/5M\"", &mut out),
        Ok(())
    );
    assert_eq!(out, b"\x1a\x0d\x00\x00\x3a\x8c\x08\x07\x32M/5M");
    eprintln!("{} {}", dict.len(), freeradius().len());
}
