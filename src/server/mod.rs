//! The only inbound socket code: bind the authentication and accounting sockets, receive
//! datagrams, run each through the hot path in a bounded task, send the reply.
//!
//! Per datagram: size and code prefilter → client lookup by source address (unknown: drop)
//! → duplicate cache (retransmission: resend the cached bytes) → decode → handler →
//! sign → send. A request that has to wait (a cache miss, a slow hash, an accounting
//! commit, a reject delay) takes a slot of its port's budget; when the budget is exhausted
//! the request is dropped and counted (the NAS retransmits). Cached answers take none.
//! Nothing here logs above `debug` per packet.

mod advice;
pub mod dedup;
pub mod radsec;

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clients::{Client, Clients};
use crate::handler::{self, AcctSink, Context, Outcome, Port, UserSource};
use crate::metrics::{self as m, DUPLICATES_TOTAL, REQUEST_DURATION_SECONDS, reason};
use radius_proto::protocol::{Code, MAX_PACKET_LEN, MIN_PACKET_LEN, Packet, ReplyVector};

use dedup::{Begin, DedupCache, Key};
use udp_batch::{BATCH, RawAddr, RecvBatch};

/// Tuning for the receive path.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Receive threads. Each runs its own single-threaded runtime with its own
    /// `SO_REUSEPORT` socket per port, so a datagram is received, processed and answered on
    /// one thread (no cross-thread wakeups on the hot path).
    pub receivers: usize,
    /// Give each datagram to a random receive thread instead of the kernel's hash of
    /// source and destination (which keeps one router, one source port, on one thread).
    pub spread_randomly: bool,
    /// Requests that may wait at once, per port (cached answers never wait).
    pub max_inflight: usize,
    /// Duplicate cache lifetime.
    pub dedup_ttl: Duration,
    /// Duplicate cache capacity.
    pub dedup_capacity: usize,
}

/// Everything a datagram task needs.
#[derive(Debug)]
struct Shared<U, A> {
    ctx: Context<U, A>,
    clients: Arc<Clients>,
    dedup: DedupCache,
    /// Budget of waiting requests per port: a slow database holding accounting requests
    /// never takes the slots Access-Requests need (and the other way round).
    limits: [Arc<Semaphore>; 2],
    /// Receive threads running (see [`Server::health`]).
    alive: Arc<AtomicUsize>,
}

/// How many receive threads should run, and how many do: a thread that ended while the
/// server runs leaves its sockets unread, so readiness fails.
#[derive(Debug, Clone)]
pub struct ReceiverHealth {
    expected: usize,
    alive: Arc<AtomicUsize>,
}

impl ReceiverHealth {
    /// Whether every receive thread is running.
    pub fn all_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed) >= self.expected
    }

    /// Receive threads running now.
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }
}

/// The bound RADIUS sockets, ready to run.
#[derive(Debug)]
pub struct Server<U, A> {
    /// One socket per receive thread, all bound to the same authentication address.
    auth: Vec<std::net::UdpSocket>,
    /// One socket per receive thread, all bound to the same accounting address.
    acct: Vec<std::net::UdpSocket>,
    auth_addr: SocketAddr,
    acct_addr: SocketAddr,
    shared: Arc<Shared<U, A>>,
}

/// Requested receive buffer per socket, bytes.
const RECV_BUFFER: usize = 4 << 20;

/// Bind `n` non-blocking `SO_REUSEPORT` UDP sockets to `addr`. With port 0 the first
/// socket picks the port and the others join it. `spread_randomly`: each datagram goes to
/// a random socket of the group, not the one the kernel's flow hash picks.
fn bind_group(
    addr: SocketAddr,
    n: usize,
    spread_randomly: bool,
    what: &str,
) -> std::io::Result<Vec<std::net::UdpSocket>> {
    let wrap = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("binding {what} socket {addr}: {e}"))
    };
    // SO_REUSEPORT would let a second copy of the server (same user, same port) join the
    // group and silently take a share of the traffic. A plain bind first fails on a port
    // that is already in use, so a second instance is refused instead.
    if addr.port() != 0 {
        drop(std::net::UdpSocket::bind(addr).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("binding {what} socket {addr}: {e} (is another server running?)"),
            )
        })?);
    }
    let mut sockets = Vec::with_capacity(n);
    let mut target = addr;
    for _ in 0..n.max(1) {
        let socket = Socket::new(
            Domain::for_address(target),
            Type::DGRAM,
            Some(Protocol::UDP),
        )
        .map_err(wrap)?;
        socket.set_reuse_port(true).map_err(wrap)?;
        // Best effort (the kernel caps it at net.core.rmem_max): each thread's socket
        // absorbs a burst while that thread is briefly descheduled.
        let _ = socket.set_recv_buffer_size(RECV_BUFFER);
        socket.set_nonblocking(true).map_err(wrap)?;
        socket.bind(&target.into()).map_err(wrap)?;
        let socket: std::net::UdpSocket = socket.into();
        if sockets.is_empty() {
            target = socket.local_addr().map_err(wrap)?;
        }
        sockets.push(socket);
    }
    if spread_randomly
        && let Some(first) = sockets.first()
        && let Err(e) =
            udp_batch::spread_reuseport_randomly(first.as_raw_fd(), sockets.len() as u32)
    {
        // Still a working server, as with `balance = "flow"`: say so once, at start.
        tracing::warn!(error = %e, "{what} socket {addr}: cannot spread datagrams at random over the receive threads (server.balance = \"random\"); using the kernel's flow hash");
    }
    Ok(sockets)
}

impl<U: UserSource, A: AcctSink> Server<U, A> {
    /// Bind both sockets (one per receive thread each).
    pub fn bind(
        auth_addr: SocketAddr,
        acct_addr: SocketAddr,
        options: &ServerOptions,
        ctx: Context<U, A>,
        clients: Arc<Clients>,
    ) -> std::io::Result<Self> {
        let threads = options.receivers.max(1);
        let auth = bind_group(auth_addr, threads, options.spread_randomly, "auth")?;
        let acct = bind_group(acct_addr, threads, options.spread_randomly, "acct")?;
        let auth_addr = first_addr(&auth)?;
        let acct_addr = first_addr(&acct)?;
        Ok(Self {
            auth,
            acct,
            auth_addr,
            acct_addr,
            shared: Arc::new(Shared {
                ctx,
                clients,
                dedup: DedupCache::new(options.dedup_ttl, options.dedup_capacity),
                limits: [(); 2].map(|()| Arc::new(Semaphore::new(options.max_inflight.max(1)))),
                // Counted from here, so readiness never sees a gap at start-up; each thread
                // (or its failed start) takes itself off when it ends.
                alive: Arc::new(AtomicUsize::new(threads)),
            }),
        })
    }

    /// The receive threads' health, for readiness (all of them run once [`Server::run`]
    /// has started them).
    pub fn health(&self) -> ReceiverHealth {
        ReceiverHealth {
            expected: self.auth.len(),
            alive: Arc::clone(&self.shared.alive),
        }
    }

    /// The bound authentication address.
    pub fn auth_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.auth_addr)
    }

    /// The bound accounting address.
    pub fn acct_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.acct_addr)
    }

    /// Receive until `cancel` fires. Each receive thread finishes its in-flight requests
    /// before it ends; per-datagram work is also tracked on `tracker`, so the caller can
    /// wait for it. Dropping this future stops the receive threads too.
    pub async fn run(self, cancel: CancellationToken, tracker: TaskTracker) {
        let stop = cancel.child_token();
        // If this future is dropped (task aborted), the threads still stop.
        let _guard = stop.clone().drop_guard();
        let mut finished = Vec::new();
        for (i, (auth, acct)) in self.auth.into_iter().zip(self.acct).enumerate() {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let shared = Arc::clone(&self.shared);
            let stop = stop.clone();
            let tracker = tracker.clone();
            let alive = ThreadAlive(Arc::clone(&shared.alive));
            let spawned = std::thread::Builder::new()
                .name(format!("radius-rx-{i}"))
                .spawn(move || {
                    let alive = alive;
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => {
                            m::cache_handles_on_this_thread();
                            rt.block_on(worker(auth, acct, shared, stop, tracker));
                        }
                        Err(e) => tracing::error!(error = %e, "receive thread runtime failed"),
                    }
                    // Counted out before `run` hears that this thread is done.
                    drop(alive);
                    drop(done_tx);
                });
            match spawned {
                Ok(_) => finished.push(done_rx),
                Err(e) => tracing::error!(error = %e, "could not start a receive thread"),
            }
        }
        for done in finished {
            let _ = done.await;
        }
    }
}

/// Decrements the running-thread count when a receive thread ends, however it ends (or
/// when it could not be started).
struct ThreadAlive(Arc<AtomicUsize>);

impl Drop for ThreadAlive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps the in-flight gauge (`radius_inflight`, UDP and RadSec) right even when a
/// request's future panics or is dropped.
struct Inflight;

impl Inflight {
    fn start() -> Self {
        m::inflight(1.0);
        Self
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        m::inflight(-1.0);
    }
}

/// A request's future with panics caught: a bug in one request's handling costs that
/// request (dropped, counted as `internal_error`, logged), never the receive thread or its
/// sockets. Everything the future holds (worker slot, dedup entry) is released by drop
/// guards as the panic unwinds.
struct Guarded<F>(Pin<Box<F>>);

impl<T, F: Future<Output = Option<T>>> Guarded<F> {
    /// Polls once; a panic is reported and turns into completion without a reply.
    fn poll_guarded(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<T>> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-text panic".to_owned());
                tracing::error!(panic = %what, "request handling panicked; request dropped (a bug: please report it)");
                m::dropped(reason::INTERNAL_ERROR);
                Poll::Ready(None)
            }
        }
    }
}

impl<T, F: Future<Output = Option<T>>> Future for Guarded<F> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<T>> {
        // `Guarded` is Unpin: it only holds a `Pin<Box<_>>`.
        self.get_mut().poll_guarded(cx)
    }
}

fn first_addr(sockets: &[std::net::UdpSocket]) -> std::io::Result<SocketAddr> {
    match sockets.first() {
        Some(s) => s.local_addr(),
        None => Err(std::io::Error::other("no socket bound")),
    }
}

/// One receive thread: both ports, until `cancel`; then drain this thread's requests.
async fn worker<U: UserSource, A: AcctSink>(
    auth: std::net::UdpSocket,
    acct: std::net::UdpSocket,
    shared: Arc<Shared<U, A>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let local = TaskTracker::new();
    let loops = [(auth, Port::Auth), (acct, Port::Acct)].map(|(socket, port)| {
        let shared = Arc::clone(&shared);
        let cancel = cancel.clone();
        let tracker = tracker.clone();
        let local = local.clone();
        async move {
            match UdpSocket::from_std(socket) {
                Ok(s) => receive_loop(Arc::new(s), port, shared, cancel, tracker, local).await,
                Err(e) => tracing::error!(error = %e, "registering a receive socket failed"),
            }
        }
    });
    let [a, b] = loops;
    tokio::join!(a, b);
    local.close();
    local.wait().await;
}

async fn receive_loop<U: UserSource, A: AcctSink>(
    socket: Arc<UdpSocket>,
    port: Port,
    shared: Arc<Shared<U, A>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    local: TaskTracker,
) {
    let fd = socket.as_raw_fd();
    // Up to `BATCH` datagrams per `recvmmsg`, each buffer one byte longer than the largest
    // legal packet (to notice oversized datagrams); the replies the batch answers at once
    // leave together in one `sendmmsg`.
    let mut batch = RecvBatch::new();
    let mut replies: Vec<(Arc<[u8]>, RawAddr)> = Vec::with_capacity(BATCH);
    loop {
        let ready = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            r = socket.readable() => r,
        };
        if let Err(e) = ready {
            tracing::debug!(error = %e, "waiting for a datagram failed");
            continue;
        }
        loop {
            let n = match socket.try_io(Interest::READABLE, || batch.try_recv(fd)) {
                Ok(n) => n,
                // Drained: readiness is cleared, wait for the next datagram.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP-induced errors and the like: keep receiving.
                    tracing::debug!(error = %e, "recvmmsg failed");
                    break;
                }
            };
            // One clock reading per batch: the dedup entry's start and the reply-time
            // histogram (which then includes the wait behind earlier datagrams).
            let now = Instant::now();
            for i in 0..n {
                let Some((datagram, raw)) = batch.get(i) else {
                    continue;
                };
                let Some(source) = raw.to_socket_addr() else {
                    continue;
                };
                if !prefilter(datagram, port) {
                    m::dropped(reason::PREFILTER);
                    continue;
                }
                if let Some(bytes) = start(
                    &socket, port, &shared, &tracker, &local, datagram, source, now,
                ) {
                    replies.push((bytes, raw));
                }
            }
            flush(&socket, &mut replies).await;
            if n < BATCH {
                // The queue was empty when the kernel filled this batch; the next
                // `recvmmsg` most likely says so (and clears readiness).
                continue;
            }
            // A full batch: more is queued. Let this thread's waiting requests (misses,
            // commits, delayed rejects) and the other port run before the next batch.
            tokio::task::yield_now().await;
        }
    }
}

/// Run one datagram through the hot path. It is polled here first: a cache hit finishes
/// without ever becoming a task, and its reply is returned to leave with the batch. Only a
/// request that has to wait (a cache miss, a slow password hash, an accounting commit, a
/// reject delay) is spawned, and sends its own reply; its first poll as a task registers
/// the task's own waker. Only waiting requests take a worker slot: a slow database or a
/// burst of bcrypt logins fills the slots with waiters, and cached users, answered
/// inline, are never dropped as "overload" because of them.
#[allow(clippy::too_many_arguments)]
fn start<U: UserSource, A: AcctSink>(
    socket: &Arc<UdpSocket>,
    port: Port,
    shared: &Arc<Shared<U, A>>,
    tracker: &TaskTracker,
    local: &TaskTracker,
    datagram: &[u8],
    source: SocketAddr,
    now: Instant,
) -> Option<Arc<[u8]>> {
    let datagram = datagram.to_vec();
    let task_socket = Arc::clone(socket);
    let task_shared = Arc::clone(shared);
    let mut job = Guarded(Box::pin(tracker.track_future(async move {
        let (socket, shared) = (task_socket, task_shared);
        let inflight = Inflight::start();
        let action = process(&shared, port, source, &datagram, now).await;
        drop(inflight);
        match action {
            Action::Send(bytes) => Some(bytes),
            Action::Nothing => None,
            Action::Deferred(d) => {
                // If this wait is dropped (over the budget, or shut down), the request is
                // forgotten so the NAS's retransmission is processed afresh.
                let mut unsent = Pending {
                    dedup: &shared.dedup,
                    key: d.key,
                    armed: true,
                };
                tokio::time::sleep(d.delay).await;
                send(&socket, &d.bytes, source).await;
                unsent.armed = false;
                shared.dedup.complete(&d.key, Some(d.bytes), Instant::now());
                None
            }
        }
    })));
    let waker = std::task::Waker::noop();
    let mut cx = TaskContext::from_waker(waker);
    match job.poll_guarded(&mut cx) {
        Poll::Ready(reply) => return reply,
        Poll::Pending => {}
    }
    let limit = &shared.limits[usize::from(port == Port::Acct)];
    let Ok(permit) = Arc::clone(limit).try_acquire_owned() else {
        // Dropping the job releases what it holds (its dedup entry is forgotten, so the
        // NAS's retransmission is processed afresh).
        drop(job);
        m::dropped(reason::OVERLOAD);
        return None;
    };
    let socket = Arc::clone(socket);
    local.spawn(async move {
        if let Some(bytes) = job.await {
            send(&socket, &bytes, source).await;
        }
        drop(permit);
    });
    None
}

/// Send the replies a batch answered at once: one `sendmmsg` while the socket takes them,
/// one awaited send each for what it did not (a full send buffer).
async fn flush(socket: &UdpSocket, replies: &mut Vec<(Arc<[u8]>, RawAddr)>) {
    if replies.is_empty() {
        return;
    }
    let fd = socket.as_raw_fd();
    let mut sent = 0;
    while sent < replies.len() {
        let mut chunk: [(&[u8], &RawAddr); BATCH] = [(&[], &replies[0].1); BATCH];
        let end = replies.len().min(sent + BATCH);
        for (slot, (bytes, addr)) in chunk.iter_mut().zip(&replies[sent..end]) {
            *slot = (bytes, addr);
        }
        let count = end - sent;
        match socket.try_io(Interest::WRITABLE, || {
            udp_batch::send_many(fd, &chunk[..count], false).and_then(|k| {
                if k == 0 {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(k)
                }
            })
        }) {
            Ok(k) => sent += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                // Like a failed send_to: this reply is lost (the NAS retransmits and the
                // dedup cache answers); go on with the next.
                tracing::debug!(error = %e, "sendmmsg failed");
                sent += 1;
            }
        }
    }
    for (bytes, addr) in replies.drain(..).skip(sent) {
        if let Some(dest) = addr.to_socket_addr() {
            send(socket, &bytes, dest).await;
        }
    }
}

/// Cheap checks before any lookup: legal size, and a code this port answers.
fn prefilter(datagram: &[u8], port: Port) -> bool {
    if datagram.len() < MIN_PACKET_LEN || datagram.len() > MAX_PACKET_LEN {
        return false;
    }
    let code = datagram.first().copied().map(Code::from_u8);
    matches!(
        (code, port),
        (Some(Code::AccessRequest), Port::Auth)
            | (Some(Code::AccountingRequest), Port::Acct)
            | (Some(Code::StatusServer), _)
    )
}

/// What a processed datagram asks for.
enum Action {
    /// No reply (dropped, or a duplicate still being answered).
    Nothing,
    /// Send these bytes to the source now (a fresh reply, or a duplicate's cached one).
    Send(Arc<[u8]>),
    /// Send later.
    Deferred(Deferred),
}

/// A signed reply to send after a delay, outside the worker slot.
struct Deferred {
    key: Key,
    bytes: Arc<[u8]>,
    delay: Duration,
}

/// Forgets the dedup entry unless disarmed, so a panicking handler cannot wedge a key.
struct Pending<'a> {
    dedup: &'a DedupCache,
    key: Key,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.dedup.complete(&self.key, None, Instant::now());
        }
    }
}

async fn process<U: UserSource, A: AcctSink>(
    shared: &Shared<U, A>,
    port: Port,
    source: SocketAddr,
    datagram: &[u8],
    started: Instant,
) -> Action {
    let Some(client) = shared.clients.lookup(source.ip()) else {
        let _ = advice::complain(source.ip(), reason::UNKNOWN_CLIENT, None);
        m::dropped(reason::UNKNOWN_CLIENT);
        return Action::Nothing;
    };
    client.counters().request();
    let Some(key) = Key::of(source, datagram) else {
        m::dropped(reason::PREFILTER);
        return Action::Nothing;
    };
    match shared.dedup.begin(key, started) {
        Begin::New => {}
        Begin::InProgress => {
            m::inc(DUPLICATES_TOTAL, &[("state", "in_progress")], 1);
            return Action::Nothing;
        }
        Begin::Replay(bytes) => {
            m::inc(DUPLICATES_TOTAL, &[("state", "replayed")], 1);
            return Action::Send(bytes);
        }
    }
    let mut pending = Pending {
        dedup: &shared.dedup,
        key,
        armed: true,
    };
    let packet = match Packet::decode(datagram) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(%source, reason = e.reason(), "undecodable datagram dropped");
            m::dropped(e.reason());
            return Action::Nothing;
        }
    };
    let (bytes, delay) = match respond(&shared.ctx, &client, port, source, &packet, started).await {
        Ok(r) => r,
        Err(why) => {
            let _ = advice::complain(source.ip(), why, Some(&client.name));
            return Action::Nothing;
        }
    };
    pending.armed = false;
    if !delay.is_zero() {
        // Stays "in progress" in the dedup cache until sent.
        return Action::Deferred(Deferred { key, bytes, delay });
    }
    // Completed before the send (which happens with the batch's other replies): a
    // retransmission arriving in between is answered from the cache, never processed twice.
    shared
        .dedup
        .complete(&key, Some(Arc::clone(&bytes)), started);
    Action::Send(bytes)
}

/// A decoded request's answer, for every transport (UDP here, RadSec in [`radsec`]):
/// dispatch to its handler, sign the reply with the client's secret, count it. `Err` is
/// the drop reason of a request that gets no reply (already counted).
pub(crate) async fn respond<U: UserSource, A: AcctSink>(
    ctx: &Context<U, A>,
    client: &Client,
    port: Port,
    source: SocketAddr,
    packet: &Packet<'_>,
    started: Instant,
) -> Result<(Arc<[u8]>, Duration), &'static str> {
    let code = packet.code().name();
    let reply = match handler::dispatch(ctx, client, port, source, packet).await {
        Outcome::Drop(why) => {
            m::dropped(why);
            m::request(code, "no_reply");
            return Err(why);
        }
        Outcome::Reply(reply) => reply,
    };
    // The Message-Authenticator vector follows the request (FreeRADIUS): the request
    // authenticator, except zero for an Accounting-Response to an Accounting-Request.
    let signed = reply.builder.sign_response(
        packet.authenticator(),
        ReplyVector::for_request(packet.code()),
        client.signer(),
    );
    let bytes: Arc<[u8]> = match signed {
        Ok(b) => Arc::from(b),
        Err(e) => {
            tracing::warn!(error = %e, "reply could not be encoded");
            m::dropped(reason::ENCODE_FAILED);
            return Err(reason::ENCODE_FAILED);
        }
    };
    if reply.outcome == "reject" {
        client.counters().reject();
    }
    m::request(code, reply.outcome);
    m::observe(
        REQUEST_DURATION_SECONDS,
        &[("code", code)],
        started.elapsed().as_secs_f64(),
    );
    Ok((bytes, reply.delay))
}

async fn send(socket: &UdpSocket, bytes: &[u8], dest: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, dest).await {
        tracing::debug!(error = %e, %dest, "send_to failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams from one source socket, and how many each socket of a group of two got.
    fn spread_of(spread_randomly: bool) -> [usize; 2] {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 2, spread_randomly, "test")
            .expect("bind the group");
        let to = group[0].local_addr().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..200u8 {
            sender.send_to(&[i; 20], to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut got = [0; 2];
        let mut buf = [0u8; 64];
        for (socket, n) in group.iter().zip(&mut got) {
            while socket.recv_from(&mut buf).is_ok() {
                *n += 1;
            }
        }
        got
    }

    #[test]
    fn one_source_reaches_every_receive_thread_when_spread() {
        // By the kernel's flow hash, one source address and port always lands on one socket.
        let flow = spread_of(false);
        assert_eq!(flow.iter().sum::<usize>(), 200, "{flow:?}");
        assert!(flow.contains(&0), "flow hash split one source: {flow:?}");
        // At random, both get some (all 200 on one socket: probability 2^-199).
        let random = spread_of(true);
        assert_eq!(random.iter().sum::<usize>(), 200, "{random:?}");
        assert!(random.iter().all(|&n| n > 0), "not spread: {random:?}");
    }

    #[test]
    fn prefilter_by_size_and_port() {
        let mut d = vec![0u8; 20];
        d[0] = 1;
        assert!(prefilter(&d, Port::Auth));
        assert!(!prefilter(&d, Port::Acct));
        d[0] = 4;
        assert!(prefilter(&d, Port::Acct));
        d[0] = 12;
        assert!(prefilter(&d, Port::Acct) && prefilter(&d, Port::Auth));
        d[0] = 2;
        assert!(!prefilter(&d, Port::Auth));
        assert!(!prefilter(&d[..19], Port::Auth));
        assert!(!prefilter(&vec![1u8; 4097], Port::Auth));
    }
}
