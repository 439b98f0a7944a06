//! Accounting-Request (RFC 2866): verify the request authenticator, normalise the packet
//! into an `AcctRecord` (`accounting::record`), make it durable through the [`AcctSink`]
//! (committed, or fsync'd to the journal), apply it to the session store (sessions, usage,
//! lost Stops, automatic Disconnect), and only then send the Accounting-Response.
//!
//! Error mapping, in one place: bad request authenticator or Message-Authenticator ⇒ silent
//! drop; no Acct-Status-Type ⇒ silent drop; an unknown Acct-Status-Type ⇒ acknowledged,
//! not written; not durable (queue or journal full) ⇒ no reply (the NAS retries, and the
//! upsert keyed on the unique id makes the retry harmless); session store unavailable ⇒
//! answered anyway (the record is durable; counted, logged once).

use std::net::SocketAddr;

use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder};

use super::{
    AcctSink, Context, MaRule, Outcome, UserSource, check_message_authenticator, unix_now,
};
use crate::accounting::record;
use crate::clients::Client;
use crate::metrics::{
    self as m, ACCOUNTING_WRITTEN_TOTAL, ACCT_IGNORED_TOTAL, ACCT_REPAIRED_TOTAL,
    BACKEND_UNAVAILABLE_TOTAL, SESSION_STORE_ERRORS_TOTAL, SESSIONS_CLOSED_TOTAL, reason,
};
use crate::model::AcctRecord;
use crate::outage::Outage;
use crate::sessions::actions::{Action, Trigger};
use crate::sessions::housekeeping::{CAUSE_REPLACED, stop_record};
use crate::sessions::{SessionRules, SessionStore};

/// Accounting writes, for the log (one line when failures start, one when they end).
static WRITES: Outage = Outage::new();

/// Process one Accounting-Request.
pub async fn handle<U: UserSource, A: AcctSink>(
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
    let Some((mut record, repairs)) = record::from_packet(
        packet,
        client.network,
        source.ip(),
        unix_now(),
        &ctx.dictionary,
    ) else {
        tracing::debug!(nas = %client.name, "Accounting-Request without Acct-Status-Type");
        return Outcome::Drop(reason::MALFORMED_REQUEST);
    };
    // The session, its usage and its radacct row are the NAS's tenant's.
    record.tenant = client.tenant().map(str::to_owned);
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
    } else {
        // The session store sees the record only once it is durable.
        let copy = ctx.sessions.as_ref().map(|_| record.clone());
        if let Err(e) = ctx.sink.write_accounting(record).await {
            if WRITES.failed() {
                tracing::warn!(error = %e, "accounting records not durable; not answering until they are");
            }
            m::inc(BACKEND_UNAVAILABLE_TOTAL, &[("backend", e.backend())], 1);
            return Outcome::Drop(reason::ACCOUNTING_WRITE_FAILED);
        }
        if WRITES.recovered() {
            tracing::info!("accounting records durable again");
        }
        m::inc(ACCOUNTING_WRITTEN_TOTAL, &[("status", status.name())], 1);
        if let (Some(rules), Some(record)) = (&ctx.sessions, copy) {
            track_session(ctx, rules, record).await;
        }
    }
    // No Message-Authenticator here: RFC 2866 does not define one for accounting, and
    // FreeRADIUS 3.x clients (radclient) check it against the wrong vector and discard the
    // reply. Access-* and Status-Server replies always carry one.
    Outcome::reply(
        PacketBuilder::reply(packet, Code::AccountingResponse).without_message_authenticator(),
        "response",
    )
}

/// Session-store reads and writes from accounting, for the log.
static SESSION_WRITES: Outage = Outage::new();

/// Feed a durable record to the session store: close what a lost Stop left open (writing
/// their Stop), and queue a Disconnect when an Interim shows the user's time or data used
/// up. Never in the way of the acknowledgement: failures are counted and logged once.
async fn track_session<U: UserSource, A: AcctSink>(
    ctx: &Context<U, A>,
    rules: &SessionRules,
    mut record: AcctRecord,
) {
    let opens = matches!(record.status, AcctStatus::Start | AcctStatus::InterimUpdate);
    let profile = if opens {
        ctx.users
            .user_in(record.tenant.as_deref(), &record.username)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    if record.interim_interval.is_none() {
        // MikroTik does not say in accounting how often it sends Interims; it sends them
        // as the Access-Accept told it: the profile's Acct-Interim-Interval, else ours.
        record.interim_interval = profile
            .as_ref()
            .and_then(|p| p.interim_interval())
            .map(i64::from);
    }
    let record = &record;
    let periods = crate::policy::limits::periods(record.event_time, rules.tz);
    let applied = match rules
        .store
        .apply(record, periods, rules.deadline(record))
        .await
    {
        Ok(a) => {
            if SESSION_WRITES.recovered() {
                tracing::info!("session store updates succeed again");
            }
            a
        }
        Err(e) => {
            m::inc(SESSION_STORE_ERRORS_TOTAL, &[("op", "accounting")], 1);
            if SESSION_WRITES.failed() {
                tracing::warn!(error = %e, "session store updates failing; sessions and usage lag until it recovers");
            }
            return;
        }
    };
    if applied.nas_reset > 0 {
        m::inc(
            SESSIONS_CLOSED_TOTAL,
            &[("reason", "nas_reboot")],
            applied.nas_reset as u64,
        );
    }
    for old in applied.replaced {
        tracing::debug!(user = %old.username, session = %old.session_id, nas = %old.nas_ip,
            "closing a session whose Stop was lost (its port or device started a new one)");
        m::inc(SESSIONS_CLOSED_TOTAL, &[("reason", "lost_stop")], 1);
        let stop = stop_record(&old, CAUSE_REPLACED, record.event_time);
        if let Err(e) = ctx.sink.write_accounting(stop).await {
            tracing::warn!(error = %e, session = %old.session_id, "lost-Stop session's Stop not written");
        }
    }
    let (Some(actions), Some(profile)) = (&rules.actions, profile) else {
        return;
    };
    let now = unix_now();
    let (denied, limits) = profile.admission(now);
    let why = match denied {
        Some(denied) => Some(denied.name()),
        None if limits.is_empty() => None,
        None => crate::policy::limits::decide(&limits, &applied.usage, now, rules.tz)
            .err()
            .map(|r| r.name()),
    };
    if let Some(why) = why {
        actions.push(Action::Disconnect {
            session: crate::sessions::session_of(record),
            trigger: Trigger::Quota,
            why,
        });
    }
}
