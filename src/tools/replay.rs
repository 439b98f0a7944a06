//! `hotspot-radius replay`: send the RADIUS requests of a pcap/pcapng capture to a target,
//! at the capture's pacing (scaled by `--speed`) or at a fixed `--rate`, re-signed for the
//! target's secret, and report like `bench`.
//!
//! Re-signing, per request: User-Password is unhidden with the capture's secret and the
//! original authenticator, then hidden again under the target's secret and a new random
//! authenticator; Message-Authenticator and computed Request Authenticators are recomputed;
//! NAS-IP-Address is optionally rewritten. A CHAP request without CHAP-Challenge uses its
//! authenticator as the challenge, so it keeps its original authenticator (CHAP-Password
//! does not depend on the secret, so it still verifies).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::bench::{EngineRun, run_engine};
use super::engine::{Flow, Generator, Out, Pacing};
use super::pcap;
use super::wire::{self, FastRng, Signer};
use super::{Expect, Report};
use radius_proto::protocol::attrs;

/// `hotspot-radius replay`: replay the RADIUS requests of a capture against a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// pcap or pcapng capture file.
    pub file: PathBuf,
    /// Server host or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub server: String,
    /// Authentication port (Access-Request, Status-Server).
    #[arg(long, default_value_t = 1812)]
    pub auth_port: u16,
    /// Accounting port (Accounting-Request).
    #[arg(long, default_value_t = 1813)]
    pub acct_port: u16,
    /// Dynamic-authorization port (CoA-Request, Disconnect-Request).
    #[arg(long, default_value_t = 3799)]
    pub coa_port: u16,
    /// The target's shared secret.
    #[arg(
        long,
        env = "RADIUS_SECRET",
        default_value = "testing123",
        hide_env_values = true
    )]
    pub secret: String,
    /// The secret the captured requests were signed with (default: `--secret`).
    #[arg(long)]
    pub capture_secret: Option<String>,
    /// UDP ports whose traffic is RADIUS in the capture.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1812,1813,1645,1646,3799"
    )]
    pub ports: Vec<u16>,
    /// Replay faster (2 = twice as fast) or slower than captured.
    #[arg(long, default_value_t = 1.0, conflicts_with = "rate")]
    pub speed: f64,
    /// Ignore capture timing: send at this many requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Replay the capture this many times.
    #[arg(long = "loop", default_value_t = 1)]
    pub loops: u32,
    /// Rewrite NAS-IP-Address to this address.
    #[arg(long)]
    pub nas_ip: Option<Ipv4Addr>,
    /// Seconds to wait for a reply before retransmitting or giving up.
    #[arg(long, default_value_t = 1.1)]
    pub timeout: f64,
    /// Retransmissions before counting a timeout.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// UDP sockets (threads); requests are dealt round-robin.
    #[arg(long, default_value_t = 1)]
    pub sockets: usize,
    /// Stop after this many seconds even if the capture is not done.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero unless every request got this outcome.
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
}

/// Parses `ReplayArgs` on its own (tests, examples).
#[derive(Debug, clap::Parser)]
struct ReplayOnly {
    #[command(flatten)]
    args: ReplayArgs,
}

impl ReplayArgs {
    /// Parse from command-line words (the first is the program name), as clap would.
    pub fn try_parse_from<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <ReplayOnly as clap::Parser>::try_parse_from(words).map(|b| b.args)
    }
}

/// One captured request, prepared for re-signing.
#[derive(Debug, Clone)]
struct Prepared {
    offset: Duration,
    template: Vec<u8>,
    ma: Option<usize>,
    /// (value offset, hidden length, plaintext, plaintext length).
    password: Option<(usize, usize, [u8; 128], usize)>,
    keep_auth: bool,
}

/// What preparing a capture found (printed as notes).
#[derive(Debug, Default, Clone, Copy)]
pub struct CaptureSummary {
    /// Requests kept for replay.
    pub requests: usize,
    /// CHAP requests without CHAP-Challenge (original authenticator kept).
    pub chap_keep_authenticator: usize,
    /// Requests whose Message-Authenticator or Request Authenticator did not verify with the
    /// capture secret (their passwords will be garbage).
    pub capture_secret_mismatch: usize,
    /// Datagrams on RADIUS ports that were not requests or were malformed.
    pub skipped: usize,
}

fn prepare(args: &ReplayArgs) -> anyhow::Result<(Vec<Prepared>, CaptureSummary)> {
    let datagrams = pcap::read_udp(&args.file, &args.ports)?;
    let cap = Signer::new(
        args.capture_secret
            .as_deref()
            .unwrap_or(&args.secret)
            .as_bytes(),
    );
    let mut summary = CaptureSummary::default();
    let mut out = Vec::new();
    let first = datagrams
        .iter()
        .filter(|d| args.ports.contains(&d.dst.port()))
        .map(|d| d.time)
        .min()
        .unwrap_or_default();
    for d in &datagrams {
        let code = d.data.first().copied().unwrap_or(0);
        let Some(pkt) = wire::packet_bytes(&d.data) else {
            summary.skipped += 1;
            continue;
        };
        if !args.ports.contains(&d.dst.port()) || !matches!(code, 1 | 4 | 12 | 40 | 43) {
            summary.skipped += 1;
            continue;
        }
        let body = &pkt[20..];
        let find = |typ| wire::find_attr(body, typ).map(|o| o.map(|(off, len)| (off + 20, len)));
        let (Ok(ma), Ok(pw), Ok(chap), Ok(challenge), Ok(nas_ip)) = (
            find(attrs::MESSAGE_AUTHENTICATOR),
            find(attrs::USER_PASSWORD),
            find(attrs::CHAP_PASSWORD),
            find(attrs::CHAP_CHALLENGE),
            find(attrs::NAS_IP_ADDRESS),
        ) else {
            summary.skipped += 1;
            continue;
        };
        let mut template = pkt.to_vec();
        let computed = matches!(code, 4 | 40 | 43);
        let verified = if computed {
            cap.verify_computed_request(pkt)
        } else {
            cap.verify_request_ma(pkt, false).is_ok()
        };
        if !verified {
            summary.capture_secret_mismatch += 1;
        }
        let mut password = None;
        if let (Some((off, len)), 1) = (pw, code)
            && len % 16 == 0
            && (16..=128).contains(&len)
        {
            let mut orig = [0u8; 16];
            orig.copy_from_slice(&pkt[4..20]);
            let mut plain = [0u8; 128];
            let n = cap.unhide_password(&pkt[off..off + len], &orig, &mut plain);
            password = Some((off, len, plain, n));
        }
        let keep_auth = code == 1 && chap.is_some() && challenge.is_none();
        if keep_auth {
            summary.chap_keep_authenticator += 1;
        }
        if let (Some(ip), Some((off, 4))) = (args.nas_ip, nas_ip) {
            template[off..off + 4].copy_from_slice(&ip.octets());
        }
        out.push(Prepared {
            offset: d.time.saturating_sub(first),
            template,
            ma: ma.filter(|&(_, l)| l == 16).map(|(o, _)| o),
            password,
            keep_auth,
        });
    }
    out.sort_by_key(|p| p.offset);
    summary.requests = out.len();
    Ok((out, summary))
}

struct ReplayGen {
    items: std::sync::Arc<Vec<Prepared>>,
    signer: Signer,
    rng: FastRng,
    /// Next global index for this worker.
    next: u64,
    step: u64,
    total: u64,
    period: Duration,
    speed: f64,
}

impl ReplayGen {
    fn offset_of(&self, k: u64) -> Option<Duration> {
        let n = self.items.len() as u64;
        if k >= self.total || n == 0 {
            return None;
        }
        let item = self.items.get((k % n) as usize)?;
        let t = self.period * ((k / n) as u32) + item.offset;
        Some(t.div_f64(self.speed))
    }
}

impl Generator for ReplayGen {
    fn start(&mut self, id: u8, flow: &mut Flow, out: &mut Out<'_>) -> bool {
        let n = self.items.len() as u64;
        if self.next >= self.total || n == 0 {
            return false;
        }
        let idx = (self.next % n) as usize;
        self.next += self.step;
        let Some(p) = self.items.get(idx) else {
            return false;
        };
        flow.item = idx as u32;
        let len = p.template.len();
        out.buf[..len].copy_from_slice(&p.template);
        out.buf[1] = id;
        let code = p.template[0];
        match code {
            4 | 40 | 43 => {
                out.req_auth = self.signer.sign_computed_request(&mut out.buf[..len], p.ma);
            }
            _ => {
                let auth = if p.keep_auth {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&p.template[4..20]);
                    a
                } else {
                    self.rng.bytes16()
                };
                out.buf[4..20].copy_from_slice(&auth);
                if let Some((off, hlen, plain, plen)) = &p.password {
                    self.signer.hide_password(
                        &plain[..*plen],
                        &auth,
                        &mut out.buf[*off..*off + *hlen],
                    );
                }
                self.signer.sign_access_request(&mut out.buf[..len], p.ma);
                out.req_auth = auth;
            }
        }
        out.len = len;
        out.dest = match code {
            4 => 1,
            40 | 43 => 2,
            _ => 0,
        };
        true
    }

    fn advance(
        &mut self,
        _id: u8,
        _reply: Option<u8>,
        _flow: &mut Flow,
        _out: &mut Out<'_>,
    ) -> bool {
        false
    }

    fn next_offset(&self) -> Option<Duration> {
        self.offset_of(self.next)
    }
}

/// Run the replay and return its report (no printing), with what the capture held.
pub async fn execute_replay(args: &ReplayArgs) -> anyhow::Result<(Report, CaptureSummary)> {
    let (items, summary) = prepare(args)?;
    if items.is_empty() {
        bail!(
            "{}: no RADIUS requests on ports {:?}",
            args.file.display(),
            args.ports
        );
    }
    if args.speed.is_nan() || args.speed <= 0.0 {
        bail!("--speed must be positive");
    }
    let auth = super::bench::resolve(&args.server, args.auth_port)?;
    let dests = vec![
        auth,
        SocketAddr::new(auth.ip(), args.acct_port),
        SocketAddr::new(auth.ip(), args.coa_port),
    ];
    let span = items.last().map(|p| p.offset).unwrap_or_default();
    let period = span + (span / items.len() as u32).max(Duration::from_millis(1));
    let sockets = args.sockets.clamp(1, 64);
    let total = items.len() as u64 * u64::from(args.loops.max(1));
    let items = std::sync::Arc::new(items);
    let signer = Signer::new(args.secret.as_bytes());
    let gens: Vec<Box<dyn Generator>> = (0..sockets)
        .map(|w| {
            Box::new(ReplayGen {
                items: items.clone(),
                signer: signer.clone(),
                rng: FastRng::from_os(),
                next: w as u64,
                step: sockets as u64,
                total,
                period,
                speed: args.speed,
            }) as Box<dyn Generator>
        })
        .collect();
    let rate = args.rate;
    let report = run_engine(
        "replay",
        args.file.display().to_string(),
        dests,
        EngineRun {
            signer,
            timeout: Duration::from_secs_f64(args.timeout.clamp(0.001, 3600.0)),
            retries: args.retries,
            duration: args.duration.map(Duration::from_secs_f64),
            requests: None,
            record: None,
            expect: args.expect,
            single_dest: None,
        },
        gens,
        move |_| match rate {
            Some(r) => Pacing::Rate(r.max(0.001) / sockets as f64),
            None => Pacing::Timestamps,
        },
    )
    .await?;
    Ok((report, summary))
}

/// `hotspot-radius replay`: run, print notes on stderr and the report on stdout, return the
/// exit code (1 when `--expect` failed).
pub async fn run_replay(args: ReplayArgs) -> anyhow::Result<i32> {
    let (report, s) = execute_replay(&args).await?;
    eprintln!(
        "replay: {} requests from {} ({} other datagrams skipped)",
        s.requests,
        args.file.display(),
        s.skipped
    );
    if s.chap_keep_authenticator > 0 {
        eprintln!(
            "replay: {} CHAP requests have no CHAP-Challenge (the authenticator is the challenge): \
             their original authenticator is kept so CHAP still verifies",
            s.chap_keep_authenticator
        );
    }
    if s.capture_secret_mismatch > 0 {
        eprintln!(
            "replay: warning: {} requests did not verify with the capture secret; \
             their re-hidden passwords will be wrong (check --capture-secret)",
            s.capture_secret_mismatch
        );
    }
    report.print(args.json);
    Ok(report.exit_code())
}
