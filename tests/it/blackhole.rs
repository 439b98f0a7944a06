//! A TCP proxy the test controls: it forwards connections to a target until told to
//! blackhole them, after which the connections it already carries stay open but nothing
//! crosses them in either direction (no FIN, no RST) — what a NAT idle timeout or a VIP
//! fail-over does to a long-lived connection. Connections accepted afterwards are
//! forwarded normally.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy; dropping it closes every connection.
#[derive(Debug)]
pub struct Blackhole {
    addr: SocketAddr,
    /// Connections numbered below this are blackholed.
    cut: Arc<AtomicU64>,
    /// The next connection's number (= connections accepted so far).
    next: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Blackhole {
    /// Proxies a loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let (c, n) = (Arc::clone(&cut), Arc::clone(&next));
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let id = n.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                conns.spawn(pump(cr, sw, id, Arc::clone(&c)));
                conns.spawn(pump(sr, cw, id, Arc::clone(&c)));
            }
        });
        Self {
            addr,
            cut,
            next,
            task,
        }
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// From now on, nothing crosses the connections open so far.
    pub fn blackhole_existing(&self) {
        self.cut
            .store(self.next.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The first `n` connections (counting from the start) are blackholed from their
    /// first byte: a connection attempt that stalls.
    pub fn blackhole_first(&self, n: u64) {
        self.cut.store(n, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` → `to` until EOF; once connection `id` is cut, holds both ends open and
/// forwards nothing more.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    cut: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if id < cut.load(Ordering::SeqCst) {
            // Silent death: keep the sockets, drop the bytes, forever (until aborted).
            let _hold = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
