//! hotspot-radius: a RADIUS AAA server for MikroTik hotspot and PPPoE operators, over the
//! FreeRADIUS PostgreSQL schema. The RADIUS codec, signing, dictionaries and credential
//! checks are the sans-IO `radius_proto` crate; this crate is the server around them.
//!
//! One Access-Request: `server` receives the datagram and finds the NAS in `clients`
//! (unknown: dropped) → `server::dedup` answers retransmissions → `radius_proto` decodes
//! and verifies it → `handler::access` gets the user's compiled profile from `profiles`
//! (moka L1 → Redis → PostgreSQL through `store`), decides with `policy` and checks the
//! credentials → the reply is signed at the edge; a post-auth row goes to `accounting`'s
//! batched writer.
//!
//! One Accounting-Request: `server` and `clients` as above → `handler::accounting`
//! verifies the request authenticator → `accounting::record` normalises it into a
//! `model::AcctRecord` → the `accounting` sink makes it durable in `radacct` through
//! `store` → then `sessions` applies it (who is online, usage, lost Stops) → only then is
//! the Accounting-Response sent. Logins read `sessions` for Simultaneous-Use and quotas
//! (no SQL); `sessions::actions` sends Disconnect/CoA through `client`.
//!
//! Arrows run one way: `model` ← `store` ← `profiles` → `policy`; `handler` → `profiles`,
//! `accounting`, `sessions`; `sessions` → `store`, `policy`, `accounting`, `client`;
//! `server` → `handler`; `app` wires everything and nothing else does.
#![warn(missing_docs)]

pub mod accounting; // accounting records: normalisation, the durable sink, post-auth batches
pub mod admin; // the admin HTTP port: /metrics, /healthz, /readyz
pub mod app; // wiring, start-up order, signals and the ordered drain
pub mod client; // outgoing RADIUS: send, retransmit, match the reply (test-auth, Disconnect/CoA)
pub mod clients; // the NAS table: source address → shared secret and policy
pub mod config; // the TOML configuration: schema, defaults, validation
pub mod handler; // per-code processing: Access-Request, Accounting-Request, Status-Server
pub mod metrics; // every metric name, described; the recorder and record helpers
pub mod model; // rows and records shared by every layer: data only
pub mod outage; // log a dependency's outage once, not once per packet
pub mod policy; // pure authorization: check items, reply items, compiled profiles
pub mod profiles; // the compiled-profile cache (L1) and its NOTIFY invalidation
pub mod server; // the UDP sockets, receive threads and duplicate cache
pub mod sessions; // who is online and what each user used: Simultaneous-Use, quotas, stale sessions
pub mod store; // PostgreSQL and Redis: rows in, rows out
pub mod tenants; // tenant names and the (tenant, username) key
