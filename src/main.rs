//! The `hotspot-radius` binary: parse the command line and run the chosen command.

use clap::Parser;

/// hotspot-radius: RADIUS AAA server for MikroTik hotspot and PPPoE operators.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
