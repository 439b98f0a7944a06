//! Sessions end to end: the whole server (`app::start`) over real PostgreSQL and Redis,
//! driven over UDP like a MikroTik hotspot, with a [`FakeNas`] as the NAS's CoA port.
//! Simultaneous-Use across two instances, lost Stops and Accounting-On, stale sessions,
//! every quota and time limit, automatic Disconnect/CoA, the `sessions` / `disconnect`
//! commands, and the store rebuilt after Redis lost its data.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, NasConfig};
use hotspot_radius::model::Session;
use hotspot_radius::sessions::{Filter, RedisSessions, SessionStore};
use radius_proto::protocol::attrs::{self, mikrotik};
use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder, Signer};
use sqlx::PgPool;

use crate::fake_nas::{Behaviour, FakeNas};
use crate::harness::{self, Redis};
use crate::udp_access::{Nas, Request};

const SECRET: &str = "sessions-secret";
const PASSWORD: &str = "pw";
/// Bound on waiting for something that must happen.
const WAIT: Duration = Duration::from_secs(30);
/// The Reply-Message of a Simultaneous-Use refusal.
const SIMULTANEOUS: &str = "You are already logged in on as many devices as your plan allows";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Server config: loopback ports, a private journal, the NAS 127.0.0.1 whose CoA port is
/// `coa_port` (a [`FakeNas`]).
fn config(database_url: &str, redis_url: Option<String>, coa_port: u16) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.server.reject_delay_ms = 0;
    c.server.shutdown_timeout_secs = 5;
    c.admin.enabled = false;
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.redis.url = redis_url;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c.sessions.dynauth_timeout_ms = 500;
    c.sessions.dynauth_attempts = 2;
    c.nas = vec![NasConfig {
        address: "127.0.0.1".into(),
        secret: SECRET.into(),
        coa_port,
        ..NasConfig::default()
    }];
    c
}

async fn start(config: Config) -> Running {
    // `RUST_LOG=hotspot_radius=debug cargo test --test it sessions::` shows the logs.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    app::start(config, None).await.expect("server starts")
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A user with password [`PASSWORD`] and these extra check items `(attribute, op, value)`.
async fn user(pool: &PgPool, name: &str, check: &[(&str, &str, &str)]) {
    let mut sql = format!(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('{name}', 'Cleartext-Password', ':=', '{PASSWORD}');"
    );
    for (attribute, op, value) in check {
        sql.push_str(&format!(
            "INSERT INTO radcheck (username, attribute, op, value) \
             VALUES ('{name}', '{attribute}', '{op}', '{value}');"
        ));
    }
    exec(pool, &sql).await;
}

/// What an Access-Accept or -Reject said.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    code: Code,
    message: Option<String>,
    session_timeout: Option<u32>,
    interim: Option<u32>,
    total_limit: Option<u32>,
    total_limit_gigawords: Option<u32>,
}

fn answer(reply: &[u8]) -> Answer {
    let p = Packet::decode(reply).expect("reply decodes");
    let u32_of = |v: Option<&[u8]>| v.map(|v| u32::from_be_bytes(v.try_into().expect("4 bytes")));
    Answer {
        code: p.code(),
        message: p.attr_str(attrs::REPLY_MESSAGE).map(str::to_owned),
        session_timeout: u32_of(p.attr(attrs::SESSION_TIMEOUT)),
        interim: u32_of(p.attr(attrs::ACCT_INTERIM_INTERVAL)),
        total_limit: u32_of(p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::TOTAL_LIMIT)),
        total_limit_gigawords: u32_of(
            p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::TOTAL_LIMIT_GIGAWORDS),
        ),
    }
}

/// One accounting record as a MikroTik sends it (NAS-IP 127.0.0.1).
#[derive(Debug, Clone)]
struct Acct {
    status: AcctStatus,
    user: String,
    session: String,
    mac: String,
    ip: [u8; 4],
    port: Option<u32>,
    /// Acct-Session-Time (not in a Start).
    time: u32,
    input: u64,
    output: u64,
    /// Event-Timestamp, when set.
    event: Option<i64>,
    /// Acct-Interim-Interval, when set.
    interim: Option<u32>,
}

impl Acct {
    fn new(status: AcctStatus, user: &str, session: &str, mac: &str) -> Self {
        Self {
            status,
            user: user.into(),
            session: session.into(),
            mac: mac.into(),
            ip: [10, 5, 50, 7],
            port: None,
            time: 0,
            input: 0,
            output: 0,
            event: None,
            interim: None,
        }
    }

    fn start(user: &str, session: &str, mac: &str) -> Self {
        Self::new(AcctStatus::Start, user, session, mac)
    }

    /// An Interim (or with `stop`, a Stop) of `session` with these cumulative counters.
    fn update(user: &str, session: &str, mac: &str, time: u32, octets: (u64, u64)) -> Self {
        Self {
            time,
            input: octets.0,
            output: octets.1,
            ..Self::new(AcctStatus::InterimUpdate, user, session, mac)
        }
    }

    fn stop(user: &str, session: &str, mac: &str, time: u32, octets: (u64, u64)) -> Self {
        Self {
            status: AcctStatus::Stop,
            ..Self::update(user, session, mac, time, octets)
        }
    }

    fn encode(&self, signer: &Signer) -> Request {
        let mut b = PacketBuilder::new(Code::AccountingRequest, rand::random());
        b.add_u32(attrs::ACCT_STATUS_TYPE, self.status.as_u32())
            .unwrap();
        if !self.user.is_empty() {
            b.add(attrs::USER_NAME, self.user.as_bytes()).unwrap();
        }
        b.add(attrs::ACCT_SESSION_ID, self.session.as_bytes())
            .unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
        b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
        if let Some(port) = self.port {
            b.add_u32(attrs::NAS_PORT, port).unwrap();
        }
        b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
        b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
        if !self.mac.is_empty() {
            b.add(attrs::CALLING_STATION_ID, self.mac.as_bytes())
                .unwrap();
            b.add(attrs::FRAMED_IP_ADDRESS, &self.ip).unwrap();
        }
        if let Some(t) = self.event {
            b.add_u32(attrs::EVENT_TIMESTAMP, u32::try_from(t).unwrap())
                .unwrap();
        }
        if let Some(i) = self.interim {
            b.add_u32(attrs::ACCT_INTERIM_INTERVAL, i).unwrap();
        }
        if matches!(self.status, AcctStatus::InterimUpdate | AcctStatus::Stop) {
            let split = |n: u64| ((n & 0xffff_ffff) as u32, (n >> 32) as u32);
            let (in_lo, in_hi) = split(self.input);
            let (out_lo, out_hi) = split(self.output);
            b.add_u32(attrs::ACCT_SESSION_TIME, self.time).unwrap();
            b.add_u32(attrs::ACCT_INPUT_OCTETS, in_lo).unwrap();
            b.add_u32(attrs::ACCT_INPUT_GIGAWORDS, in_hi).unwrap();
            b.add_u32(attrs::ACCT_OUTPUT_OCTETS, out_lo).unwrap();
            b.add_u32(attrs::ACCT_OUTPUT_GIGAWORDS, out_hi).unwrap();
        }
        if self.status == AcctStatus::Stop {
            b.add_u32(attrs::ACCT_TERMINATE_CAUSE, 1).unwrap();
        }
        let bytes = b.sign_computed_request(signer).unwrap();
        let authenticator = bytes[4..20].try_into().unwrap();
        Request {
            bytes,
            authenticator,
        }
    }
}

/// A hotspot router talking to one server: logins and accounting from 127.0.0.1.
struct Router {
    auth: Nas,
    acct: Nas,
    signer: Signer,
}

impl Router {
    async fn new(server: &Running) -> Self {
        Self {
            auth: Nas::new(server.auth_addr, SECRET).await,
            acct: Nas::new(server.acct_addr, SECRET).await,
            signer: Signer::new(SECRET.as_bytes()),
        }
    }

    /// A PAP login of `user` from the device `mac`; the (verified) answer.
    async fn login(&self, user: &str, mac: &str) -> Answer {
        let authenticator: [u8; 16] = rand::random();
        let mut b =
            PacketBuilder::new(Code::AccessRequest, rand::random()).with_message_authenticator();
        b.add(attrs::USER_NAME, user.as_bytes()).unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
        b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
        b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
        b.add(attrs::CALLING_STATION_ID, mac.as_bytes()).unwrap();
        b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
        b.add_user_password(PASSWORD.as_bytes(), &self.signer, &authenticator)
            .unwrap();
        let bytes = b.sign_access_request(&authenticator, &self.signer).unwrap();
        let reply = self
            .auth
            .exchange(&Request {
                bytes,
                authenticator,
            })
            .await;
        answer(&reply)
    }

    /// Send an accounting record; it must be acknowledged.
    async fn acct(&self, rec: &Acct) {
        let reply = self.acct.exchange(&rec.encode(&self.signer)).await;
        assert_eq!(
            Packet::decode(&reply).unwrap().code(),
            Code::AccountingResponse,
            "{rec:?}"
        );
    }
}

fn assert_accept(a: &Answer, what: &str) {
    assert_eq!(a.code, Code::AccessAccept, "{what}: {a:?}");
}

fn assert_refused(a: &Answer, message: &str, what: &str) {
    assert_eq!(a.code, Code::AccessReject, "{what}: {a:?}");
    assert_eq!(a.message.as_deref(), Some(message), "{what}: {a:?}");
}

/// Poll `f` until it gives `Some` (bounded by [`WAIT`]); panics naming `what`.
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(closed, terminate cause)` of a session in `radacct`.
async fn acct_row(pool: &PgPool, session: &str) -> Option<(bool, Option<String>)> {
    sqlx::query_as(
        "SELECT acctstoptime IS NOT NULL, acctterminatecause FROM radacct \
         WHERE acctsessionid = $1",
    )
    .bind(session)
    .fetch_optional(pool)
    .await
    .expect("radacct query")
}

/// Wait until `session` is closed in `radacct` with `cause`.
async fn closed_with(pool: &PgPool, session: &str, cause: &str) {
    let mut last = None;
    let found = tokio::time::timeout(WAIT, async {
        loop {
            last = acct_row(pool, session).await;
            if last.as_ref().is_some_and(|(closed, _)| *closed) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{session} not closed within {WAIT:?}: {last:?}"
    );
    assert_eq!(
        last,
        Some((true, Some(cause.to_owned()))),
        "{session} closed with the wrong cause"
    );
}

/// The sessions the shared store lists for `filter`, as Acct-Session-Ids.
async fn listed(store: &RedisSessions, filter: &Filter) -> Vec<String> {
    let sessions: Vec<Session> = store.list(filter).await.expect("store lists");
    sessions.into_iter().map(|s| s.session_id).collect()
}

fn user_filter(user: &str) -> Filter {
    Filter {
        user: Some(user.into()),
        nas: None,
    }
}

fn store(redis: &Redis) -> RedisSessions {
    RedisSessions::connect_lazy(&redis.url(), Duration::from_secs(2)).expect("redis store")
}

// ---------------------------------------------------------------------------------------
// 1. Simultaneous-Use across two instances

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_use_is_shared_by_two_instances() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "dana", &[("Simultaneous-Use", ":=", "1")]).await;
    let a = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let b = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let (ra, rb) = (Router::new(&a).await, Router::new(&b).await);
    let (phone, laptop) = ("AA:00:00:00:00:01", "AA:00:00:00:00:02");

    assert_accept(&ra.login("dana", phone).await, "first device on A");
    ra.acct(&Acct::start("dana", "dana-1", phone)).await;
    assert_refused(
        &rb.login("dana", laptop).await,
        SIMULTANEOUS,
        "second device on B while the first is online on A",
    );
    // The same device logging in again (its Stop lost) is not a second device.
    assert_accept(
        &rb.login("dana", phone).await,
        "same device again, through B",
    );
    // The Stop may reach either instance.
    rb.acct(&Acct::stop("dana", "dana-1", phone, 60, (100, 200)))
        .await;
    assert_accept(
        &rb.login("dana", laptop).await,
        "second device after the Stop",
    );
    assert_eq!(
        acct_row(&pool, "dana-1").await,
        Some((true, Some("User-Request".into())))
    );
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------
// 2. Lost Stop and Accounting-On

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_stop_and_accounting_on_close_sessions() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "erin", &[]).await;
    let server = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let router = Router::new(&server).await;
    let sessions = store(&redis);
    let (x, y) = ("BB:00:00:00:00:01", "BB:00:00:00:00:02");

    let on_port = |session: &str, mac: &str, port: u32| Acct {
        port: Some(port),
        ..Acct::start("erin", session, mac)
    };
    router.acct(&on_port("s1", x, 5)).await;
    assert_eq!(listed(&sessions, &user_filter("erin")).await, ["s1"]);
    // Same NAS port, another device: s1's Stop was lost.
    router.acct(&on_port("s2", y, 5)).await;
    closed_with(&pool, "s1", "Lost-Stop").await;
    assert_eq!(listed(&sessions, &user_filter("erin")).await, ["s2"]);
    assert_eq!(acct_row(&pool, "s2").await, Some((false, None)));
    // Same device on another port: s2's Stop was lost.
    router.acct(&on_port("s3", y, 7)).await;
    closed_with(&pool, "s2", "Lost-Stop").await;
    assert_eq!(listed(&sessions, &user_filter("erin")).await, ["s3"]);

    // The NAS rebooted: everything it had open is closed.
    router
        .acct(&Acct::new(AcctStatus::AccountingOn, "", "0", ""))
        .await;
    closed_with(&pool, "s3", "NAS-Reboot").await;
    let on_nas = Filter {
        user: None,
        nas: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    };
    assert_eq!(listed(&sessions, &on_nas).await, Vec::<String>::new());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 3. Stale sessions

/// A server whose stale rule is short: interim 5 s in Access-Accept, grace 1 s, swept
/// every second.
fn stale_config(url: &str, redis: &Redis, coa_port: u16) -> Config {
    let mut c = config(url, Some(redis.url()), coa_port);
    c.sessions.interim_interval_secs = 5;
    c.sessions.stale_grace_secs = 1;
    c.sessions.housekeeping_secs = 1;
    c
}

/// A session whose NAS goes silent is closed as stale, in the Redis store (`redis`) or
/// the in-process one.
async fn silent_session_is_closed_as_stale(redis: Option<Redis>) {
    let (url, pool) = harness::fresh_db().await;
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "fred", &[("Simultaneous-Use", ":=", "1")]).await;
    let mut c = config(&url, redis.as_ref().map(Redis::url), nas.addr().port());
    c.sessions.interim_interval_secs = 5;
    c.sessions.stale_grace_secs = 1;
    c.sessions.housekeeping_secs = 1;
    let server = start(c).await;
    let router = Router::new(&server).await;
    let (phone, laptop) = ("CC:00:00:00:00:01", "CC:00:00:00:00:02");

    let first = router.login("fred", phone).await;
    assert_accept(&first, "first login");
    assert_eq!(first.interim, Some(5), "Acct-Interim-Interval: {first:?}");
    // The NAS says it sends an Interim every 5 s, then goes silent.
    router
        .acct(&Acct {
            interim: Some(5),
            ..Acct::start("fred", "fred-1", phone)
        })
        .await;
    assert_refused(
        &router.login("fred", laptop).await,
        SIMULTANEOUS,
        "second device while the first is online",
    );
    closed_with(&pool, "fred-1", "Stale-Session").await;
    if let Some(redis) = &redis {
        assert_eq!(
            listed(&store(redis), &user_filter("fred")).await,
            Vec::<String>::new()
        );
    }
    assert_accept(
        &router.login("fred", laptop).await,
        "second device once the first went stale",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_session_is_closed_as_stale_redis() {
    silent_session_is_closed_as_stale(Some(Redis::start())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_session_is_closed_as_stale_in_process() {
    silent_session_is_closed_as_stale(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_session_without_interval_is_stale_after_two_past_intervals() {
    // No Acct-Interim-Interval from the NAS: the rule assumes the one Access-Accept asked
    // for. A Start from long enough ago is already past `2 × interim + grace`.
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "gina", &[("Simultaneous-Use", ":=", "1")]).await;
    let server = start(stale_config(&url, &redis, nas.addr().port())).await;
    let router = Router::new(&server).await;
    router
        .acct(&Acct {
            event: Some(now() - 600),
            ..Acct::start("gina", "gina-1", "CD:00:00:00:00:01")
        })
        .await;
    closed_with(&pool, "gina-1", "Stale-Session").await;
    assert_accept(
        &router.login("gina", "CD:00:00:00:00:02").await,
        "another device once the first went stale",
    );
    server.stop().await;
}

/// A session whose NAS sends no Acct-Interim-Interval is stale after
/// `2 × interim_interval_secs + stale_grace_secs`, whatever the configured interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_session_is_stale_after_two_configured_intervals() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "hana", &[]).await;
    let server = start(stale_config(&url, &redis, nas.addr().port())).await;
    let router = Router::new(&server).await;
    // Started 30 s ago: past 2 × 5 + 1 s, not past 2 × 60 + 1 s.
    router
        .acct(&Acct {
            event: Some(now() - 30),
            ..Acct::start("hana", "hana-1", "CE:00:00:00:00:01")
        })
        .await;
    closed_with(&pool, "hana-1", "Stale-Session").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 4. Quotas, Expire-After, Expiration, Login-Time

/// One finished session of `user` from `mac` with these counters.
async fn used(
    router: &Router,
    (user, mac): (&str, &str),
    session: &str,
    time: u32,
    octets: (u64, u64),
) {
    router.acct(&Acct::start(user, session, mac)).await;
    router
        .acct(&Acct::stop(user, session, mac, time, octets))
        .await;
}

async fn quota_server(url: &str, redis: &Redis, nas: &FakeNas) -> Running {
    let mut c = config(url, Some(redis.url()), nas.addr().port());
    c.sessions.automatic_actions = false;
    start(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_quotas() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "t_all", &[("Max-All-Session", ":=", "3600")]).await;
    user(&pool, "t_day", &[("Max-Daily-Session", ":=", "600")]).await;
    user(&pool, "t_month", &[("Max-Monthly-Session", ":=", "7200")]).await;
    let server = quota_server(&url, &redis, &nas).await;
    let router = Router::new(&server).await;

    for (i, (user, limit, first, message)) in [
        ("t_all", 3600, 1000, "Your time allowance is used up"),
        ("t_day", 600, 200, "Your daily time allowance is used up"),
        (
            "t_month",
            7200,
            1800,
            "Your monthly time allowance is used up",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mac = &format!("DD:00:00:00:01:{i:02X}");
        let fresh = router.login(user, mac).await;
        assert_accept(&fresh, user);
        assert_eq!(
            fresh.session_timeout,
            Some(limit),
            "{user} unused: {fresh:?}"
        );
        assert_eq!(fresh.total_limit, None, "{user}: no data quota: {fresh:?}");

        used(&router, (user, mac), &format!("{user}-1"), first, (10, 10)).await;
        let some = router.login(user, mac).await;
        assert_accept(&some, user);
        assert_eq!(
            some.session_timeout,
            Some(limit - first),
            "{user} after {first} s: {some:?}"
        );

        // An open session's Interims count too: use up the rest.
        let s = format!("{user}-2");
        router.acct(&Acct::start(user, &s, mac)).await;
        router
            .acct(&Acct::update(user, &s, mac, limit - first - 1, (0, 0)))
            .await;
        let last = router.login(user, mac).await;
        assert_accept(&last, user);
        assert_eq!(
            last.session_timeout,
            Some(1),
            "{user} with 1 s left: {last:?}"
        );
        router
            .acct(&Acct::stop(user, &s, mac, limit - first, (0, 0)))
            .await;
        assert_refused(&router.login(user, mac).await, message, user);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_quotas() {
    const GIB4: u64 = 1 << 32;
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    // 6 GiB: the remainder after 1 GB used is above 4 GiB.
    user(&pool, "d_big", &[("Max-Total-Octets", ":=", "6442450944")]).await;
    user(&pool, "d_total", &[("Max-Total-Octets", ":=", "10000")]).await;
    user(&pool, "d_day", &[("Max-Daily-Octets", ":=", "10000")]).await;
    user(&pool, "d_month", &[("Max-Monthly-Octets", ":=", "20000")]).await;
    let server = quota_server(&url, &redis, &nas).await;
    let router = Router::new(&server).await;
    let mac = "DD:00:00:00:00:08";

    // Above 4 GiB: Mikrotik-Total-Limit is the low 32 bits, -Gigawords the high ones.
    let fresh = router.login("d_big", mac).await;
    assert_accept(&fresh, "d_big unused");
    assert_eq!(
        (fresh.total_limit, fresh.total_limit_gigawords),
        (Some(2_147_483_648), Some(1)),
        "6 GiB left = 1 gigaword + 2 GiB: {fresh:?}"
    );
    assert_eq!(fresh.session_timeout, None, "no time limit: {fresh:?}");
    used(
        &router,
        ("d_big", mac),
        "big-1",
        60,
        (600_000_000, 400_000_000),
    )
    .await;
    let left = 6_442_450_944u64 - 1_000_000_000;
    let some = router.login("d_big", mac).await;
    assert_accept(&some, "d_big after 1 GB");
    assert_eq!(
        (some.total_limit, some.total_limit_gigawords),
        (Some((left - GIB4) as u32), Some(1)),
        "{left} octets left: {some:?}"
    );
    assert_eq!(some.total_limit, Some(1_147_483_648));
    // 5.5 GB more in one session (gigawords in the counters): used up.
    used(
        &router,
        ("d_big", mac),
        "big-2",
        60,
        (5_000_000_000, 500_000_000),
    )
    .await;
    assert_refused(
        &router.login("d_big", mac).await,
        "Your data allowance is used up",
        "d_big over 6 GiB",
    );

    for (i, (user, limit, first, message)) in [
        (
            "d_total",
            10_000u64,
            2_500u64,
            "Your data allowance is used up",
        ),
        (
            "d_day",
            10_000,
            3_000,
            "Your daily data allowance is used up",
        ),
        (
            "d_month",
            20_000,
            5_000,
            "Your monthly data allowance is used up",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mac = &format!("DD:00:00:00:02:{i:02X}");
        let fresh = router.login(user, mac).await;
        assert_accept(&fresh, user);
        assert_eq!(
            (fresh.total_limit, fresh.total_limit_gigawords),
            (Some(limit as u32), None),
            "{user} unused: {fresh:?}"
        );
        used(
            &router,
            (user, mac),
            &format!("{user}-1"),
            30,
            (first - 100, 100),
        )
        .await;
        let some = router.login(user, mac).await;
        assert_accept(&some, user);
        assert_eq!(
            (
                some.total_limit,
                some.total_limit_gigawords,
                some.session_timeout
            ),
            (Some((limit - first) as u32), None, None),
            "{user} after {first} octets: {some:?}"
        );
        // An open session's Interim uses up the rest.
        let s = format!("{user}-2");
        router.acct(&Acct::start(user, &s, mac)).await;
        router
            .acct(&Acct::update(user, &s, mac, 30, (limit - first, 0)))
            .await;
        assert_refused(&router.login(user, mac).await, message, user);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_after_expiration_and_login_time() {
    use chrono::{TimeZone, Timelike};
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    let t0 = now();
    let utc = chrono::Utc.timestamp_opt(t0, 0).unwrap();
    let hour = utc.hour();
    let hour_start = t0 - i64::from(utc.minute() * 60 + utc.second());
    let inside = format!("Al{:02}00-{:02}00", hour, (hour + 2) % 24);
    let outside = format!("Al{:02}00-{:02}00", (hour + 3) % 24, (hour + 4) % 24);
    let expires = chrono::Utc
        .timestamp_opt(t0 + 7200, 0)
        .unwrap()
        .format("%d %b %Y %H:%M:%S")
        .to_string();
    user(&pool, "e_new", &[("Expire-After", ":=", "3600")]).await;
    user(&pool, "e_used", &[("Expire-After", ":=", "3600")]).await;
    user(&pool, "e_gone", &[("Expire-After", ":=", "3600")]).await;
    user(
        &pool,
        "x_past",
        &[("Expiration", ":=", "01 Jan 2020 00:00:00")],
    )
    .await;
    user(&pool, "x_future", &[("Expiration", ":=", &expires)]).await;
    user(&pool, "l_in", &[("Login-Time", ":=", &inside)]).await;
    user(&pool, "l_out", &[("Login-Time", ":=", &outside)]).await;
    let server = quota_server(&url, &redis, &nas).await;
    let router = Router::new(&server).await;
    let mac = "DD:00:00:00:00:07";
    // Seconds the clock may move between `t0` and a login's decision (bounds, not timing).
    let slack = |expected: i64| {
        let elapsed = now() - t0 + 1;
        move |got: Option<u32>| {
            got.is_some_and(|g| {
                let g = i64::from(g);
                g <= expected && g >= expected - elapsed
            })
        }
    };

    // Expire-After: never logged in ⇒ the whole period.
    let a = router.login("e_new", mac).await;
    assert_accept(&a, "e_new");
    assert_eq!(a.session_timeout, Some(3600), "e_new: {a:?}");
    // First login 1000 s ago (a Start with a past Event-Timestamp) ⇒ 2600 s left.
    router
        .acct(&Acct {
            event: Some(t0 - 1000),
            ..Acct::start("e_used", "e_used-1", mac)
        })
        .await;
    let a = router.login("e_used", mac).await;
    assert_accept(&a, "e_used");
    assert!(
        slack(2600)(a.session_timeout),
        "e_used ≈ 2600 s left: {a:?}"
    );
    // First login 4000 s ago ⇒ expired.
    router
        .acct(&Acct {
            event: Some(t0 - 4000),
            ..Acct::start("e_gone", "e_gone-1", mac)
        })
        .await;
    assert_refused(
        &router.login("e_gone", mac).await,
        "This account has expired",
        "e_gone",
    );

    // Expiration.
    let a = router.login("x_past", mac).await;
    assert_eq!(a.code, Code::AccessReject, "x_past: {a:?}");
    let a = router.login("x_future", mac).await;
    assert_accept(&a, "x_future");
    assert!(slack(7200)(a.session_timeout), "x_future ≈ 7200 s: {a:?}");

    // Login-Time.
    assert_refused(
        &router.login("l_out", mac).await,
        "Logins are not allowed at this time",
        &format!("l_out {outside}"),
    );
    let a = router.login("l_in", mac).await;
    assert_accept(&a, &format!("l_in {inside}"));
    let window_end = hour_start + 7200;
    assert!(
        slack(window_end - t0)(a.session_timeout),
        "l_in {inside}: Session-Timeout ≤ {} s to the window's end: {a:?}",
        window_end - t0
    );
    server.stop().await;
}

/// Every value of attribute `typ` (vendor 0) or vendor attribute `(vendor, typ)`.
fn values(reply: &[u8], vendor: u32, typ: u8) -> Vec<Vec<u8>> {
    let p = Packet::decode(reply).expect("decodes");
    if vendor == 0 {
        p.attrs(typ).map(<[u8]>::to_vec).collect()
    } else {
        p.vendor_attributes()
            .filter(|v| v.vendor == vendor && v.typ == typ)
            .map(|v| v.value.to_vec())
            .collect()
    }
}

fn be(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_terms_merge_with_reply_items() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    // The profile's own Session-Timeout, Acct-Interim-Interval and Mikrotik-Total-Limit
    // meet the quota's terms: one of each goes out, the smaller Session-Timeout, the
    // profile's interval, the quota's data left.
    user(
        &pool,
        "m_short",
        &[
            ("Max-All-Session", ":=", "3600"),
            ("Max-Total-Octets", ":=", "9000"),
        ],
    )
    .await;
    user(&pool, "m_long", &[("Max-All-Session", ":=", "300")]).await;
    user(&pool, "m_plain", &[]).await;
    exec(
        &pool,
        "INSERT INTO radreply (username, attribute, op, value) VALUES \
           ('m_short', 'Session-Timeout', '=', '600'), \
           ('m_short', 'Acct-Interim-Interval', '=', '60'), \
           ('m_short', 'Mikrotik-Total-Limit', '=', '123456'), \
           ('m_long', 'Session-Timeout', '=', '600')",
    )
    .await;
    let mut c = config(&url, Some(redis.url()), nas.addr().port());
    c.sessions.interim_interval_secs = 120;
    c.sessions.max_session_timeout_secs = 1000;
    let server = start(c).await;
    let router = Router::new(&server).await;
    let mac = "DE:00:00:00:00:01";
    let raw = |user: &'static str| {
        let router = &router;
        async move {
            let authenticator: [u8; 16] = rand::random();
            let mut b = PacketBuilder::new(Code::AccessRequest, rand::random())
                .with_message_authenticator();
            b.add(attrs::USER_NAME, user.as_bytes()).unwrap();
            b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
            b.add(attrs::CALLING_STATION_ID, mac.as_bytes()).unwrap();
            b.add_user_password(PASSWORD.as_bytes(), &router.signer, &authenticator)
                .unwrap();
            let bytes = b
                .sign_access_request(&authenticator, &router.signer)
                .unwrap();
            router
                .auth
                .exchange(&Request {
                    bytes,
                    authenticator,
                })
                .await
        }
    };

    let r = raw("m_short").await;
    assert_eq!(answer(&r).code, Code::AccessAccept);
    assert_eq!(values(&r, 0, attrs::SESSION_TIMEOUT), [be(600)], "m_short");
    assert_eq!(
        values(&r, 0, attrs::ACCT_INTERIM_INTERVAL),
        [be(60)],
        "m_short"
    );
    assert_eq!(
        values(&r, mikrotik::VENDOR_ID, mikrotik::TOTAL_LIMIT),
        [be(9000)],
        "m_short: the quota's remainder replaces the reply item"
    );
    assert_eq!(
        values(&r, mikrotik::VENDOR_ID, mikrotik::TOTAL_LIMIT_GIGAWORDS),
        Vec::<Vec<u8>>::new()
    );

    let r = raw("m_long").await;
    assert_eq!(values(&r, 0, attrs::SESSION_TIMEOUT), [be(300)], "m_long");
    assert_eq!(
        values(&r, 0, attrs::ACCT_INTERIM_INTERVAL),
        [be(120)],
        "m_long"
    );

    // No limit at all: max_session_timeout_secs still caps the session.
    let r = raw("m_plain").await;
    assert_eq!(answer(&r).code, Code::AccessAccept);
    assert_eq!(values(&r, 0, attrs::SESSION_TIMEOUT), [be(1000)], "m_plain");
    assert_eq!(
        values(&r, 0, attrs::ACCT_INTERIM_INTERVAL),
        [be(120)],
        "m_plain"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 5. Automatic Disconnect and CoA

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_disconnect_and_coa() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "q_user", &[("Max-Total-Octets", ":=", "5000")]).await;
    user(&pool, "a_user", &[]).await;
    user(&pool, "r_user", &[]).await;
    exec(
        &pool,
        "INSERT INTO radreply (username, attribute, op, value) \
         VALUES ('r_user', 'Mikrotik-Rate-Limit', '=', '1M/2M')",
    )
    .await;
    let server = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let router = Router::new(&server).await;

    // Quota: an Interim that pushes usage over Max-Total-Octets.
    let mac = "EE:00:00:00:00:01";
    assert_accept(&router.login("q_user", mac).await, "q_user");
    router.acct(&Acct::start("q_user", "q-1", mac)).await;
    router
        .acct(&Acct::update("q_user", "q-1", mac, 60, (2000, 1000)))
        .await;
    router
        .acct(&Acct::update("q_user", "q-1", mac, 120, (4000, 2000)))
        .await;
    let got = nas.wait_for(1, WAIT);
    let r = &got[0];
    assert_eq!(r.code, Code::DisconnectRequest, "{r:?}");
    assert_eq!(r.user_name.as_deref(), Some("q_user"));
    assert_eq!(r.acct_session_id.as_deref(), Some("q-1"));
    assert_eq!(r.framed_ip, Some(Ipv4Addr::new(10, 5, 50, 7)));
    assert_eq!(r.nas_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(r.has_message_authenticator);
    assert_eq!(got.len(), 1, "exactly one Disconnect so far: {got:?}");

    // Admin: Auth-Type := Reject for a user with an open session.
    let mac = "EE:00:00:00:00:02";
    assert_accept(&router.login("a_user", mac).await, "a_user");
    router
        .acct(&Acct {
            ip: [10, 5, 50, 8],
            ..Acct::start("a_user", "a-1", mac)
        })
        .await;
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('a_user', 'Auth-Type', ':=', 'Reject')",
    )
    .await;
    let got = nas.wait_for(2, WAIT);
    let r = &got[1];
    assert_eq!(r.code, Code::DisconnectRequest, "{r:?}");
    assert_eq!(r.user_name.as_deref(), Some("a_user"));
    assert_eq!(r.acct_session_id.as_deref(), Some("a-1"));
    assert_eq!(r.framed_ip, Some(Ipv4Addr::new(10, 5, 50, 8)));

    // Admin: a new rate limit for a logged-in user ⇒ CoA with the new value.
    let mac = "EE:00:00:00:00:03";
    assert_accept(&router.login("r_user", mac).await, "r_user");
    router
        .acct(&Acct {
            ip: [10, 5, 50, 9],
            ..Acct::start("r_user", "r-1", mac)
        })
        .await;
    exec(
        &pool,
        "UPDATE radreply SET value = '4M/8M' \
         WHERE username = 'r_user' AND attribute = 'Mikrotik-Rate-Limit'",
    )
    .await;
    let got = nas.wait_for(3, WAIT);
    let r = &got[2];
    assert_eq!(r.code, Code::CoaRequest, "{r:?}");
    assert_eq!(r.user_name.as_deref(), Some("r_user"));
    assert_eq!(r.acct_session_id.as_deref(), Some("r-1"));
    assert_eq!(
        r.attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
        Some(&b"4M/8M"[..]),
        "{r:?}"
    );
    assert!(nas.failures().is_empty(), "{:?}", nas.failures());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 6. The `sessions` and `disconnect` commands

fn write_cli_config(dir: &Path, url: &str, redis: Option<&str>, coa_port: u16) -> String {
    let mut text = format!(
        "[database]\nurl = \"{url}\"\n\n\
         [accounting]\njournal_dir = \"{}\"\n\n\
         [sessions]\ndynauth_timeout_ms = 200\ndynauth_attempts = 2\n\n",
        dir.join("journal").display()
    );
    if let Some(r) = redis {
        text.push_str(&format!("[redis]\nurl = \"{r}\"\n\n"));
    }
    text.push_str(&format!(
        "[[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\ncoa_port = {coa_port}\n"
    ));
    let path = dir.join(if redis.is_some() {
        "with-redis.toml"
    } else {
        "radacct.toml"
    });
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// Run the binary with `args` (bounded); (exit code, stdout + stderr).
async fn cli(args: Vec<String>) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hotspot-radius");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
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
    })
    .await
    .expect("cli task")
}

fn args(config: &str, rest: &[&str]) -> Vec<String> {
    ["--config", config]
        .iter()
        .chain(rest)
        .map(|s| (*s).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_and_disconnects() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "ivy", &[]).await;
    let mut c = config(&url, Some(redis.url()), nas.addr().port());
    c.sessions.automatic_actions = false;
    let server = start(c).await;
    let router = Router::new(&server).await;
    let mac = "FF:00:00:00:00:01";
    router
        .acct(&Acct {
            ip: [10, 5, 50, 42],
            ..Acct::start("ivy", "ivy-1", mac)
        })
        .await;
    let dir = harness::fresh_dir("cli");
    let with_redis = write_cli_config(&dir, &url, Some(&redis.url()), nas.addr().port());
    let from_radacct = write_cli_config(&dir, &url, None, nas.addr().port());

    for config in [&with_redis, &from_radacct] {
        let (code, out) = cli(args(config, &["sessions", "--user", "ivy"])).await;
        assert_eq!(code, Some(0), "sessions ({config}): {out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("ivy "))
            .unwrap_or_else(|| panic!("no ivy line ({config}): {out}"));
        assert!(line.contains(mac), "{line}");
        assert!(line.contains("10.5.50.42"), "{line}");
        assert!(line.contains("ivy-1"), "{line}");
        assert!(out.contains("1 session(s) online"), "{out}");
    }

    let (code, out) = cli(args(&with_redis, &["disconnect", "--user", "ivy"])).await;
    assert_eq!(code, Some(0), "disconnect, ACK: {out}");
    assert!(out.contains("ACK"), "{out}");
    let got = nas.wait_for(1, WAIT);
    assert_eq!(got[0].code, Code::DisconnectRequest);
    assert_eq!(got[0].user_name.as_deref(), Some("ivy"));
    assert_eq!(got[0].acct_session_id.as_deref(), Some("ivy-1"));
    assert_eq!(got[0].framed_ip, Some(Ipv4Addr::new(10, 5, 50, 42)));

    nas.set_behaviour(Behaviour::Nak(Some(503)));
    let (code, out) = cli(args(&with_redis, &["disconnect", "--session", "ivy-1"])).await;
    assert_eq!(code, Some(1), "disconnect, NAK: {out}");
    assert!(out.contains("NAK"), "{out}");
    assert!(out.contains("Session-Context-Not-Found"), "{out}");

    nas.set_behaviour(Behaviour::Silent);
    let (code, out) = cli(args(&from_radacct, &["disconnect", "--user", "ivy"])).await;
    assert_eq!(code, Some(1), "disconnect, no answer: {out}");
    assert!(out.contains("no reply"), "{out}");
    // 1 + 1 + 2 attempts.
    assert_eq!(nas.wait_for(4, WAIT).len(), 4);

    nas.set_behaviour(Behaviour::Ack);
    let (code, out) = cli(args(
        &with_redis,
        &["coa", "--user", "ivy", "Mikrotik-Rate-Limit=3M/6M"],
    ))
    .await;
    assert_eq!(code, Some(0), "coa, ACK: {out}");
    assert!(out.contains("ACK"), "{out}");
    let got = nas.wait_for(5, WAIT);
    assert_eq!(got[4].code, Code::CoaRequest);
    assert_eq!(got[4].user_name.as_deref(), Some("ivy"));
    assert_eq!(got[4].acct_session_id.as_deref(), Some("ivy-1"));
    assert_eq!(
        got[4].attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
        Some(&b"3M/6M"[..])
    );

    let (code, out) = cli(args(&with_redis, &["disconnect", "--user", "nobody"])).await;
    assert_ne!(code, Some(0), "disconnect of a user with no session: {out}");
    assert!(out.contains("no open session"), "{out}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 7. Redis loses its data

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_is_rebuilt_after_redis_lost_its_data() {
    let (url, pool) = harness::fresh_db().await;
    let mut redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "jack", &[("Simultaneous-Use", ":=", "1")]).await;
    user(&pool, "kate", &[("Max-Total-Octets", ":=", "10000")]).await;
    let mut c = config(&url, Some(redis.url()), nas.addr().port());
    c.sessions.housekeeping_secs = 1;
    let server = start(c).await;
    let router = Router::new(&server).await;
    let sessions = store(&redis);
    let (phone, laptop) = ("AB:00:00:00:00:01", "AB:00:00:00:00:02");

    assert_accept(&router.login("jack", phone).await, "first device");
    router.acct(&Acct::start("jack", "jack-1", phone)).await;
    assert_refused(
        &router.login("jack", laptop).await,
        SIMULTANEOUS,
        "second device",
    );

    // Usage too is rebuilt from radacct: 3000 of kate's 10000 octets, in a closed
    // session and an open one.
    let kate = "AB:00:00:00:00:03";
    used(&router, ("kate", kate), "kate-1", 60, (1000, 1000)).await;
    router.acct(&Acct::start("kate", "kate-2", kate)).await;
    router
        .acct(&Acct::update("kate", "kate-2", kate, 60, (500, 500)))
        .await;
    let before = router.login("kate", kate).await;
    assert_eq!(before.total_limit, Some(7000), "{before:?}");

    // FLUSHALL: housekeeping finds the store not loaded and rebuilds it from radacct.
    redis.flushall();
    let sessions = &sessions;
    until("jack-1 listed again after FLUSHALL", || async move {
        let ids = sessions.list(&user_filter("jack")).await.ok()?;
        (ids.len() == 1 && ids[0].session_id == "jack-1").then_some(())
    })
    .await;
    let s = &sessions.list(&user_filter("jack")).await.unwrap()[0];
    assert_eq!(s.mac.as_deref(), Some(phone));
    assert_eq!(s.framed_ip, Some(IpAddr::V4(Ipv4Addr::new(10, 5, 50, 7))));
    assert_refused(
        &router.login("jack", laptop).await,
        SIMULTANEOUS,
        "second device after the rebuild",
    );
    let after = router.login("kate", kate).await;
    assert_accept(&after, "kate after the rebuild");
    assert_eq!(after.total_limit, Some(7000), "usage rebuilt: {after:?}");

    // Redis restarted empty: the same, once the connection is back.
    redis.stop();
    redis.start_again();
    until("jack-1 listed again after a Redis restart", || async move {
        let ids = sessions.list(&user_filter("jack")).await.ok()?;
        (ids.len() == 1 && ids[0].session_id == "jack-1").then_some(())
    })
    .await;
    assert_refused(
        &router.login("jack", laptop).await,
        SIMULTANEOUS,
        "second device after the Redis restart",
    );
    server.stop().await;
}

/// With several instances sharing Redis, every one receives the NOTIFY of an admin change;
/// the action is claimed in the session store, so the NAS gets one Disconnect per session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_change_is_acted_on_once_by_two_instances() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "p_user", &[]).await;
    let a = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let b = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let (ra, rb) = (Router::new(&a).await, Router::new(&b).await);
    let mac = "AC:00:00:00:00:01";
    // Both instances have the profile loaded (logins go to either).
    assert_accept(&ra.login("p_user", mac).await, "login through A");
    assert_accept(&rb.login("p_user", mac).await, "login through B");
    ra.acct(&Acct::start("p_user", "p-1", mac)).await;
    exec(
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('p_user', 'Auth-Type', ':=', 'Reject')",
    )
    .await;
    let first = nas.wait_for(1, WAIT);
    assert_eq!(first[0].code, Code::DisconnectRequest);
    assert_eq!(first[0].acct_session_id.as_deref(), Some("p-1"));
    // Give a duplicate every chance to arrive (not a timing assertion: it must never come).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = nas.requests();
    assert_eq!(all.len(), 1, "one Disconnect for one change: {all:?}");
    a.stop().await;
    b.stop().await;
}

/// A `hotspot-radius serve` process (killed on drop).
struct ServerProcess {
    child: std::process::Child,
    auth: std::net::SocketAddr,
    acct: std::net::SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(url: &str, redis: &str) -> ServerProcess {
    let dir = harness::fresh_dir("server");
    let (auth, acct) = (harness::free_udp_port(), harness::free_udp_port());
    let file = dir.join("server.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nauth_addr = \"127.0.0.1:{auth}\"\nacct_addr = \"127.0.0.1:{acct}\"\n\
             reject_delay_ms = 0\n[admin]\nenabled = false\n\
             [database]\nurl = \"{url}\"\npool_size = 4\n[redis]\nurl = \"{redis}\"\n\
             [accounting]\njournal_dir = \"{}\"\n\
             [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n",
            dir.join("journal").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start hotspot-radius");
    ServerProcess {
        child,
        auth: ([127, 0, 0, 1], auth).into(),
        acct: ([127, 0, 0, 1], acct).into(),
        dir,
    }
}

/// FreeRADIUS's `radclient` (a client nobody here wrote): its verdict line and output.
fn radclient(server: std::net::SocketAddr, kind: &str, input: &str) -> String {
    harness::run_radclient(server, kind, SECRET, input, 3, 2).1
}

/// Until `server` answers radclient's Access-Request for `user` (start-up), bounded.
fn until_up(server: &ServerProcess, login: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = radclient(server.auth, "auth", login);
        if out.contains("Received Access-") {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "server not answering; log:\n{}",
            std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
        );
    }
}

/// Simultaneous-Use held by two separate server processes sharing PostgreSQL and Redis,
/// driven by radclient: a login on one counts on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_use_across_two_server_processes_with_radclient() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    user(&pool, "rita", &[("Simultaneous-Use", ":=", "1")]).await;
    let a = spawn_server(&url, &redis.url());
    let b = spawn_server(&url, &redis.url());
    let login = |mac: &str| {
        format!(
            "User-Name=rita,User-Password={PASSWORD},Calling-Station-Id={mac},\
             NAS-IP-Address=127.0.0.1\n"
        )
    };
    let acct = |status: &str, mac: &str| {
        format!(
            "User-Name=rita,Acct-Status-Type={status},Acct-Session-Id=r-1,NAS-Port=7,\
             Calling-Station-Id={mac},Framed-IP-Address=10.5.50.3,NAS-IP-Address=127.0.0.1,\
             Acct-Session-Time=60\n"
        )
    };
    let first = until_up(&a, &login("AA:00:00:00:00:01"));
    assert!(first.contains("Received Access-Accept"), "{first}");
    until_up(&b, &login("AA:00:00:00:00:01"));
    let started = radclient(a.acct, "acct", &acct("Start", "AA:00:00:00:00:01"));
    assert!(
        started.contains("Received Accounting-Response"),
        "{started}"
    );
    let second = radclient(b.auth, "auth", &login("AA:00:00:00:00:02"));
    assert!(second.contains("Received Access-Reject"), "{second}");
    assert!(second.contains(SIMULTANEOUS), "{second}");
    let stopped = radclient(b.acct, "acct", &acct("Stop", "AA:00:00:00:00:01"));
    assert!(
        stopped.contains("Received Accounting-Response"),
        "{stopped}"
    );
    let again = radclient(a.auth, "auth", &login("AA:00:00:00:00:02"));
    assert!(again.contains("Received Access-Accept"), "{again}");
}

/// An admin lowering a quota below what an online user has already used: the session is
/// disconnected at once (not at the next Interim, not at the next login).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_quota_disconnects_at_once() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "l_user", &[("Max-Total-Octets", ":=", "1000000")]).await;
    let server = start(config(&url, Some(redis.url()), nas.addr().port())).await;
    let router = Router::new(&server).await;
    let mac = "EF:00:00:00:00:01";
    assert_accept(&router.login("l_user", mac).await, "l_user");
    router.acct(&Acct::start("l_user", "l-1", mac)).await;
    router
        .acct(&Acct::update("l_user", "l-1", mac, 60, (20_000, 10_000)))
        .await;
    // Within quota: nothing may arrive. Any action is queued while the Interim is handled,
    // so a second of silence is ample on loopback; a Disconnect sent here would also be the
    // one `wait_for` below finds, so this is what proves it comes from the UPDATE.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(nas.requests().is_empty(), "within quota: no action yet");
    exec(
        &pool,
        "UPDATE radcheck SET value = '25000' \
         WHERE username = 'l_user' AND attribute = 'Max-Total-Octets'",
    )
    .await;
    let got = nas.wait_for(1, WAIT);
    assert_eq!(got[0].code, Code::DisconnectRequest, "{:?}", got[0]);
    assert_eq!(got[0].acct_session_id.as_deref(), Some("l-1"));
    server.stop().await;
}
