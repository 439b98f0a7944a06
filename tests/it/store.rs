//! Store tests against real PostgreSQL and Redis servers (see `harness`): the one-statement
//! profile load, the cache tiers and their pushed invalidation, outages of either server,
//! and the accounting / post-auth writes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hotspot_radius::accounting::PostAuthWriter;
use hotspot_radius::config::PostAuthLog;
use hotspot_radius::model::{
    AcctRecord, GroupRows, NasRow, PostAuthFields, PostAuthRecord, RadRow,
};
use hotspot_radius::policy::{Authorization, Profile};
use hotspot_radius::profiles::{LookupError, ProfileOptions, Profiles};
use hotspot_radius::store::{PgStore, PoolSettings, RedisSettings, RedisTier, SigningKey, migrate};
use radius_proto::auth::Credential;
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::harness::{
    Postgres, Redis, fresh_db, fresh_db_on, shared_postgres, statement_count,
    statement_count_matching,
};

/// Upper bound for anything pushed asynchronously (NOTIFY, reconnects, batches).
const WAIT: Duration = Duration::from_secs(20);

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The profile cache over `url` (and Redis at `redis`), with long TTLs: in these tests only
/// invalidation can make a change visible.
async fn store(url: &str, redis: Option<String>) -> Profiles {
    let pg = PgStore::connect_lazy(
        url,
        PoolSettings {
            size: 4,
            ..PoolSettings::default()
        },
    )
    .expect("PgStore::connect_lazy");
    // Signed with the database's key, as the server does: instances over one database
    // share what they cache.
    let key = match redis {
        Some(_) => pg.l2_signing_key().await.expect("L2 signing key"),
        None => String::new(),
    };
    let l2 = redis.map(|url| {
        RedisTier::connect_lazy(
            &url,
            RedisSettings {
                ttl: Duration::from_secs(3600),
                negative_ttl: Duration::from_secs(3600),
                timeout: Duration::from_millis(250),
            },
        )
        .expect("RedisTier::connect_lazy")
        .with_signing_key(SigningKey::new(key.as_bytes()))
    });
    let opts = ProfileOptions {
        l1_ttl: Duration::from_secs(3600),
        negative_ttl: Duration::from_secs(3600),
        ..ProfileOptions::default()
    };
    Profiles::new(pg, l2, &opts, Arc::new(Dictionary::builtin()))
}

/// The Cleartext-Password a profile would check an Access-Request against.
fn password(profile: &Profile) -> Option<String> {
    let mut b = PacketBuilder::new(Code::AccessRequest, 1);
    b.add(1, b"someone").expect("User-Name");
    let mut bytes = b.as_bytes().to_vec();
    let len = u16::try_from(bytes.len()).expect("len");
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    let packet = Packet::decode(&bytes).expect("decode");
    match profile.authorize(&packet, 1_700_000_000) {
        Authorization::Proceed {
            credential: Some(Credential::Cleartext(s)),
            ..
        } => Some(String::from_utf8_lossy(s.expose()).into_owned()),
        _ => None,
    }
}

async fn current_password(store: &Profiles, user: &str) -> Option<String> {
    let profile = store.user(user).await.expect("user").expect("exists");
    password(&profile)
}

/// Polls `f` until it returns true, at most `WAIT`.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {WAIT:?}: {what}");
}

/// Waits (bounded) until `store`'s listener has applied at least `count` invalidations
/// in all ([`Profiles::notifications_applied`]).
async fn applied(store: &Profiles, count: u64) {
    let mut applied = store.notifications_applied();
    let reached = tokio::time::timeout(WAIT, applied.wait_for(|n| *n >= count))
        .await
        .map(|r| r.is_ok());
    assert!(
        reached == Ok(true),
        "the listener applied {} of {count} invalidations within {WAIT:?}",
        *store.notifications_applied().borrow()
    );
}

/// Spawns `store`'s listener and waits until its first LISTEN is in place and acted on.
async fn listening(store: &Profiles, cancel: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let task = store.spawn_listener(cancel.clone(), || {});
    applied(store, 1).await;
    task
}

/// Makes a change once (`sql`, one notification), then waits until the listener has
/// applied it: the next lookup must see it.
async fn change(store: &Profiles, pool: &PgPool, sql: &str) {
    let before = *store.notifications_applied().borrow();
    exec(pool, sql).await;
    applied(store, before + 1).await;
}

fn row(attribute: &str, op: &str, value: &str) -> RadRow {
    RadRow {
        attribute: attribute.to_owned(),
        op: op.to_owned(),
        value: value.to_owned(),
    }
}

async fn add_user(pool: &PgPool, user: &str, password: &str) {
    sqlx::query(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ($1, 'Cleartext-Password', ':=', $2)",
    )
    .bind(user)
    .bind(password)
    .execute(pool)
    .await
    .expect("insert user");
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn harness_fresh_db_is_migrated_and_independent() {
    let (url_a, a) = fresh_db().await;
    let (url_b, b) = fresh_db().await;
    assert_ne!(url_a, url_b);
    add_user(&a, "u", "x").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radcheck")
        .fetch_one(&b)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert!(statement_count(&a).await >= 1);
}

#[tokio::test]
async fn harness_postgres_stop_and_start_again() {
    let mut pg = Postgres::start();
    let (url, pool) = fresh_db_on(&pg).await;
    pool.close().await;
    pg.stop();
    assert!(
        <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .is_err()
    );
    pg.start_again();
    let pool = PgPool::connect(&url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM nas")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn harness_redis_stop_and_start_again() {
    let mut r = Redis::start();
    let url = r.url();
    r.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", r.port())).is_err());
    r.start_again();
    assert_eq!(url, r.url());
    assert!(std::net::TcpStream::connect(("127.0.0.1", r.port())).is_ok());
}

// ---------------------------------------------------------------------------------------
// Schema and migrations
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn is_migrated_reports_an_unmigrated_database() {
    let pg = shared_postgres();
    let url = pg.create_database("unmigrated_check").await;
    let pool = PgPool::connect(&url).await.unwrap();
    let pg = PgStore::from_pool(pool.clone());
    assert!(!pg.is_migrated().await.unwrap());
    migrate(&pool).await.unwrap();
    assert!(pg.is_migrated().await.unwrap());
    // Idempotent.
    migrate(&pool).await.unwrap();
}

#[tokio::test]
async fn schema_has_freeradius_defaults_and_our_extras() {
    let (_, pool) = fresh_db().await;
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, value) VALUES ('u', 'a', 'v')",
    )
    .await;
    exec(
        &pool,
        "INSERT INTO radreply (username, attribute, value) VALUES ('u', 'a', 'v')",
    )
    .await;
    exec(
        &pool,
        "INSERT INTO radusergroup (username, groupname) VALUES ('u', 'g')",
    )
    .await;
    exec(
        &pool,
        "INSERT INTO nas (nasname, shortname, secret) VALUES ('10.0.0.1', 'r1', 's')",
    )
    .await;
    let ops: (String, String, i32) = sqlx::query_as(
        "SELECT c.op::text, r.op::text, g.priority FROM radcheck c, radreply r, radusergroup g",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ops, ("==".into(), "=".into(), 0));
    let nas: (String, String, i32, String) = sqlx::query_as(
        "SELECT type, description, coa_port, require_message_authenticator FROM nas",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        nas,
        ("other".into(), "RADIUS Client".into(), 3799, "auto".into())
    );
    let bad = sqlx::query(
        "INSERT INTO nas (nasname, shortname, secret, require_message_authenticator) \
         VALUES ('10.0.0.2', 'r2', 's', 'sometimes')",
    )
    .execute(&pool)
    .await;
    assert!(
        bad.is_err(),
        "the require_message_authenticator check constraint"
    );
}

#[tokio::test]
async fn triggers_notify_old_and_new_names_and_flush_for_huge_names() {
    let (_, pool) = fresh_db().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener.listen("hotspot_radius").await.unwrap();
    add_user(&pool, "alice", "x").await;
    exec(
        &pool,
        "UPDATE radcheck SET username = 'alice2' WHERE username = 'alice'",
    )
    .await;
    exec(
        &pool,
        "INSERT INTO radgroupreply (groupname, attribute, value) VALUES ('gold', 'a', 'v')",
    )
    .await;
    exec(&pool, "DELETE FROM radgroupreply").await;
    exec(
        &pool,
        "INSERT INTO nas (nasname, shortname, secret) VALUES ('10.0.0.1', 'r1', 's')",
    )
    .await;
    let long = "x".repeat(9000);
    add_user(&pool, &long, "x").await;
    let mut got = Vec::new();
    for _ in 0..7 {
        let n = tokio::time::timeout(WAIT, listener.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(n.payload().to_owned());
    }
    assert_eq!(
        got,
        [
            "user:alice",
            "user:alice",
            "user:alice2",
            "group:gold",
            "group:gold",
            "nas",
            "flush"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// load_user
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn load_user_returns_everything_in_order_in_one_statement() {
    let (_, pool) = fresh_db().await;
    // Rows inserted out of priority order; ids fix the order within each table.
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value) VALUES
           ('alice', 'Cleartext-Password', ':=', 'pw'),
           ('alice', 'Simultaneous-Use', ':=', '2'),
           ('bob', 'Cleartext-Password', ':=', 'other');
         INSERT INTO radreply (username, attribute, op, value) VALUES
           ('alice', 'Session-Timeout', '=', '3600'),
           ('alice', 'Mikrotik-Rate-Limit', '=', '1M/2M');
         INSERT INTO radusergroup (username, groupname, priority) VALUES
           ('alice', 'late', 5), ('alice', 'early', 1), ('alice', 'empty', 3), ('bob', 'early', 1);
         INSERT INTO radgroupcheck (groupname, attribute, op, value) VALUES
           ('early', 'Auth-Type', ':=', 'Accept'), ('late', 'Expiration', ':=', 'Jan 01 2030');
         INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
           ('late', 'Idle-Timeout', '=', '600'), ('early', 'Acct-Interim-Interval', '=', '300'),
           ('early', 'Class', '=', 'e')",
    )
    .await;
    let pg = PgStore::from_pool(pool.clone());
    let before = statement_count(&pool).await;
    let rows = pg.load_user("alice").await.unwrap().expect("alice exists");
    let after = statement_count(&pool).await;
    assert_eq!(after - before, 1, "load_user is one statement");

    assert_eq!(rows.username, "alice");
    assert_eq!(
        rows.check,
        [
            row("Cleartext-Password", ":=", "pw"),
            row("Simultaneous-Use", ":=", "2")
        ]
    );
    assert_eq!(
        rows.reply,
        [
            row("Session-Timeout", "=", "3600"),
            row("Mikrotik-Rate-Limit", "=", "1M/2M")
        ]
    );
    assert_eq!(
        rows.groups,
        [
            GroupRows {
                name: "early".into(),
                priority: 1,
                check: vec![row("Auth-Type", ":=", "Accept")],
                reply: vec![
                    row("Acct-Interim-Interval", "=", "300"),
                    row("Class", "=", "e")
                ],
            },
            GroupRows {
                name: "empty".into(),
                priority: 3,
                check: vec![],
                reply: vec![],
            },
            GroupRows {
                name: "late".into(),
                priority: 5,
                check: vec![row("Expiration", ":=", "Jan 01 2030")],
                reply: vec![row("Idle-Timeout", "=", "600")],
            },
        ]
    );
}

#[tokio::test]
async fn load_user_existence_and_exact_match() {
    let (_, pool) = fresh_db().await;
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value) VALUES ('alice', 'Cleartext-Password', ':=', 'pw');
         INSERT INTO radreply (username, attribute, op, value) VALUES ('replyonly', 'Class', '=', 'c');
         INSERT INTO radusergroup (username, groupname) VALUES ('grouponly', 'g')",
    )
    .await;
    let pg = PgStore::from_pool(pool);
    assert!(pg.load_user("nobody").await.unwrap().is_none());
    assert!(
        pg.load_user("Alice").await.unwrap().is_none(),
        "exact match"
    );
    assert!(
        pg.load_user("alice ").await.unwrap().is_none(),
        "exact match"
    );
    assert!(pg.load_user("").await.unwrap().is_none());
    let r = pg.load_user("replyonly").await.unwrap().unwrap();
    assert!(r.check.is_empty() && r.reply.len() == 1);
    let g = pg.load_user("grouponly").await.unwrap().unwrap();
    assert_eq!(g.groups.len(), 1);
    // Hostile input is data, not SQL.
    assert!(pg.load_user("x' OR '1'='1").await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------
// Store::user and the caches
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cache_hits_and_negatives_make_no_queries() {
    let (url, pool) = fresh_db().await;
    add_user(&pool, "alice", "pw").await;
    let store = store(&url, None).await;
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("pw")
    );
    assert!(store.user("ghost").await.unwrap().is_none());
    let loads = statement_count_matching(&pool, "radusergroup g").await;
    let before = statement_count(&pool).await;
    for _ in 0..10 {
        assert!(store.user("alice").await.unwrap().is_some());
        assert!(store.user("ghost").await.unwrap().is_none());
    }
    assert_eq!(
        statement_count(&pool).await - before,
        0,
        "L1 hits make no queries"
    );
    assert_eq!(loads, 2, "one load per user");
}

#[tokio::test]
async fn concurrent_misses_share_one_load() {
    let (url, pool) = fresh_db().await;
    add_user(&pool, "alice", "pw").await;
    let store = store(&url, None).await;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.user("alice").await.map(|p| p.is_some()) })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    assert_eq!(statement_count_matching(&pool, "radusergroup g").await, 1);
}

#[tokio::test]
async fn notify_invalidates_a_changed_user() {
    let (url, pool) = fresh_db().await;
    add_user(&pool, "alice", "old").await;
    let store = store(&url, None).await;
    let cancel = CancellationToken::new();
    let task = listening(&store, &cancel).await;
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("old")
    );
    // A new user is seen even though the negative entry was cached.
    assert!(store.user("bob").await.unwrap().is_none());
    // Each change is made once; the first lookup after its NOTIFY is applied sees it.
    change(
        &store,
        &pool,
        "UPDATE radcheck SET value = 'new' WHERE username = 'alice'",
    )
    .await;
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("new"),
        "password change visible"
    );
    change(
        &store,
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('bob', 'Cleartext-Password', ':=', 'b')",
    )
    .await;
    assert!(
        store.user("bob").await.unwrap().is_some(),
        "new user visible"
    );
    change(
        &store,
        &pool,
        "DELETE FROM radcheck WHERE username = 'alice'",
    )
    .await;
    assert!(
        store.user("alice").await.unwrap().is_none(),
        "deleted user gone"
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn notify_on_a_group_invalidates_its_members_and_nas_changes_are_reported() {
    let (url, pool) = fresh_db().await;
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value) VALUES
           ('a', 'Cleartext-Password', ':=', 'x'), ('b', 'Cleartext-Password', ':=', 'y'),
           ('c', 'Cleartext-Password', ':=', 'z');
         INSERT INTO radusergroup (username, groupname) VALUES ('a', 'gold'), ('b', 'gold');
         INSERT INTO radgroupcheck (groupname, attribute, op, value)
           VALUES ('gold', 'Simultaneous-Use', ':=', '1')",
    )
    .await;
    let store = store(&url, None).await;
    let nas_changes = Arc::new(AtomicUsize::new(0));
    let seen = nas_changes.clone();
    let cancel = CancellationToken::new();
    let task = store.spawn_listener(cancel.clone(), move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    applied(&store, 1).await;
    for u in ["a", "b"] {
        let p = store.user(u).await.unwrap().unwrap();
        assert_eq!(p.simultaneous_use(), Some(1));
    }
    assert!(store.user("c").await.unwrap().is_some());
    change(
        &store,
        &pool,
        "UPDATE radgroupcheck SET value = '2' WHERE groupname = 'gold'",
    )
    .await;
    for u in ["a", "b"] {
        let p = store.user(u).await.unwrap().unwrap();
        assert_eq!(p.simultaneous_use(), Some(2), "group change visible to {u}");
    }
    assert_eq!(nas_changes.load(Ordering::SeqCst), 0);
    change(
        &store,
        &pool,
        "INSERT INTO nas (nasname, shortname, secret) VALUES ('10.0.0.1', 'r1', 's')",
    )
    .await;
    assert_eq!(nas_changes.load(Ordering::SeqCst), 1, "nas change reported");
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn redis_l2_is_shared_and_its_outage_falls_through_to_postgres() {
    let (url, pool) = fresh_db().await;
    for u in ["alice", "bob", "carol"] {
        add_user(&pool, u, &format!("{u}-pw")).await;
    }
    let mut redis = Redis::start();
    let first = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&first, "alice").await.as_deref(),
        Some("alice-pw")
    );
    assert!(first.user("ghost").await.unwrap().is_none());

    // A second instance (empty L1) gets both from Redis without touching PostgreSQL.
    let second = store(&url, Some(redis.url())).await;
    let before = statement_count(&pool).await;
    assert_eq!(
        current_password(&second, "alice").await.as_deref(),
        Some("alice-pw")
    );
    assert!(second.user("ghost").await.unwrap().is_none());
    assert_eq!(statement_count(&pool).await - before, 0, "served from L2");

    // Invalidation deletes the L2 entry too.
    exec(
        &pool,
        "UPDATE radcheck SET value = 'changed' WHERE username = 'alice'",
    )
    .await;
    first.invalidate_user("alice").await;
    let third = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&third, "alice").await.as_deref(),
        Some("changed")
    );

    // Redis down: uncached users still load, from PostgreSQL.
    redis.stop();
    assert_eq!(
        current_password(&second, "bob").await.as_deref(),
        Some("bob-pw")
    );
    let fourth = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&fourth, "carol").await.as_deref(),
        Some("carol-pw")
    );
    assert_eq!(
        current_password(&fourth, "alice").await.as_deref(),
        Some("changed")
    );

    // Back up: L2 is used again (after the one-second probe interval).
    redis.start_again();
    let fifth = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&fifth, "bob").await.as_deref(),
        Some("bob-pw")
    );
    eventually("L2 written again after recovery", || async {
        let sixth = store(&url, Some(redis.url())).await;
        fifth.invalidate_user("bob").await;
        let _ = fifth.user("bob").await;
        let before = statement_count(&pool).await;
        let ok = current_password(&sixth, "bob").await.as_deref() == Some("bob-pw");
        ok && statement_count(&pool).await == before
    })
    .await;
}

/// A change made while no server listened (every instance restarting, or a listener
/// reconnecting) is never hidden by the shared L2: the first LISTEN and every reconnection
/// bump the L2 generation, so entries written before are not used.
#[tokio::test]
async fn l2_entries_from_before_missed_notifications_are_not_used() {
    let (url, pool) = fresh_db().await;
    add_user(&pool, "dora", "old-pw").await;
    let redis = Redis::start();
    let before_restart = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&before_restart, "dora").await.as_deref(),
        Some("old-pw")
    );
    drop(before_restart);
    // Changed while no instance listens: the NOTIFY reaches nobody.
    exec(
        &pool,
        "UPDATE radcheck SET value = 'new-pw' WHERE username = 'dora'",
    )
    .await;
    // Control: without listening, a new instance would still find the old entry in L2.
    let unlistening = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&unlistening, "dora").await.as_deref(),
        Some("old-pw"),
        "the scenario needs the stale L2 entry to be there"
    );
    // A started instance listens first, which invalidates L2 everywhere.
    let restarted = store(&url, Some(redis.url())).await;
    let cancel = CancellationToken::new();
    let (task, listening) = restarted.spawn_listener_with_ready(cancel.clone(), || {});
    tokio::time::timeout(WAIT, listening)
        .await
        .expect("LISTEN in time")
        .expect("listener ready");
    // `ready` comes after the first LISTEN's L2 flush (counted as one invalidation).
    assert_eq!(
        *restarted.notifications_applied().borrow(),
        1,
        "ready only once the first LISTEN's flush is done"
    );
    assert_eq!(
        current_password(&restarted, "dora").await.as_deref(),
        Some("new-pw"),
        "the new password after the first LISTEN"
    );
    // And the L2 written afterwards holds the new rows for everyone.
    let another = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&another, "dora").await.as_deref(),
        Some("new-pw")
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn postgres_outage_serves_cached_users_and_reports_uncached_as_unavailable() {
    let mut pg = Postgres::start();
    let (url, pool) = fresh_db_on(&pg).await;
    add_user(&pool, "alice", "pw").await;
    add_user(&pool, "bob", "pw2").await;
    pool.close().await;
    let store = store(&url, None).await;
    let cancel = CancellationToken::new();
    let nas_changes = Arc::new(AtomicUsize::new(0));
    let seen = nas_changes.clone();
    let task = store.spawn_listener(cancel.clone(), move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("pw")
    );
    assert!(store.user("ghost").await.unwrap().is_none());

    pg.stop();
    // Cached (positive and negative) answers survive the outage, even with the listener
    // having lost its connection.
    for _ in 0..3 {
        assert_eq!(
            current_password(&store, "alice").await.as_deref(),
            Some("pw")
        );
        assert!(store.user("ghost").await.unwrap().is_none());
        match store.user("bob").await {
            Err(LookupError::Unavailable(e)) if e.is_unavailable() => {}
            other => panic!("uncached user during outage: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    pg.start_again();
    eventually("uncached user loads after recovery", || async {
        matches!(store.user("bob").await, Ok(Some(_)))
    })
    .await;
    // Notifications were lost while down: the listener flushed L1 and reported NAS change.
    eventually("listener reconnected", || async {
        nas_changes.load(Ordering::SeqCst) >= 1
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
}

/// An outage longer than the L1 lifetime: the expired profile is served from the stale
/// fallback (only because the reload failed), and an invalidation drops it.
#[tokio::test]
async fn postgres_outage_longer_than_l1_ttl_serves_stale_profiles() {
    let mut pg = Postgres::start();
    let (url, pool) = fresh_db_on(&pg).await;
    add_user(&pool, "alice", "pw").await;
    let store = PgStore::connect_lazy(
        &url,
        PoolSettings {
            size: 2,
            ..PoolSettings::default()
        },
    )
    .unwrap();
    let opts = ProfileOptions {
        l1_ttl: Duration::from_millis(500),
        ..ProfileOptions::default()
    };
    let profiles = Profiles::new(store, None, &opts, Arc::new(Dictionary::builtin()));
    assert_eq!(
        current_password(&profiles, "alice").await.as_deref(),
        Some("pw")
    );
    pg.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    profiles.run_pending_tasks().await;
    assert_eq!(
        current_password(&profiles, "alice").await.as_deref(),
        Some("pw"),
        "served from the stale fallback after its L1 lifetime"
    );
    assert!(
        matches!(
            profiles.user("nobody-known").await,
            Err(LookupError::Unavailable(_))
        ),
        "an unknown user is still 'unavailable', never a false reject"
    );
    profiles.invalidate_user("alice").await;
    assert!(
        matches!(
            profiles.user("alice").await,
            Err(LookupError::Unavailable(_))
        ),
        "an invalidation drops the fallback too"
    );
    pg.start_again();
}

// ---------------------------------------------------------------------------------------
// NAS table
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn nas_add_list_remove() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool);
    let nas = NasRow {
        tenant: None,
        nasname: "10.1.0.0/24".into(),
        shortname: None,
        secret: "s3cret".into(),
        coa_port: 1700,
        require_message_authenticator: "require".into(),
    };
    let hotspot_radius::store::NasWrite::Added { id } = pg.add_nas(&nas).await.unwrap() else {
        panic!("a new address is added");
    };
    let listed = pg.list_nas().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].nas_type, "other");
    assert_eq!(listed[0].nas.shortname.as_deref(), Some("10.1.0.0/24"));
    assert_eq!(pg.load_nas().await.unwrap()[0].secret, "s3cret");
    assert!(
        !format!("{:?}", listed[0]).contains("s3cret"),
        "Debug redacts the secret"
    );
    assert!(
        pg.add_nas(&NasRow {
            require_message_authenticator: "maybe".into(),
            ..nas.clone()
        })
        .await
        .is_err()
    );
    // Adding the same address again replaces it (one row, the new secret), never a second
    // row whose older twin would keep winning.
    let again = pg
        .add_nas(&NasRow {
            secret: "n3w".into(),
            ..nas.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        again,
        hotspot_radius::store::NasWrite::Replaced { id, rows: 1 }
    );
    let rows = pg.load_nas().await.unwrap();
    assert_eq!(
        (rows.len(), rows[0].secret.as_str()),
        (1, "n3w"),
        "replaced in place"
    );
    assert_eq!(pg.remove_nas("10.1.0.0/24").await.unwrap(), 1);
    assert_eq!(pg.remove_nas("10.1.0.0/24").await.unwrap(), 0);
    assert!(pg.load_nas().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Accounting
// ---------------------------------------------------------------------------------------

const T0: i64 = 1_750_000_000;

fn acct(status: u32, unique: &str, event_time: i64) -> AcctRecord {
    AcctRecord {
        tenant: None,
        status: AcctStatus::from(status),
        event_time,
        session_id: format!("sess-{unique}"),
        unique_id: unique.to_owned(),
        username: "alice".into(),
        realm: None,
        nas_ip: "10.0.0.1".parse().unwrap(),
        client: "10.0.0.1/32".parse().unwrap(),
        nas_identifier: Some("r1".into()),
        nas_port_id: Some("bridge-hotspot".into()),
        nas_port: None,
        nas_port_type: Some("Wireless-802.11".into()),
        session_time: None,
        input_octets: None,
        output_octets: None,
        authentic: Some("RADIUS".into()),
        called_station_id: Some("hotspot1".into()),
        calling_station_id: Some("AA:BB:CC:DD:EE:FF".into()),
        terminate_cause: None,
        service_type: None,
        framed_protocol: None,
        framed_ip: Some("10.5.50.2".parse().unwrap()),
        framed_ipv6: None,
        framed_ipv6_prefix: Some("2001:db8:1::/64".into()),
        delegated_ipv6_prefix: None,
        class: None,
        interim_interval: None,
    }
}

fn interim(unique: &str, t: i64, secs: i64, inp: i64, out: i64) -> AcctRecord {
    AcctRecord {
        session_time: Some(secs),
        input_octets: Some(inp),
        output_octets: Some(out),
        ..acct(3, unique, t)
    }
}

fn stop(unique: &str, t: i64, secs: i64, inp: i64, out: i64) -> AcctRecord {
    AcctRecord {
        terminate_cause: Some("User-Request".into()),
        ..interim(unique, t, secs, inp, out)
    }
    .with_status(2)
}

trait WithStatus {
    fn with_status(self, s: u32) -> Self;
}

impl WithStatus for AcctRecord {
    fn with_status(mut self, s: u32) -> Self {
        self.status = AcctStatus::from(s);
        self
    }
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Session {
    n: i64,
    start: Option<i64>,
    update: Option<i64>,
    stop: Option<i64>,
    secs: Option<i64>,
    inp: Option<i64>,
    out: Option<i64>,
    interval: Option<i64>,
    cause: Option<String>,
}

async fn session(pool: &PgPool, unique: &str) -> Session {
    sqlx::query_as(
        "SELECT count(*) OVER () AS n,
                extract(epoch FROM acctstarttime)::bigint AS start,
                extract(epoch FROM acctupdatetime)::bigint AS update,
                extract(epoch FROM acctstoptime)::bigint AS stop,
                acctsessiontime AS secs, acctinputoctets AS inp, acctoutputoctets AS out,
                acctinterval AS interval, acctterminatecause AS cause
         FROM radacct WHERE acctuniqueid = $1",
    )
    .bind(unique)
    .fetch_one(pool)
    .await
    .expect("session row")
}

fn s(
    start: i64,
    update: i64,
    stop: Option<i64>,
    secs: i64,
    io: (i64, i64),
    interval: Option<i64>,
    cause: Option<&str>,
) -> Session {
    Session {
        n: 1,
        start: Some(start),
        update: Some(update),
        stop,
        secs: Some(secs),
        inp: Some(io.0),
        out: Some(io.1),
        interval,
        cause: cause.map(str::to_owned),
    }
}

#[tokio::test]
async fn accounting_start_interim_stop_is_idempotent() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    let start = acct(1, "u1", T0);
    for _ in 0..2 {
        pg.write_accounting(&start).await.unwrap();
        assert_eq!(
            session(&pool, "u1").await,
            s(T0, T0, None, 0, (0, 0), None, None)
        );
    }
    let i1 = interim("u1", T0 + 300, 300, 1_000, 2_000);
    for _ in 0..2 {
        pg.write_accounting(&i1).await.unwrap();
        assert_eq!(
            session(&pool, "u1").await,
            s(T0, T0 + 300, None, 300, (1_000, 2_000), Some(300), None)
        );
    }
    // An older interim arriving late does not move counters back.
    pg.write_accounting(&interim("u1", T0 + 100, 100, 10, 20))
        .await
        .unwrap();
    assert_eq!(session(&pool, "u1").await.inp, Some(1_000));
    // Gigaword-sized counters.
    let big = 5 * (1_i64 << 32) + 7;
    pg.write_accounting(&interim("u1", T0 + 600, 600, big, big))
        .await
        .unwrap();
    let st = stop("u1", T0 + 700, 700, big + 1, big + 2);
    for _ in 0..2 {
        pg.write_accounting(&st).await.unwrap();
        assert_eq!(
            session(&pool, "u1").await,
            s(
                T0,
                T0 + 700,
                Some(T0 + 700),
                700,
                (big + 1, big + 2),
                Some(300),
                Some("User-Request")
            )
        );
    }
    // Interim and Start after Stop change nothing.
    pg.write_accounting(&interim("u1", T0 + 900, 900, 1, 1))
        .await
        .unwrap();
    pg.write_accounting(&acct(1, "u1", T0 + 950)).await.unwrap();
    assert_eq!(session(&pool, "u1").await.stop, Some(T0 + 700));
    assert_eq!(session(&pool, "u1").await.secs, Some(700));
    // Other data landed.
    let (ip, prefix, port_type): (String, String, String) = sqlx::query_as(
        "SELECT host(framedipaddress), framedipv6prefix::text, nasporttype FROM radacct WHERE acctuniqueid = 'u1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (ip.as_str(), prefix.as_str(), port_type.as_str()),
        ("10.5.50.2", "2001:db8:1::/64", "Wireless-802.11")
    );
}

#[tokio::test]
async fn accounting_interim_or_stop_without_start_inserts_the_session() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    pg.write_accounting(&interim("u2", T0 + 600, 600, 5, 6))
        .await
        .unwrap();
    assert_eq!(
        session(&pool, "u2").await,
        s(T0, T0 + 600, None, 600, (5, 6), None, None)
    );
    pg.write_accounting(&stop("u3", T0 + 60, 60, 7, 8))
        .await
        .unwrap();
    pg.write_accounting(&stop("u3", T0 + 60, 60, 7, 8))
        .await
        .unwrap();
    assert_eq!(
        session(&pool, "u3").await,
        s(
            T0,
            T0 + 60,
            Some(T0 + 60),
            60,
            (7, 8),
            None,
            Some("User-Request")
        )
    );
    // Unknown status types are ignored.
    assert_eq!(pg.write_accounting(&acct(15, "u4", T0)).await.unwrap(), 0);
}

#[tokio::test]
async fn accounting_on_closes_open_sessions_of_that_nas_only() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    pg.write_accounting(&acct(1, "a", T0)).await.unwrap();
    pg.write_accounting(&acct(1, "b", T0 + 10)).await.unwrap();
    pg.write_accounting(&stop("c", T0 + 20, 20, 1, 1))
        .await
        .unwrap();
    let other_nas = AcctRecord {
        nas_ip: "10.0.0.2".parse::<IpAddr>().unwrap(),
        ..acct(1, "d", T0)
    };
    pg.write_accounting(&other_nas).await.unwrap();
    let on = acct(7, "", T0 + 100);
    assert_eq!(pg.write_accounting(&on).await.unwrap(), 2);
    assert_eq!(pg.write_accounting(&on).await.unwrap(), 0, "idempotent");
    assert_eq!(
        session(&pool, "a").await,
        s(
            T0,
            T0 + 100,
            Some(T0 + 100),
            100,
            (0, 0),
            None,
            Some("NAS-Reboot")
        )
    );
    assert_eq!(session(&pool, "b").await.secs, Some(90));
    assert_eq!(
        session(&pool, "c").await.cause.as_deref(),
        Some("User-Request")
    );
    assert_eq!(session(&pool, "d").await.stop, None);
    let off = AcctRecord {
        nas_ip: "10.0.0.2".parse::<IpAddr>().unwrap(),
        ..acct(8, "", T0 + 200)
    };
    assert_eq!(pg.write_accounting(&off).await.unwrap(), 1);
    let reloads: i64 = sqlx::query_scalar("SELECT count(*) FROM nasreload")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reloads, 2);
}

#[tokio::test]
async fn accounting_batch_is_one_transaction() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    let batch = [
        acct(1, "x", T0),
        interim("x", T0 + 60, 60, 1, 2),
        acct(1, "y", T0),
    ];
    assert_eq!(pg.write_accounting_batch(&batch).await.unwrap(), 3);
    // Replayed (e.g. from a spool): same rows, same values.
    pg.write_accounting_batch(&batch).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radacct")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        session(&pool, "x").await,
        s(T0, T0 + 60, None, 60, (1, 2), Some(60), None)
    );
    // A failing record rolls the whole batch back.
    let bad = AcctRecord {
        session_id: "\0".into(),
        ..acct(1, "z", T0)
    };
    let batch = [acct(1, "w", T0), bad];
    assert!(pg.write_accounting_batch(&batch).await.is_err());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radacct")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 2, "nothing of the failed batch was written");
}

// ---------------------------------------------------------------------------------------
// Post-auth
// ---------------------------------------------------------------------------------------

fn post_auth(user: &str, reply: &str) -> PostAuthRecord {
    PostAuthRecord::new(&PostAuthFields {
        username: user,
        accepted: reply == "Access-Accept",
        called_station_id: Some("hotspot1"),
        nas_ip: Some("10.0.0.1".parse().unwrap()),
        auth_time: T0,
        ..PostAuthFields::default()
    })
}

#[tokio::test]
async fn post_auth_rows_never_store_a_password() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    let recs = [
        post_auth("alice", "Access-Accept"),
        post_auth("bob", "Access-Reject"),
    ];
    assert_eq!(pg.write_post_auth(&recs).await.unwrap(), 2);
    assert_eq!(pg.write_post_auth(&[]).await.unwrap(), 0);
    type Row = (String, Option<String>, String, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT username, pass, reply, host(nasipaddress), extract(epoch FROM authdate)::bigint \
         FROM radpostauth ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (
                "alice".into(),
                None,
                "Access-Accept".into(),
                Some("10.0.0.1".into()),
                T0
            ),
            (
                "bob".into(),
                None,
                "Access-Reject".into(),
                Some("10.0.0.1".into()),
                T0
            ),
        ]
    );
}

#[tokio::test]
async fn post_auth_writer_batches_and_flushes_on_cancel() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    let cancel = CancellationToken::new();
    let (writer, task) = PostAuthWriter::spawn(pg, PostAuthLog::All, cancel.clone());
    for i in 0..1200 {
        assert!(writer.submit(post_auth(&format!("u{i}"), "Access-Accept")));
    }
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM radpostauth")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    eventually("1200 rows written", || async { count().await == 1200 }).await;
    let inserts = statement_count_matching(&pool, "INSERT INTO radpostauth").await;
    assert!(
        (3..1200).contains(&inserts),
        "batched: {inserts} INSERTs for 1200 rows"
    );
    for i in 0..5 {
        assert!(writer.submit(post_auth(&format!("late{i}"), "Access-Reject")));
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(count().await, 1205, "final flush on cancel");
    assert!(
        !writer.submit(post_auth("after", "Access-Reject")),
        "closed writer drops"
    );
}

#[tokio::test]
async fn post_auth_writer_drops_when_full_without_blocking() {
    let (_, pool) = fresh_db().await;
    let pg = PgStore::from_pool(pool.clone());
    let cancel = CancellationToken::new();
    let (writer, task) = PostAuthWriter::spawn_with(pg, PostAuthLog::All, cancel.clone(), 4);
    // Submitting far more than the queue holds returns at once, dropping some.
    let accepted = (0..10_000)
        .filter(|i| writer.submit(post_auth(&format!("u{i}"), "Access-Accept")))
        .count();
    assert!(accepted < 10_000, "a full queue drops");
    cancel.cancel();
    task.await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radpostauth")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, accepted as i64, "everything accepted was written");
}

/// The LISTEN connection dies silently (a NAT timeout: no FIN, no RST, nothing crosses):
/// without a probe the server would wait for notifications forever and keep serving the
/// old password. The probe (`SELECT 1` under a deadline) notices, reconnects and flushes,
/// so a change made while the connection was dead is seen, and readiness follows.
#[tokio::test]
async fn a_silently_dead_listen_connection_is_probed_and_replaced() {
    let pg = shared_postgres();
    let (url, pool) = fresh_db_on(pg).await;
    add_user(&pool, "alice", "old").await;
    let proxy = crate::blackhole::Blackhole::start(([127, 0, 0, 1], pg.port()).into()).await;
    let listen_url = url.replace(&format!(":{}/", pg.port()), &format!(":{}/", proxy.port()));
    assert_ne!(listen_url, url);
    // Queries go straight to PostgreSQL; only the LISTEN connection crosses the proxy.
    let store_pg = PgStore::connect_lazy(&url, PoolSettings::default())
        .unwrap()
        .with_listen_url(&listen_url)
        .unwrap();
    let opts = ProfileOptions {
        l1_ttl: Duration::from_secs(3600),
        negative_ttl: Duration::from_secs(3600),
        listener_probe: Duration::from_secs(1),
        ..ProfileOptions::default()
    };
    let store = Profiles::new(store_pg, None, &opts, Arc::new(Dictionary::builtin()));
    let health = store.listener_health();
    assert!(
        !health.load(Ordering::SeqCst),
        "not up before the first LISTEN"
    );
    let cancel = CancellationToken::new();
    let (task, listening) = store.spawn_listener_with_ready(cancel.clone(), || {});
    tokio::time::timeout(WAIT, listening)
        .await
        .expect("LISTEN in time")
        .expect("listener ready");
    assert!(health.load(Ordering::SeqCst));
    assert_eq!(
        proxy.accepted(),
        1,
        "the LISTEN connection crosses the proxy"
    );
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("old")
    );

    applied(&store, 1).await;
    proxy.blackhole_existing();
    let before = *store.notifications_applied().borrow();
    exec(
        &pool,
        "UPDATE radcheck SET value = 'new' WHERE username = 'alice'",
    )
    .await;
    // Its NOTIFY went into the dead connection. Only a probe can notice; the reconnection
    // then flushes (one more invalidation applied).
    applied(&store, before + 1).await;
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("new"),
        "the change made while LISTEN was dead is seen"
    );
    assert!(
        proxy.accepted() >= 2,
        "the listener opened a new connection"
    );
    assert!(health.load(Ordering::SeqCst), "listener healthy again");
    // And the new connection carries notifications again.
    change(
        &store,
        &pool,
        "UPDATE radcheck SET value = 'newer' WHERE username = 'alice'",
    )
    .await;
    assert_eq!(
        current_password(&store, "alice").await.as_deref(),
        Some("newer"),
        "a change after the reconnect is seen"
    );
    cancel.cancel();
    task.await.unwrap();
}

/// PostgreSQL behind a path that died silently (a blackholed connection: PostgreSQL's own
/// `statement_timeout` never fires because the query never arrives): a lookup is reported
/// unavailable within the client-side deadline, not when TCP gives up minutes later, and
/// the next lookup runs on a fresh connection.
#[tokio::test]
async fn a_blackholed_database_connection_is_unavailable_within_the_deadline() {
    let pg = shared_postgres();
    let (url, pool) = fresh_db_on(pg).await;
    add_user(&pool, "alice", "pw").await;
    add_user(&pool, "bob", "pw2").await;
    let proxy = crate::blackhole::Blackhole::start(([127, 0, 0, 1], pg.port()).into()).await;
    let proxied = url.replace(&format!(":{}/", pg.port()), &format!(":{}/", proxy.port()));
    let settings = PoolSettings {
        size: 2,
        acquire_timeout: Duration::from_millis(500),
        statement_timeout: Duration::from_secs(1),
        pgbouncer: false,
    };
    let store = PgStore::connect_lazy(&proxied, settings).unwrap();
    assert!(store.load_user("alice").await.unwrap().is_some());
    assert_eq!(proxy.accepted(), 1);
    // The connection goes back to the pool after a ping on release: wait until it is
    // idle, so the next lookup takes it (and not a new one).
    eventually("the connection is idle in the pool", || async {
        store.pool().num_idle() == 1
    })
    .await;
    proxy.blackhole_existing();
    let started = Instant::now();
    let lookup = tokio::time::timeout(WAIT, store.load_user("bob"))
        .await
        .expect("an answer from the store, not a wait for TCP to give up");
    assert!(
        matches!(lookup, Err(ref e) if e.is_unavailable()),
        "a dead connection is unavailable (no false reject): {lookup:?}; connections: {}",
        proxy.accepted()
    );
    assert!(
        started.elapsed() < WAIT,
        "bounded by the deadline, {:?}",
        started.elapsed()
    );
    // The dead connection is not handed out again: the next lookup opens a new one.
    let again = tokio::time::timeout(WAIT, store.load_user("bob"))
        .await
        .expect("answered");
    assert!(again.unwrap().is_some(), "bob loads on a fresh connection");
    assert!(proxy.accepted() >= 2);
}

/// Redis is a cache, not an authority: an entry planted by someone who can write to Redis
/// (unsigned, or a real signed entry copied to another user's key) is refused, and the
/// user is loaded from PostgreSQL; an entry signed with the database's key is shared by
/// every instance.
#[tokio::test]
async fn planted_or_copied_l2_entries_are_refused() {
    let (url, pool) = fresh_db().await;
    add_user(&pool, "alice", "alice-pw").await;
    add_user(&pool, "bob", "bob-pw").await;
    let redis = Redis::start();
    let first = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&first, "alice").await.as_deref(),
        Some("alice-pw")
    );
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let alice_value: Vec<u8> = redis::cmd("GET")
        .arg(hotspot_radius::store::redis::user_key("alice"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let generation: u64 = redis::cmd("GET")
        .arg(hotspot_radius::store::redis::GENERATION_KEY)
        .query_async::<Option<u64>>(&mut conn)
        .await
        .unwrap()
        .unwrap_or(0);
    // Alice's signed entry copied to bob's key; an unsigned entry for a user who does
    // not exist, with a password of the attacker's choosing.
    let planted = format!(
        "{generation}\n{}",
        r#"{"username":"mallory","check":[{"attribute":"Cleartext-Password","op":":=","value":"x"}],"reply":[],"groups":[]}"#
    );
    let _: () = redis::cmd("SET")
        .arg(hotspot_radius::store::redis::user_key("bob"))
        .arg(&alice_value)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(hotspot_radius::store::redis::user_key("mallory"))
        .arg(planted.as_bytes())
        .query_async(&mut conn)
        .await
        .unwrap();
    let second = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&second, "bob").await.as_deref(),
        Some("bob-pw"),
        "a copied entry is refused; bob comes from PostgreSQL"
    );
    assert!(
        second.user("mallory").await.unwrap().is_none(),
        "a planted entry is refused; mallory does not exist"
    );
    // The genuine entry is shared: delete alice's rows without telling anyone (no
    // listener runs here), and a fresh instance still finds her in L2.
    exec(&pool, "DELETE FROM radcheck WHERE username = 'alice'").await;
    let third = store(&url, Some(redis.url())).await;
    assert_eq!(
        current_password(&third, "alice").await.as_deref(),
        Some("alice-pw"),
        "an entry signed with the shared key is used by another instance"
    );
}
