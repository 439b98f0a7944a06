//! TLS to PostgreSQL and Redis, as managed databases need it: a throwaway CA and
//! certificates made with the `openssl` command-line tool, a PostgreSQL with `ssl=on` that
//! refuses plaintext TCP, and a Redis that speaks only TLS and wants a client certificate.
//! The whole server (`app::start`) runs over them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotspot_radius::app;
use hotspot_radius::config::Config;
use hotspot_radius::sessions::{RedisSessions, SessionStore};
use hotspot_radius::store::redis::Cached;
use hotspot_radius::store::{PgStore, PoolSettings, RedisSettings, RedisTier, SigningKey};
use radius_proto::protocol::Code;
use sqlx::PgPool;

use crate::harness::{self, Postgres, Redis, RedisTls};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "tls-secret";

/// The `openssl` command-line tool; panics naming the package if it is missing.
pub fn openssl() -> PathBuf {
    let mut dirs: Vec<PathBuf> = vec!["/usr/bin".into(), "/usr/local/bin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join("openssl"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("openssl not found: install Debian package openssl"))
}

/// A throwaway PKI in a temporary directory: a CA, a server certificate for
/// `localhost` / 127.0.0.1 and a client certificate signed by it, and an unrelated CA.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

impl Pki {
    fn make() -> Self {
        let dir = harness::fresh_dir("tls");
        let ca = make_ca(&dir, "ca", "hotspot-radius test CA");
        let other_ca = make_ca(&dir, "other-ca", "some other CA");
        let (server_cert, server_key) = make_leaf(
            &dir,
            "server",
            "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        );
        let (client_cert, client_key) = make_leaf(&dir, "client", "extendedKeyUsage=clientAuth\n");
        // PostgreSQL wants its key private to the user it runs as (postgres, when root).
        if harness::is_root() {
            run(
                Command::new("chown").arg("postgres").arg(&server_key),
                "chown the server key",
            );
        }
        Self {
            dir,
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            other_ca,
        }
    }

    /// PostgreSQL settings: TLS on, and an hba file that refuses plaintext TCP.
    fn pg_settings(&self) -> Vec<(&'static str, String)> {
        let hba = self.dir.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 0.0.0.0/0 reject\n",
        )
        .expect("write pg_hba.conf");
        vec![
            ("ssl", "on".into()),
            ("ssl_cert_file", path_str(&self.server_cert)),
            ("ssl_key_file", path_str(&self.server_key)),
            ("hba_file", path_str(&hba)),
        ]
    }

    fn redis_tls(&self) -> RedisTls {
        RedisTls {
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            ca: self.ca.clone(),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_owned()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed P-256 CA: `<name>.pem` (its key stays beside it as `<name>.key`).
pub fn make_ca(dir: &Path, name: &str, cn: &str) -> PathBuf {
    let cert = dir.join(format!("{name}.pem"));
    run(
        Command::new(openssl())
            .current_dir(dir)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
            .args(["-subj", &format!("/CN={cn}")])
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
        &format!("openssl: make {name}"),
    );
    cert
}

/// A P-256 certificate signed by `ca` with the `extensions` lines; (cert, key).
pub fn make_leaf(dir: &Path, name: &str, extensions: &str) -> (PathBuf, PathBuf) {
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"
        ),
    )
    .expect("write extensions");
    run(
        Command::new(openssl())
            .current_dir(dir)
            .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes"])
            .args(["-subj", &format!("/CN={name}")])
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ]),
        &format!("openssl: {name} key and request"),
    );
    run(
        Command::new(openssl())
            .current_dir(dir)
            .args(["x509", "-req", "-in", &format!("{name}.csr")])
            .args(["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"])
            .args(["-days", "2", "-out", &format!("{name}.pem")])
            .args(["-extfile", &format!("{name}.ext")]),
        &format!("openssl: sign {name}"),
    );
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

fn config(database_url: &str) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.enabled = false;
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 2;
    c.server.shutdown_timeout_secs = 5;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c
}

/// A NAS row for 127.0.0.1 and user alice.
async fn seed(pool: &PgPool) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO nas (nasname, shortname, type, secret) \
         VALUES ('127.0.0.1', 'hotspot1', 'other', '{SECRET}');
         INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('alice', 'Cleartext-Password', ':=', 'wonderland');"
    )))
    .execute(pool)
    .await
    .expect("seed");
}

/// A PostgreSQL that takes TCP connections over TLS only, and a migrated, seeded database
/// on it: (server, plain URL of the database, pool).
async fn tls_postgres(pki: &Pki) -> (Postgres, String, PgPool) {
    let settings = pki.pg_settings();
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pg = Postgres::start_with(&settings);
    // The harness connects with sqlx's default sslmode (prefer): TLS, unverified.
    let (url, pool) = harness::fresh_db_on(&pg).await;
    seed(&pool).await;
    (pg, url, pool)
}

fn verify_full(url: &str, ca: &Path) -> String {
    format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display())
}

async fn alice_accepted(server: &app::Running) -> bool {
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let reply = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    code_of(&reply) == Code::AccessAccept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_reaches_postgres_over_verified_tls() {
    let pki = Pki::make();
    let (pg, url, pool) = tls_postgres(&pki).await;

    // Plaintext is refused, so everything below really is over TLS.
    let plain = PgStore::connect_lazy(&format!("{url}?sslmode=disable"), PoolSettings::default())
        .expect("pool");
    let err = plain
        .ping()
        .await
        .expect_err("plaintext connection refused");
    assert!(err.to_string().contains("no encryption"), "{err}");

    let server = app::start(config(&verify_full(&url, &pki.ca)), None)
        .await
        .expect("server starts over sslmode=verify-full with the CA");
    assert!(alice_accepted(&server).await, "alice authenticated");

    // pg_stat_ssl: the server's connections to this database are encrypted.
    let (encrypted, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name = 'hotspot-radius' AND a.datname = current_database()",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_stat_ssl");
    assert!(total >= 1, "the server holds connections");
    assert_eq!(encrypted, total, "every server connection uses TLS");
    server.stop().await;

    // The DNS name in the certificate verifies too.
    let by_name = url.replace("127.0.0.1", "localhost");
    let store = PgStore::connect_lazy(&verify_full(&by_name, &pki.ca), PoolSettings::default())
        .expect("pool");
    store.ping().await.expect("verify-full by host name");
    store.close().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_the_wrong_ca_fails_clearly() {
    let pki = Pki::make();
    let (_pg, url, _pool) = tls_postgres(&pki).await;
    let err = app::start(config(&verify_full(&url, &pki.other_ca)), None)
        .await
        .expect_err("a server certificate from another CA is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("database") && msg.contains("invalid peer certificate: UnknownIssuer"),
        "{msg}"
    );
}

/// `[redis]` for the TLS Redis: its CA, and our client certificate (the server wants one).
fn with_tls_redis(c: &mut Config, redis: &Redis, pki: &Pki) {
    c.redis.url = Some(redis.url());
    c.redis.ca_file = Some(pki.ca.clone());
    c.redis.cert_file = Some(pki.client_cert.clone());
    c.redis.key_file = Some(pki.client_key.clone());
}

fn tier_settings() -> RedisSettings {
    RedisSettings {
        ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(5),
        timeout: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_caches_profiles_and_sessions_in_redis_over_mutual_tls() {
    let pki = Pki::make();
    let redis = Redis::start_tls(pki.redis_tls());
    assert!(redis.url().starts_with("rediss://"));
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = config(&url);
    with_tls_redis(&mut c, &redis, &pki);
    let server = app::start(c.clone(), None).await.expect("server starts");
    assert!(alice_accepted(&server).await, "alice authenticated");

    // The profile went to Redis (L2) on the way: read it back over TLS with the client
    // the server builds from the same config.
    let client = app::redis_client(&c).expect("client").expect("configured");
    // Signed with the key the server read from the database: read with the same one.
    let key = PgStore::from_pool(pool.clone())
        .l2_signing_key()
        .await
        .expect("signing key");
    let tier = RedisTier::with_client(client.clone(), tier_settings())
        .expect("tier")
        .with_signing_key(SigningKey::new(key.as_bytes()));
    tier.ping().await.expect("PING over TLS");
    let (cached, _) = tier.get("alice").await;
    assert!(
        matches!(cached, Some(Cached::Found(_))),
        "alice's profile cached in Redis: {cached:?}"
    );
    // The session store lives there too: the server loaded it at start-up.
    let sessions = RedisSessions::with_client(client, Duration::from_secs(2)).expect("store");
    assert!(sessions.is_loaded().await.expect("session store over TLS"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_failures_over_tls_say_redis() {
    let pki = Pki::make();
    let redis = Redis::start_tls(pki.redis_tls());
    let port = redis.port();

    // Plaintext to the TLS port.
    let plain = format!("redis://127.0.0.1:{port}/");
    let tier = RedisTier::connect_lazy(&plain, tier_settings()).expect("tier");
    let err = tier
        .ping()
        .await
        .expect_err("plaintext to a TLS port fails");
    assert!(err.to_string().contains("Redis"), "{err}");
    let sessions = RedisSessions::connect_lazy(&plain, Duration::from_secs(2)).expect("store");
    let err = sessions
        .is_loaded()
        .await
        .expect_err("plaintext session store fails");
    assert!(err.to_string().contains("Redis"), "{err}");

    // TLS, but the server's certificate is checked against another CA.
    let mut c = config("postgres://unused@127.0.0.1/x");
    with_tls_redis(&mut c, &redis, &pki);
    c.redis.ca_file = Some(pki.other_ca.clone());
    let client = app::redis_client(&c).expect("client").expect("configured");
    let tier = RedisTier::with_client(client, tier_settings()).expect("tier");
    let err = tier.ping().await.expect_err("unknown CA refused");
    let msg = err.to_string();
    assert!(
        msg.contains("Redis") && msg.contains("certificate"),
        "{msg}"
    );

    // TLS with the right CA but no client certificate: the server refuses us.
    c.redis.ca_file = Some(pki.ca.clone());
    c.redis.cert_file = None;
    c.redis.key_file = None;
    let client = app::redis_client(&c).expect("client").expect("configured");
    let tier = RedisTier::with_client(client, tier_settings()).expect("tier");
    let err = tier
        .ping()
        .await
        .expect_err("no client certificate refused");
    assert!(err.to_string().contains("Redis"), "{err}");

    // A CA file that does not exist is named.
    c.redis.ca_file = Some(pki.dir.join("missing.pem"));
    let err = app::redis_client(&c).expect_err("missing CA file");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

/// `hotspot-radius --config FILE sessions` (bounded); (exit code, stdout + stderr).
fn sessions_cli(config: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
        .arg("--config")
        .arg(config)
        .arg("sessions")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hotspot-radius");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_command_reads_redis_over_tls_with_the_config_files() {
    let pki = Pki::make();
    let redis = Redis::start_tls(pki.redis_tls());
    // The command reads the NAS table from PostgreSQL, the sessions from Redis.
    let (url, _pool) = harness::fresh_db().await;
    let file = pki.dir.join("cli.toml");
    let redis_section = |with_ca: bool| {
        let ca = if with_ca {
            format!("ca_file = \"{}\"\n", pki.ca.display())
        } else {
            String::new()
        };
        format!(
            "[database]\nurl = \"{url}\"\n\
             [redis]\nurl = \"{}\"\n{ca}cert_file = \"{}\"\nkey_file = \"{}\"\n",
            redis.url(),
            pki.client_cert.display(),
            pki.client_key.display()
        )
    };
    std::fs::write(&file, redis_section(true)).expect("write config");
    let (code, out) = tokio::task::block_in_place(|| sessions_cli(&file));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 session(s) online"), "{out}");

    // Without the CA file the system trust store does not know the server's CA.
    std::fs::write(&file, redis_section(false)).expect("write config");
    let (code, out) = tokio::task::block_in_place(|| sessions_cli(&file));
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("Redis") && out.contains("UnknownIssuer"),
        "{out}"
    );
}

/// A `MakeWriter` collecting log lines in memory.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn unreachable_redis_is_a_start_up_warning_not_a_failure() {
    let pki = Pki::make();
    let redis = Redis::start_tls(pki.redis_tls());
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = config(&url);
    // Plaintext, with a password, to the TLS port: Redis never answers.
    c.redis.url = Some(format!("redis://:s3cret@127.0.0.1:{}/", redis.port()));

    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    // Everything in this current-thread test runs on this thread, start-up included.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = app::start(c, None)
        .await
        .expect("a Redis that does not answer does not stop the start");
    let text = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8");
    let line = text
        .lines()
        .find(|l| l.contains("Redis does not answer at start-up"))
        .unwrap_or_else(|| panic!("no start-up warning in:\n{text}"));
    assert!(line.contains("WARN"), "{line}");
    let redacted = format!("redis://:***@127.0.0.1:{}/", redis.port());
    assert!(line.contains(&redacted), "{line}");
    assert!(line.contains("PostgreSQL"), "{line}");
    assert!(!text.contains("s3cret"), "password leaked:\n{text}");
    // And the server serves without it.
    assert!(
        alice_accepted(&server).await,
        "alice authenticated from PostgreSQL"
    );
    server.stop().await;
}

/// Redis with a password (`requirepass`, what a managed Redis or a Redis on another host
/// needs at the least): the password in the URL (`redis://:PASSWORD@host/`) is used by the
/// cache and the session store; a wrong one is an error that says Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_with_a_password() {
    let redis = Redis::start();
    let open = redis::Client::open(redis.url()).unwrap();
    let mut conn = open.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("redis-pw")
        .query_async(&mut conn)
        .await
        .unwrap();
    let authed = format!("redis://:redis-pw@127.0.0.1:{}/", redis.port());
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = config(&url);
    c.redis.url = Some(authed.clone());
    let server = app::start(c.clone(), None).await.expect("server starts");
    assert!(alice_accepted(&server).await, "alice authenticated");
    let key = PgStore::from_pool(pool.clone())
        .l2_signing_key()
        .await
        .expect("signing key");
    let client = app::redis_client(&c).expect("client").expect("configured");
    let tier = RedisTier::with_client(client.clone(), tier_settings())
        .expect("tier")
        .with_signing_key(SigningKey::new(key.as_bytes()));
    let (cached, _) = tier.get("alice").await;
    assert!(
        matches!(cached, Some(Cached::Found(_))),
        "alice cached through the authenticated connection: {cached:?}"
    );
    let sessions = RedisSessions::with_client(client, Duration::from_secs(2)).expect("store");
    assert!(
        sessions
            .is_loaded()
            .await
            .expect("session store authenticated")
    );
    server.stop().await;

    // A wrong password: refused, and the error names Redis.
    let wrong = format!("redis://:not-it@127.0.0.1:{}/", redis.port());
    let tier = RedisTier::connect_lazy(&wrong, tier_settings()).expect("tier");
    let err = tier.ping().await.expect_err("a wrong password is refused");
    let text = err.to_string();
    assert!(text.contains("Redis"), "{text}");
    assert!(
        !text.contains("not-it"),
        "the password is not in the error: {text}"
    );
    // Leave the server as the harness expects it (its stop command is unauthenticated).
    let mut conn = redis::Client::open(authed.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("")
        .query_async(&mut conn)
        .await
        .unwrap();
}
