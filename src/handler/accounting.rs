//! Accounting-Request (RFC 2866): verify the request authenticator, normalise the packet
//! into an `AcctRecord` (`accounting::record`), make it durable through the [`AcctSink`]
//! (committed, or fsync'd to the journal), and only then send the Accounting-Response.
//!
//! Error mapping, in one place: bad request authenticator or Message-Authenticator ⇒ silent
//! drop; no Acct-Status-Type ⇒ silent drop; an unknown Acct-Status-Type ⇒ acknowledged,
//! not written; not durable (queue or journal full) ⇒ no reply (the NAS retries, and the
//! upsert keyed on the unique id makes the retry harmless).

use std::net::SocketAddr;

use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder};

use super::{AcctSink, Context, MaRule, Outcome, check_message_authenticator, unix_now};
use crate::accounting::record;
use crate::clients::Client;
use crate::metrics::{
    self as m, ACCOUNTING_WRITTEN_TOTAL, ACCT_IGNORED_TOTAL, ACCT_REPAIRED_TOTAL,
    BACKEND_UNAVAILABLE_TOTAL, reason,
};
use crate::outage::Outage;

/// Accounting writes, for the log (one line when failures start, one when they end).
static WRITES: Outage = Outage::new();

/// Process one Accounting-Request.
pub async fn handle<U, A: AcctSink>(
    ctx: &Context<U, A>,
    client: &Client,
    source: SocketAddr,
    packet: &Packet<'_>,
) -> Outcome {
    if packet
        .verify_request_authenticator(client.signer())
        .is_err()
    {
        return Outcome::Drop(reason::BAD_REQUEST_AUTHENTICATOR);
    }
    if let Err(why) = check_message_authenticator(client, source.ip(), packet, MaRule::Never) {
        return Outcome::Drop(why);
    }
    let Some((record, repairs)) = record::from_packet(
        packet,
        client.network,
        source.ip(),
        unix_now(),
        &ctx.dictionary,
    ) else {
        tracing::debug!(nas = %client.name, "Accounting-Request without Acct-Status-Type");
        return Outcome::Drop(reason::MALFORMED_REQUEST);
    };
    if repairs.saturated > 0 {
        m::inc(
            ACCT_REPAIRED_TOTAL,
            &[("kind", "saturated_counter")],
            u64::from(repairs.saturated),
        );
    }
    if repairs.sanitised > 0 {
        m::inc(
            ACCT_REPAIRED_TOTAL,
            &[("kind", "sanitised_text")],
            u64::from(repairs.sanitised),
        );
    }
    let status = record.status;
    if let AcctStatus::Unknown(n) = status {
        // Acknowledged (the NAS must not retry it forever), never written as garbage.
        tracing::debug!(nas = %client.name, status = n, "unknown Acct-Status-Type acknowledged, not written");
        m::inc(ACCT_IGNORED_TOTAL, &[("reason", "unknown_status")], 1);
    } else if let Err(e) = ctx.sink.write_accounting(record).await {
        if WRITES.failed() {
            tracing::warn!(error = %e, "accounting records not durable; not answering until they are");
        }
        m::inc(BACKEND_UNAVAILABLE_TOTAL, &[("backend", e.backend())], 1);
        return Outcome::Drop(reason::ACCOUNTING_WRITE_FAILED);
    } else {
        if WRITES.recovered() {
            tracing::info!("accounting records durable again");
        }
        m::inc(ACCOUNTING_WRITTEN_TOTAL, &[("status", status.name())], 1);
    }
    // No Message-Authenticator here: RFC 2866 does not define one for accounting, and
    // FreeRADIUS 3.x clients (radclient) check it against the wrong vector and discard the
    // reply. Access-* and Status-Server replies always carry one.
    Outcome::reply(
        PacketBuilder::reply(packet, Code::AccountingResponse).without_message_authenticator(),
        "response",
    )
}
