//! The messages of `check`: a typo gets the nearest key, a wrong value the expected form.

use crate::config::Config;

/// The problem reported for `key` when loading `text`, without the file and key prefix.
fn problem(text: &str, key: &str) -> String {
    let err = Config::from_str_named("t.toml", text).expect_err("the text should be refused");
    let prefix = format!("t.toml: key `{key}`: ");
    let all = err.problems();
    all.iter()
        .find_map(|p| p.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no problem for {key} in {all:#?}"))
}

#[test]
fn unknown_keys_suggest_the_nearest_known_key() {
    assert_eq!(
        problem("[server]\nrecievers = 2\n", "server.recievers"),
        r#"unknown key "recievers" in [server] (did you mean "receivers"?)"#
    );
    assert_eq!(
        problem(
            "[server]\nshutdown_timeout = 5\n",
            "server.shutdown_timeout"
        ),
        r#"unknown key "shutdown_timeout" in [server] (did you mean "shutdown_timeout_secs"?)"#
    );
    assert_eq!(
        problem("[server]\ndedup_ttl_secs = 5\n", "server.dedup_ttl_secs"),
        r#"unknown key "dedup_ttl_secs" in [server] (did you mean "dedup_ttl_ms"?)"#
    );
    assert_eq!(
        problem(
            "[[nas]]\naddress = \"10.0.0.1\"\nsecert = \"s\"\n",
            "nas[0].secert"
        ),
        r#"unknown key "secert" in [[nas]] (did you mean "secret"?)"#
    );
    assert_eq!(
        problem("[sever]\nreceivers = 2\n", "sever"),
        "unknown section [sever] (did you mean [server]?)"
    );
    assert_eq!(
        problem("[[nass]]\naddress = \"10.0.0.1\"\n", "nass"),
        "unknown section [nass] (did you mean [[nas]]?)"
    );
}

#[test]
fn a_key_of_another_section_is_pointed_there() {
    assert_eq!(
        problem("[server]\npool_size = 4\n", "server.pool_size"),
        r#"unknown key "pool_size" in [server] (it belongs in [database])"#
    );
    assert_eq!(
        problem("receivers = 4\n", "receivers"),
        r#"unknown key "receivers" at the top level (it belongs in [server])"#
    );
}

#[test]
fn no_suggestion_when_nothing_is_near() {
    assert_eq!(
        problem("[server]\ncolour = \"blue\"\n", "server.colour"),
        r#"unknown key "colour" in [server]"#
    );
}

#[test]
fn addresses_say_ip_port() {
    let m = problem("[server]\nauth_addr = \"1812\"\n", "server.auth_addr");
    assert!(m.starts_with(r#"invalid value "1812""#), "{m}");
    assert!(m.ends_with("expected IP:PORT, e.g. 0.0.0.0:1812"), "{m}");
    let m = problem("[admin]\naddr = 9812\n", "admin.addr");
    assert_eq!(
        m,
        "invalid value 9812: expected IP:PORT, e.g. 127.0.0.1:9812"
    );
}

#[test]
fn tenants_say_the_name_rule() {
    let text = "[[nas]]\naddress = \"10.0.0.1\"\nsecret = \"s\"\ntenant = \"a:b\"\n";
    let m = problem(text, "nas[0].tenant");
    assert!(m.contains("\"a:b\"") && m.contains("tenant name"), "{m}");
    let ok = "[[nas]]\naddress = \"10.0.0.1\"\nsecret = \"s\"\ntenant = \"isp-2.east_1\"\n";
    let config = Config::from_str_named("t.toml", ok).expect("a valid tenant loads");
    assert_eq!(config.nas[0].tenant.as_deref(), Some("isp-2.east_1"));
    let cap = "[admin]\nper_tenant_metrics_cap = 0\n";
    assert!(problem(cap, "admin.per_tenant_metrics_cap").contains("1 to 10000"));
}

#[test]
fn networks_say_ip_or_cidr() {
    let text = "[[nas]]\naddress = \"10.0.0.0/33\"\nsecret = \"s\"\n";
    let m = problem(text, "nas[0].address");
    assert!(
        m.contains(r#"expected an IP address or a CIDR network, e.g. "192.168.88.1""#),
        "{m}"
    );
}

#[test]
fn durations_say_their_unit() {
    assert_eq!(
        problem("[server]\ndedup_ttl_ms = \"5s\"\n", "server.dedup_ttl_ms"),
        r#"invalid value "5s": expected a whole number of milliseconds, e.g. 5000"#
    );
    assert_eq!(
        problem(
            "[server]\nshutdown_timeout_secs = -1\n",
            "server.shutdown_timeout_secs"
        ),
        "-1 must not be negative: expected a whole number of seconds, e.g. 10"
    );
    assert_eq!(
        problem("[[nas]]\ncoa_port = 70000\n", "nas[0].coa_port"),
        "70000 is too large: expected a whole number, e.g. 3799"
    );
}

#[test]
fn enums_list_their_values() {
    assert_eq!(
        problem(
            "[[nas]]\naddress = \"10.0.0.1\"\nsecret = \"s\"\nrequire_message_authenticator = \"sometimes\"\n",
            "nas[0].require_message_authenticator"
        ),
        r#"invalid value "sometimes": expected one of "require", "auto", "off""#
    );
    assert_eq!(
        problem("[postauth]\nlog = true\n", "postauth.log"),
        r#"invalid value true: expected one of "all", "rejects", "off""#
    );
    assert_eq!(
        problem("[admin]\nenabled = [true]\n", "admin.enabled"),
        "invalid value (an array): expected true or false"
    );
    assert_eq!(
        problem("[admin]\nenabled = \"yes\"\n", "admin.enabled"),
        r#"invalid value "yes": expected true or false"#
    );
}

#[test]
fn time_zones_say_iana_and_suggest() {
    let m = problem(
        "[sessions]\ntime_zone = \"Asia/Jakrta\"\n",
        "sessions.time_zone",
    );
    assert_eq!(
        m,
        r#"invalid value "Asia/Jakrta": expected an IANA time zone name, e.g. "Asia/Jakarta", "Europe/Berlin" or "UTC" (did you mean "Asia/Jakarta"?)"#
    );
    let m = problem(
        "[sessions]\ntime_zone = \"europe/berlin\"\n",
        "sessions.time_zone",
    );
    assert!(m.ends_with(r#"(did you mean "Europe/Berlin"?)"#), "{m}");
    let m = problem("[sessions]\ntime_zone = \"WIB\"\n", "sessions.time_zone");
    assert!(!m.contains("did you mean"), "{m}");
}

#[test]
fn log_levels_list_the_levels() {
    assert_eq!(
        problem("[log]\nlevel = \"verbose\"\n", "log.level"),
        r#"invalid value "verbose": expected a log level: "error", "warn", "info", "debug", "trace" or "off", or per-module filters such as "info,hotspot_radius=debug""#
    );
}

#[test]
fn every_key_has_a_form() {
    for section in crate::config::schema::sections() {
        for key in section.keys {
            let form = super::expected_form(section.name, key);
            assert!(
                form.starts_with("expected "),
                "{}.{key}: {form}",
                section.name
            );
        }
    }
}

#[test]
fn pgbouncer_needs_a_listen_url_and_urls_are_postgres() {
    let text = "[database]\nurl = \"postgres://b/r\"\npgbouncer = true\n";
    assert!(problem(text, "database.listen_url").contains("database.pgbouncer = true"));
    let text = "[database]\nurl = \"postgres://b/r\"\nreplica_url = \"mysql://r/r\"\n";
    assert_eq!(
        problem(text, "database.replica_url"),
        "must start with postgres:// or postgresql://"
    );
    let ok = "[database]\nurl = \"postgres://b/r\"\npgbouncer = true\n\
              listen_url = \"postgres://p/r\"\nreplica_url = \"postgres://r/r\"\n";
    assert!(Config::from_str_named("t.toml", ok).is_ok());
}
