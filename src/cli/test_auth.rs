//! `test-auth`: one Access-Request (PAP, CHAP or MS-CHAPv2), like radtest: build it, send
//! it through `hotspot_radius::client`, verify and print the reply. Exit 0 on Accept, 1 on
//! Reject, 2 on timeout or error.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::{Args, ValueEnum};
use hotspot_radius::client::{self, ClientError, Timing};
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::{
    Code, EncodeError, Packet, PacketBuilder, ReplyVector, Signer, attrs,
};

/// Why `test-auth` got no Accept or Reject to show.
#[derive(Debug, thiserror::Error)]
enum TestAuthError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot build the request: {0}")]
    Encode(#[from] EncodeError),
    #[error("reply does not decode: {0}")]
    Decode(#[from] radius_proto::protocol::DecodeError),
    #[error("Access-Accept with a bad MS-CHAP2-Success")]
    BadMsChapSuccess,
    #[error("unexpected reply code {0}")]
    UnexpectedCode(Code),
    #[error("our own MS-CHAP2-Response does not parse")]
    MsChapResponse,
}

/// Authentication method for `test-auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TestMethod {
    /// User-Password.
    Pap,
    /// CHAP-Password + CHAP-Challenge.
    Chap,
    /// MS-CHAP-Challenge + MS-CHAP2-Response.
    Mschapv2,
}

/// `test-auth` arguments.
#[derive(Args, Clone)]
pub(crate) struct TestAuthArgs {
    /// Server address (`host:port`; port 1812 when omitted).
    #[arg(long, default_value = "127.0.0.1:1812")]
    pub(crate) server: String,
    /// Shared secret (`-` reads it from standard input, `@PATH` from a file).
    #[arg(long)]
    pub(crate) secret: String,
    /// User-Name.
    #[arg(long)]
    pub(crate) user: String,
    /// Password (`-` reads it from standard input, `@PATH` from a file).
    #[arg(long)]
    pub(crate) password: String,
    /// Authentication method.
    #[arg(long, value_enum, default_value_t = TestMethod::Pap)]
    pub(crate) method: TestMethod,
    /// NAS-IP-Address to send.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub(crate) nas_ip: IpAddr,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) timeout: f64,
    /// Do not send a Message-Authenticator.
    #[arg(long)]
    pub(crate) no_message_authenticator: bool,
}

/// The result of one `test-auth` exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TestAuthResult {
    /// Access-Accept, with the rendered attributes.
    Accept(Vec<String>),
    /// Access-Reject, with the rendered attributes.
    Reject(Vec<String>),
}

/// `test-auth`: send the request, print the reply; exit 0 on Accept, 1 on Reject, 2 on
/// timeout or error.
pub(crate) async fn run(args: &TestAuthArgs, dict: &Dictionary) -> i32 {
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

/// `Debug` without the secret and the password.
impl std::fmt::Debug for TestAuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuthArgs")
            .field("server", &self.server)
            .field("secret", &"<redacted>")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("method", &self.method)
            .field("nas_ip", &self.nas_ip)
            .finish_non_exhaustive()
    }
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
) -> Result<(Vec<u8>, Option<MsChapState>), TestAuthError> {
    use radius_proto::auth::{chap, mschapv2};
    use radius_proto::protocol::attrs::microsoft as ms;
    let signer = Signer::new(args.secret.as_bytes());
    let mut b = PacketBuilder::new(Code::AccessRequest, identifier);
    if !args.no_message_authenticator {
        b = b.with_message_authenticator();
    }
    b.add(attrs::USER_NAME, args.user.as_bytes())?;
    match args.nas_ip {
        IpAddr::V4(v4) => b.add(attrs::NAS_IP_ADDRESS, &v4.octets())?,
        IpAddr::V6(v6) => b.add(attrs::NAS_IPV6_ADDRESS, &v6.octets())?,
    };
    let mut state = None;
    match args.method {
        TestMethod::Pap => {
            b.add_user_password(args.password.as_bytes(), &signer, &authenticator)?;
        }
        TestMethod::Chap => {
            let challenge: [u8; 16] = rand::random();
            let ident: u8 = rand::random();
            b.add(attrs::CHAP_CHALLENGE, &challenge)?;
            b.add(
                attrs::CHAP_PASSWORD,
                &chap::chap_password(ident, args.password.as_bytes(), &challenge),
            )?;
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
            )?;
            b.add_vendor(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &response)?;
            let parsed =
                mschapv2::Response::parse(&response).ok_or(TestAuthError::MsChapResponse)?;
            state = Some(MsChapState {
                authenticator_challenge,
                peer_challenge,
                nt_response: parsed.nt_response,
            });
        }
    }
    let bytes = b.sign_access_request(&authenticator, &signer)?;
    Ok((bytes, state))
}

/// Send one Access-Request per `args` and return the verified, rendered reply.
async fn exchange(args: &TestAuthArgs, dict: &Dictionary) -> Result<TestAuthResult, TestAuthError> {
    let server = client::resolve(&args.server, 1812)?;
    let identifier: u8 = rand::random();
    let authenticator: [u8; 16] = rand::random();
    let (request, mschap) = build_request(args, identifier, authenticator)?;
    let timing = Timing {
        timeout: Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::from_secs(3)),
        attempts: 1,
    };
    let reply = client::exchange(server, &request, timing).await?;
    let packet = Packet::decode(&reply)?;
    packet
        .verify_response(
            &authenticator,
            ReplyVector::Request,
            &Signer::new(args.secret.as_bytes()),
        )
        .map_err(ClientError::Verify)?;
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
            return Err(TestAuthError::BadMsChapSuccess);
        }
    }
    match packet.code() {
        Code::AccessAccept => Ok(TestAuthResult::Accept(lines)),
        Code::AccessReject => Ok(TestAuthResult::Reject(lines)),
        other => Err(TestAuthError::UnexpectedCode(other)),
    }
}

/// One readable line per attribute (vendor attributes expanded; Message-Authenticator
/// skipped).
fn render_attributes(packet: &Packet<'_>, dict: &Dictionary) -> Vec<String> {
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
