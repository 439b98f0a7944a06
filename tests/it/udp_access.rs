//! The UDP server on 127.0.0.1:0 driven by raw packets, with an in-memory backend: the
//! protocol cases (methods, Message-Authenticator policy, duplicates, unknown NAS, garbage,
//! Status-Server, backend down). The same `Nas` client drives the PostgreSQL end-to-end
//! suite in `e2e`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotspot_radius::accounting::{AcctError, AcctSink};
use hotspot_radius::clients::{ClientTable, Clients};
use hotspot_radius::config::{MessageAuthenticatorPolicy, NasConfig};
use hotspot_radius::handler::Context;
use hotspot_radius::metrics::reason;
use hotspot_radius::model::{AcctRecord, PostAuthRecord, RadRow, UserRows};
use hotspot_radius::policy::Profile;
use hotspot_radius::profiles::{LookupError, UserSource};
use hotspot_radius::server::{ReceiverHealth, Server, ServerOptions};
use hotspot_radius::store::StoreError;
use radius_proto::auth::{chap, mschapv2};
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::attrs::{self, microsoft as ms, mikrotik};
use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder, ReplyVector, Signer};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long "no reply" is waited for where the drop cannot be confirmed from the metrics.
/// Not a timing assertion: a reply to such a request that comes at any later point of the
/// test fails it too (see [`Nas`]).
pub const SILENCE: Duration = Duration::from_millis(700);
/// Bound on waiting for a reply that must come.
pub const REPLY_WAIT: Duration = Duration::from_secs(5);

/// Authentication method for a test request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// User-Password.
    Pap,
    /// CHAP-Password + CHAP-Challenge.
    Chap,
    /// MS-CHAP-Challenge + MS-CHAP2-Response.
    MsChapV2,
}

/// A fake NAS: one UDP socket, one secret.
///
/// Identifiers are allocated in sequence, as a NAS does, so a late reply to an earlier
/// request never carries the identifier of the one being waited for. Every request that
/// must get no reply ([`Nas::expect_dropped`], [`Nas::expect_silence`]) is remembered: a
/// reply to one of them that arrives later in the test (seen by a later exchange, or
/// waiting in the socket when the `Nas` is dropped) fails the test.
pub struct Nas {
    socket: UdpSocket,
    signer: Signer,
    server: SocketAddr,
    next_id: AtomicU8,
    /// (identifier, authenticator, what was expected) of requests that must stay unanswered.
    unanswered: Mutex<Vec<(u8, [u8; 16], String)>>,
}

/// A request ready to send, with what is needed to check the reply.
pub struct Request {
    /// The datagram.
    pub bytes: Vec<u8>,
    /// Its authenticator.
    pub authenticator: [u8; 16],
}

impl Nas {
    /// A NAS on 127.0.0.1:0 talking to `server`.
    pub async fn new(server: SocketAddr, secret: &str) -> Self {
        Self::new_at("127.0.0.1:0", server, secret).await
    }

    /// A NAS on `local` talking to `server`.
    pub async fn new_at(local: &str, server: SocketAddr, secret: &str) -> Self {
        Self {
            socket: UdpSocket::bind(local).await.expect("bind NAS socket"),
            signer: Signer::new(secret.as_bytes()),
            server,
            next_id: AtomicU8::new(rand::random()),
            unanswered: Mutex::new(Vec::new()),
        }
    }

    /// The next request identifier (sequential, wrapping).
    fn next_id(&self) -> u8 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Point at another server port (e.g. accounting).
    pub fn to(mut self, server: SocketAddr) -> Self {
        self.server = server;
        self
    }

    /// An Access-Request with MikroTik-hotspot attributes, signed with a
    /// Message-Authenticator when `with_ma`.
    pub fn access_request(
        &self,
        user: &str,
        password: &str,
        method: Method,
        with_ma: bool,
    ) -> Request {
        let authenticator: [u8; 16] = rand::random();
        let mut b = PacketBuilder::new(Code::AccessRequest, self.next_id());
        if with_ma {
            b = b.with_message_authenticator();
        }
        b.add(attrs::USER_NAME, user.as_bytes()).unwrap();
        b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
        b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
        b.add(attrs::CALLING_STATION_ID, b"AA:BB:CC:DD:EE:FF")
            .unwrap();
        b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
        b.add_u32(attrs::SERVICE_TYPE, 1).unwrap();
        b.add(attrs::FRAMED_IP_ADDRESS, &[10, 5, 50, 2]).unwrap();
        b.add_vendor(14122, 1, b"isocc=ng,cc=234,ac=1,network=Hotspot")
            .unwrap();
        b.add_vendor(mikrotik::VENDOR_ID, mikrotik::HOST_IP, &[10, 5, 50, 2])
            .unwrap();
        match method {
            Method::Pap => {
                b.add_user_password(password.as_bytes(), &self.signer, &authenticator)
                    .unwrap();
            }
            Method::Chap => {
                let challenge: [u8; 16] = rand::random();
                b.add(attrs::CHAP_CHALLENGE, &challenge).unwrap();
                b.add(
                    attrs::CHAP_PASSWORD,
                    &chap::chap_password(7, password.as_bytes(), &challenge),
                )
                .unwrap();
            }
            Method::MsChapV2 => {
                let auth_challenge: [u8; 16] = rand::random();
                let peer: [u8; 16] = rand::random();
                let resp = mschapv2::client_response(
                    3,
                    &auth_challenge,
                    &peer,
                    user.as_bytes(),
                    password.as_bytes(),
                );
                b.add_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &auth_challenge)
                    .unwrap();
                b.add_vendor(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &resp)
                    .unwrap();
            }
        }
        let bytes = b.sign_access_request(&authenticator, &self.signer).unwrap();
        Request {
            bytes,
            authenticator,
        }
    }

    /// A Status-Server with a Message-Authenticator.
    pub fn status_server(&self) -> Request {
        let authenticator: [u8; 16] = rand::random();
        let b = PacketBuilder::new(Code::StatusServer, self.next_id()).with_message_authenticator();
        let bytes = b.sign_access_request(&authenticator, &self.signer).unwrap();
        Request {
            bytes,
            authenticator,
        }
    }

    /// An Accounting-Request for a MikroTik hotspot session.
    pub fn accounting_request(
        &self,
        user: &str,
        session: &str,
        status: u32,
        octets: (u32, u32, u32),
    ) -> Request {
        let mut b = PacketBuilder::new(Code::AccountingRequest, self.next_id());
        b.add_u32(attrs::ACCT_STATUS_TYPE, status).unwrap();
        b.add(attrs::USER_NAME, user.as_bytes()).unwrap();
        b.add(attrs::ACCT_SESSION_ID, session.as_bytes()).unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
        b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
        b.add_u32(attrs::NAS_PORT, 15728640).unwrap();
        b.add(attrs::NAS_PORT_ID, b"bridge-hotspot").unwrap();
        b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
        b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
        b.add(attrs::CALLING_STATION_ID, b"AA:BB:CC:DD:EE:FF")
            .unwrap();
        b.add(attrs::FRAMED_IP_ADDRESS, &[10, 5, 50, 2]).unwrap();
        b.add_u32(attrs::ACCT_AUTHENTIC, 1).unwrap();
        b.add_u32(attrs::ACCT_DELAY_TIME, 0).unwrap();
        if status != AcctStatus::Start.as_u32() {
            b.add_u32(attrs::ACCT_SESSION_TIME, 120).unwrap();
            b.add_u32(attrs::ACCT_INPUT_OCTETS, octets.0).unwrap();
            b.add_u32(attrs::ACCT_OUTPUT_OCTETS, octets.1).unwrap();
            b.add_u32(attrs::ACCT_INPUT_GIGAWORDS, octets.2).unwrap();
        }
        if status == AcctStatus::Stop.as_u32() {
            b.add_u32(attrs::ACCT_TERMINATE_CAUSE, 1).unwrap();
        }
        let bytes = b.sign_computed_request(&self.signer).unwrap();
        let authenticator = bytes[4..20].try_into().unwrap();
        Request {
            bytes,
            authenticator,
        }
    }

    /// Send raw bytes.
    pub async fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.expect("send");
    }

    /// The next datagram from the server within `wait`, if any.
    pub async fn recv(&self, wait: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, from) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
                .await
                .ok()?
                .expect("recv");
            if from == self.server {
                return Some(buf[..n].to_vec());
            }
        }
    }

    /// Send and wait for the reply; `None` when none came within `wait`. A reply must
    /// verify (Response Authenticator and Message-Authenticator, which must be present).
    pub async fn exchange_within(&self, req: &Request, wait: Duration) -> Option<Vec<u8>> {
        self.send(&req.bytes).await;
        // A late answer to an earlier request (one we stopped waiting for) is skipped, as
        // a NAS skips replies whose identifier it no longer waits on.
        let deadline = tokio::time::Instant::now() + wait;
        let reply = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reply = self.recv(left).await?;
            if reply.get(1) == req.bytes.get(1) {
                break reply;
            }
            self.check_not_a_late_reply(&reply);
        };
        let p = Packet::decode(&reply).expect("reply decodes");
        assert_eq!(p.identifier(), req.bytes[1], "reply identifier");
        p.verify_response(&req.authenticator, ReplyVector::Request, &self.signer)
            .expect("reply verifies");
        // Access-* and Status-Server replies carry Message-Authenticator first (BlastRADIUS);
        // replies to Accounting-Request do not.
        if req.bytes[0] == Code::AccountingRequest.as_u8() {
            assert!(
                !p.has_message_authenticator(),
                "no MA in Accounting-Response"
            );
        } else {
            assert_eq!(
                p.attributes().next().map(|a| a.typ),
                Some(attrs::MESSAGE_AUTHENTICATOR),
                "Message-Authenticator is the first attribute"
            );
        }
        Some(reply)
    }

    /// Send and wait for the reply, which must come.
    pub async fn exchange(&self, req: &Request) -> Vec<u8> {
        self.exchange_within(req, REPLY_WAIT)
            .await
            .expect("a reply within the bounded wait")
    }

    /// Send, expect no reply: waits [`SILENCE`] for none. Prefer [`Nas::expect_dropped`],
    /// which confirms why the server dropped it; this is for a server whose drop reasons
    /// are not counted in this process.
    #[allow(dead_code)]
    pub async fn expect_silence(&self, req: &Request) {
        self.silence(req, "no reply").await;
    }

    async fn silence(&self, req: &Request, why: &str) {
        self.remember_unanswered(req, why);
        if let Some(reply) = self.exchange_within(req, SILENCE).await {
            panic!(
                "a {:?} arrived for a request that was to get no reply ({why})",
                code_of(&reply)
            );
        }
    }

    /// Send, expect the server to drop the request for `reason` (`radius_dropped_total`):
    /// waits (bounded) until that counter has grown, when the metrics recorder is
    /// installed in this process (the counter is shared with every test running here, so
    /// this proves a drop for that reason, the late-reply check proves it was this one).
    /// Without a recorder (or for an in-memory server started before it was installed) it
    /// waits [`SILENCE`] for no reply. Either way, a reply to this request that comes at
    /// any later point of the test fails it.
    pub async fn expect_dropped(&self, req: &Request, reason: &'static str) {
        let counted = !UNCOUNTED.lock().unwrap().contains(&self.server);
        let Some(before) = dropped_count(reason).filter(|_| counted) else {
            self.silence(req, reason).await;
            return;
        };
        self.remember_unanswered(req, reason);
        self.send(&req.bytes).await;
        let deadline = tokio::time::Instant::now() + REPLY_WAIT;
        loop {
            let now = dropped_count(reason).unwrap_or(before);
            if now > before {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "radius_dropped_total{{reason=\"{reason}\"}} did not grow from {before} within {REPLY_WAIT:?}"
            );
            // Anything that arrives meanwhile is either a late reply to an earlier request
            // or a reply to this one: both fail the test (or are skipped) right here.
            if let Some(reply) = self.recv(Duration::from_millis(20)).await {
                self.check_not_a_late_reply(&reply);
            }
        }
    }

    fn remember_unanswered(&self, req: &Request, why: &str) {
        let Some(&id) = req.bytes.get(1) else { return };
        self.unanswered
            .lock()
            .unwrap()
            .push((id, req.authenticator, why.to_owned()));
    }

    /// Fails the test if `reply` answers a request that was to get no reply; otherwise it
    /// is a late reply to a request we stopped waiting for, and is skipped.
    fn check_not_a_late_reply(&self, reply: &[u8]) {
        let Ok(p) = Packet::decode(reply) else { return };
        let unanswered = self.unanswered.lock().unwrap();
        for (id, authenticator, why) in unanswered.iter() {
            if p.identifier() == *id
                && p.verify_response(authenticator, ReplyVector::Request, &self.signer)
                    .is_ok()
            {
                panic!(
                    "a {:?} arrived for a request that was to get no reply ({why})",
                    p.code()
                );
            }
        }
    }
}

impl Drop for Nas {
    /// Replies still waiting in the socket are checked too (without waiting for more).
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // A duplicate of the descriptor read directly: tokio's cached readiness may not
        // know yet about a datagram that is already queued.
        use std::os::fd::AsFd;
        let Ok(fd) = self.socket.as_fd().try_clone_to_owned() else {
            return;
        };
        let socket = std::net::UdpSocket::from(fd);
        if socket.set_nonblocking(true).is_err() {
            return;
        }
        let mut buf = vec![0u8; 4096];
        for _ in 0..1024 {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) if from == self.server => self.check_not_a_late_reply(&buf[..n]),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}

/// Servers whose drops are not counted: in-memory ones started before any recorder was
/// installed in this process (their receive threads keep no-op metric handles).
static UNCOUNTED: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());

/// The value of `radius_dropped_total{reason}` in this process's metrics recorder; `None`
/// when no recorder is installed. `app::start` installs it; the in-memory harness here does
/// not (its drops would add to the totals that other tests in the process count, e.g. the
/// soak test), so its servers count drops only if an `app::start` test ran first.
pub fn dropped_count(reason: &str) -> Option<f64> {
    let text = hotspot_radius::metrics::handle()?.render();
    let want = format!("reason=\"{reason}\"");
    Some(
        text.lines()
            .filter(|l| l.starts_with("radius_dropped_total{") && l.contains(&want))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

/// The reply code of a datagram.
pub fn code_of(reply: &[u8]) -> Code {
    Packet::decode(reply).expect("decodes").code()
}

// ---------------------------------------------------------------------------------------
// In-memory backend

/// Users as rows (compiled per lookup), accounting kept in memory; switchable "down".
#[derive(Default)]
struct Memory {
    users: Mutex<HashMap<String, UserRows>>,
    accounting: Mutex<Vec<AcctRecord>>,
    post_auth: Mutex<Vec<PostAuthRecord>>,
    down: AtomicBool,
    dict: Dictionary,
}

#[derive(Clone)]
struct MemoryBackend(Arc<Memory>);

/// What the fake reports while "down": the error a pool timeout gives.
fn down() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolTimedOut)
}

impl UserSource for MemoryBackend {
    async fn user(&self, username: &str) -> Result<Option<Arc<Profile>>, LookupError> {
        // Injected bugs: a panic in the inline first poll, and one after the request had
        // to wait (inside a spawned task).
        assert_ne!(username, "panic-now", "injected panic");
        if username == "panic-later" {
            tokio::task::yield_now().await;
            panic!("injected panic after a wait");
        }
        if self.0.down.load(Ordering::SeqCst) {
            return Err(down().into());
        }
        let users = self.0.users.lock().unwrap();
        Ok(users
            .get(username)
            .map(|rows| Arc::new(Profile::compile(rows, &self.0.dict))))
    }
}

impl AcctSink for MemoryBackend {
    async fn write_accounting(&self, record: AcctRecord) -> Result<(), AcctError> {
        if self.0.down.load(Ordering::SeqCst) {
            return Err(AcctError::JournalFull);
        }
        self.0.accounting.lock().unwrap().push(record);
        Ok(())
    }

    fn post_auth(&self, record: PostAuthRecord) -> bool {
        self.0.post_auth.lock().unwrap().push(record);
        true
    }
}

fn row(attribute: &str, op: &str, value: &str) -> RadRow {
    RadRow {
        attribute: attribute.into(),
        op: op.into(),
        value: value.into(),
    }
}

fn user(name: &str, password: &str, reply: Vec<RadRow>) -> UserRows {
    UserRows {
        username: name.into(),
        check: vec![row("Cleartext-Password", ":=", password)],
        reply,
        groups: vec![],
    }
}

struct Harness {
    auth: SocketAddr,
    acct: SocketAddr,
    health: ReceiverHealth,
    memory: Arc<Memory>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start(policy: MessageAuthenticatorPolicy) -> Self {
        let counted = hotspot_radius::metrics::handle().is_some();
        let memory = Arc::new(Memory {
            dict: Dictionary::builtin(),
            ..Memory::default()
        });
        {
            let mut u = memory.users.lock().unwrap();
            u.insert(
                "alice".into(),
                user(
                    "alice",
                    "wonderland",
                    vec![
                        row("Mikrotik-Rate-Limit", "=", "2M/5M"),
                        row("Session-Timeout", "=", "3600"),
                    ],
                ),
            );
        }
        let nas = NasConfig {
            address: "127.0.0.1".into(),
            secret: "testing123".into(),
            name: Some("loopback".into()),
            require_message_authenticator: policy,
            ..NasConfig::default()
        };
        let clients = Arc::new(Clients::new(ClientTable::build(&[nas], &[], None)));
        let ctx = Context {
            users: MemoryBackend(Arc::clone(&memory)),
            sink: MemoryBackend(Arc::clone(&memory)),
            dictionary: Arc::new(Dictionary::builtin()),
            reject_delay: Duration::ZERO,
            sessions: None,
            max_misses_per_nas: 64,
        };
        let options = ServerOptions {
            receivers: 2,
            spread_randomly: true,
            max_inflight: 64,
            dedup_ttl: Duration::from_secs(5),
            dedup_capacity: 1024,
        };
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            &options,
            ctx,
            clients,
        )
        .unwrap();
        let auth = server.auth_addr().unwrap();
        let acct = server.acct_addr().unwrap();
        if !counted {
            UNCOUNTED.lock().unwrap().extend([auth, acct]);
        }
        let health = server.health();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(server.run(cancel.clone(), TaskTracker::new()));
        Self {
            auth,
            acct,
            health,
            memory,
            cancel,
            task,
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn methods_accept_and_reject() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    for method in [Method::Pap, Method::Chap, Method::MsChapV2] {
        let ok = nas
            .exchange(&nas.access_request("alice", "wonderland", method, true))
            .await;
        assert_eq!(code_of(&ok), Code::AccessAccept, "{method:?}");
        let p = Packet::decode(&ok).unwrap();
        assert_eq!(
            p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
            Some(&b"2M/5M"[..]),
            "{method:?}"
        );
        assert_eq!(p.attr_u32(attrs::SESSION_TIMEOUT).unwrap(), Some(3600));
        if method == Method::MsChapV2 {
            assert!(p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_SUCCESS).is_some());
            assert!(p.vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_SEND_KEY).is_some());
        }
        let bad = nas
            .exchange(&nas.access_request("alice", "wrong", method, true))
            .await;
        assert_eq!(code_of(&bad), Code::AccessReject, "{method:?}");
        if method == Method::MsChapV2 {
            let p = Packet::decode(&bad).unwrap();
            assert!(p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_ERROR).is_some());
        }
    }
    let unknown = nas
        .exchange(&nas.access_request("nobody", "x", Method::Pap, true))
        .await;
    assert_eq!(code_of(&unknown), Code::AccessReject);
    let records = h.memory.post_auth.lock().unwrap().len();
    assert!(records >= 7, "post-auth records queued: {records}");
    h.stop().await;
}

#[tokio::test]
async fn duplicate_gets_identical_bytes_and_new_id_is_processed() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    // MS-CHAPv2 replies carry random MPPE salts: re-processing would change the bytes.
    let req = nas.access_request("alice", "wonderland", Method::MsChapV2, true);
    let first = nas.exchange(&req).await;
    let again = nas.exchange(&req).await;
    assert_eq!(first, again, "retransmission answered byte-for-byte");
    let other = nas.access_request("alice", "wonderland", Method::MsChapV2, true);
    let mut other_bytes = other.bytes.clone();
    other_bytes[1] = req.bytes[1]; // same identifier, different authenticator
    let other = Request {
        authenticator: other.authenticator,
        bytes: resign(&other_bytes),
    };
    let second = nas.exchange(&other).await;
    assert_eq!(code_of(&second), Code::AccessAccept);
    assert_ne!(second, first);
    h.stop().await;
}

/// Recompute the Message-Authenticator after editing a request (identifier change).
fn resign(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    Signer::new(b"testing123").sign_access_request(&mut out);
    out
}

#[tokio::test]
async fn unknown_nas_and_bad_message_authenticator_are_silent() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    // Wrong secret: the Message-Authenticator does not verify.
    let liar = Nas::new(h.auth, "not-the-secret").await;
    liar.expect_dropped(
        &liar.access_request("alice", "wonderland", Method::Pap, true),
        reason::BAD_MESSAGE_AUTHENTICATOR,
    )
    .await;
    // Tampered attribute after signing.
    let nas = Nas::new(h.auth, "testing123").await;
    let mut req = nas.access_request("alice", "wonderland", Method::Pap, true);
    let last = req.bytes.len() - 1;
    req.bytes[last] ^= 0x55;
    nas.expect_dropped(&req, reason::BAD_MESSAGE_AUTHENTICATOR)
        .await;
    // Unknown source address (the table holds 127.0.0.1 only), right secret: silent.
    let stranger = Nas::new_at("127.0.0.2:0", h.auth, "testing123").await;
    stranger
        .expect_dropped(
            &stranger.access_request("alice", "wonderland", Method::Pap, true),
            reason::UNKNOWN_CLIENT,
        )
        .await;
    // The service still works.
    let ok = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&ok), Code::AccessAccept);
    h.stop().await;
}

#[tokio::test]
async fn message_authenticator_policies() {
    // require: missing ⇒ silent.
    let h = Harness::start(MessageAuthenticatorPolicy::Require).await;
    let nas = Nas::new(h.auth, "testing123").await;
    nas.expect_dropped(
        &nas.access_request("alice", "wonderland", Method::Pap, false),
        reason::MISSING_MESSAGE_AUTHENTICATOR,
    )
    .await;
    assert_eq!(
        code_of(
            &nas.exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
                .await
        ),
        Code::AccessAccept
    );
    h.stop().await;

    // auto: accepted without MA until one is seen, then required.
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    assert_eq!(
        code_of(
            &nas.exchange(&nas.access_request("alice", "wonderland", Method::Pap, false))
                .await
        ),
        Code::AccessAccept
    );
    nas.exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    nas.expect_dropped(
        &nas.access_request("alice", "wonderland", Method::Pap, false),
        reason::MISSING_MESSAGE_AUTHENTICATOR,
    )
    .await;
    h.stop().await;

    // off: never required.
    let h = Harness::start(MessageAuthenticatorPolicy::Off).await;
    let nas = Nas::new(h.auth, "testing123").await;
    nas.exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(
        code_of(
            &nas.exchange(&nas.access_request("alice", "wonderland", Method::Pap, false))
                .await
        ),
        Code::AccessAccept
    );
    h.stop().await;
}

#[tokio::test]
async fn malformed_datagrams_never_stop_service() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    let valid = nas
        .access_request("alice", "wonderland", Method::Pap, true)
        .bytes;
    let mut seed = 0x1234_5678_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..2000 {
        let mut d = match i % 4 {
            0 => (0..(next() % 200) as usize)
                .map(|_| next() as u8)
                .collect::<Vec<_>>(),
            1 => valid[..(next() as usize % valid.len())].to_vec(),
            _ => {
                let mut d = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let at = next() as usize % d.len();
                    d[at] = next() as u8;
                }
                d
            }
        };
        if i % 3 == 0 && d.len() > 1 {
            d[0] = 1; // keep most past the code prefilter
        }
        nas.send(&d).await;
    }
    // Drain whatever (validly signed) replies the mutations produced, then check service.
    while nas.recv(Duration::from_millis(300)).await.is_some() {}
    let ok = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&ok), Code::AccessAccept);
    h.stop().await;
}

#[tokio::test]
async fn status_server_on_both_ports() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    let r = nas.exchange(&nas.status_server()).await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    let nas = nas.to(h.acct);
    let r = nas.exchange(&nas.status_server()).await;
    assert_eq!(code_of(&r), Code::AccountingResponse);
    // Without a Message-Authenticator: silent.
    let authenticator = [9u8; 16];
    let bytes = PacketBuilder::new(Code::StatusServer, 1)
        .sign_access_request(&authenticator, &Signer::new(b"testing123"))
        .unwrap();
    nas.expect_dropped(
        &Request {
            bytes,
            authenticator,
        },
        reason::MISSING_MESSAGE_AUTHENTICATOR,
    )
    .await;
    h.stop().await;
}

/// A bug that panics while handling one request costs that request only: the receive
/// thread (the only one reading this NAS's socket hash) keeps answering, and readiness
/// still counts every receive thread.
#[tokio::test]
async fn a_panicking_request_never_takes_its_receive_thread_down() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    assert!(h.health.all_alive());
    for _ in 0..3 {
        for who in ["panic-now", "panic-later"] {
            nas.expect_dropped(
                &nas.access_request(who, "x", Method::Pap, true),
                reason::INTERNAL_ERROR,
            )
            .await;
            let ok = nas
                .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
                .await;
            assert_eq!(code_of(&ok), Code::AccessAccept, "after {who}");
        }
    }
    assert!(h.health.all_alive(), "alive: {}", h.health.alive());
    assert_eq!(h.health.alive(), 2);
    let health = h.health.clone();
    h.stop().await;
    assert_eq!(health.alive(), 0, "threads are counted out when they end");
}

#[tokio::test]
async fn backend_down_means_no_reply_not_reject() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    h.memory.down.store(true, Ordering::SeqCst);
    nas.expect_dropped(
        &nas.access_request("alice", "wonderland", Method::Pap, true),
        reason::STORE_UNAVAILABLE,
    )
    .await;
    let acct = Nas::new(h.acct, "testing123").await;
    acct.expect_dropped(
        &acct.accounting_request("alice", "s1", 1, (0, 0, 0)),
        reason::ACCOUNTING_WRITE_FAILED,
    )
    .await;
    h.memory.down.store(false, Ordering::SeqCst);
    let ok = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&ok), Code::AccessAccept);
    h.stop().await;
}

#[tokio::test]
async fn accounting_answered_after_write_with_normalised_record() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.acct, "testing123").await;
    let r = nas
        .exchange(&nas.accounting_request("alice", "80f00003", 2, (100, 200, 1)))
        .await;
    assert_eq!(code_of(&r), Code::AccountingResponse);
    let recs = h.memory.accounting.lock().unwrap().clone();
    assert_eq!(recs.len(), 1);
    let rec = &recs[0];
    assert_eq!(rec.status, AcctStatus::Stop);
    assert_eq!(rec.username, "alice");
    assert_eq!(rec.input_octets, Some((1i64 << 32) + 100));
    assert_eq!(rec.output_octets, Some(200));
    assert_eq!(rec.nas_port_type.as_deref(), Some("Wireless-802.11"));
    assert_eq!(rec.terminate_cause.as_deref(), Some("User-Request"));
    assert_eq!(rec.authentic.as_deref(), Some("RADIUS"));
    assert_eq!(rec.nas_port_id.as_deref(), Some("bridge-hotspot"));
    assert_eq!(rec.unique_id.len(), 32);
    // Bad request authenticator: silent.
    let mut bad = nas.accounting_request("alice", "80f00004", 1, (0, 0, 0));
    bad.bytes[4] ^= 1;
    nas.expect_dropped(&bad, reason::BAD_REQUEST_AUTHENTICATOR)
        .await;
    assert_eq!(h.memory.accounting.lock().unwrap().len(), 1);
    h.stop().await;
}

/// The fake NAS itself: a reply to a request it was told would be dropped fails the test,
/// even though it arrives while the drop counter is being watched (any other reason than
/// the one the server gives would otherwise pass while the counter is waited on).
#[tokio::test]
#[should_panic(expected = "was to get no reply")]
async fn a_reply_to_a_request_expected_dropped_fails_the_test() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    // Answered (Access-Accept), not dropped. `prefilter` is a reason no other test in
    // this module provokes, so the counter does not grow meanwhile.
    nas.expect_dropped(
        &nas.access_request("alice", "wonderland", Method::Pap, true),
        reason::PREFILTER,
    )
    .await;
}

/// Likewise when the counter grows at once (another request dropped for that reason):
/// the reply then arrives after `expect_dropped` returned, and the next exchange fails.
#[tokio::test]
#[should_panic(expected = "was to get no reply")]
async fn a_late_reply_to_a_dropped_request_fails_a_later_exchange() {
    let h = Harness::start(MessageAuthenticatorPolicy::Auto).await;
    let nas = Nas::new(h.auth, "testing123").await;
    let answered = nas.access_request("alice", "wonderland", Method::Pap, true);
    // Drop something for real first, so that the counter grows at once...
    let mut tampered = nas.access_request("alice", "wonderland", Method::Pap, true);
    let last = tampered.bytes.len() - 1;
    tampered.bytes[last] ^= 0x55;
    nas.send(&tampered.bytes).await;
    // ...and claim the answered request was dropped for that reason.
    nas.expect_dropped(&answered, reason::BAD_MESSAGE_AUTHENTICATOR)
        .await;
    let ok = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&ok), Code::AccessAccept);
}
