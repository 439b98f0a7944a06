//! `Packet::decode` on arbitrary datagrams: never panics; when it succeeds, every accessor
//! is safe and decode → encode (PacketBuilder) → decode gives back the same packet.
#![no_main]

use std::sync::LazyLock;

use radius_proto::protocol::{Attribute, Packet, PacketBuilder, ReplyVector, Signer, VendorAttribute};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::decode(data) else {
        return;
    };
    let _ = p.verify_message_authenticator(&SIGNER, None);
    let _ = p.verify_message_authenticator(&SIGNER, Some(&[7; 16]));
    let _ = p.verify_request_authenticator(&SIGNER);
    let _ = p.verify_response(&[7; 16], ReplyVector::Request, &SIGNER);
    let _ = p.user_password(&SIGNER);
    for a in p.attributes() {
        let _ = (a.as_u32(), a.as_ipv4(), a.as_str());
    }
    let attrs: Vec<Attribute<'_>> = p.attributes().collect();
    let vsas: Vec<VendorAttribute<'_>> = p.vendor_attributes().collect();

    let mut b = PacketBuilder::new(p.code(), p.identifier());
    for a in &attrs {
        b.add(a.typ, a.value)
            .expect("a decoded attribute re-encodes");
    }
    let bytes = b
        .sign_access_request(p.authenticator(), &SIGNER)
        .expect("re-encoding succeeds");
    assert_eq!(bytes, p.as_bytes(), "re-encoding is byte-identical");
    let q = Packet::decode(&bytes).expect("re-encoded packet decodes");
    assert_eq!(q.code(), p.code());
    assert_eq!(q.identifier(), p.identifier());
    assert_eq!(q.attributes().collect::<Vec<_>>(), attrs);
    assert_eq!(q.vendor_attributes().collect::<Vec<_>>(), vsas);
    assert_eq!(q.has_message_authenticator(), p.has_message_authenticator());
});
