//! Durable accounting end to end: group commit, the journal through a PostgreSQL outage and
//! a SIGKILL, a torn journal tail, a poison record, NAS isolation, unknown status types
//! and counter saturation. Every acknowledgement is checked against `radacct` row by row.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, NasConfig};
use radius_proto::protocol::attrs;
use radius_proto::protocol::{AcctStatus, Code, Packet, PacketBuilder, ReplyVector, Signer};
use sqlx::PgPool;
use tokio::net::UdpSocket;

use crate::harness::{self, Postgres};

const SECRET: &str = "acct-secret";

/// The server config for these tests: loopback ports, a private journal directory, fast
/// failure detection (so an outage is noticed within a second).
fn config(database_url: &str, journal: &Path) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.enabled = false;
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.server.shutdown_timeout_secs = 10;
    c.accounting.journal_dir = journal.to_owned();
    c.accounting.write_timeout_ms = 500;
    c.accounting.retry_after_ms = 300;
    c.nas = ["127.0.0.1", "127.0.0.2"]
        .map(|address| NasConfig {
            address: address.into(),
            secret: SECRET.into(),
            ..NasConfig::default()
        })
        .to_vec();
    c
}

async fn start(database_url: &str, journal: &Path) -> Running {
    app::start(config(database_url, journal), None)
        .await
        .expect("server starts")
}

/// One accounting record as a fake MikroTik sends it.
#[derive(Debug, Clone)]
struct Acct {
    status: AcctStatus,
    session: String,
    user: String,
    nas_ip: [u8; 4],
    input: u32,
    gigawords: u32,
}

impl Acct {
    fn new(status: AcctStatus, session: &str) -> Self {
        Self {
            status,
            session: session.to_owned(),
            user: "alice".into(),
            nas_ip: [10, 0, 0, 1],
            input: 0,
            gigawords: 0,
        }
    }

    fn encode(&self, signer: &Signer, identifier: u8) -> Vec<u8> {
        let mut b = PacketBuilder::new(Code::AccountingRequest, identifier);
        b.add_u32(attrs::ACCT_STATUS_TYPE, self.status.as_u32())
            .unwrap();
        b.add(attrs::USER_NAME, self.user.as_bytes()).unwrap();
        b.add(attrs::ACCT_SESSION_ID, self.session.as_bytes())
            .unwrap();
        b.add(attrs::NAS_IP_ADDRESS, &self.nas_ip).unwrap();
        b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
        // One device per session, as on a hotspot (the same MAC starting another session
        // would close this one as a lost Stop).
        let h = self
            .session
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let [a, b2, c, d] = h.to_be_bytes();
        let mac = format!("AA:BB:{a:02X}:{b2:02X}:{c:02X}:{d:02X}");
        b.add(attrs::CALLING_STATION_ID, mac.as_bytes()).unwrap();
        if !matches!(self.status, AcctStatus::Start) {
            b.add_u32(attrs::ACCT_SESSION_TIME, 60).unwrap();
            b.add_u32(attrs::ACCT_INPUT_OCTETS, self.input).unwrap();
            b.add_u32(attrs::ACCT_INPUT_GIGAWORDS, self.gigawords)
                .unwrap();
            b.add_u32(attrs::ACCT_OUTPUT_OCTETS, 7).unwrap();
        }
        if matches!(self.status, AcctStatus::Stop) {
            b.add_u32(attrs::ACCT_TERMINATE_CAUSE, 1).unwrap();
        }
        b.sign_computed_request(signer).unwrap()
    }
}

/// A fake NAS on its own socket (and source address).
struct Nas {
    socket: UdpSocket,
    signer: Signer,
    server: SocketAddr,
}

impl Nas {
    async fn new(local: &str, server: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind(local).await.expect("bind NAS socket"),
            signer: Signer::new(SECRET.as_bytes()),
            server,
        }
    }

    /// Send once and wait up to `wait` for a verified Accounting-Response.
    async fn send(&self, rec: &Acct, wait: Duration) -> bool {
        let id: u8 = rand::random();
        let bytes = rec.encode(&self.signer, id);
        let auth: [u8; 16] = bytes[4..20].try_into().unwrap();
        self.socket.send_to(&bytes, self.server).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(Ok((n, from))) =
                tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await
            else {
                return false;
            };
            let Ok(p) = Packet::decode(&buf[..n]) else {
                continue;
            };
            if from != self.server || p.identifier() != id {
                continue;
            }
            assert_eq!(p.code(), Code::AccountingResponse);
            p.verify_response(
                &auth,
                ReplyVector::for_request(Code::AccountingRequest),
                &self.signer,
            )
            .expect("response verifies");
            return true;
        }
    }

    /// Send until acknowledged (a NAS retries), bounded.
    async fn send_acked(&self, rec: &Acct) {
        for _ in 0..20 {
            if self.send(rec, Duration::from_millis(1500)).await {
                return;
            }
        }
        panic!("never acknowledged: {rec:?}");
    }
}

/// The `radacct` row of a session: (start set, stop set, input octets, terminate cause).
type Row = (bool, bool, Option<i64>, Option<String>);

async fn row(pool: &PgPool, session: &str) -> Option<Row> {
    sqlx::query_as(
        "SELECT acctstarttime IS NOT NULL, acctstoptime IS NOT NULL, acctinputoctets, \
                acctterminatecause FROM radacct WHERE acctsessionid = $1",
    )
    .bind(session)
    .fetch_optional(pool)
    .await
    .expect("radacct query")
}

/// What the NAS was told is durable, per session: the last acknowledged record.
type Acked = Arc<Mutex<BTreeMap<String, Acct>>>;

/// Sessions of Start, Interim, Stop from `nas`, each packet sent once (a NAS that gets no
/// answer retries; unanswered ones are simply not counted as acknowledged), until
/// `deadline`. Returns how many packets were sent.
async fn load(nas: Nas, prefix: String, acked: Acked, deadline: Instant) -> usize {
    let mut sent = 0;
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let session = format!("{prefix}-{n}");
        for (i, status) in [
            AcctStatus::Start,
            AcctStatus::InterimUpdate,
            AcctStatus::Stop,
        ]
        .into_iter()
        .enumerate()
        {
            let rec = Acct {
                input: 1000 * u32::try_from(i).unwrap() + 1,
                ..Acct::new(status, &session)
            };
            sent += 1;
            if nas.send(&rec, Duration::from_millis(1500)).await {
                acked.lock().unwrap().insert(session.clone(), rec);
            }
        }
    }
    sent
}

/// Every acknowledged record's effect is in `radacct`: its session exists once, and an
/// acknowledged Stop (or Interim) left its counters and stop time.
async fn assert_all_durable(pool: &PgPool, acked: &Acked) {
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "the load produced no acknowledgement at all"
    );
    for (session, rec) in &acked {
        let row = row(pool, session)
            .await
            .unwrap_or_else(|| panic!("acknowledged session {session} missing from radacct"));
        match rec.status {
            AcctStatus::Stop => assert_eq!(
                row,
                (
                    true,
                    true,
                    Some(i64::from(rec.input)),
                    Some("User-Request".into())
                ),
                "{session}"
            ),
            AcctStatus::InterimUpdate => {
                assert!(row.0, "{session}: start time");
                assert!(row.2 >= Some(i64::from(rec.input)), "{session}: {row:?}");
            }
            _ => assert!(row.0, "{session}: start time"),
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM radacct")
        .fetch_one(pool)
        .await
        .unwrap();
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT acctsessionid) FROM radacct")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, distinct, "a session written twice");
}

/// Wait (bounded) until the journal directory holds no pending segment data, i.e. until
/// the server's replay has caught up, by polling `radacct` for `expect` sessions.
async fn until_sessions(pool: &PgPool, expect: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radacct")
            .fetch_one(pool)
            .await
            .unwrap_or(0);
        if usize::try_from(n).unwrap_or(0) >= expect {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "radacct has {n} sessions, {expect} expected after replay"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_interim_stop_unknown_status_and_saturation() {
    let (url, pool) = harness::fresh_db().await;
    let journal = harness::fresh_dir("journal");
    let server = start(&url, &journal).await;
    let nas = Nas::new("127.0.0.1:0", server.acct_addr).await;
    nas.send_acked(&Acct::new(AcctStatus::Start, "s1")).await;
    // > 4 GiB: 5 gigawords + 7 octets, exact.
    let interim = Acct {
        input: 7,
        gigawords: 5,
        ..Acct::new(AcctStatus::InterimUpdate, "s1")
    };
    nas.send_acked(&interim).await;
    assert_eq!(row(&pool, "s1").await.unwrap().2, Some(5 * (1 << 32) + 7));
    // A replay (new identifier, so not a retransmission) changes nothing.
    nas.send_acked(&interim).await;
    // 2^31 gigawords does not fit a bigint: saturated, never a sign flip.
    let huge = Acct {
        input: 1,
        gigawords: 1 << 31,
        ..Acct::new(AcctStatus::Stop, "s1")
    };
    nas.send_acked(&huge).await;
    assert_eq!(
        row(&pool, "s1").await.unwrap(),
        (true, true, Some(i64::MAX), Some("User-Request".into()))
    );
    // Unknown Acct-Status-Type: acknowledged, not written.
    nas.send_acked(&Acct::new(AcctStatus::Unknown(15), "s2"))
        .await;
    assert_eq!(row(&pool, "s2").await, None);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radacct")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nas_cannot_touch_another_nas_sessions() {
    let (url, pool) = harness::fresh_db().await;
    let journal = harness::fresh_dir("journal");
    let server = start(&url, &journal).await;
    let a = Nas::new("127.0.0.1:0", server.acct_addr).await;
    let b = Nas::new("127.0.0.2:0", server.acct_addr).await;
    a.send_acked(&Acct::new(AcctStatus::Start, "a-1")).await;
    // B forges A's Stop (same User-Name, session id and NAS-IP-Address, so the same
    // acctuniqueid): acknowledged (it is a valid request) but A's session stays open.
    let forged = Acct {
        input: 99,
        ..Acct::new(AcctStatus::Stop, "a-1")
    };
    b.send_acked(&forged).await;
    assert!(!row(&pool, "a-1").await.unwrap().1, "B closed A's session");
    // B claims to be A and reboots: A's sessions stay open.
    let on = Acct::new(AcctStatus::AccountingOn, "");
    b.send_acked(&on).await;
    assert!(!row(&pool, "a-1").await.unwrap().1, "B's Accounting-On");
    // A's own Accounting-On closes it.
    a.send_acked(&on).await;
    assert!(row(&pool, "a-1").await.unwrap().1, "A's own Accounting-On");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_parked_and_acknowledged() {
    let (url, pool) = harness::fresh_db().await;
    sqlx::query("ALTER TABLE radacct ADD CONSTRAINT no_poison CHECK (username <> 'poison')")
        .execute(&pool)
        .await
        .unwrap();
    let journal = harness::fresh_dir("journal");
    let server = start(&url, &journal).await;
    // Send them together (one socket each) so they share a batch: the good ones must
    // still be written.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let nas = Nas::new("127.0.0.1:0", server.acct_addr).await;
        let rec = Acct {
            user: if i == 3 {
                "poison".into()
            } else {
                "alice".into()
            },
            ..Acct::new(AcctStatus::Start, &format!("p-{i}"))
        };
        tasks.push(tokio::spawn(async move {
            nas.send_acked(&rec).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for i in (0..8).filter(|&i| i != 3) {
        assert!(row(&pool, &format!("p-{i}")).await.is_some(), "p-{i}");
    }
    assert_eq!(row(&pool, "p-3").await, None);
    let (n, user): (i64, Option<String>) =
        sqlx::query_as("SELECT count(*), max(record->>'username') FROM radacct_deadletter")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((n, user.as_deref()), (1, Some("poison")));
    server.stop().await;
}

/// PostgreSQL stopped for 30 s under load: the server keeps acknowledging (journal), and
/// once PostgreSQL is back every acknowledged record is in `radacct`, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_under_load_loses_nothing_acknowledged() {
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    let journal = harness::fresh_dir("journal");
    let server = start(&url, &journal).await;
    let acked: Acked = Arc::default();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(40);
    let mut loads = Vec::new();
    for (i, local) in ["127.0.0.1:0", "127.0.0.2:0"].into_iter().enumerate() {
        let nas = Nas::new(local, server.acct_addr).await;
        loads.push(tokio::spawn(load(
            nas,
            format!("o{i}"),
            Arc::clone(&acked),
            end,
        )));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = acked.lock().unwrap().len();
    pg.stop();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during = acked.lock().unwrap().len() - before;
    pg.start_again();
    let mut sent = 0;
    for l in loads {
        sent += l.await.unwrap();
    }
    assert!(during > 0, "nothing acknowledged while PostgreSQL was down");
    let sessions = acked.lock().unwrap().len();
    until_sessions(&pool, sessions, Duration::from_secs(60)).await;
    assert_all_durable(&pool, &acked).await;
    eprintln!(
        "outage test: {sent} packets sent, {sessions} sessions acknowledged, {during} during the outage"
    );
    server.stop().await;
}

/// The server process, started from the built binary with a config file. Killed when
/// dropped, so a failing test leaves no server behind.
struct Process {
    child: Child,
    acct: SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(dir: &Path, database_url: &str, journal: &Path) -> Process {
    let acct_port = harness::free_udp_port();
    let auth_port = harness::free_udp_port();
    let file = dir.join("server.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nauth_addr = \"127.0.0.1:{auth_port}\"\nacct_addr = \"127.0.0.1:{acct_port}\"\n\
             [admin]\nenabled = false\n\
             [database]\nurl = \"{database_url}\"\npool_size = 4\n\
             [accounting]\njournal_dir = \"{}\"\nwrite_timeout_ms = 500\nretry_after_ms = 300\n\
             [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n",
            journal.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
        .args(["--config"])
        .arg(&file)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start hotspot-radius");
    Process {
        child,
        acct: SocketAddr::from(([127, 0, 0, 1], acct_port)),
    }
}

/// Wait until the server answers an Accounting-Request (an unknown status type: no row).
async fn until_answering(acct: SocketAddr, dir: &Path) {
    let nas = Nas::new("127.0.0.1:0", acct).await;
    for _ in 0..100 {
        if nas
            .send(
                &Acct::new(AcctStatus::Unknown(99), "probe"),
                Duration::from_millis(200),
            )
            .await
        {
            return;
        }
    }
    panic!(
        "server not answering; log:\n{}",
        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
    );
}

/// SIGKILL while records sit in the journal (PostgreSQL down), a torn tail added to the
/// journal afterwards, then a restart: every acknowledged record reaches `radacct`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_a_torn_journal_tail_lose_nothing_acknowledged() {
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    let dir = harness::fresh_dir("sigkill");
    let journal = dir.join("journal");
    let mut server = spawn_server(&dir, &url, &journal);
    until_answering(server.acct, &dir).await;
    let acked: Acked = Arc::default();
    // Some records straight into PostgreSQL, then the rest into the journal.
    let nas = Nas::new("127.0.0.1:0", server.acct).await;
    load(
        nas,
        "k0".into(),
        Arc::clone(&acked),
        Instant::now() + Duration::from_secs(2),
    )
    .await;
    pg.stop();
    let nas = Nas::new("127.0.0.1:0", server.acct).await;
    let killer = {
        let pid = server.child.id();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(6)).await;
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
        })
    };
    load(
        nas,
        "k1".into(),
        Arc::clone(&acked),
        Instant::now() + Duration::from_secs(8),
    )
    .await;
    killer.await.unwrap();
    let _ = server.child.wait();
    let journaled = acked
        .lock()
        .unwrap()
        .keys()
        .filter(|s| s.starts_with("k1"))
        .count();
    assert!(
        journaled > 0,
        "nothing was acknowledged while PostgreSQL was down"
    );
    // A crash mid-append leaves a partial frame: simulate one on the newest segment.
    let newest = newest_segment(&journal);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap();
    std::io::Write::write_all(&mut f, &[0x40, 0, 0, 0, 1, 2]).unwrap();
    drop(f);
    pg.start_again();
    let server = spawn_server(&dir, &url, &journal);
    until_answering(server.acct, &dir).await;
    let sessions = acked.lock().unwrap().len();
    until_sessions(&pool, sessions, Duration::from_secs(60)).await;
    assert_all_durable(&pool, &acked).await;
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(
        log.contains("torn_tail_bytes: 6"),
        "recovery not reported:\n{log}"
    );
    drop(server);
}

fn newest_segment(journal: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(journal)
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a journal segment")
}

#[tokio::test]
async fn closed_sessions_move_to_history_in_bulk() {
    let (_, pool) = harness::fresh_db().await;
    for (session, stop) in [
        ("old", Some("now() - interval '100 days'")),
        ("recent", Some("now() - interval '1 day'")),
        ("open", None),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, \
             acctstarttime, acctstoptime) VALUES ('{session}', 'u-{session}', 'alice', \
             '10.0.0.1', now() - interval '200 days', {})",
            stop.unwrap_or("NULL")
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    let pg = hotspot_radius::store::PgStore::from_pool(pool.clone());
    let cancel = tokio_util::sync::CancellationToken::new();
    assert_eq!(
        hotspot_radius::accounting::history::move_all(&pg, 30, &cancel).await,
        1
    );
    assert_eq!(row(&pool, "old").await, None);
    assert!(row(&pool, "recent").await.is_some());
    assert!(row(&pool, "open").await.is_some());
    let (history, all): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM radacct_history WHERE acctsessionid = 'old'), \
                (SELECT count(*) FROM radacct_all)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((history, all), (1, 3));
}

/// SIGTERM (a graceful stop) empties the journal into PostgreSQL before the process ends,
/// even while the writers would still be backing off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_drains_the_journal() {
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    let journal = harness::fresh_dir("journal");
    let mut c = config(&url, &journal);
    // Without the drain, nothing would be replayed for a minute.
    c.accounting.retry_after_ms = 60_000;
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new("127.0.0.1:0", server.acct_addr).await;
    pg.stop();
    for i in 0..5 {
        nas.send_acked(&Acct::new(AcctStatus::Start, &format!("d-{i}")))
            .await;
    }
    pg.start_again();
    server.stop().await;
    for i in 0..5 {
        assert!(
            row(&pool, &format!("d-{i}")).await.is_some(),
            "d-{i} drained"
        );
    }
}

/// With PostgreSQL down and the journal at its size limit, Accounting-Requests are not
/// answered (the NAS keeps them and retries) and the refusal is counted; once PostgreSQL
/// is back, replay makes room and they are acknowledged again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_stops_acknowledging_instead_of_dropping() {
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    let journal = harness::fresh_dir("journal");
    let mut c = config(&url, &journal);
    c.accounting.journal_max_bytes = 4096;
    c.accounting.journal_segment_bytes = 4096;
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new("127.0.0.1:0", server.acct_addr).await;
    pg.stop();
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let session = format!("f-{i}");
        if nas
            .send(
                &Acct::new(AcctStatus::Start, &session),
                Duration::from_secs(2),
            )
            .await
        {
            acked.push(session);
        } else {
            refused = Some(session);
            break;
        }
    }
    let refused = refused.expect("a 4 KiB journal filled up and stopped acknowledging");
    assert!(!acked.is_empty(), "some records fit before it was full");
    // The silence is the full journal's refusal, not a slow server: it is counted so.
    let metrics = hotspot_radius::metrics::handle()
        .expect("the server installed the metrics recorder")
        .render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("radius_accounting_refused_total")
                && l.contains("reason=\"journal_full\"")),
        "refusal not counted as journal_full:\n{metrics}"
    );
    pg.start_again();
    // The NAS retries the refused record; it is acknowledged once replay made room.
    nas.send_acked(&Acct::new(AcctStatus::Start, &refused))
        .await;
    acked.push(refused);
    until_sessions(&pool, acked.len(), Duration::from_secs(60)).await;
    for session in &acked {
        assert!(row(&pool, session).await.is_some(), "{session}");
    }
    server.stop().await;
}

/// The session store (Redis here) agrees with `radacct` once an outage's journal is
/// replayed: the same open sessions, and the user's usage equal to what `radacct` sums.
/// Every record reaches the store when it is acknowledged (journaled or committed), so the
/// store is never behind what the NAS was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_store_matches_radacct_after_an_outage_is_replayed() {
    use hotspot_radius::sessions::{Filter, RedisSessions, SessionStore};

    let redis = harness::Redis::start();
    let mut pg = Postgres::start();
    let (url, pool) = harness::fresh_db_on(&pg).await;
    let journal = harness::fresh_dir("journal");
    let mut c = config(&url, &journal);
    c.redis.url = Some(redis.url());
    let server = app::start(c, None).await.expect("server starts");
    let nas = Nas::new("127.0.0.1:0", server.acct_addr).await;
    // Sessions before, during and after the outage; every third one is left open.
    let mut k = 0u32;
    for stage in 0..3 {
        if stage == 1 {
            pg.stop();
        }
        if stage == 2 {
            pg.start_again();
        }
        for _ in 0..12 {
            k += 1;
            let session = format!("c-{k}");
            let mut steps = vec![AcctStatus::Start, AcctStatus::InterimUpdate];
            if !k.is_multiple_of(3) {
                steps.push(AcctStatus::Stop);
            }
            for (i, status) in steps.into_iter().enumerate() {
                let rec = Acct {
                    input: 1_000 * u32::try_from(i).unwrap() + k,
                    ..Acct::new(status, &session)
                };
                nas.send_acked(&rec).await;
            }
        }
    }
    until_sessions(&pool, 36, Duration::from_secs(60)).await;
    let store = RedisSessions::connect_lazy(&redis.url(), Duration::from_secs(5)).unwrap();
    let mut in_store: Vec<String> = store
        .list(&Filter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.unique_id)
        .collect();
    in_store.sort();
    let in_radacct: Vec<String> = sqlx::query_scalar(
        "SELECT acctuniqueid FROM radacct WHERE acctstoptime IS NULL ORDER BY acctuniqueid",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(in_radacct.len(), 12, "every third session is open");
    assert_eq!(in_store, in_radacct, "open sessions");
    let (seconds, octets): (i64, i64) = sqlx::query_as(
        "SELECT sum(acctsessiontime)::bigint, \
                sum(acctinputoctets + acctoutputoctets)::bigint \
         FROM radacct WHERE username = 'alice'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let usage = store.user_state("alice").await.unwrap().usage;
    assert_eq!(
        (usage.total_seconds, usage.total_octets),
        (
            u64::try_from(seconds).unwrap(),
            u64::try_from(octets).unwrap()
        ),
        "usage counted once per record, as radacct sums it"
    );
    server.stop().await;
}
