//! Command-line arguments the tools share, flattened into each tool's own arguments: where
//! the server is and its secret ([`TargetArgs`], also where the responder listens), and how
//! a load run waits, retries and reports ([`RunArgs`]).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::error::LoadError;
use crate::report::Expect;

/// The RADIUS server a tool talks to (or, for the responder, where it listens).
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Server host or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub server: String,
    /// Authentication port (Access-Request, Status-Server).
    #[arg(long, default_value_t = 1812)]
    pub auth_port: u16,
    /// Accounting port (Accounting-Request).
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
}

impl TargetArgs {
    /// The authentication address (`--server` resolved, `--auth-port`).
    pub fn auth_addr(&self) -> Result<SocketAddr, LoadError> {
        resolve(&self.server, self.auth_port)
    }

    /// The authentication and accounting addresses (same IP).
    pub fn auth_and_acct(&self) -> Result<(SocketAddr, SocketAddr), LoadError> {
        let auth = self.auth_addr()?;
        Ok((auth, SocketAddr::new(auth.ip(), self.acct_port)))
    }
}

/// How a load run waits for replies, retransmits and reports.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Seconds to wait for a reply before retransmitting or giving up.
    #[arg(long, default_value_t = 1.1)]
    pub timeout: f64,
    /// Retransmissions (same identifier and authenticator) before counting a timeout.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero unless every request got this outcome.
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
    /// Also write the report, with charts of throughput by code and latency percentiles
    /// over time, to this self-contained `.svg` or `.html` file; or, to a `.csv` file, the
    /// per-second samples (rates by code, latency percentiles) one line a second.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
}

/// `host:port` to a socket address: an IP literal as is, else the first DNS answer.
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr, LoadError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|source| LoadError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| LoadError::NoAddress(host.to_owned()))
}

/// Parse a tool's arguments on their own (tests, examples): `words` as on a command line,
/// the first being the program name.
pub(crate) fn parse_alone<A, I, T>(words: I) -> Result<A, clap::Error>
where
    A: clap::Args,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    /// A command made of the tool's arguments alone.
    #[derive(Debug, clap::Parser)]
    struct Alone<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    <Alone<A> as clap::Parser>::try_parse_from(words).map(|a| a.args)
}
