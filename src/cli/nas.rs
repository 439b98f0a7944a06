//! `nas add|list|remove|unlatch`: manage rows of the `nas` table and the recorded `auto`
//! Message-Authenticator latches (the running servers pick the change up at once through
//! NOTIFY). `list` masks secrets.

use std::net::IpAddr;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use hotspot_radius::app;
use hotspot_radius::config::{Config, MessageAuthenticatorPolicy, parse_network};
use hotspot_radius::model::NasRow;
use hotspot_radius::store::NasWrite;

/// `nas` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum NasCommand {
    /// Add (or replace) a NAS row.
    Add(NasAddArgs),
    /// List NAS rows (secrets masked).
    List(crate::cli::TenantArg),
    /// Remove a NAS row by address (and forget the Message-Authenticator latches of its
    /// addresses).
    Remove {
        /// The `nasname` (IP or CIDR) to remove.
        address: String,
    },
    /// Reset the `auto` Message-Authenticator latch of a router (or of every router in a
    /// CIDR range), e.g. after downgrading it to a RouterOS that sends none. Works for
    /// `[[nas]]` entries of the config file too.
    Unlatch {
        /// IP address or CIDR network whose latches are reset.
        #[arg(long)]
        address: String,
    },
}

/// `nas add` arguments. `Debug` redacts the secret.
#[derive(Args)]
pub(crate) struct NasAddArgs {
    /// IP address or CIDR network of the NAS.
    #[arg(long)]
    address: String,
    /// Shared secret (`-` reads it from standard input, `@PATH` from a file).
    #[arg(long)]
    secret: String,
    /// Short name.
    #[arg(long)]
    name: Option<String>,
    /// CoA / Disconnect port.
    #[arg(long, default_value_t = 3799)]
    coa_port: u16,
    /// Message-Authenticator policy: require, auto or off.
    #[arg(long, default_value = "auto")]
    require_message_authenticator: String,
    /// The tenant the NAS belongs to (its requests see that tenant's users); absent: global.
    #[command(flatten)]
    tenant: crate::cli::TenantArg,
}

impl std::fmt::Debug for NasAddArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NasAddArgs")
            .field("address", &self.address)
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("coa_port", &self.coa_port)
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// Run one `nas` subcommand against the configured database.
pub(crate) async fn run(config: &Config, cmd: NasCommand) -> anyhow::Result<()> {
    let pg = app::database(config)?;
    let result = match cmd {
        NasCommand::Add(a) => add(&pg, a).await,
        NasCommand::List(tenant) => match tenant.get() {
            Ok(tenant) => list(&pg, tenant).await,
            Err(e) => Err(e),
        },
        NasCommand::Remove { address } => remove(&pg, &address).await,
        NasCommand::Unlatch { address } => unlatch(&pg, &address).await,
    };
    pg.close().await;
    result
}

async fn add(pg: &hotspot_radius::store::PgStore, a: NasAddArgs) -> anyhow::Result<()> {
    if parse_network(&a.address).is_none() {
        bail!("`{}` is not an IP address or CIDR network", a.address);
    }
    let Some(policy) = MessageAuthenticatorPolicy::parse(&a.require_message_authenticator) else {
        bail!("--require-message-authenticator must be require, auto or off");
    };
    let tenant = a.tenant.get()?;
    let secret = super::secret_value(&a.secret)?;
    if secret.is_empty() {
        bail!("--secret must not be empty");
    }
    let row = NasRow {
        nasname: a.address.clone(),
        shortname: a.name.clone(),
        secret,
        coa_port: i32::from(a.coa_port),
        require_message_authenticator: policy.as_str().to_owned(),
        tenant: tenant.map(str::to_owned),
    };
    let of = tenant.map(|t| format!(" (tenant {t})")).unwrap_or_default();
    match pg.add_nas(&row).await.context("adding the nas row")? {
        NasWrite::Added { .. } => println!("added NAS {}{of}", a.address),
        NasWrite::Replaced { rows: 1, .. } => println!("replaced NAS {}{of}", a.address),
        NasWrite::Replaced { rows, .. } => println!(
            "replaced NAS {} ({rows} rows had that address; all now carry the new secret)",
            a.address
        ),
    }
    Ok(())
}

/// The rows (all, or only those of `tenant`), with a TENANT column (`-`: global).
async fn list(pg: &hotspot_radius::store::PgStore, tenant: Option<&str>) -> anyhow::Result<()> {
    let rows = pg.list_nas().await.context("listing nas rows")?;
    let latched = pg
        .load_ma_latches()
        .await
        .context("reading the Message-Authenticator latches")?;
    println!(
        "{:<24} {:<20} {:<10} {:<8} {:<13} {:<16} LATCHED",
        "ADDRESS", "NAME", "SECRET", "COA", "MESSAGE-AUTH", "TENANT"
    );
    let mut covered = 0;
    for r in rows.into_iter().map(|e| e.nas) {
        let mine = latched_in(&r.nasname, &latched);
        covered += mine;
        if tenant.is_some() && r.tenant.as_deref() != tenant {
            continue;
        }
        println!(
            "{:<24} {:<20} {:<10} {:<8} {:<13} {:<16} {}",
            r.nasname,
            r.shortname.as_deref().unwrap_or("-"),
            mask(&r.secret),
            r.coa_port,
            r.require_message_authenticator,
            r.tenant.as_deref().unwrap_or("-"),
            latch_label(&r.nasname, mine)
        );
    }
    let elsewhere = latched.len().saturating_sub(covered);
    if elsewhere > 0 {
        println!(
            "({elsewhere} more latched address(es) outside these rows, e.g. [[nas]] entries \
             of the config file; `nas unlatch --address` resets one)"
        );
    }
    Ok(())
}

/// How many latched addresses fall in a row's network (0 for an unparsable `nasname`).
fn latched_in(nasname: &str, latched: &[IpAddr]) -> usize {
    parse_network(nasname).map_or(0, |net| latched.iter().filter(|a| net.contains(*a)).count())
}

/// The LATCHED column: `yes`/`no` for one address, the number of latched routers for a
/// range. Only meaningful under the `auto` policy (`require` always requires).
fn latch_label(nasname: &str, latched: usize) -> String {
    let host = parse_network(nasname).is_some_and(|n| n.prefix_len() == n.max_prefix_len());
    match (host, latched) {
        (true, 0) => "no".to_owned(),
        (true, _) => "yes".to_owned(),
        (false, n) => format!("{n} router(s)"),
    }
}

async fn unlatch(pg: &hotspot_radius::store::PgStore, address: &str) -> anyhow::Result<()> {
    let Some(network) = parse_network(address) else {
        bail!("`{address}` is not an IP address or CIDR network");
    };
    let n = pg
        .forget_ma_latches(&network)
        .await
        .context("resetting the Message-Authenticator latch")?;
    if n == 0 {
        println!("no Message-Authenticator latch recorded for {address}");
    } else {
        println!("reset {n} Message-Authenticator latch(es) in {address}");
    }
    Ok(())
}

async fn remove(pg: &hotspot_radius::store::PgStore, address: &str) -> anyhow::Result<()> {
    let removed = pg
        .remove_nas(address)
        .await
        .context("removing the nas row")?;
    if removed == 0 {
        bail!("no NAS row for `{address}`");
    }
    println!("removed NAS {address}");
    if let Some(network) = parse_network(address) {
        let n = pg
            .forget_ma_latches(&network)
            .await
            .context("forgetting the entry's Message-Authenticator latches")?;
        if n > 0 {
            println!("forgot {n} Message-Authenticator latch(es) in {address}");
        }
    }
    Ok(())
}

/// A secret shown as its first character and stars (never more than 1 char revealed).
fn mask(secret: &str) -> String {
    match secret.chars().next() {
        Some(c) if secret.chars().count() > 4 => format!("{c}*******"),
        _ => "********".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_secrets() {
        assert_eq!(mask("abc"), "********");
        assert_eq!(mask("supersecret"), "s*******");
        assert!(!mask("supersecret").contains("secret"));
    }
}
