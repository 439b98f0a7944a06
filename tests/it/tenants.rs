//! Tenants end to end: one PostgreSQL holding two tenants (`acme`, `bravo`) and global
//! rows, with the same username (`ABC123`) and the same group name (`gold`) in each, served
//! by the whole server (`app::start`, Redis L2 and session store) to three NAS entries on
//! their own loopback addresses: 127.0.0.1 is acme's, 127.0.0.3 bravo's, 127.0.0.4 global.
//! Isolation of logins and reply items, invalidation by (tenant, username), accounting and
//! post-auth rows carrying the tenant, Simultaneous-Use per tenant, radclient, and the
//! `--tenant` flags of the CLI.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, NasConfig};
use radius_proto::protocol::attrs::{self, mikrotik};
use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder, Signer};
use sqlx::PgPool;

use crate::fake_nas::{Behaviour, FakeNas};
use crate::harness::{self, Redis};
use crate::udp_access::{Method, Nas, REPLY_WAIT, Request, code_of};

const SECRET_ACME: &str = "acme-secret";
const SECRET_BRAVO: &str = "bravo-secret";
const SECRET_GLOBAL: &str = "global-secret";
/// Bound on waiting for something that must happen.
const WAIT: Duration = Duration::from_secs(30);
/// The Reply-Message of a Simultaneous-Use refusal.
const SIMULTANEOUS: &str = "You are already logged in on as many devices as your plan allows";

/// Two tenants and global rows with overlapping usernames and group names:
/// - `ABC123` in acme (password `acme-pw`, group acme `gold` = 10M, Simultaneous-Use 1),
///   in bravo (`bravo-pw`, group bravo `gold` = 2M) and global (`global-pw`, global `gold`
///   = 512k);
/// - `shared`: global only (`shared-pw`), in group `gold` (global membership), so each
///   tenant's NAS gives it that tenant's `gold`;
/// - `onlyacme`: acme only.
const SEED: &str = r"
INSERT INTO radcheck (username, attribute, op, value, tenant) VALUES
  ('ABC123', 'Cleartext-Password', ':=', 'acme-pw', 'acme'),
  ('ABC123', 'Simultaneous-Use', ':=', '1', 'acme'),
  ('ABC123', 'Cleartext-Password', ':=', 'bravo-pw', 'bravo'),
  ('ABC123', 'Cleartext-Password', ':=', 'global-pw', NULL),
  ('shared', 'Cleartext-Password', ':=', 'shared-pw', NULL),
  ('onlyacme', 'Cleartext-Password', ':=', 'only-pw', 'acme');
INSERT INTO radusergroup (username, groupname, priority, tenant) VALUES
  ('ABC123', 'gold', 1, 'acme'),
  ('ABC123', 'gold', 1, 'bravo'),
  ('ABC123', 'gold', 1, NULL),
  ('shared', 'gold', 1, NULL);
INSERT INTO radgroupreply (groupname, attribute, op, value, tenant) VALUES
  ('gold', 'Mikrotik-Rate-Limit', ':=', '10M/10M', 'acme'),
  ('gold', 'Mikrotik-Rate-Limit', ':=', '2M/2M', 'bravo'),
  ('gold', 'Mikrotik-Rate-Limit', ':=', '512k/512k', NULL);
";

fn nas(address: &str, secret: &str, tenant: Option<&str>) -> NasConfig {
    NasConfig {
        address: address.into(),
        secret: secret.into(),
        name: Some(format!("nas-{}", tenant.unwrap_or("global"))),
        tenant: tenant.map(str::to_owned),
        ..NasConfig::default()
    }
}

fn config(database_url: &str, redis_url: &str) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.server.reject_delay_ms = 0;
    c.server.shutdown_timeout_secs = 5;
    c.admin.enabled = false;
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.redis.url = Some(redis_url.to_owned());
    c.accounting.journal_dir = harness::fresh_dir("tenants-journal");
    c.sessions.automatic_actions = false;
    c.nas = vec![
        nas("127.0.0.1", SECRET_ACME, Some("acme")),
        nas("127.0.0.3", SECRET_BRAVO, Some("bravo")),
        nas("127.0.0.4", SECRET_GLOBAL, None),
    ];
    c
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One router: its Access-Request and Accounting-Request sockets on `local`.
struct Router {
    auth: Nas,
    acct: Nas,
    signer: Signer,
}

impl Router {
    async fn new(server: &Running, local: &str, secret: &str) -> Self {
        let at = format!("{local}:0");
        Self {
            auth: Nas::new_at(&at, server.auth_addr, secret).await,
            acct: Nas::new_at(&at, server.acct_addr, secret).await,
            signer: Signer::new(secret.as_bytes()),
        }
    }

    /// A PAP login from the device `mac`: (code, Mikrotik-Rate-Limit, Reply-Message).
    async fn login(
        &self,
        user: &str,
        password: &str,
        mac: &str,
    ) -> (Code, Option<String>, Option<String>) {
        let authenticator: [u8; 16] = rand::random();
        let mut b =
            PacketBuilder::new(Code::AccessRequest, rand::random()).with_message_authenticator();
        b.add(attrs::USER_NAME, user.as_bytes()).unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
        b.add(attrs::CALLING_STATION_ID, mac.as_bytes()).unwrap();
        b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
        b.add_user_password(password.as_bytes(), &self.signer, &authenticator)
            .unwrap();
        let bytes = b.sign_access_request(&authenticator, &self.signer).unwrap();
        let reply = self
            .auth
            .exchange(&Request {
                bytes,
                authenticator,
            })
            .await;
        let p = Packet::decode(&reply).expect("reply decodes");
        let rate = p
            .vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let message = p.attr_str(attrs::REPLY_MESSAGE).map(str::to_owned);
        (p.code(), rate, message)
    }

    /// The code of a PAP login from the default device.
    async fn code(&self, user: &str, password: &str) -> Code {
        let reply = self
            .auth
            .exchange(&self.auth.access_request(user, password, Method::Pap, true))
            .await;
        code_of(&reply)
    }

    /// An acknowledged accounting Start of `session` for `user` (device AA:BB:CC:DD:EE:FF).
    async fn start(&self, user: &str, session: &str) {
        let req =
            self.acct
                .accounting_request(user, session, AcctStatus::Start.as_u32(), (0, 0, 0));
        assert_eq!(
            code_of(&self.acct.exchange(&req).await),
            Code::AccountingResponse,
            "Start {session}"
        );
    }
}

/// Waits until the server has applied one more notification than `before` (one change).
async fn applied_after(server: &Running, before: u64) {
    let mut applied = server.notifications_applied();
    tokio::time::timeout(REPLY_WAIT, applied.wait_for(|n| *n > before))
        .await
        .expect("the NOTIFY is applied in time")
        .expect("the listener runs");
}

/// Makes one change (`sql`, one notification) and waits until the server applied it.
async fn change(server: &Running, pool: &PgPool, sql: &str) {
    let before = *server.notifications_applied().borrow();
    exec(pool, sql).await;
    applied_after(server, before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_the_same_names_side_by_side() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    exec(&pool, SEED).await;
    let server = app::start(config(&url, &redis.url()), None)
        .await
        .expect("server starts");
    let acme = Router::new(&server, "127.0.0.1", SECRET_ACME).await;
    let bravo = Router::new(&server, "127.0.0.3", SECRET_BRAVO).await;
    let global = Router::new(&server, "127.0.0.4", SECRET_GLOBAL).await;
    let mac = "02:00:00:00:00:01";

    // Same username, three users: each NAS sees its tenant's, with its own package.
    for round in ["first (database)", "second (cached)"] {
        let a = acme.login("ABC123", "acme-pw", mac).await;
        assert_eq!(
            (a.0, a.1.as_deref()),
            (Code::AccessAccept, Some("10M/10M")),
            "{round}"
        );
        let b = bravo.login("ABC123", "bravo-pw", mac).await;
        assert_eq!(
            (b.0, b.1.as_deref()),
            (Code::AccessAccept, Some("2M/2M")),
            "{round}"
        );
        let g = global.login("ABC123", "global-pw", mac).await;
        assert_eq!(
            (g.0, g.1.as_deref()),
            (Code::AccessAccept, Some("512k/512k")),
            "{round}"
        );
        // Another tenant's (or the global) password is wrong here.
        for (router, wrong) in [
            (&acme, ["bravo-pw", "global-pw"]),
            (&bravo, ["acme-pw", "global-pw"]),
            (&global, ["acme-pw", "bravo-pw"]),
        ] {
            for pw in wrong {
                assert_eq!(
                    router.code("ABC123", pw).await,
                    Code::AccessReject,
                    "{round} {pw}"
                );
            }
        }
        // A tenant's user is unknown elsewhere, whatever the password.
        assert_eq!(acme.code("onlyacme", "only-pw").await, Code::AccessAccept);
        assert_eq!(bravo.code("onlyacme", "only-pw").await, Code::AccessReject);
        assert_eq!(global.code("onlyacme", "only-pw").await, Code::AccessReject);
        // A global user is everyone's; its global group resolves per tenant.
        for (router, rate) in [
            (&acme, "10M/10M"),
            (&bravo, "2M/2M"),
            (&global, "512k/512k"),
        ] {
            let s = router.login("shared", "shared-pw", mac).await;
            assert_eq!(
                (s.0, s.1.as_deref()),
                (Code::AccessAccept, Some(rate)),
                "{round}"
            );
        }
    }

    // Post-auth rows carry the NAS's tenant (written in batches: wait, bounded).
    let deadline = Instant::now() + WAIT;
    loop {
        let rejected_on_bravo = postauth(&pool, "bravo", "Access-Reject").await;
        let accepted_on_acme = postauth(&pool, "acme", "Access-Accept").await;
        if rejected_on_bravo > 0 && accepted_on_acme > 0 {
            assert_eq!(postauth(&pool, "bravo", "Access-Accept").await, 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "post-auth rows by tenant: bravo rejects {rejected_on_bravo}, acme accepts {accepted_on_acme}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Invalidation is by (tenant, username): acme's new password works at once, bravo's
    // and the global user of the same name are untouched.
    change(
        &server,
        &pool,
        "UPDATE radcheck SET value = 'acme-new' WHERE username = 'ABC123' AND tenant = 'acme' \
         AND attribute = 'Cleartext-Password'",
    )
    .await;
    assert_eq!(acme.code("ABC123", "acme-new").await, Code::AccessAccept);
    assert_eq!(acme.code("ABC123", "acme-pw").await, Code::AccessReject);
    assert_eq!(bravo.code("ABC123", "bravo-pw").await, Code::AccessAccept);
    assert_eq!(bravo.code("ABC123", "acme-new").await, Code::AccessReject);
    assert_eq!(global.code("ABC123", "global-pw").await, Code::AccessAccept);

    // The negative cache is per tenant too: bravo's cached "no such user" for `onlyacme`
    // goes when bravo creates one, and acme's own `onlyacme` is untouched.
    change(
        &server,
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value, tenant) \
         VALUES ('onlyacme', 'Cleartext-Password', ':=', 'bravo-only', 'bravo')",
    )
    .await;
    assert_eq!(
        bravo.code("onlyacme", "bravo-only").await,
        Code::AccessAccept
    );
    assert_eq!(bravo.code("onlyacme", "only-pw").await, Code::AccessReject);
    assert_eq!(acme.code("onlyacme", "only-pw").await, Code::AccessAccept);
    assert_eq!(
        global.code("onlyacme", "bravo-only").await,
        Code::AccessReject
    );

    // A tenant's group change reaches that tenant's members only.
    change(
        &server,
        &pool,
        "UPDATE radgroupreply SET value = '20M/20M' WHERE groupname = 'gold' AND tenant = 'acme'",
    )
    .await;
    let a = acme.login("ABC123", "acme-new", mac).await;
    assert_eq!(a.1.as_deref(), Some("20M/20M"));
    let s = acme.login("shared", "shared-pw", mac).await;
    assert_eq!(
        s.1.as_deref(),
        Some("20M/20M"),
        "a global member seen from acme"
    );
    let b = bravo.login("ABC123", "bravo-pw", mac).await;
    assert_eq!(b.1.as_deref(), Some("2M/2M"));

    // A global user's change reaches every tenant's view of it (they read the global rows).
    change(
        &server,
        &pool,
        "UPDATE radcheck SET value = 'shared-new' WHERE username = 'shared' AND tenant IS NULL",
    )
    .await;
    for router in [&acme, &bravo, &global] {
        assert_eq!(
            router.code("shared", "shared-new").await,
            Code::AccessAccept
        );
        assert_eq!(router.code("shared", "shared-pw").await, Code::AccessReject);
    }

    // Accounting and Simultaneous-Use per tenant: bravo's ABC123 online does not count
    // against acme's ABC123 (Simultaneous-Use 1).
    bravo.start("ABC123", "bravo-1").await;
    let first = acme.login("ABC123", "acme-new", "02:00:00:00:00:02").await;
    assert_eq!(
        first.0,
        Code::AccessAccept,
        "bravo's session is not acme's: {first:?}"
    );
    acme.start("ABC123", "acme-1").await;
    let second = acme.login("ABC123", "acme-new", "02:00:00:00:00:03").await;
    assert_eq!(
        (second.0, second.2.as_deref()),
        (Code::AccessReject, Some(SIMULTANEOUS)),
        "acme's own session counts"
    );
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT acctsessionid, tenant FROM radacct WHERE username = 'ABC123' \
         ORDER BY acctsessionid",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("acme-1".to_owned(), Some("acme".to_owned())),
            ("bravo-1".to_owned(), Some("bravo".to_owned()))
        ]
    );

    // The `sessions` command, per tenant (reading the shared Redis store).
    let (ok, out) = cli(&url, Some(&redis.url()), &["sessions", "--tenant", "acme"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("acme-1") && !out.contains("bravo-1"), "{out}");
    let (ok, out) = cli(
        &url,
        Some(&redis.url()),
        &["sessions", "--tenant", "bravo", "--user", "ABC123"],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("bravo-1") && !out.contains("acme-1"), "{out}");
    assert!(out.contains("1 session(s) online"), "{out}");
    // Without --tenant, --user names the global ABC123, who has no session.
    let (ok, out) = cli(&url, Some(&redis.url()), &["sessions", "--user", "ABC123"]).await;
    assert!(ok && out.contains("0 session(s) online"), "{out}");

    // Disconnect per tenant: acme's ABC123 is disconnected through acme's NAS entry (a
    // fake NAS on its CoA port); the global ABC123 has no session, bravo's is not touched.
    let coa = FakeNas::start(SECRET_ACME.as_bytes(), Behaviour::Ack);
    let dir = harness::fresh_dir("tenants-cli");
    let cli_config = dir.join("tenants.toml");
    std::fs::write(
        &cli_config,
        format!(
            "[database]\nurl = \"{url}\"\n\n[redis]\nurl = \"{}\"\n\n\
             [accounting]\njournal_dir = \"{}\"\n\n\
             [sessions]\ndynauth_timeout_ms = 200\ndynauth_attempts = 1\n\n\
             [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET_ACME}\"\ncoa_port = {}\ntenant = \"acme\"\n\n\
             [[nas]]\naddress = \"127.0.0.3\"\nsecret = \"{SECRET_BRAVO}\"\ntenant = \"bravo\"\n",
            redis.url(),
            dir.join("journal").display(),
            coa.addr().port()
        ),
    )
    .expect("write the CLI config");
    let cli_config = cli_config.display().to_string();
    let (ok, out) = cli(
        &url,
        Some(&redis.url()),
        &[
            "--config",
            &cli_config,
            "disconnect",
            "--tenant",
            "acme",
            "--user",
            "ABC123",
        ],
    )
    .await;
    assert!(ok && out.contains("ACK"), "{out}");
    let got = coa.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].code, Code::DisconnectRequest);
    assert_eq!(got[0].user_name.as_deref(), Some("ABC123"));
    assert_eq!(got[0].acct_session_id.as_deref(), Some("acme-1"));
    let (ok, out) = cli(
        &url,
        Some(&redis.url()),
        &["--config", &cli_config, "disconnect", "--user", "ABC123"],
    )
    .await;
    assert!(!ok && out.contains("no open session matches"), "{out}");
    assert_eq!(coa.requests().len(), 1, "nothing more was sent");

    // FreeRADIUS's radclient, from acme's address: a global user gets acme's package, and
    // bravo's password of ABC123 is wrong here (acme's ABC123 is online, so it is not the
    // one logged in: Simultaneous-Use would refuse it). (With a
    // Message-Authenticator: this router has sent one, so the `auto` latch requires it.)
    let auth = server.auth_addr;
    let (ok, out) = radclient(
        auth,
        SECRET_ACME,
        "User-Name = \"shared\"\nUser-Password = \"shared-new\"\nMessage-Authenticator = 0x00\n",
    )
    .await;
    assert!(
        ok && out.contains("Access-Accept"),
        "radclient, acme:\n{out}"
    );
    assert!(out.contains("20M/20M"), "acme's gold package:\n{out}");
    let (ok, out) = radclient(
        auth,
        SECRET_ACME,
        "User-Name = \"ABC123\"\nUser-Password = \"bravo-pw\"\nMessage-Authenticator = 0x00\n",
    )
    .await;
    assert!(
        !ok && out.contains("Access-Reject"),
        "radclient, bravo's password:\n{out}"
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tenant_metrics_are_capped() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    exec(&pool, SEED).await;
    let mut c = config(&url, &redis.url());
    c.admin.enabled = true;
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.admin.per_tenant_metrics = true;
    c.admin.per_tenant_metrics_cap = 1;
    let server = app::start(c, None).await.expect("server starts");
    let admin = server.admin_addr.expect("admin port");
    let acme = Router::new(&server, "127.0.0.1", SECRET_ACME).await;
    let bravo = Router::new(&server, "127.0.0.3", SECRET_BRAVO).await;
    let global = Router::new(&server, "127.0.0.4", SECRET_GLOBAL).await;
    assert_eq!(acme.code("onlyacme", "only-pw").await, Code::AccessAccept);
    assert_eq!(bravo.code("onlyacme", "only-pw").await, Code::AccessReject);
    assert_eq!(global.code("shared", "shared-pw").await, Code::AccessAccept);
    let body = metrics(admin).await;
    let series: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("radius_tenant_access_total{"))
        .collect();
    let label = |l: &str| {
        l.split("tenant=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    let labels: std::collections::BTreeSet<String> =
        series.iter().filter_map(|l| label(l)).collect();
    assert!(labels.contains("(global)"), "{series:?}");
    // Cap 1: one tenant has its own label (whichever was seen first in this process), the
    // other counts as `(other)`.
    assert!(labels.contains("(other)"), "{series:?}");
    let named: Vec<&String> = labels.iter().filter(|l| !l.starts_with('(')).collect();
    assert_eq!(named.len(), 1, "{series:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_disconnect_reaches_the_tenants_own_session() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    exec(&pool, SEED).await;
    // Each tenant's router has its CoA port: a fake NAS on its own address.
    let acme_coa = FakeNas::start_on("127.0.0.1", SECRET_ACME.as_bytes(), Behaviour::Ack);
    let bravo_coa = FakeNas::start_on("127.0.0.3", SECRET_BRAVO.as_bytes(), Behaviour::Ack);
    let mut c = config(&url, &redis.url());
    c.sessions.automatic_actions = true;
    c.sessions.dynauth_timeout_ms = 500;
    c.sessions.dynauth_attempts = 2;
    c.nas[0].coa_port = acme_coa.addr().port();
    c.nas[1].coa_port = bravo_coa.addr().port();
    let server = app::start(c, None).await.expect("server starts");
    let acme = Router::new(&server, "127.0.0.1", SECRET_ACME).await;
    let bravo = Router::new(&server, "127.0.0.3", SECRET_BRAVO).await;
    let global = Router::new(&server, "127.0.0.4", SECRET_GLOBAL).await;
    acme.start("ABC123", "acme-1").await;
    bravo.start("ABC123", "bravo-1").await;
    global.start("ABC123", "global-1").await;

    // Disabling acme's ABC123 disconnects acme's session, through acme's router.
    change(
        &server,
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value, tenant) \
         VALUES ('ABC123', 'Auth-Type', ':=', 'Reject', 'acme')",
    )
    .await;
    let got = acme_coa.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].code, Code::DisconnectRequest);
    assert_eq!(got[0].acct_session_id.as_deref(), Some("acme-1"));

    // Then bravo's: bravo's session, through bravo's router.
    change(
        &server,
        &pool,
        "INSERT INTO radcheck (username, attribute, op, value, tenant) \
         VALUES ('ABC123', 'Auth-Type', ':=', 'Reject', 'bravo')",
    )
    .await;
    let got = bravo_coa.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].acct_session_id.as_deref(), Some("bravo-1"));
    // Neither change touched another tenant's or the global user's session.
    let sent: Vec<Option<String>> = acme_coa
        .requests()
        .into_iter()
        .chain(bravo_coa.requests())
        .map(|r| r.acct_session_id)
        .collect();
    assert_eq!(
        sent,
        [Some("acme-1".to_owned()), Some("bravo-1".to_owned())]
    );
    server.stop().await;
}

/// The `/metrics` body.
async fn metrics(admin: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(REPLY_WAIT, s.read_to_string(&mut out))
        .await
        .expect("metrics in time")
        .unwrap();
    out
}

/// radpostauth rows of `onlyacme` with this tenant and reply.
async fn postauth(pool: &PgPool, tenant: &str, reply: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM radpostauth WHERE username = 'onlyacme' AND tenant = $1 \
         AND reply = $2",
    )
    .bind(tenant)
    .bind(reply)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn radclient(
    server: SocketAddr,
    secret: &'static str,
    input: &'static str,
) -> (bool, String) {
    tokio::task::spawn_blocking(move || harness::run_radclient(server, "auth", secret, input, 2, 3))
        .await
        .unwrap()
}

/// Runs the binary with `DATABASE_URL` (and `REDIS_URL` when given); (success, output).
async fn cli(url: &str, redis: Option<&str>, args: &[&str]) -> (bool, String) {
    cli_with_stdin(url, redis, args, "").await
}

async fn cli_with_stdin(
    url: &str,
    redis: Option<&str>,
    args: &[&str],
    stdin: &str,
) -> (bool, String) {
    let url = url.to_owned();
    let redis = redis.map(str::to_owned);
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"));
        command.env_remove("REDIS_URL").env_remove("RUST_LOG");
        if let Some(redis) = &redis {
            command.env("REDIS_URL", redis);
        }
        let mut child = command
            .args(&args)
            .env("DATABASE_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hotspot-radius");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        let deadline = Instant::now() + WAIT;
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("output");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_tenant_flags() {
    let (url, pool) = harness::fresh_db().await;
    let ok = |(ok, out): (bool, String), what: &str| {
        assert!(ok, "{what}:\n{out}");
        out
    };

    // NAS rows of a tenant.
    ok(
        cli(
            &url,
            None,
            &[
                "nas",
                "add",
                "--address",
                "127.0.0.9",
                "--secret",
                "s1",
                "--tenant",
                "acme",
            ],
        )
        .await,
        "nas add --tenant",
    );
    ok(
        cli(
            &url,
            None,
            &["nas", "add", "--address", "127.0.0.10", "--secret", "s2"],
        )
        .await,
        "nas add (global)",
    );
    let tenant_of: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT nasname, tenant FROM nas ORDER BY nasname")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tenant_of,
        [
            ("127.0.0.10".to_owned(), None),
            ("127.0.0.9".to_owned(), Some("acme".to_owned()))
        ]
    );
    let listed = ok(
        cli(&url, None, &["nas", "list", "--tenant", "acme"]).await,
        "nas list",
    );
    assert!(
        listed.contains("127.0.0.9") && listed.contains("acme"),
        "{listed}"
    );
    assert!(!listed.contains("127.0.0.10"), "{listed}");
    let all = ok(cli(&url, None, &["nas", "list"]).await, "nas list");
    assert!(
        all.contains("127.0.0.9") && all.contains("127.0.0.10"),
        "{all}"
    );

    // The same username in two tenants and globally: three users.
    for (tenant, password) in [
        (Some("acme"), "a-pw"),
        (Some("bravo"), "b-pw"),
        (None, "g-pw"),
    ] {
        let mut args = vec![
            "user",
            "add",
            "ABC123",
            "--password-stdin",
            "--package",
            "gold",
        ];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        let out = ok(
            cli_with_stdin(&url, None, &args, password).await,
            "user add",
        );
        assert!(out.contains("added user ABC123"), "{out}");
    }
    // A second add in one tenant is refused; another tenant's name is free.
    let (added, out) = cli_with_stdin(
        &url,
        None,
        &[
            "user",
            "add",
            "ABC123",
            "--tenant",
            "acme",
            "--password-stdin",
        ],
        "x",
    )
    .await;
    assert!(!added && out.contains("exists"), "{out}");
    let rows: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT tenant, value FROM radcheck WHERE username = 'ABC123' \
         AND attribute = 'Cleartext-Password' ORDER BY tenant NULLS FIRST",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (None, "g-pw".to_owned()),
            (Some("acme".to_owned()), "a-pw".to_owned()),
            (Some("bravo".to_owned()), "b-pw".to_owned()),
        ]
    );
    let groups: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT tenant FROM radusergroup WHERE username = 'ABC123' AND groupname = 'gold' \
         ORDER BY tenant NULLS FIRST",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(groups, [None, Some("acme".into()), Some("bravo".into())]);

    ok(
        cli_with_stdin(
            &url,
            None,
            &[
                "user",
                "add",
                "onlybravo",
                "--tenant",
                "bravo",
                "--password-stdin",
            ],
            "o",
        )
        .await,
        "user add onlybravo",
    );
    let acme_users = ok(
        cli(&url, None, &["user", "list", "--tenant", "acme"]).await,
        "user list",
    );
    assert!(
        acme_users.contains("ABC123") && !acme_users.contains("onlybravo"),
        "{acme_users}"
    );
    assert!(acme_users.contains("1 user(s)"), "{acme_users}");
    let bravo_users = ok(
        cli(&url, None, &["user", "list", "--tenant", "bravo"]).await,
        "user list",
    );
    assert!(
        bravo_users.contains("onlybravo") && bravo_users.contains("2 user(s)"),
        "{bravo_users}"
    );
    let global_users = ok(cli(&url, None, &["user", "list"]).await, "user list");
    assert!(global_users.contains("1 user(s)"), "{global_users}");

    // show: the tenant's rows (secrets shown on request, to tell them apart).
    let shown = ok(
        cli(
            &url,
            None,
            &[
                "user",
                "show",
                "ABC123",
                "--tenant",
                "bravo",
                "--show-secrets",
            ],
        )
        .await,
        "user show",
    );
    assert!(
        shown.contains("tenant bravo") && shown.contains("b-pw"),
        "{shown}"
    );
    assert!(
        !shown.contains("a-pw") && !shown.contains("g-pw"),
        "{shown}"
    );
    let (found, out) = cli(
        &url,
        None,
        &["user", "show", "onlybravo", "--tenant", "acme"],
    )
    .await;
    assert!(
        !found && out.contains("no user named `onlybravo` (tenant acme)"),
        "{out}"
    );

    // disable applies to one tenant's user only.
    ok(
        cli(
            &url,
            None,
            &["user", "disable", "ABC123", "--tenant", "acme"],
        )
        .await,
        "disable",
    );
    let disabled: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT tenant FROM radcheck WHERE username = 'ABC123' AND attribute = 'Auth-Type'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(disabled, [Some("acme".to_owned())]);

    // A bad tenant name is refused, naming the rule.
    let (refused, out) = cli(&url, None, &["user", "list", "--tenant", "a:b"]).await;
    assert!(!refused && out.contains("tenant name"), "{out}");
}
