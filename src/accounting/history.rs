//! Keeping `radacct` small: sessions closed more than `[accounting] history_after_days`
//! ago move to `radacct_history` in bulk (hourly, 10,000 rows a statement), so the live
//! table every Start, Interim and Stop upserts into holds open and recent sessions only.
//! `radacct_all` (a view) shows both tables for reports over longer periods.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::PgStore;

/// Rows moved per statement (a bounded lock footprint and WAL burst).
const BATCH: i64 = 10_000;
/// How often the move runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Move closed sessions older than `days` days, hourly (first run a minute after start),
/// until `cancel` fires. `days == 0` keeps everything in `radacct` (returns at once).
pub async fn run(pg: PgStore, days: u32, cancel: CancellationToken) {
    if days == 0 {
        return;
    }
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        let moved = move_all(&pg, days, &cancel).await;
        if moved > 0 {
            tracing::info!(
                rows = moved,
                days,
                "closed sessions moved to radacct_history"
            );
        }
    }
}

/// One pass: statements of [`BATCH`] rows until fewer are left (or `cancel`).
pub async fn move_all(pg: &PgStore, days: u32, cancel: &CancellationToken) -> u64 {
    let mut total = 0;
    loop {
        match pg.move_closed_sessions(days, BATCH).await {
            Ok(n) => {
                total += n;
                if n < BATCH as u64 || cancel.is_cancelled() {
                    return total;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "moving closed sessions to radacct_history failed; next try in an hour");
                return total;
            }
        }
    }
}
