//! Checking a configuration: every unknown or ill-typed key is pruned and reported (so
//! one bad key does not hide the others), then every value is validated. Each problem
//! names the file and the dotted key.

use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::schema::{self, names_of, nearest, section_keys};
use super::{
    AccountingConfig, AdminConfig, CacheConfig, Config, DatabaseConfig, LogConfig,
    MessageAuthenticatorPolicy, NasConfig, PostAuthConfig, PostAuthLog, RadsecConfig, RedisConfig,
    ServerConfig, SessionsConfig,
};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or `<environment>` / `<defaults>`).
    pub file: String,
    /// Dotted key path (`server.auth_addr`, `nas[2].secret`); empty for file-level errors.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: key `{}`: {}", self.file, self.key, self.message)
        }
    }
}

/// Configuration could not be loaded; lists every problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// Path.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file was read but is not valid; every problem found.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

fn render_problems(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl ConfigError {
    /// The problems (one for an I/O error).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Io { .. } => vec![self.to_string()],
            Self::Invalid(p) => p.iter().map(ToString::to_string).collect(),
        }
    }
}

impl Config {
    /// Problems in the values themselves (types are already right).
    pub fn validate(&self, file: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.validate_into(file, &mut problems);
        problems
    }

    pub(super) fn validate_into(&self, file: &str, problems: &mut Vec<Problem>) {
        let mut bad = |key: String, message: String| {
            problems.push(Problem {
                file: file.to_owned(),
                key,
                message,
            })
        };
        let s = &self.server;
        if s.receivers == 0 || s.receivers > 64 {
            bad("server.receivers".into(), "must be in 1..=64".into());
        }
        if s.max_inflight == 0 {
            bad("server.max_inflight".into(), "must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.admin.per_tenant_metrics_cap) {
            bad(
                "admin.per_tenant_metrics_cap".into(),
                "must be 1 to 10000".into(),
            );
        }
        if s.max_misses_per_nas == 0 {
            bad(
                "server.max_misses_per_nas".into(),
                "must be at least 1".into(),
            );
        }
        if s.dedup_capacity == 0 {
            bad("server.dedup_capacity".into(), "must be at least 1".into());
        }
        if s.dedup_ttl_ms > 60_000 {
            bad("server.dedup_ttl_ms".into(), "must be at most 60000".into());
        }
        if s.reject_delay_ms > 10_000 {
            bad(
                "server.reject_delay_ms".into(),
                "must be at most 10000".into(),
            );
        }
        if s.auth_addr == s.acct_addr && s.auth_addr.port() != 0 {
            bad(
                "server.acct_addr".into(),
                "must differ from server.auth_addr".into(),
            );
        }
        self.radsec.validate(&mut bad);
        if self.admin.token().is_some() && self.admin.token_file.is_some() {
            bad(
                "admin.token_file".into(),
                "set admin.token or admin.token_file, not both".into(),
            );
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bad(
                "database.url".into(),
                "must start with postgres:// or postgresql://".into(),
            );
        }
        for (key, url) in [
            ("database.listen_url", &self.database.listen_url),
            ("database.replica_url", &self.database.replica_url),
        ] {
            if let Some(url) = url
                && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
            {
                bad(
                    key.into(),
                    "must start with postgres:// or postgresql://".into(),
                );
            }
        }
        if self.database.pgbouncer && self.database.listen_url.is_none() {
            bad(
                "database.listen_url".into(),
                "must be set when database.pgbouncer = true (LISTEN and migrations need a \
                 session of their own: PostgreSQL itself, not PgBouncer)"
                    .into(),
            );
        }
        if !(1..=3600).contains(&self.cache.listener_probe_secs) {
            bad(
                "cache.listener_probe_secs".into(),
                "must be between 1 and 3600".into(),
            );
        }
        if self.database.pool_size == 0 {
            bad("database.pool_size".into(), "must be at least 1".into());
        }
        if let Some(url) = &self.redis.url
            && !REDIS_SCHEMES.iter().any(|s| url.starts_with(s))
        {
            bad(
                "redis.url".into(),
                "must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, \
                 redis+cluster://, rediss+cluster://, redis+unix:// or unix://"
                    .into(),
            );
        }
        self.redis.validate_tls(&mut bad);
        let a = &self.accounting;
        if a.journal_dir.as_os_str().is_empty() {
            bad("accounting.journal_dir".into(), "must not be empty".into());
        }
        if a.journal_segment_bytes < 4096 || a.journal_segment_bytes > a.journal_max_bytes {
            bad(
                "accounting.journal_segment_bytes".into(),
                "must be at least 4096 and at most accounting.journal_max_bytes".into(),
            );
        }
        for (key, value) in [
            ("accounting.max_batch", a.max_batch),
            ("accounting.queue", a.queue),
            ("accounting.writers", a.writers),
        ] {
            if value == 0 {
                bad(key.into(), "must be at least 1".into());
            }
        }
        if a.writers > 64 {
            bad("accounting.writers".into(), "must be at most 64".into());
        }
        if a.write_timeout_ms == 0 {
            bad(
                "accounting.write_timeout_ms".into(),
                "must be at least 1".into(),
            );
        }
        let sess = &self.sessions;
        if sess.time_zone.parse::<chrono_tz::Tz>().is_err() {
            bad(
                "sessions.time_zone".into(),
                format!(
                    "invalid value \"{}\": {}{}",
                    sess.time_zone,
                    expected_form("sessions", "time_zone"),
                    did_you_mean(nearest_time_zone(&sess.time_zone)),
                ),
            );
        }
        if sess.housekeeping_secs == 0 {
            bad(
                "sessions.housekeeping_secs".into(),
                "must be at least 1".into(),
            );
        }
        if sess.dynauth_attempts == 0 {
            bad(
                "sessions.dynauth_attempts".into(),
                "must be at least 1".into(),
            );
        }
        if sess.dynauth_timeout_ms == 0 {
            bad(
                "sessions.dynauth_timeout_ms".into(),
                "must be at least 1".into(),
            );
        }
        if self.cache.l1_capacity == 0 {
            bad("cache.l1_capacity".into(), "must be at least 1".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
            || !log_levels_named(&self.log.level)
        {
            bad(
                "log.level".into(),
                format!(
                    "invalid value \"{}\": {}",
                    self.log.level,
                    expected_form("log", "level")
                ),
            );
        }
        let mut seen: Vec<IpNet> = Vec::new();
        for (i, nas) in self.nas.iter().enumerate() {
            if nas.address.trim().is_empty() {
                bad(format!("nas[{i}].address"), "is required".into());
            } else {
                match nas.network() {
                    None => bad(
                        format!("nas[{i}].address"),
                        format!(
                            "invalid value \"{}\": {}",
                            nas.address,
                            expected_form("nas", "address")
                        ),
                    ),
                    Some(net) if seen.contains(&net) => bad(
                        format!("nas[{i}].address"),
                        format!("`{}` is listed more than once", nas.address),
                    ),
                    Some(net) => seen.push(net),
                }
            }
            if nas.secret.is_empty() {
                bad(format!("nas[{i}].secret"), "is required".into());
            }
            if nas.coa_port == 0 {
                bad(format!("nas[{i}].coa_port"), "must not be 0".into());
            }
            if let Some(t) = &nas.tenant
                && !crate::tenants::valid_name(t)
            {
                bad(
                    format!("nas[{i}].tenant"),
                    format!("invalid value \"{t}\": {}", crate::tenants::NAME_RULE),
                );
            }
        }
    }
}

/// Remove every unknown or ill-typed key from the root table, recording a problem for each.
pub(super) fn prune_root(table: &mut toml::Table, file: &str, problems: &mut Vec<Problem>) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let keep = match key.as_str() {
            "server" => prune_section::<ServerConfig>(table, &key, file, problems),
            "radsec" => prune_section::<RadsecConfig>(table, &key, file, problems),
            "admin" => prune_section::<AdminConfig>(table, &key, file, problems),
            "database" => prune_section::<DatabaseConfig>(table, &key, file, problems),
            "redis" => prune_section::<RedisConfig>(table, &key, file, problems),
            "cache" => prune_section::<CacheConfig>(table, &key, file, problems),
            "accounting" => prune_section::<AccountingConfig>(table, &key, file, problems),
            "postauth" => prune_section::<PostAuthConfig>(table, &key, file, problems),
            "sessions" => prune_section::<SessionsConfig>(table, &key, file, problems),
            "log" => prune_section::<LogConfig>(table, &key, file, problems),
            "nas" => prune_nas(table, file, problems),
            _ => {
                problems.push(Problem {
                    file: file.to_owned(),
                    key: key.clone(),
                    message: unknown_root_message(&key, table.get(&key)),
                });
                false
            }
        };
        if !keep {
            table.remove(&key);
        }
    }
}

/// Check one `[section]` key by key against `T` (every field defaults, so a one-key table
/// deserializes unless that key is unknown or ill-typed). Returns false when the section
/// itself is not a table.
fn prune_section<T: DeserializeOwned>(
    root: &mut toml::Table,
    section: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    let Some(toml::Value::Table(inner)) = root.get_mut(section) else {
        problems.push(Problem {
            file: file.to_owned(),
            key: section.to_owned(),
            message: "must be a table".into(),
        });
        return false;
    };
    prune_table::<T>(inner, section, section, file, problems);
    true
}

/// Check a table key by key against `T`; `section` names its schema (`nas`), `prefix`
/// its place in the file (`nas[2]`).
fn prune_table<T: DeserializeOwned>(
    inner: &mut toml::Table,
    section: &str,
    prefix: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) {
    let keys: Vec<String> = inner.keys().cloned().collect();
    for key in keys {
        let Some(value) = inner.get(&key) else {
            continue;
        };
        let mut one = toml::Table::new();
        one.insert(key.clone(), value.clone());
        if let Err(e) = T::deserialize(toml::Value::Table(one)) {
            let raw = e.to_string();
            let message = if raw.contains("unknown field") {
                unknown_message(&key, section)
            } else {
                // serde's first line (the rest repeats the key) says what failed; say what
                // the key takes instead.
                invalid_message(section, &key, value, raw.lines().next().unwrap_or_default())
            };
            problems.push(Problem {
                file: file.to_owned(),
                key: format!("{prefix}.{key}"),
                message,
            });
            inner.remove(&key);
        }
    }
}

fn prune_nas(root: &mut toml::Table, file: &str, problems: &mut Vec<Problem>) -> bool {
    let Some(toml::Value::Array(entries)) = root.get_mut("nas") else {
        problems.push(Problem {
            file: file.to_owned(),
            key: "nas".into(),
            message: "must be an array of tables ([[nas]])".into(),
        });
        return false;
    };
    let mut ok = true;
    for (i, entry) in entries.iter_mut().enumerate() {
        match entry {
            toml::Value::Table(t) => {
                prune_table::<NasConfig>(t, "nas", &format!("nas[{i}]"), file, problems)
            }
            _ => {
                problems.push(Problem {
                    file: file.to_owned(),
                    key: format!("nas[{i}]"),
                    message: "must be a table".into(),
                });
                ok = false;
            }
        }
    }
    ok
}

/// `unknown section [sever] (did you mean [server]?)`, or for a plain key at the top level
/// `unknown key "receivers" at the top level (it belongs in [server])`.
fn unknown_root_message(key: &str, value: Option<&toml::Value>) -> String {
    let near = nearest(key, names_of::<Config>()).map(|name| {
        let section = schema::sections().into_iter().find(|s| s.name == name);
        section.map_or_else(|| format!("[{name}]"), |s| s.header())
    });
    match value {
        Some(toml::Value::Table(_)) | Some(toml::Value::Array(_)) => {
            let hint = near
                .map(|h| format!(" (did you mean {h}?)"))
                .unwrap_or_default();
            format!("unknown section [{key}]{hint}")
        }
        _ => {
            let hint = near.map_or_else(
                || belongs_in(key, None),
                |h| format!(" (did you mean {h}?)"),
            );
            format!("unknown key \"{key}\" at the top level{hint}")
        }
    }
}

/// `unknown key "recievers" in [server] (did you mean "receivers"?)`.
fn unknown_message(key: &str, section: &str) -> String {
    let known = section_keys(section).unwrap_or_default();
    let hint = match nearest(key, known) {
        Some(name) => format!(" (did you mean \"{name}\"?)"),
        None => belongs_in(key, Some(section)),
    };
    let header = if section == "nas" {
        "[[nas]]".to_owned()
    } else {
        format!("[{section}]")
    };
    format!("unknown key \"{key}\" in {header}{hint}")
}

/// ` (did you mean "x"?)`, or nothing.
fn did_you_mean(name: Option<&str>) -> String {
    name.map(|n| format!(" (did you mean \"{n}\"?)"))
        .unwrap_or_default()
}

/// ` (it belongs in [database])` when `key` is a key of another section, else nothing.
fn belongs_in(key: &str, here: Option<&str>) -> String {
    schema::sections()
        .into_iter()
        .find(|s| Some(s.name) != here && s.keys.contains(&key))
        .map(|s| format!(" (it belongs in {})", s.header()))
        .unwrap_or_default()
}

/// A value of the right TOML type but wrong form, or of the wrong type: what was given and
/// what the key takes. `detail` is the deserializer's own first line.
fn invalid_message(section: &str, key: &str, value: &toml::Value, detail: &str) -> String {
    let given = match value {
        toml::Value::Table(_) => "(a table)".to_owned(),
        toml::Value::Array(_) => "(an array)".to_owned(),
        other => other.to_string(),
    };
    let expected = expected_form(section, key);
    match (value, schema::default_value(section, key)) {
        (toml::Value::Integer(n), Some(toml::Value::Integer(_))) => {
            let why = if *n < 0 {
                "must not be negative"
            } else {
                "is too large"
            };
            format!("{given} {why}: {expected}")
        }
        (toml::Value::String(_), _) if detail.contains("unknown variant") => {
            format!("invalid value {given}: {expected}")
        }
        (toml::Value::String(_), Some(toml::Value::String(_))) | (toml::Value::String(_), None) => {
            format!("invalid value {given} ({detail}): {expected}")
        }
        _ => format!("invalid value {given}: {expected}"),
    }
}

/// What a key's value must look like, with an example, for messages about a wrong one.
pub(super) fn expected_form(section: &str, key: &str) -> String {
    let default = schema::default_value(section, key);
    let example = default
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    match (section, key) {
        ("nas", "address") => {
            "expected an IP address or a CIDR network, e.g. \"192.168.88.1\" or \"10.10.0.0/16\""
                .into()
        }
        ("nas", "require_message_authenticator") => {
            one_of(names_of::<MessageAuthenticatorPolicy>())
        }
        ("postauth", "log") => one_of(names_of::<PostAuthLog>()),
        ("sessions", "time_zone") => {
            "expected an IANA time zone name, e.g. \"Asia/Jakarta\", \"Europe/Berlin\" or \"UTC\""
                .into()
        }
        ("log", "level") => "expected a log level: \"error\", \"warn\", \"info\", \"debug\", \
                             \"trace\" or \"off\", or per-module filters such as \
                             \"info,hotspot_radius=debug\""
            .into(),
        ("redis", k) if k == "url" || k.ends_with("_url") => {
            "expected a URL string, e.g. \"redis://127.0.0.1:6379/0\"".into()
        }
        (_, k) if k == "url" || k.ends_with("_url") => {
            "expected a URL string, e.g. \"postgres://radius:password@127.0.0.1/radius\"".into()
        }
        (_, k) if k == "addr" || k.ends_with("_addr") => {
            let example = match default {
                Some(toml::Value::String(s)) => s,
                _ => "0.0.0.0:1812".into(),
            };
            format!("expected IP:PORT, e.g. {example}")
        }
        (_, k) if k.ends_with("_ms") => {
            format!("expected a whole number of milliseconds, e.g. {example}")
        }
        (_, k) if k.ends_with("_secs") => {
            format!("expected a whole number of seconds, e.g. {example}")
        }
        (_, k) if k.ends_with("_days") => {
            format!("expected a whole number of days, e.g. {example}")
        }
        (_, k) if k.ends_with("_bytes") => {
            format!("expected a whole number of bytes, e.g. {example}")
        }
        _ => match default {
            Some(toml::Value::Integer(_)) => format!("expected a whole number, e.g. {example}"),
            Some(toml::Value::Boolean(_)) => "expected true or false".into(),
            Some(toml::Value::String(_)) => format!("expected a string, e.g. {example}"),
            _ => "expected a string".into(),
        },
    }
}

/// `expected one of "require", "auto", "off"`.
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("expected one of {}", quoted.join(", "))
}

/// The IANA zone nearest to a wrong name: the same but for case, or one edit away in four
/// letters (at most two), so a short abbreviation such as `WIB` gets no wild guess.
fn nearest_time_zone(name: &str) -> Option<&'static str> {
    let wanted = name.trim().to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .map(|n| (schema::edit_distance(&wanted, &n.to_ascii_lowercase()), n))
        .filter(|(d, _)| *d <= 2 && *d * 4 <= wanted.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The `[redis] url` schemes: one server, Sentinel, Cluster (TLS: `rediss…`), Unix socket.
const REDIS_SCHEMES: [&str; 8] = [
    "redis://",
    "rediss://",
    "redis+sentinel://",
    "rediss+sentinel://",
    "redis+cluster://",
    "rediss+cluster://",
    "redis+unix://",
    "unix://",
];

impl RedisConfig {
    /// The TLS files: a client certificate needs its key (and the other way round), and
    /// any of them needs a `rediss://` URL.
    fn validate_tls(&self, bad: &mut impl FnMut(String, String)) {
        if self.cert_file.is_some() != self.key_file.is_some() {
            bad(
                "redis.cert_file".into(),
                "cert_file and key_file go together (mutual TLS needs both)".into(),
            );
        }
        let tls_file = [
            ("redis.ca_file", &self.ca_file),
            ("redis.cert_file", &self.cert_file),
            ("redis.key_file", &self.key_file),
        ]
        .into_iter()
        .find(|(_, f)| f.is_some());
        if let (Some((key, _)), Some(url)) = (tls_file, &self.url)
            && !url.starts_with("rediss://")
            && !url.starts_with("rediss+")
        {
            bad(
                key.into(),
                "needs a TLS URL (rediss://, rediss+sentinel://, rediss+cluster://) in redis.url"
                    .into(),
            );
        }
    }
}

/// Every directive of a log filter ends in a level name: `info`, `hotspot_radius=debug`.
/// (`tracing`'s own parser takes a bare word such as `verbose` as a module name, which
/// silences every other log line.)
fn log_levels_named(filter: &str) -> bool {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .all(|d| {
            let level = d.rsplit_once('=').map_or(d, |(_, l)| l);
            LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level.trim()))
        })
}

#[cfg(test)]
mod log_level_tests {
    use super::log_levels_named;

    #[test]
    fn only_level_names_pass() {
        for good in [
            "info",
            "WARN",
            "info,hotspot_radius=debug",
            "off",
            "sqlx=warn",
        ] {
            assert!(log_levels_named(good), "{good}");
        }
        for bad in ["verbose", "info,verbose", "hotspot_radius=loud"] {
            assert!(!log_levels_named(bad), "{bad}");
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod message_tests;

#[cfg(test)]
mod redis_tls_tests {
    use super::super::Config;

    fn problems(text: &str) -> String {
        match Config::from_str_named("r.toml", text) {
            Ok(_) => String::new(),
            Err(e) => e.problems().join("\n"),
        }
    }

    #[test]
    fn tls_files_need_rediss_and_come_in_pairs() {
        let ok = "[redis]\nurl = \"rediss://r:6380/\"\nca_file = \"/ca.pem\"\n\
                  cert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n";
        assert_eq!(problems(ok), "");
        let plain = "[redis]\nurl = \"redis://r:6379/\"\nca_file = \"/ca.pem\"\n";
        assert!(
            problems(plain).contains("`redis.ca_file`: needs a TLS URL"),
            "{}",
            problems(plain)
        );
        let half = "[redis]\nurl = \"rediss://r:6380/\"\ncert_file = \"/c.pem\"\n";
        assert!(
            problems(half).contains("`redis.cert_file`: cert_file and key_file go together"),
            "{}",
            problems(half)
        );
    }
}
