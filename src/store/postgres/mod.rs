//! PostgreSQL over the FreeRADIUS schema: every SQL statement the server runs lives under
//! this module, one file per table family (`users`, `nas`, `acct`).
//!
//! Static queries are compile-time checked (`sqlx::query!`) against the schema in
//! `migrations/`, with the query data committed in `.sqlx/` so builds need no database.
//! Every statement is counted under `radius_db_queries_total{query}` and every failure
//! under `radius_db_errors_total{query}`, then classified into [`StoreError`].

mod accounts;
mod acct;
mod nas;
mod pool;
mod sessions;
mod users;

pub use accounts::{Membership, UserSummary, UserWrite};
pub use nas::NasWrite;
use pool::QueryPool;

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreError;
use crate::metrics::{self as m, DB_ERRORS_TOTAL, DB_QUERIES_TOTAL};

/// Embedded migrations (`migrations/`), applied by `hotspot-radius migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Applies all pending migrations to `pool`'s database.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    migrate_reporting(pool).await.map(|_| ())
}

/// Applies all pending migrations to `pool`'s database on one connection and returns the
/// versions it applied, in order (empty: the schema was up to date). PostgreSQL's NOTICEs
/// are silenced on that connection (`client_min_messages = warning`): over an existing
/// FreeRADIUS schema every `CREATE ... IF NOT EXISTS` would otherwise log "already exists,
/// skipping".
pub async fn migrate_reporting(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SET client_min_messages = warning")
        .execute(&mut *conn)
        .await?;
    let before = applied_versions(&mut conn).await?;
    let result = MIGRATOR.run(&mut *conn).await;
    // The connection goes back to the pool: give it its usual setting back.
    let _ = sqlx::query("RESET client_min_messages")
        .execute(&mut *conn)
        .await;
    result?;
    let after = applied_versions(&mut conn).await?;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

/// Versions recorded as applied in `_sqlx_migrations` (none when the table is missing).
async fn applied_versions(conn: &mut sqlx::PgConnection) -> Result<Vec<i64>, StoreError> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *conn)
        .await?;
    if table.is_none() {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Counts one statement about to run.
fn sent(query: &'static str) {
    m::inc(DB_QUERIES_TOTAL, &[("query", query)], 1);
}

/// Counts a failed statement and classifies its error (see `From<sqlx::Error>`).
fn failed(query: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        m::inc(DB_ERRORS_TOTAL, &[("query", query)], 1);
        StoreError::from(e)
    }
}

/// Connection-level failures: PostgreSQL is down, unreachable, shutting down, overloaded or
/// too slow (statement_timeout, SQLSTATE 57014).
pub(super) fn is_unavailable(e: &sqlx::Error) -> bool {
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

/// Client-side bound on background statements (housekeeping, post-auth batches, session
/// rebuilds): generous, since they are not on a NAS's clock, but finite, so a connection
/// that died silently cannot stall a background task for good.
const BACKGROUND_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `statement` under `deadline`; past it the statement counts as "unavailable".
async fn within_for<T>(
    deadline: Duration,
    query: &'static str,
    statement: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(deadline, statement).await {
        Ok(result) => result.map_err(failed(query)),
        Err(_) => Err(failed(query)(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from PostgreSQL within {deadline:?}"),
        )))),
    }
}

/// [`within_for`] with [`BACKGROUND_DEADLINE`].
async fn in_background<T>(
    query: &'static str,
    statement: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    within_for(BACKGROUND_DEADLINE, query, statement).await
}

/// A dead pooled connection (e.g. after a PostgreSQL restart): retrying on a fresh
/// connection is worthwhile for idempotent reads.
fn is_broken_connection(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_))
        || matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P")))
}

/// The pool settings the RADIUS path needs: short acquire timeout, no ping per acquire,
/// a per-connection `statement_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Maximum connections (the LISTEN connection has a pool of its own).
    pub size: u32,
    /// How long a query waits for a free connection.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` for every connection.
    pub statement_timeout: Duration,
    /// The URL leads to a PgBouncer in transaction pooling (`[database] pgbouncer`): no
    /// session state, every statement in a transaction of its own (see `pool.rs`).
    pub pgbouncer: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: 16,
            acquire_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(2),
            pgbouncer: false,
        }
    }
}

/// sqlx pool over the FreeRADIUS schema; cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: QueryPool,
    /// Client-side bound on the request-path statements (`within`): the pool's acquire
    /// timeout plus `statement_timeout`. PostgreSQL's own timeout cannot fire when the
    /// network path is dead (no FIN, no RST): without this a lookup would wait for TCP
    /// to give up, minutes later, holding its worker slot.
    deadline: Duration,
    /// Where the NOTIFY listener connects when that is not `pool`'s server (`[database]
    /// listen_url`: straight to PostgreSQL when queries go through PgBouncer).
    listen: Option<PgConnectOptions>,
    /// Where cache-miss profile loads go (`[database] replica_url`); unset: `pool`.
    replica: Option<QueryPool>,
}

impl PgStore {
    /// Builds a lazy pool (no connection is made until the first query, so a database that
    /// is down at start-up is reported by the first query, as [`StoreError::Unavailable`]).
    pub fn connect_lazy(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        Ok(Self {
            pool: query_pool(url, settings)?,
            deadline: settings.acquire_timeout + settings.statement_timeout,
            listen: None,
            replica: None,
        })
    }

    /// Cache-miss profile loads go to `url` (a read replica), with the same settings.
    pub fn with_replica_url(
        mut self,
        url: &str,
        settings: PoolSettings,
    ) -> Result<Self, StoreError> {
        self.replica = Some(query_pool(url, settings)?);
        Ok(self)
    }

    /// This store with its reads on the replica, when there is one (else itself): for
    /// reads that tolerate the replica's lag.
    pub fn replica(&self) -> Self {
        match &self.replica {
            Some(replica) => Self {
                pool: replica.clone(),
                replica: None,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// Whether reads that tolerate lag go to a replica.
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// The NOTIFY listener connects to `url` instead of the query pool's server.
    pub fn with_listen_url(mut self, url: &str) -> Result<Self, StoreError> {
        // No `extra_float_digits` (the listener reads no floats): a pooler that refuses it
        // is then found by `check_listen_session`, not a connection error.
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::Url)?
            .application_name("hotspot-radius")
            .extra_float_digits(None);
        self.listen = Some(options);
        Ok(self)
    }

    /// Wraps an existing pool (tests, tools).
    pub fn from_pool(pool: PgPool) -> Self {
        let defaults = PoolSettings::default();
        Self {
            pool: QueryPool::direct(pool),
            deadline: defaults.acquire_timeout + defaults.statement_timeout,
            listen: None,
            replica: None,
        }
    }

    /// Runs one request-path statement under the client-side deadline; a statement that
    /// does not answer in time is "unavailable" (like a refused connection), so the caller
    /// serves from cache or leaves the request unanswered, never a false reject.
    async fn within<T>(
        &self,
        query: &'static str,
        statement: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        within_for(self.deadline, query, statement).await
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        self.pool.inner()
    }

    /// A one-connection pool for one NOTIFY listener connection: to `listen_url` if set,
    /// else to the query pool's server. Each listener connection gets its own, so a
    /// connection that died silently (its `PgListener` drop hangs on `UNLISTEN` until TCP
    /// gives up) never holds a slot of the query pool or blocks its replacement.
    pub fn listen_pool(&self) -> PgPool {
        let options = match &self.listen {
            Some(o) => o.clone(),
            None => (*self.pool.inner().connect_options()).clone(),
        };
        PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_lazy_with(options)
    }

    /// Refuses a NOTIFY listener connection without a PostgreSQL session of its own: through
    /// a PgBouncer in transaction pooling, LISTEN registers on whichever server session ran
    /// it and notifications never reach this client (see `listen_probe`). Returns
    /// [`StoreError::ListenPooled`] only on a positive finding: when PostgreSQL cannot be
    /// reached the check is skipped (logged) and the listener retries as usual.
    pub async fn check_listen_session(&self) -> Result<(), StoreError> {
        let key = if self.listen.is_some() {
            "database.listen_url"
        } else {
            "database.url"
        };
        let listening = self.listen_pool();
        let holding: Vec<PgPool> = (0..LISTEN_PROBE_HOLDERS)
            .map(|_| self.listen_pool())
            .collect();
        let verdict = listen_probe(&listening, &holding).await;
        listening.close().await;
        for pool in &holding {
            pool.close().await;
        }
        match verdict {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::ListenPooled { key }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the NOTIFY listener's session; not checked");
                Ok(())
            }
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_reporting().await.map(|_| ())
    }

    /// Applies pending migrations; the versions applied (see [`migrate_reporting`]). The
    /// migrator holds a session-level advisory lock, so through PgBouncer it runs on a
    /// session of its own to `listen_url` (PostgreSQL itself).
    pub async fn migrate_reporting(&self) -> Result<Vec<i64>, StoreError> {
        if !self.pool.is_bounced() {
            return migrate_reporting(self.pool.inner()).await;
        }
        let direct = self.listen_pool();
        let result = migrate_reporting(&direct).await;
        direct.close().await;
        result
    }

    /// Whether every embedded migration has been applied successfully (`serve` refuses to
    /// start otherwise).
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        let table: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&self.pool)
                .await
                .map_err(failed("is_migrated"))?;
        if table.is_none() {
            return Ok(false);
        }
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("is_migrated"))?;
        Ok(MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .all(|m| applied.contains(&m.version)))
    }

    /// A trivial round trip, for the readiness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.within("ping", sqlx::query("SELECT 1").execute(&self.pool))
            .await
            .map(|_| ())
    }

    /// Closes every pooled connection (shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(replica) = &self.replica {
            replica.close().await;
        }
    }
}

/// Connections [`PgStore::check_listen_session`] holds at once, besides the listener's.
const LISTEN_PROBE_HOLDERS: usize = 4;

/// The probe of [`PgStore::check_listen_session`]: whether the connection of `listening`
/// keeps one PostgreSQL session (backend pid). Each of `holding` pins a server session in
/// a transaction and must not be on the listener's; after each, the listener must still
/// answer from its own session, within a bound (a pooler with every session pinned leaves
/// it waiting). Directly on PostgreSQL that always holds; through transaction pooling the
/// listener's session is handed out again (PgBouncer reuses the session used last first),
/// or it answers from another one, or not at all. Simple queries only (nothing to prepare
/// through a pooler).
async fn listen_probe(listening: &PgPool, holding: &[PgPool]) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    const WAIT: Duration = Duration::from_secs(3);
    async fn pid(
        conn: &mut sqlx::PgConnection,
        sql: &'static str,
    ) -> Option<Result<i32, sqlx::Error>> {
        let row = tokio::time::timeout(WAIT, sqlx::raw_sql(sql).fetch_optional(conn)).await;
        match row {
            Err(_) => None,
            Ok(Err(e)) => Some(Err(e)),
            Ok(Ok(None)) => Some(Err(sqlx::Error::RowNotFound)),
            Ok(Ok(Some(row))) => Some(row.try_get::<i32, _>(0)),
        }
    }
    let timed_out = || {
        sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no connection within the probe's bound",
        ))
    };
    let mut l = tokio::time::timeout(WAIT, listening.acquire())
        .await
        .map_err(|_| timed_out())??;
    let Some(own) = pid(&mut l, "SELECT pg_backend_pid()").await else {
        return Err(timed_out());
    };
    let own = own?;
    let mut held = Vec::new();
    let mut verdict = true;
    for pool in holding {
        let mut h = tokio::time::timeout(WAIT, pool.acquire())
            .await
            .map_err(|_| timed_out())??;
        match pid(&mut h, "BEGIN; SELECT pg_backend_pid()").await {
            None => verdict = false,
            Some(theirs) => verdict = theirs? != own,
        }
        held.push(h);
        if !verdict {
            break;
        }
        match pid(&mut l, "SELECT pg_backend_pid()").await {
            None => verdict = false,
            Some(now) => verdict = now? == own,
        }
        if !verdict {
            break;
        }
    }
    for mut h in held {
        h.close_on_drop();
    }
    l.close_on_drop();
    Ok(verdict)
}

/// The query pool for `url` under `settings`.
fn query_pool(url: &str, settings: PoolSettings) -> Result<QueryPool, StoreError> {
    let ms = settings.statement_timeout.as_millis().max(1);
    let options = PgConnectOptions::from_str(url)
        .map_err(StoreError::Url)?
        .application_name("hotspot-radius");
    // PgBouncer 1.18 refuses startup parameters it does not track (`options`,
    // `extra_float_digits`): the timeout is set per transaction instead.
    let options = if settings.pgbouncer {
        options.extra_float_digits(None).statement_cache_capacity(0)
    } else {
        options.options([("statement_timeout", ms.to_string().as_str())])
    };
    let pool = PgPoolOptions::new()
        .max_connections(settings.size.max(1))
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .connect_lazy_with(options);
    Ok(if settings.pgbouncer {
        QueryPool::bounced(pool, ms)
    } else {
        QueryPool::direct(pool)
    })
}

impl PgStore {
    /// The key Redis cache values are signed with (`hotspot_radius_keys`, made by the
    /// migrations; shared by every instance of this database).
    pub async fn l2_signing_key(&self) -> Result<String, StoreError> {
        sent("l2_signing_key");
        self.within(
            "l2_signing_key",
            sqlx::query_scalar!("SELECT key FROM hotspot_radius_keys WHERE name = 'l2'")
                .fetch_one(&self.pool),
        )
        .await
    }
}
