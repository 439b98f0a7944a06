//! User-Password unhiding (RFC 2865 §5.2) and salt decryption (RFC 2868 §3.5) on arbitrary
//! input. Layout: 16-byte authenticator, 1 length octet n, n secret bytes, then the value.
//! When unhiding succeeds, hiding the result again and unhiding gives the same password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radius_proto::protocol::{MAX_ATTR_VALUE_LEN, Signer, hidden_password_len};

fuzz_target!(|data: &[u8]| {
    let Some((auth, rest)) = data.split_first_chunk::<16>() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let (secret, value) = rest.split_at(usize::from(n).min(rest.len()));
    let signer = Signer::new(secret);
    let _ = signer.salt_decrypt(value, auth, &mut [0; MAX_ATTR_VALUE_LEN]);
    let Ok(pw) = signer.unhide_password(value, auth) else {
        return;
    };
    let len = hidden_password_len(pw.as_bytes().len()).expect("an unhidden password fits");
    let mut hidden = vec![0; len];
    signer
        .hide_password(pw.as_bytes(), auth, &mut hidden)
        .expect("an unhidden password re-hides");
    let again = signer.unhide_password(&hidden, auth).expect("round trip");
    assert_eq!(again.as_bytes(), pw.as_bytes());
});
