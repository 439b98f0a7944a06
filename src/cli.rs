//! The command line: `serve` (default), `migrate`, `check-config`, `nas add|list|remove`,
//! `test-auth`, and the load tools `bench`, `replay`, `responder` (run by `radius_load`).
//! Clap definitions plus the small commands that need no server (`check-config`,
//! `test-auth`); the ones that need the database live in `app`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{Code, Packet, PacketBuilder, ReplyVector, Signer, attrs};

/// hotspot-radius: RADIUS AAA server for MikroTik hotspot and PPPoE operators.
#[derive(Parser, Debug)]
#[command(version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Without one, documented defaults are used and
    /// `DATABASE_URL` must be set.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the RADIUS server (authentication + accounting + admin HTTP).
    Serve(ServeArgs),
    /// Create or upgrade the database schema.
    Migrate,
    /// Validate a configuration file; lists every problem and exits non-zero on any.
    CheckConfig(CheckConfigArgs),
    /// Manage rows of the `nas` table.
    #[command(subcommand)]
    Nas(NasCommand),
    /// Send one Access-Request and print the reply (like radtest).
    TestAuth(TestAuthArgs),
    /// Load-test a RADIUS server (PAP/CHAP/MS-CHAPv2/accounting/hotspot sessions).
    Bench(radius_load::BenchArgs),
    /// Replay the RADIUS requests of a pcap/pcapng capture against a server.
    Replay(radius_load::ReplayArgs),
    /// Run a trivial responder that accepts everything (to measure `bench` itself).
    Responder(radius_load::responder::ResponderArgs),
}

/// `serve` flags (override the config file).
#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Authentication listen address (default 0.0.0.0:1812).
    #[arg(long, value_name = "ADDR")]
    pub auth_addr: Option<SocketAddr>,
    /// Accounting listen address (default 0.0.0.0:1813).
    #[arg(long, value_name = "ADDR")]
    pub acct_addr: Option<SocketAddr>,
    /// Admin HTTP listen address (default 127.0.0.1:9812).
    #[arg(long, value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,
}

/// `check-config` arguments.
#[derive(Args, Debug)]
pub struct CheckConfigArgs {
    /// The file to check (defaults to `--config`).
    pub file: Option<PathBuf>,
}

/// `nas` subcommands.
#[derive(Subcommand, Debug)]
pub enum NasCommand {
    /// Add (or replace) a NAS row.
    Add(NasAddArgs),
    /// List NAS rows (secrets masked).
    List,
    /// Remove a NAS row by address.
    Remove {
        /// The `nasname` (IP or CIDR) to remove.
        address: String,
    },
}

/// `nas add` arguments.
#[derive(Args, Debug)]
pub struct NasAddArgs {
    /// IP address or CIDR network of the NAS.
    #[arg(long)]
    pub address: String,
    /// Shared secret.
    #[arg(long)]
    pub secret: String,
    /// Short name.
    #[arg(long)]
    pub name: Option<String>,
    /// CoA / Disconnect port.
    #[arg(long, default_value_t = 3799)]
    pub coa_port: u16,
    /// Message-Authenticator policy: require, auto or off.
    #[arg(long, default_value = "auto")]
    pub require_message_authenticator: String,
}

/// Authentication method for `test-auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestMethod {
    /// User-Password.
    Pap,
    /// CHAP-Password + CHAP-Challenge.
    Chap,
    /// MS-CHAP-Challenge + MS-CHAP2-Response.
    Mschapv2,
}

/// `test-auth` arguments.
#[derive(Args, Debug, Clone)]
pub struct TestAuthArgs {
    /// Server address (`host:port`; port 1812 when omitted).
    #[arg(long, default_value = "127.0.0.1:1812")]
    pub server: String,
    /// Shared secret.
    #[arg(long)]
    pub secret: String,
    /// User-Name.
    #[arg(long)]
    pub user: String,
    /// Password.
    #[arg(long)]
    pub password: String,
    /// Authentication method.
    #[arg(long, value_enum, default_value_t = TestMethod::Pap)]
    pub method: TestMethod,
    /// NAS-IP-Address to send.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub nas_ip: IpAddr,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Do not send a Message-Authenticator.
    #[arg(long)]
    pub no_message_authenticator: bool,
}

/// `check-config`: print every problem; exit code 0 when valid, 1 otherwise.
pub fn check_config(file: &std::path::Path) -> i32 {
    match Config::load(file) {
        Ok(config) => {
            println!(
                "{}: OK ({} [[nas]] entr{})",
                file.display(),
                config.nas.len(),
                if config.nas.len() == 1 { "y" } else { "ies" }
            );
            0
        }
        Err(e) => {
            for p in e.problems() {
                eprintln!("{p}");
            }
            1
        }
    }
}

/// The result of one `test-auth` exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestAuthResult {
    /// Access-Accept, with the rendered attributes.
    Accept(Vec<String>),
    /// Access-Reject, with the rendered attributes.
    Reject(Vec<String>),
}

/// `test-auth`: send the request, print the reply; exit 0 on Accept, 1 on Reject, 2 on
/// timeout or error.
pub async fn test_auth(args: &TestAuthArgs, dict: &Dictionary) -> i32 {
    match exchange(args, dict).await {
        Ok(TestAuthResult::Accept(lines)) => {
            println!("Received Access-Accept");
            for l in lines {
                println!("\t{l}");
            }
            0
        }
        Ok(TestAuthResult::Reject(lines)) => {
            println!("Received Access-Reject");
            for l in lines {
                println!("\t{l}");
            }
            1
        }
        Err(e) => {
            eprintln!("test-auth: {e}");
            2
        }
    }
}

fn resolve(server: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = server.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 1812));
    }
    let with_port = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:1812")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {server}"))
}

/// What the client must remember to check an MS-CHAPv2 success.
struct MsChapState {
    authenticator_challenge: [u8; 16],
    peer_challenge: [u8; 16],
    nt_response: [u8; 24],
}

/// Build the request; returns the datagram, its authenticator and MS-CHAPv2 state.
fn build_request(
    args: &TestAuthArgs,
    identifier: u8,
    authenticator: [u8; 16],
) -> Result<(Vec<u8>, Option<MsChapState>), String> {
    use radius_proto::auth::{chap, mschapv2};
    use radius_proto::protocol::attrs::microsoft as ms;
    let signer = Signer::new(args.secret.as_bytes());
    let mut b = PacketBuilder::new(Code::AccessRequest, identifier);
    if !args.no_message_authenticator {
        b = b.with_message_authenticator();
    }
    let e = |e: radius_proto::protocol::EncodeError| e.to_string();
    b.add(attrs::USER_NAME, args.user.as_bytes()).map_err(e)?;
    match args.nas_ip {
        IpAddr::V4(v4) => b.add(attrs::NAS_IP_ADDRESS, &v4.octets()).map_err(e)?,
        IpAddr::V6(v6) => b.add(attrs::NAS_IPV6_ADDRESS, &v6.octets()).map_err(e)?,
    };
    let mut state = None;
    match args.method {
        TestMethod::Pap => {
            b.add_user_password(args.password.as_bytes(), &signer, &authenticator)
                .map_err(e)?;
        }
        TestMethod::Chap => {
            let challenge: [u8; 16] = rand::random();
            let ident: u8 = rand::random();
            b.add(attrs::CHAP_CHALLENGE, &challenge).map_err(e)?;
            b.add(
                attrs::CHAP_PASSWORD,
                &chap::chap_password(ident, args.password.as_bytes(), &challenge),
            )
            .map_err(e)?;
        }
        TestMethod::Mschapv2 => {
            let authenticator_challenge: [u8; 16] = rand::random();
            let peer_challenge: [u8; 16] = rand::random();
            let ident: u8 = rand::random();
            let response = mschapv2::client_response(
                ident,
                &authenticator_challenge,
                &peer_challenge,
                args.user.as_bytes(),
                args.password.as_bytes(),
            );
            b.add_vendor(
                ms::VENDOR_ID,
                ms::MS_CHAP_CHALLENGE,
                &authenticator_challenge,
            )
            .map_err(e)?;
            b.add_vendor(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &response)
                .map_err(e)?;
            let parsed = mschapv2::Response::parse(&response).ok_or("bad MS-CHAP2-Response")?;
            state = Some(MsChapState {
                authenticator_challenge,
                peer_challenge,
                nt_response: parsed.nt_response,
            });
        }
    }
    let bytes = b.sign_access_request(&authenticator, &signer).map_err(e)?;
    Ok((bytes, state))
}

/// Send one Access-Request per `args` and return the verified, rendered reply.
pub async fn exchange(args: &TestAuthArgs, dict: &Dictionary) -> Result<TestAuthResult, String> {
    let server = resolve(&args.server)?;
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let identifier: u8 = rand::random();
    let authenticator: [u8; 16] = rand::random();
    let (request, mschap) = build_request(args, identifier, authenticator)?;
    socket
        .send_to(&request, server)
        .await
        .map_err(|e| format!("send to {server}: {e}"))?;
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::from_secs(3));
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    let reply = loop {
        let (n, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .map_err(|_| format!("no reply from {server} within {:.1} s", args.timeout))?
            .map_err(|e| format!("receive: {e}"))?;
        if from != server {
            continue;
        }
        let Some(data) = buf.get(..n) else { continue };
        match Packet::decode(data) {
            Ok(p) if p.identifier() == identifier => break data.to_vec(),
            _ => continue,
        }
    };
    let packet = Packet::decode(&reply).map_err(|e| format!("reply does not decode: {e}"))?;
    packet
        .verify_response(
            &authenticator,
            ReplyVector::Request,
            &Signer::new(args.secret.as_bytes()),
        )
        .map_err(|e| format!("reply does not verify ({e}); wrong secret?"))?;
    let mut lines = Vec::new();
    if !packet.has_message_authenticator() {
        lines.push("(warning: reply has no Message-Authenticator)".to_owned());
    }
    lines.extend(render_attributes(&packet, dict));
    if let (Some(state), Code::AccessAccept) = (&mschap, packet.code()) {
        use radius_proto::auth::mschapv2;
        use radius_proto::protocol::attrs::microsoft as ms;
        let ok = packet
            .vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_SUCCESS)
            .is_some_and(|s| {
                mschapv2::verify_success(
                    s,
                    args.password.as_bytes(),
                    &state.nt_response,
                    &state.peer_challenge,
                    &state.authenticator_challenge,
                    args.user.as_bytes(),
                )
            });
        lines.push(format!(
            "(MS-CHAP2-Success authenticator response {})",
            if ok { "verified" } else { "MISSING OR WRONG" }
        ));
        if !ok {
            return Err("Access-Accept with a bad MS-CHAP2-Success".into());
        }
    }
    match packet.code() {
        Code::AccessAccept => Ok(TestAuthResult::Accept(lines)),
        Code::AccessReject => Ok(TestAuthResult::Reject(lines)),
        other => Err(format!("unexpected reply code {other}")),
    }
}

/// One readable line per attribute (vendor attributes expanded; Message-Authenticator
/// skipped).
pub fn render_attributes(packet: &Packet<'_>, dict: &Dictionary) -> Vec<String> {
    let mut lines = Vec::new();
    for a in packet.attributes() {
        if a.typ == attrs::MESSAGE_AUTHENTICATOR {
            continue;
        }
        match a.vendor_attributes() {
            Some(vsas) if a.typ == attrs::VENDOR_SPECIFIC => {
                for v in vsas {
                    lines.push(dict.render(v.vendor, u32::from(v.typ), v.value));
                }
            }
            _ => lines.push(dict.render(0, u32::from(a.typ), a.value)),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        let c = Cli::try_parse_from(["hotspot-radius"]).unwrap();
        assert!(c.command.is_none());
        let c = Cli::try_parse_from([
            "hotspot-radius",
            "serve",
            "--config",
            "x.toml",
            "--auth-addr",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(c.config.unwrap().to_str(), Some("x.toml"));
        let c = Cli::try_parse_from([
            "hotspot-radius",
            "test-auth",
            "--secret",
            "s",
            "--user",
            "u",
            "--password",
            "p",
            "--method",
            "mschapv2",
        ])
        .unwrap();
        assert!(
            matches!(c.command, Some(Command::TestAuth(a)) if a.method == TestMethod::Mschapv2)
        );
        assert!(Cli::try_parse_from(["hotspot-radius", "nas", "remove", "10.0.0.1"]).is_ok());
    }

    #[test]
    fn resolves() {
        assert_eq!(resolve("127.0.0.1").unwrap().port(), 1812);
        assert_eq!(resolve("127.0.0.1:99").unwrap().port(), 99);
    }
}
