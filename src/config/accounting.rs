//! `[accounting]` and `[postauth]`: group commit, the local journal, and the post-auth log.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[accounting]` section: how Accounting-Requests become durable.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccountingConfig {
    /// Directory of the local journal that holds records while PostgreSQL is down or slow
    /// (created if missing; one process per directory).
    #[serde(default = "default_journal_dir")]
    pub journal_dir: PathBuf,
    /// Most bytes the journal may hold. When full, Accounting-Requests are not answered
    /// (the NAS retries them) until replay makes room; nothing is dropped silently.
    #[serde(default = "default_journal_max_bytes")]
    pub journal_max_bytes: u64,
    /// Journal segment file size, bytes (replayed segments are deleted whole).
    #[serde(default = "default_journal_segment_bytes")]
    pub journal_segment_bytes: u64,
    /// Most records committed in one transaction.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How long a batch waits for more records after its first, milliseconds (0: take
    /// what has queued; batches still grow while the writers are busy).
    #[serde(default)]
    pub max_wait_ms: u64,
    /// Records waiting for a writer at most; beyond it requests are dropped (NAS retries).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Batches committing at once (one PostgreSQL connection each).
    #[serde(default = "default_writers")]
    pub writers: usize,
    /// A batch not committed within this many milliseconds is journaled instead.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// After a failed commit, new batches go to the journal for this many milliseconds
    /// before PostgreSQL is tried again.
    #[serde(default = "default_retry_after_ms")]
    pub retry_after_ms: u64,
    /// Sessions closed more than this many days ago move from `radacct` to
    /// `radacct_history` (hourly, in bulk); 0 keeps them in `radacct`.
    #[serde(default = "default_history_after_days")]
    pub history_after_days: u32,
}

fn default_journal_dir() -> PathBuf {
    PathBuf::from("/var/lib/hotspot-radius/journal")
}
fn default_journal_max_bytes() -> u64 {
    1 << 30
}
fn default_journal_segment_bytes() -> u64 {
    64 << 20
}
fn default_max_batch() -> usize {
    1000
}
fn default_queue() -> usize {
    20_000
}
fn default_writers() -> usize {
    2
}
fn default_write_timeout_ms() -> u64 {
    2000
}
fn default_retry_after_ms() -> u64 {
    1000
}
fn default_history_after_days() -> u32 {
    90
}

impl Default for AccountingConfig {
    fn default() -> Self {
        Self {
            journal_dir: default_journal_dir(),
            journal_max_bytes: default_journal_max_bytes(),
            journal_segment_bytes: default_journal_segment_bytes(),
            max_batch: default_max_batch(),
            max_wait_ms: 0,
            queue: default_queue(),
            writers: default_writers(),
            write_timeout_ms: default_write_timeout_ms(),
            retry_after_ms: default_retry_after_ms(),
            history_after_days: default_history_after_days(),
        }
    }
}

/// Which authentications the post-auth log (`radpostauth`) keeps.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PostAuthLog {
    /// Every Access-Accept and Access-Reject.
    #[default]
    All,
    /// Access-Rejects only (what support desks look at).
    Rejects,
    /// None.
    Off,
}

/// `[postauth]` section: the authentication log.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostAuthConfig {
    /// `all`, `rejects` or `off`.
    #[serde(default)]
    pub log: PostAuthLog,
    /// Rows older than this many days are deleted (hourly, in bounded batches); 0 keeps
    /// them forever.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}

fn default_retention_days() -> u32 {
    30
}

impl Default for PostAuthConfig {
    fn default() -> Self {
        Self {
            log: PostAuthLog::default(),
            retention_days: default_retention_days(),
        }
    }
}
