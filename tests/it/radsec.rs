//! RadSec (RFC 6614) end to end, over real PostgreSQL: FreeRADIUS 3.2 as a RadSec proxy
//! (a client nobody here wrote) forwarding `radclient` traffic to us over mutual TLS; and
//! our own TLS client for what a proxy cannot show (refused certificates, pipelining,
//! a broken Length field). The certificates are a throwaway PKI made with `openssl`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hotspot_radius::app;
use hotspot_radius::config::Config;
use radius_proto::protocol::{Code, Packet, ReplyVector, Signer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::harness::{self, KillOnDrop};
use crate::tls::{make_ca, make_leaf};
use crate::udp_access::{Method, Nas, dropped_count};

/// The shared secret of every RadSec connection (RFC 6614 §2.3).
const RADSEC: &str = "radsec";
/// The NAS row's UDP secret: never used over RadSec.
const UDP_SECRET: &str = "udp-only-secret";
/// Bound on waiting for anything that must happen.
const WAIT: Duration = Duration::from_secs(10);

/// A throwaway PKI: a CA with a server certificate (localhost, 127.0.0.1) and a client
/// certificate, and a client certificate from another CA.
struct Pki {
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    stranger: (PathBuf, PathBuf),
    /// From the CA, naming the NAS entry (`router1`) as a DNS subjectAltName.
    named: (PathBuf, PathBuf),
    /// From the CA, naming another router.
    misnamed: (PathBuf, PathBuf),
}

impl Pki {
    fn make() -> Self {
        let dir = harness::fresh_dir("radsec-pki");
        let ca = make_ca(&dir, "ca", "RadSec test CA");
        let server = make_leaf(
            &dir,
            "server",
            "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        );
        let client = make_leaf(&dir, "router1", "extendedKeyUsage=clientAuth\n");
        let named = make_leaf(
            &dir,
            "named",
            "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:router1\n",
        );
        let misnamed = make_leaf(
            &dir,
            "misnamed",
            "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:router9\n",
        );
        let other = harness::fresh_dir("radsec-other-ca");
        make_ca(&other, "ca", "some other CA");
        let stranger = make_leaf(&other, "router2", "extendedKeyUsage=clientAuth\n");
        Self {
            ca,
            server,
            client,
            stranger,
            named,
            misnamed,
        }
    }
}

/// A NAS row for 127.0.0.1 (with a UDP secret RadSec must not use) and user alice, with
/// reply items.
async fn seed(pool: &PgPool) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO nas (nasname, shortname, type, secret) \
         VALUES ('127.0.0.1', 'router1', 'other', '{UDP_SECRET}');
         INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('alice', 'Cleartext-Password', ':=', 'wonderland');
         INSERT INTO radreply (username, attribute, op, value) \
         VALUES ('alice', 'Session-Timeout', ':=', '3600'),
                ('alice', 'Mikrotik-Rate-Limit', ':=', '2M/4M');"
    )))
    .execute(pool)
    .await
    .expect("seed");
}

/// Our server with RadSec on a free loopback port, over a fresh seeded database.
async fn start(pki: &Pki) -> (app::Running, PgPool) {
    start_with(pki, |_| {}).await
}

/// [`start`], with `tweak` applied to the configuration first.
async fn start_with(pki: &Pki, tweak: impl FnOnce(&mut Config)) -> (app::Running, PgPool) {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.enabled = false;
    c.database.url = Some(url);
    c.database.pool_size = 2;
    c.server.shutdown_timeout_secs = 5;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c.radsec.addr = Some("127.0.0.1:0".parse().unwrap());
    c.radsec.cert_file = Some(pki.server.0.clone());
    c.radsec.key_file = Some(pki.server.1.clone());
    c.radsec.ca_file = Some(pki.ca.clone());
    tweak(&mut c);
    let server = app::start(c, None)
        .await
        .expect("server starts with RadSec");
    assert!(server.radsec_addr.is_some(), "RadSec listener bound");
    (server, pool)
}

// ---------------------------------------------------------------------------------------
// Our own RadSec client

fn client_config(ca: &Path, cert: Option<&(PathBuf, PathBuf)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(c.expect("CA PEM")).expect("CA cert");
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match cert {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .expect("cert file")
                .collect::<Result<Vec<_>, _>>()
                .expect("cert PEM");
            let key = PrivateKeyDer::from_pem_file(key).expect("key PEM");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// The next packet on the stream (by its Length field); `None` when the server closed the
/// connection (or it failed) within [`WAIT`].
async fn read_packet(s: &mut TlsStream<TcpStream>) -> Option<Vec<u8>> {
    let read = async {
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.ok()?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let mut packet = head.to_vec();
        packet.resize(len.max(4), 0);
        s.read_exact(&mut packet[4..]).await.ok()?;
        Some(packet)
    };
    tokio::time::timeout(WAIT, read).await.ok().flatten()
}

/// Sum of a counter's series whose labels contain `label`, from this process's recorder.
fn counter(name: &str, label: &str) -> f64 {
    let text = hotspot_radius::metrics::handle()
        .expect("app::start installs the recorder")
        .render();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (bounded) until `name{label}` has grown to `want`.
async fn counter_reaches(name: &str, label: &str, want: f64) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if counter(name, label) >= want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Whether an Access-Request on a connection made with `config` is answered: `false`
/// when the handshake fails, or the server closes the connection instead of answering.
async fn answered(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> bool {
    let nas = Nas::new(addr, RADSEC).await;
    let req = nas.access_request("alice", "wonderland", Method::Pap, true);
    let Ok(mut s) = connect(addr, config).await else {
        return false;
    };
    // TLS 1.3: the client's side of the handshake ends before the server has checked its
    // certificate; the refusal arrives as an alert on the first read.
    if s.write_all(&req.bytes).await.is_err() {
        return false;
    }
    read_packet(&mut s).await.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radsec_refuses_clients_without_a_certificate_from_the_ca() {
    let pki = Pki::make();
    let (server, _pool) = start(&pki).await;
    let addr = server.radsec_addr.unwrap();
    let failed = "radius_radsec_handshake_failures_total";
    let before = counter(failed, "reason=\"tls\"");

    assert!(
        !answered(addr, client_config(&pki.ca, None)).await,
        "no client certificate: refused"
    );
    assert!(
        !answered(addr, client_config(&pki.ca, Some(&pki.stranger))).await,
        "a client certificate from another CA: refused"
    );
    assert!(
        counter_reaches(failed, "reason=\"tls\"", before + 2.0).await,
        "both refusals counted as failed handshakes"
    );
    // The same request with the CA's client certificate is answered.
    assert!(
        answered(addr, client_config(&pki.ca, Some(&pki.client))).await,
        "a client certificate from the CA is accepted"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radsec_answers_pipelined_requests_and_closes_on_a_bad_length() {
    let pki = Pki::make();
    let (server, pool) = start(&pki).await;
    let addr = server.radsec_addr.unwrap();
    let mut s = connect(addr, client_config(&pki.ca, Some(&pki.client)))
        .await
        .expect("handshake with the CA's client certificate");

    // Sixteen Access-Requests (every other one with a wrong password), a Status-Server and
    // an Accounting-Request, all written before any reply is read.
    let nas = Nas::new(addr, RADSEC).await;
    let mut sent = Vec::new();
    for i in 0..16 {
        let password = if i % 2 == 0 { "wonderland" } else { "wrong" };
        let method = if i % 4 < 2 { Method::Pap } else { Method::Chap };
        let want = if i % 2 == 0 {
            Code::AccessAccept
        } else {
            Code::AccessReject
        };
        sent.push((nas.access_request("alice", password, method, false), want));
    }
    sent.push((nas.status_server(), Code::AccessAccept));
    sent.push((
        nas.accounting_request("alice", "rs-pipe-1", 1, (0, 0, 0)),
        Code::AccountingResponse,
    ));
    let burst: Vec<u8> = sent.iter().flat_map(|(r, _)| r.bytes.clone()).collect();
    s.write_all(&burst).await.expect("write the burst");

    let signer = Signer::new(RADSEC.as_bytes());
    let mut answered = Vec::new();
    for _ in 0..sent.len() {
        let reply = read_packet(&mut s).await.expect("a reply to every request");
        let p = Packet::decode(&reply).expect("reply decodes");
        let (req, want) = sent
            .iter()
            .find(|(r, _)| r.bytes[1] == p.identifier())
            .expect("the reply's identifier is one we sent");
        p.verify_response(&req.authenticator, ReplyVector::Request, &signer)
            .expect("signed with the radsec secret");
        assert_eq!(p.code(), *want, "reply to identifier {}", p.identifier());
        answered.push(p.identifier());
    }
    answered.sort_unstable();
    answered.dedup();
    assert_eq!(answered.len(), sent.len(), "each request answered once");
    let row: Option<String> = sqlx::query_scalar(
        "SELECT nasipaddress::text FROM radacct WHERE acctsessionid = 'rs-pipe-1'",
    )
    .fetch_optional(&pool)
    .await
    .expect("radacct");
    assert!(
        row.is_some(),
        "the accounting record was written before its ack"
    );

    // A Length field of 5000 (over 4096): the stream cannot be framed any more.
    let bad_length = dropped_count("bad_length").unwrap_or(0.0);
    let closed = "radius_radsec_connections_closed_total";
    let framing = counter(closed, "reason=\"framing\"");
    let mut bad = nas
        .access_request("alice", "wonderland", Method::Pap, false)
        .bytes;
    bad[2..4].copy_from_slice(&5000u16.to_be_bytes());
    s.write_all(&bad).await.expect("write");
    assert_eq!(
        read_packet(&mut s).await,
        None,
        "the server closed the connection"
    );
    assert!(dropped_count("bad_length").unwrap_or(0.0) > bad_length);
    assert!(counter_reaches(closed, "reason=\"framing\"", framing + 1.0).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radsec_limits_connections_and_closes_unknown_stalled_and_idle_ones() {
    let pki = Pki::make();
    let (server, _pool) = start_with(&pki, |c| {
        c.radsec.max_connections = 1;
        c.radsec.handshake_timeout_secs = 1;
        c.radsec.idle_timeout_secs = 1;
    })
    .await;
    let addr = server.radsec_addr.unwrap();
    let refused = "radius_radsec_connections_refused_total";
    let trusted = client_config(&pki.ca, Some(&pki.client));

    // One connection is open (and answered); a second one is closed on accept.
    let nas = Nas::new(addr, RADSEC).await;
    let mut first = connect(addr, Arc::clone(&trusted))
        .await
        .expect("first connection");
    first
        .write_all(&nas.status_server().bytes)
        .await
        .expect("write");
    assert!(
        read_packet(&mut first).await.is_some(),
        "Status-Server answered"
    );
    let full = counter(refused, "reason=\"max_connections\"");
    assert!(
        !answered(addr, Arc::clone(&trusted)).await,
        "over max_connections: closed"
    );
    assert!(counter_reaches(refused, "reason=\"max_connections\"", full + 1.0).await);

    // Nothing in flight, nothing sent: the server closes the first connection.
    let closed = "radius_radsec_connections_closed_total";
    let idle = counter(closed, "reason=\"idle\"");
    let mut byte = [0u8; 1];
    let end = tokio::time::timeout(WAIT, first.read(&mut byte)).await;
    assert!(
        matches!(end, Ok(Ok(0) | Err(_))),
        "the idle connection was closed by the server: {end:?}"
    );
    assert!(counter_reaches(closed, "reason=\"idle\"", idle + 1.0).await);
    drop(first);

    // A TCP connection that never starts its handshake is closed and counted.
    let stalled = counter(
        "radius_radsec_handshake_failures_total",
        "reason=\"timeout\"",
    );
    let mut raw = connect_raw(addr, "127.0.0.1").await;
    let end = tokio::time::timeout(WAIT, raw.read(&mut byte)).await;
    assert!(
        matches!(end, Ok(Ok(0) | Err(_))),
        "stalled handshake closed: {end:?}"
    );
    assert!(
        counter_reaches(
            "radius_radsec_handshake_failures_total",
            "reason=\"timeout\"",
            stalled + 1.0
        )
        .await
    );

    // A source address that is not in the NAS table is closed before any TLS.
    let unknown = counter(refused, "reason=\"unknown_client\"");
    let mut raw = connect_raw(addr, "127.0.0.2").await;
    let end = tokio::time::timeout(WAIT, raw.read(&mut byte)).await;
    assert!(
        matches!(end, Ok(Ok(0) | Err(_))),
        "unknown client closed: {end:?}"
    );
    assert!(counter_reaches(refused, "reason=\"unknown_client\"", unknown + 1.0).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radsec_require_certificate_name_serves_only_a_certificate_naming_the_nas() {
    let pki = Pki::make();
    let (server, _pool) = start_with(&pki, |c| c.radsec.require_certificate_name = true).await;
    let addr = server.radsec_addr.unwrap();
    let refused = "radius_radsec_connections_refused_total";
    let before = counter(refused, "reason=\"certificate_name\"");
    assert!(
        answered(addr, client_config(&pki.ca, Some(&pki.named))).await,
        "DNS:router1 names the NAS entry router1: served"
    );
    assert!(
        !answered(addr, client_config(&pki.ca, Some(&pki.misnamed))).await,
        "DNS:router9: closed"
    );
    assert!(
        !answered(addr, client_config(&pki.ca, Some(&pki.client))).await,
        "no DNS name at all: closed"
    );
    assert!(counter_reaches(refused, "reason=\"certificate_name\"", before + 2.0).await);
    server.stop().await;
}

/// A plain TCP connection to `addr` from `local` (port 0).
async fn connect_raw(addr: SocketAddr, local: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{local}:0").parse().unwrap())
        .expect("bind local address");
    socket.connect(addr).await.expect("TCP connect")
}

#[test]
fn radsec_tls_files_errors_name_the_key_and_the_file() {
    use hotspot_radius::server::radsec::TlsFiles;
    let pki = Pki::make();
    let error = |cert: &Path, key: &Path, ca: &Path| {
        TlsFiles {
            cert_file: Some(cert),
            key_file: Some(key),
            ca_file: Some(ca),
        }
        .server_config()
        .expect_err("refused")
        .to_string()
    };
    let (cert, key) = (&pki.server.0, &pki.server.1);
    let missing = Path::new("/nonexistent/radsec-server.pem");
    let e = error(missing, key, &pki.ca);
    assert!(
        e.starts_with("radsec.cert_file /nonexistent/radsec-server.pem: "),
        "{e}"
    );
    let e = error(cert, &pki.ca, &pki.ca);
    assert!(
        e.starts_with(&format!(
            "radsec.key_file {}: no private key",
            pki.ca.display()
        )),
        "{e}"
    );
    let e = error(cert, &pki.client.1, &pki.ca);
    assert!(
        e.starts_with(&format!(
            "radsec.key_file {}: does not go with radsec.cert_file",
            pki.client.1.display()
        )),
        "{e}"
    );
    let e = error(cert, key, key);
    assert!(
        e.starts_with(&format!("radsec.ca_file {}: no certificate", key.display())),
        "{e}"
    );
    assert!(
        TlsFiles {
            cert_file: Some(cert),
            key_file: Some(key),
            ca_file: Some(&pki.ca),
        }
        .server_config()
        .is_ok(),
        "the right files load"
    );
}

// ---------------------------------------------------------------------------------------
// FreeRADIUS as the RadSec client

/// FreeRADIUS's server binary; panics naming the package if it is not installed.
fn freeradius() -> PathBuf {
    let path = PathBuf::from("/usr/sbin/freeradius");
    assert!(
        path.exists(),
        "/usr/sbin/freeradius not found: install Debian package freeradius \
         (scripts/install-deps.sh does)"
    );
    path
}

/// A minimal FreeRADIUS configuration: UDP listeners on `auth`/`acct` for radclient
/// (secret `udp_secret`), every request proxied to one home server over TLS at `radsec`
/// with the client certificate `client`, trusting `ca`.
fn freeradius_conf(
    dir: &Path,
    ports: (u16, u16),
    udp_secret: &str,
    radsec: SocketAddr,
    pki: &Pki,
) -> String {
    let d = dir.display();
    let (cert, key) = (pki.client.0.display(), pki.client.1.display());
    let ca = pki.ca.display();
    let (ip, port) = (radsec.ip(), radsec.port());
    let (auth, acct) = ports;
    format!(
        r#"# Written by tests/it/radsec.rs: radclient -> UDP -> this proxy -> RadSec -> us.
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
confdir = {d}
certdir = {d}
cadir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
name = radiusd
max_request_time = 30
cleanup_delay = 2
max_requests = 1024
hostname_lookups = no
proxy_requests = yes

log {{
    destination = files
    file = {d}/radius.log
    colourise = no
}}

security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}

thread pool {{
    start_servers = 1
    max_servers = 2
    min_spare_servers = 1
    max_spare_servers = 2
    max_requests_per_server = 0
}}

modules {{
}}

client radclient {{
    ipaddr = 127.0.0.1
    secret = {udp_secret}
}}

proxy server {{
    default_fallback = no
}}

home_server hotspot {{
    ipaddr = {ip}
    port = {port}
    proto = tcp
    type = auth+acct
    secret = radsec
    status_check = none
    response_window = 10
    tls {{
        certificate_file = {cert}
        private_key_file = {key}
        ca_file = {ca}
        fragment_size = 8192
        connect_timeout = 5
    }}
}}

home_server_pool hotspot {{
    type = fail-over
    home_server = hotspot
}}

realm hotspot {{
    auth_pool = hotspot
    acct_pool = hotspot
    nostrip
}}

server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {auth}
    }}
    listen {{
        type = acct
        ipaddr = 127.0.0.1
        port = {acct}
    }}
    authorize {{
        update control {{
            &Proxy-To-Realm := "hotspot"
        }}
    }}
    authenticate {{
    }}
    preacct {{
        update control {{
            &Proxy-To-Realm := "hotspot"
        }}
    }}
    accounting {{
    }}
}}
"#
    )
}

/// How many times FreeRADIUS is started on fresh ports when the ones chosen were taken
/// meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// FreeRADIUS started in `dir` in the foreground (`-f`) with the configuration `conf`
/// makes for two free UDP ports, killed when the test ends; waits (bounded) until it is
/// ready. Returns it with its (auth, acct) ports.
fn start_freeradius(dir: &Path, conf: impl Fn((u16, u16)) -> String) -> (KillOnDrop, (u16, u16)) {
    let bin = freeradius();
    let log = || std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
    for attempt in 1..=PORT_ATTEMPTS {
        let auth = harness::free_udp_port();
        let acct = (0..100)
            .map(|_| harness::free_udp_port())
            .find(|p| *p != auth)
            .expect("two distinct free UDP ports");
        std::fs::write(dir.join("radiusd.conf"), conf((auth, acct))).expect("write radiusd.conf");
        let out = std::fs::File::create(dir.join("stdout.log")).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(&bin)
            .args(["-f", "-x", "-l", "stdout", "-n", "radiusd", "-d"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start freeradius");
        let mut child = KillOnDrop(child);
        let deadline = std::time::Instant::now() + WAIT * 3;
        loop {
            if log().contains("Ready to process requests") {
                return (child, (auth, acct));
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                let text = log();
                let taken = text.contains("Address already in use");
                assert!(
                    taken && attempt < PORT_ATTEMPTS,
                    "freeradius exited ({status}) before it was ready:\n{text}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "freeradius not ready in time:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    unreachable!("every attempt either returned or failed the test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeradius_proxies_radclient_traffic_to_us_over_radsec() {
    let pki = Pki::make();
    let (server, pool) = start(&pki).await;
    let radsec = server.radsec_addr.unwrap();
    let dir = harness::fresh_dir("radsec-freeradius");
    let udp_secret = "proxy-secret";
    let (_freeradius, ports) = start_freeradius(&dir, |ports| {
        freeradius_conf(&dir, ports, udp_secret, radsec, &pki)
    });
    let fr_log = || std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
    let auth: SocketAddr = ([127, 0, 0, 1], ports.0).into();
    let acct: SocketAddr = ([127, 0, 0, 1], ports.1).into();
    let radclient = |to: SocketAddr, kind: &str, input: &str| {
        let (_, out) = harness::run_radclient(to, kind, udp_secret, input, 1, 15);
        out
    };

    // PAP: FreeRADIUS re-hides the password with the radsec secret for us.
    let out = radclient(
        auth,
        "auth",
        "User-Name = \"alice\"\nUser-Password = \"wonderland\"\n",
    );
    assert!(
        out.contains("Received Access-Accept")
            && out.contains("Session-Timeout = 3600")
            && out.contains("Mikrotik-Rate-Limit = \"2M/4M\""),
        "PAP through the RadSec proxy: {out}\n--- freeradius:\n{}",
        fr_log()
    );
    let out = radclient(
        auth,
        "auth",
        "User-Name = \"alice\"\nUser-Password = \"wrong\"\n",
    );
    assert!(
        out.contains("Received Access-Reject"),
        "wrong password: {out}"
    );
    // CHAP: radclient computes CHAP-Password from the cleartext.
    let out = radclient(
        auth,
        "auth",
        "User-Name = \"alice\"\nCHAP-Password = \"wonderland\"\n",
    );
    assert!(out.contains("Received Access-Accept"), "CHAP: {out}");
    let out = radclient(
        auth,
        "auth",
        "User-Name = \"alice\"\nCHAP-Password = \"nope\"\n",
    );
    assert!(
        out.contains("Received Access-Reject"),
        "CHAP, wrong password: {out}"
    );

    // Accounting Start and Stop land in radacct.
    let session = "User-Name = \"alice\"\nAcct-Session-Id = \"rs-fr-0001\"\n\
                   NAS-IP-Address = 127.0.0.1\nFramed-IP-Address = 10.5.50.9\n";
    let out = radclient(
        acct,
        "acct",
        &format!("Acct-Status-Type = Start\n{session}"),
    );
    assert!(out.contains("Received Accounting-Response"), "Start: {out}");
    let out = radclient(
        acct,
        "acct",
        &format!(
            "Acct-Status-Type = Stop\n{session}Acct-Session-Time = 60\n\
             Acct-Input-Octets = 1000\nAcct-Output-Octets = 2000\n\
             Acct-Terminate-Cause = User-Request\n"
        ),
    );
    assert!(out.contains("Received Accounting-Response"), "Stop: {out}");
    let row: (Option<i64>, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT acctsessiontime::bigint, acctoutputoctets::bigint, acctterminatecause \
         FROM radacct WHERE acctsessionid = 'rs-fr-0001'",
    )
    .fetch_one(&pool)
    .await
    .expect("one radacct row for the proxied session");
    assert_eq!(row, (Some(60), Some(2000), Some("User-Request".into())));
    // FreeRADIUS knew only our RadSec port: all of it came over TLS, signed with the
    // radsec secret (the NAS row's UDP secret would not have verified).
    server.stop().await;
}
