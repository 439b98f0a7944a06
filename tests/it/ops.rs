//! The operations files checked by the tools that read them: the Prometheus configuration
//! and alert rules (`promtool check config`, and `promtool test rules` running the alert
//! unit tests in docker/prometheus/alerts_test.yml), the systemd unit (`systemd-analyze
//! verify`), and the Grafana dashboard and alert rules against the metric names the server
//! really exports (a renamed metric must not leave a dashboard panel empty).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `program args…` in `dir`; fail naming the program when it is missing, and with its
/// output when it fails.
fn run_tool(program: &str, package: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("`{program}` is needed (Debian package {package}; scripts/install-deps.sh installs it): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{program} {}` failed:\n{text}",
        args.join(" ")
    );
    text
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool() {
    let dir = repo().join("docker/prometheus");
    let out = run_tool(
        "promtool",
        "prometheus",
        &["check", "config", "prometheus.yml"],
        &dir,
    );
    assert!(out.contains("rule files found"), "{out}");
    let out = run_tool(
        "promtool",
        "prometheus",
        &["test", "rules", "alerts_test.yml"],
        &dir,
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn systemd_unit_verifies() {
    // `verify` checks that ExecStart's binary exists: point it at the one cargo built.
    let unit = std::fs::read_to_string(repo().join("dist/systemd/hotspot-radius.service"))
        .expect("dist/systemd/hotspot-radius.service");
    let bin = env!("CARGO_BIN_EXE_hotspot-radius");
    assert!(
        unit.contains("/usr/local/bin/hotspot-radius"),
        "the unit names its binary"
    );
    let dir = crate::harness::fresh_dir("unit");
    let path = dir.join("hotspot-radius.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/hotspot-radius", bin)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .output()
        .expect("`systemd-analyze` is needed (Debian package systemd)");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Other units installed on the machine may draw warnings; ours must draw none.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("hotspot-radius.service"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

/// The `radius_*` names declared in src/metrics.rs.
fn exported_metrics() -> Vec<String> {
    let src = std::fs::read_to_string(repo().join("src/metrics.rs")).unwrap();
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split_once("= \"").map(|(_, v)| v))
        .filter_map(|v| v.strip_suffix("\";"))
        .filter(|v| v.starts_with("radius_"))
        .map(str::to_owned)
        .collect()
}

/// Every `radius_…` identifier in `text`, with histogram suffixes removed.
fn referenced_metrics(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("radius_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        // Only metric names: identifiers preceded by a letter (e.g. "hotspot_radius_x") or
        // a dot/slash are something else.
        let before = text.len() - rest.len() + i;
        let prev = text[..before].chars().last().unwrap_or(' ');
        if !(prev.is_ascii_alphanumeric() || prev == '_' || prev == '/' || prev == '.') {
            names.push(base.to_owned());
        }
        rest = &tail[end..];
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn dashboard_and_alerts_use_only_exported_metrics() {
    let exported = exported_metrics();
    assert!(exported.len() > 30, "{exported:?}");
    let dashboard = repo().join("docker/grafana/dashboards/hotspot-radius.json");
    let alerts = repo().join("docker/prometheus/alerts.yml");
    for file in [dashboard, alerts] {
        let text = std::fs::read_to_string(&file).unwrap();
        let used = referenced_metrics(&text);
        assert!(used.len() >= 5, "{}: {used:?}", file.display());
        let unknown: Vec<_> = used.iter().filter(|u| !exported.contains(u)).collect();
        assert!(
            unknown.is_empty(),
            "{} uses metrics the server does not export: {unknown:?}",
            file.display()
        );
    }
}

#[test]
fn dashboard_is_grafana_json_with_a_query_per_panel() {
    let text =
        std::fs::read_to_string(repo().join("docker/grafana/dashboards/hotspot-radius.json"))
            .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        dashboard["uid"], "hotspot-radius",
        "compose-smoke looks it up by uid"
    );
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for p in panels {
        let targets = p["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty() && targets.iter().all(|t| t["expr"].as_str().is_some()),
            "panel {} has no query",
            p["title"]
        );
        assert_eq!(
            p["datasource"]["uid"], "prometheus",
            "provisioned data source uid"
        );
    }
}
