//! The integration test binary: one module per area, each driving real sockets on loopback.

mod tools;
