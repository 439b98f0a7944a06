//! The `hotspot-radius` binary: parse the command line, run the chosen command (`cli`),
//! and map its result to an exit code. Logging and the runtime are set up here, per
//! command, by the helpers below.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc malloc: every datagram allocates and frees dozens of small
/// buffers across threads (futures, Redis and SQL arguments, replies), and glibc's
/// malloc/free/consolidation was about a quarter of the server's CPU per request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !matches!(cli.command, None | Some(cli::Command::Serve(_))) {
        restore_sigpipe();
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Commands that print (`user show … | head`) end quietly when their reader goes away,
/// like other Unix tools, instead of panicking on EPIPE (Rust ignores SIGPIPE by default).
/// `serve` keeps ignoring it: a closed log pipe must not kill the server.
fn restore_sigpipe() {
    // SAFETY: signal(2) setting SIGPIPE back to its default action, called from `main`
    // before any other thread exists; no handler function is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The multi-threaded runtime every command that does I/O runs on.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// `tracing` to stderr (stdout is for what commands print), filtered by `RUST_LOG` or
/// else `default`.
fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: files, journald and `docker logs` get plain
    // text (NO_COLOR forces it off).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .try_init();
}
