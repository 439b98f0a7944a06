//! Where the handlers' records go: accounting (durable before the NAS is answered) and the
//! post-auth log (best effort, batched, never in the way of a reply).
//!
//! - [`record`]: Accounting-Request → `AcctRecord` (pure normalisation, unique id);
//! - [`AcctSink`]: the seam the accounting and access handlers write through;
//! - [`Batcher`]: the server's sink: group commit into `radacct`, the fsync'd
//!   [`journal`] while PostgreSQL is away, dead-lettering of refused records;
//!   post-auth rows through [`postauth::PostAuthWriter`]'s batches.

pub mod batcher;
pub mod history;
pub mod journal;
pub mod postauth;
pub mod record;

use std::future::Future;

use crate::model::{AcctRecord, PostAuthRecord};

pub use batcher::{Backlog, BatchSettings, Batcher};
pub use postauth::PostAuthWriter;

/// Why an accounting record was not made durable (the request then gets no reply, so the
/// NAS retries). Cheap to clone: one batch's outcome goes to every packet in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AcctError {
    /// The queue to the writers is full (overload).
    #[error("accounting queue full")]
    QueueFull,
    /// The writers have stopped (shutting down).
    #[error("accounting writer stopped")]
    Closed,
    /// PostgreSQL was unavailable and the journal is at its size limit.
    #[error("accounting journal full")]
    JournalFull,
    /// PostgreSQL was unavailable and the journal could not be written.
    #[error("accounting journal: {0}")]
    Journal(String),
}

impl AcctError {
    /// What failed, as a `radius_backend_unavailable_total` label.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::QueueFull | Self::Closed => "accounting_queue",
            Self::JournalFull | Self::Journal(_) => "journal",
        }
    }
}

/// What the handlers record.
pub trait AcctSink: Send + Sync + 'static {
    /// Make one accounting record durable; `Ok` only once it is committed to PostgreSQL
    /// or fsync'd to the journal.
    fn write_accounting(
        &self,
        record: AcctRecord,
    ) -> impl Future<Output = Result<(), AcctError>> + Send;

    /// Queue a post-auth record without blocking; `false` when it was dropped (counted by
    /// the sink).
    fn post_auth(&self, record: PostAuthRecord) -> bool;

    /// Whether a post-auth record of an Access-Accept (`accepted`) or Access-Reject would
    /// be kept (`[postauth] log`); when not, the handler does not build one.
    fn keeps_post_auth(&self, accepted: bool) -> bool {
        let _ = accepted;
        true
    }
}
