//! Behind PgBouncer in transaction pooling (`[database] pgbouncer = true`): a real
//! PgBouncer (Debian `pgbouncer`, 1.18 on Debian 12: no prepared-statement tracking) on a
//! free loopback port in front of the harness's PostgreSQL, with fewer server sessions than
//! the server has connections, so client connections share server sessions. The server's
//! queries, accounting writes and the user CLI go through it; the NOTIFY listener goes
//! straight to PostgreSQL (`listen_url`). A listener pointed at PgBouncer is refused at
//! start, naming the key.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_radius::app;
use hotspot_radius::config::Config;
use radius_proto::protocol::{AcctStatus, Code};
use sqlx::PgPool;

use crate::harness::{self, PgBouncer, Postgres};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "bouncer-secret";
/// Bound on waiting for a change to arrive by NOTIFY or a row to be committed.
const WAIT: Duration = Duration::from_secs(20);

fn config(url: &str, listen_url: &str) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.database.url = Some(url.to_owned());
    c.database.listen_url = Some(listen_url.to_owned());
    c.database.pgbouncer = true;
    // More client connections than PgBouncer has server sessions: they share them.
    c.database.pool_size = 6;
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

/// The NAS row and `users` users `u0..`, password `pw-<n>`.
async fn seed(pool: &PgPool, users: usize) {
    exec(
        pool,
        &format!(
            "INSERT INTO nas (nasname, shortname, type, secret) \
             VALUES ('127.0.0.1', 'hotspot1', 'other', '{SECRET}');
             INSERT INTO radcheck (username, attribute, op, value)
               SELECT 'u' || n, 'Cleartext-Password', ':=', 'pw-' || n
               FROM generate_series(0, {}) n;",
            users - 1
        ),
    )
    .await;
}

/// PAP login of `user` until the answer is `want` (bounded); whether it came.
async fn login_until(nas: &Nas, user: &str, password: &str, want: Code) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let req = nas.access_request(user, password, Method::Pap, true);
        if let Some(r) = nas.exchange_within(&req, Duration::from_millis(500)).await
            && code_of(&r) == want
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Runs the binary with a config file naming `url` (through PgBouncer) and `listen_url`.
async fn cli(dir: &std::path::Path, url: &str, listen: &str, args: &[&str], stdin: &str) -> String {
    let file = dir.join("cli.toml");
    std::fs::write(
        &file,
        format!("[database]\nurl = \"{url}\"\nlisten_url = \"{listen}\"\npgbouncer = true\n"),
    )
    .unwrap();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .arg("--config")
            .arg(&file)
            .args(&args)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hotspot-radius");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let mut guard = harness::KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while guard.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = guard.0.kill();
        let status = guard.0.wait().unwrap();
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        guard
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        guard
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "{args:?}: {status}\n{out}{err}");
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_accounting_invalidation_and_cli_through_transaction_pooling() {
    let pg = Postgres::start();
    let (direct, pool) = harness::fresh_db_on(&pg).await;
    const USERS: usize = 40;
    seed(&pool, USERS).await;
    let bouncer = PgBouncer::start(&pg, 2);
    let url = bouncer.url_for(&pg, &direct);
    let server = app::start(config(&url, &direct), None)
        .await
        .expect("server starts behind PgBouncer");
    let nas = Nas::new(server.auth_addr, SECRET).await;

    // Every user a cache miss, many at once: statements of six client connections
    // interleave on two server sessions.
    let mut logins = tokio::task::JoinSet::new();
    for n in 0..USERS {
        let nas = Nas::new(server.auth_addr, SECRET).await;
        logins.spawn(async move {
            let req = nas.access_request(&format!("u{n}"), &format!("pw-{n}"), Method::Pap, true);
            let r = nas.exchange(&req).await;
            (n, code_of(&r))
        });
    }
    while let Some(done) = logins.join_next().await {
        let (n, code) = done.unwrap();
        assert_eq!(code, Code::AccessAccept, "u{n}");
    }
    let r = nas
        .exchange(&nas.access_request("u1", "wrong", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessReject, "wrong password");

    // Accounting (group commit through PgBouncer): Start, Interim, Stop of one session,
    // and Starts of several more.
    let acct = Nas::new(server.acct_addr, SECRET).await;
    for (status, octets) in [
        (AcctStatus::Start.as_u32(), (0, 0, 0)),
        (AcctStatus::InterimUpdate.as_u32(), (1000, 2000, 0)),
        (AcctStatus::Stop.as_u32(), (5000, 6000, 0)),
    ] {
        let r = acct
            .exchange(&acct.accounting_request("u0", "bb000001", status, octets))
            .await;
        assert_eq!(code_of(&r), Code::AccountingResponse);
    }
    for n in 1..10 {
        let r = acct
            .exchange(&acct.accounting_request(
                &format!("u{n}"),
                &format!("bb0001{n:02}"),
                AcctStatus::Start.as_u32(),
                (0, 0, 0),
            ))
            .await;
        assert_eq!(code_of(&r), Code::AccountingResponse);
    }
    let deadline = Instant::now() + WAIT;
    let (rows, stopped) = loop {
        let (rows, stopped): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE acctsessionid = 'bb000001' \
               AND acctstoptime IS NOT NULL AND acctoutputoctets = 6000) FROM radacct",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if (rows, stopped) == (10, 1) || Instant::now() > deadline {
            break (rows, stopped);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (rows, stopped),
        (10, 1),
        "one row per session, the first one stopped"
    );

    // An admin change (NOTIFY via the direct listener) takes effect.
    exec(
        &pool,
        "UPDATE radcheck SET value = 'changed' WHERE username = 'u2' AND attribute = 'Cleartext-Password'",
    )
    .await;
    assert!(
        login_until(&nas, "u2", "changed", Code::AccessAccept).await,
        "the new password is in force"
    );
    let r = nas
        .exchange(&nas.access_request("u2", "pw-2", Method::Pap, true))
        .await;
    assert_eq!(
        code_of(&r),
        Code::AccessReject,
        "the old password no longer is"
    );

    // The CLI with this config: `migrate` (on listen_url: the migrator's lock is
    // session-level), then the user commands through PgBouncer: add a user, who can then
    // log in; show them.
    let dir = harness::fresh_dir("pgbouncer-cli");
    let out = cli(&dir, &url, &direct, &["migrate"], "").await;
    assert!(out.contains("schema is up to date"), "{out}");
    let out = cli(
        &dir,
        &url,
        &direct,
        &["user", "add", "carol", "--password-stdin"],
        "singer\n",
    )
    .await;
    assert!(out.contains("added user carol"), "{out}");
    assert!(
        login_until(&nas, "carol", "singer", Code::AccessAccept).await,
        "carol logs in"
    );
    let show = cli(&dir, &url, &direct, &["user", "show", "carol"], "").await;
    assert!(show.contains("carol"), "{show}");

    server.stop().await;
    drop(bouncer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_through_pgbouncer_is_refused_at_start() {
    let pg = Postgres::start();
    let (direct, pool) = harness::fresh_db_on(&pg).await;
    seed(&pool, 1).await;
    let bouncer = PgBouncer::start(&pg, 2);
    let url = bouncer.url_for(&pg, &direct);

    // listen_url names PgBouncer.
    let err = app::start(config(&url, &url), None)
        .await
        .expect_err("a listener through PgBouncer is refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("database.listen_url") && text.contains("transaction mode"),
        "{text}"
    );

    // No listen_url (`check-config` refuses that with pgbouncer = true; `app::start` is
    // handed the config directly): the listener would use url, which is PgBouncer.
    let mut c = config(&url, &direct);
    c.database.listen_url = None;
    let err = app::start(c, None)
        .await
        .expect_err("a listener through PgBouncer is refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("database.url") && text.contains("LISTEN"),
        "{text}"
    );

    // The same server with listen_url straight to PostgreSQL starts.
    let server = app::start(config(&url, &direct), None)
        .await
        .expect("starts with the listener on PostgreSQL");
    server.stop().await;
    drop(bouncer);
}
