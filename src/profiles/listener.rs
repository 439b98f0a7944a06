//! LISTEN `hotspot_radius`: turns the schema's change notifications into cache
//! invalidations.
//!
//! The idle connection is probed (`SELECT 1` under a deadline every `listener_probe`): a
//! connection that died without a FIN or RST (a NAT idle timeout, a VIP fail-over) would
//! otherwise wait for notifications forever. A failed probe counts as a lost connection.
//!
//! Notifications sent while the LISTEN connection is down are lost, so every reconnection
//! flushes L1, invalidates L2 for every instance (its generation), and reports a NAS
//! change; the first LISTEN invalidates L2 too (rows changed while no server listened). While PostgreSQL is unreachable the cached entries
//! are kept (they are the best data there is); the flush happens once it is back.

use std::time::Duration;

use std::sync::atomic::Ordering;

use sqlx::postgres::{PgListener, PgNotification};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::Profiles;
use crate::metrics::{self as m, LISTENER_RECONNECTS_TOTAL, LISTENER_UP};
use crate::outage::Outage;
use crate::store::NOTIFY_CHANNEL;

/// Delay between reconnection attempts (doubling up to the maximum).
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Most notifications applied as one batch.
const MAX_BATCH: usize = 5_000;
/// Longest a probe may take before the connection counts as dead.
const PROBE_DEADLINE_MAX: Duration = Duration::from_secs(5);

impl Profiles {
    /// Spawns the invalidation listener. `user:<name>` and `group:<name>` payloads (and
    /// their tenant forms `tenant-user:<tenant>:<name>`, `tenant-group:<tenant>:<name>`)
    /// invalidate; `nas` calls `on_nas_change`; `flush` drops all L1 and L2 entries. After
    /// a lost connection (notifications were lost), it flushes L1 and calls
    /// `on_nas_change`. Ends when `cancel` fires.
    pub fn spawn_listener(
        &self,
        cancel: CancellationToken,
        on_nas_change: impl Fn() + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        self.spawn_listener_with_ready(cancel, on_nas_change).0
    }

    /// [`Profiles::spawn_listener`], plus a signal sent once the first LISTEN is in place
    /// and the flush it makes is done: the server reads what it caches (the NAS table)
    /// only after that, so no change can fall between its read and the start of listening,
    /// and nothing cached after the signal is dropped by that flush.
    pub fn spawn_listener_with_ready(
        &self,
        cancel: CancellationToken,
        on_nas_change: impl Fn() + Send + Sync + 'static,
    ) -> (tokio::task::JoinHandle<()>, oneshot::Receiver<()>) {
        let profiles = self.clone();
        let (ready, listening) = oneshot::channel();
        let task = tokio::spawn(async move { profiles.listen(cancel, on_nas_change, ready).await });
        (task, listening)
    }

    async fn listen(
        &self,
        cancel: CancellationToken,
        on_nas_change: impl Fn(),
        ready: oneshot::Sender<()>,
    ) {
        let mut ready = Some(ready);
        let mut first = true;
        let mut backoff = BACKOFF_MIN;
        let outage = Outage::new();
        loop {
            let connected = tokio::select! {
                () = cancel.cancelled() => return,
                r = self.connect_listener() => r,
            };
            let mut listener = match connected {
                Ok(l) => l,
                Err(e) => {
                    self.set_listener_up(false);
                    // Changes made before the first successful LISTEN are unseen too.
                    first = false;
                    if outage.failed() {
                        tracing::warn!(error = %e, "cache invalidation listener cannot connect; retrying");
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            backoff = BACKOFF_MIN;
            if outage.recovered() {
                tracing::info!("cache invalidation listener connected again");
            }
            if first {
                // Rows may have changed while no server listened (a restart): the shared
                // L2 may hold them from before. Now that changes are heard, drop it.
                if let Some(l2) = &self.inner.l2 {
                    l2.flush().await;
                }
            } else {
                tracing::info!("cache invalidation listener reconnected; flushing the caches");
                self.lost_notifications(&on_nas_change).await;
            }
            first = false;
            // Up (`/readyz`) and ready only once the flush is done: when the first LISTEN
            // needed retries, a flush after `ready` would drop what the first requests
            // (served once the server saw `ready`) had just cached.
            self.set_listener_up(true);
            self.count_applied(1);
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            let probe_every = self.inner.listener_probe.max(Duration::from_millis(100));
            let mut probe =
                tokio::time::interval_at(tokio::time::Instant::now() + probe_every, probe_every);
            probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // `try_recv` is cancel-safe (sqlx only consumes whole messages), so losing
                // the race to a probe tick drops nothing.
                let received = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = listener.try_recv() => r,
                    _ = probe.tick() => match Self::probe(&mut listener, probe_every).await {
                        Ok(()) => continue,
                        Err(why) => Err(why),
                    },
                };
                match received {
                    Ok(Some(n)) => {
                        // Take whatever else is already buffered so a burst (a bulk import
                        // touching thousands of users) costs a few Redis round trips, not
                        // one per row.
                        let mut batch = vec![n];
                        while batch.len() < MAX_BATCH {
                            match listener.next_buffered() {
                                Some(n) => batch.push(n),
                                None => break,
                            }
                        }
                        self.apply_batch(&batch, &on_nas_change).await;
                        self.count_applied(batch.len());
                    }
                    // Connection lost and already re-established (eager reconnect).
                    Ok(None) => {
                        tracing::info!(
                            "cache invalidation listener reconnected; flushing the caches"
                        );
                        self.lost_notifications(&on_nas_change).await;
                        self.count_applied(1);
                    }
                    Err(e) => {
                        self.set_listener_up(false);
                        m::inc(LISTENER_RECONNECTS_TOTAL, &[], 1);
                        if outage.failed() {
                            tracing::warn!(error = %e, "cache invalidation listener lost its connection");
                        }
                        break;
                    }
                }
            }
        }
    }

    /// One liveness probe of the LISTEN connection: a query answered within the deadline.
    /// Notifications that arrive meanwhile are buffered by the listener, not lost.
    async fn probe(listener: &mut PgListener, every: Duration) -> Result<(), sqlx::Error> {
        let deadline = every.min(PROBE_DEADLINE_MAX);
        match tokio::time::timeout(deadline, sqlx::query("SELECT 1").execute(&mut *listener)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to the liveness probe within {deadline:?}"),
            ))),
        }
    }

    fn set_listener_up(&self, up: bool) {
        self.inner.listener_up.store(up, Ordering::Relaxed);
        m::gauge_set(LISTENER_UP, if up { 1.0 } else { 0.0 });
    }

    async fn connect_listener(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.inner.pg.listen_pool()).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(listener)
    }

    async fn lost_notifications(&self, on_nas_change: &impl Fn()) {
        m::inc(LISTENER_RECONNECTS_TOTAL, &[], 1);
        self.flush_after_missed_notifications().await;
        on_nas_change();
    }

    /// `n` more notifications (or one flush after a (re)connect) fully acted on.
    fn count_applied(&self, n: usize) {
        self.inner.applied.send_modify(|c| *c += n as u64);
    }

    /// Acts on a batch of notifications: user invalidations are de-duplicated and applied
    /// together (per tenant); everything else in arrival order.
    async fn apply_batch(&self, batch: &[PgNotification], on_nas_change: &impl Fn()) {
        let mut users: Vec<(Option<&str>, &str)> = Vec::new();
        for n in batch {
            match parse_user(n.payload()) {
                Some(user) => users.push(user),
                None => self.apply(n.payload(), on_nas_change).await,
            }
        }
        users.sort_unstable();
        users.dedup();
        for chunk in users.chunk_by(|a, b| a.0 == b.0) {
            let names: Vec<String> = chunk.iter().map(|(_, u)| (*u).to_owned()).collect();
            self.invalidate_users_in(chunk[0].0, &names).await;
        }
    }

    /// Acts on one notification payload other than a user's (those are batched).
    async fn apply(&self, payload: &str, on_nas_change: &impl Fn()) {
        if let Some(group) = payload.strip_prefix("group:") {
            self.invalidate_group(group).await;
        } else if let Some((tenant, group)) = payload
            .strip_prefix("tenant-group:")
            .and_then(|rest| rest.split_once(':'))
        {
            self.invalidate_tenant_group(tenant, group).await;
        } else if payload == "nas" {
            on_nas_change();
        } else if payload == "flush" {
            self.flush_all().await;
        } else {
            tracing::debug!(payload, "ignoring unknown notification");
        }
    }
}

/// `user:<name>` (a global user) or `tenant-user:<tenant>:<name>` (migration 0007; a
/// tenant name holds no `:`) as (tenant, username).
fn parse_user(payload: &str) -> Option<(Option<&str>, &str)> {
    if let Some(user) = payload.strip_prefix("user:") {
        return Some((None, user));
    }
    let (tenant, user) = payload.strip_prefix("tenant-user:")?.split_once(':')?;
    Some((Some(tenant), user))
}

#[cfg(test)]
mod tests {
    use super::parse_user;

    #[test]
    fn user_payloads() {
        assert_eq!(parse_user("user:bob"), Some((None, "bob")));
        assert_eq!(parse_user("user:a:b"), Some((None, "a:b")));
        assert_eq!(
            parse_user("tenant-user:acme:ABC:123"),
            Some((Some("acme"), "ABC:123"))
        );
        assert_eq!(parse_user("tenant-user:acme"), None);
        assert_eq!(parse_user("group:x"), None);
        assert_eq!(parse_user("nas"), None);
    }
}
