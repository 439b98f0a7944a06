//! Codec benchmarks (criterion). Filled in by the protocol work.
fn main() {}
