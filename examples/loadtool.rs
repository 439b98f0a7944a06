//! Stand-alone front end for the load tools (`bench`, `replay`) until they are wired into
//! the main binary's CLI: `cargo run --release --example loadtool -- bench --mode pap ...`.

use clap::Parser;
use hotspot_radius::tools::{BenchArgs, ReplayArgs, run_bench, run_replay};

/// Load tools.
#[derive(Parser, Debug)]
enum Cmd {
    /// Load-test a RADIUS server.
    Bench(BenchArgs),
    /// Replay a capture.
    Replay(ReplayArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let code = match Cmd::parse() {
        Cmd::Bench(a) => run_bench(a).await?,
        Cmd::Replay(a) => run_replay(a).await?,
    };
    std::process::exit(code);
}
