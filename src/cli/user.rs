//! `user add|disable|enable|set-package|show|list`: users and their packages for operators
//! without an admin app. Writes radcheck, radreply and radusergroup rows as FreeRADIUS
//! keeps them (one transaction per command); the schema's triggers NOTIFY every running
//! server, which drops its cached profile and, for a user with open sessions, disconnects
//! or re-rates them (`sessions::actions`).
//!
//! `show` compiles the rows with the server's own code (`Profile::compile_in` and
//! `Profile::standing`) and reads the session store the servers use (Redis when configured,
//! else `radacct`), so what it says is what the server would do.

mod show;

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use hotspot_radius::app;
use hotspot_radius::config::Config;
use hotspot_radius::model::{RadRow, UserRows};
use hotspot_radius::policy::Profile;
use hotspot_radius::store::{Membership, PgStore, UserWrite};
use radius_proto::auth::Credential;
use radius_proto::dictionary::Dictionary;

/// `user` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// Create a user: a password check item, optional package, check and reply items.
    Add(AddArgs),
    /// Refuse the user's logins (radcheck `Auth-Type := Reject`); open sessions are
    /// disconnected by the running servers.
    Disable {
        /// User-Name.
        name: String,
        #[command(flatten)]
        tenant: crate::cli::TenantArg,
    },
    /// Undo `disable` (deletes the user's radcheck `Auth-Type` `Reject` rows).
    Enable {
        /// User-Name.
        name: String,
        #[command(flatten)]
        tenant: crate::cli::TenantArg,
    },
    /// Put the user in one package, replacing their radusergroup rows.
    SetPackage(SetPackageArgs),
    /// The user's rows, compiled profile, open sessions, usage, and whether a login now
    /// would be accepted.
    Show(ShowArgs),
    /// List users (name, packages, disabled).
    List(ListArgs),
}

/// How `user add` stores the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HashKind {
    /// `Cleartext-Password`: PAP, CHAP, MS-CHAP v1 and v2.
    None,
    /// `NT-Password` (MD4 of UTF-16LE): PAP, MS-CHAP v1 and v2; not CHAP.
    Nt,
    /// `Crypt-Password` bcrypt (`$2b$`, cost 10): PAP only.
    Bcrypt,
    /// `Crypt-Password` SHA-512 crypt (`$6$`): PAP only.
    Sha512,
}

/// `user add` arguments. `Debug` redacts the password.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("secret").args(["password_stdin", "password_file", "password"])))]
pub(crate) struct AddArgs {
    /// User-Name.
    name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The password itself (visible to other users in `ps` and in shell history).
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// How to store the password.
    #[arg(long, value_enum, default_value = "none")]
    hash: HashKind,
    /// Package (radusergroup group); repeat for several, in priority order.
    #[arg(long, value_name = "GROUP")]
    package: Vec<String>,
    /// radusergroup priority of the first package (the next ones follow it).
    #[arg(long, default_value_t = 1)]
    priority: i32,
    /// A radcheck item, `'Attribute op value'` (e.g. `'Simultaneous-Use := 1'`); repeatable.
    #[arg(long, value_name = "ITEM")]
    attr: Vec<String>,
    /// A radreply item, `'Attribute op value'` (e.g. `'Mikrotik-Rate-Limit := 2M/4M'`);
    /// repeatable.
    #[arg(long, value_name = "ITEM")]
    reply: Vec<String>,
    /// Replace every radcheck, radreply and radusergroup row of an existing user.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    pub(crate) tenant: crate::cli::TenantArg,
}

impl std::fmt::Debug for AddArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddArgs")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("hash", &self.hash)
            .field("package", &self.package)
            .field("attr", &self.attr)
            .field("reply", &self.reply)
            .field("replace", &self.replace)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// `user set-package` arguments.
#[derive(Args, Debug)]
pub(crate) struct SetPackageArgs {
    /// User-Name.
    name: String,
    /// The package (radusergroup group).
    group: String,
    /// radusergroup priority.
    #[arg(long, default_value_t = 1)]
    priority: i32,
    #[command(flatten)]
    pub(crate) tenant: crate::cli::TenantArg,
}

/// `user show` arguments.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// User-Name.
    name: String,
    /// Show password values instead of `********`.
    #[arg(long)]
    show_secrets: bool,
    #[command(flatten)]
    pub(crate) tenant: crate::cli::TenantArg,
}

/// `user list` arguments.
#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// Only members of this package.
    #[arg(long, value_name = "GROUP")]
    package: Option<String>,
    #[command(flatten)]
    pub(crate) tenant: crate::cli::TenantArg,
}

/// Run one `user` subcommand against the configured database.
pub(crate) async fn run(
    config: &Config,
    dict: &Dictionary,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    let pg = app::database(config)?;
    let result = match cmd {
        UserCommand::Add(a) => add(&pg, config, dict, a).await,
        UserCommand::Disable { name, tenant } => {
            set_disabled(&pg, config, dict, tenant.get()?, &name, true).await
        }
        UserCommand::Enable { name, tenant } => {
            set_disabled(&pg, config, dict, tenant.get()?, &name, false).await
        }
        UserCommand::SetPackage(a) => set_package(&pg, &a).await,
        UserCommand::Show(a) => show::show(&pg, config, dict, &a).await,
        UserCommand::List(a) => list(&pg, &a).await,
    };
    pg.close().await;
    result
}

/// The operators of check and reply items (FreeRADIUS `users` / rlm_sql syntax).
const OPERATORS: [&str; 13] = [
    ":=", "==", "+=", "!=", ">=", "<=", "=~", "!~", "=*", "!*", "=", ">", "<",
];

/// `'Attribute op value'` (spaces around the operator optional, the value may be in double
/// quotes) as a row.
fn parse_item(text: &str) -> anyhow::Result<RadRow> {
    let text = text.trim();
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    let (attribute, rest) = text.split_at(name_end);
    let rest = rest.trim_start();
    let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) else {
        bail!(
            "`{text}`: expected 'Attribute op value' (op one of {})",
            OPERATORS.join(" ")
        );
    };
    if attribute.is_empty() {
        bail!("`{text}`: no attribute name");
    }
    let value = rest[op.len()..].trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Ok(RadRow {
        attribute: attribute.to_owned(),
        op: (*op).to_owned(),
        value: value.to_owned(),
    })
}

/// A User-Name we will write: not empty, at most 253 bytes (RFC 2865 §5.1), no control
/// characters or surrounding spaces (they would never match a request).
/// ` (tenant T)` for messages about a tenant's user; empty for a global one.
fn of_tenant(tenant: Option<&str>) -> String {
    tenant.map(|t| format!(" (tenant {t})")).unwrap_or_default()
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > 253 {
        bail!("a user name has 1 to 253 bytes");
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        bail!(
            "`{}`: no spaces around a user name, no control characters",
            name.escape_debug()
        );
    }
    Ok(())
}

/// The password from whichever source was given (`None`: none was).
fn password(a: &AddArgs) -> anyhow::Result<Option<String>> {
    let text = if a.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut text)
            .context("reading the password from standard input")?;
        text
    } else if let Some(path) = &a.password_file {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the password from {}", path.display()))?
    } else if let Some(p) = &a.password {
        eprintln!(
            "warning: --password is visible to other users in `ps`; prefer --password-stdin or --password-file"
        );
        return Ok(Some(p.clone()));
    } else {
        return Ok(None);
    };
    Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
}

/// The check item that stores `password` as `hash` says.
fn password_row(password: &str, hash: HashKind) -> anyhow::Result<RadRow> {
    let (attribute, value) = match hash {
        HashKind::None => ("Cleartext-Password", password.to_owned()),
        HashKind::Nt => {
            let digest = radius_proto::auth::mschapv2::nt_hash(password.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            ("NT-Password", hex)
        }
        HashKind::Bcrypt => (
            "Crypt-Password",
            bcrypt::non_truncating_hash(password, 10)
                .context("bcrypt (a password of at most 72 bytes)")?,
        ),
        HashKind::Sha512 => ("Crypt-Password", sha512_crypt(password)?),
    };
    Ok(RadRow {
        attribute: attribute.to_owned(),
        op: ":=".to_owned(),
        value,
    })
}

/// `$6$<16 salt characters>$<hash>` with the default 5000 rounds, as glibc writes it.
fn sha512_crypt(password: &str) -> anyhow::Result<String> {
    const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let random: [u8; 16] = rand::random();
    let salt: String = random
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect();
    let params = sha_crypt::Sha512Params::new(sha_crypt::ROUNDS_DEFAULT)
        .map_err(|e| anyhow::anyhow!("SHA-512 crypt parameters: {e:?}"))?;
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
        .map_err(|e| anyhow::anyhow!("SHA-512 crypt: {e:?}"))?;
    Ok(format!("$6${salt}${hash}"))
}

/// The methods a stored credential serves.
fn methods(credential: &Credential) -> (&'static str, &'static str) {
    match credential {
        Credential::Cleartext(_) => ("Cleartext-Password", "PAP, CHAP, MS-CHAP"),
        Credential::NtHash(_) => ("NT-Password", "PAP, MS-CHAP (not CHAP)"),
        Credential::Crypt(_) => ("Crypt-Password", "PAP only"),
    }
}

/// Compile `rows` as the server does (`[sessions] time_zone` for zone-less Expiration).
fn compile(rows: &UserRows, config: &Config, dict: &Dictionary) -> Profile {
    Profile::compile_in(rows, dict, config.sessions.tz())
}

fn memberships(groups: &[String], first_priority: i32) -> Vec<Membership> {
    groups
        .iter()
        .zip(first_priority..)
        .map(|(group, priority)| Membership {
            group: group.clone(),
            priority,
        })
        .collect()
}

/// Warns about packages without a radgroupcheck or radgroupreply row (usually a typo).
async fn warn_empty_packages(
    pg: &PgStore,
    tenant: Option<&str>,
    groups: &[Membership],
) -> anyhow::Result<()> {
    for m in groups {
        if !pg.group_has_rows(tenant, &m.group).await? {
            eprintln!(
                "warning: package `{}` has no radgroupcheck or radgroupreply rows yet",
                m.group
            );
        }
    }
    Ok(())
}

async fn add(pg: &PgStore, config: &Config, dict: &Dictionary, a: AddArgs) -> anyhow::Result<()> {
    check_name(&a.name)?;
    let tenant = a.tenant.get()?;
    let mut check = Vec::new();
    if let Some(password) = password(&a)? {
        if password.is_empty() {
            bail!("the password is empty");
        }
        check.push(password_row(&password, a.hash)?);
    }
    for item in &a.attr {
        check.push(parse_item(item).with_context(|| format!("--attr {item}"))?);
    }
    let reply = a
        .reply
        .iter()
        .map(|item| parse_item(item).with_context(|| format!("--reply {item}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The server skips rows it cannot compile: refuse them here instead.
    let own = UserRows {
        username: a.name.clone(),
        check: check.clone(),
        reply: reply.clone(),
        groups: Vec::new(),
    };
    let profile = compile(&own, config, dict);
    if !profile.problems().is_empty() {
        bail!(
            "the server would skip these rows:\n  {}",
            profile.problems().join("\n  ")
        );
    }
    let standing = profile.standing(i64::MIN);
    if standing.credential.is_none()
        && !standing.accept_without_password
        && standing.denied.is_none()
        && a.package.is_empty()
    {
        bail!(
            "no password: give --password-stdin, --password-file or --password \
             (or --attr 'Auth-Type := Accept' for a user without one)"
        );
    }
    let groups = memberships(&a.package, a.priority);
    let what = match pg
        .add_user(tenant, &a.name, &check, &reply, &groups, a.replace)
        .await
        .context("writing the user's rows")?
    {
        UserWrite::Exists => {
            bail!("user `{}` exists (--replace overwrites their rows)", a.name)
        }
        UserWrite::Added => "added",
        UserWrite::Replaced => "replaced",
    };
    let mut line = format!("{what} user {}{}", a.name, of_tenant(tenant));
    if let Some(credential) = standing.credential {
        let (attribute, methods) = methods(credential);
        line.push_str(&format!(" ({attribute}: {methods})"));
    }
    if !groups.is_empty() {
        line.push_str(&format!(" in package {}", a.package.join(", ")));
    }
    println!("{line}");
    warn_empty_packages(pg, tenant, &groups).await
}

async fn set_disabled(
    pg: &PgStore,
    config: &Config,
    dict: &Dictionary,
    tenant: Option<&str>,
    name: &str,
    disable: bool,
) -> anyhow::Result<()> {
    let Some(changed) = pg
        .set_user_disabled(tenant, name, disable)
        .await
        .context("writing radcheck")?
    else {
        bail!("no user named `{name}`{}", of_tenant(tenant));
    };
    let verb = if disable { "disabled" } else { "enabled" };
    if changed {
        println!("{verb} user {name}");
    } else {
        println!("user {name} was already {verb}");
    }
    // What the server now makes of it: a package may say otherwise.
    let Some(rows) = pg.load_user_in(tenant, name).await? else {
        return Ok(());
    };
    let profile = compile(&rows, config, dict);
    let denied = profile.standing(chrono::Utc::now().timestamp()).denied;
    match (disable, denied) {
        (true, None) => eprintln!(
            "warning: the compiled profile still admits {name} (a package's `Auth-Type :=` \
             overrides the user's); see `hotspot-radius user show {name}`"
        ),
        (false, Some(why)) => {
            eprintln!("warning: {name} is still refused: {}", show::deny_text(why))
        }
        _ => {}
    }
    Ok(())
}

async fn set_package(pg: &PgStore, a: &SetPackageArgs) -> anyhow::Result<()> {
    check_name(&a.name)?;
    let tenant = a.tenant.get()?;
    if a.group.is_empty() {
        bail!("the package name is empty");
    }
    let groups = memberships(std::slice::from_ref(&a.group), a.priority);
    let Some(removed) = pg
        .set_user_groups(tenant, &a.name, &groups)
        .await
        .context("writing radusergroup")?
    else {
        bail!("no user named `{}`{}", a.name, of_tenant(tenant));
    };
    println!(
        "user {} is in package {} (priority {}; {removed} earlier membership row{} removed)",
        a.name,
        a.group,
        a.priority,
        if removed == 1 { "" } else { "s" }
    );
    warn_empty_packages(pg, tenant, &groups).await
}

async fn list(pg: &PgStore, a: &ListArgs) -> anyhow::Result<()> {
    let users = pg
        .list_users(a.tenant.get()?, a.package.as_deref())
        .await
        .context("listing users")?;
    println!("{:<32} {:<9} PACKAGES", "USER", "STATE");
    for u in &users {
        println!(
            "{:<32} {:<9} {}",
            u.username,
            if u.disabled { "disabled" } else { "enabled" },
            if u.groups.is_empty() {
                "-".to_owned()
            } else {
                u.groups.join(", ")
            }
        );
    }
    println!("{} user(s)", users.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_parse_with_or_without_spaces() {
        let r = parse_item("Mikrotik-Rate-Limit := 2M/4M").unwrap();
        assert_eq!(
            (r.attribute.as_str(), r.op.as_str(), r.value.as_str()),
            ("Mikrotik-Rate-Limit", ":=", "2M/4M")
        );
        let r = parse_item("Simultaneous-Use:=1").unwrap();
        assert_eq!((r.op.as_str(), r.value.as_str()), (":=", "1"));
        let r = parse_item("Login-Time := \"Wk0800-1800\"").unwrap();
        assert_eq!(r.value, "Wk0800-1800");
        let r = parse_item("NAS-IP-Address == 10.0.0.1").unwrap();
        assert_eq!(r.op, "==");
        let r = parse_item("Framed-IP-Address = 10.1.1.1").unwrap();
        assert_eq!(r.op, "=");
        assert!(parse_item("Mikrotik-Rate-Limit 2M").is_err());
        assert!(parse_item(":= 2M").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice@example").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" alice").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(254)).is_err());
    }

    #[test]
    fn stored_passwords_verify_with_the_server_code() {
        for hash in [HashKind::Bcrypt, HashKind::Sha512] {
            let row = password_row("s3cret", hash).unwrap();
            assert_eq!(row.attribute, "Crypt-Password");
            assert!(
                radius_proto::auth::crypt::verify(b"s3cret", row.value.as_bytes()),
                "{hash:?}"
            );
            assert!(
                !radius_proto::auth::crypt::verify(b"other", row.value.as_bytes()),
                "{hash:?}"
            );
        }
        // RFC 2759 §9.2: NT hash of "clientPass".
        let row = password_row("clientPass", HashKind::Nt).unwrap();
        assert_eq!(
            (row.attribute.as_str(), row.value.as_str()),
            ("NT-Password", "44ebba8d5312b8d611474411f56989ae")
        );
        let row = password_row("p", HashKind::None).unwrap();
        assert_eq!(
            (row.attribute.as_str(), row.op.as_str(), row.value.as_str()),
            ("Cleartext-Password", ":=", "p")
        );
    }

    #[test]
    fn cli_parses() {
        use clap::Parser as _;
        let c = crate::cli::Cli::try_parse_from([
            "hotspot-radius",
            "user",
            "add",
            "bob",
            "--password-stdin",
            "--package",
            "gold",
            "--attr",
            "Simultaneous-Use := 1",
            "--reply",
            "Mikrotik-Rate-Limit := 1M/2M",
        ])
        .unwrap();
        assert!(
            matches!(c.command, Some(crate::cli::Command::User(UserCommand::Add(a))) if a.password_stdin && a.package == ["gold"])
        );
        assert!(
            crate::cli::Cli::try_parse_from([
                "hotspot-radius",
                "user",
                "add",
                "bob",
                "--password-stdin",
                "--password",
                "x",
            ])
            .is_err(),
            "one password source"
        );
        assert!(
            crate::cli::Cli::try_parse_from([
                "hotspot-radius",
                "user",
                "set-package",
                "bob",
                "gold",
                "--priority",
                "2"
            ])
            .is_ok()
        );
    }
}
