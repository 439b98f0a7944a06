//! Wiring and lifecycle: build the components in order, spawn the tasks, and shut down in
//! a fixed, bounded order. Nothing else in the crate connects one component to another.
//!
//! Start: metrics recorder → dictionary → PostgreSQL pool (refuses an unmigrated
//! database) and Redis (a PING; a warning, not a failure, if it does not answer) →
//! profile cache → NAS table → post-auth writer and accounting sink
//! → RADIUS sockets → admin HTTP → background tasks (NOTIFY listener, database health
//! check, Message-Authenticator latch writer). Stop (SIGTERM/SIGINT, or [`Running::shutdown`]): stop receiving → finish
//! in-flight requests → stop background tasks and flush the post-auth writer → close the
//! pool → stop the admin port; the whole drain is capped by `shutdown_timeout_secs`.
//! SIGHUP reloads the config file's `[[nas]]` list.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use radius_proto::dictionary::{DictError, Dictionary};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounting::journal::{Journal, JournalError, JournalOptions};
use crate::accounting::{BatchSettings, Batcher, PostAuthWriter};
use crate::admin::status::{self, StatusPage};
use crate::admin::{self, Readiness};
use crate::clients::{ClientTable, Clients, LatchLog};
use crate::config::{Config, NasConfig};
use crate::handler::{AcctSink, Context, UserSource};
use crate::metrics::{self as m, CLIENT_RELOADS_TOTAL, CLIENTS};
use crate::model::NasRow;
use crate::profiles::{ProfileOptions, Profiles};
use crate::server::radsec::{Radsec, RadsecOptions, TlsFiles};
use crate::server::{Server, ServerOptions};
use crate::sessions::actions::{Dynauth, spawn_actions, spawn_change_watcher};
use crate::sessions::{
    MemorySessions, RedisSessions, SessionRules, SessionStore, Sessions, StaleRule, housekeeping,
};
use crate::store::{
    PgStore, PoolSettings, RedisClient, RedisEndpoint, RedisSettings, RedisTier, SigningKey,
    StoreError, redact_url,
};

/// Why the server could not start (or a command could not reach its database).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Neither `DATABASE_URL` nor `[database] url` is set.
    #[error("no database: set DATABASE_URL or [database] url in the config file")]
    NoDatabase,
    /// `server.dictionary` does not load.
    #[error("loading dictionary {path}: {source}")]
    Dictionary {
        /// The configured path.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: DictError,
    },
    /// A database or Redis step failed.
    #[error("{what}: {source}")]
    Store {
        /// The step (`checking the database schema`, `loading the nas table`, ...).
        what: &'static str,
        /// The cause.
        #[source]
        source: StoreError,
    },
    /// The accounting journal cannot be opened (`accounting.journal_dir`).
    #[error("accounting.journal_dir {}: {source}", dir.display())]
    Journal {
        /// The configured directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: JournalError,
    },
    /// The session store cannot be set up (`redis.url`).
    #[error("session store: {0}")]
    Sessions(#[source] crate::sessions::SessionError),
    /// The schema is not (fully) migrated.
    #[error("the database schema is missing or out of date: run `hotspot-radius migrate` first")]
    NotMigrated,
    /// A socket could not be bound, or a signal handler installed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `map_err` helper: a store failure during `what`.
fn store_step(what: &'static str) -> impl FnOnce(StoreError) -> AppError {
    move |source| AppError::Store { what, source }
}

/// `map_err` helper: an I/O failure during `what`.
fn io_step(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let what = what.into();
    move |source| AppError::Io { what, source }
}

/// How often the database health check runs (feeds `/readyz`).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How often recording Message-Authenticator latches is retried after a failure.
const LATCH_RETRY: Duration = Duration::from_secs(10);
/// How long start-up waits for the change-notification listener before serving anyway.
const LISTEN_WAIT: Duration = Duration::from_secs(5);
/// Bound on each Redis operation (a slow Redis only costs L2 hits).
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// Bound on each session-store operation in Redis (a rebuild's bulk writes included).
const SESSION_REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The dictionary named by the config, or the built-in one.
pub fn dictionary(config: &Config) -> Result<Dictionary, AppError> {
    match &config.server.dictionary {
        Some(path) => Dictionary::load(path).map_err(|source| AppError::Dictionary {
            path: path.clone(),
            source,
        }),
        None => Ok(Dictionary::builtin()),
    }
}

/// The PostgreSQL pool the config describes (lazy: nothing connects until first use).
pub fn database(config: &Config) -> Result<PgStore, AppError> {
    let Some(url) = config.database.url.as_deref() else {
        return Err(AppError::NoDatabase);
    };
    let settings = PoolSettings {
        size: config.database.pool_size,
        pgbouncer: config.database.pgbouncer,
        ..PoolSettings::default()
    };
    let mut store = PgStore::connect_lazy(url, settings).map_err(store_step("database URL"))?;
    if let Some(listen) = config.database.listen_url.as_deref() {
        store = store
            .with_listen_url(listen)
            .map_err(store_step("database listen URL"))?;
    }
    if let Some(replica) = config.database.replica_url.as_deref() {
        store = store
            .with_replica_url(replica, settings)
            .map_err(store_step("database replica URL"))?;
    }
    Ok(store)
}

/// The Redis client `[redis]` describes (URL: a single server, Sentinel or Cluster; for
/// TLS the CA and client certificate files), when it names a URL; nothing connects yet.
/// The server's L2 tier, its session store and the CLI all get their client here.
pub fn redis_client(config: &Config) -> Result<Option<RedisClient>, AppError> {
    let r = &config.redis;
    let Some(url) = r.url.as_deref() else {
        return Ok(None);
    };
    let endpoint = RedisEndpoint {
        url,
        ca_file: r.ca_file.as_deref(),
        cert_file: r.cert_file.as_deref(),
        key_file: r.key_file.as_deref(),
    };
    Ok(Some(
        crate::store::redis::client(&endpoint).map_err(store_step("Redis client"))?,
    ))
}

/// The Redis L2 tier over `client`. If Redis does not answer a PING at start-up, says so
/// (naming the URL, password hidden) and carries on: Redis is optional at run time.
async fn redis(
    config: &Config,
    client: Option<&RedisClient>,
    pg: &PgStore,
) -> Result<Option<RedisTier>, AppError> {
    let Some(client) = client else {
        return Ok(None);
    };
    // Values are signed with the key every instance of this database shares.
    let key = pg.l2_signing_key().await.map_err(store_step(
        "reading the cache signing key (hotspot_radius_keys)",
    ))?;
    let settings = RedisSettings {
        ttl: Duration::from_secs(config.cache.l2_ttl_secs),
        negative_ttl: Duration::from_secs(config.cache.negative_ttl_secs),
        timeout: REDIS_TIMEOUT,
    };
    let tier = RedisTier::with_client(client.clone(), settings)
        .map_err(store_step("Redis client"))?
        .with_signing_key(SigningKey::new(key.as_bytes()));
    if let Err(e) = tier.ping().await {
        let url = redact_url(config.redis.url.as_deref().unwrap_or_default());
        tracing::warn!(
            redis = %url,
            error = %e,
            "Redis does not answer at start-up: serving from the in-process cache and \
             PostgreSQL (and keeping sessions in Redis only once it answers) until it does"
        );
    }
    Ok(Some(tier))
}

/// The accounting journal the config names (recovered: torn tail cut, cursor found).
fn open_journal(config: &Config) -> Result<Journal, AppError> {
    let a = &config.accounting;
    let (journal, recovery) = Journal::open(JournalOptions {
        dir: a.journal_dir.clone(),
        max_bytes: a.journal_max_bytes,
        segment_bytes: a.journal_segment_bytes,
    })
    .map_err(|source| AppError::Journal {
        dir: a.journal_dir.clone(),
        source,
    })?;
    if recovery.torn_tail_bytes > 0 || recovery.corrupt_segments > 0 {
        tracing::warn!(?recovery, dir = %a.journal_dir.display(), "accounting journal recovered");
    } else if recovery.records > 0 {
        tracing::info!(records = recovery.records, dir = %a.journal_dir.display(), "accounting journal holds records to replay");
    }
    Ok(journal)
}

fn batch_settings(config: &Config) -> BatchSettings {
    let a = &config.accounting;
    BatchSettings {
        max_batch: a.max_batch,
        max_wait: Duration::from_millis(a.max_wait_ms),
        queue: a.queue,
        writers: a.writers,
        write_timeout: Duration::from_millis(a.write_timeout_ms),
        retry_after: Duration::from_millis(a.retry_after_ms),
    }
}

fn profile_options(config: &Config) -> ProfileOptions {
    ProfileOptions {
        l1_capacity: config.cache.l1_capacity,
        l1_ttl: Duration::from_secs(config.cache.l1_ttl_secs),
        negative_ttl: Duration::from_secs(config.cache.negative_ttl_secs),
        time_zone: config.sessions.tz(),
        listener_probe: Duration::from_secs(config.cache.listener_probe_secs),
        ..ProfileOptions::default()
    }
}

/// A started server: addresses it bound, and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    /// Bound authentication address.
    pub auth_addr: SocketAddr,
    /// Bound accounting address.
    pub acct_addr: SocketAddr,
    /// Bound admin HTTP address, when enabled.
    pub admin_addr: Option<SocketAddr>,
    /// Bound RadSec (RFC 6614) address, when `[radsec] addr` is set.
    pub radsec_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    reload: Arc<Reloader>,
    done: tokio::task::JoinHandle<()>,
    /// Invalidations applied by the listener (see [`Profiles::notifications_applied`]).
    applied: tokio::sync::watch::Receiver<u64>,
}

/// Rebuilds the NAS table from the config's `[[nas]]` list and the `nas` table.
#[derive(Debug)]
struct Reloader {
    clients: Arc<Clients>,
    config_nas: Mutex<Vec<NasConfig>>,
    rows: Mutex<Vec<NasRow>>,
    pg: PgStore,
    config_path: Option<PathBuf>,
    /// Held while the table is rebuilt.
    rebuilding: Mutex<()>,
    /// Told the tenants of the NAS table, so a change to a global user also reaches their
    /// cached views of it.
    profiles: Profiles,
    /// A `nas` NOTIFY arrived: the reload task reloads (a burst coalesces into one or two
    /// reloads, run one after the other).
    nas_changed: tokio::sync::Notify,
}

impl Reloader {
    /// Rebuild; `latched` (freshly read from `nas_ma_latch`) replaces the in-memory latch
    /// state, `None` carries it over.
    fn rebuild(&self, latched: Option<&HashSet<IpAddr>>) {
        // One rebuild at a time, each reading the newest config list and rows: a SIGHUP and
        // a table reload can never install an older snapshot over a newer one.
        let _one_at_a_time = self.rebuilding.lock();
        let config_nas = self
            .config_nas
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        let rows = self.rows.lock().map(|g| g.clone()).unwrap_or_default();
        let n = self.clients.rebuild_latched(&config_nas, &rows, latched);
        m::gauge_set(CLIENTS, n as f64);
        let tenants = config_nas.iter().map(|n| n.tenant.as_deref());
        self.profiles.note_tenants(
            tenants
                .chain(rows.iter().map(|r| r.tenant.as_deref()))
                .flatten(),
        );
    }

    /// The recorded Message-Authenticator latches; `None` (logged) when they cannot be read.
    async fn load_latches(&self) -> Option<HashSet<IpAddr>> {
        match self.pg.load_ma_latches().await {
            Ok(a) => Some(a.into_iter().collect()),
            Err(e) => {
                tracing::warn!(error = %e, "reading the Message-Authenticator latches failed; keeping those in memory");
                None
            }
        }
    }

    /// The `nas` table (or `nas_ma_latch`) changed: reload its rows and the latches.
    async fn reload_rows(&self) {
        match self.pg.load_nas().await {
            Ok(rows) => {
                if let Ok(mut g) = self.rows.lock() {
                    *g = rows;
                }
                let latched = self.load_latches().await;
                self.rebuild(latched.as_ref());
                m::inc(CLIENT_RELOADS_TOTAL, &[("source", "database")], 1);
                tracing::info!("NAS table reloaded from the database");
            }
            Err(e) => {
                tracing::warn!(error = %e, "reloading nas rows failed; keeping the old table")
            }
        }
    }

    /// SIGHUP: re-read the config file's `[[nas]]` list (other settings need a restart).
    fn reload_config(&self) {
        let Some(path) = &self.config_path else {
            tracing::info!("SIGHUP without a config file: nothing to reload");
            return;
        };
        match Config::load(path) {
            Ok(c) => {
                if let Ok(mut g) = self.config_nas.lock() {
                    *g = c.nas;
                }
                self.rebuild(None);
                m::inc(CLIENT_RELOADS_TOTAL, &[("source", "config")], 1);
                tracing::info!(file = %path.display(), "NAS list reloaded from the config file");
            }
            Err(e) => {
                for p in e.problems() {
                    tracing::error!("config reload refused: {p}");
                }
            }
        }
    }
}

impl Running {
    /// Begin a graceful shutdown.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// How many invalidations (NOTIFY payloads, flushes) this server has applied so far:
    /// a test hook, so a test can make a change once, wait for it to be applied, and check
    /// that the very next request sees it.
    pub fn notifications_applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied.clone()
    }

    /// Re-read the config file's NAS list (what SIGHUP does).
    pub fn reload_config(&self) {
        self.reload.reload_config();
    }

    /// Re-read the `nas` table now (what a `nas` NOTIFY does).
    pub async fn reload_nas_rows(&self) {
        self.reload.reload_rows().await;
    }

    /// Wait for the shutdown to finish.
    pub async fn wait(self) {
        let _ = self.done.await;
    }

    /// Shut down and wait.
    pub async fn stop(self) {
        self.shutdown();
        self.wait().await;
    }
}

/// Start everything; returns once the sockets are bound.
pub async fn start(config: Config, config_path: Option<PathBuf>) -> Result<Running, AppError> {
    let metrics_handle = match m::install() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            None
        }
    };
    crate::tenants::configure_metrics(
        config.admin.per_tenant_metrics,
        config.admin.per_tenant_metrics_cap,
    );
    let dict = Arc::new(dictionary(&config)?);
    let admin_token = admin_token(&config)?;
    let pg = database(&config)?;
    let migrated = pg
        .is_migrated()
        .await
        .map_err(store_step("checking the database schema"))?;
    if !migrated {
        pg.close().await;
        return Err(AppError::NotMigrated);
    }
    let redis_client = redis_client(&config)?;
    let profiles = Profiles::new(
        pg.clone(),
        redis(&config, redis_client.as_ref(), &pg).await?,
        &profile_options(&config),
        Arc::clone(&dict),
    );
    let applied = profiles.notifications_applied();
    let readiness = Arc::new(
        Readiness::new(Duration::from_secs(config.admin.ready_db_max_age_secs))
            .with_listener(profiles.listener_health()),
    );
    readiness.db_ok();
    let background = CancellationToken::new();
    let latch_log = LatchLog::new();
    let clients = Arc::new(
        Clients::new(ClientTable::build(&config.nas, &[], None))
            .with_latch_log(Arc::clone(&latch_log)),
    );
    let reload = Arc::new(Reloader {
        clients: Arc::clone(&clients),
        config_nas: Mutex::new(config.nas.clone()),
        rows: Mutex::new(Vec::new()),
        pg: pg.clone(),
        config_path,
        rebuilding: Mutex::new(()),
        nas_changed: tokio::sync::Notify::new(),
        profiles: profiles.clone(),
    });
    pg.check_listen_session()
        .await
        .map_err(store_step("the NOTIFY listener's connection"))?;
    // LISTEN first, then read the NAS table: a change made after the read is then always
    // notified (a NOTIFY racing the read only causes one extra reload).
    let (_listener_task, listening) = {
        let notify = Arc::clone(&reload);
        profiles.spawn_listener_with_ready(background.clone(), move || {
            notify.nas_changed.notify_one();
        })
    };
    if tokio::time::timeout(LISTEN_WAIT, listening).await.is_err() {
        tracing::warn!(
            "change notifications not established yet; serving anyway (once the listener \
             connects it flushes the caches and reloads the NAS table)"
        );
    }
    let rows = pg
        .load_nas()
        .await
        .map_err(store_step("loading the nas table"))?;
    let latched: HashSet<IpAddr> = pg
        .load_ma_latches()
        .await
        .map_err(store_step("loading the Message-Authenticator latches"))?
        .into_iter()
        .collect();
    if let Ok(mut g) = reload.rows.lock() {
        *g = rows;
    }
    reload.rebuild(Some(&latched));
    let table_len = clients.snapshot().len();
    if table_len == 0 {
        tracing::warn!(
            "no NAS clients defined ([[nas]] or the nas table): every request will be dropped"
        );
    }

    let writer_cancel = CancellationToken::new();
    let (post_auth, post_auth_task) =
        PostAuthWriter::spawn(pg.clone(), config.postauth.log, writer_cancel.clone());
    let journal = open_journal(&config)?;
    let accounting_cancel = CancellationToken::new();
    let (batcher, accounting_tasks) = Batcher::spawn(
        pg.clone(),
        journal,
        batch_settings(&config),
        post_auth,
        accounting_cancel.clone(),
    );
    let sessions_cancel = CancellationToken::new();
    let (rules, session_tasks) = session_layer(
        &config,
        redis_client,
        &pg,
        &profiles,
        &clients,
        &batcher,
        &sessions_cancel,
    )
    .await?;
    let status_sources = (rules.store.clone(), batcher.clone());
    let ctx = Context {
        users: profiles.clone(),
        sink: batcher,
        dictionary: Arc::clone(&dict),
        reject_delay: Duration::from_millis(config.server.reject_delay_ms),
        sessions: Some(rules),
        max_misses_per_nas: config.server.max_misses_per_nas,
    };
    let options = ServerOptions {
        receivers: config.server.receivers,
        spread_randomly: config.server.balance == crate::config::Balance::Random,
        max_inflight: config.server.max_inflight,
        dedup_ttl: Duration::from_millis(config.server.dedup_ttl_ms),
        dedup_capacity: config.server.dedup_capacity,
    };
    // RadSec (RFC 6614), when configured: the same handlers over TLS; its connections are
    // tracked with the UDP requests, so the drain waits for them too.
    let radsec = match config.radsec.addr {
        Some(addr) => {
            Some(radsec_listener(&config, addr, ctx.clone(), Arc::clone(&clients)).await?)
        }
        None => None,
    };
    let radsec_addr = radsec.as_ref().and_then(|r| r.local_addr().ok());
    let server = Server::bind(
        config.server.auth_addr,
        config.server.acct_addr,
        &options,
        ctx,
        Arc::clone(&clients),
    )
    .map_err(io_step("binding the RADIUS sockets"))?;
    let auth_addr = server.auth_addr().map_err(io_step("auth socket address"))?;
    let acct_addr = server.acct_addr().map_err(io_step("acct socket address"))?;
    readiness.watch_receivers(server.health());

    let admin_listener = if config.admin.enabled {
        Some(
            admin::bind(config.admin.addr)
                .await
                .map_err(io_step(format!("binding admin HTTP {}", config.admin.addr)))?,
        )
    } else {
        None
    };
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
    readiness.set_sockets_bound(true);
    let admin = admin_addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
    tracing::info!(%auth_addr, %acct_addr, %admin, clients = table_len, "hotspot-radius serving");

    let cancel = CancellationToken::new();
    let requests = TaskTracker::new();
    let server_task = tokio::spawn(server.run(cancel.clone(), requests.clone()));
    if let Some(radsec) = radsec {
        requests.spawn(radsec.run(cancel.clone(), requests.clone()));
    }
    let admin_cancel = CancellationToken::new();
    let admin_task = admin_listener.map(|l| {
        let (sessions, accounting) = status_sources;
        let status = StatusPage::new(status::Sources {
            listeners: [("auth", auth_addr), ("acct", acct_addr)]
                .into_iter()
                .chain(radsec_addr.map(|a| ("radsec", a)))
                .chain(admin_addr.map(|a| ("admin", a)))
                .collect(),
            clients: Arc::clone(&clients),
            sessions,
            profiles: profiles.clone(),
            accounting,
            dynauth: Dynauth::new(Arc::clone(&clients), dynauth_timing(&config)),
            token: admin_token,
        });
        let admin = admin::Admin {
            metrics: metrics_handle,
            readiness: Arc::clone(&readiness),
            status: Some(status),
            clients: Some(Arc::clone(&clients)),
        };
        tokio::spawn(admin::serve(l, admin, admin_cancel.clone()))
    });
    // The single NAS-table reload task: reloads never overlap, so an older snapshot can
    // never replace a newer one.
    let nas_reload_task = tokio::spawn({
        let reload = Arc::clone(&reload);
        let cancel = background.clone();
        async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = reload.nas_changed.notified() => reload.reload_rows().await,
                }
            }
        }
    });
    let retention_task = tokio::spawn(crate::accounting::postauth::retain(
        pg.clone(),
        config.postauth.retention_days,
        background.clone(),
    ));
    let history_task = tokio::spawn(crate::accounting::history::run(
        pg.clone(),
        config.accounting.history_after_days,
        background.clone(),
    ));
    let latch_task = tokio::spawn(record_latches(
        pg.clone(),
        Arc::clone(&latch_log),
        background.clone(),
    ));
    let health_task = tokio::spawn(health_loop(
        pg.clone(),
        Arc::clone(&readiness),
        background.clone(),
    ));

    let shutdown_timeout = Duration::from_secs(config.server.shutdown_timeout_secs);
    let done = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            tracing::info!("shutting down");
            readiness.set_sockets_bound(false);
            let drain = async {
                // 1. stop receiving
                let _ = server_task.await;
                // 2. finish in-flight requests
                requests.close();
                requests.wait().await;
                // 3. background tasks; the accounting queue (to PostgreSQL or the journal)
                //    and as much of the journal as PostgreSQL takes; the post-auth writer
                background.cancel();
                let _ = health_task.await;
                let _ = retention_task.await;
                let _ = nas_reload_task.await;
                let _ = latch_task.await;
                let _ = history_task.await;
                sessions_cancel.cancel();
                for t in session_tasks {
                    let _ = t.await;
                }
                accounting_cancel.cancel();
                accounting_tasks.wait().await;
                writer_cancel.cancel();
                let _ = post_auth_task.await;
                // 4. close the pool (Redis connections end with the last profile-cache
                //    clone, dropped with the server)
                pg.close().await;
            };
            if tokio::time::timeout(shutdown_timeout, drain).await.is_err() {
                tracing::warn!("shutdown timed out after {shutdown_timeout:?}");
            }
            // 5. stop the admin port
            admin_cancel.cancel();
            if let Some(t) = admin_task {
                let _ = t.await;
            }
            tracing::info!("stopped");
        }
    });
    Ok(Running {
        auth_addr,
        acct_addr,
        admin_addr,
        radsec_addr,
        cancel,
        reload,
        done,
        applied,
    })
}

/// The RadSec listener of `[radsec]`, bound to `addr`, its TLS files read.
async fn radsec_listener<U: UserSource, A: AcctSink>(
    config: &Config,
    addr: SocketAddr,
    ctx: Context<U, A>,
    clients: Arc<Clients>,
) -> Result<Radsec<U, A>, AppError> {
    let r = &config.radsec;
    let files = TlsFiles {
        cert_file: r.cert_file.as_deref(),
        key_file: r.key_file.as_deref(),
        ca_file: r.ca_file.as_deref(),
    };
    let tls = files
        .server_config()
        .map_err(|e| io_step("setting up RadSec")(std::io::Error::other(e)))?;
    let options = RadsecOptions {
        max_connections: r.max_connections,
        idle_timeout: Duration::from_secs(r.idle_timeout_secs),
        handshake_timeout: Duration::from_secs(r.handshake_timeout_secs),
        max_pipelined: r.max_pipelined,
        require_certificate_name: r.require_certificate_name,
    };
    let radsec = Radsec::bind(addr, tls, options, ctx, clients)
        .await
        .map_err(io_step("binding the RadSec listener"))?;
    if let Ok(bound) = radsec.local_addr() {
        tracing::info!(radsec = %bound, "RadSec (RADIUS over TLS) listening");
    }
    Ok(radsec)
}

/// `[admin] token`, or the contents of `token_file` (None: read-only status page).
fn admin_token(config: &Config) -> Result<Option<String>, AppError> {
    let Some(path) = &config.admin.token_file else {
        return Ok(config.admin.token().map(str::to_owned));
    };
    let text = std::fs::read_to_string(path).map_err(io_step(format!(
        "reading admin.token_file {}",
        path.display()
    )))?;
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

/// How Disconnect/CoA-Requests wait for the NAS (`[sessions]`).
fn dynauth_timing(config: &Config) -> crate::client::Timing {
    crate::client::Timing {
        timeout: Duration::from_millis(config.sessions.dynauth_timeout_ms),
        attempts: config.sessions.dynauth_attempts,
    }
}

/// Capacity of the automatic-action queue and of the user-change channel.
const ACTION_QUEUE: usize = 4_096;

/// The session store the config names (Redis when configured, else in process), loaded
/// from `radacct` when empty, with its housekeeping, automatic actions and change watcher.
async fn session_layer(
    config: &Config,
    redis_client: Option<RedisClient>,
    pg: &PgStore,
    profiles: &Profiles,
    clients: &Arc<Clients>,
    sink: &Batcher,
    cancel: &CancellationToken,
) -> Result<(SessionRules, Vec<tokio::task::JoinHandle<()>>), AppError> {
    let s = &config.sessions;
    let store = match redis_client {
        Some(client) => Sessions::Redis(
            RedisSessions::with_client(client, SESSION_REDIS_TIMEOUT)
                .map_err(AppError::Sessions)?,
        ),
        None => Sessions::Memory(Arc::new(MemorySessions::new())),
    };
    let tz = s.tz();
    let stale = StaleRule {
        default_interim: i64::from(s.interim_interval_secs),
        grace: i64::from(s.stale_grace_secs),
    };
    // Load before serving, so the first logins already see who is online; a failure here
    // is retried by housekeeping (logins meanwhile are not held to the limits).
    let now = chrono::Utc::now().timestamp();
    match store.is_loaded().await {
        Ok(true) => {}
        Ok(false) => match housekeeping::rebuild(&store, pg, stale, tz, now).await {
            Ok(n) => tracing::info!(
                store = store.kind(),
                open_sessions = n,
                "session store loaded from radacct"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "session store not loaded yet; retrying in the background")
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "session store unavailable at start-up; retrying in the background")
        }
    }
    let mut tasks = vec![tokio::spawn(housekeeping::run(
        store.clone(),
        pg.clone(),
        sink.clone(),
        stale,
        tz,
        Duration::from_secs(s.housekeeping_secs),
        cancel.clone(),
    ))];
    let actions = if s.automatic_actions {
        let dynauth = Arc::new(Dynauth::new(Arc::clone(clients), dynauth_timing(config)));
        let (queue, task) = spawn_actions(dynauth, store.clone(), ACTION_QUEUE, cancel.clone());
        tasks.push(task);
        tasks.push(spawn_change_watcher(
            profiles.clone(),
            store.clone(),
            queue.clone(),
            profiles.watch_changes(ACTION_QUEUE),
            tz,
            cancel.clone(),
        ));
        Some(queue)
    } else {
        None
    };
    let rules = SessionRules {
        store,
        tz,
        stale,
        interim_interval: s.interim_interval_secs,
        max_session_timeout: Some(s.max_session_timeout_secs).filter(|t| *t > 0),
        actions,
    };
    Ok((rules, tasks))
}

/// The latch writer: records first trips of the `auto` Message-Authenticator latch in
/// `nas_ma_latch` as they come (one INSERT for whatever is waiting). A failure is logged
/// once and retried every [`LATCH_RETRY`] until it succeeds; on shutdown, one last try.
async fn record_latches(pg: PgStore, log: Arc<LatchLog>, cancel: CancellationToken) {
    let mut failing = false;
    loop {
        failing = !try_record_latches(&pg, &log, failing).await;
        tokio::select! {
            () = cancel.cancelled() => break,
            () = log.tripped_since_last_wait(), if !failing => {}
            () = tokio::time::sleep(LATCH_RETRY), if failing => {}
        }
    }
    try_record_latches(&pg, &log, failing).await;
}

/// One write of the waiting latches; false when it failed (warned unless `quiet`).
async fn try_record_latches(pg: &PgStore, log: &LatchLog, quiet: bool) -> bool {
    let waiting = log.unrecorded();
    if waiting.is_empty() {
        return true;
    }
    match pg.record_ma_latches(&waiting).await {
        Ok(_) => {
            log.recorded(&waiting);
            if quiet {
                tracing::info!(
                    latches = waiting.len(),
                    "Message-Authenticator latches recorded"
                );
            }
            true
        }
        Err(e) => {
            if !quiet {
                tracing::warn!(error = %e, latches = waiting.len(), "recording Message-Authenticator latches failed; they hold in memory and are retried");
            }
            false
        }
    }
}

async fn health_loop(pg: PgStore, readiness: Arc<Readiness>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
        }
        match tokio::time::timeout(Duration::from_secs(2), pg.ping()).await {
            Ok(Ok(_)) => readiness.db_ok(),
            Ok(Err(e)) => tracing::debug!(error = %e, "database health check failed"),
            Err(_) => tracing::debug!("database health check timed out"),
        }
    }
}

/// `serve`: start, then run until SIGTERM/SIGINT; SIGHUP reloads the NAS list.
pub async fn serve(config: Config, config_path: Option<PathBuf>) -> Result<(), AppError> {
    let running = start(config, config_path).await?;
    wait_for_signals(&running).await?;
    running.stop().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signals(running: &Running) -> Result<(), AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(io_step("installing SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io_step("installing SIGINT handler"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(io_step("installing SIGHUP handler"))?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => running.reload_config(),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_running: &Running) -> Result<(), AppError> {
    tokio::signal::ctrl_c()
        .await
        .map_err(io_step("waiting for Ctrl-C"))
}
