//! Where the handlers' records go: accounting (durable before the NAS is answered) and the
//! post-auth log (best effort, batched, never in the way of a reply).
//!
//! - [`record`]: Accounting-Request → `AcctRecord` (pure normalisation, unique id);
//! - [`AcctSink`]: the seam the accounting and access handlers write through;
//! - [`Writer`]: today's sink over PostgreSQL (one committed upsert per Accounting-Request,
//!   post-auth rows through [`postauth::PostAuthWriter`]'s batches).

pub mod postauth;
pub mod record;

use std::future::Future;

use crate::model::{AcctRecord, PostAuthRecord};
use crate::store::{PgStore, StoreError};

pub use postauth::PostAuthWriter;

/// Why an accounting record was not made durable (the request then gets no reply, so the
/// NAS retries).
#[derive(Debug, thiserror::Error)]
pub enum AcctError {
    /// The database refused or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AcctError {
    /// Which backend failed, as a `radius_backend_unavailable_total` label.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Store(e) if e.is_unavailable() => "postgres",
            Self::Store(_) => "store",
        }
    }
}

/// What the handlers record.
pub trait AcctSink: Send + Sync + 'static {
    /// Make one accounting record durable; `Ok` only once it is committed.
    fn write_accounting(
        &self,
        record: &AcctRecord,
    ) -> impl Future<Output = Result<(), AcctError>> + Send;

    /// Queue a post-auth record without blocking; `false` when it was dropped (counted by
    /// the sink).
    fn post_auth(&self, record: PostAuthRecord) -> bool;
}

/// The PostgreSQL sink: accounting written synchronously, post-auth batched.
#[derive(Debug, Clone)]
pub struct Writer {
    pg: PgStore,
    post_auth: PostAuthWriter,
}

impl Writer {
    /// A sink over `pg`, with post-auth records going through `post_auth`.
    pub fn new(pg: PgStore, post_auth: PostAuthWriter) -> Self {
        Self { pg, post_auth }
    }
}

impl AcctSink for Writer {
    async fn write_accounting(&self, record: &AcctRecord) -> Result<(), AcctError> {
        self.pg.write_accounting(record).await?;
        Ok(())
    }

    fn post_auth(&self, record: PostAuthRecord) -> bool {
        self.post_auth.submit(record)
    }
}
