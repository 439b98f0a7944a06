//! PostgreSQL tier: every SQL statement the server runs lives in this file.
//!
//! Static queries are compile-time checked (`sqlx::query!`) against the schema in
//! `migrations/`, with the query data committed in `.sqlx/` so builds need no database.
//! Errors are classified here once: a database that cannot be reached (or does not answer
//! within `statement_timeout`) is [`StoreError::Unavailable`], so callers can refuse to
//! answer rather than send a false reject.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreError;
use super::model::{AcctRecord, GroupRows, NasEntry, NasRow, PostAuthRecord, RadRow, UserRows};
use super::{DB_ERRORS_TOTAL, DB_QUERIES_TOTAL};

/// Embedded migrations (`migrations/`), applied by `hotspot-radius migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Acct-Status-Type values we write (RFC 2866 §5.1).
mod status {
    pub(super) const START: u32 = 1;
    pub(super) const STOP: u32 = 2;
    pub(super) const INTERIM: u32 = 3;
    pub(super) const ACCOUNTING_ON: u32 = 7;
    pub(super) const ACCOUNTING_OFF: u32 = 8;
}

/// Applies all pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Migrate(e.to_string()))
}

/// Whether every embedded migration has been applied successfully to `pool`'s database.
pub async fn is_migrated(pool: &PgPool) -> Result<bool, StoreError> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await
        .map_err(|e| classify(e, "is_migrated"))?;
    if table.is_none() {
        return Ok(false);
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(|e| classify(e, "is_migrated"))?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.contains(&m.version)))
}

/// Maps a sqlx error to [`StoreError`], counting it under `query`.
fn classify(e: sqlx::Error, query: &'static str) -> StoreError {
    metrics::counter!(DB_ERRORS_TOTAL, "query" => query).increment(1);
    if is_unavailable(&e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Query(e.to_string())
    }
}

/// Connection-level failures: PostgreSQL is down, unreachable, shutting down, overloaded or
/// too slow (statement_timeout, SQLSTATE 57014).
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // 08: connection exception; 53: insufficient resources; 57: operator
            // intervention (admin shutdown, cannot connect now, query canceled).
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57")
        }),
        _ => false,
    }
}

/// A dead pooled connection (e.g. after a PostgreSQL restart): retrying on a fresh
/// connection is worthwhile for idempotent reads.
fn is_broken_connection(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_))
        || matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P")))
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

/// The pool settings the RADIUS path needs: short acquire timeout, no ping per acquire,
/// a per-connection `statement_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Maximum connections (the LISTEN connection comes on top).
    pub size: u32,
    /// How long a query waits for a free connection.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` for every connection.
    pub statement_timeout: Duration,
}

/// sqlx pool over the FreeRADIUS schema.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Builds a lazy pool (no connection is made until the first query, so a database that
    /// is down at start-up is reported by the first query, as [`StoreError::Unavailable`]).
    pub fn connect_lazy(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let ms = settings.statement_timeout.as_millis().max(1).to_string();
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("database URL: {e}")))?
            .application_name("hotspot-radius")
            .options([("statement_timeout", ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.size.max(1) + 1)
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Wraps an existing pool (tests, tools).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate(&self.pool).await
    }

    /// Whether all migrations are applied.
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        is_migrated(&self.pool).await
    }

    /// Everything about one user in ONE statement: radcheck and radreply rows in id order,
    /// and the user's groups (radusergroup, by priority then id) each with its
    /// radgroupcheck / radgroupreply rows in id order. `None` when the user has no
    /// radcheck, radreply or radusergroup row. Matching is exact (FreeRADIUS default).
    pub async fn load_user(&self, username: &str) -> Result<Option<UserRows>, StoreError> {
        let row = match self.load_user_once(username).await {
            Err(e) if is_broken_connection(&e) => self.load_user_once(username).await,
            other => other,
        }
        .map_err(|e| classify(e, "load_user"))?;
        let parse = |what: &str, text: &str| -> Result<Vec<RadRow>, StoreError> {
            serde_json::from_str(text)
                .map_err(|e| StoreError::Query(format!("load_user {what}: {e}")))
        };
        let check = parse("check", &row.check)?;
        let reply = parse("reply", &row.reply)?;
        let groups: Vec<GroupRows> = serde_json::from_str(&row.groups)
            .map_err(|e| StoreError::Query(format!("load_user groups: {e}")))?;
        if check.is_empty() && reply.is_empty() && groups.is_empty() {
            return Ok(None);
        }
        Ok(Some(UserRows {
            username: username.to_owned(),
            check,
            reply,
            groups,
        }))
    }

    async fn load_user_once(&self, username: &str) -> Result<LoadUserRow, sqlx::Error> {
        metrics::counter!(DB_QUERIES_TOTAL, "query" => "load_user").increment(1);
        sqlx::query_as!(
            LoadUserRow,
            r#"SELECT
  (SELECT coalesce(json_agg(json_build_object('attribute', c.attribute, 'op', c.op, 'value', c.value)
                            ORDER BY c.id), '[]'::json)
     FROM radcheck c WHERE c.username = $1)::text AS "check!",
  (SELECT coalesce(json_agg(json_build_object('attribute', r.attribute, 'op', r.op, 'value', r.value)
                            ORDER BY r.id), '[]'::json)
     FROM radreply r WHERE r.username = $1)::text AS "reply!",
  (SELECT coalesce(json_agg(json_build_object(
            'name', g.groupname,
            'priority', g.priority,
            'check', (SELECT coalesce(json_agg(json_build_object('attribute', gc.attribute, 'op', gc.op,
                                                                 'value', gc.value) ORDER BY gc.id), '[]'::json)
                        FROM radgroupcheck gc WHERE gc.groupname = g.groupname),
            'reply', (SELECT coalesce(json_agg(json_build_object('attribute', gr.attribute, 'op', gr.op,
                                                                 'value', gr.value) ORDER BY gr.id), '[]'::json)
                        FROM radgroupreply gr WHERE gr.groupname = g.groupname))
          ORDER BY g.priority, g.id), '[]'::json)
     FROM radusergroup g WHERE g.username = $1)::text AS "groups!""#,
            username
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Members of a group (radusergroup), for invalidation.
    pub async fn group_members(&self, groupname: &str) -> Result<Vec<String>, StoreError> {
        metrics::counter!(DB_QUERIES_TOTAL, "query" => "group_members").increment(1);
        sqlx::query_scalar!(
            "SELECT DISTINCT username FROM radusergroup WHERE groupname = $1",
            groupname
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(e, "group_members"))
    }

    /// All NAS rows, in id order.
    pub async fn load_nas(&self) -> Result<Vec<NasRow>, StoreError> {
        Ok(self
            .list_nas()
            .await?
            .into_iter()
            .map(|entry| entry.nas)
            .collect())
    }

    /// All NAS rows with their id, type and description (for `nas list`), in id order.
    pub async fn list_nas(&self) -> Result<Vec<NasEntry>, StoreError> {
        metrics::counter!(DB_QUERIES_TOTAL, "query" => "load_nas").increment(1);
        let rows = sqlx::query!(
            "SELECT id, nasname, shortname, secret, coa_port, require_message_authenticator, \
                    type AS nas_type, description \
             FROM nas ORDER BY id"
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(e, "load_nas"))?;
        Ok(rows
            .into_iter()
            .map(|r| NasEntry {
                id: r.id,
                nas_type: r.nas_type,
                description: r.description,
                nas: NasRow {
                    nasname: r.nasname,
                    shortname: Some(r.shortname),
                    secret: r.secret,
                    coa_port: r.coa_port,
                    require_message_authenticator: r.require_message_authenticator,
                },
            })
            .collect())
    }

    /// Inserts a NAS (`shortname` defaults to `nasname`); returns its id.
    pub async fn add_nas(&self, nas: &NasRow) -> Result<i32, StoreError> {
        metrics::counter!(DB_QUERIES_TOTAL, "query" => "add_nas").increment(1);
        let shortname = nas.shortname.as_deref().unwrap_or(&nas.nasname);
        sqlx::query_scalar!(
            "INSERT INTO nas (nasname, shortname, secret, coa_port, require_message_authenticator) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            nas.nasname,
            shortname,
            nas.secret,
            nas.coa_port,
            nas.require_message_authenticator
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify(e, "add_nas"))
    }

    /// Deletes the NAS rows with this `nasname`; returns how many were deleted.
    pub async fn remove_nas(&self, nasname: &str) -> Result<u64, StoreError> {
        metrics::counter!(DB_QUERIES_TOTAL, "query" => "remove_nas").increment(1);
        sqlx::query!("DELETE FROM nas WHERE nasname = $1", nasname)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| classify(e, "remove_nas"))
    }

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
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| classify(e, "acct_batch"))?;
        let mut n = 0;
        for rec in recs {
            n += write_acct(&mut *tx, rec).await?;
        }
        tx.commit().await.map_err(|e| classify(e, "acct_batch"))?;
        Ok(n)
    }

    /// Inserts post-auth rows in one multi-row statement. `pass` is left NULL: passwords are
    /// never stored.
    pub async fn write_post_auth(&self, recs: &[PostAuthRecord]) -> Result<u64, StoreError> {
        if recs.is_empty() {
            return Ok(0);
        }
        metrics::counter!(DB_QUERIES_TOTAL, "query" => "post_auth").increment(1);
        let username: Vec<String> = recs.iter().map(|r| r.username.clone()).collect();
        let reply: Vec<String> = recs.iter().map(|r| r.reply.clone()).collect();
        let called: Vec<Option<String>> =
            recs.iter().map(|r| r.called_station_id.clone()).collect();
        let calling: Vec<Option<String>> =
            recs.iter().map(|r| r.calling_station_id.clone()).collect();
        let nas_ip: Vec<Option<IpAddr>> = recs.iter().map(|r| r.nas_ip).collect();
        let class: Vec<Option<String>> = recs.iter().map(|r| r.class.clone()).collect();
        let authdate: Vec<DateTime<Utc>> = recs.iter().map(|r| timestamp(r.auth_time)).collect();
        sqlx::query!(
            "INSERT INTO radpostauth \
                 (username, reply, calledstationid, callingstationid, nasipaddress, class, authdate) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::inet[], \
                                  $6::text[], $7::timestamptz[])",
            &username,
            &reply,
            &called as &[Option<String>],
            &calling as &[Option<String>],
            &nas_ip as &[Option<IpAddr>],
            &class as &[Option<String>],
            &authdate
        )
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| classify(e, "post_auth"))
    }
}

/// One accounting record, one statement, on any executor (pool or transaction).
async fn write_acct<'e, E>(ex: E, rec: &AcctRecord) -> Result<u64, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let (query, result) = match rec.status_type {
        status::START => ("acct_start", acct_start(ex, rec).await),
        status::INTERIM => ("acct_interim", acct_interim(ex, rec).await),
        status::STOP => ("acct_stop", acct_stop(ex, rec).await),
        status::ACCOUNTING_ON | status::ACCOUNTING_OFF => {
            ("acct_on_off", acct_on_off(ex, rec).await)
        }
        _ => return Ok(0),
    };
    metrics::counter!(DB_QUERIES_TOTAL, "query" => query).increment(1);
    result
        .map(|r| r.rows_affected())
        .map_err(|e| classify(e, query))
}

type QueryResult = Result<sqlx::postgres::PgQueryResult, sqlx::Error>;

/// Columns shared by the three session statements, converted once.
struct AcctParams {
    event: DateTime<Utc>,
    /// Start time estimated from the event time and the session time (Interim/Stop with no
    /// Start seen).
    estimated_start: DateTime<Utc>,
    nas_ip: IpNet,
    framed_ip: Option<IpNet>,
    framed_ipv6: Option<IpNet>,
    framed_ipv6_prefix: Option<IpNet>,
    delegated_ipv6_prefix: Option<IpNet>,
}

impl AcctParams {
    fn new(rec: &AcctRecord) -> Self {
        let session_time = rec.session_time.unwrap_or(0).max(0);
        Self {
            event: timestamp(rec.event_time),
            estimated_start: timestamp(rec.event_time.saturating_sub(session_time)),
            nas_ip: IpNet::from(rec.nas_ip),
            framed_ip: rec.framed_ip.map(IpNet::from),
            framed_ipv6: rec.framed_ipv6.map(IpNet::from),
            framed_ipv6_prefix: parse_net(rec.framed_ipv6_prefix.as_deref()),
            delegated_ipv6_prefix: parse_net(rec.delegated_ipv6_prefix.as_deref()),
        }
    }
}

async fn acct_start<'e, E>(ex: E, rec: &AcctRecord) -> QueryResult
where
    E: sqlx::PgExecutor<'e>,
{
    let p = AcctParams::new(rec);
    sqlx::query!(
        r#"INSERT INTO radacct (
    acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype,
    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    acctinputoctets, acctoutputoctets, calledstationid, callingstationid, servicetype,
    framedprotocol, framedipaddress, framedipv6address, framedipv6prefix, delegatedipv6prefix,
    class, acctinterval)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, NULL, 0, $9, 0, 0, $10, $11, $12, $13, $14, $15,
        $16, $17, $18, $19)
ON CONFLICT (acctuniqueid) DO UPDATE SET
    acctstarttime = EXCLUDED.acctstarttime,
    acctupdatetime = greatest(radacct.acctupdatetime, EXCLUDED.acctupdatetime),
    acctauthentic = coalesce(EXCLUDED.acctauthentic, radacct.acctauthentic),
    framedipaddress = coalesce(EXCLUDED.framedipaddress, radacct.framedipaddress),
    framedipv6address = coalesce(EXCLUDED.framedipv6address, radacct.framedipv6address),
    framedipv6prefix = coalesce(EXCLUDED.framedipv6prefix, radacct.framedipv6prefix),
    delegatedipv6prefix = coalesce(EXCLUDED.delegatedipv6prefix, radacct.delegatedipv6prefix),
    acctinterval = coalesce(EXCLUDED.acctinterval, radacct.acctinterval)
WHERE radacct.acctstoptime IS NULL"#,
        rec.session_id,
        rec.unique_id,
        rec.username,
        rec.realm,
        p.nas_ip,
        rec.nas_port_id,
        rec.nas_port_type,
        p.event,
        rec.authentic,
        rec.called_station_id,
        rec.calling_station_id,
        rec.service_type,
        rec.framed_protocol,
        p.framed_ip,
        p.framed_ipv6,
        p.framed_ipv6_prefix,
        p.delegated_ipv6_prefix,
        rec.class,
        rec.interim_interval
    )
    .execute(ex)
    .await
}

async fn acct_interim<'e, E>(ex: E, rec: &AcctRecord) -> QueryResult
where
    E: sqlx::PgExecutor<'e>,
{
    let p = AcctParams::new(rec);
    sqlx::query!(
        r#"INSERT INTO radacct (
    acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype,
    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    acctinputoctets, acctoutputoctets, calledstationid, callingstationid, servicetype,
    framedprotocol, framedipaddress, framedipv6address, framedipv6prefix, delegatedipv6prefix,
    class, acctinterval)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21, $22, $23)
ON CONFLICT (acctuniqueid) DO UPDATE SET
    acctupdatetime = EXCLUDED.acctupdatetime,
    acctinterval = CASE
        WHEN radacct.acctupdatetime IS NULL OR EXCLUDED.acctupdatetime > radacct.acctupdatetime
        THEN coalesce(EXCLUDED.acctinterval,
                      extract(epoch FROM EXCLUDED.acctupdatetime - radacct.acctupdatetime)::bigint,
                      radacct.acctinterval)
        ELSE radacct.acctinterval END,
    acctsessiontime = coalesce(EXCLUDED.acctsessiontime, radacct.acctsessiontime),
    acctinputoctets = coalesce(EXCLUDED.acctinputoctets, radacct.acctinputoctets),
    acctoutputoctets = coalesce(EXCLUDED.acctoutputoctets, radacct.acctoutputoctets),
    framedipaddress = coalesce(EXCLUDED.framedipaddress, radacct.framedipaddress),
    framedipv6address = coalesce(EXCLUDED.framedipv6address, radacct.framedipv6address),
    framedipv6prefix = coalesce(EXCLUDED.framedipv6prefix, radacct.framedipv6prefix),
    delegatedipv6prefix = coalesce(EXCLUDED.delegatedipv6prefix, radacct.delegatedipv6prefix)
WHERE radacct.acctstoptime IS NULL
  AND (radacct.acctupdatetime IS NULL OR radacct.acctupdatetime <= EXCLUDED.acctupdatetime)"#,
        rec.session_id,
        rec.unique_id,
        rec.username,
        rec.realm,
        p.nas_ip,
        rec.nas_port_id,
        rec.nas_port_type,
        p.estimated_start,
        p.event,
        rec.session_time,
        rec.authentic,
        rec.input_octets,
        rec.output_octets,
        rec.called_station_id,
        rec.calling_station_id,
        rec.service_type,
        rec.framed_protocol,
        p.framed_ip,
        p.framed_ipv6,
        p.framed_ipv6_prefix,
        p.delegated_ipv6_prefix,
        rec.class,
        rec.interim_interval
    )
    .execute(ex)
    .await
}

async fn acct_stop<'e, E>(ex: E, rec: &AcctRecord) -> QueryResult
where
    E: sqlx::PgExecutor<'e>,
{
    let p = AcctParams::new(rec);
    sqlx::query!(
        r#"INSERT INTO radacct (
    acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype,
    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
    servicetype, framedprotocol, framedipaddress, framedipv6address, framedipv6prefix,
    delegatedipv6prefix, class, acctinterval)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21, $22, $23, $24)
ON CONFLICT (acctuniqueid) DO UPDATE SET
    acctstoptime = EXCLUDED.acctstoptime,
    acctupdatetime = EXCLUDED.acctupdatetime,
    acctsessiontime = coalesce(EXCLUDED.acctsessiontime, radacct.acctsessiontime),
    acctinputoctets = coalesce(EXCLUDED.acctinputoctets, radacct.acctinputoctets),
    acctoutputoctets = coalesce(EXCLUDED.acctoutputoctets, radacct.acctoutputoctets),
    acctterminatecause = EXCLUDED.acctterminatecause,
    framedipaddress = coalesce(EXCLUDED.framedipaddress, radacct.framedipaddress),
    framedipv6address = coalesce(EXCLUDED.framedipv6address, radacct.framedipv6address),
    framedipv6prefix = coalesce(EXCLUDED.framedipv6prefix, radacct.framedipv6prefix),
    delegatedipv6prefix = coalesce(EXCLUDED.delegatedipv6prefix, radacct.delegatedipv6prefix)
WHERE radacct.acctstoptime IS NULL"#,
        rec.session_id,
        rec.unique_id,
        rec.username,
        rec.realm,
        p.nas_ip,
        rec.nas_port_id,
        rec.nas_port_type,
        p.estimated_start,
        p.event,
        rec.session_time,
        rec.authentic,
        rec.input_octets,
        rec.output_octets,
        rec.called_station_id,
        rec.calling_station_id,
        rec.terminate_cause,
        rec.service_type,
        rec.framed_protocol,
        p.framed_ip,
        p.framed_ipv6,
        p.framed_ipv6_prefix,
        p.delegated_ipv6_prefix,
        rec.class,
        rec.interim_interval
    )
    .execute(ex)
    .await
}

async fn acct_on_off<'e, E>(ex: E, rec: &AcctRecord) -> QueryResult
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

/// One row of the `load_user` statement: three JSON arrays as text.
struct LoadUserRow {
    check: String,
    reply: String,
    groups: String,
}
