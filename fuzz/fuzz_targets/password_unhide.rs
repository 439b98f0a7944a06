//! User-Password unhiding (RFC 2865 §5.2) and salt decryption (RFC 2868 §3.5) on arbitrary
//! input. Layout: 16-byte authenticator, 1 length octet n, n secret bytes, then the value.
//! When unhiding succeeds, hiding the result again and unhiding gives the same password.
#![no_main]

use radius_proto::protocol::crypto;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((auth, rest)) = data.split_first_chunk::<16>() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let (secret, value) = rest.split_at(usize::from(n).min(rest.len()));
    let _ = crypto::salt_decrypt(value, secret, auth);
    let Ok(pw) = crypto::unhide_user_password(value, secret, auth) else {
        return;
    };
    let mut hidden = Vec::new();
    crypto::hide_user_password(pw.as_bytes(), secret, auth, &mut hidden)
        .expect("an unhidden password re-hides");
    let again = crypto::unhide_user_password(&hidden, secret, auth).expect("round trip");
    assert_eq!(again.as_bytes(), pw.as_bytes());
});
