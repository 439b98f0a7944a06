//! Decode and encode errors: one variant per check, each with a static `reason()` label.

/// Why a datagram (or an attribute value) was refused. `reason()` is a metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than 20 bytes.
    #[error("datagram shorter than the 20-byte header")]
    ShortHeader,
    /// Length field below 20 or above 4096.
    #[error("length field {0} outside 20..=4096")]
    BadLength(u16),
    /// Length field larger than the datagram.
    #[error("length field {length} larger than the {datagram}-byte datagram")]
    Truncated {
        /// Header length field.
        length: u16,
        /// Bytes received.
        datagram: usize,
    },
    /// Attribute length octet 0 or 1.
    #[error("attribute {typ} has length {len} (< 2)")]
    AttributeTooShort {
        /// Attribute type.
        typ: u8,
        /// Its length octet.
        len: u8,
    },
    /// Attribute runs past the end of the packet.
    #[error("attribute {typ} overruns the packet")]
    AttributeOverrun {
        /// Attribute type.
        typ: u8,
    },
    /// Attribute type 0 (reserved).
    #[error("attribute type 0")]
    AttributeTypeZero,
    /// Vendor-Specific without a vendor id, or with sub-attributes that do not tile it.
    #[error("malformed Vendor-Specific attribute")]
    BadVsa,
    /// More than one Message-Authenticator.
    #[error("more than one Message-Authenticator")]
    DuplicateMessageAuthenticator,
    /// Message-Authenticator whose value is not 16 bytes.
    #[error("Message-Authenticator is not 16 bytes")]
    BadMessageAuthenticatorLength,
    /// Message-Authenticator in a packet whose code must not carry it.
    #[error("Message-Authenticator not allowed in this packet")]
    MisplacedMessageAuthenticator,
    /// Message-Authenticator present but wrong.
    #[error("Message-Authenticator does not verify")]
    BadMessageAuthenticator,
    /// Message-Authenticator absent where policy or RFC requires it.
    #[error("Message-Authenticator missing")]
    MissingMessageAuthenticator,
    /// Request Authenticator (Accounting / CoA / Disconnect) does not verify.
    #[error("request authenticator does not verify")]
    BadRequestAuthenticator,
    /// Response Authenticator does not verify.
    #[error("response authenticator does not verify")]
    BadResponseAuthenticator,
    /// User-Password value not a multiple of 16 bytes or outside 16..=128.
    #[error("User-Password length {0} is not a multiple of 16 in 16..=128")]
    BadPasswordLength(usize),
    /// Salt-encrypted value (Tunnel-Password, MPPE key) malformed.
    #[error("malformed salt-encrypted attribute")]
    BadSaltEncrypted,
    /// A typed getter found a value of the wrong size.
    #[error("attribute value has the wrong length for its type")]
    BadValueLength,
}

impl DecodeError {
    /// A stable, low-cardinality label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ShortHeader => "short_header",
            Self::BadLength(_) => "bad_length",
            Self::Truncated { .. } => "truncated",
            Self::AttributeTooShort { .. } => "attribute_too_short",
            Self::AttributeOverrun { .. } => "attribute_overrun",
            Self::AttributeTypeZero => "attribute_type_zero",
            Self::BadVsa => "bad_vsa",
            Self::DuplicateMessageAuthenticator => "duplicate_message_authenticator",
            Self::BadMessageAuthenticatorLength => "bad_message_authenticator_length",
            Self::MisplacedMessageAuthenticator => "misplaced_message_authenticator",
            Self::BadMessageAuthenticator => "bad_message_authenticator",
            Self::MissingMessageAuthenticator => "missing_message_authenticator",
            Self::BadRequestAuthenticator => "bad_request_authenticator",
            Self::BadResponseAuthenticator => "bad_response_authenticator",
            Self::BadPasswordLength(_) => "bad_password_length",
            Self::BadSaltEncrypted => "bad_salt_encrypted",
            Self::BadValueLength => "bad_value_length",
        }
    }
}

/// Why a packet could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An attribute value longer than 253 bytes (or 249 inside a VSA).
    #[error("attribute value of {0} bytes is too long")]
    ValueTooLong(usize),
    /// The packet would exceed 4096 bytes.
    #[error("packet would exceed 4096 bytes")]
    PacketTooLong,
    /// A password longer than 128 bytes.
    #[error("password longer than 128 bytes")]
    PasswordTooLong,
    /// Pre-encoded attribute bytes passed to `add_raw` are not well-formed TLVs.
    #[error("pre-encoded attributes are malformed")]
    BadRawAttributes,
    /// The space given for a hidden value does not fit the scheme: a User-Password needs a
    /// multiple of 16 in 16..=128 bytes, a salt-encrypted value exactly its encoded length.
    #[error("{0} bytes is not a valid size for this hidden value")]
    BadHiddenLength(usize),
}
