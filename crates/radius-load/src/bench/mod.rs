//! `hotspot-radius bench`: synthetic load that looks like a MikroTik hotspot (or PPPoE
//! for MS-CHAPv2): PAP / CHAP / MS-CHAPv2 Access-Requests, accounting sessions (Start,
//! Interim-Updates, Stop), or whole hotspot sessions (login, then accounting if accepted).
//!
//! This module holds the arguments and the run; `traffic` writes the requests.

mod traffic;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use radius_proto::protocol::Signer;

use crate::args::{RunArgs, TargetArgs, parse_alone};
use crate::engine::Pacing;
use crate::error::LoadError;
use crate::report::{Expect, Report};
use crate::report_file::ReportFormat;
use crate::responder::{self, ResponderArgs};
use crate::run::{EngineRun, cores, run_engine};

/// What kind of traffic `bench` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Access-Request with User-Password.
    Pap,
    /// Access-Request with CHAP-Password and CHAP-Challenge (hotspot `http-chap`).
    Chap,
    /// Access-Request with MS-CHAP-Challenge and MS-CHAP2-Response (PPPoE).
    Mschapv2,
    /// Accounting sessions: Start, `--interims` Interim-Updates, Stop (a closed-loop run
    /// finishes the sessions in progress at its end, so it leaves none open).
    Acct,
    /// Hotspot sessions: Access-Request (CHAP or PAP); if accepted, Start, `--interims`
    /// Interim-Updates, Stop. Each user has one session at a time (users cycle, reused only
    /// once their previous session ended), and a closed-loop run finishes the sessions in
    /// progress at its end, so `Simultaneous-Use := 1` never refuses a bench login.
    Hotspot,
}

/// Password method of a hotspot-mode login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HotspotAuth {
    /// `http-chap` (the MikroTik default).
    Chap,
    /// `http-pap`.
    Pap,
}

/// Order in which users are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserOrder {
    /// Uniformly at random.
    Random,
    /// Round-robin.
    Sequential,
}

/// `hotspot-radius bench`: load-test a RADIUS server with MikroTik-like traffic.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Traffic to send.
    #[arg(long, value_enum, default_value = "pap")]
    pub mode: Mode,
    /// The server and its secret.
    #[command(flatten)]
    pub target: TargetArgs,
    /// CSV file of `user,password` lines (a `user,password` header line is skipped).
    #[arg(long)]
    pub users_file: Option<PathBuf>,
    /// Without `--users-file`: users `user0..user{N-1}` with passwords `pass0..`.
    #[arg(long, default_value_t = 1000)]
    pub users: u32,
    /// Order in which users are picked (hotspot mode always cycles through them).
    #[arg(long, value_enum, default_value = "random")]
    pub user_order: UserOrder,
    /// Closed loop: requests kept outstanding (default 64 unless `--rate` is given).
    #[arg(long, conflicts_with = "rate")]
    pub concurrency: Option<usize>,
    /// Open loop: requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop starting requests after this many seconds (default 10 when `--requests` is
    /// not given either).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Reply timeout, retransmissions, report format, expected outcome.
    #[command(flatten)]
    pub run: RunArgs,
    /// UDP sockets, one thread each (default: one per CPU core, at most the concurrency).
    #[arg(long)]
    pub sockets: Option<usize>,
    /// Interim-Updates per accounting session.
    #[arg(long, default_value_t = 2)]
    pub interims: u32,
    /// Password method of hotspot-mode logins.
    #[arg(long, value_enum, default_value = "chap")]
    pub hotspot_auth: HotspotAuth,
    /// Leave Message-Authenticator out of requests (it is sent by default, as RouterOS
    /// 7.15+ does).
    #[arg(long)]
    pub no_message_authenticator: bool,
    /// NAS-IP-Address sent.
    #[arg(long, default_value = "127.0.0.1")]
    pub nas_ip: Ipv4Addr,
    /// Pose as many routers: send from every IPv4 source address of the inclusive range
    /// `FIRST-LAST` (e.g. `127.1.0.1-127.1.19.136`, 5,000 addresses; one address alone is a
    /// range of one), each user always from the same one (user index modulo the count).
    /// On Linux every 127.x.y.z is a loopback address, so no setup is needed; the server
    /// must know them all as NAS (one `nas` row or `[[nas]]` entry for a network such as
    /// `127.1.0.0/16` covers them). At most 1,048,576 addresses; IPv4 servers only.
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_source_range)]
    pub source_addrs: Option<SourceRange>,
    /// NAS-Identifier sent (the router's identity).
    #[arg(long, default_value = "MikroTik-bench")]
    pub nas_identifier: String,
    /// Called-Station-Id sent (the hotspot server name).
    #[arg(long, default_value = "hotspot1")]
    pub called_station_id: String,
    /// Write the requests sent and replies received to this classic pcap file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Do not close the sessions left open at the end of an `acct` or `hotspot` run (by
    /// default each gets an Accounting Stop, for at most 5 seconds).
    #[arg(long)]
    pub leave_sessions_open: bool,
    /// A run of (nearly) only Access-Rejects is what is meant: no warning, exit 0.
    #[arg(long)]
    pub expect_rejects: bool,
    /// Instead of load-testing, run the trivial responder on `--server`, `--auth-port` and
    /// `--acct-port`: it answers everything (Access-Accept, Accounting-Response), to measure
    /// bench itself; stops after `--duration` or Ctrl-C. Same as `hotspot-radius
    /// responder`, with `--sockets` threads.
    #[arg(long)]
    pub responder: bool,
}

/// An inclusive range of IPv4 source addresses (`--source-addrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRange {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address (not before `first`).
    pub last: Ipv4Addr,
}

/// Most addresses `--source-addrs` may name (a /12).
pub const MAX_SOURCE_ADDRS: u32 = 1 << 20;

impl SourceRange {
    /// How many addresses.
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Never empty (a range has at least its first address).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every address, in order.
    pub fn addrs(&self) -> Vec<Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last))
            .map(Ipv4Addr::from)
            .collect()
    }
}

impl std::fmt::Display for SourceRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Parse `FIRST-LAST` (or one address) into a [`SourceRange`].
pub fn parse_source_range(text: &str) -> Result<SourceRange, String> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let addr = |t: &str| {
        t.trim().parse::<Ipv4Addr>().map_err(|_| {
            format!(
                "{t:?} is not an IPv4 address (expected FIRST-LAST, e.g. 127.1.0.1-127.1.19.136)"
            )
        })
    };
    let (first, last) = (addr(a)?, addr(b)?);
    if u32::from(last) < u32::from(first) {
        return Err(format!("{last} comes before {first}"));
    }
    let range = SourceRange { first, last };
    if range.len() > MAX_SOURCE_ADDRS {
        return Err(format!(
            "{} addresses; at most {MAX_SOURCE_ADDRS}",
            range.len()
        ));
    }
    Ok(range)
}

/// Exit status of a `bench` run whose answers were (nearly) all Access-Rejects, without
/// `--expect-rejects` or `--expect reject`.
pub const EXIT_MOSTLY_REJECTS: i32 = 3;

impl BenchArgs {
    /// Parse from command-line words (the first is the program name), as clap would.
    pub fn try_parse_from<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        parse_alone(words)
    }
}

/// Run the benchmark and return its report (no printing). This is what tests call.
pub async fn execute_bench(args: &BenchArgs) -> Result<Report, LoadError> {
    let (auth, acct) = args.target.auth_and_acct()?;
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(10.0),
        (d, _) => d,
    };
    if !(args.run.timeout > 0.0 && args.run.timeout < 3600.0) {
        return Err(LoadError::Invalid(
            "--timeout must be between 0 and 3600 seconds".into(),
        ));
    }
    let concurrency = args.concurrency.unwrap_or(64).max(1);
    let mut sockets = args.sockets.unwrap_or_else(cores).max(1);
    if args.rate.is_none() {
        sockets = sockets.min(concurrency);
    }
    // Each socket has 256 identifiers.
    sockets = sockets.max(concurrency.div_ceil(256));
    let sources = args.source_addrs.map(|r| r.addrs()).unwrap_or_default();
    if !sources.is_empty() && !auth.is_ipv4() {
        return Err(LoadError::Invalid(
            "--source-addrs needs an IPv4 --server".into(),
        ));
    }
    let signer = Signer::new(args.target.secret.as_bytes());
    let gens = traffic::generators(args, &signer, sockets)?;
    let pacing = |w: usize| match args.rate {
        Some(r) => Pacing::Rate(r.max(0.001) / sockets as f64),
        None => Pacing::Closed(concurrency / sockets + usize::from(w < concurrency % sockets)),
    };
    run_engine(
        "bench",
        format!("{:?}", args.mode).to_lowercase(),
        vec![auth, acct],
        EngineRun {
            signer,
            timeout: Duration::from_secs_f64(args.run.timeout),
            retries: args.run.retries,
            duration: duration.map(Duration::from_secs_f64),
            requests: args.requests,
            record: args.record.clone(),
            expect: args.run.expect,
            single_dest: match args.mode {
                Mode::Pap | Mode::Chap | Mode::Mschapv2 => Some(0),
                Mode::Acct => Some(1),
                Mode::Hotspot => None,
            },
            close_sessions: !args.leave_sessions_open,
            sources,
            params: params(args, auth, acct, sockets, duration),
        },
        gens,
        pacing,
    )
    .await
}

/// The run's parameters, as shown in a `--report` file.
fn params(
    args: &BenchArgs,
    auth: SocketAddr,
    acct: SocketAddr,
    sockets: usize,
    duration: Option<f64>,
) -> Vec<(String, String)> {
    let users = match &args.users_file {
        Some(f) => format!("from {}", f.display()),
        None => format!(
            "{} (user0..user{} / pass0..)",
            args.users,
            args.users.saturating_sub(1)
        ),
    };
    let pacing = match (args.rate, args.concurrency) {
        (Some(r), _) => format!("open loop, {r} requests/s"),
        (None, c) => format!("closed loop, {} outstanding", c.unwrap_or(64).max(1)),
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut p = vec![
        ("mode", format!("{:?}", args.mode).to_lowercase()),
        ("auth / acct", format!("{auth} / {acct}")),
        ("pacing", pacing),
        ("sockets", sockets.to_string()),
        ("duration", opt(duration.map(|d| format!("{d} s")))),
        ("requests", opt(args.requests.map(|r| r.to_string()))),
        ("users", users),
        (
            "user order",
            format!("{:?}", args.user_order).to_lowercase(),
        ),
        (
            "timeout / retries",
            format!("{} s / {}", args.run.timeout, args.run.retries),
        ),
        (
            "Message-Authenticator",
            if args.no_message_authenticator {
                "no"
            } else {
                "yes"
            }
            .into(),
        ),
        ("NAS-IP-Address", args.nas_ip.to_string()),
        ("NAS-Identifier", args.nas_identifier.clone()),
    ];
    if let Some(r) = args.source_addrs {
        p.push(("source addresses", format!("{r} ({} routers)", r.len())));
    }
    if matches!(args.mode, Mode::Acct | Mode::Hotspot) {
        p.push(("interims", args.interims.to_string()));
        let close = if args.leave_sessions_open {
            "left open"
        } else {
            "closed with a Stop"
        };
        p.push(("sessions open at the end", close.into()));
    }
    if args.mode == Mode::Hotspot {
        p.push((
            "hotspot login",
            format!("{:?}", args.hotspot_auth).to_lowercase(),
        ));
    }
    if let Some(e) = args.run.expect {
        p.push(("expect", format!("{e:?}").to_lowercase()));
    }
    p.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The loud end-of-run warning for a run whose answers were (nearly) all Access-Rejects,
/// with the likely causes and the one-line seed of the users bench logs in as.
pub fn rejects_warning(args: &BenchArgs, report: &Report) -> String {
    let c = &report.counts;
    let pct = c.rejects as f64 * 100.0 / c.replies.max(1) as f64;
    let bar = "!".repeat(78);
    let users = match &args.users_file {
        Some(f) => format!(
            "  bench logged in as the users of {} (user,password lines): each must exist with \
             that password (Cleartext-Password in radcheck).",
            f.display()
        ),
        None => {
            let last = args.users.saturating_sub(1);
            format!(
                "  bench logged in as user0..user{last} with passwords pass0..pass{last} \
                 (--users {n}). Create them with one line (against scripts/run.sh's demo \
                 server, run `. ./.run/env` first):\n\n    {seed}",
                n = args.users,
                seed = seed_command(args.users)
            )
        }
    };
    format!(
        "{bar}\n\
         bench: WARNING: {rejects} of the {replies} answers ({pct:.1} %) were Access-Rejects.\n\
         These figures measure how fast the server REFUSES logins, not how fast it \
         authenticates.\n\
         Likely cause: the bench users are not seeded, their passwords differ, or --secret is \
         not the secret of this NAS ({nas}).\n\
         {users}\n\n\
         A load test of rejects is legitimate: pass --expect-rejects to silence this and exit \
         0. Exiting with status {EXIT_MOSTLY_REJECTS}.\n\
         {bar}",
        rejects = c.rejects,
        replies = c.replies,
        nas = args.nas_ip,
    )
}

/// The `psql` command that creates users `user0..user{n-1}` with passwords `pass0..` (the
/// ones bench uses without `--users-file`), skipping those that exist.
pub fn seed_command(n: u32) -> String {
    format!(
        "psql \"$DATABASE_URL\" -c \"INSERT INTO radcheck (username, attribute, op, value) \
         SELECT 'user' || i, 'Cleartext-Password', ':=', 'pass' || i \
         FROM generate_series(0, {}) AS i \
         WHERE NOT EXISTS (SELECT 1 FROM radcheck r WHERE r.username = 'user' || i)\"",
        n.saturating_sub(1)
    )
}

/// `hotspot-radius bench`: run, print the report (table or `--json`), write the `--report`
/// file, return the exit code: 1 when `--expect` failed, [`EXIT_MOSTLY_REJECTS`] when nearly
/// every answer was a reject and that was not expected. With `--responder`, run the trivial
/// responder instead.
pub async fn run_bench(args: BenchArgs) -> Result<i32, LoadError> {
    if args.responder {
        return responder::run_responder(ResponderArgs {
            target: args.target,
            threads: args.sockets.unwrap_or(1),
            duration: args.duration,
        })
        .await;
    }
    if let Some(path) = &args.run.report {
        ReportFormat::of(path)?;
    }
    let report = execute_bench(&args).await?;
    report.print(args.run.json);
    if let Some(path) = &args.run.report {
        report.write_file(path)?;
        eprintln!("bench: report written to {}", path.display());
    }
    let c = &report.counts;
    if c.sessions_close_failed > 0 {
        eprintln!(
            "bench: {} sessions left open by the run got no answer to their closing Stop: they \
             may still be open on the server",
            c.sessions_close_failed
        );
    }
    let rejects_expected = args.expect_rejects || args.run.expect == Some(Expect::Reject);
    let mut code = report.exit_code();
    if report.mostly_rejects() && !rejects_expected {
        eprintln!("{}", rejects_warning(&args, &report));
        if code == 0 {
            code = EXIT_MOSTLY_REJECTS;
        }
    } else if args.mode == Mode::Hotspot && c.rejects > 0 && !rejects_expected {
        eprintln!(
            "bench: {} hotspot logins were REJECTED; every bench session should be accepted: \
             check the users, their passwords and Simultaneous-Use",
            c.rejects
        );
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use radius_proto::protocol::Code;

    use crate::engine::new_histogram;
    use crate::report::Counts;
    use crate::responder::{Responder, ResponderConfig};

    use super::*;

    fn report_of(replies: u64, rejects: u64) -> Report {
        let counts = Counts {
            sent: replies,
            replies,
            rejects,
            accepts: replies - rejects,
            ..Counts::default()
        };
        let hist = new_histogram();
        Report::new(
            "bench",
            "pap".into(),
            "t".into(),
            Duration::from_secs(1),
            counts,
            &hist,
            None,
        )
    }

    #[test]
    fn mostly_rejects_needs_enough_answers_and_nine_in_ten_rejects() {
        assert!(report_of(100, 90).mostly_rejects());
        assert!(report_of(1000, 1000).mostly_rejects());
        assert!(!report_of(100, 89).mostly_rejects());
        assert!(!report_of(99, 99).mostly_rejects());
        assert!(!report_of(0, 0).mostly_rejects());
    }

    #[test]
    fn rejects_warning_names_the_causes_and_the_seed_for_the_users_in_use() {
        let args = BenchArgs::try_parse_from(["bench", "--users", "250"]).unwrap();
        let w = rejects_warning(&args, &report_of(400, 390));
        for needle in [
            "390 of the 400 answers (97.5 %)",
            "not seeded",
            "--secret",
            "user0..user249",
            "generate_series(0, 249)",
            "--expect-rejects",
            "status 3",
        ] {
            assert!(w.contains(needle), "{needle} missing:\n{w}");
        }
        let args = BenchArgs::try_parse_from(["bench", "--users-file", "u.csv"]).unwrap();
        let w = rejects_warning(&args, &report_of(400, 400));
        assert!(w.contains("u.csv") && !w.contains("generate_series"), "{w}");
    }

    #[test]
    fn source_addrs_parse_as_an_inclusive_range() {
        let r = parse_source_range("127.1.0.1-127.1.19.136").unwrap();
        assert_eq!(r.len(), 5000);
        let addrs = r.addrs();
        assert_eq!(addrs.len(), 5000);
        assert_eq!(addrs[0], Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(addrs[255], Ipv4Addr::new(127, 1, 1, 0));
        assert_eq!(addrs[4999], Ipv4Addr::new(127, 1, 19, 136));
        assert_eq!(r.to_string(), "127.1.0.1-127.1.19.136");
        let one = parse_source_range("127.0.0.9").unwrap();
        assert_eq!((one.len(), one.first, one.last), (1, one.first, one.first));
        assert!(
            parse_source_range("127.1.0.9-127.1.0.1")
                .unwrap_err()
                .contains("before")
        );
        assert!(
            parse_source_range("127.1.0.1-x")
                .unwrap_err()
                .contains("not an IPv4")
        );
        assert!(parse_source_range("::1-::2").is_err());
        assert!(
            parse_source_range("10.0.0.0-10.16.0.0")
                .unwrap_err()
                .contains("at most")
        );
        assert_eq!(
            parse_source_range("10.0.0.0-10.15.255.255").unwrap().len(),
            MAX_SOURCE_ADDRS
        );
        let args =
            BenchArgs::try_parse_from(["bench", "--source-addrs", "127.2.0.1-127.2.0.3"]).unwrap();
        assert_eq!(args.source_addrs.unwrap().len(), 3);
        assert!(
            BenchArgs::try_parse_from(["bench", "--source-addrs", "127.2.0.3-127.2.0.1"]).is_err()
        );
        assert!(
            BenchArgs::try_parse_from(["bench"])
                .unwrap()
                .source_addrs
                .is_none()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn source_addrs_spread_requests_over_the_routers() {
        // A server that records the source address of every request and answers it.
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let port = server.local_addr().unwrap().port();
        let echo = std::thread::spawn(move || {
            use radius_proto::protocol::{PacketBuilder, ReplyVector};
            let signer = Signer::new(b"s");
            let mut seen = std::collections::HashMap::<std::net::IpAddr, u32>::new();
            let mut buf = [0u8; 4096];
            let mut idle = 0;
            while idle < 10 {
                let Ok((n, from)) = server.recv_from(&mut buf) else {
                    idle += 1;
                    continue;
                };
                idle = 0;
                *seen.entry(from.ip()).or_default() += 1;
                assert!(n >= 20);
                let mut auth = [0u8; 16];
                auth.copy_from_slice(&buf[4..20]);
                let reply = PacketBuilder::new(Code::AccessAccept, buf[1])
                    .with_message_authenticator()
                    .sign_response(&auth, ReplyVector::Request, &signer)
                    .unwrap();
                server.send_to(&reply, from).unwrap();
            }
            seen
        });
        let args = BenchArgs::try_parse_from([
            "bench".to_owned(),
            "--secret".into(),
            "s".into(),
            "--auth-port".into(),
            port.to_string(),
            "--users".into(),
            "50".into(),
            "--user-order".into(),
            "sequential".into(),
            "--requests".into(),
            "200".into(),
            "--sockets".into(),
            "2".into(),
            "--concurrency".into(),
            "8".into(),
            "--source-addrs".into(),
            "127.3.0.1-127.3.0.10".into(),
        ])
        .unwrap();
        let report = execute_bench(&args).await.unwrap();
        let seen = echo.join().unwrap();
        let c = report.counts;
        assert_eq!((c.sent, c.accepts, c.timeouts), (200, 200, 0), "{c:?}");
        let mut addrs: Vec<_> = seen.keys().copied().collect();
        addrs.sort();
        let want: Vec<std::net::IpAddr> = (1..=10)
            .map(|i| std::net::IpAddr::from(Ipv4Addr::new(127, 3, 0, i)))
            .collect();
        assert_eq!(addrs, want, "{seen:?}");
        assert_eq!(seen.values().sum::<u32>(), 200);
    }

    #[test]
    fn readme_documents_the_seed_line_bench_prints() {
        let readme = include_str!("../../../../README.md");
        let line = seed_command(1000);
        assert!(readme.contains(&line), "README lacks:\n{line}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hotspot_run_finishes_every_session_it_starts() {
        let r = Responder::start(ResponderConfig {
            auth_addr: "127.0.0.1:0".parse().unwrap(),
            acct_addr: None,
            secret: "s".into(),
            threads: 1,
            users: None,
        })
        .unwrap();
        let (auth, acct) = (r.auth_addr(), r.acct_addr());
        let args = BenchArgs::try_parse_from([
            "bench".to_owned(),
            "--mode".into(),
            "hotspot".into(),
            "--users".into(),
            "40".into(),
            "--concurrency".into(),
            "32".into(),
            "--sockets".into(),
            "2".into(),
            "--interims".into(),
            "3".into(),
            "--duration".into(),
            "0.3".into(),
            "--secret".into(),
            "s".into(),
            "--auth-port".into(),
            auth.port().to_string(),
            "--acct-port".into(),
            acct.port().to_string(),
        ])
        .unwrap();
        let report = execute_bench(&args).await.unwrap();
        let _ = r.stop();
        let c = report.counts;
        assert!(c.sessions > 0, "{c:?}");
        assert_eq!(c.timeouts + c.rejects + c.bad_replies, 0, "{c:?}");
        // Drained: every accepted login went on to its Stop.
        assert_eq!(c.accepts, c.sessions, "{c:?}");
        assert_eq!(c.acct_responses, 5 * c.sessions, "{c:?}");
        assert_eq!(c.sent, c.replies, "{c:?}");
        assert!(report.sessions_per_s > 0.0);
        assert!(report.to_table().contains("sessions/s"));
    }
}
