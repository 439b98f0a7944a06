//! `hotspot-radius bench`: synthetic load that looks like a MikroTik hotspot (or PPPoE
//! for MS-CHAPv2): PAP / CHAP / MS-CHAPv2 Access-Requests, accounting sessions (Start,
//! Interim-Updates, Stop), or whole hotspot sessions (login, then accounting if accepted).
//!
//! Requests are written straight into the engine's per-identifier buffers: the constant
//! attributes are encoded once per worker, per-request fields (identifier, authenticator,
//! user, password or CHAP/MS-CHAPv2 response, session fields, Message-Authenticator) are
//! written in place, so nothing is allocated per request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::engine::{self, Flow, Generator, Out, Pacing, Shared, WorkerConfig};
use super::wire::{self, FastRng, MA_ATTR_LEN, Signer};
use super::{Expect, Report, pcap, responder};
use radius_proto::auth::mschapv2;
use radius_proto::protocol::AcctStatus;
use radius_proto::protocol::attrs::{self, microsoft};

/// What kind of traffic `bench` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Access-Request with User-Password.
    Pap,
    /// Access-Request with CHAP-Password and CHAP-Challenge (hotspot `http-chap`).
    Chap,
    /// Access-Request with MS-CHAP-Challenge and MS-CHAP2-Response (PPPoE).
    Mschapv2,
    /// Accounting sessions: Start, `--interims` Interim-Updates, Stop.
    Acct,
    /// Hotspot sessions: Access-Request (CHAP or PAP); if accepted, Start, interims, Stop.
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
    /// Server host or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub server: String,
    /// Authentication port.
    #[arg(long, default_value_t = 1812)]
    pub auth_port: u16,
    /// Accounting port.
    #[arg(long, default_value_t = 1813)]
    pub acct_port: u16,
    /// Shared secret.
    #[arg(
        long,
        env = "RADIUS_SECRET",
        default_value = "testing123",
        hide_env_values = true
    )]
    pub secret: String,
    /// CSV file of `user,password` lines (a `user,password` header line is skipped).
    #[arg(long)]
    pub users_file: Option<PathBuf>,
    /// Without `--users-file`: users `user0..user{N-1}` with passwords `pass0..`.
    #[arg(long, default_value_t = 1000)]
    pub users: u32,
    /// Order in which users are picked.
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
    /// Seconds to wait for a reply before retransmitting or giving up.
    #[arg(long, default_value_t = 1.1)]
    pub timeout: f64,
    /// Retransmissions (same identifier and authenticator) before counting a timeout.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
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
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero unless every request got this outcome.
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
    /// Write the requests sent and replies received to this classic pcap file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Run the trivial responder on `--server`/`--auth-port`/`--acct-port` instead
    /// (answers everything, to measure bench itself); stops after `--duration` or Ctrl-C.
    #[arg(long, hide = true)]
    pub responder: bool,
}

/// Parses `BenchArgs` on its own (tests, examples): the first item is the program name.
#[derive(Debug, clap::Parser)]
struct BenchOnly {
    #[command(flatten)]
    args: BenchArgs,
}

impl BenchArgs {
    /// Parse from command-line words (the first is the program name), as clap would.
    pub fn try_parse_from<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <BenchOnly as clap::Parser>::try_parse_from(words).map(|b| b.args)
    }
}

/// Users to log in as.
#[derive(Debug)]
pub(crate) struct Users {
    names: Vec<String>,
    passwords: Vec<String>,
    nt_hashes: Vec<[u8; 16]>,
}

impl Users {
    fn load(args: &BenchArgs) -> anyhow::Result<Self> {
        let (mut names, mut passwords) = (Vec::new(), Vec::new());
        if let Some(path) = &args.users_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading users file {}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((u, p)) = line.split_once(',') else {
                    bail!("{}:{}: expected user,password", path.display(), n + 1);
                };
                if n == 0 && u.eq_ignore_ascii_case("user") && p.eq_ignore_ascii_case("password") {
                    continue;
                }
                names.push(u.to_owned());
                passwords.push(p.to_owned());
            }
        } else {
            for i in 0..args.users {
                names.push(format!("user{i}"));
                passwords.push(format!("pass{i}"));
            }
        }
        if names.is_empty() {
            bail!("no users");
        }
        if passwords.iter().any(|p| p.len() > 128) {
            bail!("a password is longer than 128 bytes");
        }
        let nt_hashes = if args.mode == Mode::Mschapv2 {
            passwords
                .iter()
                .map(|p| mschapv2::nt_hash(p.as_bytes()))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            names,
            passwords,
            nt_hashes,
        })
    }
}

/// Fields the same for every request of a run.
#[derive(Debug)]
struct Fixed {
    mode: Mode,
    hotspot_auth: HotspotAuth,
    order: UserOrder,
    interims: u32,
    with_ma: bool,
    nas_ip: [u8; 4],
    nas_identifier: String,
    called: String,
}

/// One worker's generator.
struct BenchGen {
    fixed: Arc<Fixed>,
    users: Arc<Users>,
    signer: Signer,
    rng: FastRng,
    next_user: u64,
    next_session: u64,
    session_step: u64,
    session_base: u64,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

impl BenchGen {
    fn pick_user(&mut self) -> u32 {
        let n = self.users.names.len() as u64;
        let i = match self.fixed.order {
            UserOrder::Random => self.rng.below(n),
            UserOrder::Sequential => {
                let i = self.next_user % n;
                self.next_user += 1;
                i
            }
        };
        i as u32
    }

    /// Header placeholder, Message-Authenticator, and the attributes every request of a
    /// session carries. Returns (position, MA value offset).
    fn common(&self, out: &mut Out<'_>, flow: &Flow, pppoe: bool) -> (usize, Option<usize>) {
        let buf = &mut out.buf[..];
        let mut pos = 20;
        let mut ma = None;
        if self.fixed.with_ma {
            buf[20] = attrs::MESSAGE_AUTHENTICATOR;
            buf[21] = MA_ATTR_LEN as u8;
            ma = Some(22);
            pos = 20 + MA_ATTR_LEN;
        }
        let user = usize::try_from(flow.item).unwrap_or(0);
        let name = self
            .users
            .names
            .get(user)
            .map_or(&b""[..], |s| s.as_bytes());
        wire::put_attr(buf, &mut pos, attrs::USER_NAME, name);
        wire::put_attr(buf, &mut pos, attrs::NAS_IP_ADDRESS, &self.fixed.nas_ip);
        let s = self.session_base.wrapping_add(flow.session);
        wire::put_attr(buf, &mut pos, attrs::NAS_PORT, &(s as u32).to_be_bytes());
        if pppoe {
            wire::put_attr(buf, &mut pos, attrs::SERVICE_TYPE, &2u32.to_be_bytes());
            wire::put_attr(buf, &mut pos, attrs::FRAMED_PROTOCOL, &1u32.to_be_bytes());
            wire::put_attr(buf, &mut pos, attrs::NAS_PORT_TYPE, &15u32.to_be_bytes());
        } else {
            wire::put_attr(buf, &mut pos, attrs::SERVICE_TYPE, &1u32.to_be_bytes());
            wire::put_attr(buf, &mut pos, attrs::NAS_PORT_TYPE, &19u32.to_be_bytes());
        }
        wire::put_attr(
            buf,
            &mut pos,
            attrs::CALLED_STATION_ID,
            self.fixed.called.as_bytes(),
        );
        let mut mac = *b"02:00:00:00:00:00";
        for k in 0..5 {
            let byte = (flow.session >> (8 * (4 - k))) as u8;
            mac[3 + 3 * k] = HEX[usize::from(byte >> 4)];
            mac[4 + 3 * k] = HEX[usize::from(byte & 15)];
        }
        wire::put_attr(buf, &mut pos, attrs::CALLING_STATION_ID, &mac);
        wire::put_attr(
            buf,
            &mut pos,
            attrs::NAS_IDENTIFIER,
            self.fixed.nas_identifier.as_bytes(),
        );
        let mut sid = [0u8; 16];
        for (k, c) in sid.iter_mut().enumerate() {
            *c = HEX[((s >> (60 - 4 * k)) & 15) as usize].to_ascii_lowercase();
        }
        wire::put_attr(buf, &mut pos, attrs::ACCT_SESSION_ID, &sid);
        let ip = [
            10,
            (flow.session >> 16) as u8,
            (flow.session >> 8) as u8,
            (flow.session as u8).max(1),
        ];
        wire::put_attr(buf, &mut pos, attrs::FRAMED_IP_ADDRESS, &ip);
        (pos, ma)
    }

    fn write_access(&mut self, id: u8, flow: &Flow, method: Mode, out: &mut Out<'_>) {
        let auth = self.rng.bytes16();
        out.buf[4..20].copy_from_slice(&auth);
        let (mut pos, ma) = self.common(out, flow, method == Mode::Mschapv2);
        let user = usize::try_from(flow.item).unwrap_or(0);
        let password = self
            .users
            .passwords
            .get(user)
            .map_or(&b""[..], |p| p.as_bytes());
        let buf = &mut out.buf[..];
        match method {
            Mode::Chap => {
                let challenge = self.rng.bytes16();
                let ident = (self.rng.next_u64() & 0xff) as u8;
                let hash = self.signer_free_md5(&[&[ident], password, &challenge]);
                let mut value = [0u8; 17];
                value[0] = ident;
                value[1..].copy_from_slice(&hash);
                wire::put_attr(buf, &mut pos, attrs::CHAP_PASSWORD, &value);
                wire::put_attr(buf, &mut pos, attrs::CHAP_CHALLENGE, &challenge);
            }
            Mode::Mschapv2 => {
                let challenge = self.rng.bytes16();
                let peer = self.rng.bytes16();
                let name = self
                    .users
                    .names
                    .get(user)
                    .map_or(&b""[..], |s| s.as_bytes());
                let nt = self.users.nt_hashes.get(user).copied().unwrap_or_default();
                let resp = mschapv2::nt_response(&challenge, &peer, name, &nt);
                let mut value = [0u8; 50];
                value[0] = (self.rng.next_u64() & 0xff) as u8;
                value[2..18].copy_from_slice(&peer);
                value[26..].copy_from_slice(&resp);
                wire::put_vendor(
                    buf,
                    &mut pos,
                    microsoft::VENDOR_ID,
                    microsoft::MS_CHAP_CHALLENGE,
                    &challenge,
                );
                wire::put_vendor(
                    buf,
                    &mut pos,
                    microsoft::VENDOR_ID,
                    microsoft::MS_CHAP2_RESPONSE,
                    &value,
                );
            }
            _ => {
                let hidden_len = password.len().div_ceil(16).max(1) * 16;
                buf[pos] = attrs::USER_PASSWORD;
                buf[pos + 1] = (hidden_len + 2) as u8;
                self.signer
                    .hide_password(password, &auth, &mut buf[pos + 2..pos + 2 + hidden_len]);
                pos += 2 + hidden_len;
            }
        }
        wire::put_header(buf, 1, id, pos);
        self.signer.sign_access_request(&mut buf[..pos], ma);
        out.len = pos;
        out.dest = 0;
        out.req_auth = auth;
    }

    fn signer_free_md5(&self, parts: &[&[u8]]) -> [u8; 16] {
        use md5::{Digest, Md5};
        let mut m = Md5::new();
        for p in parts {
            m.update(p);
        }
        m.finalize().into()
    }

    fn write_acct(&mut self, id: u8, flow: &Flow, status: AcctStatus, out: &mut Out<'_>) {
        let (mut pos, ma) = self.common(out, flow, false);
        let buf = &mut out.buf[..];
        wire::put_attr(
            buf,
            &mut pos,
            attrs::ACCT_STATUS_TYPE,
            &status.as_u32().to_be_bytes(),
        );
        wire::put_attr(buf, &mut pos, attrs::ACCT_AUTHENTIC, &1u32.to_be_bytes());
        wire::put_attr(buf, &mut pos, attrs::ACCT_DELAY_TIME, &0u32.to_be_bytes());
        if status != AcctStatus::Start {
            let t = flow.step.max(1);
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_SESSION_TIME,
                &(t * 60).to_be_bytes(),
            );
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_INPUT_OCTETS,
                &(t * 250_000).to_be_bytes(),
            );
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_OUTPUT_OCTETS,
                &(t * 2_000_000).to_be_bytes(),
            );
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_INPUT_GIGAWORDS,
                &0u32.to_be_bytes(),
            );
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_OUTPUT_GIGAWORDS,
                &0u32.to_be_bytes(),
            );
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_INPUT_PACKETS,
                &(t * 400).to_be_bytes(),
            );
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_OUTPUT_PACKETS,
                &(t * 1600).to_be_bytes(),
            );
        }
        if status == AcctStatus::Stop {
            wire::put_attr(
                buf,
                &mut pos,
                attrs::ACCT_TERMINATE_CAUSE,
                &1u32.to_be_bytes(),
            );
        }
        wire::put_header(buf, 4, id, pos);
        out.req_auth = self.signer.sign_computed_request(&mut buf[..pos], ma);
        out.len = pos;
        out.dest = 1;
    }

    /// Write accounting step `step` (0 = Start) of a session; false after the Stop.
    fn acct_step(&mut self, id: u8, flow: &mut Flow, step: u32, out: &mut Out<'_>) -> bool {
        let interims = self.fixed.interims;
        let status = match step {
            0 => AcctStatus::Start,
            s if s <= interims => AcctStatus::InterimUpdate,
            s if s == interims + 1 => AcctStatus::Stop,
            _ => return false,
        };
        flow.step = step;
        self.write_acct(id, flow, status, out);
        true
    }
}

impl Generator for BenchGen {
    fn start(&mut self, id: u8, flow: &mut Flow, out: &mut Out<'_>) -> bool {
        *flow = Flow {
            session: self.next_session,
            item: self.pick_user(),
            step: 0,
            variant: 0,
        };
        self.next_session += self.session_step;
        match self.fixed.mode {
            Mode::Acct => self.acct_step(id, flow, 0, out),
            Mode::Hotspot => {
                let m = match self.fixed.hotspot_auth {
                    HotspotAuth::Chap => Mode::Chap,
                    HotspotAuth::Pap => Mode::Pap,
                };
                self.write_access(id, flow, m, out);
                flow.variant = 1;
                true
            }
            m => {
                self.write_access(id, flow, m, out);
                true
            }
        }
    }

    fn advance(&mut self, id: u8, reply: Option<u8>, flow: &mut Flow, out: &mut Out<'_>) -> bool {
        match self.fixed.mode {
            Mode::Acct => self.acct_step(id, flow, flow.step + 1, out),
            Mode::Hotspot if flow.variant == 1 => {
                // Login answered: accounting only when accepted.
                flow.variant = 2;
                reply == Some(2) && self.acct_step(id, flow, 0, out)
            }
            Mode::Hotspot => self.acct_step(id, flow, flow.step + 1, out),
            _ => false,
        }
    }
}

pub(crate) fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))
}

/// Number of CPU cores.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Run the benchmark and return its report (no printing). This is what tests call.
pub async fn execute_bench(args: &BenchArgs) -> anyhow::Result<Report> {
    let users = Arc::new(Users::load(args)?);
    let auth = resolve(&args.server, args.auth_port)?;
    let acct = SocketAddr::new(auth.ip(), args.acct_port);
    let fixed = Arc::new(Fixed {
        mode: args.mode,
        hotspot_auth: args.hotspot_auth,
        order: args.user_order,
        interims: args.interims,
        with_ma: !args.no_message_authenticator,
        nas_ip: args.nas_ip.octets(),
        nas_identifier: args.nas_identifier.clone(),
        called: args.called_station_id.clone(),
    });
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(10.0),
        (d, _) => d,
    };
    if !(args.timeout > 0.0 && args.timeout < 3600.0) {
        bail!("--timeout must be between 0 and 3600 seconds");
    }
    let concurrency = args.concurrency.unwrap_or(64).max(1);
    let mut sockets = args.sockets.unwrap_or_else(cores).max(1);
    if args.rate.is_none() {
        sockets = sockets.min(concurrency);
    }
    // Each socket has 256 identifiers.
    sockets = sockets.max(concurrency.div_ceil(256));
    let signer = Signer::new(args.secret.as_bytes());
    let session_base = FastRng::from_os().next_u64() >> 8;
    let gens: Vec<Box<dyn Generator>> = (0..sockets)
        .map(|w| {
            Box::new(BenchGen {
                fixed: fixed.clone(),
                users: users.clone(),
                signer: signer.clone(),
                rng: FastRng::from_os(),
                next_user: (w as u64) * (users.names.len() as u64) / sockets as u64,
                next_session: w as u64,
                session_step: sockets as u64,
                session_base,
            }) as Box<dyn Generator>
        })
        .collect();
    let pacing = |w: usize| match args.rate {
        Some(r) => Pacing::Rate(r.max(0.001) / sockets as f64),
        None => Pacing::Closed(concurrency / sockets + usize::from(w < concurrency % sockets)),
    };
    let report = run_engine(
        "bench",
        format!("{:?}", args.mode).to_lowercase(),
        vec![auth, acct],
        EngineRun {
            signer,
            timeout: Duration::from_secs_f64(args.timeout),
            retries: args.retries,
            duration: duration.map(Duration::from_secs_f64),
            requests: args.requests,
            record: args.record.clone(),
            expect: args.expect,
            single_dest: match args.mode {
                Mode::Pap | Mode::Chap | Mode::Mschapv2 => Some(0),
                Mode::Acct => Some(1),
                Mode::Hotspot => None,
            },
        },
        gens,
        pacing,
    )
    .await?;
    Ok(report)
}

/// Settings common to bench and replay runs.
pub(crate) struct EngineRun {
    pub(crate) signer: Signer,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) duration: Option<Duration>,
    pub(crate) requests: Option<u64>,
    pub(crate) record: Option<PathBuf>,
    pub(crate) expect: Option<Expect>,
    /// Index of the only destination used, when there is one.
    pub(crate) single_dest: Option<usize>,
}

/// Run one engine worker per generator, with the progress line, Ctrl-C handling and
/// optional recording; merge the results into a report.
pub(crate) async fn run_engine(
    tool: &'static str,
    mode: String,
    dests: Vec<SocketAddr>,
    run: EngineRun,
    gens: Vec<Box<dyn Generator>>,
    pacing: impl Fn(usize) -> Pacing,
) -> anyhow::Result<Report> {
    let shared = Arc::new(Shared {
        budget: AtomicI64::new(
            run.requests
                .map_or(i64::MAX, |r| i64::try_from(r).unwrap_or(i64::MAX)),
        ),
        stop: AtomicBool::new(false),
        live: (0..gens.len()).map(|_| engine::Live::default()).collect(),
    });
    let (record_tx, recorder) = match &run.record {
        Some(path) => {
            let (tx, rx) = std::sync::mpsc::sync_channel::<engine::Record>(1 << 16);
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let handle = std::thread::spawn(move || pcap::write_records(file, rx));
            (Some(tx), Some(handle))
        }
        None => (None, None),
    };
    let started = Instant::now();
    let deadline = run.duration.map(|d| started + d);
    let mut handles = Vec::new();
    for (i, generator) in gens.into_iter().enumerate() {
        let cfg = WorkerConfig {
            index: i,
            dests: dests.clone(),
            signer: run.signer.clone(),
            timeout: run.timeout,
            retries: run.retries,
            deadline,
            pacing: pacing(i),
            single_dest: run.single_dest,
            shared: shared.clone(),
            record: record_tx.clone(),
        };
        handles.push(
            std::thread::Builder::new()
                .name(format!("{tool}-{i}"))
                .spawn(move || engine::run_worker(cfg, generator))
                .context("spawning worker thread")?,
        );
    }
    drop(record_tx);
    let progress = super::spawn_progress(shared.clone());
    let stopper = {
        let shared = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shared.stop.store(true, Ordering::Relaxed);
            }
        })
    };
    let joined = tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("worker thread panicked"))?
                    .map_err(anyhow::Error::from)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await
    .context("joining workers")?;
    let elapsed = started.elapsed();
    shared.stop.store(true, Ordering::Relaxed);
    stopper.abort();
    progress.abort();
    let results = joined?;
    if let Some(r) = recorder {
        r.join()
            .map_err(|_| anyhow::anyhow!("pcap writer panicked"))??;
    }
    let (counts, hist) = engine::merge(results);
    let target = dests.first().map(ToString::to_string).unwrap_or_default();
    Ok(Report::new(
        tool, mode, target, elapsed, counts, &hist, run.expect,
    ))
}

/// `hotspot-radius bench`: run, print the report (table or `--json`), return the exit code
/// (1 when `--expect` failed).
pub async fn run_bench(args: BenchArgs) -> anyhow::Result<i32> {
    if args.responder {
        let auth = resolve(&args.server, args.auth_port)?;
        let acct = SocketAddr::new(auth.ip(), args.acct_port);
        let r = responder::Responder::start(responder::ResponderConfig {
            auth_addr: auth,
            acct_addr: Some(acct),
            secret: args.secret.clone(),
            threads: args.sockets.unwrap_or(1),
            users: None,
        })?;
        eprintln!("responder on {} and {}", r.auth_addr(), r.acct_addr());
        match args.duration {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(d)) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        let s = r.stats();
        eprintln!("responder answered {} requests", s.replied);
        return Ok(0);
    }
    let report = execute_bench(&args).await?;
    report.print(args.json);
    Ok(report.exit_code())
}
