//! Status-Server (RFC 5997): a liveness probe. It must carry a valid Message-Authenticator
//! (§3); we answer Access-Accept on the authentication port and Accounting-Response on the
//! accounting port (§4), without touching any backend.

use crate::clients::Client;
use radius_proto::protocol::{Code, Packet, PacketBuilder};

use std::net::IpAddr;

use super::{MaRule, Outcome, Port, check_message_authenticator};

/// Answer a Status-Server.
pub fn handle(client: &Client, source: IpAddr, port: Port, packet: &Packet<'_>) -> Outcome {
    if let Err(why) = check_message_authenticator(client, source, packet, MaRule::Always) {
        return Outcome::Drop(why);
    }
    let code = match port {
        Port::Auth => Code::AccessAccept,
        Port::Acct => Code::AccountingResponse,
    };
    Outcome::reply(PacketBuilder::reply(packet, code), "status")
}
