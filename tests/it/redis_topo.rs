//! Redis deployments for the high-availability tests (`redis_ha`), really started on free
//! loopback ports: a primary with a replica and three sentinels, and a three-primary
//! Redis Cluster; plus the server binary pointed at one of them.
//!
//! Each `redis-server` runs under the harness watchdog (killed when the test process is
//! gone) and writes a pid file, so a test can kill the server process itself (SIGKILL, by
//! its PID) the way a crash would, and start it again from the same directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, KillOnDrop};

/// How long a node gets to answer PING after its start.
const READY: Duration = Duration::from_secs(30);
/// How long a deployment gets to settle (replication up, sentinels agreeing, slots served).
const SETTLE: Duration = Duration::from_secs(60);
/// The service name the sentinels monitor.
pub const SERVICE: &str = "mymaster";

fn redis_cli() -> PathBuf {
    let p = Path::new("/usr/bin/redis-cli");
    assert!(
        p.exists(),
        "redis-cli not found: install Debian package redis-tools"
    );
    p.to_owned()
}

/// `redis-cli -p PORT --raw ARGS...`: its standard output (empty if it could not run).
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(redis_cli())
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--raw"])
        .args(args)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(_) => String::new(),
    }
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `redis-server` (a data node or a sentinel) from a config file in its own directory.
pub struct Node {
    dir: PathBuf,
    port: u16,
    /// Extra config lines (replication, cluster or sentinel settings).
    extra: String,
    sentinel: bool,
    child: Option<Child>,
}

impl Node {
    /// Starts a data node with these extra config lines.
    pub fn start(kind: &str, extra: &str) -> Self {
        Self::start_as(kind, extra, false)
    }

    /// Starts a sentinel with these `sentinel ...` lines.
    pub fn start_sentinel(extra: &str) -> Self {
        Self::start_as("redis-sentinel", extra, true)
    }

    fn start_as(kind: &str, extra: &str, sentinel: bool) -> Self {
        let mut node = Self {
            dir: harness::unowned_dir(kind),
            port: 0,
            extra: extra.to_owned(),
            sentinel,
            child: None,
        };
        for attempt in 1..=5 {
            node.port = harness::free_port();
            match node.spawn() {
                Ok(()) => return node,
                Err(msg) if msg.contains("in use") && attempt < 5 => continue,
                Err(msg) => panic!("{kind} did not start: {msg}"),
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

    fn spawn(&mut self) -> Result<(), String> {
        let conf = self.dir.join("redis.conf");
        let _ = std::fs::remove_file(self.pid_path());
        // A sentinel rewrites its file (what it learnt): keep it across a restart.
        if !(self.sentinel && conf.exists()) {
            let text = format!(
                "port {}\nbind 127.0.0.1\ndaemonize no\npidfile {}\ndir {}\n\
                 save \"\"\nappendonly no\n{}\n",
                self.port,
                self.pid_path().display(),
                self.dir.display(),
                self.extra
            );
            std::fs::write(&conf, text).map_err(|e| format!("writing {}: {e}", conf.display()))?;
        }
        let mut cmd = Command::new("sh");
        cmd.args(["-c", harness::WATCHDOG, "watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.log_path())
            .arg(&self.dir)
            .arg(harness::redis_server_bin())
            .arg(&conf);
        if self.sentinel {
            cmd.arg("--sentinel");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot spawn redis-server: {e}"))?;
        let deadline = Instant::now() + READY;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = harness::log_tail(&self.log_path(), 30);
                let in_use = tail.contains("already in use");
                return Err(format!(
                    "{}redis-server exited ({status}); log tail:\n{tail}",
                    if in_use { "port in use: " } else { "" }
                ));
            }
            if cli(self.port, &["PING"]).trim() == "PONG" && self.pid_path().exists() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "not ready on port {} after {READY:?}; log tail:\n{}",
                    self.port,
                    harness::log_tail(&self.log_path(), 30)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis-cli` against this node.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// The PID of the `redis-server` process itself (from its pid file).
    pub fn pid(&self) -> u32 {
        std::fs::read_to_string(self.pid_path())
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .expect("redis-server pid file")
    }

    /// Kills the server process (SIGKILL, by PID: a crash, nothing flushed or said
    /// goodbye) and waits until it is gone.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = self.pid();
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid} failed");
        // The watchdog exits once its server is gone.
        harness::reap(&mut child, Duration::from_secs(15));
        wait_until("the killed port to close", Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
        });
    }

    /// Starts a killed node again on the same port, from the same directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again on a running node");
        if let Err(msg) = self.spawn() {
            panic!("redis-server did not restart: {msg}");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = std::fs::read_to_string(self.pid_path()) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
            harness::reap(&mut child, Duration::from_secs(15));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A primary, one replica and three sentinels monitoring them (quorum 2, a primary is
/// down after 1 s without an answer).
pub struct SentinelSet {
    /// The primary at start.
    pub primary: Node,
    /// Its replica.
    pub replica: Node,
    /// The sentinels.
    pub sentinels: Vec<Node>,
}

impl SentinelSet {
    /// Starts it and waits until replication is up and every sentinel knows the replica
    /// and the other sentinels (so a failover can be authorised).
    pub fn start() -> Self {
        let primary = Node::start("redis-primary", "");
        let replica = Node::start(
            "redis-replica",
            &format!("replicaof 127.0.0.1 {}", primary.port()),
        );
        wait_until("the replica to sync", SETTLE, || {
            replica
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        let monitor = format!(
            "sentinel monitor {SERVICE} 127.0.0.1 {} 2\n\
             sentinel down-after-milliseconds {SERVICE} 1000\n\
             sentinel failover-timeout {SERVICE} 10000\n\
             sentinel parallel-syncs {SERVICE} 1\n",
            primary.port()
        );
        let sentinels: Vec<Node> = (0..3).map(|_| Node::start_sentinel(&monitor)).collect();
        let replica_port = replica.port().to_string();
        for s in &sentinels {
            wait_until("the sentinels to agree", SETTLE, || {
                s.cli(&["SENTINEL", "CKQUORUM", SERVICE])
                    .contains("3 usable Sentinels")
                    && s.cli(&["SENTINEL", "REPLICAS", SERVICE])
                        .contains(&replica_port)
            });
        }
        Self {
            primary,
            replica,
            sentinels,
        }
    }

    /// `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port()))
            .collect();
        format!("redis+sentinel://{}/{SERVICE}", hosts.join(","))
    }

    /// The primary's port as the first sentinel reports it.
    pub fn primary_port(&self) -> Option<u16> {
        let out = self.sentinels[0].cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE]);
        out.lines().nth(1)?.trim().parse().ok()
    }
}

/// A Redis Cluster of three primaries (no replicas), all 16384 slots assigned.
pub struct Cluster {
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts three cluster-enabled nodes, joins them with `redis-cli --cluster create`
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        let nodes: Vec<Node> = (0..3)
            .map(|_| {
                Node::start(
                    "redis-cluster",
                    "cluster-enabled yes\ncluster-config-file nodes.conf\n\
                     cluster-node-timeout 2000\n",
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let out = Command::new(redis_cli())
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Until every running node reports `cluster_state:ok`.
    pub fn wait_ok(&self) {
        for n in &self.nodes {
            wait_until("cluster_state:ok", SETTLE, || {
                n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The index of the node that serves `key`'s slot (the others answer MOVED).
    pub fn owner_of(&self, key: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| {
                let out = n.cli(&["EXISTS", key]);
                !out.is_empty() && !out.contains("MOVED")
            })
            .expect("a node serves the slot")
    }
}

/// The server binary, started with a config file against a database and a Redis URL,
/// with its admin port (for `/metrics`).
pub struct ServerProcess {
    /// The process (killed when the test ends).
    pub child: KillOnDrop,
    /// Its authentication address.
    pub auth: SocketAddr,
    /// Its accounting address.
    pub acct: SocketAddr,
    /// Its admin HTTP address.
    pub admin: SocketAddr,
    /// Its directory (config, journal, log).
    pub dir: PathBuf,
}

impl ServerProcess {
    /// Starts `hotspot-radius serve` for the NAS 127.0.0.1 with `secret`.
    pub fn spawn(database_url: &str, redis_url: &str, secret: &str) -> Self {
        let dir = harness::fresh_dir("server");
        let (auth, acct) = (harness::free_udp_port(), harness::free_udp_port());
        let admin = SocketAddr::from(([127, 0, 0, 1], harness::free_port()));
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            format!(
                "[server]\nauth_addr = \"127.0.0.1:{auth}\"\nacct_addr = \"127.0.0.1:{acct}\"\n\
                 reject_delay_ms = 0\n[admin]\naddr = \"{admin}\"\n\
                 [database]\nurl = \"{database_url}\"\npool_size = 4\n\
                 [redis]\nurl = \"{redis_url}\"\n\
                 [accounting]\njournal_dir = \"{}\"\n\
                 [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{secret}\"\n",
                dir.join("journal").display()
            ),
        )
        .expect("write server config");
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
            .arg("--config")
            .arg(&file)
            .arg("serve")
            .env("RUST_LOG", "hotspot_radius=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hotspot-radius");
        Self {
            child: KillOnDrop(child),
            auth: ([127, 0, 0, 1], auth).into(),
            acct: ([127, 0, 0, 1], acct).into(),
            admin,
            dir,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Whether the process is still running (it did not panic or exit).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }

    /// The sum of the `/metrics` samples whose line starts with `prefix`.
    pub fn metric(&self, prefix: &str) -> f64 {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect_timeout(&self.admin, Duration::from_secs(2))
        else {
            return 0.0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
