//! End-to-end checks of [`super::check`] and [`super::Method::detect`] on encoded requests.

use super::*;
use crate::protocol::attrs::{CHAP_CHALLENGE, CHAP_PASSWORD, USER_NAME, USER_PASSWORD};
use std::sync::LazyLock;

use crate::protocol::{Code, PacketBuilder, ReplyVector};

const SECRET: &[u8] = b"xyzzy5461";
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(SECRET));
const AUTH: [u8; 16] = [
    0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a,
];
const SALT: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const MS: u32 = ms::VENDOR_ID;

// RFC 2759 §9.2 inputs.
const AUTH_CHALLENGE: [u8; 16] = [
    0x5B, 0x5D, 0x7C, 0x7D, 0x7B, 0x3F, 0x2F, 0x3E, 0x3C, 0x2C, 0x60, 0x21, 0x32, 0x26, 0x26, 0x28,
];
const PEER_CHALLENGE: [u8; 16] = [
    0x21, 0x40, 0x23, 0x24, 0x25, 0x5E, 0x26, 0x2A, 0x28, 0x29, 0x5F, 0x2B, 0x3A, 0x33, 0x7C, 0x7E,
];

/// An Access-Request with User-Name `user` plus whatever `add` puts in.
fn request(user: &[u8], add: impl FnOnce(&mut PacketBuilder)) -> Vec<u8> {
    let mut b = PacketBuilder::new(Code::AccessRequest, 42);
    b.add(USER_NAME, user).unwrap();
    add(&mut b);
    b.sign_access_request(&AUTH, &SIGNER).unwrap()
}

fn run(bytes: &[u8], credential: &Credential) -> (Method, Verdict) {
    let packet = Packet::decode(bytes).unwrap();
    (
        Method::detect(&packet),
        check(&packet, &SIGNER, credential, SALT),
    )
}

fn cleartext(s: &str) -> Credential {
    Credential::Cleartext(Secret::from(s))
}

fn pap(password: &[u8]) -> Vec<u8> {
    request(b"alice", |b| {
        b.add_user_password(password, &SIGNER, &AUTH).unwrap();
    })
}

const REJECT_BAD: Verdict = Verdict::Reject(RejectReason::BadCredentials, Vec::new());
const REJECT_MALFORMED: Verdict = Verdict::Reject(RejectReason::Malformed, Vec::new());
const REJECT_UNSUPPORTED: Verdict = Verdict::Reject(RejectReason::MethodUnsupported, Vec::new());

#[test]
fn pap_against_each_stored_kind() {
    let credentials = [
        cleartext("s3cret pass"),
        Credential::NtHash(mschapv2::nt_hash(b"s3cret pass")),
        // `openssl passwd -1 -salt abcdefgh 's3cret pass'`
        Credential::Crypt(Secret::from("$1$abcdefgh$yUi22Wh0AmKpErdRTSZwv1")),
        // `openssl passwd -5 -salt saltstring 's3cret pass'`
        Credential::Crypt(Secret::from(
            "$5$saltstring$9lf.qaeX74ADsMGqDiJWJEnNMuIt4SjTmxXhKQIP5K6",
        )),
    ];
    for credential in &credentials {
        let (method, verdict) = run(&pap(b"s3cret pass"), credential);
        assert_eq!(method, Method::Pap);
        assert_eq!(verdict, Verdict::Accept(Vec::new()), "{credential:?}");
        assert_eq!(run(&pap(b"s3cret pasS"), credential).1, REJECT_BAD);
        assert_eq!(run(&pap(b""), credential).1, REJECT_BAD);
    }
    let bcrypt = Credential::Crypt(Secret::from(
        "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
    ));
    assert_eq!(
        run(&pap(b"rasmuslerdorf"), &bcrypt).1,
        Verdict::Accept(Vec::new())
    );
    assert_eq!(run(&pap(b"rasmuslerdorF"), &bcrypt).1, REJECT_BAD);
    let unknown = Credential::Crypt(Secret::from("{SSHA}abcdef"));
    assert_eq!(run(&pap(b"{SSHA}abcdef"), &unknown).1, REJECT_BAD);
}

#[test]
fn pap_long_password_spanning_blocks() {
    let long = [b'x'; 100];
    let credential = Credential::Cleartext(Secret::new(&long[..]));
    assert_eq!(run(&pap(&long), &credential).1, Verdict::Accept(Vec::new()));
    assert_eq!(run(&pap(&long[..99]), &credential).1, REJECT_BAD);
}

#[test]
fn mikrotik_mac_login_is_pap() {
    let mac = "AA:BB:CC:00:11:22";
    // Empty password: 16 hidden NUL bytes on the wire.
    let empty = request(mac.as_bytes(), |b| {
        b.add_user_password(b"", &SIGNER, &AUTH).unwrap();
    });
    let packet = Packet::decode(&empty).unwrap();
    assert_eq!(packet.attr(USER_PASSWORD).map(<[u8]>::len), Some(16));
    assert_eq!(
        run(&empty, &cleartext("")),
        (Method::Pap, Verdict::Accept(Vec::new()))
    );
    assert_eq!(run(&empty, &cleartext(mac)).1, REJECT_BAD);
    // Password = MAC.
    let same = request(mac.as_bytes(), |b| {
        b.add_user_password(mac.as_bytes(), &SIGNER, &AUTH).unwrap();
    });
    assert_eq!(
        run(&same, &cleartext(mac)),
        (Method::Pap, Verdict::Accept(Vec::new()))
    );
}

#[test]
fn pap_malformed_user_password() {
    for len in [0usize, 15, 17, 144] {
        let bytes = request(b"alice", |b| {
            b.add(USER_PASSWORD, &vec![0x41; len]).unwrap();
        });
        assert_eq!(
            run(&bytes, &cleartext("x")),
            (Method::Pap, REJECT_MALFORMED),
            "{len}"
        );
    }
}

#[test]
fn chap_with_challenge_attribute_and_with_authenticator() {
    let challenge = b"0123456789abcdef0123";
    let with = request(b"bob", |b| {
        b.add(CHAP_PASSWORD, &chap::chap_password(7, b"pw", challenge))
            .unwrap();
        b.add(CHAP_CHALLENGE, challenge).unwrap();
    });
    assert_eq!(
        run(&with, &cleartext("pw")),
        (Method::Chap, Verdict::Accept(Vec::new()))
    );
    assert_eq!(run(&with, &cleartext("pW")).1, REJECT_BAD);

    let without = request(b"bob", |b| {
        b.add(CHAP_PASSWORD, &chap::chap_password(7, b"pw", &AUTH))
            .unwrap();
    });
    assert_eq!(
        run(&without, &cleartext("pw")),
        (Method::Chap, Verdict::Accept(Vec::new()))
    );
    // A response computed over the wrong challenge fails.
    let wrong = request(b"bob", |b| {
        b.add(CHAP_PASSWORD, &chap::chap_password(7, b"pw", challenge))
            .unwrap();
    });
    assert_eq!(run(&wrong, &cleartext("pw")).1, REJECT_BAD);
}

#[test]
fn chap_against_hashes_is_unsupported_and_bad_lengths_malformed() {
    let ok = request(b"bob", |b| {
        b.add(CHAP_PASSWORD, &chap::chap_password(1, b"pw", &AUTH))
            .unwrap();
    });
    let crypt = Credential::Crypt(Secret::from(crypt::md5_crypt(b"pw", b"salt").as_str()));
    assert_eq!(run(&ok, &crypt).1, REJECT_UNSUPPORTED);
    let nt = Credential::NtHash(mschapv2::nt_hash(b"pw"));
    assert_eq!(run(&ok, &nt).1, REJECT_UNSUPPORTED);

    for value in [&[1u8; 16][..], &[1u8; 18][..], &[][..]] {
        let bytes = request(b"bob", |b| {
            b.add(CHAP_PASSWORD, value).unwrap();
        });
        assert_eq!(
            run(&bytes, &cleartext("pw")),
            (Method::Chap, REJECT_MALFORMED)
        );
    }
    let empty_challenge = request(b"bob", |b| {
        b.add(CHAP_PASSWORD, &chap::chap_password(1, b"pw", b""))
            .unwrap();
        b.add(CHAP_CHALLENGE, b"").unwrap();
    });
    assert_eq!(run(&empty_challenge, &cleartext("pw")).1, REJECT_MALFORMED);
}

fn mschapv2_request(user: &[u8], client_user: &[u8], password: &[u8]) -> Vec<u8> {
    let response =
        mschapv2::client_response(9, &AUTH_CHALLENGE, &PEER_CHALLENGE, client_user, password);
    request(user, |b| {
        b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, &AUTH_CHALLENGE)
            .unwrap();
        b.add_vendor(MS, ms::MS_CHAP2_RESPONSE, &response).unwrap();
    })
}

fn find(attrs: &[ReplyAttr], typ: u8) -> &[u8] {
    let found: Vec<_> = attrs
        .iter()
        .filter(|a| a.vendor == MS && a.typ == typ)
        .collect();
    assert_eq!(found.len(), 1, "exactly one attribute {typ}");
    &found[0].value
}

#[test]
fn mschapv2_accept_builds_success_and_mppe_keys() {
    let bytes = mschapv2_request(b"User", b"User", b"clientPass");
    let credentials = [
        cleartext("clientPass"),
        Credential::NtHash(mschapv2::nt_hash(b"clientPass")),
    ];
    for credential in &credentials {
        let (method, verdict) = run(&bytes, credential);
        assert_eq!(method, Method::MsChapV2);
        let Verdict::Accept(attrs) = verdict else {
            panic!("expected accept, got {verdict:?}");
        };
        assert_eq!(attrs.len(), 5);
        let success = find(&attrs, ms::MS_CHAP2_SUCCESS);
        assert_eq!(success[0], 9);
        assert_eq!(&success[1..], b"S=407A5589115FD0D6209F510FE9C04566932CDA56");

        let send = find(&attrs, ms::MS_MPPE_SEND_KEY);
        let recv = find(&attrs, ms::MS_MPPE_RECV_KEY);
        assert_eq!((send.len(), recv.len()), (34, 34));
        assert_eq!(&send[..2], &[0x92, 0x34]);
        assert_eq!(&recv[..2], &[0xd6, 0x78]);
        let send = SIGNER
            .salt_decrypt(send, &AUTH, &mut [0; 253])
            .unwrap()
            .to_vec();
        let recv = SIGNER
            .salt_decrypt(recv, &AUTH, &mut [0; 253])
            .unwrap()
            .to_vec();
        // RFC 3079 §3.5.3 SendStartKey128 (server send), and the Magic2 key for receive.
        assert_eq!(hex(&send), "8B7CDC149B993A1BA118CB153F56DCCB");
        assert_eq!(hex(&recv), "D5F0E9521E3EA9589645E86051C82226");
        assert_eq!(
            find(&attrs, ms::MS_MPPE_ENCRYPTION_POLICY),
            &1u32.to_be_bytes()
        );
        assert_eq!(
            find(&attrs, ms::MS_MPPE_ENCRYPTION_TYPES),
            &6u32.to_be_bytes()
        );
    }
}

#[test]
fn mschapv2_domain_prefixed_user_name() {
    let bytes = mschapv2_request(b"CORP\\User", b"User", b"clientPass");
    let Verdict::Accept(attrs) = run(&bytes, &cleartext("clientPass")).1 else {
        panic!("expected accept");
    };
    assert_eq!(
        &find(&attrs, ms::MS_CHAP2_SUCCESS)[1..],
        b"S=407A5589115FD0D6209F510FE9C04566932CDA56"
    );
}

#[test]
fn mschapv2_reject_carries_ms_chap_error() {
    let bytes = mschapv2_request(b"User", b"User", b"wrongPass");
    let (method, verdict) = run(&bytes, &cleartext("clientPass"));
    assert_eq!(method, Method::MsChapV2);
    let Verdict::Reject(RejectReason::BadCredentials, attrs) = verdict else {
        panic!("expected bad credentials, got {verdict:?}");
    };
    let error = find(&attrs, ms::MS_CHAP_ERROR);
    assert_eq!(error[0], 9);
    assert_eq!(
        &error[1..],
        b"E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed"
    );

    let good = mschapv2_request(b"User", b"User", b"clientPass");
    let crypt = Credential::Crypt(Secret::from(crypt::md5_crypt(b"clientPass", b"s").as_str()));
    let verdict = run(&good, &crypt).1;
    assert!(
        matches!(verdict, Verdict::Reject(RejectReason::MethodUnsupported, ref a) if a.len() == 1)
    );
}

#[test]
fn mschapv2_malformed() {
    let response =
        mschapv2::client_response(9, &AUTH_CHALLENGE, &PEER_CHALLENGE, b"User", b"clientPass");
    let cases: [(&[u8], &[u8], bool); 4] = [
        (&AUTH_CHALLENGE[..15], &response, true),
        (&AUTH_CHALLENGE, &response[..49], true),
        (&AUTH_CHALLENGE, &[], true),
        (&AUTH_CHALLENGE, &response, false), // no User-Name
    ];
    for (challenge, resp, with_name) in cases {
        let mut b = PacketBuilder::new(Code::AccessRequest, 1);
        if with_name {
            b.add(USER_NAME, b"User").unwrap();
        }
        b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, challenge).unwrap();
        b.add_vendor(MS, ms::MS_CHAP2_RESPONSE, resp).unwrap();
        let bytes = b.sign_access_request(&AUTH, &SIGNER).unwrap();
        assert_eq!(
            run(&bytes, &cleartext("clientPass")),
            (Method::MsChapV2, REJECT_MALFORMED)
        );
    }
}

#[test]
fn mschapv1_accept_and_reject() {
    let challenge = [0x10, 0x2D, 0xB5, 0xDF, 0x08, 0x5D, 0x30, 0x41];
    let build = |password: &[u8]| {
        let response = mschapv1::client_response(4, &challenge, password);
        request(b"user", |b| {
            b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, &challenge).unwrap();
            b.add_vendor(MS, ms::MS_CHAP_RESPONSE, &response).unwrap();
        })
    };
    let (method, verdict) = run(&build(b"MyPw"), &cleartext("MyPw"));
    assert_eq!(method, Method::MsChapV1);
    let Verdict::Accept(attrs) = verdict else {
        panic!("expected accept, got {verdict:?}");
    };
    let keys = find(&attrs, mschapv1::MS_CHAP_MPPE_KEYS);
    assert_eq!(keys.len(), 32);
    let plain = SIGNER.unhide_password(keys, &AUTH).unwrap();
    let expected = mschapv1::mppe_keys_plaintext(&mschapv2::nt_hash(b"MyPw"));
    assert_eq!(plain.as_bytes(), &expected[..]);

    let verdict = run(&build(b"MyPW"), &cleartext("MyPw")).1;
    let Verdict::Reject(RejectReason::BadCredentials, attrs) = verdict else {
        panic!("expected reject, got {verdict:?}");
    };
    assert_eq!(find(&attrs, ms::MS_CHAP_ERROR), b"\x04E=691 R=0");
}

#[test]
fn detect_none_and_check_rejects_without_credentials() {
    let bytes = request(b"nobody", |_| {});
    assert_eq!(
        run(&bytes, &cleartext("x")),
        (Method::None, REJECT_MALFORMED)
    );
    // A lone MS-CHAP-Challenge is not a method either.
    let bytes = request(b"nobody", |b| {
        b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, &AUTH_CHALLENGE)
            .unwrap();
    });
    assert_eq!(
        run(&bytes, &cleartext("x")),
        (Method::None, REJECT_MALFORMED)
    );
}

#[test]
fn reply_attributes_encode_into_a_signed_accept() {
    let bytes = mschapv2_request(b"User", b"User", b"clientPass");
    let request = Packet::decode(&bytes).unwrap();
    let Verdict::Accept(attrs) = check(&request, &SIGNER, &cleartext("clientPass"), SALT) else {
        panic!("expected accept");
    };
    let mut reply = PacketBuilder::reply(&request, Code::AccessAccept);
    for attr in &attrs {
        reply
            .add_vendor(attr.vendor, attr.typ, &attr.value)
            .unwrap();
    }
    let wire = reply
        .sign_response(request.authenticator(), ReplyVector::Request, &SIGNER)
        .unwrap();
    let decoded = Packet::decode(&wire).unwrap();
    decoded
        .verify_response(request.authenticator(), ReplyVector::Request, &SIGNER)
        .unwrap();
    let success = decoded.vendor_attr(MS, ms::MS_CHAP2_SUCCESS).unwrap();
    assert!(mschapv2::verify_success(
        success,
        b"clientPass",
        &mschapv2::generate_nt_response(&AUTH_CHALLENGE, &PEER_CHALLENGE, b"User", b"clientPass"),
        &PEER_CHALLENGE,
        &AUTH_CHALLENGE,
        b"User",
    ));
}

/// Arbitrary credential attribute values (bounded, deterministic) never panic.
#[test]
fn garbage_credential_attributes_never_panic() {
    let mut state = 0x9e37_79b9_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let credentials = [
        cleartext("pw"),
        Credential::NtHash([0; 16]),
        Credential::Crypt(Secret::from("$1$x$y")),
    ];
    for round in 0..400 {
        let len = (next() % 60) as usize;
        let value: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let other: Vec<u8> = (0..(next() % 20) as usize).map(|_| next() as u8).collect();
        let bytes = request(b"u", |b| match round % 5 {
            0 => {
                b.add(USER_PASSWORD, &value).unwrap();
            }
            1 => {
                b.add(CHAP_PASSWORD, &value).unwrap();
                b.add(CHAP_CHALLENGE, &other).unwrap();
            }
            2 => {
                b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, &other).unwrap();
                b.add_vendor(MS, ms::MS_CHAP2_RESPONSE, &value).unwrap();
            }
            3 => {
                b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, &other).unwrap();
                b.add_vendor(MS, ms::MS_CHAP_RESPONSE, &value).unwrap();
            }
            _ => {
                b.add_vendor(MS, ms::MS_CHAP_CHALLENGE, &value[..len.min(16)])
                    .unwrap();
                b.add_vendor(
                    MS,
                    ms::MS_CHAP2_RESPONSE,
                    &[value.clone(), value.clone()].concat()[..50.min(2 * len)],
                )
                .unwrap();
            }
        });
        for credential in &credentials {
            let (_, verdict) = run(&bytes, credential);
            assert!(!matches!(verdict, Verdict::Accept(_)), "round {round}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
