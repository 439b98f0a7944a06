//! A trivial RADIUS responder, to measure `bench` and `replay` themselves and to test them.
//!
//! It answers every Access-Request (and Status-Server) with a signed Access-Accept and every
//! Accounting-Request with a signed Accounting-Response, Message-Authenticator first. Given a
//! user table it becomes a checking responder: requests with a wrong Message-Authenticator
//! or Accounting Request Authenticator are dropped and counted, and PAP / CHAP credentials
//! are checked (Access-Reject when wrong), so tests can tell a correctly re-signed request
//! from a wrongly signed one. Threads use batched I/O over `SO_REUSEPORT` sockets.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use md5::{Digest, Md5};

use super::sys::{self, BATCH, RecvBatch};
use super::wire::{self, MA_ATTR_LEN, Signer};
use radius_proto::protocol::attrs;
use radius_proto::protocol::crypto::ct_eq;

/// How to run a responder.
#[derive(Clone)]
pub struct ResponderConfig {
    /// Authentication address (port 0 picks a free port).
    pub auth_addr: SocketAddr,
    /// Accounting address; `None` picks a free port on the authentication address's IP.
    pub acct_addr: Option<SocketAddr>,
    /// Shared secret.
    pub secret: String,
    /// Threads (sockets) per address.
    pub threads: usize,
    /// When given: verify request authenticity and check PAP/CHAP passwords against this
    /// user → password table.
    pub users: Option<HashMap<String, String>>,
}

impl std::fmt::Debug for ResponderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderConfig")
            .field("auth_addr", &self.auth_addr)
            .field("acct_addr", &self.acct_addr)
            .field("threads", &self.threads)
            .field("users", &self.users.as_ref().map(HashMap::len))
            .finish_non_exhaustive()
    }
}

/// Counters of a responder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponderStats {
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Access-Rejects among them (checking mode).
    pub rejected: u64,
    /// Requests dropped: malformed, unknown code, or failed verification (checking mode).
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    replied: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
}

/// A running responder; stops its threads when dropped.
#[derive(Debug)]
pub struct Responder {
    auth: SocketAddr,
    acct: SocketAddr,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
    s.set_reuse_port(true)?;
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

impl Responder {
    /// Bind and start answering.
    pub fn start(cfg: ResponderConfig) -> std::io::Result<Self> {
        let threads = cfg.threads.max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let checker = Arc::new(Checker {
            signer: Signer::new(cfg.secret.as_bytes()),
            users: cfg.users,
        });
        let first_auth = bind_reuseport(cfg.auth_addr)?;
        let auth = first_auth.local_addr()?;
        let first_acct = bind_reuseport(
            cfg.acct_addr
                .unwrap_or_else(|| SocketAddr::new(auth.ip(), 0)),
        )?;
        let acct = first_acct.local_addr()?;
        let mut sockets = vec![first_auth, first_acct];
        for _ in 1..threads {
            sockets.push(bind_reuseport(auth)?);
            sockets.push(bind_reuseport(acct)?);
        }
        let mut handles = Vec::new();
        for (i, sock) in sockets.into_iter().enumerate() {
            let (stop, counters, checker) = (stop.clone(), counters.clone(), checker.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("responder-{i}"))
                    .spawn(move || serve(&sock, &stop, &counters, &checker))?,
            );
        }
        Ok(Self {
            auth,
            acct,
            stop,
            counters,
            threads: handles,
        })
    }

    /// The bound authentication address.
    pub fn auth_addr(&self) -> SocketAddr {
        self.auth
    }

    /// The bound accounting address.
    pub fn acct_addr(&self) -> SocketAddr {
        self.acct
    }

    /// Counters so far.
    pub fn stats(&self) -> ResponderStats {
        ResponderStats {
            received: self.counters.received.load(Ordering::Relaxed),
            replied: self.counters.replied.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stop the threads and wait for them.
    pub fn stop(mut self) -> ResponderStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Checker {
    signer: Signer,
    users: Option<HashMap<String, String>>,
}

impl Checker {
    /// Decide the reply code for a request, or `None` to drop it.
    fn decide(&self, pkt: &[u8]) -> Option<u8> {
        let pkt = wire::packet_bytes(pkt)?;
        let code = *pkt.first()?;
        let attrs_bytes = pkt.get(20..)?;
        let reply = match code {
            1 | 12 => 2,
            4 => 5,
            _ => return None,
        };
        let Some(users) = &self.users else {
            return Some(reply);
        };
        // Checking mode.
        if self.signer.verify_request_ma(pkt, code == 4).is_err() {
            return None;
        }
        if code == 4 {
            return self.signer.verify_computed_request(pkt).then_some(5);
        }
        if code == 12 {
            return Some(2);
        }
        let value = |typ| {
            wire::find_attr(attrs_bytes, typ)
                .ok()
                .flatten()
                .and_then(|(o, l)| attrs_bytes.get(o..o + l))
        };
        let name = value(attrs::USER_NAME).and_then(|v| std::str::from_utf8(v).ok())?;
        let Some(password) = users.get(name) else {
            return Some(3);
        };
        let auth: [u8; 16] = pkt.get(4..20)?.try_into().ok()?;
        if let Some(hidden) = value(attrs::USER_PASSWORD) {
            let mut plain = [0u8; 128];
            if hidden.len() % 16 != 0 || hidden.len() > 128 {
                return Some(3);
            }
            let n = self.signer.unhide_password(hidden, &auth, &mut plain);
            return Some(if ct_eq(&plain[..n], password.as_bytes()) {
                2
            } else {
                3
            });
        }
        if let Some(chap) = value(attrs::CHAP_PASSWORD) {
            let challenge = value(attrs::CHAP_CHALLENGE).unwrap_or(&auth);
            let (ident, hash) = chap.split_first()?;
            let mut m = Md5::new();
            m.update([*ident]);
            m.update(password.as_bytes());
            m.update(challenge);
            let expected: [u8; 16] = m.finalize().into();
            return Some(if ct_eq(&expected, hash) { 2 } else { 3 });
        }
        // MS-CHAP and others are accepted without checking.
        Some(reply)
    }
}

fn serve(sock: &UdpSocket, stop: &AtomicBool, counters: &Counters, checker: &Checker) {
    let fd = sock.as_raw_fd();
    let mut recv = RecvBatch::new();
    let mut replies = [[0u8; 20 + MA_ATTR_LEN]; BATCH];
    let placeholder_addr = sys::RawAddr::new(SocketAddr::from(([0, 0, 0, 0], 0)));
    let placeholder = &placeholder_addr;
    while !stop.load(Ordering::Relaxed) {
        let n = recv.recv(fd).unwrap_or(0);
        if n == 0 {
            let _ = sys::wait_readable(fd, Duration::from_millis(50));
            continue;
        }
        let mut count = 0;
        let (mut dropped, mut rejected) = (0, 0);
        let mut targets: [Option<sys::RawAddr>; BATCH] = [None; BATCH];
        for i in 0..n {
            let Some((data, from)) = recv.get(i) else {
                continue;
            };
            let Some(code) = checker.decide(data) else {
                dropped += 1;
                continue;
            };
            let (Some(&id), Some(req_auth)) = (data.get(1), data.get(4..20)) else {
                dropped += 1;
                continue;
            };
            let mut req = [0u8; 16];
            req.copy_from_slice(req_auth);
            let r = &mut replies[count];
            wire::put_header(r, code, id, 20 + MA_ATTR_LEN);
            r[20] = attrs::MESSAGE_AUTHENTICATOR;
            r[21] = MA_ATTR_LEN as u8;
            checker.signer.sign_response(r, &req, Some(22));
            if code == 3 {
                rejected += 1;
            }
            targets[count] = Some(from);
            count += 1;
        }
        let mut batch: [(&[u8], &sys::RawAddr); BATCH] = [(&[], placeholder); BATCH];
        let mut k = 0;
        for (i, t) in targets.iter().enumerate().take(count) {
            if let Some(a) = t {
                batch[k] = (&replies[i][..], a);
                k += 1;
            }
        }
        let sent = sys::send_many(fd, &batch[..k], false).unwrap_or(0);
        counters.received.fetch_add(n as u64, Ordering::Relaxed);
        counters.replied.fetch_add(sent as u64, Ordering::Relaxed);
        counters.rejected.fetch_add(rejected, Ordering::Relaxed);
        counters.dropped.fetch_add(dropped, Ordering::Relaxed);
    }
}
