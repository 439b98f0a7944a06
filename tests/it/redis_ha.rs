//! Redis Sentinel and Redis Cluster, really deployed on loopback (`redis_topo`), with the
//! server binary pointed at them: a failover or a dead primary must never cost a false
//! Access-Reject (L1 and PostgreSQL answer meanwhile), and the shared state (L2 profiles,
//! sessions, Simultaneous-Use) must hold across instances and across the failover.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use radius_proto::protocol::Code;
use sqlx::PgPool;

use crate::harness;
use crate::redis_topo::{Cluster, SentinelSet, ServerProcess, wait_until};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "ha-secret";
const PASSWORD: &str = "pw";
/// The Reply-Message of a Simultaneous-Use refusal.
const SIMULTANEOUS: &str = "You are already logged in on as many devices as your plan allows";
/// Bound on waiting for something that must happen.
const WAIT: Duration = Duration::from_secs(60);
/// L2 hits in `/metrics`.
const L2_HITS: &str = "radius_cache_lookups_total{tier=\"l2\",result=\"hit\"}";
/// Failed L2 operations in `/metrics` (any `op`).
const REDIS_ERRORS: &str = "radius_redis_errors_total";

/// Users `{prefix}000`.. with password [`PASSWORD`]; returns their names.
async fn users(pool: &PgPool, prefix: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:03}")).collect();
    for name in &names {
        sqlx::query(
            "INSERT INTO radcheck (username, attribute, op, value) \
             VALUES ($1, 'Cleartext-Password', ':=', $2)",
        )
        .bind(name)
        .bind(PASSWORD)
        .execute(pool)
        .await
        .expect("insert user");
    }
    names
}

/// A user allowed one session at a time.
async fn single_session_user(pool: &PgPool, name: &str) {
    for (attribute, value) in [("Cleartext-Password", PASSWORD), ("Simultaneous-Use", "1")] {
        sqlx::query(
            "INSERT INTO radcheck (username, attribute, op, value) VALUES ($1, $2, ':=', $3)",
        )
        .bind(name)
        .bind(attribute)
        .bind(value)
        .execute(pool)
        .await
        .expect("insert check item");
    }
}

fn login(user: &str, mac: &str) -> String {
    format!(
        "User-Name={user},User-Password={PASSWORD},Calling-Station-Id={mac},\
         NAS-IP-Address=127.0.0.1\n"
    )
}

/// An Accounting-Request; each session has its own `port` and `mac` (a Start on a port or
/// MAC another session holds closes that one: the lost-Stop rule).
fn acct(user: &str, status: &str, session: &str, mac: &str, port: u32) -> String {
    format!(
        "User-Name={user},Acct-Status-Type={status},Acct-Session-Id={session},NAS-Port={port},\
         Calling-Station-Id={mac},Framed-IP-Address=10.5.50.3,NAS-IP-Address=127.0.0.1,\
         Acct-Session-Time=60\n"
    )
}

/// radclient (3 tries, 2 s each, as a NAS would): its output.
fn radius(to: SocketAddr, kind: &str, input: &str) -> String {
    harness::run_radclient(to, kind, SECRET, input, 3, 2).1
}

fn accepted(out: &str) -> bool {
    out.contains("Received Access-Accept")
}

/// Until the server answers (start-up), bounded; the first answer must be an Accept.
fn until_up(server: &ServerProcess, user: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = radius(server.auth, "auth", &login(user, "AA:00:00:00:00:09"));
        if out.contains("Received Access-") {
            assert!(accepted(&out), "{out}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server not answering; log:\n{}",
            server.log()
        );
    }
}

/// Logins sent without pause by a NAS in its own thread until stopped; each request is
/// retransmitted (up to 3 times, 3 s apart) like a NAS does.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<LoadResult>,
}

#[derive(Debug, Default)]
struct LoadResult {
    accepted: u64,
    /// Users that got anything but an Accept.
    refused: Vec<String>,
    /// Users that got no answer at all.
    unanswered: Vec<String>,
}

impl Load {
    fn start(server: SocketAddr, users: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let nas = Nas::new(server, SECRET).await;
                let mut result = LoadResult::default();
                // Bounded: at most 100,000 logins (the test stops it long before).
                for i in 0..100_000usize {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let user = &users[i % users.len()];
                    // Without Message-Authenticator, like radclient: the NAS must not latch to
                    // requiring it (radclient's requests would then be dropped).
                    let req = nas.access_request(user, PASSWORD, Method::Pap, false);
                    let mut reply = None;
                    for _ in 0..3 {
                        reply = nas.exchange_within(&req, Duration::from_secs(3)).await;
                        if reply.is_some() {
                            break;
                        }
                    }
                    match reply {
                        Some(r) if code_of(&r) == Code::AccessAccept => result.accepted += 1,
                        Some(_) => result.refused.push(user.clone()),
                        None => result.unanswered.push(user.clone()),
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                result
            })
        });
        Self { stop, thread }
    }

    fn finish(self) -> LoadResult {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("load thread")
    }
}

/// Until every one of `sessions` has its radacct row (the writer batches), bounded.
async fn all_in_radacct(pool: &PgPool, sessions: &[String]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let found: i64 =
            sqlx::query_scalar("SELECT count(*) FROM radacct WHERE acctsessionid = ANY($1)")
                .bind(sessions)
                .fetch_one(pool)
                .await
                .expect("count radacct");
        if found == sessions.len() as i64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {found} of {} acknowledged sessions reached radacct",
            sessions.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The MAC of the device on `port`.
fn mac_of(port: u32) -> String {
    let b = port.to_be_bytes();
    format!("AA:00:{:02X}:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2], b[3])
}

/// Sends an Accounting-Request Start for `session`; whether it was acknowledged.
fn start_session(server: &ServerProcess, user: &str, session: &str, port: u32) -> bool {
    let mac = mac_of(port);
    radius(
        server.acct,
        "acct",
        &acct(user, "Start", session, &mac, port),
    )
    .contains("Received Accounting-Response")
}

/// A primary, a replica and three sentinels; the server finds the primary through the
/// sentinels. The primary's process is killed (SIGKILL) while logins keep coming: every
/// login is answered with an Accept throughout; the sentinels promote the replica, the
/// server finds it, the session opened before the failover still counts for
/// Simultaneous-Use, new sessions are kept on the new primary, and every accounting
/// record acknowledged is in radacct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_keeps_auth_sessions_and_accounting() {
    let (url, pool) = harness::fresh_db().await;
    let load_users = users(&pool, "sl", 150).await;
    single_session_user(&pool, "sentinel_su").await;
    let mut set = SentinelSet::start();
    let server = ServerProcess::spawn(&url, &set.url(), SECRET);
    until_up(&server, "sl000");

    // A session opened before the failover, on the first primary.
    let su = "sentinel_su";
    assert!(accepted(&radius(
        server.auth,
        "auth",
        &login(su, &mac_of(1))
    )));
    assert!(start_session(&server, su, "su-1", 1));
    let second = radius(server.auth, "auth", &login(su, &mac_of(2)));
    assert!(second.contains(SIMULTANEOUS), "{second}");
    assert_eq!(
        set.primary
            .cli(&["SCARD", &format!("hr:v2:{{sess}}:u:{su}")])
            .trim(),
        "1",
        "the session is in the primary"
    );
    // Acknowledged by the replica too (Redis replicates asynchronously; a write the
    // replica never got is lost by any failover, and the store is rebuilt from radacct
    // only when it is empty).
    assert_eq!(set.primary.cli(&["WAIT", "1", "5000"]).trim(), "1");

    let load = Load::start(server.auth, load_users);
    let mut acknowledged = Vec::new();
    for i in 0..5u32 {
        let session = format!("before-{i}");
        if start_session(&server, &format!("sl{i:03}"), &session, 1000 + i) {
            acknowledged.push(session);
        }
    }
    let old = set.primary.port();
    set.primary.kill();
    let new = set.replica.port();
    let deadline = Instant::now() + WAIT;
    let mut i = 0u32;
    while set.primary_port() != Some(new) {
        assert!(
            Instant::now() < deadline,
            "no failover: the sentinels still name port {:?} (old {old})",
            set.primary_port()
        );
        // Accounting keeps being acknowledged (and written) while Redis is away.
        let session = format!("during-{i}");
        if start_session(
            &server,
            &format!("sl{:03}", 10 + i % 50),
            &session,
            2000 + i,
        ) {
            acknowledged.push(session);
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    // The server finds the new primary, where the replicated session still holds the
    // user's one allowed login.
    let deadline = Instant::now() + WAIT;
    loop {
        let out = radius(server.auth, "auth", &login(su, &mac_of(2)));
        if out.contains(SIMULTANEOUS) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server does not use the promoted primary: {out}\nreplica: {} {}\nlog:\n{}",
            set.replica.cli(&["INFO", "replication"]),
            set.replica
                .cli(&["SMEMBERS", &format!("hr:v2:{{sess}}:u:{su}")]),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let stop = radius(
        server.acct,
        "acct",
        &acct(su, "Stop", "su-1", &mac_of(1), 1),
    );
    assert!(stop.contains("Received Accounting-Response"), "{stop}");
    acknowledged.push("su-1".into());
    assert!(accepted(&radius(
        server.auth,
        "auth",
        &login(su, &mac_of(2))
    )));
    assert!(start_session(&server, su, "su-2", 2));
    acknowledged.push("su-2".into());
    let third = radius(server.auth, "auth", &login(su, &mac_of(3)));
    assert!(third.contains(SIMULTANEOUS), "{third}");
    assert_eq!(
        set.replica
            .cli(&["SCARD", &format!("hr:v2:{{sess}}:u:{su}")])
            .trim(),
        "1",
        "the new session is on the promoted primary"
    );

    assert!(
        server.metric(REDIS_ERRORS) > 0.0,
        "the failover was seen (L2 operations failed meanwhile)"
    );
    let result = load.finish();
    assert!(
        result.refused.is_empty() && result.unanswered.is_empty(),
        "logins refused {:?} / unanswered {:?} ({} accepted); log:\n{}",
        result.refused,
        result.unanswered,
        result.accepted,
        server.log()
    );
    assert!(result.accepted > 0, "the load ran");
    all_in_radacct(&pool, &acknowledged).await;
}

/// Three cluster primaries and two server processes: a profile one server loaded is an L2
/// hit for the other, Simultaneous-Use holds across them, and when the primary holding the
/// session store's slot is killed (the cluster then refuses every command: no replica
/// takes its slots), logins of cached and uncached users are still accepted by both
/// (L1 / PostgreSQL). Once that primary is started again, L2 is shared again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_two_servers_share_state_and_survive_a_dead_primary() {
    let (url, pool) = harness::fresh_db().await;
    let fresh = users(&pool, "cl", 40).await;
    users(&pool, "shared", 1).await;
    single_session_user(&pool, "cluster_su").await;
    let mut cluster = Cluster::start();
    let mut a = ServerProcess::spawn(&url, &cluster.url(), SECRET);
    let mut b = ServerProcess::spawn(&url, &cluster.url(), SECRET);
    until_up(&a, "shared000");
    until_up(&b, "cl000");

    // L2 shared: a profile A loaded is in the cluster, and a hit for B.
    let any = cluster.nodes[0].port().to_string();
    wait_until("A's L2 write", WAIT, || {
        crate::redis_topo::cli(
            any.parse().unwrap(),
            &["-c", "EXISTS", "hr:v3:user:shared000"],
        )
        .trim()
            == "1"
    });
    let before = b.metric(L2_HITS);
    assert!(accepted(&radius(
        b.auth,
        "auth",
        &login("shared000", "AA:00:00:00:00:09")
    )));
    assert!(
        b.metric(L2_HITS) > before,
        "B found A's profile in L2; B's log:\n{}",
        b.log()
    );

    // Simultaneous-Use across the two processes.
    let su = "cluster_su";
    assert!(accepted(&radius(a.auth, "auth", &login(su, &mac_of(1)))));
    assert!(start_session(&a, su, "c-1", 1));
    let second = radius(b.auth, "auth", &login(su, &mac_of(2)));
    assert!(second.contains(SIMULTANEOUS), "{second}");
    let stop = radius(b.acct, "acct", &acct(su, "Stop", "c-1", &mac_of(1), 1));
    assert!(stop.contains("Received Accounting-Response"), "{stop}");
    assert!(accepted(&radius(a.auth, "auth", &login(su, &mac_of(2)))));

    // Kill the primary that holds the session store.
    let owner = cluster.owner_of("hr:v2:{sess}:due");
    let errors_before = a.metric(REDIS_ERRORS) + b.metric(REDIS_ERRORS);
    cluster.nodes[owner].kill();
    let mut next = fresh.iter().skip(1);
    for round in 0..3 {
        for server in [&a, &b] {
            let cached = radius(
                server.auth,
                "auth",
                &login("shared000", "AA:00:00:00:00:09"),
            );
            assert!(accepted(&cached), "round {round}, cached user: {cached}");
            let user = next.next().expect("enough fresh users");
            let uncached = radius(server.auth, "auth", &login(user, "AA:00:00:00:00:08"));
            assert!(
                accepted(&uncached),
                "round {round}, uncached {user}: {uncached}"
            );
        }
    }
    assert!(
        a.metric(REDIS_ERRORS) + b.metric(REDIS_ERRORS) > errors_before,
        "the logins above met the dead primary (they were answered without Redis)"
    );
    assert!(a.is_running(), "A still running; log:\n{}", a.log());
    assert!(b.is_running(), "B still running; log:\n{}", b.log());

    // The primary comes back (empty, in its slots): L2 is shared again.
    cluster.nodes[owner].start_again();
    cluster.wait_ok();
    let mut recovered = false;
    let deadline = Instant::now() + WAIT;
    while !recovered && Instant::now() < deadline {
        let Some(user) = next.next() else { break };
        assert!(accepted(&radius(
            a.auth,
            "auth",
            &login(user, "AA:00:00:00:00:07")
        )));
        let key = format!("hr:v3:user:{user}");
        let written = (0..20).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            crate::redis_topo::cli(any.parse().unwrap(), &["-c", "EXISTS", &key]).trim() == "1"
        });
        if !written {
            continue;
        }
        let before = b.metric(L2_HITS);
        assert!(accepted(&radius(
            b.auth,
            "auth",
            &login(user, "AA:00:00:00:00:07")
        )));
        recovered = b.metric(L2_HITS) > before;
    }
    assert!(
        recovered,
        "L2 not shared again after the primary came back; A's log:\n{}",
        a.log()
    );
    assert!(a.is_running() && b.is_running());
}

/// A server started while the whole cluster is down serves from PostgreSQL, and uses the
/// cluster once it is up (the lazy cluster connection connects on a later command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_down_at_start_up_is_used_once_it_is_up() {
    let (url, pool) = harness::fresh_db().await;
    let names = users(&pool, "cd", 30).await;
    let mut cluster = Cluster::start();
    for n in &mut cluster.nodes {
        n.kill();
    }
    let server = ServerProcess::spawn(&url, &cluster.url(), SECRET);
    until_up(&server, "cd000");
    for n in &mut cluster.nodes {
        n.start_again();
    }
    cluster.wait_ok();
    let any = cluster.nodes[0].port();
    let deadline = Instant::now() + WAIT;
    let mut written = false;
    for user in names.iter().skip(1) {
        if Instant::now() > deadline {
            break;
        }
        assert!(accepted(&radius(
            server.auth,
            "auth",
            &login(user, "AA:00:00:00:00:07")
        )));
        let key = format!("hr:v3:user:{user}");
        written = (0..20).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            crate::redis_topo::cli(any, &["-c", "EXISTS", &key]).trim() == "1"
        });
        if written {
            break;
        }
    }
    assert!(
        written,
        "the server never wrote to the cluster; log:\n{}",
        server.log()
    );
}
