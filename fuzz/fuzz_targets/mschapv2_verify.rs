//! `auth::check` (PAP / CHAP / MS-CHAPv2 dispatch and verification) on an Access-Request
//! whose attributes are the fuzz input, against fixed credentials: never panics.
#![no_main]

use radius_proto::auth::{self, Credential};
use std::sync::LazyLock;

use radius_proto::protocol::{Packet, Secret, Signer};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));

fuzz_target!(|data: &[u8]| {
    // Header: Access-Request, id 1, Length, fixed Request Authenticator; then the input.
    let attrs = &data[..data.len().min(4096 - 20)];
    let mut dgram = vec![1u8, 1];
    dgram.extend_from_slice(&((20 + attrs.len()) as u16).to_be_bytes());
    dgram.extend_from_slice(&[0x5a; 16]);
    dgram.extend_from_slice(attrs);
    let Ok(packet) = Packet::decode(&dgram) else {
        return;
    };
    let cleartext = Credential::Cleartext(Secret::from("password"));
    let _ = auth::check(&packet, &SIGNER, &cleartext, [1, 2, 3, 4]);
    let nt = Credential::NtHash([0x8a; 16]);
    let _ = auth::check(&packet, &SIGNER, &nt, [1, 2, 3, 4]);
});
