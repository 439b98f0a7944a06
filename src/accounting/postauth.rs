//! Post-auth logging off the packet path: a bounded queue and one task writing batches
//! into `radpostauth`.
//!
//! [`PostAuthWriter::submit`] never waits: when the queue is full the record is dropped
//! and counted (an authentication log is not worth delaying a reply for).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
}

impl PostAuthWriter {
    /// Spawns the batching task. It writes what is queued and ends when `cancel` fires
    /// (after a final flush) or when every writer is dropped.
    pub fn spawn(pg: PgStore, cancel: CancellationToken) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_with(pg, cancel, QUEUE_CAPACITY)
    }

    /// [`PostAuthWriter::spawn`] with a chosen queue capacity.
    pub fn spawn_with(
        pg: PgStore,
        cancel: CancellationToken,
        capacity: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(run(pg, rx, cancel));
        (Self { tx }, task)
    }

    /// Queues a record; `false` (and a metric) if it was dropped because the queue is full
    /// or the writer has stopped.
    pub fn submit(&self, record: PostAuthRecord) -> bool {
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
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => None,
            r = rx.recv() => r,
        };
        let Some(first) = first else {
            break;
        };
        batch.push(first);
        // Let the batch gather without waking this task for every record (under load a
        // wake per record is a cross-thread wakeup per request): sleep, then take what
        // has queued, in INSERTs of at most MAX_BATCH rows.
        tokio::select! {
            () = cancel.cancelled() => {}
            () = tokio::time::sleep(GATHER) => {}
        }
        loop {
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(rec) => batch.push(rec),
                    Err(_) => break,
                }
            }
            let full = batch.len() >= MAX_BATCH;
            write(&pg, &mut batch).await;
            if !full {
                break;
            }
        }
    }
    // Final flush: whatever is already queued.
    rx.close();
    while let Some(rec) = rx.recv().await {
        batch.push(rec);
        if batch.len() >= MAX_BATCH {
            write(&pg, &mut batch).await;
        }
    }
    write(&pg, &mut batch).await;
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
