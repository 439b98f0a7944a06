//! Writes: `radacct` (one idempotent upsert for Start, Interim-Update and Stop; one
//! statement closing a NAS's sessions for Accounting-On/Off) and `radpostauth`.

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use radius_proto::protocol::AcctStatus;

use crate::model::{AcctRecord, PostAuthRecord};

use super::{PgStore, StoreError, failed, sent};

/// What a record does to `radacct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Start, Interim-Update or Stop: upsert the session row.
    Session(Phase),
    /// Accounting-On/Off: close every open session of the NAS.
    NasRestart,
    /// Nothing (other status types are not written).
    Skip,
}

/// The session upsert's three behaviours; the value is the statement's `$25`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start = 1,
    Stop = 2,
    Interim = 3,
}

impl Phase {
    fn query(self) -> &'static str {
        match self {
            Self::Start => "acct_start",
            Self::Stop => "acct_stop",
            Self::Interim => "acct_interim",
        }
    }
}

fn write_of(rec: &AcctRecord) -> Write {
    match rec.status {
        AcctStatus::Start => Write::Session(Phase::Start),
        AcctStatus::InterimUpdate => Write::Session(Phase::Interim),
        AcctStatus::Stop => Write::Session(Phase::Stop),
        AcctStatus::AccountingOn | AcctStatus::AccountingOff => Write::NasRestart,
        AcctStatus::Unknown(_) => Write::Skip,
    }
}

fn timestamp(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

fn parse_net(text: Option<&str>) -> Option<IpNet> {
    let t = text?.trim();
    IpNet::from_str(t)
        .ok()
        .or_else(|| IpAddr::from_str(t).ok().map(IpNet::from))
}

impl PgStore {
    /// Writes one accounting record in one statement, idempotently (a retransmitted record
    /// changes nothing), FreeRADIUS-compatible:
    /// - Start inserts the session (or, if a row exists and is still open, sets its start);
    /// - Interim-Update updates time and counters (inserting the session if no Start was
    ///   seen); an older or repeated interim does not move counters back;
    /// - Stop closes the session (inserting it if unseen); a closed session stays closed;
    /// - Accounting-On/Off closes every open session of that NAS IP at the event time with
    ///   terminate cause `NAS-Reboot`, and records the reboot in `nasreload`.
    ///
    /// Other status types are ignored. Returns the number of radacct rows written.
    pub async fn write_accounting(&self, rec: &AcctRecord) -> Result<u64, StoreError> {
        write_acct(&self.pool, rec).await
    }

    /// Writes several accounting records in one transaction, in order (each record is
    /// still one statement; the batch is one commit). All or nothing.
    pub async fn write_accounting_batch(&self, recs: &[AcctRecord]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(failed("acct_batch"))?;
        let mut n = 0;
        for rec in recs {
            n += write_acct(&mut *tx, rec).await?;
        }
        tx.commit().await.map_err(failed("acct_batch"))?;
        Ok(n)
    }

    /// Inserts post-auth rows in one multi-row statement. `pass` is left NULL: passwords are
    /// never stored.
    pub async fn write_post_auth(&self, recs: &[PostAuthRecord]) -> Result<u64, StoreError> {
        if recs.is_empty() {
            return Ok(0);
        }
        sent("post_auth");
        let username: Vec<&str> = recs.iter().map(|r| r.username.as_str()).collect();
        let reply: Vec<&str> = recs.iter().map(|r| r.reply.as_str()).collect();
        let called: Vec<Option<&str>> = recs
            .iter()
            .map(|r| r.called_station_id.as_deref())
            .collect();
        let calling: Vec<Option<&str>> = recs
            .iter()
            .map(|r| r.calling_station_id.as_deref())
            .collect();
        let nas_ip: Vec<Option<IpAddr>> = recs.iter().map(|r| r.nas_ip).collect();
        let class: Vec<Option<&str>> = recs.iter().map(|r| r.class.as_deref()).collect();
        let authdate: Vec<DateTime<Utc>> = recs.iter().map(|r| timestamp(r.auth_time)).collect();
        sqlx::query!(
            "INSERT INTO radpostauth \
                 (username, reply, calledstationid, callingstationid, nasipaddress, class, authdate) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::inet[], \
                                  $6::text[], $7::timestamptz[])",
            &username as &[&str],
            &reply as &[&str],
            &called as &[Option<&str>],
            &calling as &[Option<&str>],
            &nas_ip as &[Option<IpAddr>],
            &class as &[Option<&str>],
            &authdate
        )
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(failed("post_auth"))
    }
}

/// One accounting record, one statement, on any executor (pool or transaction).
async fn write_acct<'e, E>(ex: E, rec: &AcctRecord) -> Result<u64, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let (query, result) = match write_of(rec) {
        Write::Session(phase) => (phase.query(), upsert_session(ex, rec, phase).await),
        Write::NasRestart => ("acct_on_off", close_nas_sessions(ex, rec).await),
        Write::Skip => return Ok(0),
    };
    sent(query);
    result.map(|r| r.rows_affected()).map_err(failed(query))
}

type QueryResult = Result<sqlx::postgres::PgQueryResult, sqlx::Error>;

/// The session upsert, keyed on `acctuniqueid`. One column list for all three phases; the
/// phase (`$25`: 1 Start, 2 Stop, 3 Interim) decides what a conflicting row keeps:
/// - Start sets the start time (the update time only moves forward), fills in
///   Acct-Authentic and the interval, and leaves time and counters alone;
/// - Interim and Stop take the session time and counters; Stop also the stop time and
///   terminate cause. An Interim older than the row's last update changes nothing;
/// - a stopped row is never touched again (a late packet cannot reopen it).
///
/// A first sight of the session inserts a complete row: for Interim/Stop without a Start,
/// the start time is estimated as event time minus Acct-Session-Time.
async fn upsert_session<'e, E>(ex: E, rec: &AcctRecord, phase: Phase) -> QueryResult
where
    E: sqlx::PgExecutor<'e>,
{
    let event = timestamp(rec.event_time);
    let session_time = rec.session_time.unwrap_or(0).max(0);
    let (start, stop, session_time, input, output, cause) = match phase {
        Phase::Start => (event, None, Some(0), Some(0), Some(0), None),
        Phase::Interim | Phase::Stop => (
            timestamp(rec.event_time.saturating_sub(session_time)),
            (phase == Phase::Stop).then_some(event),
            rec.session_time,
            rec.input_octets,
            rec.output_octets,
            if phase == Phase::Stop {
                rec.terminate_cause.as_deref()
            } else {
                None
            },
        ),
    };
    sqlx::query!(
        r#"INSERT INTO radacct (
    acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype,
    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
    servicetype, framedprotocol, framedipaddress, framedipv6address, framedipv6prefix,
    delegatedipv6prefix, class, acctinterval)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $26)
ON CONFLICT (acctuniqueid) DO UPDATE SET
    acctstarttime = CASE WHEN $25 = 1 THEN EXCLUDED.acctstarttime
                         ELSE radacct.acctstarttime END,
    acctupdatetime = CASE WHEN $25 = 1
                          THEN greatest(radacct.acctupdatetime, EXCLUDED.acctupdatetime)
                          ELSE EXCLUDED.acctupdatetime END,
    acctstoptime = EXCLUDED.acctstoptime,
    acctsessiontime = CASE WHEN $25 = 1 THEN radacct.acctsessiontime
                           ELSE coalesce(EXCLUDED.acctsessiontime, radacct.acctsessiontime) END,
    acctinputoctets = CASE WHEN $25 = 1 THEN radacct.acctinputoctets
                           ELSE coalesce(EXCLUDED.acctinputoctets, radacct.acctinputoctets) END,
    acctoutputoctets = CASE WHEN $25 = 1 THEN radacct.acctoutputoctets
                            ELSE coalesce(EXCLUDED.acctoutputoctets, radacct.acctoutputoctets) END,
    acctauthentic = CASE WHEN $25 = 1
                         THEN coalesce(EXCLUDED.acctauthentic, radacct.acctauthentic)
                         ELSE radacct.acctauthentic END,
    acctterminatecause = CASE WHEN $25 = 2 THEN EXCLUDED.acctterminatecause
                              ELSE radacct.acctterminatecause END,
    framedipaddress = coalesce(EXCLUDED.framedipaddress, radacct.framedipaddress),
    framedipv6address = coalesce(EXCLUDED.framedipv6address, radacct.framedipv6address),
    framedipv6prefix = coalesce(EXCLUDED.framedipv6prefix, radacct.framedipv6prefix),
    delegatedipv6prefix = coalesce(EXCLUDED.delegatedipv6prefix, radacct.delegatedipv6prefix),
    acctinterval = CASE
        WHEN $25 = 1 THEN coalesce(EXCLUDED.acctinterval, radacct.acctinterval)
        WHEN $25 = 3
             AND (radacct.acctupdatetime IS NULL
                  OR EXCLUDED.acctupdatetime > radacct.acctupdatetime)
        THEN coalesce(EXCLUDED.acctinterval,
                      extract(epoch FROM EXCLUDED.acctupdatetime - radacct.acctupdatetime)::bigint,
                      radacct.acctinterval)
        ELSE radacct.acctinterval END
WHERE radacct.acctstoptime IS NULL
  AND ($25 <> 3
       OR radacct.acctupdatetime IS NULL
       OR radacct.acctupdatetime <= EXCLUDED.acctupdatetime)"#,
        rec.session_id,
        rec.unique_id,
        rec.username,
        rec.realm,
        IpNet::from(rec.nas_ip),
        rec.nas_port_id,
        rec.nas_port_type,
        start,
        event,
        stop,
        session_time,
        rec.authentic,
        input,
        output,
        rec.called_station_id,
        rec.calling_station_id,
        cause,
        rec.service_type,
        rec.framed_protocol,
        rec.framed_ip.map(IpNet::from),
        rec.framed_ipv6.map(IpNet::from),
        parse_net(rec.framed_ipv6_prefix.as_deref()),
        parse_net(rec.delegated_ipv6_prefix.as_deref()),
        rec.class,
        phase as i32,
        rec.interim_interval
    )
    .execute(ex)
    .await
}

/// Accounting-On/Off: close the NAS's open sessions at the event time.
async fn close_nas_sessions<'e, E>(ex: E, rec: &AcctRecord) -> QueryResult
where
    E: sqlx::PgExecutor<'e>,
{
    let event = timestamp(rec.event_time);
    let nas_ip = IpNet::from(rec.nas_ip);
    sqlx::query!(
        r#"WITH reload AS (
    INSERT INTO nasreload (nasipaddress, reloadtime) VALUES ($1, $2)
    ON CONFLICT (nasipaddress) DO UPDATE SET reloadtime = EXCLUDED.reloadtime
)
UPDATE radacct SET
    acctstoptime = $2,
    acctupdatetime = $2,
    acctsessiontime = greatest(0, extract(epoch FROM $2 - acctstarttime))::bigint,
    acctterminatecause = 'NAS-Reboot'
WHERE nasipaddress = $1
  AND acctstoptime IS NULL
  AND (acctstarttime IS NULL OR acctstarttime <= $2)"#,
        nas_ip,
        event
    )
    .execute(ex)
    .await
}
