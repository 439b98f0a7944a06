//! Group commit: Accounting-Requests wait in a bounded queue; a collector takes whatever
//! has queued (up to `max_batch`, or what arrives within `max_wait`) and hands it to one
//! of a few writers, each committing its batch in ONE PostgreSQL transaction; then every
//! packet of the batch is acknowledged. While a batch commits the next one gathers, so
//! batches grow with load and the cost per record falls.
//!
//! Durable before acknowledged, always:
//! - PostgreSQL down, or slower than `write_timeout`: the batch is appended to the local
//!   [`Journal`] (one fsync) and acknowledged; while the journal holds records, new
//!   batches go behind them into the journal, and the replayer feeds them to PostgreSQL in
//!   order once it answers again (a record written twice changes nothing: the upsert is
//!   idempotent);
//! - journal full (or unwritable): the packets are NOT acknowledged (no reply, so the
//!   NAS retries) and counted — never dropped silently;
//! - a record PostgreSQL refuses for good (a constraint, a value it will never take): the
//!   batch is retried record by record, the refused ones are parked in
//!   `radacct_deadletter` and acknowledged, so one poison record never blocks the queue.
//!
//! Shutdown drains the queue (PostgreSQL or journal), then tries to empty the journal
//! within the drain's time limit; what is left stays on disk for the next start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::journal::{Journal, JournalError};
use super::{AcctError, AcctSink};
use crate::metrics::{self as m, reason};
use crate::model::{AcctRecord, PostAuthRecord};
use crate::outage::Outage;
use crate::store::{PgStore, StoreError};

/// PostgreSQL could not take (all of) a batch: the first `written` records are committed,
/// the rest must be journaled.
#[derive(Debug)]
struct Unavailable {
    written: usize,
    why: String,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

use super::PostAuthWriter;

/// Group-commit tuning (`[accounting]` in the config).
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// Most records per transaction.
    pub max_batch: usize,
    /// How long a batch may wait for more records after its first (0: take what has
    /// queued and go; batches still grow while the writers are busy).
    pub max_wait: Duration,
    /// Records waiting at most (beyond it, requests are dropped: the NAS retries).
    pub queue: usize,
    /// Batches committing at once (each on its own connection).
    pub writers: usize,
    /// Client-side bound on one batch's commit; slower means "unavailable": journal it.
    pub write_timeout: Duration,
    /// After a failure, how long new batches go straight to the journal before
    /// PostgreSQL is tried again.
    pub retry_after: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            max_wait: Duration::ZERO,
            queue: 20_000,
            writers: 2,
            write_timeout: Duration::from_secs(2),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// One queued record and who waits for its durability.
struct Job {
    record: AcctRecord,
    done: oneshot::Sender<Result<(), AcctError>>,
}

/// What the writers and the replayer share.
struct Shared {
    pg: PgStore,
    journal: Mutex<Journal>,
    settings: BatchSettings,
    /// New batches go to the journal (it holds records, or PostgreSQL failed recently).
    diverting: AtomicBool,
    /// Milliseconds since `epoch` before which PostgreSQL is not tried.
    retry_at_ms: AtomicU64,
    epoch: Instant,
    /// Wakes the replayer when records were journaled.
    journaled: Notify,
    outage: Outage,
    /// The journal's backlog, as last read.
    backlog: Arc<JournalBacklog>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn in_backoff(&self) -> bool {
        self.now_ms() < self.retry_at_ms.load(Ordering::Acquire)
    }

    /// PostgreSQL failed: divert to the journal and leave it alone for `retry_after`.
    fn pg_failed(&self, why: &dyn std::fmt::Display) {
        let until =
            self.now_ms() + u64::try_from(self.settings.retry_after.as_millis()).unwrap_or(0);
        self.retry_at_ms.store(until, Ordering::Release);
        self.diverting.store(true, Ordering::Release);
        if self.outage.failed() {
            tracing::warn!(error = %why, "accounting: PostgreSQL unavailable; journaling records until it answers");
        }
    }

    fn pg_ok(&self) {
        if self.outage.recovered() {
            tracing::info!("accounting: PostgreSQL answers again");
        }
    }

    /// Append `records` to the journal (one fsync), off the async workers.
    async fn journal(self: &Arc<Self>, records: &[AcctRecord]) -> Result<(), AcctError> {
        if records.is_empty() {
            return Ok(());
        }
        let payloads: Vec<Vec<u8>> = records
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<_, _>>()
            .map_err(|e| AcctError::Journal(e.to_string()))?;
        let shared = Arc::clone(self);
        let appended = tokio::task::spawn_blocking(move || {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut journal = shared.journal.lock().map_err(|_| JournalError::Poisoned)?;
            journal.append(&refs)?;
            Ok::<_, JournalError>(journal.pending())
        })
        .await
        .map_err(|e| AcctError::Journal(e.to_string()))?;
        match appended {
            Ok((records_pending, bytes)) => {
                m::inc(m::ACCT_JOURNALED_TOTAL, &[], records.len() as u64);
                self.backlog.set(records_pending, bytes);
                self.journaled.notify_one();
                Ok(())
            }
            Err(JournalError::Full { .. }) => {
                m::inc(
                    m::ACCT_REFUSED_TOTAL,
                    &[("reason", "journal_full")],
                    records.len() as u64,
                );
                Err(AcctError::JournalFull)
            }
            Err(e) => {
                m::inc(
                    m::ACCT_REFUSED_TOTAL,
                    &[("reason", "journal_error")],
                    records.len() as u64,
                );
                Err(AcctError::Journal(e.to_string()))
            }
        }
    }

    /// One bounded attempt at a transaction: `Ok(Err)` is a refusal, `Err` unavailable.
    async fn try_write(&self, records: &[AcctRecord]) -> Result<Result<(), StoreError>, String> {
        match tokio::time::timeout(
            self.settings.write_timeout,
            self.pg.write_accounting_batch(records),
        )
        .await
        {
            Err(_) => Err(format!(
                "no commit within {:?}",
                self.settings.write_timeout
            )),
            Ok(Err(e)) if e.is_unavailable() => Err(e.to_string()),
            Ok(Err(e)) => Ok(Err(e)),
            Ok(Ok(_)) => Ok(Ok(())),
        }
    }

    /// Write `records` to PostgreSQL in one transaction, bounded in time. A refused batch
    /// is split: good records written, refused ones parked. `Err` only when PostgreSQL is
    /// unavailable (the caller journals what is not written).
    async fn commit(&self, records: &[AcctRecord]) -> Result<(), Unavailable> {
        let started = Instant::now();
        match self.try_write(records).await {
            Ok(Ok(())) => {
                m::observe(m::ACCT_COMMIT_SECONDS, &[], started.elapsed().as_secs_f64());
                m::observe(m::ACCT_BATCH_SIZE, &[], records.len() as f64);
                Ok(())
            }
            Err(why) => Err(Unavailable { written: 0, why }),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, records = records.len(), "accounting batch refused; retrying record by record");
                self.isolate(records).await
            }
        }
    }

    /// One record per transaction: what PostgreSQL refuses is parked.
    async fn isolate(&self, records: &[AcctRecord]) -> Result<(), Unavailable> {
        for (i, record) in records.iter().enumerate() {
            let one = std::slice::from_ref(record);
            let refused = match self.try_write(one).await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(why) => return Err(Unavailable { written: i, why }),
            };
            tracing::warn!(error = %refused, unique_id = %record.unique_id, "accounting record refused; parked in radacct_deadletter");
            match self.pg.park_accounting(one, &refused.to_string()).await {
                Ok(_) => m::inc(m::ACCT_DEADLETTER_TOTAL, &[], 1),
                Err(e) => {
                    return Err(Unavailable {
                        written: i,
                        why: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The journal's backlog as last known: the gauges, and a copy the status page reads.
#[derive(Debug, Default)]
struct JournalBacklog {
    records: AtomicU64,
    bytes: AtomicU64,
}

impl JournalBacklog {
    fn set(&self, records: u64, bytes: u64) {
        self.records.store(records, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        m::gauge_set(m::ACCT_JOURNAL_RECORDS, records as f64);
        m::gauge_set(m::ACCT_JOURNAL_BYTES, bytes as f64);
    }
}

/// Accounting records not yet in PostgreSQL ([`Batcher::backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Records waiting in the queue for a writer.
    pub queued: usize,
    /// Records in the journal waiting for replay.
    pub journal_records: u64,
    /// Bytes of those records' frames.
    pub journal_bytes: u64,
}

/// The accounting sink: queue, collector, writers, journal and replayer. Cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
    post_auth: PostAuthWriter,
    backlog: Arc<JournalBacklog>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// Start the collector and the replayer on the current runtime. They stop when
    /// `cancel` fires, after draining the queue and (within the caller's drain timeout)
    /// the journal; wait for that on the returned tracker.
    pub fn spawn(
        pg: PgStore,
        journal: Journal,
        settings: BatchSettings,
        post_auth: PostAuthWriter,
        cancel: CancellationToken,
    ) -> (Self, TaskTracker) {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let (records, bytes) = journal.pending();
        let backlog = Arc::new(JournalBacklog::default());
        backlog.set(records, bytes);
        let shared = Arc::new(Shared {
            backlog: Arc::clone(&backlog),
            pg,
            diverting: AtomicBool::new(records > 0),
            journal: Mutex::new(journal),
            settings,
            retry_at_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            journaled: Notify::new(),
            outage: Outage::new(),
        });
        if records > 0 {
            tracing::info!(
                records,
                bytes,
                "accounting journal holds records from before; replaying them first"
            );
        }
        let tracker = TaskTracker::new();
        let writers = TaskTracker::new();
        tracker.spawn(collect(
            Arc::clone(&shared),
            rx,
            writers.clone(),
            cancel.clone(),
        ));
        tracker.spawn(replay(shared, writers, cancel));
        tracker.close();
        (
            Self {
                tx,
                post_auth,
                backlog,
            },
            tracker,
        )
    }
}

impl Batcher {
    /// Records not yet in PostgreSQL: queued, and journaled for replay.
    pub fn backlog(&self) -> Backlog {
        Backlog {
            queued: self.tx.max_capacity() - self.tx.capacity(),
            journal_records: self.backlog.records.load(Ordering::Relaxed),
            journal_bytes: self.backlog.bytes.load(Ordering::Relaxed),
        }
    }
}

impl AcctSink for Batcher {
    async fn write_accounting(&self, record: AcctRecord) -> Result<(), AcctError> {
        let (done, wait) = oneshot::channel();
        match self.tx.try_send(Job { record, done }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                m::inc(m::ACCT_REFUSED_TOTAL, &[("reason", "queue_full")], 1);
                return Err(AcctError::QueueFull);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(AcctError::Closed),
        }
        wait.await.unwrap_or(Err(AcctError::Closed))
    }

    fn post_auth(&self, record: PostAuthRecord) -> bool {
        self.post_auth.submit(record)
    }

    fn keeps_post_auth(&self, accepted: bool) -> bool {
        self.post_auth.keeps(accepted)
    }
}

/// Take batches off the queue and hand each to a writer (at most `writers` at once).
async fn collect(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Job>,
    writers: TaskTracker,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(shared.settings.writers.max(1)));
    let max = shared.settings.max_batch.max(1);
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => None,
            job = rx.recv() => job,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        gather(&mut rx, &mut batch, max, shared.settings.max_wait, &cancel).await;
        m::gauge_set(m::ACCT_QUEUE_DEPTH, rx.len() as f64);
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        // More may have queued while every writer was busy.
        gather(&mut rx, &mut batch, max, Duration::ZERO, &cancel).await;
        writers.spawn(write(Arc::clone(&shared), batch, Some(permit)));
    }
    // Drain: whatever is queued is written (or journaled) before the collector ends.
    rx.close();
    let mut rest = Vec::new();
    while let Some(job) = rx.recv().await {
        rest.push(job);
        if rest.len() >= max {
            let permit = Arc::clone(&permits).acquire_owned().await.ok();
            writers.spawn(write(
                Arc::clone(&shared),
                std::mem::take(&mut rest),
                permit,
            ));
        }
    }
    if !rest.is_empty() {
        let permit = Arc::clone(&permits).acquire_owned().await.ok();
        writers.spawn(write(Arc::clone(&shared), rest, permit));
    }
    writers.close();
    writers.wait().await;
}

/// Grow `batch` with what is queued, up to `max`. With a `settle` time and room left,
/// sleep once (no wake-up per record) and take what queued meanwhile. Shared by the
/// accounting collector and the post-auth writer.
pub(super) async fn gather<T>(
    rx: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    max: usize,
    settle: Duration,
    cancel: &CancellationToken,
) {
    let take = |rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>| {
        while batch.len() < max {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
    };
    take(rx, batch);
    if settle.is_zero() || batch.len() >= max {
        return;
    }
    tokio::select! {
        () = cancel.cancelled() => {}
        () = tokio::time::sleep(settle) => {}
    }
    take(rx, batch);
}

/// A writer task: one batch, holding a writer slot (`None` only if the slots are gone).
async fn write(shared: Arc<Shared>, jobs: Vec<Job>, permit: Option<OwnedSemaphorePermit>) {
    let _permit = permit;
    write_jobs(&shared, jobs).await;
}

/// Make one batch durable (PostgreSQL, else the journal), then answer every waiter.
async fn write_jobs(shared: &Arc<Shared>, jobs: Vec<Job>) {
    let (records, waiters): (Vec<AcctRecord>, Vec<_>) =
        jobs.into_iter().map(|j| (j.record, j.done)).unzip();
    let result = if shared.diverting.load(Ordering::Acquire) || shared.in_backoff() {
        shared.journal(&records).await
    } else {
        match shared.commit(&records).await {
            Ok(()) => {
                shared.pg_ok();
                Ok(())
            }
            Err(e) => {
                shared.pg_failed(&e);
                shared
                    .journal(records.get(e.written..).unwrap_or_default())
                    .await
            }
        }
    };
    if let Err(e) = &result {
        tracing::debug!(error = %e, records = records.len(), "accounting batch not durable; not answering");
    }
    for done in waiters {
        let _ = done.send(result.clone());
    }
}

/// Feed the journal to PostgreSQL, oldest first, whenever it holds records and
/// PostgreSQL is not in backoff; stop diverting once it is empty.
async fn replay(shared: Arc<Shared>, writers: TaskTracker, cancel: CancellationToken) {
    let tick = Duration::from_millis(200);
    loop {
        let stop = tokio::select! {
            () = cancel.cancelled() => true,
            () = shared.journaled.notified() => false,
            () = tokio::time::sleep(tick) => false,
        };
        if stop {
            // Let the collector finish its drain first, then empty what we can: one more
            // try at PostgreSQL even inside a backoff (the drain has its own time limit).
            writers.wait().await;
            shared.retry_at_ms.store(0, Ordering::Release);
            drain_journal(&shared).await;
            return;
        }
        drain_journal(&shared).await;
    }
}

/// Replay journal batches until it is empty or PostgreSQL fails.
async fn drain_journal(shared: &Arc<Shared>) {
    let max = shared.settings.max_batch.max(1);
    loop {
        if shared.in_backoff() {
            return;
        }
        let peeked = {
            let shared = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let mut j = shared.journal.lock().map_err(|_| JournalError::Poisoned)?;
                j.peek(max)
            })
            .await
        };
        let payloads = match peeked {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "accounting journal unreadable; replay paused");
                return;
            }
            Err(_) => return,
        };
        if payloads.is_empty() {
            // Nothing left: new batches may go to PostgreSQL again.
            let shared2 = Arc::clone(shared);
            let still_empty = tokio::task::spawn_blocking(move || {
                shared2
                    .journal
                    .lock()
                    .map(|j| j.is_empty())
                    .unwrap_or(false)
            })
            .await
            .unwrap_or(false);
            if still_empty {
                shared.diverting.store(false, Ordering::Release);
                shared.backlog.set(0, 0);
            }
            return;
        }
        let mut records = Vec::with_capacity(payloads.len());
        for p in &payloads {
            match serde_json::from_slice::<AcctRecord>(p) {
                Ok(r) => records.push(r),
                Err(e) => {
                    m::inc(
                        m::DROPPED_TOTAL,
                        &[("reason", reason::JOURNAL_UNREADABLE)],
                        1,
                    );
                    tracing::error!(error = %e, "unreadable journal record skipped");
                }
            }
        }
        // With every payload decoded, record i is payload i: a partial write consumes
        // exactly what is in. Otherwise replay the lot again later (harmless: idempotent).
        let aligned = records.len() == payloads.len();
        let written = match shared.commit(&records).await {
            Ok(()) => {
                shared.pg_ok();
                payloads.len()
            }
            Err(e) => {
                shared.pg_failed(&e);
                if aligned { e.written } else { 0 }
            }
        };
        if written == 0 {
            return;
        }
        let consumed = {
            let shared = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let mut j = shared.journal.lock().map_err(|_| JournalError::Poisoned)?;
                j.consume(written)?;
                Ok::<_, JournalError>(j.pending())
            })
            .await
        };
        match consumed {
            Ok(Ok((records_left, bytes))) => {
                m::inc(m::ACCT_REPLAYED_TOTAL, &[], written as u64);
                shared.backlog.set(records_left, bytes);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "accounting journal cursor not saved; replay paused");
                return;
            }
            Err(_) => return,
        }
        if written < payloads.len() {
            return;
        }
    }
}
