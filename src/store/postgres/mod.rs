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
mod sessions;
mod users;

pub use accounts::{Membership, UserSummary, UserWrite};
pub use nas::NasWrite;

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
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: 16,
            acquire_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(2),
        }
    }
}

/// sqlx pool over the FreeRADIUS schema; cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Client-side bound on the request-path statements (`within`): the pool's acquire
    /// timeout plus `statement_timeout`. PostgreSQL's own timeout cannot fire when the
    /// network path is dead (no FIN, no RST): without this a lookup would wait for TCP
    /// to give up, minutes later, holding its worker slot.
    deadline: Duration,
    /// Where the NOTIFY listener connects when that is not `pool`'s server (`[database]
    /// listen_url`: straight to PostgreSQL when queries go through PgBouncer).
    listen: Option<PgConnectOptions>,
}

impl PgStore {
    /// Builds a lazy pool (no connection is made until the first query, so a database that
    /// is down at start-up is reported by the first query, as [`StoreError::Unavailable`]).
    pub fn connect_lazy(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let ms = settings.statement_timeout.as_millis().max(1).to_string();
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::Url)?
            .application_name("hotspot-radius")
            .options([("statement_timeout", ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.size.max(1))
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            deadline: settings.acquire_timeout + settings.statement_timeout,
            listen: None,
        })
    }

    /// The NOTIFY listener connects to `url` instead of the query pool's server.
    pub fn with_listen_url(mut self, url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::Url)?
            .application_name("hotspot-radius");
        self.listen = Some(options);
        Ok(self)
    }

    /// Wraps an existing pool (tests, tools).
    pub fn from_pool(pool: PgPool) -> Self {
        let defaults = PoolSettings::default();
        Self {
            pool,
            deadline: defaults.acquire_timeout + defaults.statement_timeout,
            listen: None,
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
        &self.pool
    }

    /// A one-connection pool for one NOTIFY listener connection: to `listen_url` if set,
    /// else to the query pool's server. Each listener connection gets its own, so a
    /// connection that died silently (its `PgListener` drop hangs on `UNLISTEN` until TCP
    /// gives up) never holds a slot of the query pool or blocks its replacement.
    pub fn listen_pool(&self) -> PgPool {
        let options = match &self.listen {
            Some(o) => o.clone(),
            None => (*self.pool.connect_options()).clone(),
        };
        PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_lazy_with(options)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate(&self.pool).await
    }

    /// Applies pending migrations; the versions applied (see [`migrate_reporting`]).
    pub async fn migrate_reporting(&self) -> Result<Vec<i64>, StoreError> {
        migrate_reporting(&self.pool).await
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
    }
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
