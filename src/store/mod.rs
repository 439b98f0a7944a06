//! Data access: PostgreSQL (the FreeRADIUS schema) and Redis. Rows in, rows out.
//!
//! This layer knows SQL, connection pools and Redis commands, and nothing about RADIUS
//! policy or caching strategy: it hands out [`crate::model`] rows and takes records to
//! write. The compiled-profile cache and the NOTIFY listener sit one layer up, in
//! `profiles`; accounting and post-auth writers in `accounting`.
//!
//! Errors are classified once, here ([`StoreError`]): a database that cannot be reached or
//! does not answer in time is [`StoreError::Unavailable`], so callers can stay silent
//! (the NAS retries) instead of sending a false Access-Reject.

pub mod postgres;
pub mod redis;
pub mod redis_conn;

pub use postgres::{
    MIGRATOR, Membership, NasWrite, PgStore, PoolSettings, UserSummary, UserWrite, migrate,
    migrate_reporting,
};
pub use redis::{Cached, RedisEndpoint, RedisSettings, RedisTier, SigningKey};
pub use redis_conn::{RedisClient, RedisConnection, Topology};

/// The NOTIFY channel the schema's triggers use (`user:<name>`, `group:<name>`, `nas`,
/// `flush`).
pub const NOTIFY_CHANNEL: &str = "hotspot_radius";

/// Errors of the data-access layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL could not be reached or did not answer in time: do not answer the NAS.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A statement failed for another reason (constraint, syntax, data).
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
    /// The database URL does not parse.
    #[error("invalid database URL: {0}")]
    Url(#[source] sqlx::Error),
    /// A row came back in a shape we cannot read.
    #[error("unreadable database row: {0}")]
    Decode(#[from] serde_json::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The Redis URL or client settings are invalid, or Redis refused or failed (cannot
    /// be reached, TLS handshake failed, ...).
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    RedisTimeout(std::time::Duration),
    /// A Redis TLS file (`[redis] ca_file`, `cert_file`, `key_file`) cannot be read.
    #[error("Redis TLS file {}: {source}", path.display())]
    RedisFile {
        /// The configured path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The NOTIFY listener's connection has no PostgreSQL session of its own: `key` leads
    /// to a connection pooler in transaction mode (PgBouncer), where LISTEN cannot work.
    #[error(
        "{key} leads to a connection pooler in transaction mode (PgBouncer?): LISTEN needs a \
         PostgreSQL session of its own; point database.listen_url at PostgreSQL itself"
    )]
    ListenPooled {
        /// The config key the listener's URL came from.
        key: &'static str,
    },
    /// Only one of the Redis client certificate and key was given.
    #[error("Redis client certificate: cert_file and key_file go together")]
    RedisCertPair,
    /// `[redis] url` names a Sentinel or Cluster deployment this server cannot read.
    #[error("redis.url: {0}")]
    RedisUrl(String),
}

impl From<sqlx::Error> for StoreError {
    /// Connection-level failures (PostgreSQL down, unreachable, shutting down, overloaded,
    /// or too slow: `statement_timeout`, SQLSTATE 57014) are `Unavailable`; the rest `Query`.
    fn from(e: sqlx::Error) -> Self {
        if postgres::is_unavailable(&e) {
            Self::Unavailable(e)
        } else {
            Self::Query(e)
        }
    }
}

impl StoreError {
    /// Whether the database was unreachable (rather than the statement being refused).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// `scheme://user:***@host...`: the URL without its password.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://radius:s3cret@db:5432/radius"),
            "postgres://radius:***@db:5432/radius"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1/"),
            "redis://:***@127.0.0.1/"
        );
        assert_eq!(
            redact_url("postgres://radius@db/radius"),
            "postgres://radius@db/radius"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn connection_failures_are_unavailable() {
        let e: StoreError = sqlx::Error::PoolTimedOut.into();
        assert!(e.is_unavailable());
        let e: StoreError = sqlx::Error::RowNotFound.into();
        assert!(!e.is_unavailable());
    }
}
