//! The session store's background work, run by every instance: rebuild from `radacct`
//! when the store is empty or lost its data, close stale sessions (writing their Stop to
//! `radacct` through the accounting sink, so it is as durable as a NAS's own), and export
//! the online count per NAS.

use std::time::Duration;

use chrono::{Datelike, TimeZone};
use chrono_tz::Tz;
use radius_proto::protocol::AcctStatus;
use tokio_util::sync::CancellationToken;

use super::{SessionStore, Sessions, StaleRule};
use crate::accounting::AcctSink;
use crate::metrics::{
    self as m, SESSION_STORE_ERRORS_TOTAL, SESSIONS_CLOSED_TOTAL, SESSIONS_ONLINE,
};
use crate::model::{AcctRecord, Session};
use crate::outage::Outage;
use crate::policy::limits::periods;
use crate::store::PgStore;

/// `acctterminatecause` of a session closed because it went silent.
pub const CAUSE_STALE: &str = "Stale-Session";
/// `acctterminatecause` of a session closed because a new Start took its port or MAC.
pub const CAUSE_REPLACED: &str = "Lost-Stop";

/// Most stale sessions closed per pass.
const SWEEP_BATCH: usize = 1_000;

/// The Stop record that closes `s` in `radacct` at `at`, with `cause`.
pub fn stop_record(s: &Session, cause: &str, at: i64) -> AcctRecord {
    AcctRecord {
        status: AcctStatus::Stop,
        event_time: at,
        session_id: s.session_id.clone(),
        unique_id: s.unique_id.clone(),
        username: s.username.clone(),
        tenant: s.tenant.clone(),
        realm: None,
        nas_ip: s.nas_ip,
        client: s.client,
        nas_identifier: None,
        nas_port_id: s.nas_port_id.clone(),
        nas_port: s.nas_port,
        nas_port_type: None,
        session_time: Some(s.session_time),
        input_octets: Some(s.input_octets),
        output_octets: Some(s.output_octets),
        authentic: None,
        called_station_id: None,
        calling_station_id: s.mac.clone(),
        terminate_cause: Some(cause.to_owned()),
        service_type: None,
        framed_protocol: None,
        framed_ip: s.framed_ip,
        framed_ipv6: None,
        framed_ipv6_prefix: None,
        delegated_ipv6_prefix: None,
        class: None,
        interim_interval: s.interim,
    }
}

/// Unix time of local midnight starting `now`'s day, and of the first of its month.
pub fn period_starts(now: i64, tz: Tz) -> (i64, i64) {
    let Some(local) = tz.timestamp_opt(now, 0).single() else {
        return (now, now);
    };
    let date = local.date_naive();
    let first = date.with_day(1).unwrap_or(date);
    let start = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map_or(now, |t| t.timestamp())
    };
    (start(date), start(first))
}

/// Rebuild the store from `radacct`: open sessions and every user's usage.
pub async fn rebuild(
    store: &Sessions,
    pg: &PgStore,
    stale: StaleRule,
    tz: Tz,
    now: i64,
) -> Result<usize, String> {
    let sessions = pg.open_sessions().await.map_err(|e| e.to_string())?;
    let (day_start, month_start) = period_starts(now, tz);
    let usage = pg
        .usage_by_user(day_start, month_start, periods(now, tz))
        .await
        .map_err(|e| e.to_string())?;
    let n = sessions.len();
    store
        .load(sessions, usage, stale)
        .await
        .map_err(|e| e.to_string())?;
    Ok(n)
}

/// Close every stale session due at `now`; each one's Stop goes to `sink`.
pub async fn sweep<A: AcctSink>(store: &Sessions, sink: &A, now: i64) -> Result<usize, String> {
    let due = store
        .due(now, SWEEP_BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let mut closed = 0;
    for uid in due {
        let Some(session) = store.close(&uid, now).await.map_err(|e| e.to_string())? else {
            continue; // another instance closed it
        };
        tracing::debug!(user = %session.username, session = %session.session_id, nas = %session.nas_ip,
            "closing stale session (no accounting update in time)");
        m::inc(SESSIONS_CLOSED_TOTAL, &[("reason", "stale")], 1);
        let stop = stop_record(&session, CAUSE_STALE, session.last_update);
        if let Err(e) = sink.write_accounting(stop).await {
            tracing::warn!(error = %e, session = %session.session_id, "stale session's Stop not written");
        }
        closed += 1;
    }
    if closed > 0 {
        tracing::info!(
            closed,
            "closed stale sessions (no accounting update for 2 interims + grace)"
        );
    }
    Ok(closed)
}

/// Export the online count per NAS (NASes that went to zero are set to 0).
async fn export_online(store: &Sessions, seen: &mut Vec<String>) -> Result<(), String> {
    let online = store.online_per_nas().await.map_err(|e| e.to_string())?;
    let now: Vec<String> = online.iter().map(|(ip, _)| ip.to_string()).collect();
    for gone in seen.iter().filter(|n| !now.contains(n)) {
        m::gauge_set_labels(SESSIONS_ONLINE, &[("nas", gone.clone())], 0.0);
    }
    for (ip, n) in &online {
        m::gauge_set_labels(SESSIONS_ONLINE, &[("nas", ip.to_string())], *n as f64);
    }
    *seen = now;
    Ok(())
}

/// The housekeeping loop: every `every`, rebuild if needed, sweep, export. Ends on `cancel`.
pub async fn run<A: AcctSink>(
    store: Sessions,
    pg: PgStore,
    sink: A,
    stale: StaleRule,
    tz: Tz,
    every: Duration,
    cancel: CancellationToken,
) {
    let outage = Outage::new();
    let mut seen = Vec::new();
    loop {
        let now = chrono::Utc::now().timestamp();
        let pass = async {
            if !store.is_loaded().await.map_err(|e| e.to_string())? {
                let n = rebuild(&store, &pg, stale, tz, now).await?;
                tracing::info!(open_sessions = n, "session store rebuilt from radacct");
            }
            sweep(&store, &sink, now).await?;
            export_online(&store, &mut seen).await
        };
        match pass.await {
            Ok(()) => {
                if outage.recovered() {
                    tracing::info!("session housekeeping works again");
                }
            }
            Err(e) => {
                m::inc(SESSION_STORE_ERRORS_TOTAL, &[("op", "housekeeping")], 1);
                if outage.failed() {
                    tracing::warn!(error = %e, "session housekeeping failing; retrying");
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
