//! The packet `Code` space (RFC 2865 §3, RFC 2866, RFC 5176, RFC 5997).

/// A RADIUS packet code. Open code space: anything unassigned is `Unknown(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 1, RFC 2865.
    AccessRequest,
    /// 2, RFC 2865.
    AccessAccept,
    /// 3, RFC 2865.
    AccessReject,
    /// 4, RFC 2866.
    AccountingRequest,
    /// 5, RFC 2866.
    AccountingResponse,
    /// 11, RFC 2865.
    AccessChallenge,
    /// 12, RFC 5997.
    StatusServer,
    /// 13, RFC 5997 (reserved; never sent by us).
    StatusClient,
    /// 40, RFC 5176.
    DisconnectRequest,
    /// 41, RFC 5176.
    DisconnectAck,
    /// 42, RFC 5176.
    DisconnectNak,
    /// 43, RFC 5176.
    CoaRequest,
    /// 44, RFC 5176.
    CoaAck,
    /// 45, RFC 5176.
    CoaNak,
    /// Any other value.
    Unknown(u8),
}

impl Code {
    /// The code for a wire octet.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::AccessRequest,
            2 => Self::AccessAccept,
            3 => Self::AccessReject,
            4 => Self::AccountingRequest,
            5 => Self::AccountingResponse,
            11 => Self::AccessChallenge,
            12 => Self::StatusServer,
            13 => Self::StatusClient,
            40 => Self::DisconnectRequest,
            41 => Self::DisconnectAck,
            42 => Self::DisconnectNak,
            43 => Self::CoaRequest,
            44 => Self::CoaAck,
            45 => Self::CoaNak,
            n => Self::Unknown(n),
        }
    }

    /// The wire octet.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::AccessRequest => 1,
            Self::AccessAccept => 2,
            Self::AccessReject => 3,
            Self::AccountingRequest => 4,
            Self::AccountingResponse => 5,
            Self::AccessChallenge => 11,
            Self::StatusServer => 12,
            Self::StatusClient => 13,
            Self::DisconnectRequest => 40,
            Self::DisconnectAck => 41,
            Self::DisconnectNak => 42,
            Self::CoaRequest => 43,
            Self::CoaAck => 44,
            Self::CoaNak => 45,
            Self::Unknown(n) => n,
        }
    }

    /// True when the Request Authenticator is computed from the packet (MD5 over the packet
    /// with a zeroed authenticator field and the secret): Accounting-Request (RFC 2866 §3),
    /// Disconnect-Request and CoA-Request (RFC 5176 §2.3).
    pub fn has_computed_request_authenticator(self) -> bool {
        matches!(
            self,
            Self::AccountingRequest | Self::DisconnectRequest | Self::CoaRequest
        )
    }

    /// A stable name, usable as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessRequest => "Access-Request",
            Self::AccessAccept => "Access-Accept",
            Self::AccessReject => "Access-Reject",
            Self::AccountingRequest => "Accounting-Request",
            Self::AccountingResponse => "Accounting-Response",
            Self::AccessChallenge => "Access-Challenge",
            Self::StatusServer => "Status-Server",
            Self::StatusClient => "Status-Client",
            Self::DisconnectRequest => "Disconnect-Request",
            Self::DisconnectAck => "Disconnect-ACK",
            Self::DisconnectNak => "Disconnect-NAK",
            Self::CoaRequest => "CoA-Request",
            Self::CoaAck => "CoA-ACK",
            Self::CoaNak => "CoA-NAK",
            Self::Unknown(_) => "Unknown",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(n) => write!(f, "Unknown({n})"),
            other => f.write_str(other.name()),
        }
    }
}
