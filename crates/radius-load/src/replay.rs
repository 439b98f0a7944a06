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
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use radius_proto::protocol::{Code, Packet, Password, Signer, attrs};

use crate::args::{RunArgs, TargetArgs, parse_alone};
use crate::engine::{Flow, Generator, Out, Pacing};
use crate::error::LoadError;
use crate::pcap;
use crate::report::Report;
use crate::report_file::ReportFormat;
use crate::rng::FastRng;
use crate::run::{EngineRun, run_engine};

/// `hotspot-radius replay`: replay the RADIUS requests of a capture against a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// pcap or pcapng capture file.
    pub file: PathBuf,
    /// The server and its secret (the captured requests are re-signed with it).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Dynamic-authorization port (CoA-Request, Disconnect-Request).
    #[arg(long, default_value_t = 3799)]
    pub coa_port: u16,
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
    /// Reply timeout, retransmissions, report format, expected outcome.
    #[command(flatten)]
    pub run: RunArgs,
    /// UDP sockets (threads); requests are dealt round-robin.
    #[arg(long, default_value_t = 1)]
    pub sockets: usize,
    /// Stop after this many seconds even if the capture is not done.
    #[arg(long)]
    pub duration: Option<f64>,
}

impl ReplayArgs {
    /// Parse from command-line words (the first is the program name), as clap would.
    pub fn try_parse_from<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        parse_alone(words)
    }
}

/// One captured request, prepared for re-signing.
#[derive(Debug, Clone)]
struct Prepared {
    offset: Duration,
    /// The captured packet (NAS-IP-Address already rewritten).
    template: Vec<u8>,
    /// Where its User-Password value sits, and the password unhidden with the capture's
    /// secret, to hide again under the target's.
    password: Option<(Range<usize>, Password)>,
    /// CHAP without CHAP-Challenge: the authenticator is the challenge, so keep it.
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

/// Read the capture and prepare every request on `--ports` for re-signing.
fn prepare(args: &ReplayArgs) -> Result<(Vec<Prepared>, CaptureSummary), LoadError> {
    let datagrams = pcap::read_udp(&args.file, &args.ports)?;
    let cap = Signer::new(
        args.capture_secret
            .as_deref()
            .unwrap_or(&args.target.secret)
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
        let Ok(packet) = Packet::decode(&d.data) else {
            summary.skipped += 1;
            continue;
        };
        let code = packet.code();
        let request = matches!(
            code,
            Code::AccessRequest
                | Code::AccountingRequest
                | Code::StatusServer
                | Code::DisconnectRequest
                | Code::CoaRequest
        );
        if !args.ports.contains(&d.dst.port()) || !request {
            summary.skipped += 1;
            continue;
        }
        let verified = if code.has_computed_request_authenticator() {
            packet.verify_request_authenticator(&cap).is_ok()
        } else {
            packet.verify_message_authenticator(&cap, None).is_ok()
        };
        if !verified {
            summary.capture_secret_mismatch += 1;
        }
        let password = match (code, packet.attr_range(attrs::USER_PASSWORD)) {
            (Code::AccessRequest, Some(range)) => packet
                .attr(attrs::USER_PASSWORD)
                .and_then(|hidden| cap.unhide_password(hidden, packet.authenticator()).ok())
                .map(|password| (range, password)),
            _ => None,
        };
        let keep_auth = code == Code::AccessRequest
            && packet.attr(attrs::CHAP_PASSWORD).is_some()
            && packet.attr(attrs::CHAP_CHALLENGE).is_none();
        if keep_auth {
            summary.chap_keep_authenticator += 1;
        }
        let mut template = packet.as_bytes().to_vec();
        if let (Some(ip), Some(range)) = (args.nas_ip, packet.attr_range(attrs::NAS_IP_ADDRESS))
            && let Some(value) = template.get_mut(range)
            && value.len() == 4
        {
            value.copy_from_slice(&ip.octets());
        }
        out.push(Prepared {
            offset: d.time.saturating_sub(first),
            template,
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
        let code = Code::from_u8(p.template[0]);
        if code.has_computed_request_authenticator() {
            out.req_auth = self.signer.sign_computed_request(&mut out.buf[..len]);
        } else {
            let auth = if p.keep_auth {
                let mut a = [0u8; 16];
                a.copy_from_slice(&p.template[4..20]);
                a
            } else {
                self.rng.bytes16()
            };
            out.buf[4..20].copy_from_slice(&auth);
            if let Some((range, password)) = &p.password
                && let Some(hidden) = out.buf.get_mut(range.clone())
            {
                // The slot is the captured value: a multiple of 16 that held this password.
                let _ = self
                    .signer
                    .hide_password(password.as_bytes(), &auth, hidden);
            }
            self.signer.sign_access_request(&mut out.buf[..len]);
            out.req_auth = auth;
        }
        out.len = len;
        out.dest = match code {
            Code::AccountingRequest => 1,
            Code::DisconnectRequest | Code::CoaRequest => 2,
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
pub async fn execute_replay(args: &ReplayArgs) -> Result<(Report, CaptureSummary), LoadError> {
    let (items, summary) = prepare(args)?;
    if items.is_empty() {
        return Err(LoadError::Invalid(format!(
            "{}: no RADIUS requests on ports {:?}",
            args.file.display(),
            args.ports
        )));
    }
    if args.speed.is_nan() || args.speed <= 0.0 {
        return Err(LoadError::Invalid("--speed must be positive".into()));
    }
    let (auth, acct) = args.target.auth_and_acct()?;
    let dests = vec![auth, acct, SocketAddr::new(auth.ip(), args.coa_port)];
    let span = items.last().map(|p| p.offset).unwrap_or_default();
    let period = span + (span / items.len() as u32).max(Duration::from_millis(1));
    let sockets = args.sockets.clamp(1, 64);
    let total = items.len() as u64 * u64::from(args.loops.max(1));
    let items = std::sync::Arc::new(items);
    let signer = Signer::new(args.target.secret.as_bytes());
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
        dests.clone(),
        EngineRun {
            signer,
            timeout: Duration::from_secs_f64(args.run.timeout.clamp(0.001, 3600.0)),
            retries: args.run.retries,
            duration: args.duration.map(Duration::from_secs_f64),
            requests: None,
            record: None,
            expect: args.run.expect,
            single_dest: None,
            close_sessions: false,
            sources: Vec::new(),
            params: params(args, &summary, dests.first().copied()),
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

/// The run's parameters, as shown in a `--report` file.
fn params(
    args: &ReplayArgs,
    summary: &CaptureSummary,
    auth: Option<SocketAddr>,
) -> Vec<(String, String)> {
    let pacing = match args.rate {
        Some(r) => format!("{r} requests/s"),
        None => format!("capture timing x {}", args.speed),
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    [
        ("capture", args.file.display().to_string()),
        ("requests in the capture", summary.requests.to_string()),
        ("target (auth)", opt(auth.map(|a| a.to_string()))),
        ("pacing", pacing),
        ("loops", args.loops.to_string()),
        ("sockets", args.sockets.to_string()),
        ("duration", opt(args.duration.map(|d| format!("{d} s")))),
        (
            "timeout / retries",
            format!("{} s / {}", args.run.timeout, args.run.retries),
        ),
        ("NAS-IP-Address", opt(args.nas_ip.map(|ip| ip.to_string()))),
        (
            "expect",
            opt(args.run.expect.map(|e| format!("{e:?}").to_lowercase())),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `hotspot-radius replay`: run, print notes on stderr and the report on stdout, write the
/// `--report` file, return the exit code (1 when `--expect` failed).
pub async fn run_replay(args: ReplayArgs) -> Result<i32, LoadError> {
    if let Some(path) = &args.run.report {
        ReportFormat::of(path)?;
    }
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
    report.print(args.run.json);
    if let Some(path) = &args.run.report {
        report.write_file(path)?;
        eprintln!("replay: report written to {}", path.display());
    }
    Ok(report.exit_code())
}
