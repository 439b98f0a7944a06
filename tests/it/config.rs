//! Configuration files: every shipped `config/*.toml` parses and validates, and
//! `check-config` reports every problem with key and file, with the right exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use hotspot_radius::config::Config;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hr-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_shipped_config_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(config_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 1, "no config/*.toml found");
}

#[test]
fn example_documents_every_key_with_its_default() {
    // Uncommenting nothing, the example must equal the defaults: it documents them.
    let example = config_dir().join("hotspot-radius.example.toml");
    let c = Config::load(&example).unwrap();
    let defaults = Config {
        nas: c.nas.clone(),
        ..Config::default()
    };
    assert_eq!(
        c, defaults,
        "example values differ from the built-in defaults"
    );
    // Every key of every section appears in the example (commented or not).
    let text = std::fs::read_to_string(&example).unwrap();
    for key in [
        "auth_addr",
        "acct_addr",
        "receivers",
        "max_inflight",
        "reject_delay_ms",
        "dedup_ttl_ms",
        "dedup_capacity",
        "shutdown_timeout_secs",
        "dictionary",
        "addr",
        "enabled",
        "ready_db_max_age_secs",
        "url",
        "pool_size",
        "l1_capacity",
        "l1_ttl_secs",
        "negative_ttl_secs",
        "l2_ttl_secs",
        "level",
        "address",
        "secret",
        "name",
        "coa_port",
        "require_message_authenticator",
        "journal_dir",
        "journal_max_bytes",
        "journal_segment_bytes",
        "max_batch",
        "max_wait_ms",
        "queue",
        "writers",
        "write_timeout_ms",
        "retry_after_ms",
        "history_after_days",
        "log",
        "retention_days",
    ] {
        assert!(
            text.contains(&format!("{key} =")),
            "key {key} not documented in the example"
        );
    }
}

#[test]
fn unknown_key_names_key_and_file() {
    let path = temp_file("unknown.toml", "[server]\nauth_adr = \"0.0.0.0:1812\"\n");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("server.auth_adr"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[test]
fn check_config_exit_codes_and_lists_every_problem() {
    let good = config_dir().join("hotspot-radius.example.toml");
    let out = bin().arg("check-config").arg(&good).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = temp_file(
        "bad.toml",
        r#"
typo_section = 1
[server]
auth_addr = "not an address"
max_inflight = "many"
[admin]
colour = "red"
[[nas]]
address = "300.1.2.3"
"#,
    );
    let out = bin().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in [
        "typo_section",
        "server.auth_addr",
        "server.max_inflight",
        "admin.colour",
        "nas[0].address",
        "nas[0].secret",
    ] {
        assert!(stderr.contains(key), "{key} missing in:\n{stderr}");
    }
    for line in stderr.lines() {
        assert!(
            line.contains(&bad.display().to_string()),
            "no file in: {line}"
        );
    }

    let syntax = temp_file("syntax.toml", "[server\n");
    let out = bin().arg("check-config").arg(&syntax).output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    let missing = bin()
        .arg("check-config")
        .arg("/nonexistent/hotspot.toml")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn serve_without_database_url_says_so() {
    let out = bin()
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
