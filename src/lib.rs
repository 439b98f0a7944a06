//! hotspot-radius: a RADIUS AAA server for MikroTik hotspot and PPPoE operators.
//!
//! The flow of one Access-Request:
//! 1. `server` receives a datagram, `clients` finds the NAS and its shared secret;
//! 2. `server::dedup` answers retransmissions from its reply cache;
//! 3. `protocol` decodes the datagram into zero-copy attribute views and verifies it;
//! 4. `handler` routes it to `policy` + `auth` (PAP / CHAP / MS-CHAPv2) with the user profile
//!    from `store` (moka L1, then Redis L2, then PostgreSQL), or to accounting;
//! 5. the handler returns an `Outcome`; `protocol` encodes and signs the reply at the edge.
//!
//! `protocol`, `dictionary`, `auth` and `policy` are sans-IO: they never import tokio, sqlx
//! or redis.
#![warn(missing_docs)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod clients;
pub mod config;
pub mod handler;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod store;
