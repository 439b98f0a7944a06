//! The admin HTTP port: `GET /metrics` (Prometheus text), `/healthz`, `/readyz`, and the
//! operator's status page (`GET /`, `POST /disconnect`, see [`status`]).
//!
//! A deliberately tiny HTTP/1.1 server on a tokio `TcpListener`: one request per
//! connection, bounded request head and body, bounded connection count, a read timeout,
//! and `Connection: close`. It serves operators and scrapers, not the public.

pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const MAX_REQUEST: usize = 8192;
/// Largest request body taken (the Disconnect form is well under 1 KiB).
const MAX_BODY: usize = 4096;
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

/// What the admin port serves besides itself.
#[derive(Debug)]
pub struct Admin {
    /// The Prometheus exporter (None: no recorder, `/metrics` answers 503).
    pub metrics: Option<PrometheusHandle>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
    /// The status page (None: `/` answers 404).
    pub status: Option<status::StatusPage>,
    /// The NAS table, whose per-NAS counters `/metrics` exports (None: not exported).
    pub clients: Option<Arc<crate::clients::Clients>>,
}

/// Most NAS entries exported with a `nas` label: the label set stays bounded on a server
/// with thousands of routers (the status page lists them all).
pub const NAS_METRICS_MAX: usize = 1_000;

/// Copies the per-NAS counters into their Prometheus series, just before a scrape (the
/// packet path only bumps relaxed atomics on the client entry).
fn export_nas_metrics(clients: &crate::clients::Clients) {
    use crate::metrics::{NAS_LAST_PACKET_SECONDS, NAS_REJECTS_TOTAL, NAS_REQUESTS_TOTAL};
    let table = clients.snapshot();
    for client in table.iter().take(NAS_METRICS_MAX) {
        let label = if client.name.is_empty() {
            client.network.to_string()
        } else {
            client.name.clone()
        };
        let c = client.counters();
        metrics::counter!(NAS_REQUESTS_TOTAL, "nas" => label.clone()).absolute(c.requests());
        metrics::counter!(NAS_REJECTS_TOTAL, "nas" => label.clone()).absolute(c.rejects());
        if let Some(at) = c.last_seen() {
            #[allow(clippy::cast_precision_loss)] // Unix seconds fit an f64 exactly.
            metrics::gauge!(NAS_LAST_PACKET_SECONDS, "nas" => label).set(at as f64);
        }
    }
}

/// Serve until `cancel` fires.
pub async fn serve(listener: TcpListener, admin: Admin, cancel: CancellationToken) {
    let admin = Arc::new(admin);
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
        let admin = Arc::clone(&admin);
        tracker.spawn(async move {
            let _permit = permit;
            if let Err(e) = handle(stream, &admin).await {
                tracing::debug!(error = %e, "admin connection error");
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
}

/// One parsed request.
#[derive(Debug, Default)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Why a request was not read whole: answered with this status, or (None) not at all.
type Refusal = Option<&'static str>;

/// Read one request: the head (up to [`MAX_REQUEST`]), then a body of `Content-Length`
/// bytes (up to [`MAX_BODY`]).
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Request, Refusal> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= MAX_REQUEST {
            return Err(Some("431 Request Header Fields Too Large"));
        }
        let n = stream.read(&mut chunk).await.map_err(|_| None)?;
        if n == 0 {
            return Err(None);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or_default().split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>());
    let mut body = buf.get(head_end..).unwrap_or_default().to_vec();
    if method == "POST" {
        let length = match length {
            Some(Ok(n)) => n,
            Some(Err(_)) => return Err(Some("400 Bad Request")),
            None => return Err(Some("411 Length Required")),
        };
        if length > MAX_BODY {
            return Err(Some("413 Content Too Large"));
        }
        while body.len() < length {
            let n = stream.read(&mut chunk).await.map_err(|_| None)?;
            if n == 0 {
                return Err(None);
            }
            body.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        body.truncate(length);
    } else {
        body.clear();
    }
    Ok(Request { method, path, body })
}

/// An answer: status line, content type, body.
type Response = (&'static str, &'static str, String);

const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

async fn handle(mut stream: TcpStream, admin: &Admin) -> std::io::Result<()> {
    let request = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Err(_) | Ok(Err(None)) => return Ok(()),
        Ok(Err(Some(status))) => Err(status),
        Ok(Ok(r)) => Ok(r),
    };
    let refused = request.is_err();
    let (method, (status, content_type, body)) = match request {
        Ok(r) => (r.method.clone(), respond(&r, admin).await),
        Err(status) => (String::new(), (status, TEXT, format!("{status}\n"))),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if content_type == HTML {
        // Nothing on the page runs script or is framed; the form posts only back here.
        head.push_str(
            "Cache-Control: no-store\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n\
             Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'\r\n",
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await?;
    if refused {
        // Closing with unread input would reset the connection and could destroy the
        // answer in flight: read (a bounded amount of) what the client still sends.
        let _ = tokio::time::timeout(READ_TIMEOUT, async {
            let mut sink = [0u8; 1024];
            for _ in 0..64 {
                if matches!(stream.read(&mut sink).await, Ok(0) | Err(_)) {
                    break;
                }
            }
        })
        .await;
    }
    Ok(())
}

/// The status page's routes, then the plain ones.
async fn respond(request: &Request, admin: &Admin) -> Response {
    let method = request.method.as_str();
    match (&admin.status, method, request.path.as_str()) {
        (Some(page), "GET" | "HEAD", "/" | "/status") => ("200 OK", HTML, page.render(None).await),
        (Some(page), "POST", "/disconnect") => {
            let (status, body) = page.disconnect(&request.body).await;
            (status, HTML, body)
        }
        _ => {
            if request.path == "/metrics"
                && let Some(clients) = &admin.clients
            {
                export_nas_metrics(clients);
            }
            route(
                method,
                &request.path,
                admin.metrics.as_ref(),
                &admin.readiness,
            )
        }
    }
}

fn route(
    method: &str,
    path: &str,
    metrics: Option<&PrometheusHandle>,
    readiness: &Readiness,
) -> Response {
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

    async fn read(raw: &[u8]) -> Result<Request, Refusal> {
        let mut stream = raw;
        read_request(&mut stream).await
    }

    #[tokio::test]
    async fn reads_head_and_a_bounded_body() {
        let r = read(
            "POST /disconnect?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nab=cdEXTRA"
                .as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/disconnect")
        );
        assert_eq!(r.body, b"ab=cd");
        let r = read(b"GET / HTTP/1.1\r\n\r\nignored").await.unwrap();
        assert!(r.body.is_empty());
        let refused = |raw: &'static str| async move { read(raw.as_bytes()).await.err().flatten() };
        assert_eq!(
            refused("POST / HTTP/1.1\r\n\r\nx").await,
            Some("411 Length Required")
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n").await,
            Some("413 Content Too Large")
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").await,
            Some("400 Bad Request")
        );
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_REQUEST));
        assert_eq!(
            read(long.as_bytes()).await.err().flatten(),
            Some("431 Request Header Fields Too Large")
        );
        // Cut short: nothing to answer.
        assert!(matches!(read(b"GET / HT").await, Err(None)));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab").await,
            Err(None)
        ));
    }
}
