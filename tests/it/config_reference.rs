//! `docs/configuration.md` against the code: every section, key and default of the config
//! structs is in its tables (and nothing else is), its ranges are what validation enforces,
//! its types are what wrong values are told, and its environment variables, flags and
//! example errors are the real ones. Adding a field without documenting it fails here.

use std::path::Path;

use hotspot_radius::config::{Config, NasConfig, schema};

use crate::config::bin;

/// One section of `docs/configuration.md`: its header and table rows.
struct DocSection {
    header: String,
    rows: Vec<DocRow>,
}

/// One key's row: the key and its Type, Default and Allowed cells.
struct DocRow {
    key: String,
    ty: String,
    default: String,
    allowed: String,
}

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `## `[section]`` tables of the reference.
fn doc_sections(doc: &str) -> Vec<DocSection> {
    let mut sections: Vec<DocSection> = Vec::new();
    let mut in_section = false;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let header = heading.trim().trim_matches('`');
            in_section = header.starts_with('[') && header.ends_with(']');
            if in_section {
                sections.push(DocSection {
                    header: header.to_owned(),
                    rows: Vec::new(),
                });
            }
            continue;
        }
        let (true, Some(section)) = (in_section, sections.last_mut()) else {
            continue;
        };
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        assert!(cells.len() >= 5, "short row in {}: {line}", section.header);
        section.rows.push(DocRow {
            key: cells[0].trim_matches('`').to_owned(),
            ty: cells[1].to_owned(),
            default: cells[2].to_owned(),
            allowed: cells[3].to_owned(),
        });
    }
    sections
}

/// The text of the `## {title}` section.
fn doc_section<'a>(doc: &'a str, title: &str) -> &'a str {
    let heading = format!("## {title}\n");
    let start = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("no `{heading}` in docs/configuration.md"));
    let rest = &doc[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn reference_documents_every_section_key_and_default() {
    let doc = docs();
    let documented = doc_sections(&doc);
    let sections = schema::sections();
    let headers: Vec<String> = sections.iter().map(schema::Section::header).collect();
    let mut wrong = Vec::new();
    for d in &documented {
        if !headers.contains(&d.header) {
            wrong.push(format!("section {} is not in the config structs", d.header));
        }
    }
    let with_nas = Config {
        nas: vec![NasConfig::default()],
        ..Config::default()
    };
    let required: Vec<String> = with_nas
        .validate("defaults")
        .into_iter()
        .filter(|p| p.message == "is required")
        .map(|p| p.key)
        .collect();
    for section in &sections {
        let header = section.header();
        let Some(doc) = documented.iter().find(|d| d.header == header) else {
            wrong.push(format!("section {header} is missing"));
            continue;
        };
        for key in section.keys {
            if !doc.rows.iter().any(|r| r.key == *key) {
                wrong.push(format!("{header} `{key}` is missing"));
            }
        }
        for DocRow {
            key, default: cell, ..
        } in &doc.rows
        {
            if !section.keys.contains(&key.as_str()) {
                wrong.push(format!("{header} `{key}` is not in the struct"));
                continue;
            }
            let real = schema::default_value(section.name, key);
            let what = format!("{header} `{key}`: documented default {cell}");
            if cell.starts_with("required") {
                let path = format!("{}[0].{key}", section.name);
                if !required.contains(&path) {
                    wrong.push(format!("{what}, but the code does not require it"));
                }
            } else if cell.starts_with("unset") {
                if let Some(real) = real {
                    wrong.push(format!("{what}, but the code's default is {real}"));
                }
            } else {
                let literal = cell.split('`').nth(1).unwrap_or_default();
                let parsed = format!("v = {literal}").parse::<toml::Table>();
                match (parsed.ok().and_then(|t| t.get("v").cloned()), real) {
                    (None, _) => wrong.push(format!("{what}: not a `TOML value`")),
                    (Some(doc_value), Some(real)) if doc_value == real => {}
                    (Some(_), Some(real)) => {
                        wrong.push(format!("{what}, but the code's default is {real}"))
                    }
                    (Some(_), None) => wrong.push(format!("{what}, but the code has none")),
                }
            }
        }
        let doc_keys: Vec<&str> = doc.rows.iter().map(|r| r.key.as_str()).collect();
        if wrong.is_empty() && doc_keys != section.keys {
            wrong.push(format!(
                "{header}: keys in another order than the struct: {:?}",
                section.keys
            ));
        }
    }
    let doc_headers: Vec<&str> = documented.iter().map(|d| d.header.as_str()).collect();
    if wrong.is_empty() && doc_headers != headers {
        wrong.push(format!(
            "sections in another order than the struct: {headers:?}"
        ));
    }
    assert!(
        wrong.is_empty(),
        "docs/configuration.md is out of date:\n  {}",
        wrong.join("\n  ")
    );
}

/// The numeric bounds an Allowed cell states: `at least N`, `A to B` (B may name another
/// key: no upper bound then) or `0 or more`, before any `;`.
fn documented_bounds(allowed: &str) -> Option<(i64, Option<i64>)> {
    let first = allowed.split(';').next().unwrap_or_default().trim();
    if let Some(n) = first.strip_prefix("at least ") {
        return Some((n.parse().ok()?, None));
    }
    if first == "0 or more" {
        return Some((0, None));
    }
    let (low, high) = first.split_once(" to ")?;
    Some((low.parse().ok()?, high.parse().ok()))
}

#[test]
fn reference_ranges_are_what_validation_enforces() {
    // Each bound the reference states is checked at the edge: the bound itself loads, one
    // past it is refused for that key.
    let doc = docs();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for section in doc_sections(&doc) {
        let name = section.header.trim_matches(|c| c == '[' || c == ']');
        for row in &section.rows {
            let Some((low, high)) = documented_bounds(&row.allowed) else {
                continue;
            };
            let (header, key_path) = if name == "nas" {
                (
                    "[[nas]]\naddress = \"10.0.0.1\"\nsecret = \"s\"\n",
                    format!("nas[0].{}", row.key),
                )
            } else {
                ("", format!("{name}.{}", row.key))
            };
            let refused = |value: i64| {
                let text = if name == "nas" {
                    format!("{header}{} = {value}\n", row.key)
                } else {
                    format!("[{name}]\n{} = {value}\n", row.key)
                };
                match Config::from_str_named("t.toml", &text) {
                    Ok(_) => false,
                    Err(e) => e
                        .problems()
                        .iter()
                        .any(|p| p.contains(&format!("`{key_path}`"))),
                }
            };
            let mut edge = |value: i64, want_refused: bool| {
                if refused(value) != want_refused {
                    let verb = if want_refused { "accepts" } else { "refuses" };
                    wrong.push(format!(
                        "{}: documented \"{}\" but {key_path} = {value}: validation {verb} it",
                        section.header, row.allowed
                    ));
                }
            };
            edge(low, false);
            if low > 0 {
                edge(low - 1, true);
            }
            if let Some(high) = high {
                edge(high, false);
                edge(high + 1, true);
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "only {checked} bounds found in the reference"
    );
    assert!(
        wrong.is_empty(),
        "docs/configuration.md states other ranges than validation enforces:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn reference_types_are_what_wrong_values_are_told() {
    // A value of the wrong type (an array fits no key) is answered with the form the
    // reference's Type column names; an enum's message lists exactly its Allowed values.
    let doc = docs();
    let mut wrong = Vec::new();
    for section in doc_sections(&doc) {
        let name = section.header.trim_matches(|c| c == '[' || c == ']');
        for row in &section.rows {
            let expected = match row.ty.as_str() {
                "address" => "expected IP:PORT".to_owned(),
                "IP or CIDR" => "expected an IP address or a CIDR network".to_owned(),
                "URL" => "expected a URL".to_owned(),
                "boolean" => "expected true or false".to_owned(),
                "integer" => "expected a whole number".to_owned(),
                "milliseconds" | "seconds" | "days" | "bytes" => {
                    format!("expected a whole number of {}", row.ty)
                }
                "enum" => format!("expected one of {}", row.allowed.replace('`', "")),
                "time zone" => "expected an IANA time zone name".to_owned(),
                "log filter" => "expected a log level".to_owned(),
                "string" | "path" => "expected a string".to_owned(),
                other => {
                    wrong.push(format!(
                        "{} `{}`: unknown type {other}",
                        section.header, row.key
                    ));
                    continue;
                }
            };
            let (text, key_path) = if name == "nas" {
                (
                    format!("[[nas]]\n{} = []\n", row.key),
                    format!("nas[0].{}", row.key),
                )
            } else {
                (
                    format!("[{name}]\n{} = []\n", row.key),
                    format!("{name}.{}", row.key),
                )
            };
            let problems = Config::from_str_named("t.toml", &text)
                .map(|_| Vec::new())
                .unwrap_or_else(|e| e.problems());
            let told = problems
                .iter()
                .find(|p| p.contains(&format!("`{key_path}`")));
            match told {
                Some(p) if p.contains(&expected) => {}
                _ => wrong.push(format!(
                    "{key_path} is documented as {}, so a wrong value should be told \
                     \"{expected}\"; got {told:?}",
                    row.ty
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/configuration.md types differ from the messages:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn reference_error_examples_are_what_check_config_prints() {
    let doc = docs();
    let start = doc
        .find("```text\n")
        .expect("no ```text block of example errors")
        + 8;
    let block = &doc[start..];
    let block = &block[..block.find("```").unwrap()];
    let dir = crate::harness::fresh_dir("config-doc");
    let text = "[server]\nrecievers = 2\npool_size = 4\nauth_addr = \"1812\"\n\
                [sessions]\ntime_zone = \"Asia/Jakrta\"\n";
    std::fs::write(dir.join("hotspot.toml"), text).unwrap();
    let out = bin()
        .current_dir(&dir)
        .args(["check-config", "hotspot.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in block.lines() {
        assert!(
            stderr.lines().any(|l| l == line),
            "docs/configuration.md shows\n  {line}\nbut check-config printed:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reference_documents_every_environment_override() {
    let doc = docs();
    let env = doc_section(&doc, "Environment variables");
    let asked = std::cell::RefCell::new(Vec::new());
    Config::default().apply_env(|name| {
        asked.borrow_mut().push(name.to_owned());
        None
    });
    let asked = asked.into_inner();
    assert!(asked.contains(&"DATABASE_URL".to_owned()), "{asked:?}");
    for name in asked.iter().map(String::as_str).chain(["RUST_LOG"]) {
        assert!(
            env.contains(&format!("| `{name}` |")),
            "environment variable {name} is not in the reference's table"
        );
    }
}

#[test]
fn reference_documents_every_command_line_override() {
    let doc = docs();
    let flags_doc = doc_section(&doc, "Command-line flags");
    for command in ["serve", "config"] {
        let out = bin().args([command, "--help"]).output().unwrap();
        assert!(out.status.success(), "{command} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        let flags: Vec<&str> = help
            .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .filter(|w| !matches!(*w, "--help" | "--version"))
            .collect();
        assert!(!flags.is_empty(), "no flags in `{command} --help`:\n{help}");
        for flag in flags {
            assert!(
                flags_doc.contains(&format!("`{flag}")),
                "`{command} {flag}` is not in the reference's Command-line flags"
            );
        }
    }
}
