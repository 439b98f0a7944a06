//! The only inbound socket code: bind the authentication and accounting sockets, receive
//! datagrams, run each through the hot path in a bounded task, send the reply.
//!
//! Per datagram: size and code prefilter → client lookup by source address (unknown: drop)
//! → duplicate cache (retransmission: resend the cached bytes) → decode → handler →
//! sign → send. Work is bounded by a semaphore shared by both ports; when it is exhausted
//! the datagram is dropped and counted (the NAS retransmits). Nothing here logs above
//! `debug` per packet.

pub mod dedup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{counter, histogram};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clients::Clients;
use crate::handler::{self, Backend, Context, Outcome, Port};
use crate::metrics::{self as m, DUPLICATES_TOTAL, REQUEST_DURATION_SECONDS, reason};
use crate::protocol::{Code, MAX_PACKET_LEN, MIN_PACKET_LEN, Packet};

use dedup::{Begin, DedupCache, Key};

/// Tuning for the receive path.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Receive tasks per socket.
    pub receivers: usize,
    /// Requests processed at once (both ports together).
    pub max_inflight: usize,
    /// Duplicate cache lifetime.
    pub dedup_ttl: Duration,
    /// Duplicate cache capacity.
    pub dedup_capacity: usize,
}

/// Everything a datagram task needs.
#[derive(Debug)]
struct Shared<B> {
    ctx: Context<B>,
    clients: Arc<Clients>,
    dedup: DedupCache,
    limit: Arc<Semaphore>,
}

/// The bound RADIUS sockets, ready to run.
#[derive(Debug)]
pub struct Server<B> {
    auth: Arc<UdpSocket>,
    acct: Arc<UdpSocket>,
    shared: Arc<Shared<B>>,
    receivers: usize,
}

impl<B: Backend> Server<B> {
    /// Bind both sockets.
    pub async fn bind(
        auth_addr: SocketAddr,
        acct_addr: SocketAddr,
        options: &ServerOptions,
        ctx: Context<B>,
        clients: Arc<Clients>,
    ) -> std::io::Result<Self> {
        let auth = UdpSocket::bind(auth_addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("binding auth socket {auth_addr}: {e}"))
        })?;
        let acct = UdpSocket::bind(acct_addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("binding acct socket {acct_addr}: {e}"))
        })?;
        Ok(Self {
            auth: Arc::new(auth),
            acct: Arc::new(acct),
            shared: Arc::new(Shared {
                ctx,
                clients,
                dedup: DedupCache::new(options.dedup_ttl, options.dedup_capacity),
                limit: Arc::new(Semaphore::new(options.max_inflight.max(1))),
            }),
            receivers: options.receivers.max(1),
        })
    }

    /// The bound authentication address.
    pub fn auth_addr(&self) -> std::io::Result<SocketAddr> {
        self.auth.local_addr()
    }

    /// The bound accounting address.
    pub fn acct_addr(&self) -> std::io::Result<SocketAddr> {
        self.acct.local_addr()
    }

    /// Receive until `cancel` fires. Per-datagram tasks go on `tracker`, so the caller can
    /// wait for in-flight requests to finish after this returns.
    pub async fn run(self, cancel: CancellationToken, tracker: TaskTracker) {
        let mut loops = tokio::task::JoinSet::new();
        for (socket, port) in [(&self.auth, Port::Auth), (&self.acct, Port::Acct)] {
            for _ in 0..self.receivers {
                loops.spawn(receive_loop(
                    Arc::clone(socket),
                    port,
                    Arc::clone(&self.shared),
                    cancel.clone(),
                    tracker.clone(),
                ));
            }
        }
        while loops.join_next().await.is_some() {}
    }
}

async fn receive_loop<B: Backend>(
    socket: Arc<UdpSocket>,
    port: Port,
    shared: Arc<Shared<B>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    // One byte more than the largest legal packet, to notice oversized datagrams.
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    loop {
        let received = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, source) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP-induced errors and the like: keep receiving.
                tracing::debug!(error = %e, "recv_from failed");
                continue;
            }
        };
        let Some(datagram) = buf.get(..n) else {
            continue;
        };
        if !prefilter(datagram, port) {
            m::dropped(reason::PREFILTER);
            continue;
        }
        let Ok(permit) = Arc::clone(&shared.limit).try_acquire_owned() else {
            m::dropped(reason::OVERLOAD);
            continue;
        };
        let datagram = datagram.to_vec();
        let socket = Arc::clone(&socket);
        let shared = Arc::clone(&shared);
        tracker.spawn(async move {
            m::inflight(1.0);
            let deferred = process(&shared, &socket, port, source, &datagram).await;
            m::inflight(-1.0);
            // A delayed reply (reject delay) waits without holding a worker slot.
            drop(permit);
            if let Some(d) = deferred {
                tokio::time::sleep(d.delay).await;
                send(&socket, &d.bytes, source).await;
                shared.dedup.complete(&d.key, Some(d.bytes), Instant::now());
            }
        });
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

async fn process<B: Backend>(
    shared: &Shared<B>,
    socket: &UdpSocket,
    port: Port,
    source: SocketAddr,
    datagram: &[u8],
) -> Option<Deferred> {
    let started = Instant::now();
    let Some(client) = shared.clients.lookup(source.ip()) else {
        tracing::debug!(%source, "datagram from unknown client dropped");
        m::dropped(reason::UNKNOWN_CLIENT);
        return None;
    };
    let Some(key) = Key::of(source, datagram) else {
        m::dropped(reason::PREFILTER);
        return None;
    };
    match shared.dedup.begin(key, started) {
        Begin::New => {}
        Begin::InProgress => {
            counter!(DUPLICATES_TOTAL, "state" => "in_progress").increment(1);
            return None;
        }
        Begin::Replay(bytes) => {
            counter!(DUPLICATES_TOTAL, "state" => "replayed").increment(1);
            send(socket, &bytes, source).await;
            return None;
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
            return None;
        }
    };
    let code = packet.code().name();
    let reply = match handler::dispatch(&shared.ctx, &client, port, source, &packet).await {
        Outcome::Drop(why) => {
            m::dropped(why);
            m::request(code, "no_reply");
            return None;
        }
        Outcome::Reply(reply) => reply,
    };
    let signed = reply
        .builder
        .sign_response(packet.authenticator(), client.secret.expose());
    let bytes: Arc<[u8]> = match signed {
        Ok(b) => Arc::from(b),
        Err(e) => {
            tracing::warn!(error = %e, "reply could not be encoded");
            m::dropped(reason::ENCODE_FAILED);
            return None;
        }
    };
    pending.armed = false;
    m::request(code, reply.outcome);
    histogram!(REQUEST_DURATION_SECONDS, "code" => code).record(started.elapsed().as_secs_f64());
    if !reply.delay.is_zero() {
        // Stays "in progress" in the dedup cache until sent.
        return Some(Deferred {
            key,
            bytes,
            delay: reply.delay,
        });
    }
    send(socket, &bytes, source).await;
    shared.dedup.complete(&key, Some(bytes), Instant::now());
    None
}

async fn send(socket: &UdpSocket, bytes: &[u8], dest: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, dest).await {
        tracing::debug!(error = %e, %dest, "send_to failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
