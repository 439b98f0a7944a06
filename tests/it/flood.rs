//! Floods of unknown usernames (issue 12): one NAS sending thousands of names nobody has
//! must not starve the other NASes' real cache misses (`[server] max_misses_per_nas`);
//! concurrent lookups of one unknown name cost one SQL statement; an unknown name is
//! remembered as unknown until the NOTIFY that creates it.
//!
//! A slow database is made deterministic by holding `LOCK TABLE radcheck` in a test
//! transaction: every user lookup then waits (well inside the server's statement timeout)
//! until the test commits, so "waiting" is a state the test controls, not a timing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, NasConfig};
use radius_proto::protocol::{Code, Packet};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{self, LOAD_USER_SQL as LOAD_USER};
use crate::udp_access::{Method, Nas, REPLY_WAIT, code_of};

const SECRET_A: &str = "flood-secret-a";
const SECRET_B: &str = "flood-secret-b";

/// A server with two NAS entries: `a_name` on 127.0.0.1 (the flooder) and `b_name` on
/// 127.0.0.3. Names differ per test: the per-NAS series are process-wide.
fn config(url: &str, a_name: &str, b_name: &str) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.database.url = Some(url.to_owned());
    c.server.shutdown_timeout_secs = 5;
    c.accounting.journal_dir = harness::fresh_dir("flood-journal");
    c.nas = vec![
        NasConfig {
            address: "127.0.0.1".into(),
            secret: SECRET_A.into(),
            name: Some(a_name.into()),
            ..NasConfig::default()
        },
        NasConfig {
            address: "127.0.0.3".into(),
            secret: SECRET_B.into(),
            name: Some(b_name.into()),
            ..NasConfig::default()
        },
    ];
    c
}

async fn seed(pool: &PgPool) {
    sqlx::raw_sql(
        "INSERT INTO radcheck (username, attribute, op, value) VALUES
           ('bob', 'Cleartext-Password', ':=', 'builder'),
           ('alice', 'Cleartext-Password', ':=', 'wonderland');",
    )
    .execute(pool)
    .await
    .expect("seed users");
}

/// The value of one process-wide series (0 when absent).
fn counter(series: &str) -> u64 {
    let text = hotspot_radius::metrics::handle()
        .expect("the server installed the metrics recorder")
        .render();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Requests the server has received from NAS entry `nas`, read from its admin `/metrics`
/// (the per-NAS series are written at scrape time).
async fn nas_requests(admin: SocketAddr, nas: &str) -> u64 {
    let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(REPLY_WAIT, s.read_to_string(&mut body))
        .await
        .expect("metrics answered")
        .unwrap();
    let series = format!("radius_nas_requests_total{{nas=\"{nas}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits (bounded) until the server has received `n` requests from `nas`.
async fn wait_received(server: &Running, nas: &str, n: u64) {
    let admin = server.admin_addr.expect("admin enabled");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = nas_requests(admin, nas).await;
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server received {seen} of {n} requests from {nas}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Server lookups now waiting for the test's table lock.
async fn lookups_waiting(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'hotspot-radius' \
           AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .expect("read pg_stat_activity")
}

/// Waits (bounded) until at least `n` server lookups wait for the lock.
async fn wait_lookups_waiting(pool: &PgPool, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting = lookups_waiting(pool).await;
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} of {n} lookups wait for the lock"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds every user lookup (they read radcheck) until the transaction ends.
async fn lock_user_reads(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE radcheck IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock radcheck");
    tx
}

/// The reply to the request with `id`, within the bounded wait.
async fn reply_to(nas: &Nas, id: u8) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + REPLY_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let reply = nas.recv(left).await?;
        if reply.get(1) == Some(&id) {
            return Some(reply);
        }
    }
}

fn dropped_lines() -> String {
    hotspot_radius::metrics::handle()
        .expect("the server installed the metrics recorder")
        .render()
        .lines()
        .filter(|l| l.starts_with("radius_dropped_total"))
        .collect::<Vec<_>>()
        .join("\n")
}

const MISS_BUDGET: &str = r#"radius_dropped_total{reason="miss_budget"}"#;

/// NAS A floods 2,000 distinct unknown usernames while the database is slow (every lookup
/// held by a table lock): A keeps `max_misses_per_nas` lookups waiting and the rest are
/// dropped as `miss_budget`, so a real, uncached user logging in from NAS B still gets a
/// worker slot and a connection, and is accepted once the database answers. Without the
/// per-NAS bound, A's waiting lookups take every `max_inflight` slot and B's request is
/// dropped as `overload`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_username_flood_from_one_nas_does_not_starve_another() {
    const FLOOD: u64 = 2_000;
    const BATCH: u64 = 500;
    const PER_NAS: usize = 3;
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = config(&url, "flood-a", "flood-b");
    c.server.max_inflight = 8;
    c.server.max_misses_per_nas = PER_NAS;
    // Room for every waiting lookup: B's lookup never waits for a connection.
    c.database.pool_size = 12;
    let server = app::start(c, None).await.expect("server starts");
    let a = Nas::new_at("127.0.0.1:0", server.auth_addr, SECRET_A).await;
    let b = Nas::new_at("127.0.0.3:0", server.auth_addr, SECRET_B).await;
    let dropped_before = counter(MISS_BUDGET);

    let lock = lock_user_reads(&pool).await;
    let mut sent = 0;
    while sent < FLOOD {
        for _ in 0..BATCH {
            let name = format!("nobody-{sent}");
            a.send(&a.access_request(&name, "x", Method::Pap, true).bytes)
                .await;
            sent += 1;
        }
        // Let the server take in this batch before the next (keeps the socket buffer from
        // overflowing, so every request is received and accounted for).
        wait_received(&server, "flood-a", sent).await;
    }
    wait_lookups_waiting(&pool, PER_NAS as i64).await;

    // A real user, not cached, from the other NAS: one request, no retransmission.
    let login = b.access_request("bob", "builder", Method::Pap, true);
    b.send(&login.bytes).await;
    wait_received(&server, "flood-b", 1).await;
    wait_lookups_waiting(&pool, PER_NAS as i64 + 1).await;
    lock.commit().await.expect("unlock");

    let Some(reply) = reply_to(&b, login.bytes[1]).await else {
        panic!(
            "NAS B's login got no reply during NAS A's flood\n{}",
            dropped_lines()
        );
    };
    assert_eq!(code_of(&reply), Code::AccessAccept, "bob from NAS B");
    Packet::decode(&reply).expect("reply decodes");
    assert_eq!(
        counter(MISS_BUDGET) - dropped_before,
        FLOOD - PER_NAS as u64,
        "every flood request beyond A's budget is dropped as miss_budget\n{}",
        dropped_lines()
    );
    server.stop().await;
}

/// Concurrent lookups of one unknown name share one load: 20 requests for it, all waiting
/// on the database at once, cost one SQL statement and all get their Access-Reject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_unknown_name_cost_one_statement() {
    const SAME: u64 = 20;
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let server = app::start(config(&url, "coalesce-a", "coalesce-b"), None)
        .await
        .expect("server starts");
    let nas = Nas::new_at("127.0.0.1:0", server.auth_addr, SECRET_A).await;
    let before = harness::statement_count_matching(&pool, LOAD_USER).await;

    let lock = lock_user_reads(&pool).await;
    let mut ids = Vec::new();
    while ids.len() < SAME as usize {
        let req = nas.access_request("ghost", "x", Method::Pap, true);
        // Distinct identifiers, so each reply is matched to its own request.
        if ids.contains(&req.bytes[1]) {
            continue;
        }
        nas.send(&req.bytes).await;
        ids.push(req.bytes[1]);
    }
    wait_received(&server, "coalesce-a", SAME).await;
    wait_lookups_waiting(&pool, 1).await;
    assert_eq!(
        lookups_waiting(&pool).await,
        1,
        "one statement waits for all {SAME} requests"
    );
    lock.commit().await.expect("unlock");

    let mut rejects = 0;
    for _ in 0..SAME {
        let Some(reply) = nas.recv(REPLY_WAIT).await else {
            break;
        };
        if ids.contains(&reply[1]) && code_of(&reply) == Code::AccessReject {
            rejects += 1;
        }
    }
    assert_eq!(rejects, SAME, "every request is rejected");
    let statements = harness::statement_count_matching(&pool, LOAD_USER).await - before;
    assert_eq!(statements, 1, "one load_user statement for {SAME} lookups");
    server.stop().await;
}

/// A name that was unknown is remembered as unknown (no statement per request) until it is
/// created: the NOTIFY drops the negative entry, and the next request is accepted, long
/// before the negative lifetime (here 600 s) could have run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_is_accepted_once_created() {
    unknown_then_created(None, "created-a").await;
}

/// The same with Redis: the negative entry is in L2 too, and the NOTIFY drops both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_is_accepted_once_created_with_redis() {
    let redis = harness::Redis::start();
    unknown_then_created(Some(redis.url()), "created-l2-a").await;
}

async fn unknown_then_created(redis_url: Option<String>, nas_name: &str) {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool).await;
    let mut c = config(&url, nas_name, &format!("{nas_name}-b"));
    c.cache.negative_ttl_secs = 600;
    c.redis.url = redis_url;
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new_at("127.0.0.1:0", server.auth_addr, SECRET_A).await;
    let r = nas
        .exchange(&nas.access_request("dave", "diver", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessReject, "unknown at first");
    let loaded = harness::statement_count_matching(&pool, LOAD_USER).await;
    let r = nas
        .exchange(&nas.access_request("dave", "diver", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessReject, "still unknown");
    assert_eq!(
        harness::statement_count_matching(&pool, LOAD_USER).await,
        loaded,
        "the second reject comes from the negative entry, not from SQL"
    );

    sqlx::query(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('dave', 'Cleartext-Password', ':=', 'diver')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut accepted = false;
    for _ in 0..50 {
        let req = nas.access_request("dave", "diver", Method::Pap, true);
        if let Some(r) = nas.exchange_within(&req, Duration::from_millis(500)).await
            && code_of(&r) == Code::AccessAccept
        {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "dave accepted after being created (NOTIFY)");
    server.stop().await;
}
