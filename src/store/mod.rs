//! Read-through user data: moka L1 -> Redis L2 -> PostgreSQL, with pushed invalidation;
//! plus the writes (accounting, post-auth) and the NAS table.

pub mod model;
pub mod postgres;

pub use postgres::migrate;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL could not be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed for another reason.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
