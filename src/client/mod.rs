//! Outgoing RADIUS: this server (or its command line) as a client of a RADIUS peer. Send a
//! signed request over UDP, retransmit on silence, and hand back the first datagram from
//! that peer that answers it (same identifier). `test-auth` uses it for Access-Requests;
//! [`dynauth`] sends Disconnect and CoA requests to a NAS (RFC 5176) through it.
//!
//! Building and verifying packets is `radius_proto`'s business; this module owns only the
//! socket, the timing and the typed failures.

pub mod dynauth;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use radius_proto::protocol::{Code, DecodeError, EncodeError, Packet};
use tokio::net::UdpSocket;

/// Why an exchange produced no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server name does not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The request is not a RADIUS packet (no identifier to match replies on).
    #[error("the request is not a RADIUS packet")]
    BadRequest,
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`bind`, `send to 127.0.0.1:1812`, `receive`).
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Nothing answered within the time allowed (all attempts).
    #[error("no reply from {server} within {seconds:.1} s")]
    Timeout {
        /// Who was asked.
        server: SocketAddr,
        /// Total time waited.
        seconds: f64,
    },
    /// The reply did not verify (wrong shared secret, or not a reply to our request).
    #[error("reply does not verify ({0}); wrong secret?")]
    Verify(#[source] DecodeError),
    /// The request could not be encoded (too long, malformed pre-encoded attributes).
    #[error("cannot build the request: {0}")]
    Encode(#[source] EncodeError),
    /// A verified reply whose code does not answer the request (a CoA-ACK to a
    /// Disconnect-Request).
    #[error("{reply} is no answer to a {request}")]
    UnexpectedReply {
        /// The request's code.
        request: Code,
        /// The reply's code.
        reply: Code,
    },
}

/// `host[:port]`, an IP address, or `ip:port`, resolved; `default_port` when none is given.
pub fn resolve(server: &str, default_port: u16) -> Result<SocketAddr, ClientError> {
    if let Ok(a) = server.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|_| ClientError::Resolve(server.to_owned()))?
        .next()
        .ok_or_else(|| ClientError::Resolve(server.to_owned()))
}

/// How long to wait, and how often to send.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Wait per attempt.
    pub timeout: Duration,
    /// Attempts in all (at least 1); later ones resend the same bytes (RFC 5080 §2.2.1).
    pub attempts: u32,
}

/// Send `request` (a signed packet) to `server` and return the first datagram from
/// `server` that decodes and carries the request's identifier. Verifying it against the
/// request authenticator is the caller's (`Packet::verify_response`).
pub async fn exchange(
    server: SocketAddr,
    request: &[u8],
    timing: Timing,
) -> Result<Vec<u8>, ClientError> {
    let identifier = *request.get(1).ok_or(ClientError::BadRequest)?;
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let io = |what: String| move |source| ClientError::Io { what, source };
    let socket = UdpSocket::bind(bind).await.map_err(io("bind".into()))?;
    let mut buf = vec![0u8; radius_proto::protocol::MAX_PACKET_LEN];
    let attempts = timing.attempts.max(1);
    for _ in 0..attempts {
        socket
            .send_to(request, server)
            .await
            .map_err(io(format!("send to {server}")))?;
        let deadline = tokio::time::Instant::now() + timing.timeout;
        loop {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
            else {
                break; // this attempt timed out
            };
            let (n, from) = received.map_err(io("receive".into()))?;
            if from != server {
                continue;
            }
            let Some(data) = buf.get(..n) else { continue };
            if matches!(Packet::decode(data), Ok(p) if p.identifier() == identifier) {
                return Ok(data.to_vec());
            }
        }
    }
    Err(ClientError::Timeout {
        server,
        seconds: timing.timeout.as_secs_f64() * f64::from(attempts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_with_default_port() {
        assert_eq!(resolve("127.0.0.1", 1812).unwrap().port(), 1812);
        assert_eq!(resolve("127.0.0.1:99", 1812).unwrap().port(), 99);
        assert_eq!(resolve("::1", 3799).unwrap().port(), 3799);
    }

    #[tokio::test]
    async fn silence_is_a_timeout_after_every_attempt() {
        // A bound socket that never answers.
        let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = quiet.local_addr().unwrap();
        let request = [
            1u8, 7, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let timing = Timing {
            timeout: Duration::from_millis(20),
            attempts: 2,
        };
        let err = exchange(server, &request, timing).await.unwrap_err();
        assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
        // Both attempts reached the peer.
        quiet.set_nonblocking(true).unwrap();
        let mut got = 0;
        let mut buf = [0u8; 64];
        while quiet.recv_from(&mut buf).is_ok() {
            got += 1;
        }
        assert_eq!(got, 2);
    }
}
