//! Per-code request processing. Handlers never see a socket: they get a decoded packet and
//! the client it came from, and return an [`Outcome`] — a reply to sign and send, or a
//! reason to stay silent. The mapping from each error to a RADIUS action (reject, silent
//! drop, no reply so the NAS retries) is written once, in each handler.
//!
//! They reach data through two narrow seams: a [`UserSource`] for compiled profiles
//! (`profiles::Profiles` in the server, a map in tests) and an [`AcctSink`] for what they
//! record (`accounting::Writer` in the server).

pub mod access;
pub mod accounting;
pub mod status;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{Code, Packet, PacketBuilder};

use crate::clients::Client;

pub use crate::accounting::AcctSink;
pub use crate::profiles::UserSource;

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Authentication (1812).
    Auth,
    /// Accounting (1813).
    Acct,
}

/// Services shared by every request (cloned for each listener: UDP, RadSec).
#[derive(Debug, Clone)]
pub struct Context<U, A> {
    /// Compiled user profiles.
    pub users: U,
    /// Accounting and post-auth records.
    pub sink: A,
    /// Attribute names and values, for rendering accounting enumerations.
    pub dictionary: Arc<Dictionary>,
    /// Delay before an Access-Reject is sent.
    pub reject_delay: Duration,
    /// Sessions, Simultaneous-Use and quotas (None: not enforced, nothing tracked).
    pub sessions: Option<crate::sessions::SessionRules>,
    /// User lookups past the in-process cache one NAS entry may have waiting at once
    /// (`[server] max_misses_per_nas`); beyond it the request is dropped (`miss_budget`).
    pub max_misses_per_nas: usize,
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
pub async fn dispatch<U: UserSource, A: AcctSink>(
    ctx: &Context<U, A>,
    client: &Client,
    port: Port,
    source: SocketAddr,
    packet: &Packet<'_>,
) -> Outcome {
    match (packet.code(), port) {
        (Code::AccessRequest, Port::Auth) => {
            let outcome = access::handle(ctx, client, source, packet).await;
            let label = match &outcome {
                Outcome::Reply(reply) => reply.outcome,
                Outcome::Drop(_) => "dropped",
            };
            crate::tenants::count_access(client.tenant(), label);
            outcome
        }
        // Boxed: an Access-Request answered from the cache should not carry (and copy)
        // the accounting handler's much larger future in every request.
        (Code::AccountingRequest, Port::Acct) => {
            Box::pin(accounting::handle(ctx, client, source, packet)).await
        }
        (Code::StatusServer, _) => status::handle(client, source.ip(), port, packet),
        _ => Outcome::Drop(crate::metrics::reason::WRONG_PORT),
    }
}

/// When a request must carry a Message-Authenticator (it is always verified when present).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaRule {
    /// Access-Request: as the NAS's policy says (BlastRADIUS): `require` always, `auto`
    /// once the NAS has sent one, `off` never.
    NasPolicy,
    /// Status-Server (RFC 5997 §3): always.
    Always,
    /// Accounting-Request (RFC 2866 defines none): never required.
    Never,
}

/// The one Message-Authenticator decision for every request code: `Err` carries the drop
/// reason (missing but required, or present and wrong). Computed-authenticator requests
/// (Accounting) are checked over a zero authenticator, as FreeRADIUS does.
pub fn check_message_authenticator(
    client: &Client,
    source: IpAddr,
    packet: &Packet<'_>,
    rule: MaRule,
) -> Result<(), &'static str> {
    use crate::metrics::reason;
    match packet.verify_message_authenticator(client.signer(), None) {
        Ok(true) => {
            if rule == MaRule::NasPolicy {
                client.saw_message_authenticator(source);
            }
            Ok(())
        }
        Ok(false) => match rule {
            MaRule::Always => Err(reason::MISSING_MESSAGE_AUTHENTICATOR),
            MaRule::NasPolicy if client.requires_message_authenticator(source) => {
                Err(reason::MISSING_MESSAGE_AUTHENTICATOR)
            }
            MaRule::NasPolicy | MaRule::Never => Ok(()),
        },
        Err(_) => Err(reason::BAD_MESSAGE_AUTHENTICATOR),
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
