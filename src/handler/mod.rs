//! Per-code request processing. Handlers never see a socket: they get a decoded packet and
//! the client it came from, and return an [`Outcome`] — a reply to sign and send, or a
//! reason to stay silent. The mapping from each error to a RADIUS action (reject, silent
//! drop, no reply so the NAS retries) is written once, in each handler.
//!
//! The handlers reach the database and caches through the [`Backend`] seam, implemented
//! over `store::Store` by `app`, and by fakes in unit tests.

pub mod access;
pub mod accounting;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clients::Client;
use crate::policy::Profile;
use crate::store::model::{AcctRecord, PostAuthRecord};
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{Code, Packet, PacketBuilder};

/// A backend failure: the request gets no reply, so the NAS retries (never a false reject).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{backend} unavailable: {message}")]
pub struct BackendError {
    /// Which backend (`postgres`, `redis`, `store`): a metric label.
    pub backend: &'static str,
    /// What happened (no secrets).
    pub message: String,
}

/// What the handlers need from the data layer.
pub trait Backend: Send + Sync + 'static {
    /// The compiled profile of `username`; `Ok(None)` when no such user.
    fn user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Arc<Profile>>, BackendError>> + Send;

    /// Write one accounting record durably; `Ok` only once it is committed.
    fn write_accounting(
        &self,
        record: &AcctRecord,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Queue a post-auth record without blocking; false when it was dropped (queue full).
    fn post_auth(&self, record: PostAuthRecord) -> bool;
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Authentication (1812).
    Auth,
    /// Accounting (1813).
    Acct,
}

/// Services shared by every request.
#[derive(Debug)]
pub struct Context<B> {
    /// Users, accounting and post-auth.
    pub backend: B,
    /// Attribute names and values, for rendering accounting enumerations.
    pub dictionary: Arc<Dictionary>,
    /// Delay before an Access-Reject is sent.
    pub reject_delay: Duration,
}

/// A reply ready to sign.
#[derive(Debug)]
pub struct Reply {
    /// The reply under construction (Message-Authenticator reserved first).
    pub builder: PacketBuilder,
    /// Wait this long before sending (reject delay).
    pub delay: Duration,
    /// `outcome` metric label.
    pub outcome: &'static str,
}

/// What to do with a request.
#[derive(Debug)]
pub enum Outcome {
    /// Sign and send this reply.
    Reply(Reply),
    /// Send nothing; the reason is a `radius_dropped_total` label.
    Drop(&'static str),
}

impl Outcome {
    /// A reply with no delay.
    pub fn reply(builder: PacketBuilder, outcome: &'static str) -> Self {
        Self::Reply(Reply {
            builder,
            delay: Duration::ZERO,
            outcome,
        })
    }
}

/// Route a decoded request by code and port.
pub async fn dispatch<B: Backend>(
    ctx: &Context<B>,
    client: &Client,
    port: Port,
    source: SocketAddr,
    packet: &Packet<'_>,
) -> Outcome {
    match (packet.code(), port) {
        (Code::AccessRequest, Port::Auth) => access::handle(ctx, client, source, packet).await,
        (Code::AccountingRequest, Port::Acct) => {
            accounting::handle(ctx, client, source, packet).await
        }
        (Code::StatusServer, _) => status::handle(client, port, packet),
        _ => Outcome::Drop(crate::metrics::reason::WRONG_PORT),
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// True at most once per `period_secs` for one `last` stamp: keeps an outage (every request
/// failing the same way) from writing a log line per packet. The metric counts every one.
pub(crate) fn log_allowed(last: &std::sync::atomic::AtomicU64, period_secs: u64) -> bool {
    use std::sync::atomic::Ordering;
    let now = u64::try_from(unix_now()).unwrap_or(0);
    let prev = last.load(Ordering::Relaxed);
    now >= prev.saturating_add(period_secs)
        && last
            .compare_exchange(prev, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

#[cfg(test)]
mod log_limit_tests {
    use std::sync::atomic::AtomicU64;

    #[test]
    fn once_per_period() {
        let last = AtomicU64::new(0);
        assert!(super::log_allowed(&last, 10));
        assert!(
            !super::log_allowed(&last, 10),
            "second call within the period"
        );
        last.store(0, std::sync::atomic::Ordering::Relaxed);
        assert!(
            super::log_allowed(&last, 10),
            "allowed again once the period has passed"
        );
    }
}
