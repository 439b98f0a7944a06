//! Configuration files: every shipped `config/*.toml` parses and validates, the example
//! holds every key with its default, `config --print-default` round-trips through
//! `check-config`, and `check-config` reports every problem with key and file (with the
//! nearest key or the expected form), with the right exit codes. The reference
//! `docs/configuration.md` is checked in `config_reference`.

use std::path::{Path, PathBuf};
use std::process::Command;

use hotspot_radius::config::{Config, schema};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = crate::harness::fresh_dir("config").join(name);
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
    let example = config_dir().join("hotspot-radius.example.toml");
    let loaded = Config::load(&example).unwrap();
    let loaded = toml::Table::try_from(&loaded).unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    // Every key of every section appears in its section, commented or not, and the
    // commented ones are valid too: uncommented, the whole example has no unknown or
    // ill-typed key, and passes validation except for placeholders of keys that are unset
    // by default (a URL, a file of the operator's).
    let text = std::fs::read_to_string(&example).unwrap();
    let uncommented = uncomment(&text);
    let all: Config = toml::from_str(&uncommented).unwrap_or_else(|e| {
        panic!("the example, every commented key uncommented, does not load:\n{e}")
    });
    let placeholder = |key: &str| {
        let (section, key) = key.split_once('.').unwrap_or((key, ""));
        let section = section.split('[').next().unwrap_or_default();
        schema::default_value(section, key).is_none()
    };
    let invalid: Vec<String> = all
        .validate("example, uncommented")
        .into_iter()
        .filter(|p| !placeholder(&p.key))
        .map(|p| p.to_string())
        .collect();
    assert!(
        invalid.is_empty(),
        "the example, every commented key uncommented, is not valid:\n{}",
        invalid.join("\n")
    );
    let all_keys: toml::Table = uncommented.parse().unwrap();
    let mut wrong = Vec::new();
    for section in schema::sections() {
        let entry = match all_keys.get(section.name) {
            Some(toml::Value::Array(entries)) => entries.first(),
            other => other,
        };
        let Some(toml::Value::Table(entry)) = entry else {
            wrong.push(format!("section {} is missing", section.header()));
            continue;
        };
        for key in section.keys {
            if !entry.contains_key(*key) {
                wrong.push(format!("{} `{key}` is missing", section.header()));
            }
            // Uncommenting nothing, the example's values are the defaults.
            let value = |t: &toml::Table| {
                t.get(section.name)
                    .and_then(|s| s.get(key))
                    .map_or_else(|| "unset".to_owned(), ToString::to_string)
            };
            if !section.array && value(&loaded) != value(&defaults) {
                wrong.push(format!(
                    "{} `{key}` is {} in the example but {} in the code",
                    section.header(),
                    value(&loaded),
                    value(&defaults)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "config/hotspot-radius.example.toml is out of date:\n  {}",
        wrong.join("\n  ")
    );
}

/// The example with every commented-out key line (`# key = value`) and section header
/// (`# [[nas]]`) uncommented; other comments dropped. A key shown twice in one table (a
/// second example, such as a TLS URL) keeps its first.
fn uncomment(text: &str) -> String {
    let mut out = String::new();
    let mut seen: Vec<String> = Vec::new();
    for line in text.lines() {
        let (commented, rest) = match line.trim_start().strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, line.trim()),
        };
        let is_header = rest.starts_with('[') && rest.ends_with(']') && !rest.contains(' ');
        let key = rest.split_once('=').and_then(|(k, v)| {
            let k = k.trim();
            let plain = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            let value = format!("v = {}", v.trim()).parse::<toml::Table>().is_ok();
            (plain && value).then_some(k)
        });
        let keep = if is_header {
            seen.clear();
            true
        } else if let Some(key) = key {
            let first = !seen.iter().any(|k| k == key);
            seen.push(key.to_owned());
            first
        } else {
            !commented
        };
        if keep {
            out.push_str(rest);
            out.push('\n');
        }
    }
    out
}

#[test]
fn print_default_is_a_complete_valid_default_config() {
    let out = bin().args(["config", "--print-default"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let example = std::fs::read_to_string(config_dir().join("hotspot-radius.example.toml"));
    assert_eq!(Ok(text.clone()), example.map_err(|e| e.to_string()));
    let path = temp_file("printed-default.toml", &text);
    let check = bin().arg("check-config").arg(&path).output().unwrap();
    assert!(
        check.status.success(),
        "check-config refuses the printed default:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(Config::load(&path).unwrap(), Config::default());

    let bare = bin().arg("config").output().unwrap();
    assert!(
        !bare.status.success(),
        "`config` alone should ask for a flag"
    );
}

#[test]
fn check_config_suggests_keys_and_explains_values() {
    let bad = temp_file(
        "explain.toml",
        r#"
[server]
recievers = 2
auth_addr = "1812"
[sessions]
time_zone = "Asia/Jakrta"
[postauth]
log = "some"
"#,
    );
    let out = bin().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        r#"key `server.recievers`: unknown key "recievers" in [server] (did you mean "receivers"?)"#,
        "key `server.auth_addr`: invalid value \"1812\"",
        "expected IP:PORT, e.g. 0.0.0.0:1812",
        r#"(did you mean "Asia/Jakarta"?)"#,
        r#"expected one of "all", "rejects", "off""#,
    ] {
        assert!(
            stderr.contains(expected),
            "`{expected}` missing in:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
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
