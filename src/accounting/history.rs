//! Keeping `radacct` small: sessions closed more than `[accounting] history_after_days`
//! ago move to `radacct_history` in bulk (hourly, 10,000 rows a statement), so the live
//! table every Start, Interim and Stop upserts into holds open and recent sessions only.
//! `radacct_all` (a view) shows both tables for reports over longer periods.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{PgStore, StoreError};

/// How often the bulk jobs run.
const EVERY: Duration = Duration::from_secs(3600);

/// Rows moved per statement (a bounded lock footprint and WAL burst).
const BATCH: i64 = 10_000;

/// Move closed sessions older than `days` days, hourly (first run a minute after start),
/// until `cancel` fires. `days == 0` keeps everything in `radacct` (returns at once).
pub async fn run(pg: PgStore, days: u32, cancel: CancellationToken) {
    if days == 0 {
        return;
    }
    hourly_in_batches(
        &cancel,
        BATCH,
        "closed sessions moved to radacct_history",
        || pg.move_closed_sessions(days, BATCH),
    )
    .await;
}

/// One pass: statements of [`BATCH`] rows until fewer are left (or `cancel`).
pub async fn move_all(pg: &PgStore, days: u32, cancel: &CancellationToken) -> u64 {
    in_batches(
        cancel,
        BATCH,
        "moving closed sessions to radacct_history",
        || pg.move_closed_sessions(days, BATCH),
    )
    .await
}

/// A bulk maintenance job (history moves, post-auth retention): a pass a minute after
/// start and then every hour until `cancel`; each pass runs `step` (one bounded statement
/// of at most `batch` rows) until a statement touches fewer rows. Logs what a pass did.
pub(super) async fn hourly_in_batches<F, Fut>(
    cancel: &CancellationToken,
    batch: i64,
    done: &'static str,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        let rows = in_batches(cancel, batch, done, &mut step).await;
        if rows > 0 {
            tracing::info!(rows, "{done}");
        }
    }
}

/// Run `step` until it touches fewer than `batch` rows, fails (logged), or `cancel`.
async fn in_batches<F, Fut>(cancel: &CancellationToken, batch: i64, what: &str, mut step: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        match step().await {
            Ok(n) => {
                total += n;
                if n < u64::try_from(batch).unwrap_or(0) || cancel.is_cancelled() {
                    return total;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} failed; next try in an hour");
                return total;
            }
        }
    }
}
