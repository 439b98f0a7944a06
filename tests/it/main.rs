//! The single integration-test binary (`cargo test --test it`): one module per area,
//! driving the public API against real servers started on loopback.

mod decode_robustness;
mod dictionaries;
