//! Read-through user data: moka L1 -> Redis L2 -> PostgreSQL, with pushed invalidation;
//! plus the writes (accounting, post-auth) and the NAS table.
//!
//! [`Store::user`] is the only read on the Access-Request path. A hit in L1 costs no I/O;
//! concurrent misses for one user share one load; an unknown user is cached briefly as a
//! negative. PostgreSQL being unreachable is [`StoreError::Unavailable`] (the server then
//! sends no reply, so the NAS retries or fails over: never a false reject); Redis being
//! unreachable only costs L2 hits. Triggers in the schema `NOTIFY hotspot_radius`; the
//! listener ([`Store::spawn_listener`]) drops what changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

use crate::policy::Profile;
use radius_proto::dictionary::Dictionary;

mod listener;
pub mod model;
pub mod postauth;
pub mod postgres;
pub mod redis;

pub use postauth::PostAuthWriter;
pub use postgres::{PgStore, PoolSettings, is_migrated, migrate};
pub use redis::RedisTier;

use model::UserRows;
use redis::{Cached, RedisSettings};

/// Counter: profile lookups per tier; labels `tier` = `l1|l2|db`, `result` = `hit|miss`.
pub const CACHE_LOOKUPS_TOTAL: &str = "radius_cache_lookups_total";
/// Counter: SQL statements sent; label `query`.
pub const DB_QUERIES_TOTAL: &str = "radius_db_queries_total";
/// Counter: failed SQL statements; label `query`.
pub const DB_ERRORS_TOTAL: &str = "radius_db_errors_total";
/// Counter: failed Redis operations; label `op`.
pub const REDIS_ERRORS_TOTAL: &str = "radius_redis_errors_total";
/// Gauge: 1 while Redis answers, 0 during an outage.
pub const REDIS_UP: &str = "radius_redis_up";
/// Counter: cache invalidations; label `kind` = `user|group|flush`.
pub const CACHE_INVALIDATIONS_TOTAL: &str = "radius_cache_invalidations_total";
/// Counter: post-auth records dropped (queue full or write failed); label `reason`.
pub const POSTAUTH_DROPPED_TOTAL: &str = "radius_postauth_dropped_total";
/// Counter: post-auth records written.
pub const POSTAUTH_WRITTEN_TOTAL: &str = "radius_postauth_written_total";
/// Counter: LISTEN connection losses (each flushes L1).
pub const LISTENER_RECONNECTS_TOTAL: &str = "radius_store_listener_reconnects_total";

/// The NOTIFY channel the schema's triggers use.
pub const NOTIFY_CHANNEL: &str = "hotspot_radius";

/// Errors of the store layer. Cheap to clone (loads shared by concurrent callers hand the
/// same error to each).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL could not be reached or did not answer in time: do not answer the NAS.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement failed for another reason (or returned data we cannot read).
    #[error("database query failed: {0}")]
    Query(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(String),
    /// A URL or setting is invalid.
    #[error("store configuration: {0}")]
    Config(String),
}

/// Store settings. `Debug` hides URL passwords.
#[derive(Clone)]
pub struct StoreOptions {
    /// PostgreSQL URL (`postgres://user:pass@host/db`).
    pub database_url: String,
    /// Redis URL for the L2 tier; `None` disables L2.
    pub redis_url: Option<String>,
    /// PostgreSQL connections for queries (one more is used by the listener).
    pub pool_size: u32,
    /// How long a query waits for a free connection.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` per connection.
    pub statement_timeout: Duration,
    /// L1 capacity in users.
    pub l1_capacity: u64,
    /// L1 lifetime of a found user (backstop; invalidation is pushed).
    pub l1_ttl: Duration,
    /// Lifetime (L1 and L2) of an unknown user's negative entry.
    pub negative_ttl: Duration,
    /// L2 lifetime of a found user.
    pub l2_ttl: Duration,
    /// Bound on each Redis operation.
    pub redis_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            database_url: "postgres://radius@127.0.0.1/radius".to_owned(),
            redis_url: None,
            pool_size: 16,
            acquire_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(2),
            l1_capacity: 100_000,
            l1_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(10),
            l2_ttl: Duration::from_secs(3600),
            redis_timeout: Duration::from_millis(250),
        }
    }
}

/// `scheme://user:***@host...`: the URL without its password.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("l1_capacity", &self.l1_capacity)
            .field("l1_ttl", &self.l1_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("l2_ttl", &self.l2_ttl)
            .field("redis_timeout", &self.redis_timeout)
            .finish()
    }
}

/// Per-entry L1 lifetime: short for negatives. Always returns `Some` (see
/// dependencies.md on moka `Expiry` returning `None`).
struct L1Expiry {
    positive: Duration,
    negative: Duration,
}

impl L1Expiry {
    fn ttl(&self, value: &Option<Arc<Profile>>) -> Duration {
        if value.is_some() {
            self.positive
        } else {
            self.negative
        }
    }
}

impl Expiry<String, Option<Arc<Profile>>> for L1Expiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Option<Arc<Profile>>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.ttl(value))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Option<Arc<Profile>>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.ttl(value))
    }
}

struct Inner {
    pg: PgStore,
    l2: Option<RedisTier>,
    l1: Cache<String, Option<Arc<Profile>>>,
    dict: Arc<Dictionary>,
    /// Invalidation counters: a load that overlaps an invalidation of its user (its bucket)
    /// or a flush / group change (`epoch`) is not kept. Per-bucket, so a burst of changes
    /// to other users (a bulk import) does not stop this user from being cached.
    epoch: AtomicU64,
    buckets: Box<[AtomicU64]>,
    /// The runtime the store was built on (it drives the pools' connections). Cache misses
    /// from other runtimes (the receive threads) are loaded there.
    home: Option<tokio::runtime::Handle>,
}

/// Number of per-user invalidation buckets (usernames are hashed into them).
const GENERATION_BUCKETS: usize = 1024;

impl Inner {
    fn bucket(&self, username: &str) -> &AtomicU64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(username);
        let i = (h as usize) % self.buckets.len();
        &self.buckets[i]
    }

    /// Changes whenever `username` (or everything) is invalidated; both counters only grow.
    fn generation(&self, username: &str) -> u64 {
        self.epoch
            .load(Ordering::Acquire)
            .wrapping_add(self.bucket(username).load(Ordering::Acquire))
    }
}

/// The user store: cheap to clone (shared inside).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("l1_entries", &self.inner.l1.entry_count())
            .field("l2", &self.inner.l2)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Builds the tiers. Connections are made lazily: a database or Redis that is down at
    /// start-up surfaces on first use (check [`Store::is_migrated`] before serving). Must
    /// run inside a tokio runtime.
    pub async fn connect(opts: StoreOptions, dict: Arc<Dictionary>) -> Result<Self, StoreError> {
        let pg = PgStore::connect_lazy(
            &opts.database_url,
            PoolSettings {
                size: opts.pool_size,
                acquire_timeout: opts.acquire_timeout,
                statement_timeout: opts.statement_timeout,
            },
        )?;
        let l2 = match &opts.redis_url {
            Some(url) => Some(RedisTier::connect_lazy(
                url,
                RedisSettings {
                    ttl: opts.l2_ttl,
                    negative_ttl: opts.negative_ttl,
                    timeout: opts.redis_timeout,
                },
            )?),
            None => None,
        };
        Ok(Self::from_parts(pg, l2, &opts, dict))
    }

    /// Assembles a store from ready tiers (tests, tools). `opts` supplies the L1 settings.
    pub fn from_parts(
        pg: PgStore,
        l2: Option<RedisTier>,
        opts: &StoreOptions,
        dict: Arc<Dictionary>,
    ) -> Self {
        let l1 = Cache::builder()
            .max_capacity(opts.l1_capacity)
            .expire_after(L1Expiry {
                positive: opts.l1_ttl,
                negative: opts.negative_ttl,
            })
            .build();
        Self {
            inner: Arc::new(Inner {
                pg,
                l2,
                l1,
                dict,
                epoch: AtomicU64::new(0),
                buckets: (0..GENERATION_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
                home: tokio::runtime::Handle::try_current().ok(),
            }),
        }
    }

    /// The PostgreSQL tier (accounting, NAS table, migrations).
    pub fn pg(&self) -> &PgStore {
        &self.inner.pg
    }

    /// Whether all migrations are applied (serve refuses to start otherwise).
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        self.inner.pg.is_migrated().await
    }

    /// The NAS table.
    pub async fn load_nas(&self) -> Result<Vec<model::NasRow>, StoreError> {
        self.inner.pg.load_nas().await
    }

    /// A user's compiled profile: `Ok(None)` if the user does not exist; `Err` only when it
    /// is not cached and PostgreSQL cannot be read.
    pub async fn user(&self, username: &str) -> Result<Option<Arc<Profile>>, StoreError> {
        // Fast path: an L1 hit needs neither an owned key nor the loader machinery.
        if let Some(value) = self.inner.l1.get(username).await {
            crate::metrics::inc(CACHE_LOOKUPS_TOTAL, &[("tier", "l1"), ("result", "hit")], 1);
            return Ok(value);
        }
        match &self.inner.home {
            Some(home) => {
                let store = self.clone();
                let name = username.to_owned();
                home.spawn(async move { store.user_load(&name).await })
                    .await
                    .unwrap_or_else(|e| {
                        Err(StoreError::Unavailable(format!("user lookup task: {e}")))
                    })
            }
            None => self.user_load(username).await,
        }
    }

    /// The L1 lookup that loads on a miss (concurrent misses of one user share one load).
    async fn user_load(&self, username: &str) -> Result<Option<Arc<Profile>>, StoreError> {
        let inner = &self.inner;
        let generation = inner.generation(username);
        let loaded_here = AtomicBool::new(false);
        let result = inner
            .l1
            .try_get_with(username.to_owned(), async {
                loaded_here.store(true, Ordering::Relaxed);
                self.load(username, generation).await
            })
            .await;
        let loaded_here = loaded_here.load(Ordering::Relaxed);
        let label = if loaded_here { "miss" } else { "hit" };
        crate::metrics::inc(CACHE_LOOKUPS_TOTAL, &[("tier", "l1"), ("result", label)], 1);
        let value = result.map_err(|e| (*e).clone())?;
        if loaded_here && inner.generation(username) != generation {
            // An invalidation raced with this load: the value may predate the change. Use
            // it for this request but do not keep it.
            inner.l1.invalidate(username).await;
        }
        Ok(value)
    }

    /// L2, then PostgreSQL (writing L2), then compile.
    async fn load(
        &self,
        username: &str,
        generation: u64,
    ) -> Result<Option<Arc<Profile>>, StoreError> {
        let inner = &self.inner;
        if let Some(l2) = &inner.l2 {
            match l2.get(username).await {
                Some(cached) => {
                    metrics::counter!(CACHE_LOOKUPS_TOTAL, "tier" => "l2", "result" => "hit")
                        .increment(1);
                    return Ok(match cached {
                        Cached::Found(rows) => Some(self.compile(&rows)),
                        Cached::NotFound => None,
                    });
                }
                None => {
                    metrics::counter!(CACHE_LOOKUPS_TOTAL, "tier" => "l2", "result" => "miss")
                        .increment(1);
                }
            }
        }
        let rows = inner.pg.load_user(username).await?;
        let label = if rows.is_some() { "hit" } else { "miss" };
        metrics::counter!(CACHE_LOOKUPS_TOTAL, "tier" => "db", "result" => label).increment(1);
        if let Some(l2) = &inner.l2
            && inner.generation(username) == generation
        {
            l2.put(username, rows.as_ref()).await;
        }
        Ok(rows.map(|rows| self.compile(&rows)))
    }

    fn compile(&self, rows: &UserRows) -> Arc<Profile> {
        let profile = Profile::compile(rows, &self.inner.dict);
        for problem in profile.problems() {
            tracing::warn!(user = %rows.username, %problem, "profile row skipped");
        }
        Arc::new(profile)
    }

    fn bump(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops one user from L1 and L2.
    pub async fn invalidate_user(&self, username: &str) {
        self.invalidate_users(&[username.to_owned()]).await;
    }

    /// Drops these users from L1, then from L2 with one DEL per 500 keys (the listener
    /// batches a burst of notifications into one call).
    pub async fn invalidate_users(&self, usernames: &[String]) {
        for name in usernames {
            self.inner.bucket(name).fetch_add(1, Ordering::AcqRel);
            self.inner.l1.invalidate(name.as_str()).await;
        }
        metrics::counter!(CACHE_INVALIDATIONS_TOTAL, "kind" => "user")
            .increment(usernames.len() as u64);
        if let Some(l2) = &self.inner.l2 {
            l2.delete(usernames).await;
        }
    }

    /// Drops every member of a group from L1 and L2 (one query finds them). If the members
    /// cannot be read, flushes L1 instead.
    pub async fn invalidate_group(&self, groupname: &str) {
        self.bump();
        metrics::counter!(CACHE_INVALIDATIONS_TOTAL, "kind" => "group").increment(1);
        match self.inner.pg.group_members(groupname).await {
            Ok(members) => {
                for name in &members {
                    self.inner.l1.invalidate(name.as_str()).await;
                }
                if let Some(l2) = &self.inner.l2 {
                    l2.delete(&members).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, group = %groupname, "cannot read group members; flushing L1");
                self.flush_l1();
            }
        }
    }

    /// Drops every L1 entry.
    pub fn flush_l1(&self) {
        self.bump();
        metrics::counter!(CACHE_INVALIDATIONS_TOTAL, "kind" => "flush").increment(1);
        self.inner.l1.invalidate_all();
    }

    /// Drops every L1 and L2 user entry.
    pub async fn flush_all(&self) {
        self.flush_l1();
        if let Some(l2) = &self.inner.l2 {
            l2.delete_all().await;
        }
    }

    /// Users currently in L1 (approximate; for tests and health output).
    pub fn l1_entry_count(&self) -> u64 {
        self.inner.l1.entry_count()
    }

    /// Applies pending L1 maintenance (moka is lazy); makes `l1_entry_count` exact.
    pub async fn run_pending_tasks(&self) {
        self.inner.l1.run_pending_tasks().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://radius:s3cret@db:5432/radius"),
            "postgres://radius:***@db:5432/radius"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1/"),
            "redis://:***@127.0.0.1/"
        );
        assert_eq!(
            redact_url("postgres://radius@db/radius"),
            "postgres://radius@db/radius"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        let opts = StoreOptions {
            database_url: "postgres://u:hunter2@h/d".into(),
            redis_url: Some("redis://:hunter3@h/".into()),
            ..StoreOptions::default()
        };
        let shown = format!("{opts:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
    }
}
