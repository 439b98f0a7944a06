//! Status-Server (RFC 5997): a liveness probe. It must carry a valid Message-Authenticator
//! (§3); we answer Access-Accept on the authentication port and Accounting-Response on the
//! accounting port (§4), without touching any backend.

use crate::clients::Client;
use crate::metrics::reason;
use radius_proto::protocol::{Code, Packet, PacketBuilder};

use super::{Outcome, Port};

/// Answer a Status-Server.
pub fn handle(client: &Client, port: Port, packet: &Packet<'_>) -> Outcome {
    match packet.verify_message_authenticator(client.signer(), None) {
        Ok(true) => {}
        Ok(false) => return Outcome::Drop(reason::MISSING_MESSAGE_AUTHENTICATOR),
        Err(_) => return Outcome::Drop(reason::BAD_MESSAGE_AUTHENTICATOR),
    }
    let code = match port {
        Port::Auth => Code::AccessAccept,
        Port::Acct => Code::AccountingResponse,
    };
    Outcome::reply(PacketBuilder::reply(packet, code), "status")
}
