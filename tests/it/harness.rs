//! Real PostgreSQL and Redis servers for the integration tests, started by the tests on
//! free loopback ports and torn down afterwards.
//!
//! Every server runs under a tiny `sh` watchdog that kills it (and removes its data
//! directory) when the test process is gone, so a killed `cargo test` or a server held in a
//! `static` (whose destructor never runs) leaves nothing behind. A missing binary is a
//! panic naming the Debian package to install: these tests are never skipped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

/// How long a server gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a start is retried when the chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// Runs `"$@"` (after three fixed arguments) in the background and waits for it. A helper
/// loop kills it with SIGINT, waits for it to exit and removes `$3` (if not empty) once
/// process `$1` (the test process) is gone. Output goes to `$2`.
pub const WATCHDOG: &str = r#"
tp=$1; log=$2; clean=$3; shift 3
"$@" >>"$log" 2>&1 </dev/null &
pid=$!
(
  while [ -d /proc/$tp ] && kill -0 $pid 2>/dev/null; do sleep 1; done
  if [ ! -d /proc/$tp ]; then
    kill -INT $pid 2>/dev/null
    n=0
    while kill -0 $pid 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
    kill -KILL $pid 2>/dev/null
    if [ -n "$clean" ]; then rm -rf "$clean"; fi
  fi
) </dev/null >/dev/null 2>&1 &
wait $pid
"#;

pub fn is_root() -> bool {
    // The effective uid of this process, from /proc (no libc dependency needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A free UDP port on 127.0.0.1 (bound, read, released).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
    s.local_addr().expect("local_addr").port()
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Removes `hr-{kind}-<pid>-<n>-<nanos>` directories (any kind) left by test processes
/// that no longer exist (e.g. killed while initdb ran, before a watchdog was watching, or
/// before their test thread ended).
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("hr-") else {
            continue;
        };
        // The last three fields are numbers: pid, sequence, nanoseconds.
        let fields: Vec<&str> = rest.rsplitn(4, '-').collect();
        let [nanos, n, pid, _kind] = fields[..] else {
            continue;
        };
        if nanos.parse::<u32>().is_err() || n.parse::<u64>().is_err() {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh, empty directory under the system temp dir (`hr-{kind}-<pid>-<n>-<nanos>`),
/// owned by the calling test: it is removed when the test ends (its thread exits; libtest
/// runs each test on its own thread), pass or fail. `HR_KEEP_TMP=1` keeps it for
/// inspection (the path is printed, and earlier runs' are not swept). For a directory
/// that outlives the test (a server in a `static`), see [`unowned_dir`].
pub fn fresh_dir(kind: &str) -> PathBuf {
    let dir = unowned_dir(kind);
    TEST_DIRS.with(|dirs| dirs.borrow_mut().0.push(dir.clone()));
    dir
}

/// Directories made by [`fresh_dir`] on this thread, removed when the thread ends.
struct TestDirs(Vec<PathBuf>);

impl Drop for TestDirs {
    fn drop(&mut self) {
        for dir in self.0.drain(..) {
            if keep_tmp() {
                eprintln!("HR_KEEP_TMP=1: kept {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}

/// `HR_KEEP_TMP=1`: test directories are kept, and earlier runs' are not swept.
fn keep_tmp() -> bool {
    std::env::var_os("HR_KEEP_TMP").is_some_and(|v| v == "1")
}

thread_local! {
    static TEST_DIRS: std::cell::RefCell<TestDirs> =
        const { std::cell::RefCell::new(TestDirs(Vec::new())) };
}

/// A fresh, empty directory like [`fresh_dir`], not tied to the calling test: its owner
/// removes it (`Postgres` and `Redis` on drop; the watchdog or the stale sweep once the
/// test process is gone, for one held in a `static`).
pub fn unowned_dir(kind: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        if !keep_tmp() {
            sweep_stale();
        }
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "hr-{kind}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The last `n` lines of a log file, for failure messages.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (bounded) for the watchdog child to exit; kills it if it does not.
pub fn reap(child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------

/// The bin directory of the highest PostgreSQL version installed (Debian layout).
fn pg_bin_dir() -> PathBuf {
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(v) = name.parse::<u32>() else { continue };
            let bin = e.path().join("bin");
            if bin.join("postgres").exists()
                && bin.join("initdb").exists()
                && best.as_ref().is_none_or(|(b, _)| v > *b)
            {
                best = Some((v, bin));
            }
        }
    }
    let Some((_, bin)) = best else {
        panic!(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: \
             install Debian package postgresql (and postgresql-contrib)"
        );
    };
    let lib = bin.with_file_name("lib");
    assert!(
        lib.join("pg_stat_statements.so").exists(),
        "pg_stat_statements not found in {}: install Debian package postgresql-contrib",
        lib.display()
    );
    bin
}

/// A PostgreSQL server on a free loopback port, in its own temporary data directory, with
/// trust authentication, superuser `postgres`, `fsync=off` and pg_stat_statements loaded.
pub struct Postgres {
    bin: PathBuf,
    /// Base directory: `data/` (PGDATA), the unix socket, `server.log`.
    base: PathBuf,
    port: u16,
    child: Option<Child>,
    as_postgres_user: bool,
    /// Extra `-c name=value` server settings (see [`Postgres::start_with`]).
    settings: Vec<String>,
}

impl Postgres {
    /// initdb + start; panics (naming the package) if PostgreSQL is not installed.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Postgres::start`] with extra server settings (`("ssl", "on")`, ...), given to the
    /// server as `-c name=value` after the harness's own, on every start.
    pub fn start_with(settings: &[(&str, &str)]) -> Self {
        let bin = pg_bin_dir();
        let as_postgres_user = is_root();
        let base = unowned_dir("pg");
        if as_postgres_user {
            run_checked(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&base),
                "chown data dir",
            );
        }
        let mut pg = Self {
            bin,
            base,
            port: 0,
            child: None,
            as_postgres_user,
            settings: settings.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        };
        let template = pg.template();
        run_checked(
            Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(pg.data_dir()),
            "copy the initdb template",
        );
        for attempt in 1..=PORT_ATTEMPTS {
            pg.port = free_port();
            match pg.spawn() {
                Ok(()) => return pg,
                Err(msg) if msg.contains("in use") && attempt < PORT_ATTEMPTS => continue,
                Err(msg) => panic!("PostgreSQL did not start: {msg}"),
            }
        }
        unreachable!()
    }

    /// A hot standby of `primary`, streaming from it: `pg_basebackup -R` of its data
    /// directory (which writes `standby.signal` and the connection to the primary), started
    /// on a free port. Read-only; it replays what the primary commits.
    pub fn start_standby_of(primary: &Self) -> Self {
        let bin = pg_bin_dir();
        let as_postgres_user = is_root();
        let base = unowned_dir("pg-standby");
        if as_postgres_user {
            run_checked(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&base),
                "chown data dir",
            );
        }
        let mut pg = Self {
            bin,
            base,
            port: 0,
            child: None,
            as_postgres_user,
            settings: primary.settings.clone(),
        };
        let mut backup = pg.command("pg_basebackup");
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(pg.data_dir())
            .args(["-R", "-X", "stream", "--no-sync", "--checkpoint=fast"]);
        run_checked(&mut backup, "pg_basebackup");
        for attempt in 1..=PORT_ATTEMPTS {
            pg.port = free_port();
            match pg.spawn() {
                Ok(()) => return pg,
                Err(msg) if msg.contains("in use") && attempt < PORT_ATTEMPTS => continue,
                Err(msg) => panic!("the standby did not start: {msg}"),
            }
        }
        unreachable!()
    }

    /// A command for one of the server binaries, run as `postgres` when we are root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// A pristine initdb'd cluster, made once per machine, PostgreSQL version and user,
    /// and copied for each server (initdb takes seconds on a busy machine; a copy does
    /// not). Built under a temporary name and renamed into place, so concurrent test
    /// processes never see a half-made template.
    fn template(&self) -> PathBuf {
        let version = self
            .bin
            .parent()
            .and_then(Path::file_name)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        let owner = if self.as_postgres_user {
            "postgres"
        } else {
            "self"
        };
        let dir = std::env::temp_dir().join(format!("hr-pgtemplate-v1-{version}-{owner}"));
        if dir.join("PG_VERSION").exists() {
            return dir;
        }
        let building = unowned_dir("pgtemplate-build");
        if self.as_postgres_user {
            run_checked(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&building),
                "chown template dir",
            );
        }
        let data = building.join("data");
        let mut initdb = self.command("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C");
        run_checked(&mut initdb, "initdb");
        // Loser of a race: the other process's template is as good as ours.
        let _ = std::fs::rename(&data, &dir);
        let _ = std::fs::remove_dir_all(&building);
        assert!(
            dir.join("PG_VERSION").exists(),
            "no initdb template at {}",
            dir.display()
        );
        dir
    }

    fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.base.join("server.log")
    }

    /// Starts the server (watchdog-wrapped) on `self.port` and waits until it is ready.
    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", WATCHDOG, "watchdog"]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", WATCHDOG, "watchdog"]);
            c
        };
        let log_start = std::fs::metadata(self.log_path())
            .map(|m| m.len())
            .unwrap_or(0);
        cmd.arg(std::process::id().to_string())
            .arg(self.log_path())
            .arg(&self.base)
            .arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.base)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "pg_stat_statements.track=top",
            ])
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot spawn postgres: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                let new_log = log.get(log_start as usize..).unwrap_or(&log).to_string();
                let in_use = new_log.contains("already in use");
                return Err(format!(
                    "{}postgres exited ({status}); log tail:\n{}",
                    if in_use { "port in use: " } else { "" },
                    log_tail(&self.log_path(), 30)
                ));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-t", "2"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "not ready on port {} after {READY_TIMEOUT:?}; log tail:\n{}",
                    self.port,
                    log_tail(&self.log_path(), 30)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `db` on this server.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name` (an identifier: letters, digits, `_`) and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad database name {name:?}"
        );
        let mut conn = sqlx::PgConnection::connect(&self.url())
            .await
            .expect("connect to postgres database");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        self.url_for(name)
    }

    /// Stops the server (fast shutdown) and waits until it is gone. Data is kept; see
    /// [`Postgres::start_again`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid_file = self.data_dir().join("postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
        {
            let _ = Command::new("kill").args(["-INT", pid.trim()]).status();
        }
        reap(&mut child, Duration::from_secs(30));
    }

    /// Starts a stopped server again on the same port and data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again on a running server");
        if let Err(msg) = self.spawn() {
            panic!("PostgreSQL did not restart: {msg}");
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// One PostgreSQL server per test binary, started on first use. (Its destructor never
/// runs; the watchdog stops it and removes its directory when the test process exits.)
pub fn shared_postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(Postgres::start)
}

/// A new database on `pg`, migrated, with pg_stat_statements available, and a pool on it.
pub async fn fresh_db_on(pg: &Postgres) -> (String, PgPool) {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let url = pg.create_database(&name).await;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(
            url.parse::<PgConnectOptions>()
                .expect("url")
                .disable_statement_logging(),
        )
        .await
        .expect("connect to fresh database");
    hotspot_radius::store::migrate(&pool)
        .await
        .expect("migrations");
    pool.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .expect("create extension pg_stat_statements");
    (url, pool)
}

/// A new migrated database on the shared server: every test gets its own.
pub async fn fresh_db() -> (String, PgPool) {
    fresh_db_on(shared_postgres()).await
}

/// Statements executed so far in the database `pool` points at (pg_stat_statements `calls`),
/// excluding statements that mention pg_stat_statements itself.
pub async fn statement_count(pool: &PgPool) -> i64 {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT sum(calls)::bigint FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND query NOT LIKE '%pg_stat_statements%'",
    )
    .fetch_one(pool)
    .await
    .expect("query pg_stat_statements");
    n.unwrap_or(0)
}

/// A fragment only the user-profile load statement contains (for
/// [`statement_count_matching`]).
pub const LOAD_USER_SQL: &str = "FROM radcheck c WHERE c.username";

/// Statements executed so far in `pool`'s database whose text contains `needle`.
pub async fn statement_count_matching(pool: &PgPool, needle: &str) -> i64 {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT sum(calls)::bigint FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND query NOT LIKE '%pg_stat_statements%' AND strpos(query, $1) > 0",
    )
    .bind(needle)
    .fetch_one(pool)
    .await
    .expect("query pg_stat_statements");
    n.unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------

pub fn redis_server_bin() -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = Path::new(dir).join("redis-server");
        if p.exists() {
            return p;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("redis-server");
            if p.exists() {
                return p;
            }
        }
    }
    panic!("redis-server not found: install Debian package redis-server");
}

/// The PEM files of a TLS-only Redis (see [`Redis::start_tls`]).
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// The server's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA client certificates must chain to (clients must present one).
    pub ca: PathBuf,
}

/// A Redis server on a free loopback port, with persistence off.
pub struct Redis {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// TLS only (`--port 0 --tls-port PORT`), when set.
    tls: Option<RedisTls>,
}

impl Redis {
    /// Starts redis-server; panics (naming the package) if it is not installed.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A Redis that speaks only TLS on its port, requiring client certificates.
    pub fn start_tls(tls: RedisTls) -> Self {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<RedisTls>) -> Self {
        let mut r = Self {
            bin: redis_server_bin(),
            dir: unowned_dir("redis"),
            port: 0,
            child: None,
            tls,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            r.port = free_port();
            match r.spawn() {
                Ok(()) => return r,
                Err(msg) if msg.contains("in use") && attempt < PORT_ATTEMPTS => continue,
                Err(msg) => panic!("Redis did not start: {msg}"),
            }
        }
        unreachable!()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn pid_path(&self) -> PathBuf {
        self.dir.join("redis.pid")
    }

    /// The listening options: plain `--port`, or TLS only.
    fn port_args(&self) -> Vec<std::ffi::OsString> {
        let port = self.port.to_string();
        let Some(tls) = &self.tls else {
            return vec!["--port".into(), port.into()];
        };
        let mut args: Vec<std::ffi::OsString> = vec!["--port".into(), "0".into()];
        args.extend(["--tls-port".into(), port.into()]);
        for (flag, path) in [
            ("--tls-cert-file", &tls.cert),
            ("--tls-key-file", &tls.key),
            ("--tls-ca-cert-file", &tls.ca),
        ] {
            args.extend([flag.into(), path.into()]);
        }
        args.extend(["--pidfile".into(), self.pid_path().into()]);
        args
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new("sh")
            .args(["-c", WATCHDOG, "watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.log_path())
            .arg(&self.dir)
            .arg(&self.bin)
            .args(self.port_args())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot spawn redis-server: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = log_tail(&self.log_path(), 30);
                let in_use = tail.contains("already in use");
                return Err(format!(
                    "{}redis-server exited ({status}); log tail:\n{tail}",
                    if in_use { "port in use: " } else { "" }
                ));
            }
            if self.ping() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "not ready on port {} after {READY_TIMEOUT:?}; log tail:\n{}",
                    self.port,
                    log_tail(&self.log_path(), 30)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one inline command and returns the first reply line.
    fn command(&self, cmd: &str) -> Option<String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn ping(&self) -> bool {
        if self.tls.is_some() {
            // Plain commands cannot reach a TLS port: listening is ready enough.
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
            return TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok();
        }
        self.command("PING").is_some_and(|r| r.starts_with("+PONG"))
    }

    /// `FLUSHALL`: the server loses every key (as after a restart without persistence).
    pub fn flushall(&self) {
        let reply = self.command("FLUSHALL");
        assert!(
            reply.as_deref().is_some_and(|r| r.starts_with("+OK")),
            "FLUSHALL: {reply:?}"
        );
    }

    /// `redis://127.0.0.1:PORT/` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server and waits until it is gone.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.tls.is_some() {
            // No plain port for SHUTDOWN: SIGTERM the server itself (its pid file).
            if let Ok(pid) = std::fs::read_to_string(self.pid_path()) {
                let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
            }
        } else {
            let _ = self.command("SHUTDOWN NOSAVE");
        }
        reap(&mut child, Duration::from_secs(15));
    }

    /// Starts a stopped server again on the same port (empty: persistence is off).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again on a running server");
        if let Err(msg) = self.spawn() {
            panic!("Redis did not restart: {msg}");
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------
// radclient
// ---------------------------------------------------------------------------------------

/// Path of FreeRADIUS's `radclient`; panics naming the package if it is not installed.
pub fn radclient() -> PathBuf {
    let mut dirs: Vec<PathBuf> = vec!["/usr/bin".into(), "/usr/local/bin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join("radclient"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("radclient not found: install Debian package freeradius-utils"))
}

/// Run `radclient -x -r <attempts> -t <timeout> <server> <kind> <secret>` with `input` on
/// its standard input; (exit status success, stdout + stderr).
pub fn run_radclient(
    server: std::net::SocketAddr,
    kind: &str,
    secret: &str,
    input: &str,
    attempts: u32,
    timeout_secs: u32,
) -> (bool, String) {
    let mut child = Command::new(radclient())
        .arg("-x")
        .args(["-r", &attempts.to_string(), "-t", &timeout_secs.to_string()])
        .arg(server.to_string())
        .arg(kind)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run radclient");
    child
        .stdin
        .take()
        .expect("radclient stdin")
        .write_all(input.as_bytes())
        .expect("write radclient input");
    let out = child.wait_with_output().expect("radclient output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A child process killed (and reaped) when the test ends, even when it fails early.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// PgBouncer
// ---------------------------------------------------------------------------------------

/// A PgBouncer in transaction pooling on a free loopback port, in front of a [`Postgres`]
/// (every database, user `postgres`, trust authentication against a userlist it writes),
/// with `pool_size` server sessions per database. Runs as `postgres` when we are root
/// (PgBouncer refuses to run as root).
pub struct PgBouncer {
    base: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PgBouncer {
    /// Starts it in front of `pg`; panics (naming the package) if it is not installed.
    pub fn start(pg: &Postgres, pool_size: u32) -> Self {
        let exe = Path::new("/usr/sbin/pgbouncer");
        assert!(
            exe.exists(),
            "{} not found: install Debian package pgbouncer",
            exe.display()
        );
        let base = unowned_dir("pgbouncer");
        let as_postgres_user = is_root();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            std::fs::write(base.join("userlist.txt"), "\"postgres\" \"\"\n").expect("userlist");
            std::fs::write(
                base.join("pgbouncer.ini"),
                format!(
                    "[databases]\n* = host=127.0.0.1 port={pg_port} user=postgres\n\
                     [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                     unix_socket_dir =\nauth_type = trust\nauth_file = {userlist}\n\
                     pool_mode = transaction\ndefault_pool_size = {pool_size}\n\
                     max_client_conn = 500\nserver_reset_query =\n\
                     log_connections = 0\nlog_disconnections = 0\npidfile = {pidfile}\n",
                    pg_port = pg.port(),
                    userlist = base.join("userlist.txt").display(),
                    pidfile = base.join("pgbouncer.pid").display(),
                ),
            )
            .expect("pgbouncer.ini");
            if as_postgres_user {
                run_checked(
                    Command::new("chown")
                        .args(["-R", "postgres:postgres"])
                        .arg(&base),
                    "chown pgbouncer dir",
                );
            }
            let mut cmd = if as_postgres_user {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "sh", "-c", WATCHDOG, "watchdog"]);
                c
            } else {
                let mut c = Command::new("sh");
                c.args(["-c", WATCHDOG, "watchdog"]);
                c
            };
            let log = base.join("pgbouncer.log");
            let mut child = cmd
                .arg(std::process::id().to_string())
                .arg(&log)
                .arg(&base)
                .arg(exe)
                .arg(base.join("pgbouncer.ini"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn pgbouncer");
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let tail = log_tail(&log, 20);
                    if tail.contains("in use") && attempt < PORT_ATTEMPTS {
                        break;
                    }
                    panic!("pgbouncer exited ({status}); log tail:\n{tail}");
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        base,
                        port,
                        child: Some(child),
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "pgbouncer not listening on {port}; log:\n{}",
                        log_tail(&log, 20)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("pgbouncer: no free port after {PORT_ATTEMPTS} attempts");
    }

    /// `url` (a database on the PostgreSQL behind it) rewritten to go through PgBouncer.
    pub fn url_for(&self, pg: &Postgres, url: &str) -> String {
        let through = url.replace(
            &format!("127.0.0.1:{}/", pg.port()),
            &format!("127.0.0.1:{}/", self.port),
        );
        assert_ne!(through, url, "{url} is not on that PostgreSQL");
        through
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // PgBouncer's own pid, from the pid file it writes; the watchdog then exits.
            if let Some(pid) = std::fs::read_to_string(self.base.join("pgbouncer.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                let _ = Command::new("kill")
                    .args(["-INT", &pid.to_string()])
                    .status();
            }
            reap(&mut child, Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}
