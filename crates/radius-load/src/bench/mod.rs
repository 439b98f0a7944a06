//! `hotspot-radius bench`: synthetic load that looks like a MikroTik hotspot (or PPPoE
//! for MS-CHAPv2): PAP / CHAP / MS-CHAPv2 Access-Requests, accounting sessions (Start,
//! Interim-Updates, Stop), or whole hotspot sessions (login, then accounting if accepted).
//!
//! This module holds the arguments and the run; `traffic` writes the requests.

mod traffic;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use radius_proto::protocol::Signer;

use crate::args::{RunArgs, TargetArgs, parse_alone};
use crate::engine::Pacing;
use crate::error::LoadError;
use crate::report::Report;
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
    /// NAS-Identifier sent (the router's identity).
    #[arg(long, default_value = "MikroTik-bench")]
    pub nas_identifier: String,
    /// Called-Station-Id sent (the hotspot server name).
    #[arg(long, default_value = "hotspot1")]
    pub called_station_id: String,
    /// Write the requests sent and replies received to this classic pcap file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Run the trivial responder on `--server`/`--auth-port`/`--acct-port` instead
    /// (answers everything, to measure bench itself); stops after `--duration` or Ctrl-C.
    /// Same as `hotspot-radius responder`, with `--sockets` threads.
    #[arg(long, hide = true)]
    pub responder: bool,
}

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
        },
        gens,
        pacing,
    )
    .await
}

/// `hotspot-radius bench`: run, print the report (table or `--json`), return the exit code
/// (1 when `--expect` failed). With `--responder`, run the trivial responder instead.
pub async fn run_bench(args: BenchArgs) -> Result<i32, LoadError> {
    if args.responder {
        return responder::run_responder(ResponderArgs {
            target: args.target,
            threads: args.sockets.unwrap_or(1),
            duration: args.duration,
        })
        .await;
    }
    let report = execute_bench(&args).await?;
    report.print(args.run.json);
    if args.mode == Mode::Hotspot && report.counts.rejects > 0 {
        eprintln!(
            "bench: {} hotspot logins were REJECTED; every bench session should be accepted: \
             check the users, their passwords and Simultaneous-Use",
            report.counts.rejects
        );
    }
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use crate::responder::{Responder, ResponderConfig};

    use super::*;

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
