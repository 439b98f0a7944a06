//! The single integration test binary: one module per area, driving the public API.

mod decode_robustness;
mod dictionaries;
