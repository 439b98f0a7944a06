//! Compiled user profiles: the moka L1 of `Arc<Profile>` in front of the store's Redis L2
//! and PostgreSQL, kept exact by pushed invalidation (the NOTIFY [`listener`]).
//!
//! [`Profiles::user`] is the only read on the Access-Request path. A hit in L1 costs no
//! I/O; concurrent misses for one user share one load; an unknown user is cached briefly
//! as a negative. PostgreSQL being unreachable is [`LookupError::Unavailable`] (the
//! handler then sends no reply, so the NAS retries or fails over: never a false reject);
//! Redis being unreachable only costs L2 hits. A load that raced an invalidation of the
//! same user (per-user generation buckets) is used once and not kept. A profile that has
//! left L1 (its TTL ran out) is kept as a fallback for `stale_ttl` and served only when
//! reloading it fails because PostgreSQL is unavailable (`tier="stale"` in the lookup
//! metric); every invalidation drops it too, so an outage longer than the L1 TTL does not
//! turn into "no reply" for users the server already knew.

pub mod listener;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use radius_proto::dictionary::Dictionary;

use crate::metrics::{self as m, CACHE_INVALIDATIONS_TOTAL, CACHE_LOOKUPS_TOTAL};
use crate::model::UserRows;
use crate::policy::Profile;
use crate::store::{Cached, PgStore, RedisTier, StoreError};

/// Why a profile could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    /// The user is not cached and its rows cannot be read: answer nothing (the NAS
    /// retries). Shared, because concurrent lookups of one user share one load.
    #[error(transparent)]
    Unavailable(Arc<StoreError>),
    /// The lookup task died (runtime shutting down).
    #[error("profile lookup task ended: {0}")]
    Task(String),
}

impl LookupError {
    /// Which backend failed, as a `radius_backend_unavailable_total` label.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Unavailable(e) if e.is_unavailable() => "postgres",
            _ => "store",
        }
    }
}

impl From<StoreError> for LookupError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(Arc::new(e))
    }
}

/// Where the Access-Request handler gets a user's compiled profile. Implemented by
/// [`Profiles`]; tests implement it over a map.
pub trait UserSource: Send + Sync + 'static {
    /// The compiled profile of `username`; `Ok(None)` when no such user.
    fn user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Arc<Profile>>, LookupError>> + Send;

    /// What [`UserSource::user`] would answer without any I/O: `Some` when the in-process
    /// cache holds `username` (`Some(None)`: known to be unknown), `None` when the lookup
    /// would have to go past it (those are bounded per NAS). A source without such a cache
    /// keeps the default: every lookup is a miss.
    fn cached(&self, _username: &str) -> impl Future<Output = Option<Option<Arc<Profile>>>> + Send {
        std::future::ready(None)
    }

    /// The compiled profile of `username` as seen by a NAS of `tenant` (`None`: global).
    /// The default serves global users only: a source without tenants knows no user of a
    /// tenant.
    fn user_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> impl Future<Output = Result<Option<Arc<Profile>>, LookupError>> + Send {
        let global = tenant.is_none();
        let lookup = self.user(username);
        async move { if global { lookup.await } else { Ok(None) } }
    }

    /// [`UserSource::cached`] for a NAS of `tenant`.
    fn cached_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> impl Future<Output = Option<Option<Arc<Profile>>>> + Send {
        let global = tenant.is_none();
        let lookup = self.cached(username);
        async move { if global { lookup.await } else { Some(None) } }
    }
}

/// L1 settings.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    /// L1 capacity in users.
    pub l1_capacity: u64,
    /// L1 lifetime of a found user (backstop; invalidation is pushed).
    pub l1_ttl: Duration,
    /// L1 lifetime of an unknown user's negative entry (L2 has its own, in
    /// `RedisSettings`).
    pub negative_ttl: Duration,
    /// How long a found profile is kept as a fallback after it left L1: used only when
    /// reloading it fails because PostgreSQL is unavailable (serve stale on error).
    pub stale_ttl: Duration,
    /// Zone of zone-less `Expiration` text (`[sessions] time_zone`).
    pub time_zone: chrono_tz::Tz,
    /// How often the idle LISTEN connection is probed with a query: a connection that died
    /// silently (NAT idle timeout, VIP fail-over) would otherwise stop every invalidation.
    pub listener_probe: Duration,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self {
            l1_capacity: 100_000,
            l1_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(10),
            stale_ttl: Duration::from_secs(24 * 3600),
            time_zone: chrono_tz::Tz::UTC,
            listener_probe: Duration::from_secs(30),
        }
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

/// Profile lookups per cache tier since start, for the status page (relaxed counters
/// beside the `radius_cache_lookups_total` metric, which cannot be read back).
#[derive(Debug, Default)]
struct TierCounters {
    l1_hits: AtomicU64,
    l1_misses: AtomicU64,
    l2_hits: AtomicU64,
    l2_misses: AtomicU64,
}

/// Cache hits and misses per tier since start ([`Profiles::cache_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// In-process (moka) hits.
    pub l1_hits: u64,
    /// In-process misses (went to Redis or PostgreSQL).
    pub l1_misses: u64,
    /// Redis hits.
    pub l2_hits: u64,
    /// Redis misses (went to PostgreSQL).
    pub l2_misses: u64,
}

struct Inner {
    pg: PgStore,
    l2: Option<RedisTier>,
    l1: Cache<String, Option<Arc<Profile>>>,
    /// Every profile loaded, kept past its L1 lifetime: the fallback while PostgreSQL is
    /// unavailable. Invalidated exactly like L1.
    stale: moka::sync::Cache<String, Arc<Profile>>,
    dict: Arc<Dictionary>,
    /// Hits and misses per tier.
    tiers: TierCounters,
    /// Invalidation counters: a load that overlaps an invalidation of its user (its bucket)
    /// or a flush / group change (`epoch`) is not kept. Per-bucket, so a burst of changes
    /// to other users (a bulk import) does not stop this user from being cached.
    epoch: AtomicU64,
    buckets: Box<[AtomicU64]>,
    /// The runtime the store was built on (it drives the pools' connections). Cache misses
    /// from other runtimes (the receive threads) are loaded there.
    home: Option<tokio::runtime::Handle>,
    /// Where pushed user changes are announced (`watch_changes`), if anyone listens.
    changes: std::sync::OnceLock<tokio::sync::mpsc::Sender<UserChange>>,
    /// Zone of zone-less `Expiration` text.
    time_zone: chrono_tz::Tz,
    /// Probe interval of the LISTEN connection.
    listener_probe: Duration,
    /// Whether the LISTEN connection is up and answered its last probe (`/readyz`).
    listener_up: Arc<AtomicBool>,
    /// Notifications the listener has acted on (see [`Profiles::notifications_applied`]).
    applied: tokio::sync::watch::Sender<u64>,
    /// Every tenant a profile was loaded for (before its load began): a change to a global
    /// user or group also reaches these tenants' cache entries, which may have read the
    /// global rows. Written on cache misses only.
    tenants: std::sync::RwLock<std::collections::BTreeSet<Arc<str>>>,
    /// With a read replica: what must be read from the primary for now.
    primary_first: Option<PrimaryFirst>,
}

/// How long after a change notification a user's profile is read from the primary rather
/// than the read replica (`[database] replica_url`): the replica may not have replayed the
/// change yet, and the notification (sent by the primary at commit) can overtake it.
pub const REPLICA_CATCH_UP: Duration = Duration::from_secs(60);

/// Reads that go to the primary although a replica is configured: users named by a change
/// notification in the last [`REPLICA_CATCH_UP`], and every user for that long after a
/// flush (notifications may have been missed: any user may have changed).
struct PrimaryFirst {
    /// The store with its reads on the replica.
    replica: PgStore,
    users: moka::sync::Cache<String, ()>,
    all_until: std::sync::Mutex<Option<Instant>>,
}

impl PrimaryFirst {
    fn new(replica: PgStore, capacity: u64) -> Self {
        Self {
            replica,
            users: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(REPLICA_CATCH_UP)
                .build(),
            all_until: std::sync::Mutex::new(None),
        }
    }

    fn changed(&self, usernames: &[String]) {
        for name in usernames {
            self.users.insert(name.clone(), ());
        }
    }

    fn flushed(&self) {
        let until = Instant::now() + REPLICA_CATCH_UP;
        *self.all_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
    }

    fn wants_primary(&self, username: &str) -> bool {
        let all = *self.all_until.lock().unwrap_or_else(|p| p.into_inner());
        all.is_some_and(|until| Instant::now() < until) || self.users.contains_key(username)
    }
}

/// A user whose rows changed (a NOTIFY for the user or one of their groups), with the
/// profile this server held before the change (`None`: it held none).
#[derive(Debug, Clone)]
pub struct UserChange {
    /// The user's tenant (`None`: global).
    pub tenant: Option<String>,
    /// The user.
    pub username: String,
    /// The compiled profile before the change, if it was loaded here.
    pub before: Option<Arc<Profile>>,
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

/// The profile cache: cheap to clone (shared inside).
#[derive(Clone)]
pub struct Profiles {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles")
            .field("l1_entries", &self.inner.l1.entry_count())
            .field("l2", &self.inner.l2)
            .finish_non_exhaustive()
    }
}

impl Profiles {
    /// Builds the L1 over the given tiers. Must run inside a tokio runtime: that runtime
    /// (the one driving the pools' connections) also runs the loads of cache misses that
    /// arrive on other runtimes (the receive threads).
    pub fn new(
        pg: PgStore,
        l2: Option<RedisTier>,
        opts: &ProfileOptions,
        dict: Arc<Dictionary>,
    ) -> Self {
        let l1 = Cache::builder()
            .max_capacity(opts.l1_capacity)
            .expire_after(L1Expiry {
                positive: opts.l1_ttl,
                negative: opts.negative_ttl,
            })
            .build();
        let stale = moka::sync::Cache::builder()
            .max_capacity(opts.l1_capacity)
            .time_to_live(opts.stale_ttl)
            .build();
        let primary_first = pg
            .has_replica()
            .then(|| PrimaryFirst::new(pg.replica(), opts.l1_capacity));
        Self {
            inner: Arc::new(Inner {
                pg,
                l2,
                l1,
                stale,
                dict,
                tiers: TierCounters::default(),
                epoch: AtomicU64::new(0),
                buckets: (0..GENERATION_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
                home: tokio::runtime::Handle::try_current().ok(),
                changes: std::sync::OnceLock::new(),
                time_zone: opts.time_zone,
                listener_probe: opts.listener_probe,
                listener_up: Arc::new(AtomicBool::new(false)),
                applied: tokio::sync::watch::Sender::new(0),
                tenants: std::sync::RwLock::default(),
                primary_first,
            }),
        }
    }

    /// A flag that is true while the invalidation listener is connected and answering its
    /// probes (false before the first LISTEN, or when no listener runs).
    pub fn listener_health(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.inner.listener_up)
    }

    /// How many invalidations the listener has applied so far: one per notification, and
    /// one per flush after a LISTEN (re)connection; the count grows once the invalidation is
    /// complete (L1 and L2). A test hook: a test makes a change once, waits for this to
    /// grow, then checks that the next lookup sees the change, instead of polling for it.
    pub fn notifications_applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.applied.subscribe()
    }

    /// A global user's compiled profile: `Ok(None)` if the user does not exist; `Err` only
    /// when it is not cached and PostgreSQL cannot be read.
    pub async fn user(&self, username: &str) -> Result<Option<Arc<Profile>>, LookupError> {
        self.user_in(None, username).await
    }

    /// The compiled profile of `username` seen from a NAS of `tenant` (`None`: global;
    /// the precedence rule is [`PgStore::load_user_in`]'s). Everything cached is keyed by
    /// the pair ([`crate::tenants::scoped`]).
    pub async fn user_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> Result<Option<Arc<Profile>>, LookupError> {
        let key = crate::tenants::scoped(tenant, username);
        // Fast path: an L1 hit needs neither an owned key nor the loader machinery.
        if let Some(value) = self.cached_key(&key).await {
            return Ok(value);
        }
        match &self.inner.home {
            Some(home) => {
                let store = self.clone();
                let key = key.into_owned();
                home.spawn(async move { store.user_load(&key).await })
                    .await
                    .unwrap_or_else(|e| Err(LookupError::Task(e.to_string())))
            }
            None => self.user_load(&key).await,
        }
    }

    /// The L1 entry of global `username`, if any (a hit, counted as one); no I/O, no
    /// allocation.
    pub async fn cached(&self, username: &str) -> Option<Option<Arc<Profile>>> {
        self.cached_in(None, username).await
    }

    /// The L1 entry of `username` of `tenant`, if any; no I/O (and no allocation for a
    /// global user).
    pub async fn cached_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> Option<Option<Arc<Profile>>> {
        self.cached_key(&crate::tenants::scoped(tenant, username))
            .await
    }

    /// Puts `profile` in L1 for `username` of `tenant` (`None` inside: a known-unknown
    /// user), as a completed load would, without touching the store. For benches and
    /// tests that need a cache hit without a database (`benches/hot_path.rs`).
    pub async fn insert_cached(
        &self,
        tenant: Option<&str>,
        username: &str,
        profile: Option<Arc<Profile>>,
    ) {
        let key = crate::tenants::scoped(tenant, username).into_owned();
        self.inner.l1.insert(key, profile).await;
    }

    async fn cached_key(&self, key: &str) -> Option<Option<Arc<Profile>>> {
        let value = self.inner.l1.get(key).await?;
        m::inc(CACHE_LOOKUPS_TOTAL, &[("tier", "l1"), ("result", "hit")], 1);
        self.inner.tiers.l1_hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    /// Remembers these tenants (those of the NAS table) as ones whose entries a change to
    /// a global user or group may reach: their views of it in the shared L2 may have been
    /// written by another instance.
    pub fn note_tenants<'a>(&self, tenants: impl IntoIterator<Item = &'a str>) {
        for t in tenants {
            if crate::tenants::valid_name(t) {
                self.note_tenant(t);
            }
        }
    }

    /// Remembers `tenant` as one whose entries a global change may reach.
    fn note_tenant(&self, tenant: &str) {
        let known = self
            .inner
            .tenants
            .read()
            .is_ok_and(|set| set.contains(tenant));
        if !known && let Ok(mut set) = self.inner.tenants.write() {
            set.insert(Arc::from(tenant));
        }
    }

    /// Tenants a global change must also reach (see `Inner::tenants`).
    fn known_tenants(&self) -> Vec<Arc<str>> {
        self.inner
            .tenants
            .read()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The cache keys a change to global `username` reaches: its own (into `keys`) and,
    /// for every known tenant, the tenant's view of it (into `fanout`: it reads the global
    /// rows unless the tenant has its own).
    fn global_user_keys(
        username: &str,
        tenants: &[Arc<str>],
        keys: &mut Vec<String>,
        fanout: &mut Vec<String>,
    ) {
        keys.push(crate::tenants::scoped(None, username).into_owned());
        for t in tenants {
            fanout.push(crate::tenants::scoped(Some(t), username).into_owned());
        }
    }

    /// The L1 lookup that loads on a miss (concurrent misses of one key share one load).
    /// `username` is a [`crate::tenants::scoped`] key.
    async fn user_load(&self, username: &str) -> Result<Option<Arc<Profile>>, LookupError> {
        let inner = &self.inner;
        if let (Some(tenant), _) = crate::tenants::split(username) {
            self.note_tenant(tenant);
        }
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
        m::inc(CACHE_LOOKUPS_TOTAL, &[("tier", "l1"), ("result", label)], 1);
        let counter = if loaded_here {
            &inner.tiers.l1_misses
        } else {
            &inner.tiers.l1_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                // PostgreSQL unavailable and the entry gone from L1: serve the last known
                // profile rather than nothing (it is dropped by any invalidation).
                if let LookupError::Unavailable(store) = &*e
                    && store.is_unavailable()
                    && let Some(profile) = inner.stale.get(username)
                {
                    m::inc(
                        CACHE_LOOKUPS_TOTAL,
                        &[("tier", "stale"), ("result", "hit")],
                        1,
                    );
                    return Ok(Some(profile));
                }
                return Err((*e).clone());
            }
        };
        if let Some(profile) = &value
            && loaded_here
        {
            inner.stale.insert(username.to_owned(), Arc::clone(profile));
        }
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
    ) -> Result<Option<Arc<Profile>>, LookupError> {
        let inner = &self.inner;
        let mut l2_generation = None;
        if let Some(l2) = &inner.l2 {
            let (cached, seen) = l2.get(username).await;
            l2_generation = Some(seen);
            match cached {
                Some(cached) => {
                    m::inc(CACHE_LOOKUPS_TOTAL, &[("tier", "l2"), ("result", "hit")], 1);
                    inner.tiers.l2_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(match cached {
                        Cached::Found(rows) => Some(self.compile(&rows)),
                        Cached::NotFound => None,
                    });
                }
                None => {
                    m::inc(
                        CACHE_LOOKUPS_TOTAL,
                        &[("tier", "l2"), ("result", "miss")],
                        1,
                    );
                    inner.tiers.l2_misses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let (tenant, name) = crate::tenants::split(username);
        let rows = match &inner.primary_first {
            Some(p) if !p.wants_primary(username) => {
                match p.replica.load_user_in(tenant, name).await {
                    // The replica is away: the primary answers instead.
                    Err(StoreError::Unavailable(e)) => {
                        tracing::debug!(error = %e, "read replica unavailable; loading from the primary");
                        inner.pg.load_user_in(tenant, name).await?
                    }
                    other => other?,
                }
            }
            _ => inner.pg.load_user_in(tenant, name).await?,
        };
        let label = if rows.is_some() { "hit" } else { "miss" };
        m::inc(CACHE_LOOKUPS_TOTAL, &[("tier", "db"), ("result", label)], 1);
        if let (Some(l2), Some(seen)) = (&inner.l2, l2_generation)
            && inner.generation(username) == generation
        {
            l2.put(username, rows.as_ref(), seen).await;
        }
        Ok(rows.map(|rows| self.compile(&rows)))
    }

    fn compile(&self, rows: &UserRows) -> Arc<Profile> {
        let profile = Profile::compile_in(rows, &self.inner.dict, self.inner.time_zone);
        for problem in profile.problems() {
            tracing::warn!(user = %rows.username, %problem, "profile row skipped");
        }
        Arc::new(profile)
    }

    fn bump(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Cache hits and misses per tier since start.
    pub fn cache_stats(&self) -> CacheStats {
        let t = &self.inner.tiers;
        CacheStats {
            l1_hits: t.l1_hits.load(Ordering::Relaxed),
            l1_misses: t.l1_misses.load(Ordering::Relaxed),
            l2_hits: t.l2_hits.load(Ordering::Relaxed),
            l2_misses: t.l2_misses.load(Ordering::Relaxed),
        }
    }

    /// Whether a Redis tier is configured.
    pub fn has_l2(&self) -> bool {
        self.inner.l2.is_some()
    }

    /// Drops one global user from L1 and L2 (and every tenant's view of it).
    pub async fn invalidate_user(&self, username: &str) {
        self.invalidate_users(&[username.to_owned()]).await;
    }

    /// Drops users of `tenant` (`None`: global users, and every known tenant's view of
    /// them) from L1 and L2.
    pub async fn invalidate_users_in(&self, tenant: Option<&str>, usernames: &[String]) {
        let mut keys = Vec::with_capacity(usernames.len());
        let mut fanout = Vec::new();
        match tenant {
            None => {
                let tenants = self.known_tenants();
                for name in usernames {
                    Self::global_user_keys(name, &tenants, &mut keys, &mut fanout);
                }
            }
            Some(t) => keys.extend(
                usernames
                    .iter()
                    .map(|name| crate::tenants::scoped(Some(t), name).into_owned()),
            ),
        }
        if let Some(p) = &self.inner.primary_first {
            p.changed(&keys);
            p.changed(&fanout);
        }
        let changes = self.snapshot(&keys, &fanout);
        for key in keys.iter().chain(&fanout) {
            self.inner.bucket(key).fetch_add(1, Ordering::AcqRel);
            self.inner.l1.invalidate(key.as_str()).await;
            self.inner.stale.invalidate(key.as_str());
        }
        m::inc(
            CACHE_INVALIDATIONS_TOTAL,
            &[("kind", "user")],
            usernames.len() as u64,
        );
        if let Some(l2) = &self.inner.l2 {
            keys.append(&mut fanout);
            l2.delete(&keys).await;
        }
        self.announce(changes);
    }

    /// Announce every later pushed user change on the returned channel (at most
    /// `capacity` waiting; beyond that changes are dropped and counted). Only the first
    /// call takes effect; later ones get a receiver that never yields.
    pub fn watch_changes(&self, capacity: usize) -> tokio::sync::mpsc::Receiver<UserChange> {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        let _ = self.inner.changes.set(tx);
        rx
    }

    /// The "before" half of a change announcement (empty when nobody watches), for
    /// scoped keys: every one of `keys`, and of `fanout` (tenants' views of a changed
    /// global user) only those this server had loaded (the others are most likely users
    /// the tenant never had).
    fn snapshot(&self, keys: &[String], fanout: &[String]) -> Vec<UserChange> {
        if self.inner.changes.get().is_none() {
            return Vec::new();
        }
        let change = |key: &String, before: Option<Arc<Profile>>| {
            let (tenant, username) = crate::tenants::split(key);
            UserChange {
                tenant: tenant.map(str::to_owned),
                username: username.to_owned(),
                before,
            }
        };
        let mut changes: Vec<UserChange> = keys
            .iter()
            .map(|key| change(key, self.inner.stale.get(key.as_str())))
            .collect();
        changes.extend(fanout.iter().filter_map(|key| {
            let before = self.inner.stale.get(key.as_str())?;
            Some(change(key, Some(before)))
        }));
        changes
    }

    fn announce(&self, changes: Vec<UserChange>) {
        let Some(tx) = self.inner.changes.get() else {
            return;
        };
        for change in changes {
            if tx.try_send(change).is_err() {
                m::inc(
                    CACHE_INVALIDATIONS_TOTAL,
                    &[("kind", "change_not_announced")],
                    1,
                );
            }
        }
    }

    /// Drops these global users (and every known tenant's view of them) from L1, then
    /// from L2 with one DEL per 500 keys (the listener batches a burst of notifications
    /// into one call).
    pub async fn invalidate_users(&self, usernames: &[String]) {
        self.invalidate_users_in(None, usernames).await;
    }

    /// Drops every cache entry that read a global group from L1 and L2 (one query finds
    /// the members, of every tenant: a tenant without a group of that name reads the
    /// global one). If the members cannot be read, flushes L1 instead.
    pub async fn invalidate_group(&self, groupname: &str) {
        self.bump();
        m::inc(CACHE_INVALIDATIONS_TOTAL, &[("kind", "group")], 1);
        match self.inner.pg.group_members_any_tenant(groupname).await {
            Ok(members) => {
                let tenants = self.known_tenants();
                let mut keys = Vec::with_capacity(members.len());
                let mut fanout = Vec::new();
                for (tenant, name) in &members {
                    match tenant {
                        Some(t) => keys.push(crate::tenants::scoped(Some(t), name).into_owned()),
                        None => Self::global_user_keys(name, &tenants, &mut keys, &mut fanout),
                    }
                }
                self.drop_keys(keys, fanout).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, group = %groupname, "cannot read group members; flushing L1");
                self.flush_l1();
            }
        }
    }

    /// Drops every cache entry that read `tenant`'s group `groupname`: the tenant's view of
    /// each member (its own users and the global users in that group). If the members
    /// cannot be read, flushes L1 instead.
    pub async fn invalidate_tenant_group(&self, tenant: &str, groupname: &str) {
        self.bump();
        m::inc(CACHE_INVALIDATIONS_TOTAL, &[("kind", "group")], 1);
        match self.inner.pg.tenant_group_members(tenant, groupname).await {
            Ok(members) => {
                let keys: Vec<String> = members
                    .iter()
                    .map(|name| crate::tenants::scoped(Some(tenant), name).into_owned())
                    .collect();
                self.drop_keys(keys, Vec::new()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, %tenant, group = %groupname, "cannot read group members; flushing L1");
                self.flush_l1();
            }
        }
    }

    /// A group change's part of an invalidation: L1, the fallback and L2 (the epoch bump
    /// already protects loads in flight).
    async fn drop_keys(&self, mut keys: Vec<String>, mut fanout: Vec<String>) {
        if let Some(p) = &self.inner.primary_first {
            p.changed(&keys);
            p.changed(&fanout);
        }
        let changes = self.snapshot(&keys, &fanout);
        keys.append(&mut fanout);
        for key in &keys {
            self.inner.l1.invalidate(key.as_str()).await;
            self.inner.stale.invalidate(key.as_str());
        }
        if let Some(l2) = &self.inner.l2 {
            l2.delete(&keys).await;
        }
        self.announce(changes);
    }

    /// Drops every L1 entry.
    pub fn flush_l1(&self) {
        self.bump();
        if let Some(p) = &self.inner.primary_first {
            p.flushed();
        }
        m::inc(CACHE_INVALIDATIONS_TOTAL, &[("kind", "flush")], 1);
        self.inner.l1.invalidate_all();
        // Changes may have been missed: the fallback could be just as stale.
        self.inner.stale.invalidate_all();
    }

    /// Notifications may have been missed (the first LISTEN, a reconnection): drops L1 and
    /// invalidates L2 for every instance (a pending flush if Redis is away).
    pub async fn flush_after_missed_notifications(&self) {
        self.flush_l1();
        if let Some(l2) = &self.inner.l2 {
            l2.flush().await;
        }
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

impl UserSource for Profiles {
    async fn user(&self, username: &str) -> Result<Option<Arc<Profile>>, LookupError> {
        Self::user(self, username).await
    }

    async fn cached(&self, username: &str) -> Option<Option<Arc<Profile>>> {
        Self::cached(self, username).await
    }

    async fn user_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> Result<Option<Arc<Profile>>, LookupError> {
        Self::user_in(self, tenant, username).await
    }

    async fn cached_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> Option<Option<Arc<Profile>>> {
        Self::cached_in(self, tenant, username).await
    }
}
