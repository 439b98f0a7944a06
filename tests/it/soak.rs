//! A random-datagram soak against the running server (the binary, in its own process so its
//! `/metrics` counts only this test's datagrams, over real PostgreSQL):
//! up to a million seeded random, half-formed and mutated datagrams (60 s at most), from a
//! known NAS and from an unknown address. The NAS requires Message-Authenticator, so
//! no datagram a random generator can make is a request the server may answer: every one
//! must be dropped and counted, none answered, and the server must still answer a
//! properly signed request afterwards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::process::{Command, Stdio};

use radius_proto::protocol::Code;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::harness::{self, KillOnDrop};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "soak-secret";
const DATAGRAMS: u64 = 1_000_000;
const TIME_BOUND: Duration = Duration::from_secs(60);
/// Sent before waiting for the server's counters to catch up (keeps the socket buffer
/// from overflowing, so every datagram reaches the server and can be counted).
const BATCH: u64 = 500;

/// `GET /metrics` from the server's admin port.
async fn metrics(admin: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(admin).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).await.ok()?;
    Some(body)
}

/// Every datagram the server has seen and not answered, as it counts them: dropped (any
/// reason) plus retransmissions it held back.
async fn counted(admin: SocketAddr) -> u64 {
    let Some(text) = metrics(admin).await else {
        return 0;
    };
    let sum = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (sum("radius_dropped_total") + sum("radius_duplicates_total")) as u64
}

/// Datagrams the kernel dropped before the server could read them (its sockets' receive
/// buffers were full): the `drops` column of /proc/net/udp for the server's ports (every
/// `SO_REUSEPORT` socket of the group has its own line).
fn kernel_drops(ports: &[u16]) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(cols.get(1)?.rsplit(':').next()?, 16).ok()?;
            if !ports.contains(&port) {
                return None;
            }
            cols.last()?.parse::<u64>().ok()
        })
        .sum()
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
            if d == template {
                // The flips cancelled out: that is the genuine request, not garbage.
                d[4] ^= 1;
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
    let dir = harness::fresh_dir("soak");
    let (auth_port, acct_port) = (harness::free_udp_port(), harness::free_udp_port());
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port");
    let file = dir.join("server.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nauth_addr = \"127.0.0.1:{auth_port}\"\nacct_addr = \"127.0.0.1:{acct_port}\"\n\
             [admin]\naddr = \"{admin}\"\n\
             [database]\nurl = \"{url}\"\npool_size = 4\n\
             [accounting]\njournal_dir = \"{}\"\n\
             [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n\
             require_message_authenticator = \"require\"\n",
            dir.join("journal").display()
        ),
    )
    .unwrap();
    let log = dir.join("server.log");
    let _server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .arg("--config")
            .arg(&file)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start hotspot-radius"),
    );
    let auth_addr = SocketAddr::from(([127, 0, 0, 1], auth_port));
    let acct_addr = SocketAddr::from(([127, 0, 0, 1], acct_port));
    let nas = Nas::new(auth_addr, SECRET).await;
    let mut up = false;
    for _ in 0..100 {
        let req = nas.access_request("alice", "wonderland", Method::Pap, true);
        if nas
            .exchange_within(&req, Duration::from_millis(200))
            .await
            .is_some()
        {
            up = true;
            break;
        }
    }
    assert!(
        up,
        "server not answering; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
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
    let ports: [SocketAddr; 2] = [auth_addr, acct_addr];
    let mut rng = StdRng::seed_from_u64(0x5eed_50a4);
    let started = Instant::now();
    let before = counted(admin).await;
    let kernel_before = kernel_drops(&[auth_port, acct_port]);
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
        while counted(admin).await - before + kernel_drops(&[auth_port, acct_port]) - kernel_before
            < sent
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let lost = || kernel_drops(&[auth_port, acct_port]) - kernel_before;
    while counted(admin).await - before + lost() < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = counted(admin).await - before;
    let lost = lost();
    eprintln!(
        "soak: {sent} datagrams in {:.1?}, {seen} counted as dropped by the server, \
         {lost} dropped by the kernel (receive buffer full)",
        started.elapsed()
    );
    assert!(
        sent >= 100_000,
        "the time bound allowed only {sent} datagrams"
    );
    assert_eq!(
        seen + lost,
        sent,
        "every datagram that reached the server is counted as dropped"
    );
    assert!(
        lost * 100 <= sent,
        "the pacing keeps kernel drops under 1%: {lost} of {sent}"
    );
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
    let _ = std::fs::remove_dir_all(&dir);
}
