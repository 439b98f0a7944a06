//! The integration test binary: real PostgreSQL / Redis servers started by `harness`, and
//! one module per area of the server.

// A test binary has no downstream users: `pub` in its modules means "for other test
// modules", which the crate-wide `unreachable_pub` lint would flag everywhere.
#![allow(unreachable_pub)]

mod harness;
mod store;
