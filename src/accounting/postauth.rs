//! Post-auth logging off the packet path: a bounded queue and one task writing batches
//! into `radpostauth` (gathered like accounting batches, by [`super::batcher::gather`]),
//! what it keeps chosen by `[postauth] log`, and a retention task that deletes old rows.
//!
//! [`PostAuthWriter::submit`] never waits: when the queue is full the record is dropped
//! and counted (an authentication log is not worth delaying a reply for).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::batcher::gather;
use crate::config::PostAuthLog;
use crate::metrics::{self as m, POSTAUTH_DROPPED_TOTAL, POSTAUTH_WRITTEN_TOTAL};
use crate::model::PostAuthRecord;
use crate::store::PgStore;

/// Queue capacity (records).
pub const QUEUE_CAPACITY: usize = 10_000;
/// Maximum rows per INSERT.
pub const MAX_BATCH: usize = 500;
/// How long the writer sleeps after the first record of a batch before collecting the
/// rest (short enough that the queue does not fill at high request rates).
const GATHER: Duration = Duration::from_millis(20);

/// The sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct PostAuthWriter {
    tx: mpsc::Sender<PostAuthRecord>,
    log: PostAuthLog,
}

impl PostAuthWriter {
    /// Spawns the batching task. It writes what is queued and ends when `cancel` fires
    /// (after a final flush) or when every writer is dropped.
    pub fn spawn(
        pg: PgStore,
        log: PostAuthLog,
        cancel: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_with(pg, log, cancel, QUEUE_CAPACITY)
    }

    /// [`PostAuthWriter::spawn`] with a chosen queue capacity.
    pub fn spawn_with(
        pg: PgStore,
        log: PostAuthLog,
        cancel: CancellationToken,
        capacity: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(run(pg, rx, cancel));
        (Self { tx, log }, task)
    }

    /// A writer whose records go to the returned receiver instead of a batching task
    /// (benches and tests: the same queue and [`PostAuthWriter::submit`] as the server's,
    /// without a database).
    pub fn channel(log: PostAuthLog, capacity: usize) -> (Self, mpsc::Receiver<PostAuthRecord>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx, log }, rx)
    }

    /// Whether the `[postauth] log` setting keeps the record of an Access-Accept
    /// (`accepted`) or Access-Reject: when not, the handler does not build it.
    pub fn keeps(&self, accepted: bool) -> bool {
        match self.log {
            PostAuthLog::All => true,
            PostAuthLog::Rejects => !accepted,
            PostAuthLog::Off => false,
        }
    }

    /// Queues a record the `[postauth] log` setting keeps; `false` (and a metric) if it
    /// was dropped because the queue is full or the writer has stopped.
    pub fn submit(&self, record: PostAuthRecord) -> bool {
        if !self.keeps(record.accepted()) {
            return true;
        }
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                m::inc(POSTAUTH_DROPPED_TOTAL, &[("reason", "queue_full")], 1);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                m::inc(POSTAUTH_DROPPED_TOTAL, &[("reason", "closed")], 1);
                false
            }
        }
    }
}

async fn run(pg: PgStore, mut rx: mpsc::Receiver<PostAuthRecord>, cancel: CancellationToken) {
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => None,
            r = rx.recv() => r,
        };
        let Some(first) = first else {
            break;
        };
        // Let the batch gather without waking this task for every record (under load a
        // wake per record is a cross-thread wakeup per request): one sleep, then take what
        // has queued, in INSERTs of at most MAX_BATCH rows.
        let mut batch = vec![first];
        gather(&mut rx, &mut batch, MAX_BATCH, GATHER, &cancel).await;
        write(&pg, &mut batch).await;
    }
    // Final flush: whatever is already queued.
    rx.close();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(rec) = rx.recv().await {
        batch.push(rec);
        if batch.len() >= MAX_BATCH {
            write(&pg, &mut batch).await;
        }
    }
    write(&pg, &mut batch).await;
}

/// Rows deleted per retention statement (a bounded lock footprint).
const PRUNE_BATCH: i64 = 10_000;

/// Deletes post-auth rows older than `days` days, hourly (first run a minute after start),
/// in statements of at most [`PRUNE_BATCH`] rows, until `cancel` fires. `days == 0` keeps
/// rows forever (the task returns at once).
pub async fn retain(pg: PgStore, days: u32, cancel: CancellationToken) {
    if days == 0 {
        return;
    }
    super::history::hourly_in_batches(
        &cancel,
        PRUNE_BATCH,
        "post-auth rows past retention deleted",
        || pg.prune_post_auth(days, PRUNE_BATCH),
    )
    .await;
}

async fn write(pg: &PgStore, batch: &mut Vec<PostAuthRecord>) {
    if batch.is_empty() {
        return;
    }
    match pg.write_post_auth(batch).await {
        Ok(n) => m::inc(POSTAUTH_WRITTEN_TOTAL, &[], n),
        Err(e) => {
            m::inc(
                POSTAUTH_DROPPED_TOTAL,
                &[("reason", "write_failed")],
                batch.len() as u64,
            );
            tracing::warn!(error = %e, rows = batch.len(), "post-auth batch not written");
        }
    }
    batch.clear();
}
