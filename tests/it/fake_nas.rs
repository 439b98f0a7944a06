//! `FakeNas`: a scripted stand-in for a MikroTik's `/radius incoming` (RFC 5176 server
//! side), for tests of everything that sends Disconnect or CoA requests.
//!
//! It listens on 127.0.0.1:0 on its own thread (std UDP, so it works under any tokio
//! runtime flavour and outlives none: dropping it stops the thread). Every datagram is
//! decoded and checked as a real NAS would: code (Disconnect- or CoA-Request), Request
//! Authenticator and Message-Authenticator (required) with the shared secret. A request
//! that fails a check is recorded with the reason and, like on a NAS, not answered. A good
//! one is answered per the script: ACK, NAK (with an optional Error-Cause), silence, or an
//! arbitrary code; replies carry a Message-Authenticator (first) and a Response
//! Authenticator, signed with the secret or, to test verification, another one.
//!
//! Only `radius_proto`'s public API and std are used.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use radius_proto::protocol::{
    Code, MAX_PACKET_LEN, Packet, PacketBuilder, ReplyVector, Signer, VENDOR_SPECIFIC, attrs,
};

/// How the fake NAS answers one (valid) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Disconnect-ACK or CoA-ACK, matching the request.
    Ack,
    /// Disconnect-NAK or CoA-NAK, with this Error-Cause when `Some`.
    Nak(Option<u32>),
    /// No answer (the request is still recorded).
    Silent,
    /// Answer with this code whatever the request was (a CoA-ACK to a Disconnect, say).
    Code(Code),
}

/// One request as the fake NAS received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// Where it came from.
    pub from: SocketAddr,
    /// Packet code.
    pub code: Code,
    /// Identifier.
    pub identifier: u8,
    /// User-Name (as text, lossily).
    pub user_name: Option<String>,
    /// Acct-Session-Id (as text, lossily).
    pub acct_session_id: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<Ipv4Addr>,
    /// NAS-IP-Address or NAS-IPv6-Address.
    pub nas_ip: Option<IpAddr>,
    /// Whether a Message-Authenticator was present.
    pub has_message_authenticator: bool,
    /// Every other attribute in order as `(vendor, type, value)`: vendor 0 for standard
    /// attributes, Vendor-Specific expanded into its sub-attributes.
    pub other: Vec<(u32, u8, Vec<u8>)>,
    /// Why the request failed the NAS's checks (then it was not answered); `None` when good.
    pub problem: Option<String>,
    /// The datagram as received.
    pub raw: Vec<u8>,
}

impl ReceivedRequest {
    /// The first `(vendor, type)` value among [`ReceivedRequest::other`].
    pub fn attr(&self, vendor: u32, typ: u8) -> Option<&[u8]> {
        self.other
            .iter()
            .find(|(v, t, _)| *v == vendor && *t == typ)
            .map(|(_, _, value)| value.as_slice())
    }
}

/// What the socket thread and the test share.
#[derive(Debug)]
struct State {
    /// One-shot behaviours, used in order before `behaviour`.
    script: VecDeque<Behaviour>,
    /// The behaviour once the script is exhausted.
    behaviour: Behaviour,
    /// Replies are signed with this secret instead of the NAS's, when set.
    reply_secret: Option<Vec<u8>>,
    /// Every decodable datagram, in arrival order.
    requests: Vec<ReceivedRequest>,
    /// Datagrams that did not even decode, with the reason.
    undecodable: Vec<String>,
}

/// A fake NAS listening for Disconnect and CoA requests on 127.0.0.1. See the module doc.
#[derive(Debug)]
pub struct FakeNas {
    addr: SocketAddr,
    shared: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNas {
    /// Start a fake NAS with this shared secret that answers every request with `behaviour`.
    pub fn start(secret: &[u8], behaviour: Behaviour) -> Self {
        Self::start_on("127.0.0.1", secret, behaviour)
    }

    /// [`FakeNas::start`] on another loopback address (`127.0.0.3`), for a second NAS.
    pub fn start_on(ip: &str, secret: &[u8], behaviour: Behaviour) -> Self {
        let socket =
            UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind fake NAS on {ip}:0: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("set_read_timeout");
        let addr = socket.local_addr().expect("local_addr");
        let shared = Arc::new((
            Mutex::new(State {
                script: VecDeque::new(),
                behaviour,
                reply_secret: None,
                requests: Vec::new(),
                undecodable: Vec::new(),
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop, secret) = (shared.clone(), stop.clone(), secret.to_vec());
            std::thread::Builder::new()
                .name("fake-nas".into())
                .spawn(move || serve(&socket, &secret, &shared, &stop))
                .expect("spawn fake NAS thread")
        };
        Self {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// The address to send requests to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answer every further request with `behaviour` (after any scripted ones).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// Use these behaviours, one per request and in order, before the standing one (e.g.
    /// `[Silent]` then `Ack`: the first attempt is lost, the retransmission answered).
    pub fn push_script(&self, script: impl IntoIterator<Item = Behaviour>) {
        self.state().script.extend(script);
    }

    /// Sign replies with `secret` instead of the NAS's own (`None`: back to normal).
    /// Requests are still checked with the NAS's secret.
    pub fn set_reply_secret(&self, secret: Option<&[u8]>) {
        self.state().reply_secret = secret.map(<[u8]>::to_vec);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.state().requests.clone()
    }

    /// Every check failure so far: requests that did not verify (with their problem) and
    /// datagrams that did not decode. Empty when everything received was good.
    pub fn failures(&self) -> Vec<String> {
        let state = self.state();
        let bad = state.requests.iter().filter_map(|r| r.problem.clone());
        bad.chain(state.undecodable.iter().cloned()).collect()
    }

    /// Block the calling thread until at least `n` requests have arrived and return them
    /// all; panics after `timeout` with what did arrive.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let (lock, cond) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        while state.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "fake NAS: {} of {n} requests within {timeout:?}: {:?}",
                state.requests.len(),
                state.requests
            );
            state = cond
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.requests.clone()
    }
}

impl Drop for FakeNas {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The socket thread: receive, check, record, answer, until `stop`.
fn serve(socket: &UdpSocket, secret: &[u8], shared: &(Mutex<State>, Condvar), stop: &AtomicBool) {
    let signer = Signer::new(secret);
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue; // read timeout: look at `stop` again
        };
        let datagram = &buf[..n];
        let (lock, cond) = shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        let packet = match Packet::decode(datagram) {
            Ok(p) => p,
            Err(e) => {
                state
                    .undecodable
                    .push(format!("from {from}: does not decode: {e}"));
                cond.notify_all();
                continue;
            }
        };
        let mut received = record(&packet, from);
        received.problem = check(&packet, &signer);
        let answer = received.problem.is_none();
        state.requests.push(received);
        let behaviour = state.script.pop_front().unwrap_or(state.behaviour);
        let reply_signer = state.reply_secret.as_deref().map(Signer::new);
        cond.notify_all();
        drop(state);
        if !answer {
            continue;
        }
        if let Some(reply) = reply(&packet, behaviour, reply_signer.as_ref().unwrap_or(&signer)) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

/// Decode the interesting parts of a request.
fn record(packet: &Packet<'_>, from: SocketAddr) -> ReceivedRequest {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut r = ReceivedRequest {
        from,
        code: packet.code(),
        identifier: packet.identifier(),
        user_name: None,
        acct_session_id: None,
        framed_ip: None,
        nas_ip: None,
        has_message_authenticator: packet.has_message_authenticator(),
        other: Vec::new(),
        problem: None,
        raw: packet.as_bytes().to_vec(),
    };
    for a in packet.attributes() {
        match a.typ {
            attrs::USER_NAME => r.user_name = Some(text(a.value)),
            attrs::ACCT_SESSION_ID => r.acct_session_id = Some(text(a.value)),
            attrs::FRAMED_IP_ADDRESS if a.as_ipv4().is_ok() => {
                r.framed_ip = a.as_ipv4().ok();
            }
            attrs::NAS_IP_ADDRESS if a.as_ipv4().is_ok() => {
                r.nas_ip = a.as_ipv4().ok().map(IpAddr::V4);
            }
            attrs::NAS_IPV6_ADDRESS if a.value.len() == 16 => {
                let octets: [u8; 16] = a.value.try_into().unwrap_or([0; 16]);
                r.nas_ip = Some(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            attrs::MESSAGE_AUTHENTICATOR => {}
            VENDOR_SPECIFIC => match a.vendor_attributes() {
                Some(vsas) => r
                    .other
                    .extend(vsas.map(|v| (v.vendor, v.typ, v.value.to_vec()))),
                None => r.other.push((0, a.typ, a.value.to_vec())),
            },
            typ => r.other.push((0, typ, a.value.to_vec())),
        }
    }
    r
}

/// What a NAS would refuse about this request, if anything.
fn check(packet: &Packet<'_>, signer: &Signer) -> Option<String> {
    let id = packet.identifier();
    if !matches!(packet.code(), Code::DisconnectRequest | Code::CoaRequest) {
        return Some(format!(
            "id {id}: {} is not a dynamic-authorization request",
            packet.code()
        ));
    }
    if let Err(e) = packet.verify_request_authenticator(signer) {
        return Some(format!("id {id}: {e}"));
    }
    match packet.verify_message_authenticator(signer, None) {
        Ok(true) => None,
        Ok(false) => Some(format!("id {id}: no Message-Authenticator")),
        Err(e) => Some(format!("id {id}: {e}")),
    }
}

/// The signed reply `behaviour` calls for, if any.
fn reply(request: &Packet<'_>, behaviour: Behaviour, signer: &Signer) -> Option<Vec<u8>> {
    let disconnect = request.code() == Code::DisconnectRequest;
    let (code, cause) = match behaviour {
        Behaviour::Silent => return None,
        Behaviour::Ack if disconnect => (Code::DisconnectAck, None),
        Behaviour::Ack => (Code::CoaAck, None),
        Behaviour::Nak(cause) if disconnect => (Code::DisconnectNak, cause),
        Behaviour::Nak(cause) => (Code::CoaNak, cause),
        Behaviour::Code(code) => (code, None),
    };
    let mut b = PacketBuilder::reply(request, code);
    if let Some(cause) = cause {
        b.add_u32(attrs::ERROR_CAUSE, cause).ok()?;
    }
    b.sign_response(request.authenticator(), ReplyVector::Request, signer)
        .ok()
}
