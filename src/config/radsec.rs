//! `[radsec]`: RADIUS over TLS (RFC 6614) on TCP, beside the UDP listeners. Off unless
//! `addr` is set; then the three TLS files are required.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[radsec]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RadsecConfig {
    /// The RadSec (TCP) listener, e.g. `0.0.0.0:2083` (the IANA port); unset: no RadSec.
    #[serde(default)]
    pub addr: Option<SocketAddr>,
    /// Our certificate chain (PEM, leaf first), shown to the NASes.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM) of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The CA(s) (PEM) a NAS's client certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connections open at once; more are closed as soon as they are accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection with nothing in flight and nothing received for this long is closed,
    /// seconds; also the longest one reply write may take.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// The TLS handshake must finish within this, seconds.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
    /// Requests in flight per connection; the connection is not read beyond it (1..=256).
    #[serde(default = "default_max_pipelined")]
    pub max_pipelined: usize,
    /// The client certificate must also name the NAS entry its connection's address
    /// belongs to: a DNS name (subjectAltName) equal to the entry's name.
    #[serde(default)]
    pub require_certificate_name: bool,
}

fn default_max_connections() -> usize {
    1024
}
fn default_idle_timeout_secs() -> u64 {
    600
}
fn default_handshake_timeout_secs() -> u64 {
    10
}
fn default_max_pipelined() -> usize {
    64
}

impl Default for RadsecConfig {
    fn default() -> Self {
        Self {
            addr: None,
            cert_file: None,
            key_file: None,
            ca_file: None,
            max_connections: default_max_connections(),
            idle_timeout_secs: default_idle_timeout_secs(),
            handshake_timeout_secs: default_handshake_timeout_secs(),
            max_pipelined: default_max_pipelined(),
            require_certificate_name: false,
        }
    }
}

impl RadsecConfig {
    /// Every problem, as (dotted key, message).
    pub(super) fn validate(&self, bad: &mut impl FnMut(String, String)) {
        if self.addr.is_some() {
            for (key, file) in [
                ("radsec.cert_file", &self.cert_file),
                ("radsec.key_file", &self.key_file),
                ("radsec.ca_file", &self.ca_file),
            ] {
                if file.is_none() {
                    bad(key.into(), "must be set when radsec.addr is set".into());
                }
            }
        }
        if self.max_connections == 0 {
            bad("radsec.max_connections".into(), "must be at least 1".into());
        }
        if self.idle_timeout_secs == 0 {
            bad(
                "radsec.idle_timeout_secs".into(),
                "must be at least 1".into(),
            );
        }
        if !(1..=300).contains(&self.handshake_timeout_secs) {
            bad(
                "radsec.handshake_timeout_secs".into(),
                "must be between 1 and 300".into(),
            );
        }
        if !(1..=256).contains(&self.max_pipelined) {
            bad(
                "radsec.max_pipelined".into(),
                "must be between 1 and 256".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn problems(text: &str) -> String {
        match Config::from_str_named("r.toml", text) {
            Ok(_) => String::new(),
            Err(e) => e.problems().join("\n"),
        }
    }

    #[test]
    fn off_by_default_and_the_files_come_with_addr() {
        assert_eq!(problems(""), "");
        assert_eq!(Config::default().radsec.addr, None);
        let ok = "[radsec]\naddr = \"0.0.0.0:2083\"\ncert_file = \"/c.pem\"\n\
                  key_file = \"/k.pem\"\nca_file = \"/ca.pem\"\n";
        assert_eq!(problems(ok), "");
        let bare = problems("[radsec]\naddr = \"0.0.0.0:2083\"\ncert_file = \"/c.pem\"\n");
        assert!(
            bare.contains("`radsec.key_file`: must be set when radsec.addr is set")
                && bare.contains("`radsec.ca_file`: must be set")
                && !bare.contains("radsec.cert_file"),
            "{bare}"
        );
        let zero = problems("[radsec]\nmax_pipelined = 0\n");
        assert!(zero.contains("`radsec.max_pipelined`"), "{zero}");
    }
}
