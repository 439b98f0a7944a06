//! Several instances, one truth: two server processes (the built binary) sharing the
//! harness's PostgreSQL and one Redis. An admin change is in force on both (each gets the
//! NOTIFY); Simultaneous-Use counts a session opened through the other one; an
//! Accounting-Request retransmitted to the other instance (a NAS failing over mid-session)
//! makes no second row and counts no usage twice; a Stop through the other instance
//! closes the session for both.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use radius_proto::protocol::attrs;
use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder, Signer};
use sqlx::PgPool;

use crate::harness::{self, KillOnDrop, Redis};
use crate::udp_access::{Nas, Request, code_of};

const SECRET: &str = "instances-secret";
/// Bound on waiting for a process to serve, a NOTIFY to arrive, a row to commit.
const WAIT: Duration = Duration::from_secs(30);
const PHONE: &str = "AA:00:00:00:00:01";
const LAPTOP: &str = "AA:00:00:00:00:02";

/// One server process and the router's view of it.
struct Instance {
    _process: KillOnDrop,
    log: PathBuf,
    auth: Nas,
    acct: Nas,
    signer: Signer,
}

impl Instance {
    async fn start(dir: &Path, name: &str, url: &str, redis: &str) -> Self {
        let (auth_port, acct_port) = (harness::free_udp_port(), harness::free_udp_port());
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(
            &file,
            config_text(auth_port, acct_port, url, redis, &dir.join(name)),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .arg("--config")
            .arg(&file)
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start hotspot-radius");
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            _process: KillOnDrop(child),
            log,
            auth: Nas::new(at(auth_port), SECRET).await,
            acct: Nas::new(at(acct_port), SECRET).await,
            signer: Signer::new(SECRET.as_bytes()),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A PAP login of `user` with `password` from device `mac`: the reply code, or `None`
    /// when unanswered within a short wait.
    async fn login(&self, user: &str, password: &str, mac: &str) -> Option<Code> {
        let authenticator: [u8; 16] = rand::random();
        let mut b =
            PacketBuilder::new(Code::AccessRequest, rand::random()).with_message_authenticator();
        b.add(attrs::USER_NAME, user.as_bytes()).unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
        b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
        b.add(attrs::CALLING_STATION_ID, mac.as_bytes()).unwrap();
        b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
        b.add_user_password(password.as_bytes(), &self.signer, &authenticator)
            .unwrap();
        let bytes = b.sign_access_request(&authenticator, &self.signer).unwrap();
        let req = Request {
            bytes,
            authenticator,
        };
        let reply = self
            .auth
            .exchange_within(&req, Duration::from_secs(3))
            .await?;
        Some(code_of(&reply))
    }

    /// Logs in until the answer is `want` (bounded); panics with the server's log if not.
    async fn login_until(&self, user: &str, password: &str, mac: &str, want: Code, what: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.login(user, password, mac).await == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: no {want:?} within {WAIT:?}; log:\n{}", self.log());
    }

    /// Sends `req` (already signed: the same bytes may go to both instances); it must be
    /// acknowledged.
    async fn acct(&self, req: &Request, what: &str) {
        let reply = self.acct.exchange(req).await;
        assert_eq!(
            Packet::decode(&reply).unwrap().code(),
            Code::AccountingResponse,
            "{what}"
        );
    }
}

fn config_text(auth: u16, acct: u16, url: &str, redis: &str, journal: &Path) -> String {
    format!(
        "[server]\nauth_addr = \"127.0.0.1:{auth}\"\nacct_addr = \"127.0.0.1:{acct}\"\n\
         reject_delay_ms = 0\n\
         [admin]\nenabled = false\n\
         [database]\nurl = \"{url}\"\npool_size = 4\n\
         [redis]\nurl = \"{redis}\"\n\
         [accounting]\njournal_dir = \"{}\"\n\
         [sessions]\nautomatic_actions = false\n\
         [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n",
        journal.display()
    )
}

/// One Accounting-Request of dana's session `session` from device `mac`, signed.
fn acct_request(
    status: AcctStatus,
    session: &str,
    mac: &str,
    time: u32,
    octets: (u32, u32),
) -> Request {
    let signer = Signer::new(SECRET.as_bytes());
    let mut b = PacketBuilder::new(Code::AccountingRequest, rand::random());
    b.add_u32(attrs::ACCT_STATUS_TYPE, status.as_u32()).unwrap();
    b.add(attrs::USER_NAME, b"dana").unwrap();
    b.add(attrs::ACCT_SESSION_ID, session.as_bytes()).unwrap();
    b.add(attrs::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
    b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
    b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
    b.add(attrs::CALLING_STATION_ID, mac.as_bytes()).unwrap();
    b.add(attrs::FRAMED_IP_ADDRESS, &[10, 5, 50, 7]).unwrap();
    if status != AcctStatus::Start {
        b.add_u32(attrs::ACCT_SESSION_TIME, time).unwrap();
        b.add_u32(attrs::ACCT_INPUT_OCTETS, octets.0).unwrap();
        b.add_u32(attrs::ACCT_OUTPUT_OCTETS, octets.1).unwrap();
    }
    if status == AcctStatus::Stop {
        b.add_u32(attrs::ACCT_TERMINATE_CAUSE, 1).unwrap();
    }
    let bytes = b.sign_computed_request(&signer).unwrap();
    let authenticator = bytes[4..20].try_into().unwrap();
    Request {
        bytes,
        authenticator,
    }
}

/// The binary with `args` against the shared stores: its output.
async fn cli(dir: &Path, url: &str, redis: &str, args: &'static [&'static str]) -> String {
    let file = dir.join("cli.toml");
    std::fs::write(
        &file,
        format!("[database]\nurl = \"{url}\"\n[redis]\nurl = \"{redis}\"\n"),
    )
    .unwrap();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .arg("--config")
            .arg(&file)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run sessions");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        text
    })
    .await
    .unwrap()
}

/// dana's session row: (rows with that id, input octets, output octets, stopped).
async fn acct_row(pool: &PgPool, session: &str) -> (i64, Option<i64>, Option<i64>, bool) {
    sqlx::query_as(
        "SELECT count(*), max(acctinputoctets), max(acctoutputoctets), \
                bool_or(acctstoptime IS NOT NULL) \
         FROM radacct WHERE acctsessionid = $1",
    )
    .bind(session)
    .fetch_one(pool)
    .await
    .map(
        |(n, i, o, s): (i64, Option<i64>, Option<i64>, Option<bool>)| (n, i, o, s.unwrap_or(false)),
    )
    .unwrap()
}

/// Waits (bounded) until dana's row is `want`.
async fn row_until(pool: &PgPool, session: &str, want: (i64, Option<i64>, Option<i64>, bool)) {
    let deadline = Instant::now() + WAIT;
    loop {
        let row = acct_row(pool, session).await;
        if row == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "radacct {session}: {row:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_changes_sessions_and_accounting() {
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    sqlx::raw_sql(
        "INSERT INTO radcheck (username, attribute, op, value) VALUES
           ('eve', 'Cleartext-Password', ':=', 'before'),
           ('dana', 'Cleartext-Password', ':=', 'secret'),
           ('dana', 'Simultaneous-Use', ':=', '1')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dir = harness::fresh_dir("instances");
    let one = Instance::start(&dir, "one", &url, &redis.url()).await;
    let two = Instance::start(&dir, "two", &url, &redis.url()).await;

    // Both serve eve, and cache her.
    for (i, name) in [(&one, "one"), (&two, "two")] {
        i.login_until("eve", "before", PHONE, Code::AccessAccept, name)
            .await;
    }
    // An admin changes her password: in force on both (each got the NOTIFY).
    sqlx::query("UPDATE radcheck SET value = 'after' WHERE username = 'eve'")
        .execute(&pool)
        .await
        .unwrap();
    for (i, name) in [(&one, "one"), (&two, "two")] {
        i.login_until("eve", "after", PHONE, Code::AccessAccept, name)
            .await;
        assert_eq!(
            i.login("eve", "before", PHONE).await,
            Some(Code::AccessReject),
            "{name}: the old password is refused"
        );
    }

    // dana logs in through one and her session starts there; the NAS then fails over
    // and retransmits the same Start to two.
    one.login_until("dana", "secret", PHONE, Code::AccessAccept, "dana on one")
        .await;
    let start = acct_request(AcctStatus::Start, "dd000001", PHONE, 0, (0, 0));
    one.acct(&start, "Start on one").await;
    two.acct(&start, "the same Start, retransmitted to two")
        .await;
    row_until(&pool, "dd000001", (1, Some(0), Some(0), false)).await;
    // Simultaneous-Use = 1: a second device is refused through two, and through one.
    assert_eq!(
        two.login("dana", "secret", LAPTOP).await,
        Some(Code::AccessReject)
    );
    assert_eq!(
        one.login("dana", "secret", LAPTOP).await,
        Some(Code::AccessReject)
    );

    // An Interim to one, retransmitted to two: one row, usage counted once.
    let interim = acct_request(
        AcctStatus::InterimUpdate,
        "dd000001",
        PHONE,
        120,
        (1000, 2000),
    );
    one.acct(&interim, "Interim on one").await;
    two.acct(&interim, "the same Interim, retransmitted to two")
        .await;
    row_until(&pool, "dd000001", (1, Some(1000), Some(2000), false)).await;
    let online = cli(&dir, &url, &redis.url(), &["sessions", "--user", "dana"]).await;
    assert!(
        online.contains("dd000001") && online.contains("1 session(s) online"),
        "{online}"
    );
    let show = cli(&dir, &url, &redis.url(), &["user", "show", "dana"]).await;
    assert!(show.contains("sessions (redis): 1 open"), "{show}");
    assert!(show.contains("usage: total 120s 3000 octets"), "{show}");

    // The Stop arrives at two: the session is closed for both.
    let stop = acct_request(AcctStatus::Stop, "dd000001", PHONE, 180, (5000, 6000));
    two.acct(&stop, "Stop on two").await;
    one.acct(&stop, "the same Stop, retransmitted to one").await;
    row_until(&pool, "dd000001", (1, Some(5000), Some(6000), true)).await;
    let show = cli(&dir, &url, &redis.url(), &["user", "show", "dana"]).await;
    assert!(show.contains("sessions (redis): 0 open"), "{show}");
    assert!(show.contains("usage: total 180s 11000 octets"), "{show}");
    one.login_until(
        "dana",
        "secret",
        LAPTOP,
        Code::AccessAccept,
        "second device on one",
    )
    .await;
    assert_eq!(
        two.login("dana", "secret", LAPTOP).await,
        Some(Code::AccessAccept)
    );
}
