//! `client::dynauth` against a [`FakeNas`]: Disconnect and CoA over real UDP, ACK, NAK with
//! Error-Cause, silence and retransmission, and replies that must be refused. No database.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hotspot_radius::client::dynauth::{self, DynAuthKind, DynAuthReply, ErrorCause, SessionRef};
use hotspot_radius::client::{ClientError, Timing};
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::attrs::mikrotik;
use radius_proto::protocol::{Code, Signer};

use crate::fake_nas::{Behaviour, FakeNas};

const SECRET: &[u8] = b"incoming-secret";
const WAIT: Duration = Duration::from_secs(5);

fn session() -> SessionRef {
    SessionRef {
        user_name: "voucher-42".into(),
        acct_session_id: Some("81a00012".into()),
        framed_ip: Some(Ipv4Addr::new(10, 5, 50, 99)),
        nas_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    }
}

fn timing(attempts: u32) -> Timing {
    Timing {
        timeout: Duration::from_millis(300),
        attempts,
    }
}

async fn send(
    nas: &FakeNas,
    kind: DynAuthKind,
    extra: &[Vec<u8>],
    attempts: u32,
) -> Result<DynAuthReply, ClientError> {
    let signer = Signer::new(SECRET);
    dynauth::send(
        kind,
        nas.addr(),
        &signer,
        &session(),
        extra,
        timing(attempts),
    )
    .await
}

#[tokio::test]
async fn disconnect_is_acked() {
    let nas = FakeNas::start(SECRET, Behaviour::Ack);
    let reply = send(&nas, DynAuthKind::Disconnect, &[], 1).await.unwrap();
    assert_eq!(reply, DynAuthReply::Ack);
    let got = nas.wait_for(1, WAIT);
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.code, Code::DisconnectRequest);
    assert_eq!(r.user_name.as_deref(), Some("voucher-42"));
    assert_eq!(r.acct_session_id.as_deref(), Some("81a00012"));
    assert_eq!(r.framed_ip, Some(Ipv4Addr::new(10, 5, 50, 99)));
    assert_eq!(r.nas_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(r.has_message_authenticator);
    assert!(r.other.is_empty(), "{:?}", r.other);
    assert!(nas.failures().is_empty(), "{:?}", nas.failures());
}

#[tokio::test]
async fn coa_carries_the_rate_limit_intact() {
    let nas = FakeNas::start(SECRET, Behaviour::Ack);
    let extra = dynauth::parse_assignments(
        &Dictionary::builtin(),
        &[
            "Mikrotik-Rate-Limit=2M/4M".to_owned(),
            "Session-Timeout=600".to_owned(),
        ],
    )
    .unwrap();
    let reply = send(&nas, DynAuthKind::Coa, &extra, 1).await.unwrap();
    assert_eq!(reply, DynAuthReply::Ack);
    let r = &nas.wait_for(1, WAIT)[0];
    assert_eq!(r.code, Code::CoaRequest);
    assert_eq!(
        r.attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
        Some(&b"2M/4M"[..])
    );
    assert_eq!(r.attr(0, 27), Some(&600u32.to_be_bytes()[..]));
    assert!(nas.failures().is_empty(), "{:?}", nas.failures());
}

#[tokio::test]
async fn nak_error_cause_is_decoded() {
    let nas = FakeNas::start(SECRET, Behaviour::Nak(Some(503)));
    for kind in [DynAuthKind::Disconnect, DynAuthKind::Coa] {
        let reply = send(&nas, kind, &[], 1).await.unwrap();
        assert_eq!(
            reply,
            DynAuthReply::Nak {
                error_cause: Some(ErrorCause::SESSION_CONTEXT_NOT_FOUND)
            },
            "{kind}"
        );
    }
    nas.set_behaviour(Behaviour::Nak(None));
    let reply = send(&nas, DynAuthKind::Coa, &[], 1).await.unwrap();
    assert_eq!(reply, DynAuthReply::Nak { error_cause: None });
}

#[tokio::test]
async fn silence_times_out_after_every_attempt() {
    let nas = FakeNas::start(SECRET, Behaviour::Silent);
    let t = Timing {
        timeout: Duration::from_millis(50),
        attempts: 3,
    };
    let signer = Signer::new(SECRET);
    let err = dynauth::send(
        DynAuthKind::Disconnect,
        nas.addr(),
        &signer,
        &session(),
        &[],
        t,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    let got = nas.wait_for(3, WAIT);
    assert_eq!(got.len(), 3);
    // Retransmissions are the same bytes (same identifier and authenticator).
    assert!(got.iter().all(|r| r.raw == got[0].raw));
    assert!(nas.failures().is_empty(), "{:?}", nas.failures());
}

#[tokio::test]
async fn a_lost_request_is_answered_on_retransmission() {
    let nas = FakeNas::start(SECRET, Behaviour::Ack);
    nas.push_script([Behaviour::Silent]);
    let reply = send(&nas, DynAuthKind::Coa, &[], 2).await.unwrap();
    assert_eq!(reply, DynAuthReply::Ack);
    let got = nas.wait_for(2, WAIT);
    assert_eq!(got[0].raw, got[1].raw);
}

#[tokio::test]
async fn reply_with_the_wrong_secret_does_not_verify() {
    let nas = FakeNas::start(SECRET, Behaviour::Ack);
    nas.set_reply_secret(Some(b"not-the-secret"));
    let err = send(&nas, DynAuthKind::Disconnect, &[], 1)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Verify(_)), "{err}");
    // The request itself was fine.
    assert!(nas.failures().is_empty(), "{:?}", nas.failures());
}

#[tokio::test]
async fn wrong_reply_class_is_an_error() {
    let nas = FakeNas::start(SECRET, Behaviour::Code(Code::CoaAck));
    let err = send(&nas, DynAuthKind::Disconnect, &[], 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::UnexpectedReply {
                request: Code::DisconnectRequest,
                reply: Code::CoaAck
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn fake_nas_refuses_a_request_signed_with_another_secret() {
    let nas = FakeNas::start(SECRET, Behaviour::Ack);
    let signer = Signer::new(b"wrong");
    let err = dynauth::send(
        DynAuthKind::Coa,
        nas.addr(),
        &signer,
        &session(),
        &[],
        Timing {
            timeout: Duration::from_millis(50),
            attempts: 1,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    nas.wait_for(1, WAIT);
    let failures = nas.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("authenticator"), "{failures:?}");
}
