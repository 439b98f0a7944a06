//! `hotspot-radius user …` and `migrate`: the real binary against the harness PostgreSQL,
//! with a running server (`app::start`) that must see every change at once (NOTIFY), a
//! [`FakeNas`] as the NAS's CoA port, and FreeRADIUS's `radclient` as a second client.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, MessageAuthenticatorPolicy, NasConfig};
use radius_proto::protocol::attrs::mikrotik;
use radius_proto::protocol::{AcctStatus, Code, Packet};
use sqlx::PgPool;

use crate::fake_nas::{Behaviour, FakeNas};
use crate::harness::{self, Redis};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "user-cli-secret";
/// Bound on waiting for a change to reach the server, or a Disconnect the NAS.
const WAIT: Duration = Duration::from_secs(30);

fn config(database_url: &str, coa_port: u16) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.server.reject_delay_ms = 0;
    c.server.shutdown_timeout_secs = 5;
    c.admin.enabled = false;
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c.sessions.dynauth_timeout_ms = 500;
    c.sessions.dynauth_attempts = 2;
    c.nas = vec![NasConfig {
        address: "127.0.0.1".into(),
        secret: SECRET.into(),
        coa_port,
        // radclient and the test NAS share 127.0.0.1; only the latter signs.
        require_message_authenticator: MessageAuthenticatorPolicy::Off,
        ..NasConfig::default()
    }];
    c
}

/// Run the binary with `args`, `stdin` on its standard input and `DATABASE_URL` set
/// (bounded); (exit code, stdout, stderr).
async fn run(url: &str, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    run_with(url, None, args, stdin).await
}

/// [`run`] with `REDIS_URL` set when `redis` is given.
async fn run_with(
    url: &str,
    redis: Option<String>,
    args: &[&str],
    stdin: &str,
) -> (Option<i32>, String, String) {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"));
        command.env_remove("REDIS_URL");
        if let Some(redis) = &redis {
            command.env("REDIS_URL", redis);
        }
        let mut child = command
            .args(&args)
            .env("DATABASE_URL", &url)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hotspot-radius");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("output");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("cli task")
}

/// `run`, which must exit 0; its stdout.
async fn ok(url: &str, args: &[&str], stdin: &str) -> String {
    let (code, out, err) = run(url, args, stdin).await;
    assert_eq!(code, Some(0), "{args:?}:\n{out}{err}");
    out
}

/// Log `user` in with PAP until the answer is `want` (bounded: a change arrives by
/// NOTIFY); the last answer.
async fn login_until(nas: &Nas, user: &str, password: &str, want: Code) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        let req = nas.access_request(user, password, Method::Pap, true);
        if let Some(reply) = nas.exchange_within(&req, Duration::from_secs(2)).await
            && (code_of(&reply) == want || Instant::now() > deadline)
        {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{user}: no {want:?} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn start(url: &str, coa_port: u16) -> Running {
    app::start(config(url, coa_port), None)
        .await
        .expect("server starts")
}

/// With Redis configured, `show` reads the open sessions and usage from the Redis session
/// store the servers share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_reads_the_redis_session_store() {
    let (url, _pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let fake = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    let mut c = config(&url, fake.addr().port());
    c.redis.url = Some(redis.url());
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let out = ok(&url, &["user", "add", "erin", "--password-stdin"], "pw\n").await;
    assert!(out.contains("added user erin"), "{out}");
    login_until(&nas, "erin", "pw", Code::AccessAccept).await;
    let acct = Nas::new(server.acct_addr, SECRET).await;
    for (status, octets) in [
        (AcctStatus::Start, (0, 0, 0)),
        (AcctStatus::InterimUpdate, (3000, 4000, 0)),
    ] {
        let rec = acct.accounting_request("erin", "erin-1", status.as_u32(), octets);
        assert_eq!(
            code_of(&acct.exchange(&rec).await),
            Code::AccountingResponse
        );
    }
    let (code, show, err) = run_with(&url, Some(redis.url()), &["user", "show", "erin"], "").await;
    assert_eq!(code, Some(0), "{show}{err}");
    for needle in [
        "sessions (redis): 1 open",
        "erin-1",
        "total 120s 7000 octets",
        "login now: ACCEPT",
    ] {
        assert!(show.contains(needle), "`{needle}` missing:\n{show}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_disable_enable_set_package_show() {
    let (url, pool) = harness::fresh_db().await;
    // A package, as the operator defines it.
    exec(
        &pool,
        "INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
           ('gold', 'Mikrotik-Rate-Limit', ':=', '2M/5M')",
    )
    .await;
    let fake = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    let server = start(&url, fake.addr().port()).await;
    let nas = Nas::new(server.auth_addr, SECRET).await;

    // add, the password on standard input.
    let out = ok(
        &url,
        &["user", "add", "alice", "--password-stdin"],
        "wonder\n",
    )
    .await;
    assert!(out.contains("added user alice"), "{out}");
    let reply = login_until(&nas, "alice", "wonder", Code::AccessAccept).await;
    assert_eq!(code_of(&reply), Code::AccessAccept);
    let auth = server.auth_addr;
    let (accepted, out) = tokio::task::spawn_blocking(move || {
        harness::run_radclient(
            auth,
            "auth",
            SECRET,
            "User-Name = \"alice\"\nCHAP-Password = \"wonder\"\n",
            2,
            3,
        )
    })
    .await
    .unwrap();
    assert!(
        accepted && out.contains("Access-Accept"),
        "radclient CHAP:\n{out}"
    );
    let wrong = nas.access_request("alice", "other", Method::Pap, true);
    assert_eq!(code_of(&nas.exchange(&wrong).await), Code::AccessReject);

    // A second add of the same name is refused and changes nothing.
    let (code, out, err) = run(&url, &["user", "add", "alice", "--password-stdin"], "x\n").await;
    assert_ne!(code, Some(0), "duplicate add:\n{out}{err}");
    assert!(err.contains("exists"), "{err}");
    let reply = login_until(&nas, "alice", "wonder", Code::AccessAccept).await;
    assert_eq!(code_of(&reply), Code::AccessAccept);

    // An open session, then disable: the next request is rejected and the session is
    // disconnected by the server.
    let acct = Nas::new(server.acct_addr, SECRET).await;
    let start_rec =
        acct.accounting_request("alice", "alice-1", AcctStatus::Start.as_u32(), (0, 0, 0));
    assert_eq!(
        code_of(&acct.exchange(&start_rec).await),
        Code::AccountingResponse
    );
    let out = ok(&url, &["user", "disable", "alice"], "").await;
    assert!(out.contains("disabled user alice"), "{out}");
    let reply = login_until(&nas, "alice", "wonder", Code::AccessReject).await;
    assert_eq!(code_of(&reply), Code::AccessReject);
    let got = fake.wait_for(1, WAIT);
    let d = got.first().expect("a Disconnect-Request");
    assert_eq!(d.code, Code::DisconnectRequest, "{d:?}");
    assert_eq!(d.user_name.as_deref(), Some("alice"));
    assert_eq!(d.acct_session_id.as_deref(), Some("alice-1"));
    let out = ok(&url, &["user", "disable", "alice"], "").await;
    assert!(out.contains("already disabled"), "idempotent: {out}");
    let show = ok(&url, &["user", "show", "alice"], "").await;
    assert!(
        show.contains("login now: REJECT") && show.contains("auth_type_reject"),
        "{show}"
    );

    // enable: accepted again, no package reply yet.
    let out = ok(&url, &["user", "enable", "alice"], "").await;
    assert!(out.contains("enabled user alice"), "{out}");
    let reply = login_until(&nas, "alice", "wonder", Code::AccessAccept).await;
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(
        p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT),
        None
    );
    let out = ok(&url, &["user", "enable", "alice"], "").await;
    assert!(out.contains("already enabled"), "idempotent: {out}");

    // set-package: the package's reply items arrive with the next Accept.
    let out = ok(&url, &["user", "set-package", "alice", "gold"], "").await;
    assert!(out.contains("package gold"), "{out}");
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = login_until(&nas, "alice", "wonder", Code::AccessAccept).await;
        let p = Packet::decode(&reply).unwrap();
        if p.vendor_attr(mikrotik::VENDOR_ID, mikrotik::RATE_LIMIT) == Some(&b"2M/5M"[..]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no package rate limit within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // show: rows with the password masked, the compiled profile, the open session (read
    // from radacct, which the accounting writer may reach after its journal).
    let deadline = Instant::now() + WAIT;
    while sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM radacct WHERE acctsessionid = 'alice-1' AND acctstoptime IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "alice-1 not in radacct within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let show = ok(&url, &["user", "show", "alice"], "").await;
    for needle in [
        "user alice",
        "Cleartext-Password := ********",
        "package gold (priority 1)",
        "password: Cleartext-Password",
        "Mikrotik-Rate-Limit",
        "2M/5M",
        "sessions (radacct): 1 open",
        "alice-1",
        "login now: ACCEPT",
    ] {
        assert!(show.contains(needle), "`{needle}` missing:\n{show}");
    }
    assert!(!show.contains("wonder"), "password shown:\n{show}");
    let show = ok(&url, &["user", "show", "alice", "--show-secrets"], "").await;
    assert!(show.contains("Cleartext-Password := wonder"), "{show}");

    // Other password sources and hashes, check and reply items.
    let dir = harness::fresh_dir("user-cli");
    let file = dir.join("password");
    std::fs::write(&file, "builder\n").unwrap();
    let out = ok(
        &url,
        &[
            "user",
            "add",
            "bob",
            "--password-file",
            path(&file),
            "--hash",
            "nt",
            "--package",
            "gold",
            "--attr",
            "Simultaneous-Use := 2",
            "--reply",
            "Session-Timeout := 600",
        ],
        "",
    )
    .await;
    assert!(out.contains("added user bob (NT-Password"), "{out}");
    let reply = login_until(&nas, "bob", "builder", Code::AccessAccept).await;
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(
        p.attr_u32(radius_proto::protocol::attrs::SESSION_TIMEOUT)
            .unwrap(),
        Some(600)
    );
    let (code, out, err) = run(
        &url,
        &[
            "user",
            "add",
            "carol",
            "--password",
            "pw",
            "--hash",
            "bcrypt",
        ],
        "",
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("visible"), "--password warns: {err}");
    login_until(&nas, "carol", "pw", Code::AccessAccept).await;
    // --replace: carol's rows are rewritten; the old password stops working.
    ok(
        &url,
        &["user", "add", "carol", "--password-stdin", "--replace"],
        "new-pw\n",
    )
    .await;
    login_until(&nas, "carol", "new-pw", Code::AccessAccept).await;
    login_until(&nas, "carol", "pw", Code::AccessReject).await;
    let (code, out, err) = run(
        &url,
        &[
            "user",
            "add",
            "dave",
            "--password-stdin",
            "--attr",
            "Bogus-Attribute := 1",
        ],
        "pw\n",
    )
    .await;
    assert_ne!(code, Some(0), "unknown attribute refused:\n{out}{err}");
    let (code, _, err) = run(&url, &["user", "add", "dave"], "").await;
    assert_ne!(code, Some(0), "no password: {err}");

    let list = ok(&url, &["user", "list", "--package", "gold"], "").await;
    assert!(
        list.contains("alice") && list.contains("bob") && !list.contains("carol"),
        "{list}"
    );
    let (code, _, err) = run(&url, &["user", "show", "nobody"], "").await;
    assert_ne!(code, Some(0), "{err}");
    let (code, _, err) = run(&url, &["user", "disable", "nobody"], "").await;
    assert_ne!(code, Some(0), "{err}");
    assert!(fake.failures().is_empty(), "{:?}", fake.failures());
    server.stop().await;
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `migrate` over a database that already holds the FreeRADIUS tables (created by hand,
/// as FreeRADIUS's own schema file does): it says what it applied and prints no NOTICE;
/// run again, it says the schema is up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_reports_and_is_quiet_over_a_freeradius_schema() {
    let pg = harness::shared_postgres();
    let url = pg
        .create_database(&format!("freeradius_{}", std::process::id()))
        .await;
    let pool = PgPool::connect(&url).await.expect("connect");
    exec(
        &pool,
        include_str!("../../migrations/0001_freeradius_schema.sql"),
    )
    .await;
    pool.close().await;

    let (code, out, err) = run(&url, &["migrate"], "").await;
    assert_eq!(code, Some(0), "{out}{err}");
    let versions: Vec<String> = hotspot_radius::store::MIGRATOR
        .iter()
        .map(|m| format!("{:04}", m.version))
        .collect();
    let want = format!(
        "applied {} migrations ({})",
        versions.len(),
        versions.join(", ")
    );
    assert!(out.contains(&want), "want `{want}`:\n{out}");
    assert!(!out.contains("up to date"), "{out}");
    let all = format!("{out}{err}");
    assert!(
        !all.contains("NOTICE") && !all.contains("already exists"),
        "PostgreSQL notices leaked:\n{all}"
    );

    let (code, out, err) = run(&url, &["migrate"], "").await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out.trim(), "schema is up to date", "{out}{err}");
    assert!(
        !err.contains("NOTICE") && !err.contains("already exists"),
        "PostgreSQL notices leaked:\n{err}"
    );
}
