//! Sans-IO RADIUS codec (RFC 2865, 2866, 2869, 3579, 5080, 5176).
//!
//! Bytes in, values out: no sockets, no clock, no global RNG. Decoding borrows the datagram
//! (`Packet<'a>` holds attribute views into it); replies are built with [`PacketBuilder`] and
//! signed once, at the edge, by the [`Signer`] that every secret-keyed computation (both
//! authenticators, Message-Authenticator, password hiding, salt encryption) goes through.
//! Hot paths that patch pre-built datagrams write attributes with [`AttributeWriter`] and
//! sign the buffer in place with the same `Signer`.

mod acct_status;
mod attribute;
pub mod attrs;
mod builder;
mod code;
pub mod crypto;
mod error;
mod packet;
mod secret;
mod signer;
pub mod tagged;
mod writer;

pub use acct_status::AcctStatus;
pub use attribute::{
    Attribute, Attributes, OPAQUE_VSA_VENDORS, VendorAttribute, VendorAttributes, is_opaque_vendor,
    validate_attributes,
};
pub use builder::PacketBuilder;
pub use code::Code;
pub use error::{DecodeError, EncodeError};
pub use packet::Packet;
pub use secret::{MAX_PASSWORD_LEN, Password, Secret};
pub use signer::{
    MAX_SALT_PLAINTEXT, ReplyVector, Signer, hidden_password_len, salt_encrypted_len,
};
pub use writer::{AttributeWriter, MAX_VSA_VALUE_LEN, MESSAGE_AUTHENTICATOR_LEN};

/// Length of the fixed RADIUS header (code, identifier, length, authenticator).
pub const HEADER_LEN: usize = 20;
/// Smallest legal value of the header's Length field (RFC 2865 §3).
pub const MIN_PACKET_LEN: usize = 20;
/// Largest legal value of the header's Length field (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Length of the Request/Response Authenticator.
pub const AUTHENTICATOR_LEN: usize = 16;
/// Largest attribute value (255 minus the type and length octets).
pub const MAX_ATTR_VALUE_LEN: usize = 253;
/// Vendor-Specific attribute type (RFC 2865 §5.26).
pub const VENDOR_SPECIFIC: u8 = 26;
