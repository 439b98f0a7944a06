//! Interoperability: requests built by FreeRADIUS `radclient` (Debian `freeradius-utils`),
//! a client nobody here wrote, checked by [`super::check`]. PAP, CHAP and MS-CHAPv1
//! (`MS-CHAP-Password`); radclient cannot build MS-CHAPv2.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;

const SECRET: &str = "interop-secret";

/// Run radclient against a loopback socket and return the datagram it sent.
fn capture(attributes: &str) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let target = format!("127.0.0.1:{}", socket.local_addr().unwrap().port());
    let mut child = match Command::new("radclient")
        .args(["-r", "1", "-t", "3", "-c", "1", &target, "auth", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("cannot run radclient ({e}): install the Debian package freeradius-utils"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(attributes.as_bytes()).unwrap();
    }
    let mut buf = [0u8; 4096];
    let received = socket.recv(&mut buf);
    // We never answer; stop our own child instead of waiting for its timeout.
    let _ = child.kill();
    let _ = child.wait();
    let len = received.expect("radclient sent no request within 10 s");
    buf[..len].to_vec()
}

fn verdict(bytes: &[u8], password: &str) -> (Method, Verdict) {
    let packet = Packet::decode(bytes).unwrap();
    let credential = Credential::Cleartext(Secret::from(password));
    (
        Method::detect(&packet),
        check(
            &packet,
            &Signer::new(SECRET.as_bytes()),
            &credential,
            [9, 8, 7, 6],
        ),
    )
}

#[test]
fn radclient_pap_chap_mschapv1() {
    let cases = [
        (r#"User-Name = "bob", User-Password = "pa ss""#, Method::Pap),
        (
            r#"User-Name = "bob", CHAP-Password = "pa ss""#,
            Method::Chap,
        ),
        (
            r#"User-Name = "bob", MS-CHAP-Password = "pa ss""#,
            Method::MsChapV1,
        ),
    ];
    for (attributes, method) in cases {
        let bytes = capture(attributes);
        let (detected, ok) = verdict(&bytes, "pa ss");
        assert_eq!(detected, method, "{attributes}");
        assert!(matches!(ok, Verdict::Accept(_)), "{attributes}: {ok:?}");
        let (_, bad) = verdict(&bytes, "pa sS");
        assert!(
            matches!(bad, Verdict::Reject(RejectReason::BadCredentials, _)),
            "{attributes}: {bad:?}"
        );
    }
}
