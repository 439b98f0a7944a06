//! PostgreSQL tier: every SQL statement the server runs lives in this file.

use sqlx::PgPool;

use super::StoreError;

/// Embedded migrations (`migrations/`), applied by `hotspot-radius migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Applies all pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
