//! `sessions`, `disconnect` and `coa`: who is online, and talking back to their NAS.
//!
//! The sessions come from the store the servers share: Redis when `[redis] url` is set;
//! without Redis each server keeps its store in process, and these commands read the open
//! sessions in `radacct` instead (what that store is loaded from and mirrors, since every
//! record reaches `radacct` before it reaches the store).

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use hotspot_radius::app;
use hotspot_radius::client::Timing;
use hotspot_radius::client::dynauth::{DynAuthKind, DynAuthReply, parse_assignments};
use hotspot_radius::clients::{ClientTable, Clients};
use hotspot_radius::config::Config;
use hotspot_radius::model::Session;
use hotspot_radius::sessions::actions::{Dynauth, Trigger};
use hotspot_radius::sessions::{Filter, RedisSessions, SessionStore, oldest_first};
use radius_proto::dictionary::Dictionary;

/// `sessions` arguments.
#[derive(Args, Debug)]
pub(crate) struct SessionsArgs {
    /// Only this user's sessions.
    #[arg(long)]
    user: Option<String>,
    /// Only sessions on this NAS (its name or NAS-IP).
    #[arg(long)]
    nas: Option<String>,
    /// Only this tenant's sessions (with `--user`: that tenant's user). Without it,
    /// `--user` names a global user, and the list shows every tenant's sessions.
    #[command(flatten)]
    tenant: crate::cli::TenantArg,
}

/// `disconnect` arguments.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["user", "session"])))]
pub(crate) struct DisconnectArgs {
    /// Disconnect every session of this user.
    #[arg(long)]
    user: Option<String>,
    /// Disconnect the session with this Acct-Session-Id (or unique id).
    #[arg(long)]
    session: Option<String>,
    /// The tenant of `--user` (absent: a global user); with `--session`, only a session
    /// of this tenant.
    #[command(flatten)]
    tenant: crate::cli::TenantArg,
}

/// `coa` arguments.
#[derive(Args, Debug)]
pub(crate) struct CoaArgs {
    /// The user whose sessions change.
    #[arg(long)]
    user: String,
    /// Attributes to send, `NAME=VALUE` (e.g. `Mikrotik-Rate-Limit=2M/4M`).
    #[arg(required = true, value_name = "ATTR=VALUE")]
    attrs: Vec<String>,
    /// The tenant of `--user` (absent: a global user).
    #[command(flatten)]
    tenant: crate::cli::TenantArg,
}

/// The session-store name of `user` of `tenant` (see `Session::user_id`).
fn user_id(tenant: Option<&str>, user: Option<&String>) -> Option<String> {
    user.map(|u| hotspot_radius::tenants::scoped(tenant, u).into_owned())
}

/// Keeps only `tenant`'s sessions when one is given.
fn of_tenant(sessions: &mut Vec<Session>, tenant: Option<&str>) {
    if tenant.is_some() {
        sessions.retain(|s| s.tenant.as_deref() == tenant);
    }
}

/// Open sessions passing `filter`, from Redis or `radacct`.
async fn open_sessions(config: &Config, filter: &Filter) -> anyhow::Result<Vec<Session>> {
    if let Some(client) = app::redis_client(config)? {
        let store = RedisSessions::with_client(client, Duration::from_secs(5))
            .context("connecting to Redis")?;
        return store
            .list(filter)
            .await
            .context("reading sessions from Redis");
    }
    let pg = app::database(config)?;
    let all = pg.open_sessions().await.context("reading radacct");
    pg.close().await;
    let mut out: Vec<Session> = all?.into_iter().filter(|s| filter.matches(s)).collect();
    oldest_first(&mut out);
    Ok(out)
}

/// The NAS table as the servers build it (`[[nas]]` + the `nas` table).
async fn nas_table(config: &Config) -> anyhow::Result<ClientTable> {
    let pg = app::database(config)?;
    let rows = pg.load_nas().await.context("loading the nas table");
    pg.close().await;
    Ok(ClientTable::build(&config.nas, &rows?, None))
}

/// A NAS given by name or address.
fn nas_ip(table: &ClientTable, text: &str) -> anyhow::Result<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Ok(ip);
    }
    table
        .iter()
        .find(|c| c.name == text)
        .map(|c| c.network.addr())
        .with_context(|| format!("no NAS named {text}"))
}

fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n}"),
    }
}

/// `sessions`: print who is online.
pub(crate) async fn list(config: &Config, args: &SessionsArgs) -> anyhow::Result<()> {
    let table = nas_table(config).await?;
    let tenant = args.tenant.get()?;
    let filter = Filter {
        user: user_id(tenant, args.user.as_ref()),
        nas: args.nas.as_deref().map(|n| nas_ip(&table, n)).transpose()?,
    };
    let mut sessions = open_sessions(config, &filter).await?;
    of_tenant(&mut sessions, tenant);
    let now = chrono::Utc::now().timestamp();
    println!(
        "{:<20} {:<16} {:<17} {:<15} {:<16} {:<20} {:>9} {:>9} {:>9}  SESSION",
        "USER", "TENANT", "MAC", "IP", "NAS", "START (UTC)", "DURATION", "IN", "OUT"
    );
    for s in &sessions {
        let nas = table
            .lookup(s.nas_ip)
            .map_or_else(|| s.nas_ip.to_string(), |c| c.name.clone());
        let start = chrono::DateTime::from_timestamp(s.start, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        println!(
            "{:<20} {:<16} {:<17} {:<15} {:<16} {:<20} {:>9} {:>9} {:>9}  {}",
            s.username,
            s.tenant.as_deref().unwrap_or("-"),
            s.mac.as_deref().unwrap_or("-"),
            s.framed_ip.map_or_else(|| "-".into(), |i| i.to_string()),
            nas,
            start,
            duration(now - s.start),
            bytes(s.input_octets),
            bytes(s.output_octets),
            s.session_id
        );
    }
    println!("{} session(s) online", sessions.len());
    Ok(())
}

/// Send `kind` for each session; exit code 0 when every NAS acknowledged.
async fn send_all(
    config: &Config,
    kind: DynAuthKind,
    sessions: &[Session],
    attrs: &[Vec<u8>],
) -> anyhow::Result<i32> {
    if sessions.is_empty() {
        bail!("no open session matches");
    }
    let clients = std::sync::Arc::new(Clients::new(nas_table(config).await?));
    let s = &config.sessions;
    let dynauth = Dynauth::new(
        clients,
        Timing {
            timeout: Duration::from_millis(s.dynauth_timeout_ms),
            attempts: s.dynauth_attempts,
        },
    );
    let mut failed = 0;
    for session in sessions {
        let what = format!(
            "{} {} (session {} on {})",
            kind.name(),
            session.username,
            session.session_id,
            session.nas_ip
        );
        match dynauth.send(kind, session, attrs, Trigger::Cli).await {
            Ok(DynAuthReply::Ack) => println!("{what}: ACK"),
            Ok(DynAuthReply::Nak { error_cause }) => {
                failed += 1;
                match error_cause {
                    Some(cause) => println!("{what}: NAK ({cause})"),
                    None => println!("{what}: NAK"),
                }
            }
            Err(e) => {
                failed += 1;
                println!("{what}: {e}");
            }
        }
    }
    Ok(i32::from(failed > 0))
}

/// `disconnect`.
pub(crate) async fn disconnect(config: &Config, args: &DisconnectArgs) -> anyhow::Result<i32> {
    let tenant = args.tenant.get()?;
    let filter = Filter {
        user: user_id(tenant, args.user.as_ref()),
        nas: None,
    };
    let mut sessions = open_sessions(config, &filter).await?;
    of_tenant(&mut sessions, tenant);
    if let Some(id) = &args.session {
        sessions.retain(|s| s.session_id == *id || s.unique_id == *id);
    }
    send_all(config, DynAuthKind::Disconnect, &sessions, &[]).await
}

/// `coa`.
pub(crate) async fn coa(config: &Config, dict: &Dictionary, args: &CoaArgs) -> anyhow::Result<i32> {
    let attrs = parse_assignments(dict, &args.attrs).map_err(anyhow::Error::msg)?;
    let tenant = args.tenant.get()?;
    let filter = Filter {
        user: user_id(tenant, Some(&args.user)),
        nas: None,
    };
    let sessions = open_sessions(config, &filter).await?;
    send_all(config, DynAuthKind::Coa, &sessions, &attrs).await
}
