//! RadSec (RFC 6614): RADIUS over TLS on TCP, beside the UDP listeners, into the same
//! handlers.
//!
//! A connection is accepted only from a source address the NAS table knows (the same
//! lookup as UDP, before any TLS work), and only with a client certificate that chains to
//! `[radsec] ca_file` (mutual TLS, TLS 1.2 or 1.3, rustls with the ring provider) and,
//! with `require_certificate_name`, names that entry in a DNS subjectAltName. Every
//! request on it is then handled as the matching UDP request would be, as that NAS entry,
//! except that the shared secret is the fixed `radsec` (RFC 6614 §2.3) and
//! Access-Requests need no Message-Authenticator (TLS protects them; the entry's UDP
//! secret and Message-Authenticator policy do not apply).
//!
//! Framing: packets follow each other on the stream, each as long as its Length field
//! (RFC 6613 §2.1). A Length outside 20..=4096, a code we never answer or a packet that
//! does not decode means the stream can no longer be trusted: the connection is closed
//! (RFC 6613 §2.6.4) and the packet counted in `radius_dropped_total`. A well-formed
//! packet that fails a check (authenticator, Message-Authenticator, unknown user store)
//! is silently discarded as over UDP, and the connection stays open. Several requests
//! may be in flight per connection (`max_pipelined`, the reader waits beyond it); replies
//! are written as they complete, matched by the NAS through their identifiers. There is
//! no duplicate cache: a RadSec client does not retransmit on the same connection (RFC
//! 6613 §2.6.1).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clients::{Client, Clients};
use crate::handler::{AcctSink, Context, Port, UserSource};
use crate::metrics::{
    self as m, RADSEC_CONNECTIONS, RADSEC_CONNECTIONS_CLOSED_TOTAL,
    RADSEC_CONNECTIONS_REFUSED_TOTAL, RADSEC_HANDSHAKE_FAILURES_TOTAL, reason,
};
use radius_proto::protocol::{Code, MAX_PACKET_LEN, MIN_PACKET_LEN, Packet};

/// The shared secret of every RadSec connection (RFC 6614 §2.3).
pub const RADSEC_SECRET: &str = "radsec";

/// A RadSec TLS file could not be used; each names its `[radsec]` key and the file.
#[derive(Debug, thiserror::Error)]
pub enum RadsecError {
    /// A key needed with `listen` is not set.
    #[error("radsec.{key} must be set when radsec.listen is set")]
    Missing {
        /// The key (`cert_file`, `key_file`, `ca_file`).
        key: &'static str,
    },
    /// The file cannot be read.
    #[error("radsec.{key} {}: {source}", path.display())]
    Read {
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but holds nothing usable.
    #[error("radsec.{key} {}: {what}", path.display())]
    Content {
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
}

/// Where the TLS files are (`[radsec] cert_file`, `key_file`, `ca_file`).
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    /// Our certificate chain (PEM), leaf first.
    pub cert_file: Option<&'a Path>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<&'a Path>,
    /// The CA(s) (PEM) NAS client certificates must chain to.
    pub ca_file: Option<&'a Path>,
}

impl TlsFiles<'_> {
    /// Read the files and build the TLS server configuration: TLS 1.2 and 1.3, a client
    /// certificate required and verified against `ca_file`.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, RadsecError> {
        let cert_path = self
            .cert_file
            .ok_or(RadsecError::Missing { key: "cert_file" })?;
        let key_path = self
            .key_file
            .ok_or(RadsecError::Missing { key: "key_file" })?;
        let ca_path = self
            .ca_file
            .ok_or(RadsecError::Missing { key: "ca_file" })?;
        let chain = read_certs("cert_file", cert_path)?;
        let key = read_key(key_path)?;
        let mut roots = RootCertStore::empty();
        for ca in read_certs("ca_file", ca_path)? {
            roots.add(ca).map_err(|e| content("ca_file", ca_path, e))?;
        }
        // ring, the provider sqlx and redis already use (aws-lc-rs needs a C/cmake build).
        // rustls 0.23.48 deprecates it only for its lack of post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| content("ca_file", ca_path, e))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| content("cert_file", cert_path, e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| {
                content(
                    "key_file",
                    key_path,
                    format!("does not go with radsec.cert_file: {e}"),
                )
            })?;
        Ok(Arc::new(config))
    }
}

fn content(key: &'static str, path: &Path, what: impl std::fmt::Display) -> RadsecError {
    RadsecError::Content {
        key,
        path: path.to_owned(),
        what: what.to_string(),
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, RadsecError> {
    std::fs::read(path).map_err(|source| RadsecError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, RadsecError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(key, path, format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(content(
            key,
            path,
            "no certificate in the file (PEM \"CERTIFICATE\" blocks expected)",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, RadsecError> {
    let bytes = read("key_file", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        content(
            "key_file",
            path,
            format!("no private key in the file (PEM, unencrypted): {e}"),
        )
    })
}

/// Limits of the RadSec listener.
#[derive(Debug, Clone)]
pub struct RadsecOptions {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A connection with nothing in flight and nothing received for this long is closed;
    /// also the longest one reply write may take.
    pub idle_timeout: Duration,
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// Requests in flight per connection; the connection is not read beyond it.
    pub max_pipelined: usize,
    /// The client certificate must carry the NAS entry's name as a DNS subjectAltName.
    pub require_certificate_name: bool,
}

/// What every connection shares.
#[derive(Debug)]
struct Shared<U, A> {
    ctx: Context<U, A>,
    clients: Arc<Clients>,
    options: RadsecOptions,
}

/// The bound RadSec listener, ready to run.
pub struct Radsec<U, A> {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared<U, A>>,
}

impl<U, A> std::fmt::Debug for Radsec<U, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Radsec")
            .field("listener", &self.listener)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl<U: UserSource, A: AcctSink> Radsec<U, A> {
    /// Bind the TCP listener.
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        options: RadsecOptions,
        ctx: Context<U, A>,
        clients: Arc<Clients>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("binding RadSec listener {addr}: {e}"))
        })?;
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(tls),
            shared: Arc::new(Shared {
                ctx,
                clients,
                options,
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until `cancel` fires. Each connection is a task on `tracker`;
    /// on `cancel` it stops reading, writes the replies still in flight and closes.
    pub async fn run(self, cancel: CancellationToken, tracker: TaskTracker) {
        let slots = Arc::new(Semaphore::new(self.shared.options.max_connections.max(1)));
        loop {
            let accepted = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(error = %e, "RadSec accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Unknown sources cost no TLS work (and take no connection slot).
            if self.shared.clients.lookup(peer.ip()).is_none() {
                tracing::debug!(%peer, "RadSec connection from an unknown client closed");
                m::inc(
                    RADSEC_CONNECTIONS_REFUSED_TOTAL,
                    &[("reason", "unknown_client")],
                    1,
                );
                continue;
            }
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                m::inc(
                    RADSEC_CONNECTIONS_REFUSED_TOTAL,
                    &[("reason", "max_connections")],
                    1,
                );
                continue;
            };
            let shared = Arc::clone(&self.shared);
            let acceptor = self.acceptor.clone();
            let cancel = cancel.clone();
            tracker.spawn(async move {
                let ended = match handshake(&acceptor, stream, peer, &shared.options).await {
                    Ok(tls) if !names_its_nas(&shared, &tls, peer) => {
                        m::inc(
                            RADSEC_CONNECTIONS_REFUSED_TOTAL,
                            &[("reason", "certificate_name")],
                            1,
                        );
                        // Dropped unanswered: the TCP connection closes.
                        Err(None)
                    }
                    Ok(tls) => Ok(serve(shared, tls, peer, cancel).await),
                    Err(why) => Err(Some(why)),
                };
                // The slot is free before the end is counted: whoever sees the count can
                // connect again.
                drop(slot);
                match ended {
                    Ok(closed) => m::inc(
                        RADSEC_CONNECTIONS_CLOSED_TOTAL,
                        &[("reason", closed.label())],
                        1,
                    ),
                    Err(Some(why)) => {
                        m::inc(RADSEC_HANDSHAKE_FAILURES_TOTAL, &[("reason", why)], 1);
                    }
                    Err(None) => {}
                }
            });
        }
    }
}

/// Whether the connection may speak for the NAS entry of its source address: always,
/// unless `require_certificate_name` is set; then the client certificate must carry the
/// entry's name as a DNS subjectAltName (checked as a TLS client checks a server's name).
fn names_its_nas<U, A>(
    shared: &Shared<U, A>,
    tls: &tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
) -> bool {
    if !shared.options.require_certificate_name {
        return true;
    }
    let Some(entry) = shared.clients.lookup(peer.ip()) else {
        return false;
    };
    let Some(cert) = tls.get_ref().1.peer_certificates().and_then(<[_]>::first) else {
        return false;
    };
    let named = rustls::pki_types::ServerName::try_from(entry.name.as_str())
        .ok()
        .zip(webpki::EndEntityCert::try_from(cert).ok())
        .is_some_and(|(name, cert)| cert.verify_is_valid_for_subject_name(&name).is_ok());
    if !named {
        tracing::debug!(%peer, nas = %entry.name, "RadSec client certificate does not name its NAS entry");
    }
    named
}

/// The TLS handshake, bounded in time; `Err` names why it failed (`tls`, `timeout`).
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    options: &RadsecOptions,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, &'static str> {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "RadSec TLS handshake failed");
            Err("tls")
        }
        Err(_) => {
            tracing::debug!(%peer, "RadSec TLS handshake timed out");
            Err("timeout")
        }
    }
}

/// Keeps the open-connections gauge right however the connection ends.
struct Open;

impl Open {
    fn start() -> Self {
        m::gauge_add(RADSEC_CONNECTIONS, 1.0);
        Self
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        m::gauge_add(RADSEC_CONNECTIONS, -1.0);
    }
}

/// Why the reading side of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The peer closed it (or the stream failed).
    Peer,
    /// Nothing in flight and nothing received for `idle_timeout`.
    Idle,
    /// A Length outside 20..=4096, a code we never answer, a packet that does not decode.
    Framing,
    /// Shutdown, or the writing side failed.
    Stop,
    /// The source address left the NAS table while connected.
    Unknown,
}

impl Closed {
    fn label(self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::Idle => "idle",
            Self::Framing => "framing",
            Self::Stop => "shutdown",
            Self::Unknown => "unknown_client",
        }
    }
}

/// One established connection: read requests, hand each to a task, write replies as they
/// complete; on the way out wait for the tasks and close the TLS session. Returns why it
/// ended.
async fn serve<U: UserSource, A: AcctSink, S>(
    shared: Arc<Shared<U, A>>,
    tls: S,
    peer: SocketAddr,
    cancel: CancellationToken,
) -> Closed
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let _open = Open::start();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let pipelined = shared.options.max_pipelined.max(1);
    let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(pipelined);
    let stop = cancel.child_token();
    // A peer that stops reading must not hold the connection (and the shutdown) forever:
    // each write gets as long as the connection may idle.
    let patience = shared.options.idle_timeout;
    let writer = {
        let stop = stop.clone();
        async move {
            while let Some(bytes) = rx.recv().await {
                let written = tokio::time::timeout(patience, wr.write_all(&bytes)).await;
                if !matches!(written, Ok(Ok(()))) {
                    tracing::debug!(%peer, "RadSec write failed or timed out");
                    stop.cancel();
                    // Keep draining so the request tasks are never blocked on a full
                    // channel.
                    while rx.recv().await.is_some() {}
                    return;
                }
            }
            // Every request task is done: close_notify, then FIN.
            let _ = tokio::time::timeout(patience, wr.shutdown()).await;
        }
    };
    let reader = read_requests(&shared, &mut rd, peer, tx, &stop);
    let (mut closed, ()) = tokio::join!(reader, writer);
    if closed == Closed::Stop && !cancel.is_cancelled() {
        // Not a shutdown: the writing side failed, the peer is gone.
        closed = Closed::Peer;
    }
    tracing::debug!(%peer, why = closed.label(), "RadSec connection closed");
    closed
}

/// The reading side: frame packets, spawn one task per request (at most `max_pipelined`
/// at once), until the peer closes, the connection idles out, framing breaks, or `stop`.
async fn read_requests<U: UserSource, A: AcctSink, R: AsyncRead + Unpin>(
    shared: &Arc<Shared<U, A>>,
    rd: &mut R,
    peer: SocketAddr,
    tx: mpsc::Sender<Arc<[u8]>>,
    stop: &CancellationToken,
) -> Closed {
    let pipelined = shared.options.max_pipelined.max(1);
    let slots = Arc::new(Semaphore::new(pipelined));
    let mut frames = Framer::default();
    // The NAS entry this connection speaks for, as RadSec sees it (rebuilt when the NAS
    // table is reloaded and the entry changes).
    let mut view: Option<(Arc<Client>, Arc<Client>)> = None;
    loop {
        let next = frames.next(rd, stop, shared.options.idle_timeout, &slots, pipelined);
        let packet = match next.await {
            Ok(p) => p,
            Err(closed) => return closed,
        };
        let Some(entry) = shared.clients.lookup(peer.ip()) else {
            // Removed from the NAS table while connected.
            m::dropped(reason::UNKNOWN_CLIENT);
            return Closed::Unknown;
        };
        let client = match &view {
            Some((of, client)) if Arc::ptr_eq(of, &entry) => Arc::clone(client),
            _ => {
                let client = Arc::new(entry.radsec_view(RADSEC_SECRET));
                view = Some((entry, Arc::clone(&client)));
                client
            }
        };
        let Some(port) = port_of(&packet) else {
            m::dropped(reason::PREFILTER);
            return Closed::Framing;
        };
        if let Err(e) = Packet::decode(&packet) {
            tracing::debug!(%peer, reason = e.reason(), "undecodable RadSec packet: closing");
            m::dropped(e.reason());
            return Closed::Framing;
        }
        let slot = tokio::select! {
            biased;
            () = stop.cancelled() => return Closed::Stop,
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return Closed::Stop,
            },
        };
        let shared = Arc::clone(shared);
        let tx = tx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _inflight = super::Inflight::start();
            if let Some((bytes, delay)) = answer(&shared.ctx, &client, port, peer, &packet).await {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let _ = tx.send(bytes).await;
            }
        });
    }
}

/// The port a request code belongs to (Status-Server is answered as on the
/// authentication port); `None` for a code we never answer.
fn port_of(packet: &[u8]) -> Option<Port> {
    match packet.first().copied().map(Code::from_u8)? {
        Code::AccessRequest | Code::StatusServer => Some(Port::Auth),
        Code::AccountingRequest => Some(Port::Acct),
        _ => None,
    }
}

/// One request through the handlers, as the UDP path does it: dispatch, sign with the
/// RadSec secret, count; the signed reply and how long to hold it (reject delay), or
/// `None` when the request is silently discarded (counted).
async fn answer<U: UserSource, A: AcctSink>(
    ctx: &Context<U, A>,
    client: &Client,
    port: Port,
    peer: SocketAddr,
    bytes: &[u8],
) -> Option<(Arc<[u8]>, Duration)> {
    let started = Instant::now();
    client.counters().request();
    // Decoded (and checked) once already by the reader.
    let packet = Packet::decode(bytes).ok()?;
    super::respond(ctx, client, port, peer, &packet, started)
        .await
        .ok()
}

/// Cuts the byte stream into packets by their Length field. Reads are cancel-safe: bytes
/// already received stay in the buffer while the reader waits.
#[derive(Debug, Default)]
struct Framer {
    buf: Vec<u8>,
}

/// Read this many bytes at a time at most.
const READ_CHUNK: usize = 4096;

impl Framer {
    /// The next whole packet in the buffer, if there is one; `Err` when the Length field
    /// cannot be right.
    fn take(&mut self) -> Result<Option<Vec<u8>>, Closed> {
        let Some(&[hi, lo]) = self.buf.get(2..4) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if !(MIN_PACKET_LEN..=MAX_PACKET_LEN).contains(&len) {
            m::dropped("bad_length");
            return Err(Closed::Framing);
        }
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }

    /// The next packet. `Err` ends the connection: the peer closed it, framing broke,
    /// `stop` fired, or the connection has been idle for `idle` with none of the
    /// `pipelined` request slots of `slots` taken.
    async fn next<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        stop: &CancellationToken,
        idle: Duration,
        slots: &Semaphore,
        pipelined: usize,
    ) -> Result<Vec<u8>, Closed> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(packet) = self.take()? {
                return Ok(packet);
            }
            let read = tokio::select! {
                biased;
                () = stop.cancelled() => return Err(Closed::Stop),
                r = tokio::time::timeout(idle, rd.read(&mut chunk)) => r,
            };
            match read {
                Ok(Ok(0) | Err(_)) => return Err(Closed::Peer),
                Ok(Ok(n)) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                // Idle only if nothing is in flight and no packet is half received.
                Err(_) if slots.available_permits() == pipelined && self.buf.is_empty() => {
                    return Err(Closed::Idle);
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(code: u8, len: u16) -> Vec<u8> {
        let mut p = vec![code, 7];
        p.extend_from_slice(&len.to_be_bytes());
        p.resize(usize::from(len.max(4)), 0);
        p
    }

    #[test]
    fn framer_cuts_packets_by_their_length() {
        let mut f = Framer::default();
        let (a, b) = (header(1, 20), header(4, 30));
        f.buf.extend_from_slice(&a);
        f.buf.extend_from_slice(b.get(..10).unwrap());
        assert_eq!(f.take(), Ok(Some(a)));
        assert_eq!(f.take(), Ok(None), "half a packet waits");
        f.buf.extend_from_slice(b.get(10..).unwrap());
        assert_eq!(f.take(), Ok(Some(b)));
        assert!(f.buf.is_empty());
    }

    #[test]
    fn framer_refuses_impossible_lengths() {
        for len in [0u16, 19, 4097, u16::MAX] {
            let mut f = Framer::default();
            f.buf.extend_from_slice(&[1, 1]);
            f.buf.extend_from_slice(&len.to_be_bytes());
            assert_eq!(f.take(), Err(Closed::Framing), "{len}");
        }
    }

    #[test]
    fn codes_map_to_ports() {
        assert_eq!(port_of(&header(1, 20)), Some(Port::Auth));
        assert_eq!(port_of(&header(12, 20)), Some(Port::Auth));
        assert_eq!(port_of(&header(4, 20)), Some(Port::Acct));
        assert_eq!(port_of(&header(2, 20)), None);
        assert_eq!(port_of(&header(43, 20)), None);
    }
}
