//! The TOML configuration: schema, documented defaults, loading and validation.
//!
//! `load` reads a file and reports *every* problem it finds (unknown keys, wrong types,
//! bad values), each naming the key and the file, so `check-config` can list them all at
//! once. Every field has a default (one `default_*` fn each), so an empty file, or no file
//! at all, is a working configuration once `DATABASE_URL` is set. Every key is documented
//! in `docs/configuration.md` and in `config/hotspot-radius.example.toml` (which
//! `config --print-default` prints); `schema` reads the keys and defaults from these
//! structs, and tests hold both documents to them. This file is the schema and the
//! loading; the checks (unknown keys, ill-typed values, bad values) are in `check`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

mod accounting;
mod check;
mod radsec;
pub mod schema;
mod sessions;

pub use accounting::{AccountingConfig, PostAuthConfig, PostAuthLog};
pub use check::{ConfigError, Problem};
pub use radsec::RadsecConfig;
pub use sessions::SessionsConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the RADIUS listeners and the request path.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[radsec]`: RADIUS over TLS (RFC 6614), off unless `addr` is set.
    #[serde(default)]
    pub radsec: RadsecConfig,
    /// `[admin]`: the admin HTTP port (metrics and health).
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[database]`: PostgreSQL.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `[redis]`: the shared L2 cache (optional).
    #[serde(default)]
    pub redis: RedisConfig,
    /// `[cache]`: the in-process L1 cache and cache lifetimes.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[accounting]`: group commit and the local journal.
    #[serde(default)]
    pub accounting: AccountingConfig,
    /// `[postauth]`: the authentication log (`radpostauth`).
    #[serde(default)]
    pub postauth: PostAuthConfig,
    /// `[sessions]`: sessions, quotas, stale sessions, Disconnect/CoA.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// `[log]`: logging.
    #[serde(default)]
    pub log: LogConfig,
    /// `[[nas]]`: RADIUS clients known from the file (the `nas` table adds more).
    #[serde(default)]
    pub nas: Vec<NasConfig>,
}

/// `[server]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Authentication listener (Access-Request, Status-Server).
    #[serde(default = "default_auth_addr")]
    pub auth_addr: SocketAddr,
    /// Accounting listener (Accounting-Request, Status-Server).
    #[serde(default = "default_acct_addr")]
    pub acct_addr: SocketAddr,
    /// Receive threads; each owns one `SO_REUSEPORT` auth socket and one acct socket and
    /// runs its own single-threaded runtime (1..=64).
    #[serde(default = "default_receivers")]
    pub receivers: usize,
    /// How datagrams are spread over the receive threads: `flow` (the kernel's hash of
    /// source and destination: one router's datagrams stay on one thread) or `random`
    /// (every datagram to any thread, so one busy router uses every core).
    #[serde(default)]
    pub balance: Balance,
    /// Requests that may wait at once, per port (a cache miss, a slow password hash, an
    /// accounting commit, a reject delay); a request that would wait beyond it is dropped
    /// and counted (the NAS retransmits). Cached answers never wait and never count.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: usize,
    /// User lookups past the in-process cache that one NAS entry may have waiting at once
    /// (a flood of unknown usernames from one NAS); beyond it its requests are dropped and
    /// counted (`miss_budget`), never rejected. Cached users are not counted.
    #[serde(default = "default_max_misses_per_nas")]
    pub max_misses_per_nas: usize,
    /// Delay before sending an Access-Reject, in milliseconds (0 = none).
    #[serde(default = "default_reject_delay_ms")]
    pub reject_delay_ms: u64,
    /// How long a reply is kept to answer retransmissions (RFC 5080 §2.2.2), milliseconds.
    #[serde(default = "default_dedup_ttl_ms")]
    pub dedup_ttl_ms: u64,
    /// Most requests remembered by the duplicate cache.
    #[serde(default = "default_dedup_capacity")]
    pub dedup_capacity: usize,
    /// Upper bound on the graceful shutdown, in seconds.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Extra FreeRADIUS-format dictionary file loaded instead of the built-in one.
    #[serde(default)]
    pub dictionary: Option<PathBuf>,
}

/// `[server] balance`: how datagrams are spread over the receive threads.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// The kernel's `SO_REUSEPORT` hash of source and destination address and port: all of
    /// one router's datagrams (one source port) land on one thread.
    Flow,
    /// A random receive thread per datagram (a classic BPF program on the socket group):
    /// one router's load is spread over every thread.
    #[default]
    Random,
}

fn default_auth_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 1812))
}
fn default_acct_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 1813))
}
fn default_receivers() -> usize {
    2
}
fn default_max_inflight() -> usize {
    4096
}
fn default_max_misses_per_nas() -> usize {
    64
}
fn default_reject_delay_ms() -> u64 {
    0
}
fn default_dedup_ttl_ms() -> u64 {
    5000
}
fn default_dedup_capacity() -> usize {
    65_536
}
fn default_shutdown_timeout_secs() -> u64 {
    10
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            auth_addr: default_auth_addr(),
            acct_addr: default_acct_addr(),
            receivers: default_receivers(),
            balance: Balance::default(),
            max_inflight: default_max_inflight(),
            max_misses_per_nas: default_max_misses_per_nas(),
            reject_delay_ms: default_reject_delay_ms(),
            dedup_ttl_ms: default_dedup_ttl_ms(),
            dedup_capacity: default_dedup_capacity(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
            dictionary: None,
        }
    }
}

/// `[admin]` section.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin HTTP listener (`/metrics`, `/healthz`, `/readyz`, the status page `/`).
    #[serde(default = "default_admin_addr")]
    pub addr: SocketAddr,
    /// Turn the admin listener off.
    #[serde(default = "default_admin_enabled")]
    pub enabled: bool,
    /// `/readyz` fails when the database has not answered a health check for this long.
    #[serde(default = "default_ready_db_max_age_secs")]
    pub ready_db_max_age_secs: u64,
    /// The status page's Disconnect buttons need this token (typed into the page); unset
    /// or empty, the page is read-only and `POST /disconnect` is refused.
    #[serde(default)]
    pub token: Option<String>,
    /// Read the token from this file at start instead (surrounding whitespace trimmed), to
    /// keep it out of the config file. Not together with `token`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Multi-tenant platforms: count Access-Requests per tenant on `/metrics`
    /// (`radius_tenant_access_total`). Off: no per-tenant series at all.
    #[serde(default)]
    pub per_tenant_metrics: bool,
    /// At most this many tenants get their own `tenant` label; the rest share `(other)`.
    #[serde(default = "default_per_tenant_metrics_cap")]
    pub per_tenant_metrics_cap: usize,
}

impl AdminConfig {
    /// The token that unlocks the Disconnect buttons, when one is set (non-empty).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("addr", &self.addr)
            .field("enabled", &self.enabled)
            .field("ready_db_max_age_secs", &self.ready_db_max_age_secs)
            .field("token", &self.token().map(|_| "***"))
            .field("token_file", &self.token_file)
            .field("per_tenant_metrics", &self.per_tenant_metrics)
            .field("per_tenant_metrics_cap", &self.per_tenant_metrics_cap)
            .finish()
    }
}

fn default_admin_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9812))
}
fn default_admin_enabled() -> bool {
    true
}
fn default_ready_db_max_age_secs() -> u64 {
    15
}
fn default_per_tenant_metrics_cap() -> usize {
    100
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            addr: default_admin_addr(),
            enabled: default_admin_enabled(),
            ready_db_max_age_secs: default_ready_db_max_age_secs(),
            token: None,
            token_file: None,
            per_tenant_metrics: false,
            per_tenant_metrics_cap: default_per_tenant_metrics_cap(),
        }
    }
}

/// `[database]` section.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// PostgreSQL URL; the `DATABASE_URL` environment variable overrides it.
    #[serde(default)]
    pub url: Option<String>,
    /// Connections in the pool.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Where the NOTIFY listener connects, when not to `url` (e.g. `url` goes through
    /// PgBouncer in transaction pooling, where LISTEN cannot work). Unset: `url`.
    #[serde(default)]
    pub listen_url: Option<String>,
    /// `url` leads to a PgBouncer in transaction (or statement) pooling: every statement
    /// runs in a transaction of its own and keeps no session state (no named prepared
    /// statements, no startup options). Needs `listen_url` (PostgreSQL itself), which the
    /// listener and `migrate` use.
    #[serde(default)]
    pub pgbouncer: bool,
    /// A read replica (a streaming standby) for the profile loads of cache misses; writes,
    /// LISTEN and reads that must see the latest writes stay on `url`. Unset: all on `url`.
    #[serde(default)]
    pub replica_url: Option<String>,
}

fn default_pool_size() -> u32 {
    10
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: default_pool_size(),
            listen_url: None,
            pgbouncer: false,
            replica_url: None,
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry a password.
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .field("listen_url", &self.listen_url.as_ref().map(|_| "***"))
            .field("pgbouncer", &self.pgbouncer)
            .field("replica_url", &self.replica_url.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `[redis]` section.
#[derive(Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Redis URL: one server (`redis://`, `rediss://`), a Sentinel-managed primary
    /// (`redis[s]+sentinel://host:port,.../service[/db]`) or a Cluster
    /// (`redis[s]+cluster://host:port,...`); the `REDIS_URL` environment variable overrides
    /// it. Without one, caches are in-process only.
    #[serde(default)]
    pub url: Option<String>,
    /// `rediss://` only: PEM file of the CA(s) the server's certificate is verified
    /// against, instead of the system trust store (a managed Redis's private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `rediss://` only: PEM client certificate (chain) for mutual TLS; needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// `rediss://` only: PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// `[cache]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Most user profiles held in the in-process L1 cache.
    #[serde(default = "default_l1_capacity")]
    pub l1_capacity: u64,
    /// L1 entry lifetime, seconds (a backstop: invalidation is pushed by NOTIFY).
    #[serde(default = "default_l1_ttl_secs")]
    pub l1_ttl_secs: u64,
    /// How long an unknown user is remembered as unknown, seconds.
    #[serde(default = "default_negative_ttl_secs")]
    pub negative_ttl_secs: u64,
    /// Redis L2 entry lifetime, seconds.
    #[serde(default = "default_l2_ttl_secs")]
    pub l2_ttl_secs: u64,
    /// How often the idle LISTEN connection is probed with a query, seconds; an unanswered
    /// probe (within 5 s at most) reconnects it and flushes the caches (1..=3600).
    #[serde(default = "default_listener_probe_secs")]
    pub listener_probe_secs: u64,
}

fn default_listener_probe_secs() -> u64 {
    30
}

fn default_l1_capacity() -> u64 {
    250_000
}
fn default_l1_ttl_secs() -> u64 {
    300
}
fn default_negative_ttl_secs() -> u64 {
    5
}
fn default_l2_ttl_secs() -> u64 {
    3600
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            l1_capacity: default_l1_capacity(),
            l1_ttl_secs: default_l1_ttl_secs(),
            negative_ttl_secs: default_negative_ttl_secs(),
            l2_ttl_secs: default_l2_ttl_secs(),
            listener_probe_secs: default_listener_probe_secs(),
        }
    }
}

/// `[log]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Default `tracing` filter (`RUST_LOG` overrides it), e.g. `info` or
    /// `hotspot_radius=debug`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_log_level(),
        }
    }
}

/// Message-Authenticator policy for Access-Requests from one NAS (BlastRADIUS).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MessageAuthenticatorPolicy {
    /// Every Access-Request must carry a valid Message-Authenticator.
    Require,
    /// Verify when present; once one is seen from this NAS, require it from then on.
    #[default]
    Auto,
    /// Verify when present; never require it.
    Off,
}

impl MessageAuthenticatorPolicy {
    /// Parse the text used in config and in the `nas` table.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "require" | "yes" | "true" => Some(Self::Require),
            "auto" | "" => Some(Self::Auto),
            "off" | "no" | "false" => Some(Self::Off),
            _ => None,
        }
    }

    /// The canonical text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Require => "require",
            Self::Auto => "auto",
            Self::Off => "off",
        }
    }
}

/// One `[[nas]]` entry.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NasConfig {
    /// Source address: an IP address or a CIDR network (required).
    #[serde(default)]
    pub address: String,
    /// Shared secret (required, never logged).
    #[serde(default)]
    pub secret: String,
    /// Name used in logs; defaults to the address.
    #[serde(default)]
    pub name: Option<String>,
    /// Port the NAS listens on for CoA / Disconnect-Request (RFC 5176; MikroTik: 3799).
    #[serde(default = "default_coa_port")]
    pub coa_port: u16,
    /// Message-Authenticator policy: `require`, `auto` or `off`.
    #[serde(default)]
    pub require_message_authenticator: MessageAuthenticatorPolicy,
    /// The tenant this NAS belongs to: its requests see that tenant's users and groups
    /// (plus global ones). Unset: global (plain FreeRADIUS behaviour).
    #[serde(default)]
    pub tenant: Option<String>,
}

fn default_coa_port() -> u16 {
    3799
}

/// What an empty `[[nas]]` entry gives (the required `address` and `secret` empty).
impl Default for NasConfig {
    fn default() -> Self {
        Self {
            address: String::new(),
            secret: String::new(),
            name: None,
            coa_port: default_coa_port(),
            require_message_authenticator: MessageAuthenticatorPolicy::default(),
            tenant: None,
        }
    }
}

impl std::fmt::Debug for NasConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NasConfig")
            .field("address", &self.address)
            .field("secret", &"***")
            .field("name", &self.name)
            .field("coa_port", &self.coa_port)
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .finish()
    }
}

impl NasConfig {
    /// The address as a network (a bare IP is a host network).
    pub fn network(&self) -> Option<IpNet> {
        parse_network(&self.address)
    }
}

/// Parse `10.0.0.1`, `10.0.0.0/24` or an IPv6 equivalent into a network.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    text.parse::<IpNet>().ok().map(|n| n.trunc())
}

impl Config {
    /// Read and validate a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        Self::from_str_named(&file, &text)
    }

    /// Parse and validate text; `file` names it in problems.
    pub fn from_str_named(file: &str, text: &str) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem {
                    file: file.to_owned(),
                    key: String::new(),
                    message: format!("TOML syntax error: {}", e.to_string().trim_end()),
                });
                return Err(ConfigError::Invalid(problems));
            }
        };
        check::prune_root(&mut table, file, &mut problems);
        let config = match Self::deserialize(toml::Value::Table(table)) {
            Ok(c) => c,
            Err(e) => {
                // Pruning should have removed everything that fails; keep the message anyway.
                problems.push(Problem {
                    file: file.to_owned(),
                    key: String::new(),
                    message: e.to_string().trim_end().to_owned(),
                });
                return Err(ConfigError::Invalid(problems));
            }
        };
        config.validate_into(file, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Apply environment overrides (`DATABASE_URL`, `REDIS_URL`,
    /// `HOTSPOT_RADIUS_JOURNAL_DIR`) from `lookup`.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(url) = lookup("DATABASE_URL").filter(|u| !u.is_empty()) {
            self.database.url = Some(url);
        }
        if let Some(url) = lookup("REDIS_URL").filter(|u| !u.is_empty()) {
            self.redis.url = Some(url);
        }
        if let Some(dir) = lookup("HOTSPOT_RADIUS_JOURNAL_DIR").filter(|d| !d.is_empty()) {
            self.accounting.journal_dir = dir.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        let c = Config::from_str_named("x.toml", "").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.server.auth_addr.port(), 1812);
        assert_eq!(c.server.acct_addr.port(), 1813);
    }

    #[test]
    fn every_problem_is_listed_with_key_and_file() {
        let text = r#"
bogus = 1
[server]
auth_addr = "nope"
colour = "blue"
max_inflight = 0
[[nas]]
address = "10.0.0.0/33"
[[nas]]
address = "10.1.0.0/16"
secret = "s"
require_message_authenticator = "sometimes"
"#;
        let err = Config::from_str_named("f.toml", text).unwrap_err();
        let msgs = err.problems();
        let joined = msgs.join("\n");
        for key in [
            "`bogus`",
            "`server.auth_addr`",
            "`server.colour`",
            "`server.max_inflight`",
            "`nas[0].address`",
            "`nas[0].secret`",
            "`nas[1].require_message_authenticator`",
        ] {
            assert!(joined.contains(key), "{key} missing from:\n{joined}");
        }
        assert!(msgs.iter().all(|m| m.starts_with("f.toml: ")), "{joined}");
        assert!(joined.contains("`server.colour`: unknown key"), "{joined}");
    }

    #[test]
    fn admin_token_is_redacted_and_not_doubled() {
        let c = Config::from_str_named("t.toml", "[admin]\ntoken = \"hunter2\"\n").unwrap();
        assert_eq!(c.admin.token(), Some("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Config::from_str_named("t.toml", "[admin]\ntoken = \"\"\n").unwrap();
        assert_eq!(c.admin.token(), None, "empty: read-only");
        let text = "[admin]\ntoken = \"a\"\ntoken_file = \"/etc/t\"\n";
        let joined = Config::from_str_named("t.toml", text)
            .unwrap_err()
            .problems()
            .join("\n");
        assert!(joined.contains("`admin.token_file`"), "{joined}");
    }

    #[test]
    fn env_overrides_urls() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "DATABASE_URL" => Some("postgres://a/b".into()),
            _ => None,
        });
        assert_eq!(c.database.url.as_deref(), Some("postgres://a/b"));
        assert_eq!(c.redis.url, None);
    }

    #[test]
    fn networks_parse() {
        assert_eq!(parse_network("10.0.0.1").unwrap().prefix_len(), 32);
        assert_eq!(
            parse_network("10.0.0.7/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert!(parse_network("x").is_none());
    }
}
