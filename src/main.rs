//! The `hotspot-radius` binary: parse the command line, initialise logging, build the
//! runtime, run the chosen command, and map its result to an exit code.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use hotspot_radius::app;
use hotspot_radius::cli::{Cli, Command, ServeArgs};
use hotspot_radius::config::Config;
use radius_proto::dictionary::Dictionary;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // check-config and test-auth must work without a valid config or a database.
    match &cli.command {
        Some(Command::CheckConfig(args)) => {
            let Some(file) = args.file.as_ref().or(cli.config.as_ref()) else {
                eprintln!("check-config: give a FILE (or --config FILE)");
                return ExitCode::from(2);
            };
            return exit(hotspot_radius::cli::check_config(file));
        }
        Some(Command::TestAuth(args)) => {
            init_tracing("warn");
            let Ok(rt) = runtime() else {
                return ExitCode::from(2);
            };
            let dict = Dictionary::builtin();
            return exit(rt.block_on(hotspot_radius::cli::test_auth(args, &dict)));
        }
        Some(Command::Bench(_) | Command::Replay(_) | Command::Responder(_)) => {
            init_tracing("warn");
            let Ok(rt) = runtime() else {
                return ExitCode::from(2);
            };
            let result = rt.block_on(async {
                match cli.command {
                    Some(Command::Bench(a)) => radius_load::run_bench(a).await,
                    Some(Command::Replay(a)) => radius_load::run_replay(a).await,
                    Some(Command::Responder(a)) => radius_load::run_responder(a).await,
                    _ => Ok(2),
                }
            });
            return match result {
                Ok(code) => exit(code),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.apply_env(|k| std::env::var(k).ok());
    Ok(config)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = load_config(&cli)?;
    init_tracing(&config.log.level);
    let rt = runtime().context("starting the tokio runtime")?;
    match cli.command {
        None => rt.block_on(app::serve(config, cli.config)),
        Some(Command::Serve(args)) => {
            apply_serve_flags(&mut config, &args);
            rt.block_on(app::serve(config, cli.config))
        }
        Some(Command::Migrate) => rt.block_on(app::migrate(&config)),
        Some(Command::Nas(cmd)) => rt.block_on(app::nas(&config, cmd)),
        Some(
            Command::CheckConfig(_)
            | Command::TestAuth(_)
            | Command::Bench(_)
            | Command::Replay(_)
            | Command::Responder(_),
        ) => Ok(()),
    }
}

fn apply_serve_flags(config: &mut Config, args: &ServeArgs) {
    if let Some(a) = args.auth_addr {
        config.server.auth_addr = a;
    }
    if let Some(a) = args.acct_addr {
        config.server.acct_addr = a;
    }
    if let Some(a) = args.admin_addr {
        config.admin.addr = a;
    }
}
