//! The `auto` Message-Authenticator latch is persisted (`nas_ma_latch`, issue 12): a router
//! that once sent a Message-Authenticator must keep sending one after a restart, on every
//! instance sharing the database, until an operator resets it with `nas unlatch`. Whole
//! servers (`app::start`) over a fresh, migrated PostgreSQL database, driven by our fake NAS.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, MessageAuthenticatorPolicy, NasConfig};
use radius_proto::protocol::Code;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use hotspot_radius::metrics::reason;

use crate::harness;
use crate::udp_access::{Method, Nas, REPLY_WAIT, code_of};

const SECRET: &str = "latch-secret";

fn config(database_url: &str) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.server.shutdown_timeout_secs = 5;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c
}

async fn start(database_url: &str) -> Running {
    app::start(config(database_url), None)
        .await
        .expect("server starts")
}

/// A NAS row (`auto` policy) for `nasname` and the user alice.
async fn seed(pool: &PgPool, nasname: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO nas (nasname, shortname, type, secret, require_message_authenticator) \
         VALUES ('{nasname}', 'routers', 'other', '{SECRET}', 'auto');
         INSERT INTO radcheck (username, attribute, op, value) VALUES
           ('alice', 'Cleartext-Password', ':=', 'wonderland');"
    )))
    .execute(pool)
    .await
    .expect("seed");
}

/// An Access-Request from `nas`, with or without a Message-Authenticator.
async fn accepted(nas: &Nas, with_ma: bool) -> bool {
    let reply = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, with_ma))
        .await;
    code_of(&reply) == Code::AccessAccept
}

/// Fresh requests without a Message-Authenticator until one gets the wanted treatment
/// (answered or not), bounded: for changes that reach a running server by NOTIFY.
async fn eventually_without_ma(nas: &Nas, want_answer: bool) -> bool {
    for _ in 0..50 {
        let req = nas.access_request("alice", "wonderland", Method::Pap, false);
        let answered = nas
            .exchange_within(&req, Duration::from_millis(300))
            .await
            .is_some();
        if answered == want_answer {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The recorded latches, as text.
async fn latches(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT host(address) FROM nas_ma_latch ORDER BY address")
        .fetch_all(pool)
        .await
        .expect("read nas_ma_latch")
}

/// The `hotspot-radius` binary with `args` against `database_url`: (success, stdout).
fn cli(database_url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .output()
        .expect("run hotspot-radius");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `radius_dropped_total{reason="missing_message_authenticator"}` from `/metrics`.
async fn missing_ma_drops(admin: SocketAddr) -> f64 {
    let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(REPLY_WAIT, s.read_to_string(&mut body))
        .await
        .expect("metrics answered")
        .unwrap();
    body.lines()
        .find_map(|l| {
            l.strip_prefix(r#"radius_dropped_total{reason="missing_message_authenticator"} "#)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latch_survives_restart_reaches_other_instances_and_can_be_reset() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool, "127.0.0.1").await;
    let first = start(&url).await;
    let second = start(&url).await;
    let to_first = Nas::new(first.auth_addr, SECRET).await;
    let to_second = Nas::new(second.auth_addr, SECRET).await;

    // An old router: accepted without a Message-Authenticator on both.
    assert!(accepted(&to_first, false).await);
    assert!(accepted(&to_second, false).await);
    // It sends one (upgraded): from now on it is required from it.
    assert!(accepted(&to_first, true).await);
    let admin = first.admin_addr.expect("admin enabled");
    let before = missing_ma_drops(admin).await;
    to_first
        .expect_dropped(
            &to_first.access_request("alice", "wonderland", Method::Pap, false),
            reason::MISSING_MESSAGE_AUTHENTICATOR,
        )
        .await;
    assert!(
        missing_ma_drops(admin).await > before,
        "counted under missing_message_authenticator"
    );
    // The other instance, which never saw one from it, learns the latch too.
    assert!(
        eventually_without_ma(&to_second, false).await,
        "the second instance drops it too"
    );
    assert!(accepted(&to_second, true).await);
    assert_eq!(latches(&pool).await, ["127.0.0.1"]);
    let (ok, out) = cli(&url, &["nas", "list"]);
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("127.0.0.1 "))
        .unwrap_or_else(|| panic!("row listed: {out}"));
    assert!(row.trim_end().ends_with("yes"), "shown latched: {out}");
    first.stop().await;
    second.stop().await;

    // Restart over the same database: still required.
    let restarted = start(&url).await;
    let nas = Nas::new(restarted.auth_addr, SECRET).await;
    nas.expect_dropped(
        &nas.access_request("alice", "wonderland", Method::Pap, false),
        reason::MISSING_MESSAGE_AUTHENTICATOR,
    )
    .await;
    assert!(accepted(&nas, true).await);

    // The operator downgraded the router on purpose: reset, accepted again at once.
    let (ok, out) = cli(&url, &["nas", "unlatch", "--address", "127.0.0.1"]);
    assert!(ok && out.contains("reset 1"), "{out}");
    assert!(latches(&pool).await.is_empty());
    assert!(
        eventually_without_ma(&nas, true).await,
        "accepted without Message-Authenticator after nas unlatch"
    );
    let (ok, out) = cli(&url, &["nas", "list"]);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("127.0.0.1 ") && l.trim_end().ends_with("no")),
        "shown unlatched: {out}"
    );
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cidr_entry_latches_per_router_also_after_restart() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool, "127.0.0.0/24").await;
    let server = start(&url).await;
    let upgraded = Nas::new_at("127.0.0.2:0", server.auth_addr, SECRET).await;
    let older = Nas::new_at("127.0.0.3:0", server.auth_addr, SECRET).await;
    assert!(accepted(&upgraded, true).await);
    upgraded
        .expect_dropped(
            &upgraded.access_request("alice", "wonderland", Method::Pap, false),
            reason::MISSING_MESSAGE_AUTHENTICATOR,
        )
        .await;
    assert!(
        accepted(&older, false).await,
        "another router of the range is not latched"
    );
    server.stop().await;
    assert_eq!(latches(&pool).await, ["127.0.0.2"]);

    let server = start(&url).await;
    let upgraded = upgraded.to(server.auth_addr);
    let older = older.to(server.auth_addr);
    upgraded
        .expect_dropped(
            &upgraded.access_request("alice", "wonderland", Method::Pap, false),
            reason::MISSING_MESSAGE_AUTHENTICATOR,
        )
        .await;
    assert!(
        accepted(&older, false).await,
        "another router of the range is still not latched after a restart"
    );
    server.stop().await;

    let (ok, out) = cli(&url, &["nas", "list"]);
    assert!(ok && out.contains("1 router(s)"), "{out}");
    // Removing the entry forgets the latches of its addresses.
    let (ok, out) = cli(&url, &["nas", "remove", "127.0.0.0/24"]);
    assert!(ok && out.contains("forgot 1"), "{out}");
    assert!(latches(&pool).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_entry_latch_survives_restart() {
    let (url, pool) = harness::fresh_db().await;
    seed(&pool, "192.0.2.1").await; // only for the user; this test's NAS is in the file
    let mut c = config(&url);
    c.nas = vec![NasConfig {
        address: "127.0.0.1".into(),
        secret: SECRET.into(),
        name: Some("from-file".into()),
        require_message_authenticator: MessageAuthenticatorPolicy::Auto,
        ..NasConfig::default()
    }];
    let server = app::start(c.clone(), None).await.expect("server starts");
    let nas = Nas::new(server.auth_addr, SECRET).await;
    assert!(accepted(&nas, false).await);
    assert!(accepted(&nas, true).await);
    server.stop().await;
    assert_eq!(latches(&pool).await, ["127.0.0.1"]);

    let server = app::start(c, None).await.expect("server restarts");
    let nas = nas.to(server.auth_addr);
    nas.expect_dropped(
        &nas.access_request("alice", "wonderland", Method::Pap, false),
        reason::MISSING_MESSAGE_AUTHENTICATOR,
    )
    .await;
    server.stop().await;
}
