//! A random-datagram soak against the running server (`app::start` over real PostgreSQL):
//! up to a million seeded random, half-formed and mutated datagrams (60 s at most), from a
//! known NAS and from an unknown address. The NAS requires Message-Authenticator, so
//! no datagram a random generator can make is a request the server may answer: every one
//! must be dropped and counted, none answered, and the server must still answer a
//! properly signed request afterwards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotspot_radius::app;
use hotspot_radius::config::{Config, MessageAuthenticatorPolicy, NasConfig};
use radius_proto::protocol::Code;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::net::UdpSocket;

use crate::harness;
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "soak-secret";
const DATAGRAMS: u64 = 1_000_000;
const TIME_BOUND: Duration = Duration::from_secs(60);
/// Sent before waiting for the server's counters to catch up (keeps the socket buffer
/// from overflowing, so every datagram reaches the server and can be counted).
const BATCH: u64 = 2_000;

/// Every datagram the server has seen and not answered, as it counts them.
fn counted() -> u64 {
    let text = hotspot_radius::metrics::handle()
        .expect("the server installed the metrics recorder")
        .render();
    let sum = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            // No soak datagram reaches a user lookup (Message-Authenticator is required);
            // `flood::` floods thousands of these into the process-wide counter meanwhile.
            .filter(|l| !l.contains(r#"reason="miss_budget""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // Dropped (any reason) plus requests that were processed but got no reply.
    (sum("radius_dropped_total") + sum("radius_duplicates_total")) as u64
}

/// One datagram: pure noise, a plausible header over noise, or a mutated request.
fn datagram(rng: &mut StdRng, template: &[u8]) -> Vec<u8> {
    match rng.random_range(0..4u8) {
        0 => {
            let len = rng.random_range(0..4200usize);
            (0..len).map(|_| rng.random()).collect()
        }
        1 => {
            // A legal header (a code either port takes, the Length right) and noise.
            let codes = [1u8, 4, 12, 40, 43, 2, 3, 11, 5];
            let len = rng.random_range(20..4096usize);
            let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            d[0] = codes[rng.random_range(0..codes.len())];
            d[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
            d
        }
        2 => {
            // Bit flips in a real request (its Message-Authenticator no longer verifies).
            let mut d = template.to_vec();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..d.len());
                d[i] ^= 1 << rng.random_range(0..8);
            }
            d
        }
        _ => {
            // A real request with a new identifier and random Request Authenticator:
            // well-formed, but its Message-Authenticator is wrong.
            let mut d = template.to_vec();
            d[1] = rng.random();
            for b in &mut d[4..20] {
                *b = rng.random();
            }
            d
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_random_datagrams_are_dropped_and_counted_never_answered() {
    let (url, pool) = harness::fresh_db().await;
    sqlx::query(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('alice', 'Cleartext-Password', ':=', 'wonderland')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.enabled = false;
    c.database.url = Some(url);
    c.database.pool_size = 4;
    c.accounting.journal_dir = harness::fresh_dir("soak-journal");
    c.nas = vec![NasConfig {
        address: "127.0.0.1".into(),
        secret: SECRET.into(),
        require_message_authenticator: MessageAuthenticatorPolicy::Require,
        ..NasConfig::default()
    }];
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let template = nas
        .access_request("alice", "wonderland", Method::Pap, true)
        .bytes;

    // Senders: the known NAS's address and an unknown one; each listens for replies.
    let known = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let unknown = Arc::new(UdpSocket::bind("127.0.0.2:0").await.unwrap());
    let replies = Arc::new(AtomicU64::new(0));
    let mut listeners = Vec::new();
    for s in [&known, &unknown] {
        let (s, replies) = (Arc::clone(s), Arc::clone(&replies));
        listeners.push(tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while s.recv_from(&mut buf).await.is_ok() {
                replies.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let ports: [SocketAddr; 2] = [server.auth_addr, server.acct_addr];
    let mut rng = StdRng::seed_from_u64(0x5eed_50a4);
    let started = Instant::now();
    let before = counted();
    let mut sent = 0u64;
    while sent < DATAGRAMS && started.elapsed() < TIME_BOUND {
        for _ in 0..BATCH {
            let d = datagram(&mut rng, &template);
            let from = if rng.random_bool(0.8) {
                &known
            } else {
                &unknown
            };
            let to = ports[usize::from(rng.random_bool(0.3))];
            from.send_to(&d, to).await.unwrap();
            sent += 1;
        }
        // Let the server count this batch before sending more (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(10);
        while counted() - before < sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while counted() - before < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = counted() - before;
    eprintln!(
        "soak: {sent} datagrams in {:.1?}, {seen} counted as dropped",
        started.elapsed()
    );
    assert!(
        sent >= 100_000,
        "the time bound allowed only {sent} datagrams"
    );
    assert_eq!(seen, sent, "every datagram is counted as dropped");
    assert_eq!(
        replies.load(Ordering::SeqCst),
        0,
        "no datagram was answered"
    );

    // Still serving.
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    for l in listeners {
        l.abort();
    }
    assert_eq!(replies.load(Ordering::SeqCst), 0);
    server.stop().await;
}
