//! `[database] replica_url`: the profile loads of cache misses go to a read replica (a real
//! streaming standby of the harness's PostgreSQL, made with `pg_basebackup -R`), writes and
//! LISTEN stay on the primary, and a user named by a change notification is read from the
//! primary while the replica has not replayed the change (replay paused on the standby).

use std::time::{Duration, Instant};

use hotspot_radius::app;
use hotspot_radius::config::Config;
use radius_proto::protocol::{AcctStatus, Code};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::harness::{self, LOAD_USER_SQL as LOAD_USER, Postgres};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "replica-secret";
const WAIT: Duration = Duration::from_secs(20);

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Waits (bounded) until `check` holds.
async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_read_the_replica_changes_and_writes_the_primary() {
    let primary = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&primary).await;
    exec(
        &pool,
        &format!(
            "INSERT INTO nas (nasname, shortname, type, secret) \
             VALUES ('127.0.0.1', 'hotspot1', 'other', '{SECRET}');
             INSERT INTO radcheck (username, attribute, op, value) VALUES
               ('alice', 'Cleartext-Password', ':=', 'wonderland'),
               ('bob', 'Cleartext-Password', ':=', 'builder'),
               ('carol', 'Cleartext-Password', ':=', 'singer'),
               ('dave', 'Cleartext-Password', ':=', 'diver');"
        ),
    )
    .await;
    let mut standby = Postgres::start_standby_of(&primary);
    let replica_url = url.replace(
        &format!(":{}/", primary.port()),
        &format!(":{}/", standby.port()),
    );
    let replica = PgPoolOptions::new()
        .max_connections(2)
        .connect(&replica_url)
        .await
        .expect("connect to the standby");
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&replica)
        .await
        .unwrap();
    assert!(in_recovery, "the replica is a standby");

    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.database.url = Some(url.clone());
    c.database.replica_url = Some(replica_url.clone());
    c.database.pool_size = 4;
    c.server.shutdown_timeout_secs = 5;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new(server.auth_addr, SECRET).await;

    // A miss: loaded from the replica, not the primary.
    let (on_replica, on_primary) = (
        harness::statement_count_matching(&replica, LOAD_USER).await,
        harness::statement_count_matching(&pool, LOAD_USER).await,
    );
    let r = nas
        .exchange(&nas.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    assert_eq!(
        harness::statement_count_matching(&replica, LOAD_USER).await,
        on_replica + 1,
        "the miss was read on the replica"
    );
    assert_eq!(
        harness::statement_count_matching(&pool, LOAD_USER).await,
        on_primary,
        "and not on the primary"
    );

    // The replica stops replaying: it keeps bob's old password.
    exec(&replica, "SELECT pg_wal_replay_pause()").await;
    let applied = server.notifications_applied();
    let seen = *applied.borrow();
    exec(
        &pool,
        "UPDATE radcheck SET value = 'renovated' WHERE username = 'bob'",
    )
    .await;
    let stale: String = sqlx::query_scalar("SELECT value FROM radcheck WHERE username = 'bob'")
        .fetch_one(&replica)
        .await
        .unwrap();
    assert_eq!(stale, "builder", "the replica has not replayed the change");
    // The change was notified: bob is read from the primary, so the new password works
    // at once, although the replica still holds the old one.
    until("the NOTIFY for bob is applied", || {
        let applied = applied.clone();
        async move { *applied.borrow() > seen }
    })
    .await;
    let r = nas
        .exchange(&nas.access_request("bob", "renovated", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept, "bob's change is in force");
    // carol did not change: still read on the (paused) replica.
    let before = harness::statement_count_matching(&replica, LOAD_USER).await;
    let r = nas
        .exchange(&nas.access_request("carol", "singer", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);
    assert_eq!(
        harness::statement_count_matching(&replica, LOAD_USER).await,
        before + 1,
        "unchanged users are still read on the replica"
    );

    // Writes go to the primary (a standby would refuse them): accounting lands there.
    let acct = Nas::new(server.acct_addr, SECRET).await;
    let r = acct
        .exchange(&acct.accounting_request(
            "alice",
            "cc000001",
            AcctStatus::Start.as_u32(),
            (0, 0, 0),
        ))
        .await;
    assert_eq!(code_of(&r), Code::AccountingResponse);
    until("the Start reaches radacct on the primary", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM radacct WHERE acctsessionid = 'cc000001'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
                == 1
        }
    })
    .await;
    exec(&replica, "SELECT pg_wal_replay_resume()").await;

    // The replica goes away: misses are read on the primary instead (no false reject, no
    // silence).
    replica.close().await;
    standby.stop();
    let r = nas
        .exchange(&nas.access_request("dave", "diver", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept, "read on the primary");
    server.stop().await;
}
