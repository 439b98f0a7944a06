//! Sans-IO RADIUS: everything about the protocol that is bytes in, values out.
//!
//! - `protocol`: the codec (RFC 2865/2866/2869/3579/5080/5176): zero-copy decode with one
//!   named reason per rejection, an owned reply builder, and one [`protocol::Signer`] (the
//!   shared secret with its HMAC-MD5 state precomputed) that computes and checks every
//!   authenticator, the Message-Authenticator and hidden passwords for the server and the
//!   load tools alike.
//! - `dictionary`: FreeRADIUS-format dictionaries (ours embedded, or a tree loaded at run
//!   time): attribute names ↔ wire encodings.
//! - `auth`: credential checks (PAP incl. stored hashes, CHAP, MS-CHAPv1/v2 with MPPE keys).
//!
//! No sockets, clocks or global RNG: time and randomness are passed in. The crate's
//! dependency tree has no tokio, sqlx or redis, which keeps the layering honest by
//! construction.
#![warn(missing_docs)]

pub mod auth;
pub mod dictionary;
pub mod protocol;
