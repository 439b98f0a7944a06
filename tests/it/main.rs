//! The single integration-test binary (`cargo test --test it`): one module per area.

mod decode_robustness;
mod tools;
