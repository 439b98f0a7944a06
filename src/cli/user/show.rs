//! `user show`: the user's rows (passwords masked), the profile compiled by the server's
//! own code, the open sessions and usage from the store the servers share, and whether a
//! login now would be accepted, and why not.

use std::time::Duration;

use anyhow::{Context as _, bail};
use hotspot_radius::config::Config;
use hotspot_radius::model::{RadRow, Session, Usage, UserRows};
use hotspot_radius::policy::limits::{self, periods};
use hotspot_radius::policy::{Profile, Standing, reply_key};
use hotspot_radius::sessions::housekeeping::period_starts;
use hotspot_radius::sessions::{Filter, RedisSessions, SessionStore, oldest_first};
use hotspot_radius::store::PgStore;
use radius_proto::dictionary::Dictionary;

use super::{ShowArgs, compile, methods};

pub(super) fn deny_text(why: hotspot_radius::policy::DenyReason) -> String {
    use hotspot_radius::policy::DenyReason as D;
    let text = match why {
        D::AuthTypeReject => "Auth-Type := Reject (disabled)",
        D::Expired => "Expiration has passed",
        D::CheckItemsFailed => "no check item set matched",
        D::NoCredential => "no password and no Auth-Type := Accept",
        D::BrokenRow => "a row the server cannot understand (see problems)",
    };
    format!("{text} [{}]", why.name())
}

fn row_text(r: &RadRow, show_secrets: bool) -> String {
    let value = if r.is_secret() && !show_secrets {
        "********"
    } else {
        &r.value
    };
    format!("{} {} {}", r.attribute, r.op, value)
}

/// A pre-encoded reply TLV, rendered by the dictionary.
fn render_tlv(dict: &Dictionary, tlv: &[u8]) -> String {
    let (vendor, typ) = reply_key(tlv);
    let value = if vendor == 0 {
        tlv.get(2..)
    } else {
        tlv.get(8..)
    };
    dict.render(vendor, u32::from(typ), value.unwrap_or_default())
}

fn time_text(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn print_rows(rows: &UserRows, show_secrets: bool) {
    println!("user {}", rows.username);
    let list = |title: &str, rows: &[RadRow], indent: &str| {
        if rows.is_empty() {
            println!("{indent}{title}: (none)");
        } else {
            println!("{indent}{title}:");
            for r in rows {
                println!("{indent}  {}", row_text(r, show_secrets));
            }
        }
    };
    list("radcheck", &rows.check, "  ");
    list("radreply", &rows.reply, "  ");
    if rows.groups.is_empty() {
        println!("  packages: (none)");
    }
    for g in &rows.groups {
        println!("  package {} (priority {}):", g.name, g.priority);
        list("radgroupcheck", &g.check, "    ");
        list("radgroupreply", &g.reply, "    ");
    }
}

fn print_profile(profile: &Profile, standing: &Standing<'_>, dict: &Dictionary) {
    println!("compiled profile (every check item assumed to match):");
    match (standing.credential, standing.accept_without_password) {
        (_, true) => println!("  password: none checked (Auth-Type := Accept)"),
        (Some(c), false) => {
            let (attribute, methods) = methods(c);
            println!("  password: {attribute} ({methods})");
        }
        (None, false) => println!("  password: none"),
    }
    if let Some(t) = standing.expiration {
        println!("  expiration: {}", time_text(t));
    }
    if let Some(n) = profile.simultaneous_use() {
        println!("  simultaneous-use: {n}");
    }
    let l = &standing.limits;
    for (name, v) in [
        ("Max-All-Session", l.max_all_session),
        ("Max-Daily-Session", l.max_daily_session),
        ("Max-Monthly-Session", l.max_monthly_session),
        ("Expire-After", l.expire_after),
        ("Max-Total-Octets", l.max_total_octets),
        ("Max-Daily-Octets", l.max_daily_octets),
        ("Max-Monthly-Octets", l.max_monthly_octets),
    ] {
        if let Some(v) = v {
            println!("  limit: {name} = {v}");
        }
    }
    if l.login_time.is_some() {
        println!("  limit: Login-Time");
    }
    if let Some(s) = standing.session_timeout {
        println!("  reply: Session-Timeout = {s}");
    }
    for tlv in &standing.reply {
        println!("  reply: {}", render_tlv(dict, tlv));
    }
    for p in profile.problems() {
        println!("  problem: {p}");
    }
}

/// Open sessions and usage from the store the servers share: Redis when configured,
/// else `radacct` (what the in-process store is loaded from and mirrors).
async fn sessions_and_usage(
    pg: &PgStore,
    config: &Config,
    tenant: Option<&str>,
    name: &str,
    now: i64,
) -> anyhow::Result<(Vec<Session>, Usage, &'static str)> {
    let user_id = hotspot_radius::tenants::scoped(tenant, name);
    let filter = Filter {
        user: Some(user_id.clone().into_owned()),
        nas: None,
    };
    if let Some(url) = config.redis.url.as_deref() {
        let store = RedisSessions::connect_lazy(url, Duration::from_secs(5))
            .context("connecting to Redis")?;
        let open = store
            .list(&filter)
            .await
            .context("reading sessions from Redis")?;
        let state = store
            .user_state(&user_id)
            .await
            .context("reading usage from Redis")?;
        return Ok((open, state.usage, "redis"));
    }
    let tz = config.sessions.tz();
    let mut open: Vec<Session> = pg
        .open_sessions()
        .await
        .context("reading radacct")?
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect();
    oldest_first(&mut open);
    let (day_start, month_start) = period_starts(now, tz);
    let usage = pg
        .user_usage(tenant, name, day_start, month_start, periods(now, tz))
        .await
        .context("summing radacct")?;
    Ok((open, usage, "radacct"))
}

fn print_sessions(open: &[Session], usage: &Usage, source: &str, now: i64) {
    println!("sessions ({source}): {} open", open.len());
    for s in open {
        println!(
            "  {} on {} mac {} ip {} since {} ({}s) in {} out {}",
            s.session_id,
            s.nas_ip,
            s.mac.as_deref().unwrap_or("-"),
            s.framed_ip.map_or_else(|| "-".into(), |i| i.to_string()),
            time_text(s.start),
            (now - s.start).max(0),
            s.input_octets,
            s.output_octets
        );
    }
    println!(
        "usage: total {}s {} octets; today {}s {} octets; this month {}s {} octets",
        usage.total_seconds,
        usage.total_octets,
        usage.day_seconds,
        usage.day_octets,
        usage.month_seconds,
        usage.month_octets
    );
    if let Some(t) = usage.first_login {
        println!("first login: {}", time_text(t));
    }
}

/// Whether a login at `now` would be accepted (the password aside), and why.
fn verdict(
    profile: &Profile,
    standing: &Standing<'_>,
    open: usize,
    usage: &Usage,
    now: i64,
    tz: chrono_tz::Tz,
) -> String {
    if let Some(why) = standing.denied {
        return format!("REJECT: {}", deny_text(why));
    }
    if standing.credential.is_none() && !standing.accept_without_password {
        return format!(
            "REJECT: {}",
            deny_text(hotspot_radius::policy::DenyReason::NoCredential)
        );
    }
    if let Some(max) = profile.simultaneous_use()
        && open >= max as usize
    {
        return format!("REJECT: Simultaneous-Use {max} reached ({open} open) [simultaneous_use]");
    }
    match limits::decide(&standing.limits, usage, now, tz) {
        Err(why) => format!("REJECT: {} [{}]", why.message(), why.name()),
        Ok(grant) => {
            let mut text = String::from("ACCEPT (with the right password)");
            let timeout = match (grant.session_timeout, standing.session_timeout) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(t) = timeout {
                text.push_str(&format!("; Session-Timeout {t}s"));
            }
            if let Some(d) = grant.data_left {
                text.push_str(&format!("; {d} octets left"));
            }
            text
        }
    }
}

pub(super) async fn show(
    pg: &PgStore,
    config: &Config,
    dict: &Dictionary,
    a: &ShowArgs,
) -> anyhow::Result<()> {
    let tenant = a.tenant.get()?;
    let Some(rows) = pg
        .load_user_in(tenant, &a.name)
        .await
        .context("reading the user")?
    else {
        bail!("no user named `{}`{}", a.name, super::of_tenant(tenant));
    };
    if let Some(t) = tenant {
        // What a NAS of the tenant sees: its own rows, else the global user's.
        println!("tenant {t}");
    }
    let now = chrono::Utc::now().timestamp();
    print_rows(&rows, a.show_secrets);
    let profile = compile(&rows, config, dict);
    let standing = profile.standing(now);
    print_profile(&profile, &standing, dict);
    let (open, usage, source) = sessions_and_usage(pg, config, tenant, &a.name, now).await?;
    print_sessions(&open, &usage, source, now);
    println!(
        "login now: {}",
        verdict(
            &profile,
            &standing,
            open.len(),
            &usage,
            now,
            config.sessions.tz()
        )
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_redacts_secrets() {
        let row = RadRow {
            attribute: "Cleartext-Password".into(),
            op: ":=".into(),
            value: "hunter2".into(),
        };
        assert!(!row_text(&row, false).contains("hunter2"));
        assert!(row_text(&row, true).contains("hunter2"));
    }
}
