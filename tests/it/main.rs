//! The single integration test binary: one module per area, driving the public API.

// A test binary has no downstream users: `pub` in modules means "for other test modules".
#![allow(unreachable_pub)]

mod config;
mod decode_robustness;
mod dictionaries;
mod e2e;
mod udp_access;
