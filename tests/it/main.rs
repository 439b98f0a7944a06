//! The single integration-test binary (`cargo test --test it`): one module per area,
//! driving the public API; real PostgreSQL / Redis servers are started by `harness`.

// A test binary has no downstream users: `pub` in its modules means "for other test
// modules", which the crate-wide `unreachable_pub` lint would flag everywhere.
#![allow(unreachable_pub)]

mod accounting;
mod blackhole;
mod config;
mod config_reference;
mod decode_robustness;
mod dynauth;
mod e2e;
mod fake_nas;
mod flood;
mod harness;
mod instances;
mod latch;
mod nas_reload;
mod ops;
mod pgbouncer;
mod radsec;
mod redis_ha;
mod redis_topo;
mod replica;
mod session_store;
mod sessions;
mod signals;
mod soak;
mod status_page;
mod store;
mod tenants;
mod tls;
mod tools;
mod udp_access;
mod user_cli;
