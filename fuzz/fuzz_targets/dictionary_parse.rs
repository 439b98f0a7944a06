//! The FreeRADIUS-format dictionary parser on arbitrary text: errors are fine, panics are not.
#![no_main]

use radius_proto::dictionary::Dictionary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Dictionary::parse_str("fuzz", text);
    }
});
