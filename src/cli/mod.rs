//! The command line: one clap definition and one dispatch. `serve` (the default) runs the
//! server through `hotspot_radius::app`; `migrate`, `nas` and `test-auth` are small
//! commands of their own (`nas`, `test_auth`); `bench`, `replay` and `responder` are the
//! load tools of the `radius_load` crate. Lives in the binary, so the server library never
//! links the load tools.

mod nas;
mod sessions;
mod test_auth;
mod user;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use hotspot_radius::app;
use hotspot_radius::config::Config;
use radius_proto::dictionary::Dictionary;

/// hotspot-radius: RADIUS AAA server for MikroTik hotspot and PPPoE operators.
#[derive(Parser, Debug)]
#[command(version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (TOML). Without one, documented defaults are used and
    /// `DATABASE_URL` must be set.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the RADIUS server (authentication + accounting + admin HTTP).
    Serve(ServeArgs),
    /// Create or upgrade the database schema.
    Migrate,
    /// Validate a configuration file; lists every problem and exits non-zero on any.
    CheckConfig(CheckConfigArgs),
    /// Print configuration: `--print-default` writes every key with its default.
    Config(ConfigArgs),
    /// Manage rows of the `nas` table.
    #[command(subcommand)]
    Nas(nas::NasCommand),
    /// List who is online (user, MAC, IP, NAS, start, duration, bytes).
    Sessions(sessions::SessionsArgs),
    /// Send a Disconnect-Request (RFC 5176) for a user's sessions or one session.
    Disconnect(sessions::DisconnectArgs),
    /// Send a CoA-Request (RFC 5176) with new attributes to a user's sessions.
    Coa(sessions::CoaArgs),
    /// Add, disable, enable, re-package and show users (radcheck, radreply,
    /// radusergroup).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Send one Access-Request and print the reply (like radtest).
    TestAuth(test_auth::TestAuthArgs),
    /// Load-test a RADIUS server (PAP/CHAP/MS-CHAPv2/accounting/hotspot sessions).
    Bench(radius_load::BenchArgs),
    /// Replay the RADIUS requests of a pcap/pcapng capture against a server.
    Replay(radius_load::ReplayArgs),
    /// Run a trivial responder that accepts everything (to measure `bench` itself).
    Responder(radius_load::responder::ResponderArgs),
}

/// `serve` flags (override the config file).
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct ServeArgs {
    /// Authentication listen address (default 0.0.0.0:1812).
    #[arg(long, value_name = "ADDR")]
    pub(crate) auth_addr: Option<SocketAddr>,
    /// Accounting listen address (default 0.0.0.0:1813).
    #[arg(long, value_name = "ADDR")]
    pub(crate) acct_addr: Option<SocketAddr>,
    /// Admin HTTP listen address (default 127.0.0.1:9812).
    #[arg(long, value_name = "ADDR")]
    pub(crate) admin_addr: Option<SocketAddr>,
}

/// `check-config` arguments.
#[derive(Args, Debug)]
pub(crate) struct CheckConfigArgs {
    /// The file to check (defaults to `--config`).
    pub(crate) file: Option<PathBuf>,
}

/// `config` arguments.
#[derive(Args, Debug)]
pub(crate) struct ConfigArgs {
    /// Print a complete default configuration as TOML: every key with its default and what
    /// it does (keys unset by default, and a `[[nas]]` entry, commented out).
    #[arg(long, required = true)]
    pub(crate) print_default: bool,
}

/// `--tenant`: which tenant's rows a command works on (multi-tenant platforms; see the
/// README). Absent: the global rows (tenant NULL), the plain FreeRADIUS schema.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct TenantArg {
    /// The tenant (1 to 64 letters, digits, `.`, `_`, `-`); absent: global rows.
    #[arg(long, value_name = "TENANT")]
    pub(crate) tenant: Option<String>,
}

impl TenantArg {
    /// The tenant, checked against the name rule.
    pub(crate) fn get(&self) -> anyhow::Result<Option<&str>> {
        match self.tenant.as_deref() {
            Some(t) if !hotspot_radius::tenants::valid_name(t) => {
                anyhow::bail!(
                    "--tenant `{}`: {}",
                    t.escape_debug(),
                    hotspot_radius::tenants::NAME_RULE
                )
            }
            other => Ok(other),
        }
    }
}

/// `check-config`: print every problem; exit code 0 when valid, 1 otherwise.
fn check_config(file: &std::path::Path) -> i32 {
    match Config::load(file) {
        Ok(config) => {
            println!(
                "{}: OK ({} [[nas]] entr{})",
                file.display(),
                config.nas.len(),
                if config.nas.len() == 1 { "y" } else { "ies" }
            );
            0
        }
        Err(e) => {
            for p in e.problems() {
                eprintln!("{p}");
            }
            1
        }
    }
}

/// Run the parsed command line; the exit code is the command's.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        return serve(cli.config, &ServeArgs::default());
    };
    match command {
        Command::Serve(args) => serve(cli.config, &args),
        Command::CheckConfig(args) => {
            let Some(file) = args.file.as_ref().or(cli.config.as_ref()) else {
                anyhow::bail!("check-config: give a FILE (or --config FILE)");
            };
            Ok(exit(check_config(file)))
        }
        Command::Config(_) => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(hotspot_radius::config::schema::DEFAULT_TOML.as_bytes())
                .context("writing the default configuration")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let config = load_config(cli.config.as_deref())?;
            crate::init_tracing(&config.log.level);
            crate::runtime()?.block_on(migrate(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Nas(cmd) => {
            let config = load_config(cli.config.as_deref())?;
            crate::init_tracing(&config.log.level);
            crate::runtime()?.block_on(nas::run(&config, cmd))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sessions(args) => {
            let config = load_config(cli.config.as_deref())?;
            crate::init_tracing("warn");
            crate::runtime()?.block_on(sessions::list(&config, &args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Disconnect(args) => {
            let config = load_config(cli.config.as_deref())?;
            crate::init_tracing("warn");
            Ok(exit(
                crate::runtime()?.block_on(sessions::disconnect(&config, &args))?,
            ))
        }
        Command::Coa(args) => {
            let config = load_config(cli.config.as_deref())?;
            crate::init_tracing("warn");
            let dict = app::dictionary(&config)?;
            Ok(exit(
                crate::runtime()?.block_on(sessions::coa(&config, &dict, &args))?,
            ))
        }
        Command::User(cmd) => {
            let config = load_config(cli.config.as_deref())?;
            crate::init_tracing("warn");
            let dict = app::dictionary(&config)?;
            crate::runtime()?.block_on(user::run(&config, &dict, cmd))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::TestAuth(mut args) => {
            crate::init_tracing("warn");
            args.secret = secret_value(&args.secret)?;
            args.password = secret_value(&args.password)?;
            let dict = Dictionary::builtin();
            Ok(exit(
                crate::runtime()?.block_on(test_auth::run(&args, &dict)),
            ))
        }
        Command::Bench(args) => {
            crate::init_tracing("warn");
            Ok(exit(
                crate::runtime()?.block_on(radius_load::run_bench(args))?,
            ))
        }
        Command::Replay(args) => {
            crate::init_tracing("warn");
            Ok(exit(
                crate::runtime()?.block_on(radius_load::run_replay(args))?,
            ))
        }
        Command::Responder(args) => {
            crate::init_tracing("warn");
            Ok(exit(
                crate::runtime()?.block_on(radius_load::run_responder(args))?,
            ))
        }
    }
}

/// A secret given on the command line: `-` reads it from standard input and `@PATH` from a
/// file (the first line, without its line ending), so it need not appear in `ps` output or
/// shell history; anything else is the value itself.
pub(crate) fn secret_value(arg: &str) -> anyhow::Result<String> {
    let text = match arg {
        "-" => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading a secret from standard input")?;
            line
        }
        _ if arg.starts_with('@') && arg.len() > 1 => {
            let path = &arg[1..];
            std::fs::read_to_string(path)
                .with_context(|| format!("reading a secret from {path}"))?
        }
        _ => return Ok(arg.to_owned()),
    };
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

/// The config file (or the defaults), with the environment overrides applied.
fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let mut config = match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.apply_env(|k| std::env::var(k).ok());
    Ok(config)
}

/// `serve`: the config, then the command-line overrides, then run until a signal.
fn serve(path: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(path.as_deref())?;
    crate::init_tracing(&config.log.level);
    if let Some(a) = args.auth_addr {
        config.server.auth_addr = a;
    }
    if let Some(a) = args.acct_addr {
        config.server.acct_addr = a;
    }
    if let Some(a) = args.admin_addr {
        config.admin.addr = a;
    }
    let rt = crate::runtime().context("starting the tokio runtime")?;
    rt.block_on(app::serve(config, path))?;
    Ok(ExitCode::SUCCESS)
}

/// `migrate`: create or upgrade the schema; says which migrations it applied.
async fn migrate(config: &Config) -> anyhow::Result<()> {
    let pg = app::database(config)?;
    let result = pg.migrate_reporting().await.context("running migrations");
    pg.close().await;
    println!("{}", migrated_text(&result?));
    Ok(())
}

/// `applied 2 migrations (0003, 0004)`, or `schema is up to date` when none was applied.
fn migrated_text(applied: &[i64]) -> String {
    match applied {
        [] => "schema is up to date".to_owned(),
        [one] => format!("applied 1 migration ({one:04})"),
        _ => {
            let versions: Vec<String> = applied.iter().map(|v| format!("{v:04}")).collect();
            format!(
                "applied {} migrations ({})",
                applied.len(),
                versions.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_from_a_file() {
        let path = std::env::temp_dir().join(format!("hr-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        let from_file = secret_value(&format!("@{}", path.display())).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(from_file, "s3cret");
        assert_eq!(secret_value("plain").unwrap(), "plain");
        assert!(secret_value("@/nonexistent/secret").is_err());
    }

    #[test]
    fn migrate_says_what_it_applied() {
        assert_eq!(migrated_text(&[]), "schema is up to date");
        assert_eq!(migrated_text(&[4]), "applied 1 migration (0004)");
        assert_eq!(migrated_text(&[3, 4]), "applied 2 migrations (0003, 0004)");
    }

    #[test]
    fn cli_parses() {
        let c = Cli::try_parse_from(["hotspot-radius"]).unwrap();
        assert!(c.command.is_none());
        let c = Cli::try_parse_from([
            "hotspot-radius",
            "serve",
            "--config",
            "x.toml",
            "--auth-addr",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(c.config.unwrap().to_str(), Some("x.toml"));
        let c = Cli::try_parse_from([
            "hotspot-radius",
            "test-auth",
            "--secret",
            "s",
            "--user",
            "u",
            "--password",
            "p",
            "--method",
            "mschapv2",
        ])
        .unwrap();
        assert!(
            matches!(c.command, Some(Command::TestAuth(a)) if a.method == test_auth::TestMethod::Mschapv2)
        );
        assert!(Cli::try_parse_from(["hotspot-radius", "nas", "remove", "10.0.0.1"]).is_ok());
        assert!(Cli::try_parse_from(["hotspot-radius", "config", "--print-default"]).is_ok());
        assert!(Cli::try_parse_from(["hotspot-radius", "config"]).is_err());
    }
}
