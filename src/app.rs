//! Wiring and lifecycle: build the components in order, spawn the tasks, and shut down in
//! a fixed, bounded order.
//!
//! Start: metrics recorder → dictionary → store (refuses an unmigrated database) → NAS
//! table → RADIUS sockets → admin HTTP → background tasks (NAS change listener, database
//! health check). Stop (SIGTERM/SIGINT, or [`Running::shutdown`]): stop receiving → finish
//! in-flight requests → flush the post-auth writer → close the pools → stop the admin port;
//! the whole drain is capped by `shutdown_timeout_secs`. SIGHUP reloads the config file's
//! `[[nas]]` list.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, Readiness};
use crate::cli::NasCommand;
use crate::clients::{ClientTable, Clients};
use crate::config::{Config, MessageAuthenticatorPolicy, NasConfig, parse_network};
use crate::handler::{Backend, BackendError, Context};
use crate::metrics::{self as m, CLIENT_RELOADS_TOTAL, CLIENTS};
use crate::policy::Profile;
use crate::server::{Server, ServerOptions};
use crate::store::model::{AcctRecord, NasRow, PostAuthRecord};
use crate::store::{PostAuthWriter, Store, StoreError, StoreOptions};
use radius_proto::dictionary::Dictionary;

/// Close the database pool (the store has no other connections to close; Redis
/// connections end when the last clone of the store is dropped).
async fn close(store: &Store) {
    store.pg().pool().close().await;
}

/// How often the database health check runs (feeds `/readyz`).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// The [`Backend`] over the real store.
#[derive(Debug, Clone)]
pub struct StoreBackend {
    store: Store,
    post_auth: PostAuthWriter,
}

fn backend_error(e: &StoreError) -> BackendError {
    BackendError {
        backend: match e {
            StoreError::Unavailable(_) => "postgres",
            _ => "store",
        },
        message: e.to_string(),
    }
}

impl Backend for StoreBackend {
    async fn user(&self, username: &str) -> Result<Option<Arc<Profile>>, BackendError> {
        self.store
            .user(username)
            .await
            .map_err(|e| backend_error(&e))
    }

    async fn write_accounting(&self, record: &AcctRecord) -> Result<(), BackendError> {
        self.store
            .pg()
            .write_accounting(record)
            .await
            .map(|_| ())
            .map_err(|e| backend_error(&e))
    }

    fn post_auth(&self, record: PostAuthRecord) -> bool {
        // The writer counts its own drops (radius_postauth_dropped_total).
        self.post_auth.submit(record)
    }
}

/// The dictionary named by the config, or the built-in one.
pub fn dictionary(config: &Config) -> anyhow::Result<Dictionary> {
    match &config.server.dictionary {
        Some(path) => {
            Dictionary::load(path).with_context(|| format!("loading dictionary {}", path.display()))
        }
        None => Ok(Dictionary::builtin()),
    }
}

fn store_options(config: &Config) -> anyhow::Result<StoreOptions> {
    let Some(database_url) = config.database.url.clone() else {
        bail!("no database: set DATABASE_URL or [database] url in the config file");
    };
    Ok(StoreOptions {
        database_url,
        redis_url: config.redis.url.clone(),
        pool_size: config.database.pool_size,
        l1_capacity: config.cache.l1_capacity,
        l1_ttl: Duration::from_secs(config.cache.l1_ttl_secs),
        negative_ttl: Duration::from_secs(config.cache.negative_ttl_secs),
        l2_ttl: Duration::from_secs(config.cache.l2_ttl_secs),
        ..StoreOptions::default()
    })
}

async fn connect(config: &Config, dict: Arc<Dictionary>) -> anyhow::Result<Store> {
    let opts = store_options(config)?;
    Store::connect(opts, dict)
        .await
        .context("connecting to the database")
}

/// `migrate`: create or upgrade the schema.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = connect(config, Arc::new(Dictionary::builtin())).await?;
    store.pg().migrate().await.context("running migrations")?;
    println!("database schema is up to date");
    close(&store).await;
    Ok(())
}

/// `nas add|list|remove`.
pub async fn nas(config: &Config, cmd: NasCommand) -> anyhow::Result<()> {
    let store = connect(config, Arc::new(Dictionary::builtin())).await?;
    let pg = store.pg();
    match cmd {
        NasCommand::Add(a) => {
            if parse_network(&a.address).is_none() {
                bail!("`{}` is not an IP address or CIDR network", a.address);
            }
            let Some(policy) = MessageAuthenticatorPolicy::parse(&a.require_message_authenticator)
            else {
                bail!("--require-message-authenticator must be require, auto or off");
            };
            if a.secret.is_empty() {
                bail!("--secret must not be empty");
            }
            let row = NasRow {
                nasname: a.address.clone(),
                shortname: a.name.clone(),
                secret: a.secret.clone(),
                coa_port: i32::from(a.coa_port),
                require_message_authenticator: policy.as_str().to_owned(),
            };
            pg.add_nas(&row).await.context("adding the nas row")?;
            println!("added NAS {}", a.address);
        }
        NasCommand::List => {
            let rows = pg.list_nas().await.context("listing nas rows")?;
            println!(
                "{:<24} {:<20} {:<10} {:<8} MESSAGE-AUTH",
                "ADDRESS", "NAME", "SECRET", "COA"
            );
            for r in rows.into_iter().map(|e| e.nas) {
                println!(
                    "{:<24} {:<20} {:<10} {:<8} {}",
                    r.nasname,
                    r.shortname.as_deref().unwrap_or("-"),
                    mask(&r.secret),
                    r.coa_port,
                    r.require_message_authenticator
                );
            }
        }
        NasCommand::Remove { address } => {
            let removed = pg
                .remove_nas(&address)
                .await
                .context("removing the nas row")?;
            if removed == 0 {
                bail!("no NAS row for `{address}`");
            }
            println!("removed NAS {address}");
        }
    }
    close(&store).await;
    Ok(())
}

/// A secret shown as its first character and stars (never more than 1 char revealed).
fn mask(secret: &str) -> String {
    match secret.chars().next() {
        Some(c) if secret.chars().count() > 4 => format!("{c}*******"),
        _ => "********".to_owned(),
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
    cancel: CancellationToken,
    reload: Arc<Reloader>,
    done: tokio::task::JoinHandle<()>,
}

/// Rebuilds the NAS table from the config's `[[nas]]` list and the `nas` table.
#[derive(Debug)]
struct Reloader {
    clients: Arc<Clients>,
    config_nas: Mutex<Vec<NasConfig>>,
    rows: Mutex<Vec<NasRow>>,
    store: Store,
    config_path: Option<PathBuf>,
}

impl Reloader {
    fn rebuild(&self) {
        let config_nas = self
            .config_nas
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        let rows = self.rows.lock().map(|g| g.clone()).unwrap_or_default();
        let n = self.clients.rebuild(&config_nas, &rows);
        metrics::gauge!(CLIENTS).set(n as f64);
    }

    /// The `nas` table changed: reload its rows.
    async fn reload_rows(&self) {
        match self.store.pg().load_nas().await {
            Ok(rows) => {
                if let Ok(mut g) = self.rows.lock() {
                    *g = rows;
                }
                self.rebuild();
                metrics::counter!(CLIENT_RELOADS_TOTAL, "source" => "database").increment(1);
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
                self.rebuild();
                metrics::counter!(CLIENT_RELOADS_TOTAL, "source" => "config").increment(1);
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
pub async fn start(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<Running> {
    let metrics_handle = match m::install() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            None
        }
    };
    let dict = Arc::new(dictionary(&config)?);
    let store = connect(&config, Arc::clone(&dict)).await?;
    let migrated = store
        .pg()
        .is_migrated()
        .await
        .context("checking the database schema")?;
    if !migrated {
        close(&store).await;
        bail!("the database schema is missing or out of date: run `hotspot-radius migrate` first");
    }
    let readiness = Arc::new(Readiness::new(Duration::from_secs(
        config.admin.ready_db_max_age_secs,
    )));
    readiness.db_ok();
    let rows = store
        .pg()
        .load_nas()
        .await
        .context("loading the nas table")?;
    let clients = Arc::new(Clients::new(ClientTable::build(&config.nas, &rows, None)));
    let table_len = clients.snapshot().len();
    metrics::gauge!(CLIENTS).set(table_len as f64);
    if table_len == 0 {
        tracing::warn!(
            "no NAS clients defined ([[nas]] or the nas table): every request will be dropped"
        );
    }
    let reload = Arc::new(Reloader {
        clients: Arc::clone(&clients),
        config_nas: Mutex::new(config.nas.clone()),
        rows: Mutex::new(rows),
        store: store.clone(),
        config_path,
    });

    let writer_cancel = CancellationToken::new();
    let (post_auth, post_auth_task) =
        PostAuthWriter::spawn(store.pg().clone(), writer_cancel.clone());
    let ctx = Context {
        backend: StoreBackend {
            store: store.clone(),
            post_auth: post_auth.clone(),
        },
        dictionary: Arc::clone(&dict),
        reject_delay: Duration::from_millis(config.server.reject_delay_ms),
    };
    let options = ServerOptions {
        receivers: config.server.receivers,
        max_inflight: config.server.max_inflight,
        dedup_ttl: Duration::from_millis(config.server.dedup_ttl_ms),
        dedup_capacity: config.server.dedup_capacity,
    };
    let server = Server::bind(
        config.server.auth_addr,
        config.server.acct_addr,
        &options,
        ctx,
        Arc::clone(&clients),
    )
    .await?;
    let auth_addr = server.auth_addr()?;
    let acct_addr = server.acct_addr()?;

    let admin_listener = if config.admin.enabled {
        Some(
            admin::bind(config.admin.addr)
                .await
                .with_context(|| format!("binding admin HTTP {}", config.admin.addr))?,
        )
    } else {
        None
    };
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
    readiness.set_sockets_bound(true);
    tracing::info!(%auth_addr, %acct_addr, admin = ?admin_addr, clients = table_len, "hotspot-radius serving");

    let cancel = CancellationToken::new();
    let background = CancellationToken::new();
    let requests = TaskTracker::new();
    let server_task = tokio::spawn(server.run(cancel.clone(), requests.clone()));
    let admin_cancel = CancellationToken::new();
    let admin_task = admin_listener.map(|l| {
        tokio::spawn(admin::serve(
            l,
            metrics_handle,
            Arc::clone(&readiness),
            admin_cancel.clone(),
        ))
    });
    {
        let reload = Arc::clone(&reload);
        store.spawn_listener(background.clone(), move || {
            let reload = Arc::clone(&reload);
            tokio::spawn(async move { reload.reload_rows().await });
        });
    }
    let health_task = tokio::spawn(health_loop(
        store.clone(),
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
                // 3. background tasks, then flush the post-auth writer
                background.cancel();
                let _ = health_task.await;
                writer_cancel.cancel();
                let _ = post_auth_task.await;
                // 4. close the pools
                close(&store).await;
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
        cancel,
        reload,
        done,
    })
}

async fn health_loop(store: Store, readiness: Arc<Readiness>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
        }
        match tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(store.pg().pool()),
        )
        .await
        {
            Ok(Ok(_)) => readiness.db_ok(),
            Ok(Err(e)) => tracing::debug!(error = %e, "database health check failed"),
            Err(_) => tracing::debug!("database health check timed out"),
        }
    }
}

/// `serve`: start, then run until SIGTERM/SIGINT; SIGHUP reloads the NAS list.
pub async fn serve(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let running = start(config, config_path).await?;
    wait_for_signals(&running).await?;
    running.stop().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signals(running: &Running) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => running.reload_config(),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_running: &Running) -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets() {
        assert_eq!(mask("abc"), "********");
        assert_eq!(mask("supersecret"), "s*******");
        assert!(!mask("supersecret").contains("secret"));
    }
}
