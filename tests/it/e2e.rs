//! End to end: the whole server (`app::start`) on 127.0.0.1:0 over a fresh, migrated
//! PostgreSQL database (and Redis where it matters), seeded with SQL the way an admin web
//! app writes it, driven over UDP by our fake NAS and by FreeRADIUS's `radclient`.

use std::net::SocketAddr;
use std::time::Duration;

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::Config;
use hotspot_radius::metrics::reason;
use radius_proto::protocol::attrs::{self, microsoft as ms, mikrotik};
use radius_proto::protocol::{AcctStatus, Code, Packet};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{self, Postgres, Redis};
use crate::udp_access::{Method, Nas, REPLY_WAIT, code_of};

const SECRET: &str = "e2e-secret";

/// username, session id, input octets, output octets, terminate cause, port type,
/// start time set, stop time set.
type AcctRow = (
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    bool,
    bool,
);

fn config(database_url: &str, redis_url: Option<String>) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.redis.url = redis_url;
    c.server.shutdown_timeout_secs = 5;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A NAS row for 127.0.0.1, users alice (PAP/CHAP/MS-CHAPv2 via cleartext) and bob, and a
/// `gold` package with MikroTik replies.
async fn seed(pool: &PgPool) {
    exec(
        pool,
        &format!(
            "INSERT INTO nas (nasname, shortname, type, secret) \
             VALUES ('127.0.0.1', 'hotspot1', 'other', '{SECRET}');
             INSERT INTO radcheck (username, attribute, op, value) VALUES
               ('alice', 'Cleartext-Password', ':=', 'wonderland'),
               ('bob', 'Cleartext-Password', ':=', 'builder'),
               ('carol', 'Cleartext-Password', ':=', 'singer');
             INSERT INTO radusergroup (username, groupname, priority) VALUES
               ('alice', 'gold', 1), ('bob', 'gold', 1);
             INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
               ('gold', 'Mikrotik-Rate-Limit', '=', '2M/5M'),
               ('gold', 'Session-Timeout', '=', '3600'),
               ('gold', 'Acct-Interim-Interval', '=', '300');"
        ),
    )
    .await;
}

async fn start(database_url: &str, redis_url: Option<String>) -> Running {
    // `RUST_LOG=hotspot_radius=debug cargo test --test it e2e::` shows the server's logs.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    app::start(config(database_url, redis_url), None)
        .await
        .expect("server starts")
}

/// Send fresh requests until one is answered (bounded): for changes that arrive by NOTIFY.
async fn answered_eventually(nas: &Nas, user: &str, password: &str, want: Code) -> bool {
    for _ in 0..50 {
        let req = nas.access_request(user, password, Method::Pap, true);
        if let Some(r) = nas.exchange_within(&req, Duration::from_millis(200)).await {
            if code_of(&r) == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_group_replies_and_mikrotik_request() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, None).await;
    let nas = Nas::new(server.auth_addr, SECRET).await;
    for method in [Method::Pap, Method::Chap, Method::MsChapV2] {
        let r = nas
            .exchange(&nas.access_request("alice", "wonderland", method, true))
            .await;
        assert_eq!(code_of(&r), Code::AccessAccept, "{method:?}");
        let p = Packet::decode(&r).unwrap();
        assert_eq!(
            p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
            Some(&b"2M/5M"[..])
        );
        assert_eq!(p.attr_u32(attrs::SESSION_TIMEOUT).unwrap(), Some(3600));
        assert_eq!(p.attr_u32(attrs::ACCT_INTERIM_INTERVAL).unwrap(), Some(300));
        if method == Method::MsChapV2 {
            assert!(p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_SUCCESS).is_some());
        }
        let r = nas
            .exchange(&nas.access_request("alice", "nope", method, true))
            .await;
        assert_eq!(code_of(&r), Code::AccessReject, "{method:?}");
    }
    let r = nas
        .exchange(&nas.access_request("mallory", "x", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessReject);
    // Post-auth rows arrive through the batched writer (bounded wait).
    let mut n = 0i64;
    for _ in 0..50 {
        n = sqlx::query_scalar("SELECT count(*) FROM radpostauth")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(n >= 7, "radpostauth rows: {n}");
    let pw: i64 = sqlx::query_scalar("SELECT count(*) FROM radpostauth WHERE pass <> ''")
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    assert_eq!(pw, 0, "no password stored in radpostauth");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_changes_apply_without_restart() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, None).await;
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let ok = nas
        .exchange(&nas.access_request("bob", "builder", Method::Pap, true))
        .await;
    assert_eq!(code_of(&ok), Code::AccessAccept);

    // Password change: the cached profile is invalidated by NOTIFY (L1 keeps entries for
    // 300 s, L2 for an hour). The change is made once; once the server has applied the
    // notification, the very next request must see it.
    let mut applied = server.notifications_applied();
    let before = *applied.borrow_and_update();
    exec(
        &pool,
        "UPDATE radcheck SET value = 'rebuilt' WHERE username = 'bob' AND attribute = 'Cleartext-Password'",
    )
    .await;
    tokio::time::timeout(REPLY_WAIT, applied.wait_for(|n| *n > before))
        .await
        .expect("the NOTIFY is applied in time")
        .expect("the listener runs");
    let new = nas
        .exchange(&nas.access_request("bob", "rebuilt", Method::Pap, true))
        .await;
    assert_eq!(
        code_of(&new),
        Code::AccessAccept,
        "new password accepted at once"
    );
    let old = nas
        .exchange(&nas.access_request("bob", "builder", Method::Pap, true))
        .await;
    assert_eq!(code_of(&old), Code::AccessReject, "old password refused");

    // A new NAS row is usable without restart.
    let other = Nas::new_at("127.0.0.2:0", server.auth_addr, "second-secret").await;
    other
        .expect_dropped(
            &other.access_request("alice", "wonderland", Method::Pap, true),
            reason::UNKNOWN_CLIENT,
        )
        .await;
    exec(
        &pool,
        "INSERT INTO nas (nasname, shortname, type, secret) VALUES ('127.0.0.2', 'hs2', 'other', 'second-secret')",
    )
    .await;
    assert!(
        answered_eventually(&other, "alice", "wonderland", Code::AccessAccept).await,
        "new NAS answered"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_rows_land_in_radacct() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, None).await;
    let nas = Nas::new(server.acct_addr, SECRET).await;
    for (status, octets) in [
        (AcctStatus::Start.as_u32(), (0, 0, 0)),
        (AcctStatus::InterimUpdate.as_u32(), (1000, 2000, 0)),
        (AcctStatus::Stop.as_u32(), (5000, 6000, 2)),
    ] {
        let r = nas
            .exchange(&nas.accounting_request("alice", "80f00001", status, octets))
            .await;
        assert_eq!(code_of(&r), Code::AccountingResponse, "status {status}");
    }
    let row: AcctRow = sqlx::query_as(
        "SELECT username, acctsessionid, acctinputoctets, acctoutputoctets, \
                    acctterminatecause, nasporttype, acctstarttime IS NOT NULL, \
                    acctstoptime IS NOT NULL \
             FROM radacct WHERE acctsessionid = '80f00001'",
    )
    .fetch_one(&pool)
    .await
    .expect("one radacct row");
    assert_eq!(row.0, "alice");
    assert_eq!(row.2, Some((2i64 << 32) + 5000), "gigawords folded in");
    assert_eq!(row.3, Some(6000));
    assert_eq!(row.4.as_deref(), Some("User-Request"));
    assert_eq!(row.5.as_deref(), Some("Wireless-802.11"));
    assert!(row.6 && row.7, "start and stop times set");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radacct")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "start/interim/stop of one session is one row");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_keeps_serving() {
    let mut redis = Redis::start();
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, Some(redis.url())).await;
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    redis.stop();
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept, "cached user");
    let r = nas
        .exchange(&nas.access_request("bob", "builder", Method::Chap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept, "uncached user, Redis down");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_answers_cached_and_never_false_rejects() {
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    seed(&pool).await;
    pool.close().await;
    let server = start(&url, None).await;
    // What the first request caches must still be cached when PostgreSQL stops: wait
    // until the invalidation listener is up, which is after the cache flush it makes on
    // connecting. (Start-up waits for it only so long; on a loaded machine its first
    // LISTEN can take longer, and its flush then dropped alice: this test's old flake.)
    wait_ready(&server).await;
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    pg.stop();
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(
        code_of(&r),
        Code::AccessAccept,
        "cached user still answered"
    );
    // Uncached user: no reply at all (not a reject), so the NAS retries / fails over. A
    // reply to it arriving at any later point (a late false reject) fails the test.
    let req = nas.access_request("carol", "singer", Method::Pap, true);
    nas.expect_dropped(&req, reason::STORE_UNAVAILABLE).await;
    // Accounting keeps being acknowledged: the record is fsync'd to the journal first (the
    // NAS must not drop it after its retries), and reaches radacct once PostgreSQL is back.
    let acct = Nas::new(server.acct_addr, SECRET).await;
    let req = acct.accounting_request("alice", "80f00009", 1, (0, 0, 0));
    assert!(
        acct.exchange_within(&req, Duration::from_secs(3))
            .await
            .is_some(),
        "Accounting-Request acknowledged while PostgreSQL is down"
    );
    pg.start_again();
    assert!(
        answered_eventually(&nas, "carol", "singer", Code::AccessAccept).await,
        "answered again once PostgreSQL is back"
    );
    let pool = PgPool::connect(&url).await.unwrap();
    let mut replayed = false;
    for _ in 0..100 {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM radacct WHERE acctsessionid = '80f00009'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if n == 1 {
            replayed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(replayed, "the journaled record reached radacct");
    server.stop().await;
}

/// The outage test's old flake, made deterministic: the first LISTEN connection stalls
/// (blackholed by a proxy), so start-up serves before the listener is up, and the listener
/// flushes the caches when it does connect. Once `/readyz` says it is up, what is cached
/// stays cached, and is answered through a PostgreSQL outage. (Without the `/readyz`
/// wait this fails as the flake did: no reply to the second request.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_first_listen_does_not_flush_what_is_cached_after_readyz() {
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    seed(&pool).await;
    pool.close().await;
    let proxy = crate::blackhole::Blackhole::start(([127, 0, 0, 1], pg.port()).into()).await;
    // The first is the start-up check of the listener's session (it gives up and lets
    // the server start); the second, the first LISTEN connection.
    proxy.blackhole_first(2);
    let mut c = config(&url, None);
    c.database.listen_url =
        Some(url.replace(&format!(":{}/", pg.port()), &format!(":{}/", proxy.port())));
    let server = app::start(c, None).await.expect("server starts");
    wait_ready(&server).await;
    assert!(
        proxy.accepted() >= 3,
        "the first LISTEN connection stalled and was replaced"
    );
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    // Not a timing assertion: it holds open the window in which a flush arriving late
    // would drop alice (PostgreSQL's stop is that slow on a loaded machine).
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.stop();
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept, "cached user answered");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_unmigrated_database() {
    let pg = harness::shared_postgres();
    let name = format!("unmigrated_{}", std::process::id());
    let url = pg.create_database(&name).await;
    let err = app::start(config(&url, None), None).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("hotspot-radius migrate"),
        "message: {err:#}"
    );
}

/// Waits (bounded) until the server's `/readyz` answers 200: the NOTIFY listener is up and
/// the flush it makes on connecting is done.
async fn wait_ready(server: &Running) {
    let admin = server.admin_addr.expect("admin enabled");
    for _ in 0..200 {
        if http_get(admin, "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "/readyz not 200 within 20 s: {}",
        http_get(admin, "/readyz").await.1
    );
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(REPLY_WAIT, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_server_metrics_and_health() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, None).await;
    let nas = Nas::new(server.auth_addr, SECRET).await;
    assert_eq!(
        code_of(&nas.exchange(&nas.status_server()).await),
        Code::AccessAccept
    );
    let acct = Nas::new(server.acct_addr, SECRET).await;
    assert_eq!(
        code_of(&acct.exchange(&acct.status_server()).await),
        Code::AccountingResponse
    );
    nas.exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    let admin = server.admin_addr.expect("admin enabled");
    assert_eq!(http_get(admin, "/healthz").await.0, 200);
    assert_eq!(http_get(admin, "/readyz").await.0, 200);
    let (status, body) = http_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("radius_requests_total"), "{body}");
    assert!(
        body.contains("# TYPE radius_request_duration_seconds histogram"),
        "{body}"
    );
    assert!(!body.contains("alice"), "usernames are never labels");
    // Per-NAS series (the dashboard's "by NAS" panel, the "NAS silent" alert).
    let requests = body
        .lines()
        .find_map(|l| l.strip_prefix(r#"radius_nas_requests_total{nas="hotspot1"} "#))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(
        requests.is_some_and(|n| n >= 1.0),
        "per-NAS request counter: {requests:?}\n{body}"
    );
    let seen = body
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"radius_nas_last_packet_timestamp_seconds{nas="hotspot1"} "#)
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("last packet time exported");
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        (now - seen).abs() < 600.0,
        "last packet {seen} vs now {now}"
    );
    server.stop().await;
}

fn radclient(server: SocketAddr, kind: &str, input: &str) -> (bool, String) {
    harness::run_radclient(server, kind, SECRET, input, 2, 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_interop() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, None).await;
    let auth = server.auth_addr;
    let acct = server.acct_addr;
    let (ok, out) = tokio::task::spawn_blocking(move || {
        radclient(
            auth,
            "auth",
            "User-Name = \"alice\"\nUser-Password = \"wonderland\"\nNAS-Identifier = \"hotspot1\"\n",
        )
    })
    .await
    .unwrap();
    assert!(ok && out.contains("Access-Accept"), "PAP:\n{out}");
    assert!(
        out.contains("2M/5M"),
        "group reply in radclient output:\n{out}"
    );
    let (ok, out) = tokio::task::spawn_blocking(move || {
        radclient(
            auth,
            "auth",
            "User-Name = \"alice\"\nCHAP-Password = \"wonderland\"\n",
        )
    })
    .await
    .unwrap();
    assert!(ok && out.contains("Access-Accept"), "CHAP:\n{out}");
    let (ok, out) = tokio::task::spawn_blocking(move || {
        radclient(
            auth,
            "auth",
            "User-Name = \"alice\"\nUser-Password = \"wrong\"\n",
        )
    })
    .await
    .unwrap();
    assert!(!ok && out.contains("Access-Reject"), "reject:\n{out}");
    let (ok, out) = tokio::task::spawn_blocking(move || {
        radclient(
            acct,
            "acct",
            "User-Name = \"alice\"\nAcct-Status-Type = Start\nAcct-Session-Id = \"rc000001\"\nNAS-IP-Address = 127.0.0.1\n",
        )
    })
    .await
    .unwrap();
    assert!(ok && out.contains("Accounting-Response"), "acct:\n{out}");
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM radacct WHERE acctsessionid = 'rc000001'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_auth_subcommand_exit_codes() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = start(&url, None).await;
    let run = |method: &'static str, password: &'static str, port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .args(["test-auth", "--secret", SECRET, "--user", "alice"])
            .args(["--password", password, "--method", method, "--timeout", "2"])
            .arg("--server")
            .arg(format!("127.0.0.1:{port}"))
            .output()
            .expect("run hotspot-radius test-auth")
    };
    let port = server.auth_addr.port();
    for method in ["pap", "chap", "mschapv2"] {
        let out = tokio::task::spawn_blocking(move || run(method, "wonderland", port))
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{method}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("Access-Accept") && stdout.contains("2M/5M"),
            "{stdout}"
        );
        let out = tokio::task::spawn_blocking(move || run(method, "bad", port))
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{method} reject");
    }
    // Nobody listening: timeout ⇒ 2.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = silent.local_addr().unwrap().port();
    let out = tokio::task::spawn_blocking(move || run("pap", "wonderland", dead))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_nas_list_reloads_and_wins_ties() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    // The database says 127.0.0.1 has SECRET; the file says it has another one: file wins.
    let dir = harness::fresh_dir("e2e");
    let path = dir.join("reload.toml");
    std::fs::write(
        &path,
        "[[nas]]\naddress = \"127.0.0.1\"\nsecret = \"file-secret\"\n",
    )
    .unwrap();
    let mut c = config(&url, None);
    c.nas = Config::load(&path).unwrap().nas;
    let server = app::start(c, Some(path.clone())).await.unwrap();
    let by_file = Nas::new(server.auth_addr, "file-secret").await;
    let r = by_file
        .exchange(&by_file.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    let by_db = Nas::new(server.auth_addr, SECRET).await;
    by_db
        .expect_dropped(
            &by_db.access_request("alice", "wonderland", Method::Pap, true),
            reason::BAD_MESSAGE_AUTHENTICATOR,
        )
        .await;
    // Remove the entry from the file and reload (what SIGHUP does): the nas row applies.
    std::fs::write(&path, "").unwrap();
    server.reload_config();
    let r = by_db
        .exchange(&by_db.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    // A broken file is refused and the table kept.
    std::fs::write(&path, "[[nas]]\naddress = \"nonsense\"\n").unwrap();
    server.reload_config();
    let r = by_db
        .exchange(&by_db.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    server.stop().await;
}

/// `bench` and `replay` end to end against the real server (not the trivial responder):
/// hotspot sessions and CHAP logins are accepted and accounted, the recorded capture replays
/// with every request answered, and the rows land in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_and_replay_against_the_server() {
    use radius_load::{BenchArgs, ReplayArgs, execute_bench, execute_replay};

    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value)
           SELECT 'user' || g, 'Cleartext-Password', ':=', 'pass' || g
           FROM generate_series(0, 19) g;
         INSERT INTO radusergroup (username, groupname, priority)
           SELECT 'user' || g, 'gold', 1 FROM generate_series(0, 19) g;",
    )
    .await;
    let server = start(&url, None).await;
    let auth = server.auth_addr.port().to_string();
    let acct = server.acct_addr.port().to_string();
    let dir = harness::fresh_dir("e2e-bench");
    let capture = dir.join("hotspot.pcap");
    let capture_str = capture.to_str().unwrap();
    let target = [
        "--server",
        "127.0.0.1",
        "--auth-port",
        &auth,
        "--acct-port",
        &acct,
        "--secret",
        SECRET,
        "--timeout",
        "2",
    ];

    let mut words = vec!["bench"];
    words.extend_from_slice(&target);
    words.extend_from_slice(&[
        "--mode",
        "hotspot",
        "--hotspot-auth",
        "pap",
        "--users",
        "20",
        "--requests",
        "60",
        "--interims",
        "1",
        "--concurrency",
        "4",
        "--record",
        capture_str,
        "--expect",
        "accept",
    ]);
    let report = execute_bench(&BenchArgs::try_parse_from(&words).unwrap())
        .await
        .expect("bench runs");
    let c = &report.counts;
    assert_eq!(report.exit_code(), 0, "{c:?}");
    assert!(c.accepts > 0 && c.acct_responses > 0, "{c:?}");
    assert_eq!((c.rejects, c.timeouts, c.bad_replies), (0, 0, 0), "{c:?}");
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM radacct WHERE username LIKE 'user%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        sessions > 0 && sessions <= c.accepts as i64,
        "radacct rows {sessions} for {} accepted logins",
        c.accepts
    );

    let mut words = vec!["bench"];
    words.extend_from_slice(&target);
    words.extend_from_slice(&[
        "--mode",
        "chap",
        "--users",
        "20",
        "--requests",
        "50",
        "--concurrency",
        "8",
        "--expect",
        "accept",
    ]);
    let report = execute_bench(&BenchArgs::try_parse_from(&words).unwrap())
        .await
        .expect("bench runs");
    assert_eq!(report.counts.accepts, 50, "{:?}", report.counts);

    // Replay the capture bench recorded (re-signed, same secret) against the same server.
    let ports = format!("{auth},{acct}");
    let mut words = vec!["replay", capture_str];
    words.extend_from_slice(&target);
    words.extend_from_slice(&[
        "--ports",
        &ports,
        "--capture-secret",
        SECRET,
        "--speed",
        "50",
        "--expect",
        "accept",
    ]);
    let (report, summary) = execute_replay(&ReplayArgs::try_parse_from(&words).unwrap())
        .await
        .expect("replay runs");
    assert_eq!(summary.requests, 60, "every recorded request replayed");
    assert_eq!(
        report.counts.replies, summary.requests as u64,
        "{:?}",
        report.counts
    );
    assert_eq!(report.exit_code(), 0, "{:?}", report.counts);
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}

/// A burst of Crypt-Password (bcrypt) logins, far more than the hash slots can take: the
/// excess is dropped and counted (`crypt_busy`), never queued without bound, so the worker
/// slots stay free and a cached CHAP user and accounting are answered throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bcrypt_burst_leaves_cached_chap_users_and_accounting_unaffected() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let hash = bcrypt::hash("slow-pw", 10).expect("bcrypt hash");
    sqlx::query(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('slow', 'Crypt-Password', ':=', $1)",
    )
    .bind(&hash)
    .execute(&pool)
    .await
    .unwrap();
    let mut c = config(&url, None);
    // Without a bound on waiting hashes, 200 of them would hold every worker slot.
    c.server.max_inflight = 100;
    let server = app::start(c, None).await.expect("server starts");
    let chap = Nas::new(server.auth_addr, SECRET).await;
    // Cache alice first.
    let r = chap
        .exchange(&chap.access_request("alice", "wonderland", Method::Chap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    let burst = Nas::new(server.auth_addr, SECRET).await;
    // And the bcrypt user: the burst is of password checks, not of cache misses (which
    // `max_misses_per_nas` bounds before any hash is queued).
    let r = burst
        .exchange(&burst.access_request("slow", "slow-pw", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    for _ in 0..200 {
        let req = burst.access_request("slow", "slow-pw", Method::Pap, true);
        burst.send(&req.bytes).await;
    }
    let dropped = || {
        let metrics = hotspot_radius::metrics::handle()
            .expect("the server installed the metrics recorder")
            .render();
        metrics
            .lines()
            .filter(|l| l.starts_with("radius_dropped") || l.starts_with("radius_requests"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for i in 0..20 {
        let req = chap.access_request("alice", "wonderland", Method::Chap, true);
        let Some(r) = chap.exchange_within(&req, REPLY_WAIT).await else {
            panic!("CHAP login {i} during the burst: no reply\n{}", dropped());
        };
        assert_eq!(code_of(&r), Code::AccessAccept, "CHAP login {i}");
    }
    let acct = Nas::new(server.acct_addr, SECRET).await;
    let r = acct
        .exchange(&acct.accounting_request("alice", "burst-1", 1, (0, 0, 0)))
        .await;
    assert_eq!(code_of(&r), Code::AccountingResponse);
    let counted = dropped();
    assert!(
        counted.lines().any(|l| l.contains("reason=\"crypt_busy\"")),
        "the excess bcrypt logins are counted as crypt_busy:\n{counted}"
    );
    // And a bcrypt user still logs in once the burst has passed.
    let slow = Nas::new(server.auth_addr, SECRET).await;
    let mut accepted = false;
    for _ in 0..10 {
        let req = slow.access_request("slow", "slow-pw", Method::Pap, true);
        if let Some(r) = slow.exchange_within(&req, Duration::from_secs(3)).await {
            assert_eq!(code_of(&r), Code::AccessAccept);
            accepted = true;
            break;
        }
    }
    assert!(accepted, "the bcrypt user is accepted after the burst");
    server.stop().await;
}

/// `max_inflight` bounds the requests that wait (here: Access-Rejects held by the reject
/// delay): beyond it a request is dropped and counted as `overload`, and the NAS's
/// retransmission is processed afresh later. Cached accepts never wait, so they are
/// answered while the budget is exhausted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requests_beyond_max_inflight_are_dropped_and_counted() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = config(&url, None);
    c.server.max_inflight = 5;
    c.server.reject_delay_ms = 3_000;
    let server = app::start(c, None).await.expect("server starts");
    let good = Nas::new(server.auth_addr, SECRET).await;
    let r = good
        .exchange(&good.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    let overload_before = counter(r#"radius_dropped_total{reason="overload"}"#);
    let bad = Nas::new(server.auth_addr, SECRET).await;
    let mut wrong: Vec<crate::udp_access::Request> = Vec::new();
    while wrong.len() < 12 {
        let req = bad.access_request("alice", "wrong", Method::Pap, true);
        // Distinct identifiers, so each reply is matched to its own request.
        if wrong.iter().any(|w| w.bytes[1] == req.bytes[1]) {
            continue;
        }
        bad.send(&req.bytes).await;
        wrong.push(req);
    }
    // 5 rejects wait out their delay; the 7 others are over the budget.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counter(r#"radius_dropped_total{reason="overload"}"#) < overload_before + 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "overload drops not counted: {}",
            counter(r#"radius_dropped_total{reason="overload"}"#) - overload_before
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The budget is full of waiting rejects; a cached accept does not wait.
    let r = good
        .exchange(&good.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    assert_eq!(
        counter(r#"radius_dropped_total{reason="overload"}"#),
        overload_before + 7,
        "exactly the requests over the budget were dropped"
    );
    // A dropped request's retransmission, once the waiting rejects have gone out (the
    // budget has room again), gets its answer.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let dropped = wrong.last().unwrap();
    let answered = bad.exchange_within(dropped, Duration::from_secs(8)).await;
    assert_eq!(
        answered.as_deref().map(code_of),
        Some(Code::AccessReject),
        "the retransmission is answered; {}",
        hotspot_radius::metrics::handle()
            .unwrap()
            .render()
            .lines()
            .filter(|l| l.starts_with("radius_dropped")
                || l.starts_with("radius_requests")
                || l.starts_with("radius_dup"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    server.stop().await;
}

/// The value of one exported series (0 when absent).
fn counter(series: &str) -> u64 {
    let text = hotspot_radius::metrics::handle()
        .expect("the server installed the metrics recorder")
        .render();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
