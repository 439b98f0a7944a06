//! The Sentinel side of [`super::RedisConnection`]: the primary the sentinels name, one
//! multiplexed connection to it, and when to forget that connection (so the next command
//! asks the sentinels again and finds a promoted replica).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisResult, ServerErrorKind,
    Value,
};

/// After a failed primary lookup, how long commands fail at once instead of asking the
/// sentinels again (keeps an outage from turning every command into a lookup).
const RESOLVE_BACKOFF: Duration = Duration::from_millis(200);

/// The primary found through the sentinels, and the one connection to it.
pub(super) struct SentinelLink {
    /// Held while the sentinels are asked (one lookup at a time).
    sentinel: tokio::sync::Mutex<SentinelClient>,
    /// The connection to the current primary and its number (a failure drops only the
    /// connection it happened on, never a newer one).
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    /// The number the next connection gets.
    next: AtomicU64,
    /// When the last lookup failed.
    failed_at: Mutex<Option<Instant>>,
    config: AsyncConnectionConfig,
    timeout: Duration,
}

impl SentinelLink {
    /// A link that asks `sentinel` for the primary on first use; `timeout` bounds each
    /// lookup, and `config` each connection to the primary.
    pub(super) fn new(
        sentinel: SentinelClient,
        config: AsyncConnectionConfig,
        timeout: Duration,
    ) -> Self {
        Self {
            sentinel: tokio::sync::Mutex::new(sentinel),
            current: Mutex::new(None),
            next: AtomicU64::new(0),
            failed_at: Mutex::new(None),
            config,
            timeout,
        }
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current.lock().ok()?.clone()
    }

    /// The connection to the primary, asking the sentinels first when there is none.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let mut sentinel = self.sentinel.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let recent_failure = self
            .failed_at
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|at| at.elapsed() < RESOLVE_BACKOFF);
        if recent_failure {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no Redis primary known (the last Sentinel lookup failed just now)",
            )
            .into());
        }
        let lookup = async {
            let client = sentinel.async_get_client().await?;
            let conn = client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await?;
            Ok::<_, RedisError>((client, conn))
        };
        let result = match tokio::time::timeout(self.timeout, lookup).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "Sentinel lookup of the Redis primary timed out",
            )
            .into()),
        };
        match result {
            Ok((client, conn)) => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                let mut g = self.current.lock().map_err(|_| poisoned())?;
                *g = Some((n, conn.clone()));
                if let Ok(mut f) = self.failed_at.lock() {
                    *f = None;
                }
                tracing::info!(primary = %client.get_connection_info().addr(), "Redis primary (from Sentinel) connected");
                Ok((n, conn))
            }
            Err(e) => {
                if let Ok(mut f) = self.failed_at.lock() {
                    *f = Some(Instant::now());
                }
                Err(e)
            }
        }
    }

    /// Forgets connection `n` (the next command asks the sentinels again).
    fn drop_connection(&self, n: u64) {
        if let Ok(mut g) = self.current.lock()
            && g.as_ref().is_some_and(|(m, _)| *m == n)
        {
            *g = None;
        }
    }

    pub(super) async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let (n, mut conn) = self.connection().await?;
        let watch = Watch {
            link: self,
            n,
            done: false,
        };
        watch.finish(conn.req_packed_command(cmd).await)
    }

    pub(super) async fn pipeline(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let (n, mut conn) = self.connection().await?;
        let watch = Watch {
            link: self,
            n,
            done: false,
        };
        watch.finish(conn.req_packed_commands(pipeline, offset, count).await)
    }
}

fn poisoned() -> RedisError {
    RedisError::from((ErrorKind::Client, "Sentinel connection state poisoned"))
}

/// Whether `e` means the primary is gone or no longer the primary.
fn lost_primary(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// Drops the connection a request ran on when the request failed because of it, or was
/// abandoned (the caller's timeout fired: the primary may be hung).
struct Watch<'a> {
    link: &'a SentinelLink,
    n: u64,
    done: bool,
}

impl Watch<'_> {
    fn finish<T>(mut self, result: RedisResult<T>) -> RedisResult<T> {
        self.done = true;
        if let Err(e) = &result
            && lost_primary(e)
        {
            self.link.drop_connection(self.n);
        }
        result
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.link.drop_connection(self.n);
        }
    }
}
