//! Writes: `radacct` (one idempotent upsert for Start, Interim-Update and Stop; one
//! statement closing a NAS's sessions for Accounting-On/Off) and `radpostauth`.

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use radius_proto::protocol::AcctStatus;

use crate::model::{AcctRecord, PostAuthRecord};

use super::{PgStore, StoreError, failed, in_background, sent};

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
    /// Writes one accounting record; see [`PgStore::write_accounting_batch`].
    pub async fn write_accounting(&self, rec: &AcctRecord) -> Result<u64, StoreError> {
        self.write_accounting_batch(std::slice::from_ref(rec)).await
    }

    /// Writes a batch of accounting records in ONE transaction (all or nothing),
    /// idempotently (a retransmitted or replayed record changes nothing),
    /// FreeRADIUS-compatible:
    /// - Start inserts the session (or, if a row exists and is still open, sets its start);
    /// - Interim-Update updates time and counters (inserting the session if no Start was
    ///   seen); an older or repeated interim does not move counters back;
    /// - Stop closes the session (inserting it if unseen); a closed session stays closed;
    /// - Accounting-On/Off closes every open session of that NAS IP started before the
    ///   event, with terminate cause `NAS-Reboot`, and records the reboot in `nasreload`.
    ///
    /// The session records go in one multi-row statement per phase present (Starts, then
    /// Interims, then Stops), each session once per statement: several Interims of one
    /// session collapse into the newest, duplicate Starts into the last, duplicate Stops
    /// into the first — what applying them one by one would leave. Accounting-On/Off runs
    /// last, one statement each. Other status types are ignored. Returns the number of
    /// radacct rows written.
    pub async fn write_accounting_batch(&self, recs: &[AcctRecord]) -> Result<u64, StoreError> {
        let plan = Plan::of(recs);
        if plan.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(failed("acct_batch"))?;
        let mut n = 0;
        for (phase, rows) in plan.sessions() {
            sent(phase.query());
            n += upsert_sessions(&mut *tx, phase, &rows)
                .await
                .map_err(failed(phase.query()))?
                .rows_affected();
        }
        for rec in &plan.restarts {
            sent("acct_on_off");
            n += close_nas_sessions(&mut *tx, rec)
                .await
                .map_err(failed("acct_on_off"))?
                .rows_affected();
        }
        tx.commit().await.map_err(failed("acct_batch"))?;
        Ok(n)
    }

    /// Parks records PostgreSQL refused for good in `radacct_deadletter`, with the reason.
    pub async fn park_accounting(
        &self,
        recs: &[AcctRecord],
        reason: &str,
    ) -> Result<u64, StoreError> {
        if recs.is_empty() {
            return Ok(0);
        }
        sent("acct_deadletter");
        let json: Vec<serde_json::Value> = recs
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        sqlx::query!(
            "INSERT INTO radacct_deadletter (reason, record) SELECT $1, * FROM UNNEST($2::jsonb[])",
            reason,
            &json
        )
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(failed("acct_deadletter"))
    }

    /// Moves at most `limit` sessions that closed more than `days` days ago from `radacct`
    /// to `radacct_history`, in one statement; returns how many.
    pub async fn move_closed_sessions(&self, days: u32, limit: i64) -> Result<u64, StoreError> {
        sent("acct_history");
        let statement = sqlx::query!(
            "WITH moved AS ( \
                 DELETE FROM radacct WHERE radacctid IN ( \
                     SELECT radacctid FROM radacct \
                     WHERE acctstoptime < now() - make_interval(days => $1) \
                     ORDER BY acctstoptime LIMIT $2) \
                 RETURNING *) \
             INSERT INTO radacct_history SELECT * FROM moved",
            i32::try_from(days).unwrap_or(i32::MAX),
            limit
        )
        .execute(&self.pool);
        in_background("acct_history", statement)
            .await
            .map(|r| r.rows_affected())
    }

    /// Deletes at most `limit` post-auth rows older than `days` days; returns how many.
    pub async fn prune_post_auth(&self, days: u32, limit: i64) -> Result<u64, StoreError> {
        sent("post_auth_prune");
        let statement = sqlx::query!(
            "DELETE FROM radpostauth WHERE id IN (SELECT id FROM radpostauth \
             WHERE authdate < now() - make_interval(days => $1) LIMIT $2)",
            i32::try_from(days).unwrap_or(i32::MAX),
            limit
        )
        .execute(&self.pool);
        in_background("post_auth_prune", statement)
            .await
            .map(|r| r.rows_affected())
    }

    /// Inserts post-auth rows in one multi-row statement. `pass` is left NULL: passwords are
    /// never stored.
    pub async fn write_post_auth(&self, recs: &[PostAuthRecord]) -> Result<u64, StoreError> {
        if recs.is_empty() {
            return Ok(0);
        }
        sent("post_auth");
        let username: Vec<&str> = recs.iter().map(PostAuthRecord::username).collect();
        let reply: Vec<&str> = recs.iter().map(PostAuthRecord::reply).collect();
        let called: Vec<Option<&str>> = recs.iter().map(|r| r.called_station_id()).collect();
        let calling: Vec<Option<&str>> = recs.iter().map(|r| r.calling_station_id()).collect();
        let nas_ip: Vec<Option<IpAddr>> = recs.iter().map(|r| r.nas_ip).collect();
        let class: Vec<Option<&str>> = recs.iter().map(|r| r.class()).collect();
        let tenant: Vec<Option<&str>> = recs.iter().map(|r| r.tenant()).collect();
        let authdate: Vec<DateTime<Utc>> = recs.iter().map(|r| timestamp(r.auth_time)).collect();
        let statement = sqlx::query!(
            "INSERT INTO radpostauth \
                 (username, reply, calledstationid, callingstationid, nasipaddress, class, authdate, \
                  tenant) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::inet[], \
                                  $6::text[], $7::timestamptz[], $8::text[])",
            &username as &[&str],
            &reply as &[&str],
            &called as &[Option<&str>],
            &calling as &[Option<&str>],
            &nas_ip as &[Option<IpAddr>],
            &class as &[Option<&str>],
            &authdate,
            &tenant as &[Option<&str>]
        )
        .execute(&self.pool);
        in_background("post_auth", statement)
            .await
            .map(|r| r.rows_affected())
    }
}

/// A batch sorted into what each statement writes.
#[derive(Debug, Default)]
struct Plan<'a> {
    starts: Vec<&'a AcctRecord>,
    interims: Vec<&'a AcctRecord>,
    stops: Vec<&'a AcctRecord>,
    restarts: Vec<&'a AcctRecord>,
}

impl<'a> Plan<'a> {
    fn of(recs: &'a [AcctRecord]) -> Self {
        let mut plan = Self::default();
        for rec in recs {
            match write_of(rec) {
                Write::Session(Phase::Start) => plan.starts.push(rec),
                Write::Session(Phase::Interim) => plan.interims.push(rec),
                Write::Session(Phase::Stop) => plan.stops.push(rec),
                Write::NasRestart => plan.restarts.push(rec),
                Write::Skip => {}
            }
        }
        // One row per session per statement (PostgreSQL refuses to update a row twice in
        // one INSERT .. ON CONFLICT), keeping what sequential application would keep.
        keep_one(&mut plan.starts, |_, _| true);
        keep_one(&mut plan.interims, |kept, new| {
            kept.is_none_or(|k| new.event_time >= k.event_time)
        });
        keep_one(&mut plan.stops, |kept, _| kept.is_none());
        plan
    }

    fn is_empty(&self) -> bool {
        self.starts.is_empty()
            && self.interims.is_empty()
            && self.stops.is_empty()
            && self.restarts.is_empty()
    }

    /// The non-empty session groups, in the order they are written.
    fn sessions(&self) -> impl Iterator<Item = (Phase, Vec<&'a AcctRecord>)> + '_ {
        [
            (Phase::Start, &self.starts),
            (Phase::Interim, &self.interims),
            (Phase::Stop, &self.stops),
        ]
        .into_iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(phase, rows)| (phase, rows.clone()))
    }
}

/// Reduce `recs` (in arrival order) to one record per unique id: walking in order, `new`
/// replaces the kept one when `replace(kept, new)` says so. Order of first appearance is
/// preserved.
fn keep_one<'a>(
    recs: &mut Vec<&'a AcctRecord>,
    replace: impl Fn(Option<&AcctRecord>, &AcctRecord) -> bool,
) {
    use std::collections::HashMap;
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(recs.len());
    let mut out: Vec<&'a AcctRecord> = Vec::with_capacity(recs.len());
    for &rec in recs.iter() {
        match index.get(rec.unique_id.as_str()) {
            Some(&i) => {
                if replace(out.get(i).copied(), rec)
                    && let Some(slot) = out.get_mut(i)
                {
                    *slot = rec;
                }
            }
            None => {
                index.insert(rec.unique_id.as_str(), out.len());
                out.push(rec);
            }
        }
    }
    *recs = out;
}

type QueryResult = Result<sqlx::postgres::PgQueryResult, sqlx::Error>;

/// The session upsert, keyed on `acctuniqueid`, for many rows of one phase. One column
/// list and one statement for all three phases; the phase (`$25`: 1 Start, 2 Stop,
/// 3 Interim) decides what a conflicting row keeps:
/// - Start sets the start time (the update time only moves forward), fills in
///   Acct-Authentic and the interval, and leaves time and counters alone;
/// - Interim and Stop take the session time and counters; Stop also the stop time and
///   terminate cause. An Interim older than the row's last update changes nothing;
/// - a stopped row is never touched again (a late packet cannot reopen it).
///
/// A first sight of the session inserts a complete row: for Interim/Stop without a Start,
/// the start time is estimated as event time minus Acct-Session-Time.
async fn upsert_sessions<'e, E>(ex: E, phase: Phase, recs: &[&AcctRecord]) -> QueryResult
where
    E: sqlx::PgExecutor<'e>,
{
    let c = Columns::of(phase, recs);
    sqlx::query!(
        r#"INSERT INTO radacct (
    acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype,
    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
    servicetype, framedprotocol, framedipaddress, framedipv6address, framedipv6prefix,
    delegatedipv6prefix, class, acctinterval, nasclient, tenant)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::inet[], $6::text[],
    $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::int8[],
    $12::text[], $13::int8[], $14::int8[], $15::text[], $16::text[], $17::text[], $18::text[],
    $19::text[], $20::inet[], $21::inet[], $22::inet[], $23::inet[], $24::text[], $26::int8[],
    $27::inet[], $28::text[])
ON CONFLICT (acctuniqueid) DO UPDATE SET
    nasclient = coalesce(radacct.nasclient, EXCLUDED.nasclient),
    tenant = coalesce(radacct.tenant, EXCLUDED.tenant),
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
  AND (radacct.nasclient IS NULL OR radacct.nasclient = EXCLUDED.nasclient)
  AND ($25 <> 3
       OR radacct.acctupdatetime IS NULL
       OR radacct.acctupdatetime <= EXCLUDED.acctupdatetime)"#,
        &c.session_id as &[&str],
        &c.unique_id as &[&str],
        &c.username as &[&str],
        &c.realm as &[Option<&str>],
        &c.nas_ip,
        &c.nas_port_id as &[Option<&str>],
        &c.nas_port_type as &[Option<&str>],
        &c.start,
        &c.update,
        &c.stop as &[Option<DateTime<Utc>>],
        &c.session_time as &[Option<i64>],
        &c.authentic as &[Option<&str>],
        &c.input as &[Option<i64>],
        &c.output as &[Option<i64>],
        &c.called as &[Option<&str>],
        &c.calling as &[Option<&str>],
        &c.cause as &[Option<&str>],
        &c.service_type as &[Option<&str>],
        &c.framed_protocol as &[Option<&str>],
        &c.framed_ip as &[Option<IpNet>],
        &c.framed_ipv6 as &[Option<IpNet>],
        &c.framed_ipv6_prefix as &[Option<IpNet>],
        &c.delegated_ipv6_prefix as &[Option<IpNet>],
        &c.class as &[Option<&str>],
        phase as i32,
        &c.interval as &[Option<i64>],
        &c.client,
        &c.tenant as &[Option<&str>]
    )
    .execute(ex)
    .await
}

/// The batch as one array per column (what `UNNEST` takes), with the phase's rules for
/// the start time, stop time, counters and terminate cause applied.
struct Columns<'a> {
    session_id: Vec<&'a str>,
    unique_id: Vec<&'a str>,
    username: Vec<&'a str>,
    realm: Vec<Option<&'a str>>,
    nas_ip: Vec<IpNet>,
    nas_port_id: Vec<Option<&'a str>>,
    nas_port_type: Vec<Option<&'a str>>,
    start: Vec<DateTime<Utc>>,
    update: Vec<DateTime<Utc>>,
    stop: Vec<Option<DateTime<Utc>>>,
    session_time: Vec<Option<i64>>,
    authentic: Vec<Option<&'a str>>,
    input: Vec<Option<i64>>,
    output: Vec<Option<i64>>,
    called: Vec<Option<&'a str>>,
    calling: Vec<Option<&'a str>>,
    cause: Vec<Option<&'a str>>,
    service_type: Vec<Option<&'a str>>,
    framed_protocol: Vec<Option<&'a str>>,
    framed_ip: Vec<Option<IpNet>>,
    framed_ipv6: Vec<Option<IpNet>>,
    framed_ipv6_prefix: Vec<Option<IpNet>>,
    delegated_ipv6_prefix: Vec<Option<IpNet>>,
    class: Vec<Option<&'a str>>,
    interval: Vec<Option<i64>>,
    client: Vec<IpNet>,
    tenant: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(phase: Phase, recs: &[&'a AcctRecord]) -> Self {
        let col = |f: &dyn Fn(&'a AcctRecord) -> Option<&'a str>| -> Vec<Option<&'a str>> {
            recs.iter().map(|r| f(r)).collect()
        };
        let start_stopped = matches!(phase, Phase::Start);
        Self {
            session_id: recs.iter().map(|r| r.session_id.as_str()).collect(),
            unique_id: recs.iter().map(|r| r.unique_id.as_str()).collect(),
            username: recs.iter().map(|r| r.username.as_str()).collect(),
            realm: col(&|r| r.realm.as_deref()),
            tenant: col(&|r| r.tenant.as_deref()),
            nas_ip: recs.iter().map(|r| IpNet::from(r.nas_ip)).collect(),
            nas_port_id: col(&|r| r.nas_port_id.as_deref()),
            nas_port_type: col(&|r| r.nas_port_type.as_deref()),
            start: recs
                .iter()
                .map(|r| {
                    if start_stopped {
                        timestamp(r.event_time)
                    } else {
                        let secs = r.session_time.unwrap_or(0).max(0);
                        timestamp(r.event_time.saturating_sub(secs))
                    }
                })
                .collect(),
            update: recs.iter().map(|r| timestamp(r.event_time)).collect(),
            stop: recs
                .iter()
                .map(|r| (phase == Phase::Stop).then(|| timestamp(r.event_time)))
                .collect(),
            session_time: recs
                .iter()
                .map(|r| {
                    if start_stopped {
                        Some(0)
                    } else {
                        r.session_time
                    }
                })
                .collect(),
            authentic: col(&|r| r.authentic.as_deref()),
            input: recs
                .iter()
                .map(|r| {
                    if start_stopped {
                        Some(0)
                    } else {
                        r.input_octets
                    }
                })
                .collect(),
            output: recs
                .iter()
                .map(|r| {
                    if start_stopped {
                        Some(0)
                    } else {
                        r.output_octets
                    }
                })
                .collect(),
            called: col(&|r| r.called_station_id.as_deref()),
            calling: col(&|r| r.calling_station_id.as_deref()),
            cause: col(&|r| {
                if phase == Phase::Stop {
                    r.terminate_cause.as_deref()
                } else {
                    None
                }
            }),
            service_type: col(&|r| r.service_type.as_deref()),
            framed_protocol: col(&|r| r.framed_protocol.as_deref()),
            framed_ip: recs.iter().map(|r| r.framed_ip.map(IpNet::from)).collect(),
            framed_ipv6: recs
                .iter()
                .map(|r| r.framed_ipv6.map(IpNet::from))
                .collect(),
            framed_ipv6_prefix: recs
                .iter()
                .map(|r| parse_net(r.framed_ipv6_prefix.as_deref()))
                .collect(),
            delegated_ipv6_prefix: recs
                .iter()
                .map(|r| parse_net(r.delegated_ipv6_prefix.as_deref()))
                .collect(),
            class: col(&|r| r.class.as_deref()),
            interval: recs.iter().map(|r| r.interim_interval).collect(),
            client: recs.iter().map(|r| r.client).collect(),
        }
    }
}

/// Accounting-On/Off: close the NAS's open sessions (that client's, for that NAS-IP) that
/// started before the event.
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
  AND (nasclient IS NULL OR nasclient = $3)
  AND (acctstarttime IS NULL OR acctstarttime <= $2)"#,
        nas_ip,
        event,
        rec.client
    )
    .execute(ex)
    .await
}
