//! The admin HTTP port: `GET /metrics` (Prometheus text), `/healthz`, `/readyz`.
//!
//! A deliberately tiny HTTP/1.1 server on a tokio `TcpListener`: one request per
//! connection, bounded request size, bounded connection count, a read timeout, and
//! `Connection: close`. It serves operators and scrapers, not the public.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const MAX_REQUEST: usize = 8192;
const MAX_CONNECTIONS: usize = 64;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What `/readyz` reports: sockets bound, the database answered recently, and the
/// invalidation listener is connected (without it, admin changes are not seen).
#[derive(Debug)]
pub struct Readiness {
    sockets_bound: AtomicBool,
    /// Unix milliseconds of the last successful database health check (0 = never).
    db_ok_at_ms: AtomicI64,
    db_max_age_ms: i64,
    /// The LISTEN connection's health ([`Readiness::with_listener`]); none = not checked.
    listener_up: Option<Arc<AtomicBool>>,
    /// The receive threads ([`Readiness::watch_receivers`]).
    receivers: std::sync::OnceLock<crate::server::ReceiverHealth>,
}

impl Readiness {
    /// Not ready; the database counts as reachable for `db_max_age` after each success.
    pub fn new(db_max_age: Duration) -> Self {
        Self {
            sockets_bound: AtomicBool::new(false),
            db_ok_at_ms: AtomicI64::new(0),
            db_max_age_ms: i64::try_from(db_max_age.as_millis()).unwrap_or(i64::MAX),
            listener_up: None,
            receivers: std::sync::OnceLock::new(),
        }
    }

    /// Also require every receive thread to be running (set once, when the server runs).
    pub fn watch_receivers(&self, health: crate::server::ReceiverHealth) {
        let _ = self.receivers.set(health);
    }

    /// Also require the invalidation listener's flag to be up.
    #[must_use]
    pub fn with_listener(mut self, up: Arc<AtomicBool>) -> Self {
        self.listener_up = Some(up);
        self
    }

    /// Record whether the RADIUS sockets are bound.
    pub fn set_sockets_bound(&self, bound: bool) {
        self.sockets_bound.store(bound, Ordering::Relaxed);
    }

    /// Record a successful database round trip now.
    pub fn db_ok(&self) {
        self.db_ok_at_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Whether the server is ready, and why not.
    pub fn check(&self) -> Result<(), &'static str> {
        if !self.sockets_bound.load(Ordering::Relaxed) {
            return Err("sockets not bound");
        }
        let at = self.db_ok_at_ms.load(Ordering::Relaxed);
        let age = chrono::Utc::now().timestamp_millis().saturating_sub(at);
        if at == 0 || age > self.db_max_age_ms {
            return Err("database not reachable recently");
        }
        if let Some(up) = &self.listener_up
            && !up.load(Ordering::Relaxed)
        {
            return Err("cache invalidation listener not connected");
        }
        if let Some(r) = self.receivers.get()
            && !r.all_alive()
        {
            return Err("a receive thread has stopped");
        }
        Ok(())
    }
}

/// Bind the admin listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    metrics: Option<PrometheusHandle>,
    readiness: Arc<Readiness>,
    cancel: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            continue; // Too many connections: close this one.
        };
        let metrics = metrics.clone();
        let readiness = Arc::clone(&readiness);
        tracker.spawn(async move {
            let _permit = permit;
            if let Err(e) = handle(stream, metrics.as_ref(), &readiness).await {
                tracing::debug!(error = %e, "admin connection error");
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
}

async fn handle(
    mut stream: TcpStream,
    metrics: Option<&PrometheusHandle>,
    readiness: &Readiness,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_REQUEST {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if head.is_err() {
        return Ok(());
    }
    head.unwrap_or(Ok(()))?;
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.lines().next().unwrap_or_default().split_whitespace();
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();
    let (status, content_type, body) = route(method, path, metrics, readiness);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

fn route(
    method: &str,
    path: &str,
    metrics: Option<&PrometheusHandle>,
    readiness: &Readiness,
) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return (
            "405 Method Not Allowed",
            TEXT,
            "method not allowed\n".into(),
        );
    }
    match path {
        "/metrics" => match metrics {
            Some(h) => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                h.render(),
            ),
            None => (
                "503 Service Unavailable",
                TEXT,
                "no metrics recorder\n".into(),
            ),
        },
        "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" => match readiness.check() {
            Ok(()) => ("200 OK", TEXT, "ready\n".into()),
            Err(why) => (
                "503 Service Unavailable",
                TEXT,
                format!("not ready: {why}\n"),
            ),
        },
        _ => ("404 Not Found", TEXT, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_sockets_and_db() {
        let r = Readiness::new(Duration::from_secs(10));
        assert!(r.check().is_err());
        r.set_sockets_bound(true);
        assert_eq!(r.check(), Err("database not reachable recently"));
        r.db_ok();
        assert_eq!(r.check(), Ok(()));
    }

    #[test]
    fn readiness_follows_the_invalidation_listener() {
        let up = Arc::new(AtomicBool::new(false));
        let r = Readiness::new(Duration::from_secs(10)).with_listener(Arc::clone(&up));
        r.set_sockets_bound(true);
        r.db_ok();
        assert_eq!(r.check(), Err("cache invalidation listener not connected"));
        up.store(true, Ordering::Relaxed);
        assert_eq!(r.check(), Ok(()));
        up.store(false, Ordering::Relaxed);
        assert!(
            r.check().is_err(),
            "a lost listener makes the server unready again"
        );
    }

    #[test]
    fn routes() {
        let r = Readiness::new(Duration::from_secs(10));
        assert_eq!(route("GET", "/healthz", None, &r).0, "200 OK");
        assert_eq!(
            route("GET", "/readyz", None, &r).0,
            "503 Service Unavailable"
        );
        assert_eq!(route("GET", "/nope", None, &r).0, "404 Not Found");
        assert_eq!(
            route("POST", "/healthz", None, &r).0,
            "405 Method Not Allowed"
        );
    }
}
