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

use std::net::SocketAddr;
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

/// Services shared by every request.
#[derive(Debug)]
pub struct Context<U, A> {
    /// Compiled user profiles.
    pub users: U,
    /// Accounting and post-auth records.
    pub sink: A,
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
pub async fn dispatch<U: UserSource, A: AcctSink>(
    ctx: &Context<U, A>,
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
