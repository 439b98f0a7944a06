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

use radius_proto::auth::chap;
use radius_proto::protocol::crypto::ct_eq;
use radius_proto::protocol::{
    AttributeWriter, Code, HEADER_LEN, MESSAGE_AUTHENTICATOR_LEN, Packet, ReplyVector, Signer,
    attrs,
};

use crate::args::TargetArgs;
use crate::error::LoadError;
use crate::sys::{self, BATCH, RecvBatch};

/// Length of every reply: the header and a Message-Authenticator.
const REPLY_LEN: usize = HEADER_LEN + MESSAGE_AUTHENTICATOR_LEN;

/// `hotspot-radius responder`: answer everything on the target's ports (to measure `bench`
/// and `replay` themselves).
#[derive(Debug, Clone, clap::Args)]
pub struct ResponderArgs {
    /// Where to listen (`--server` is the address to bind) and the secret to sign with.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Threads (`SO_REUSEPORT` sockets) per port.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// `hotspot-radius responder`: run the trivial responder until `--duration` passes or
/// Ctrl-C, then print how many requests it answered. Returns the exit code (0).
pub async fn run_responder(args: ResponderArgs) -> Result<i32, LoadError> {
    let (auth, acct) = args.target.auth_and_acct()?;
    let r = Responder::start(ResponderConfig {
        auth_addr: auth,
        acct_addr: Some(acct),
        secret: args.target.secret.clone(),
        threads: args.threads,
        users: None,
    })
    .map_err(LoadError::io(format!(
        "starting the responder on {auth} and {acct}"
    )))?;
    eprintln!("responder on {} and {}", r.auth_addr(), r.acct_addr());
    match args.duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(d)) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    let s = r.stop();
    eprintln!("responder answered {} requests", s.replied);
    Ok(0)
}

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
    fn decide(&self, packet: &Packet<'_>) -> Option<Code> {
        let code = packet.code();
        let reply = match code {
            Code::AccessRequest | Code::StatusServer => Code::AccessAccept,
            Code::AccountingRequest => Code::AccountingResponse,
            _ => return None,
        };
        let Some(users) = &self.users else {
            return Some(reply);
        };
        // Checking mode: authenticity first.
        if code == Code::AccountingRequest {
            return packet
                .verify_request_authenticator(&self.signer)
                .is_ok()
                .then_some(reply);
        }
        packet
            .verify_message_authenticator(&self.signer, None)
            .ok()?;
        if code == Code::StatusServer {
            return Some(reply);
        }
        let name = packet.attr_str(attrs::USER_NAME)?;
        let Some(password) = users.get(name) else {
            return Some(Code::AccessReject);
        };
        let ok = if packet.attr(attrs::USER_PASSWORD).is_some() {
            packet
                .user_password(&self.signer)
                .ok()
                .flatten()
                .is_some_and(|p| ct_eq(p.as_bytes(), password.as_bytes()))
        } else if let Some(chap_password) = packet.attr(attrs::CHAP_PASSWORD) {
            let challenge = packet
                .attr(attrs::CHAP_CHALLENGE)
                .unwrap_or(packet.authenticator());
            chap::verify(chap_password, challenge, password.as_bytes())
        } else {
            // MS-CHAP and others are accepted without checking.
            true
        };
        Some(if ok { reply } else { Code::AccessReject })
    }
}

/// A reply template: the header and a zeroed Message-Authenticator, as the responder
/// sends every reply (code, identifier and the signatures are filled per reply).
fn reply_template() -> [u8; REPLY_LEN] {
    let mut r = [0u8; REPLY_LEN];
    let mut w = AttributeWriter::new(&mut r);
    // 18 bytes after the header always fit a 38-byte buffer.
    let _ = w.add_message_authenticator();
    w.finish(Code::AccessAccept, 0);
    r
}

fn serve(sock: &UdpSocket, stop: &AtomicBool, counters: &Counters, checker: &Checker) {
    let fd = sock.as_raw_fd();
    let mut recv = RecvBatch::new();
    let mut replies = [reply_template(); BATCH];
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
            let Some((request, code)) = Packet::decode(data)
                .ok()
                .and_then(|p| Some((p, checker.decide(&p)?)))
            else {
                dropped += 1;
                continue;
            };
            let r = &mut replies[count];
            r[0] = code.as_u8();
            r[1] = request.identifier();
            let vector = ReplyVector::for_request(request.code());
            checker
                .signer
                .sign_reply(r, request.authenticator(), vector);
            if code == Code::AccessReject {
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

#[cfg(test)]
mod tests {
    use radius_proto::protocol::{AcctStatus, PacketBuilder};

    use super::*;

    fn checker(users: bool) -> Checker {
        Checker {
            signer: Signer::new(b"resp"),
            users: users.then(|| HashMap::from([("alice".to_owned(), "pw".to_owned())])),
        }
    }

    fn pap(signer: &Signer, user: &[u8], password: &[u8]) -> Vec<u8> {
        let auth = [7; 16];
        let mut b = PacketBuilder::new(Code::AccessRequest, 1).with_message_authenticator();
        b.add(attrs::USER_NAME, user).unwrap();
        b.add_user_password(password, signer, &auth).unwrap();
        b.sign_access_request(&auth, signer).unwrap()
    }

    fn decide(c: &Checker, bytes: &[u8]) -> Option<Code> {
        c.decide(&Packet::decode(bytes).unwrap())
    }

    #[test]
    fn checking_mode_checks_passwords_and_signatures() {
        let c = checker(true);
        let wrong = Signer::new(b"wrong");
        assert_eq!(
            decide(&c, &pap(&c.signer, b"alice", b"pw")),
            Some(Code::AccessAccept)
        );
        assert_eq!(
            decide(&c, &pap(&c.signer, b"alice", b"px")),
            Some(Code::AccessReject)
        );
        assert_eq!(
            decide(&c, &pap(&c.signer, b"bob", b"pw")),
            Some(Code::AccessReject)
        );
        assert_eq!(
            decide(&c, &pap(&wrong, b"alice", b"pw")),
            None,
            "bad MA: dropped"
        );
        let mut b = PacketBuilder::new(Code::AccountingRequest, 2);
        b.add_u32(attrs::ACCT_STATUS_TYPE, AcctStatus::Start.as_u32())
            .unwrap();
        let acct = b.sign_computed_request(&c.signer).unwrap();
        assert_eq!(decide(&c, &acct), Some(Code::AccountingResponse));
        let mut forged = acct.clone();
        forged[4] ^= 1;
        assert_eq!(decide(&c, &forged), None);
        // Without a user table everything known is answered.
        assert_eq!(
            decide(&checker(false), &forged),
            Some(Code::AccountingResponse)
        );
        let coa = PacketBuilder::new(Code::CoaRequest, 3)
            .sign_computed_request(&c.signer)
            .unwrap();
        assert_eq!(decide(&checker(false), &coa), None);
    }

    #[test]
    fn replies_verify_against_the_request() {
        let c = checker(false);
        let request = pap(&c.signer, b"alice", b"pw");
        let request = Packet::decode(&request).unwrap();
        let mut r = reply_template();
        r[1] = request.identifier();
        c.signer
            .sign_reply(&mut r, request.authenticator(), ReplyVector::Request);
        let reply = c
            .signer
            .verify_reply(&r, request.authenticator(), ReplyVector::Request)
            .unwrap();
        assert_eq!(reply.code(), Code::AccessAccept);
        assert!(reply.has_message_authenticator());
    }
}
