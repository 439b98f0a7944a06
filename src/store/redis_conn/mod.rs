//! The one way the server talks to Redis, whatever the deployment: a single server
//! (`redis://`, `rediss://`, `redis+unix://`, `unix://`), a Sentinel-managed primary
//! (`redis+sentinel://`, `rediss+sentinel://`) or a Redis Cluster (`redis+cluster://`,
//! `rediss+cluster://`). The L2 tier, the session store and the CLI all get a
//! [`RedisClient`] from [`client`] and a [`RedisConnection`] from it, which every
//! `redis::Cmd`, `redis::Pipeline` and `redis::Script` runs on unchanged.
//!
//! * Single server: one multiplexed, auto-reconnecting `ConnectionManager`, as before.
//! * Sentinel: the sentinels are asked for the primary of the named service; one
//!   multiplexed connection to it is kept until it fails (connection refused or dropped,
//!   a timeout, a `READONLY` reply from a demoted primary); the next command then asks the
//!   sentinels again, so after a failover the promoted replica is found on its own.
//! * Cluster: the redis crate's cluster connection (slot map, `MOVED`/`ASK`, topology
//!   refresh). A command must touch one slot (multi-key `MGET`/`DEL` are split by the
//!   crate); callers that run scripts or pipelines keep their keys under one hash tag.
//!
//! Nothing here retries for long: every caller bounds each operation with its own timeout
//! and treats a failure as "Redis unavailable" (L1/PostgreSQL answer meanwhile).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ClientTlsConfig, Cmd, ConnectionAddr, ErrorKind, FromRedisValue,
    IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, TlsCertificates, TlsMode,
    Value,
};

use super::StoreError;
use super::redis::RedisEndpoint;

mod sentinel;
use sentinel::SentinelLink;

/// Default port of a sentinel address given without one.
const SENTINEL_PORT: u16 = 26379;
/// Default port of a cluster node given without one.
const REDIS_PORT: u16 = 6379;

/// The deployment a `[redis] url` names. Its `Debug` hides passwords.
#[derive(Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server (`redis://`, `rediss://`, `redis+unix://`, `unix://`).
    Standalone {
        /// The URL, as the redis crate reads it.
        url: String,
    },
    /// A primary found through sentinels:
    /// `redis[s]+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db]`.
    Sentinel {
        /// The sentinels (host, port).
        sentinels: Vec<(String, u16)>,
        /// The service (master) name the sentinels monitor.
        service: String,
        /// TLS to the sentinels and to the primary.
        tls: bool,
        /// `user:password` for the primary (percent-encoded, as in the URL).
        userinfo: Option<String>,
        /// Database number on the primary.
        db: i64,
    },
    /// A Redis Cluster: `redis[s]+cluster://[user:password@]host[:port][,host[:port]...]`.
    Cluster {
        /// One `redis://` / `rediss://` URL per seed node (credentials included).
        nodes: Vec<String>,
    },
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Standalone { url } => f
                .debug_struct("Standalone")
                .field("url", &super::redact_url(url))
                .finish(),
            Self::Sentinel {
                sentinels,
                service,
                tls,
                userinfo,
                db,
            } => f
                .debug_struct("Sentinel")
                .field("sentinels", sentinels)
                .field("service", service)
                .field("tls", tls)
                .field("userinfo", &userinfo.as_ref().map(|_| "<redacted>"))
                .field("db", db)
                .finish(),
            Self::Cluster { nodes } => {
                let nodes: Vec<String> = nodes.iter().map(|n| super::redact_url(n)).collect();
                f.debug_struct("Cluster").field("nodes", &nodes).finish()
            }
        }
    }
}

impl Topology {
    /// Reads a `[redis] url`; the error says what is wrong with it.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some((rest, tls)) = strip_scheme(url, "sentinel") {
            let (userinfo, hosts, path) = split_url(rest);
            let sentinels = parse_hosts(hosts, SENTINEL_PORT)?;
            let mut segments = path.trim_end_matches('/').split('/');
            let service = segments
                .next()
                .filter(|s| !s.is_empty())
                .ok_or("a Sentinel URL names the service after the addresses: …/mymaster")?;
            let db = match segments.next() {
                None => 0,
                Some(d) => d
                    .parse()
                    .map_err(|_| format!("database number {d:?} is not a number"))?,
            };
            if segments.next().is_some() {
                return Err("a Sentinel URL's path is /service or /service/db".into());
            }
            return Ok(Self::Sentinel {
                sentinels,
                service: service.to_owned(),
                tls,
                userinfo: userinfo.map(str::to_owned),
                db,
            });
        }
        if let Some((rest, tls)) = strip_scheme(url, "cluster") {
            let (userinfo, hosts, path) = split_url(rest);
            if !path.trim_matches('/').is_empty() {
                return Err("a Cluster URL has no path (a cluster has only database 0)".into());
            }
            let scheme = if tls { "rediss" } else { "redis" };
            let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
            let nodes = parse_hosts(hosts, REDIS_PORT)?
                .into_iter()
                .map(|(h, p)| format!("{scheme}://{auth}{}:{p}", bracket(&h)))
                .collect();
            return Ok(Self::Cluster { nodes });
        }
        Ok(Self::Standalone {
            url: url.to_owned(),
        })
    }

    /// `standalone`, `sentinel` or `cluster` (logs and status output).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Standalone { .. } => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }

    /// Whether connections use TLS (the certificate files apply).
    pub fn is_tls(&self) -> bool {
        match self {
            Self::Standalone { url } => url.starts_with("rediss://"),
            Self::Sentinel { tls, .. } => *tls,
            Self::Cluster { nodes } => nodes.iter().all(|n| n.starts_with("rediss://")),
        }
    }
}

/// `redis+KIND://` → (rest, false), `rediss+KIND://` → (rest, true).
fn strip_scheme<'a>(url: &'a str, kind: &str) -> Option<(&'a str, bool)> {
    let (scheme, rest) = url.split_once("://")?;
    match scheme.strip_suffix(kind)?.strip_suffix('+')? {
        "redis" => Some((rest, false)),
        "rediss" => Some((rest, true)),
        _ => None,
    }
}

/// `[userinfo@]hosts[/path]` → (userinfo, hosts, path).
fn split_url(rest: &str) -> (Option<&str>, &str, &str) {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo).filter(|u| !u.is_empty()), hosts, path),
        None => (None, authority, path),
    }
}

/// `host[:port],[v6]:port,...`.
fn parse_hosts(hosts: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    let mut out = Vec::new();
    for item in hosts.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("an empty address in the host list".into());
        }
        let (host, port) = if let Some(v6) = item.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{item:?}: unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match item.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (item, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse()
                .map_err(|_| format!("{item:?}: the port is not a number"))?,
        };
        if host.is_empty() {
            return Err(format!("{item:?}: no host"));
        }
        out.push((host.to_owned(), port));
    }
    Ok(out)
}

/// An IPv6 literal gets its brackets back for a URL.
fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Reads one of the endpoint's PEM files.
fn read_pem(path: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|source| StoreError::RedisFile {
        path: path.to_owned(),
        source,
    })
}

/// Where Redis is (any topology) and how to trust it; nothing connects yet. Cheap to
/// clone.
#[derive(Clone)]
pub struct RedisClient {
    topology: Topology,
    /// CA and client certificate from the endpoint's files, when any is named.
    certs: Option<TlsCertificates>,
    /// The single-server client.
    standalone: Option<redis::Client>,
    /// The cluster client.
    cluster: Option<ClusterClient>,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("topology", &self.topology.kind())
            .finish_non_exhaustive()
    }
}

/// The Redis client for `endpoint` (nothing connects yet). With any of the certificate
/// files, the URL must be a TLS one (`rediss://`, `rediss+sentinel://`,
/// `rediss+cluster://`); without them a TLS server is verified against the system trust
/// store.
pub fn client(endpoint: &RedisEndpoint<'_>) -> Result<RedisClient, StoreError> {
    let topology = Topology::parse(endpoint.url).map_err(StoreError::RedisUrl)?;
    let client_tls = match (endpoint.cert_file, endpoint.key_file) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read_pem(cert)?,
            client_key: read_pem(key)?,
        }),
        (None, None) => None,
        _ => return Err(StoreError::RedisCertPair),
    };
    let root_cert = endpoint.ca_file.map(read_pem).transpose()?;
    let certs = (client_tls.is_some() || root_cert.is_some()).then_some(TlsCertificates {
        client_tls,
        root_cert,
    });
    let standalone = match (&topology, &certs) {
        (Topology::Standalone { url }, None) => Some(redis::Client::open(url.as_str())?),
        (Topology::Standalone { url }, Some(c)) => {
            Some(redis::Client::build_with_tls(url.as_str(), c.clone())?)
        }
        _ => None,
    };
    let cluster = match &topology {
        Topology::Cluster { nodes } => {
            let mut b = ClusterClientBuilder::new(nodes.clone())
                // A dead node fails fast; the caller's timeout bounds the rest.
                .retries(2)
                .min_retry_wait(10)
                .max_retry_wait(100);
            if let Some(c) = &certs {
                b = b.certs(c.clone());
            }
            Some(b.build()?)
        }
        _ => None,
    };
    if let Topology::Sentinel { .. } = &topology {
        // Checked now so a bad URL fails at start-up, not at the first command.
        sentinel_client(&topology, certs.as_ref())?;
    }
    Ok(RedisClient {
        topology,
        certs,
        standalone,
        cluster,
    })
}

/// A sentinel client for the primary of `topology` (a Sentinel topology).
fn sentinel_client(
    topology: &Topology,
    certs: Option<&TlsCertificates>,
) -> RedisResult<SentinelClient> {
    let Topology::Sentinel {
        sentinels,
        service,
        tls,
        userinfo,
        db,
    } = topology
    else {
        return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "not a Sentinel topology",
        )));
    };
    let addrs = sentinels.iter().map(|(host, port)| {
        if *tls {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let mut b = SentinelClientBuilder::new(addrs, service, SentinelServerType::Master)?
        .set_client_to_redis_db(*db);
    // The URL's credentials (percent-decoded by the crate's own URL reader) are the
    // primary's; the sentinels are asked without any.
    if let Some(userinfo) = userinfo {
        let info = format!("redis://{userinfo}@localhost/").into_connection_info()?;
        let settings = info.redis_settings();
        if let Some(user) = settings.username() {
            b = b.set_client_to_redis_username(user);
        }
        if let Some(password) = settings.password() {
            b = b.set_client_to_redis_password(password);
        }
    }
    if *tls {
        b = b
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(c) = certs {
            b = b
                .set_client_to_redis_certificates(c.clone())
                .set_client_to_sentinel_certificates(c.clone());
        }
    }
    b.build()
}

impl RedisClient {
    /// The deployment this client talks to.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// A connection that connects on first use (a Redis that is down now only means
    /// failed commands until it is back), with `timeout` on connecting and on each reply.
    /// Must run inside tokio.
    pub fn connect_lazy(&self, timeout: Duration) -> RedisResult<RedisConnection> {
        let link = match &self.topology {
            Topology::Standalone { .. } => {
                let client = self.standalone.clone().ok_or_else(|| {
                    RedisError::from((ErrorKind::InvalidClientConfig, "no client"))
                })?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(0)
                    .set_max_delay(Duration::from_secs(1));
                Link::Standalone(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            Topology::Sentinel { .. } => Link::Sentinel(Arc::new(SentinelLink::new(
                sentinel_client(&self.topology, self.certs.as_ref())?,
                AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout)),
                timeout,
            ))),
            Topology::Cluster { .. } => {
                let client = self.cluster.as_ref().ok_or_else(|| {
                    RedisError::from((ErrorKind::InvalidClientConfig, "no cluster client"))
                })?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Link::Cluster(client.get_pending_async_connection_with_config(config))
            }
        };
        Ok(RedisConnection(link))
    }
}

/// A connection to Redis over any topology; cheap to clone (clones share the
/// underlying connections). Commands, pipelines and scripts run on it as on any
/// `redis::aio::ConnectionLike`.
#[derive(Clone)]
pub struct RedisConnection(Link);

#[derive(Clone)]
enum Link {
    Standalone(ConnectionManager),
    Sentinel(Arc<SentinelLink>),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.0 {
            Link::Standalone(_) => "standalone",
            Link::Sentinel(_) => "sentinel",
            Link::Cluster(_) => "cluster",
        };
        f.debug_tuple("RedisConnection").field(&kind).finish()
    }
}

impl RedisConnection {
    /// Whether this is a Redis Cluster (a command may only touch one slot; `SCAN` sees
    /// one node).
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Link::Cluster(_))
    }

    /// Runs a keyless `cmd` (such as `SCAN`) on the node that holds `key`'s slot: on a
    /// cluster the primary of that slot, elsewhere the one server.
    pub async fn query_at<T: FromRedisValue>(&mut self, key: &str, cmd: &Cmd) -> RedisResult<T> {
        match &mut self.0 {
            Link::Cluster(c) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                let value = c.route_command(cmd.clone(), routing).await?;
                Ok(T::from_redis_value(value)?)
            }
            _ => cmd.query_async(self).await,
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Link::Standalone(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
            Link::Sentinel(s) => {
                let s = Arc::clone(s);
                Box::pin(async move { s.command(cmd).await })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Link::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Sentinel(s) => {
                let s = Arc::clone(s);
                Box::pin(async move { s.pipeline(pipeline, offset, count).await })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Link::Standalone(c) => c.get_db(),
            Link::Sentinel(_) | Link::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls() {
        let t = Topology::parse("redis+sentinel://:pw@10.0.0.1:26379,s2,[::1]:26380/mymaster/2")
            .unwrap();
        assert_eq!(
            t,
            Topology::Sentinel {
                sentinels: vec![
                    ("10.0.0.1".into(), 26379),
                    ("s2".into(), SENTINEL_PORT),
                    ("::1".into(), 26380)
                ],
                service: "mymaster".into(),
                tls: false,
                userinfo: Some(":pw".into()),
                db: 2,
            }
        );
        assert!(
            Topology::parse("rediss+sentinel://s1/m").unwrap().is_tls(),
            "rediss+sentinel is TLS"
        );
        for bad in [
            "redis+sentinel://s1:26379",
            "redis+sentinel://s1:26379/",
            "redis+sentinel://s1:x/m",
            "redis+sentinel://s1,,s2/m",
            "redis+sentinel://s1/m/db",
            "redis+sentinel://s1/m/0/extra",
        ] {
            assert!(Topology::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn cluster_urls() {
        let t = Topology::parse("redis+cluster://u:p%40ss@a:7000,b,[::1]:7002/").unwrap();
        assert_eq!(
            t,
            Topology::Cluster {
                nodes: vec![
                    "redis://u:p%40ss@a:7000".into(),
                    "redis://u:p%40ss@b:6379".into(),
                    "redis://u:p%40ss@[::1]:7002".into(),
                ]
            }
        );
        assert!(Topology::parse("rediss+cluster://a:1").unwrap().is_tls());
        assert!(Topology::parse("redis+cluster://a:1/3").is_err());
    }

    #[test]
    fn debug_hides_passwords() {
        for url in [
            "redis+sentinel://u:s3cret@h/m",
            "redis+cluster://u:s3cret@a:1,b:2",
            "redis://u:s3cret@h/0",
        ] {
            let shown = format!("{:?}", Topology::parse(url).unwrap());
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn other_urls_are_one_server() {
        for url in ["redis://h:1/0", "rediss://h/", "unix:///run/r.sock"] {
            assert_eq!(
                Topology::parse(url).unwrap(),
                Topology::Standalone { url: url.into() }
            );
        }
    }
}
