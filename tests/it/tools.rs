//! `bench` and `replay` against the in-process trivial responder: JSON reports parsed and
//! cross-checked, `--expect`, `--record` then `replay`, and replay of a `tcpdump` capture of
//! `radclient` traffic re-signed for a responder with a different secret.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use radius_load::responder::{Responder, ResponderConfig};
use radius_load::{BenchArgs, ReplayArgs, execute_bench, execute_replay, pcap};

fn responder(secret: &str, users: Option<HashMap<String, String>>) -> Responder {
    Responder::start(ResponderConfig {
        auth_addr: "127.0.0.1:0".parse().unwrap(),
        acct_addr: None,
        secret: secret.into(),
        threads: 1,
        users,
    })
    .expect("start responder")
}

fn generated_users(n: u32) -> HashMap<String, String> {
    (0..n)
        .map(|i| (format!("user{i}"), format!("pass{i}")))
        .collect()
}

fn bench_args(r: &Responder, secret: &str, extra: &[&str]) -> BenchArgs {
    let auth = r.auth_addr().port().to_string();
    let acct = r.acct_addr().port().to_string();
    let mut words = vec![
        "bench",
        "--server",
        "127.0.0.1",
        "--auth-port",
        &auth,
        "--acct-port",
        &acct,
        "--secret",
        secret,
    ];
    if !extra.contains(&"--timeout") {
        words.extend_from_slice(&["--timeout", "2"]);
    }
    words.extend_from_slice(extra);
    BenchArgs::try_parse_from(words).expect("bench args")
}

fn temp_dir(name: &str) -> PathBuf {
    crate::harness::fresh_dir(&format!("tools-{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_pap_counts_and_json_are_consistent() {
    let r = responder("s3cret", Some(generated_users(50)));
    let args = bench_args(
        &r,
        "s3cret",
        &[
            "--mode",
            "pap",
            "--users",
            "50",
            "--requests",
            "300",
            "--concurrency",
            "8",
            "--json",
            "--expect",
            "accept",
        ],
    );
    let report = execute_bench(&args).await.expect("bench");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["sent"], 300);
    assert_eq!(json["replies"], 300);
    assert_eq!(json["accepts"], 300);
    assert_eq!(json["timeouts"], 0);
    assert_eq!(json["bad_replies"], 0);
    assert_eq!(json["passed"], true);
    assert!(
        json["latency_us"]["max"].as_u64().unwrap() >= json["latency_us"]["p50"].as_u64().unwrap()
    );
    assert_eq!(report.exit_code(), 0);
    // The responder counts a reply just after sending it: the bench may see the last one
    // before the count moves (bounded wait).
    let mut stats = r.stats();
    for _ in 0..100 {
        if stats.replied >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        stats = r.stats();
    }
    assert_eq!(stats.replied, 300);
    assert_eq!(stats.dropped, 0, "responder rejected our signatures");

    // The same traffic, expecting rejects, must fail.
    let args = bench_args(
        &r,
        "s3cret",
        &[
            "--mode",
            "pap",
            "--users",
            "50",
            "--requests",
            "50",
            "--expect",
            "reject",
        ],
    );
    let report = execute_bench(&args).await.expect("bench");
    assert_eq!(report.counts.accepts, 50);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_wrong_passwords_are_rejected_and_expect_reject_passes() {
    let r = responder("s3cret", Some(generated_users(10)));
    let dir = temp_dir("csv");
    let csv = dir.join("users.csv");
    std::fs::write(&csv, "user,password\nuser1,nope\nuser2,wrong\n").unwrap();
    let csv = csv.to_str().unwrap();
    for mode in ["pap", "chap"] {
        let args = bench_args(
            &r,
            "s3cret",
            &[
                "--mode",
                mode,
                "--users-file",
                csv,
                "--requests",
                "40",
                "--expect",
                "reject",
            ],
        );
        let report = execute_bench(&args).await.expect("bench");
        assert_eq!(report.counts.rejects, 40, "{mode}");
        assert_eq!(report.exit_code(), 0, "{mode}");
        let args = bench_args(
            &r,
            "s3cret",
            &[
                "--mode",
                mode,
                "--users-file",
                csv,
                "--requests",
                "10",
                "--expect",
                "accept",
            ],
        );
        assert_eq!(execute_bench(&args).await.unwrap().exit_code(), 1, "{mode}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_chap_mschapv2_acct_and_hotspot_modes() {
    let r = responder("k3y", Some(generated_users(20)));
    for (mode, extra) in [
        ("chap", &[][..]),
        ("mschapv2", &[][..]),
        ("acct", &["--interims", "3"][..]),
        (
            "hotspot",
            &["--interims", "1", "--user-order", "sequential"][..],
        ),
    ] {
        let mut words = vec![
            "--mode",
            mode,
            "--users",
            "20",
            "--requests",
            "200",
            "--concurrency",
            "16",
            "--expect",
            "accept",
        ];
        words.extend_from_slice(extra);
        let report = execute_bench(&bench_args(&r, "k3y", &words))
            .await
            .expect("bench");
        let c = report.counts;
        assert_eq!(c.sent, 200, "{mode}: {c:?}");
        assert_eq!(c.replies, 200, "{mode}: {c:?}");
        assert_eq!(c.accepts + c.acct_responses, 200, "{mode}: {c:?}");
        match mode {
            "acct" => assert_eq!(c.acct_responses, 200),
            "hotspot" => {
                // login, start, 1 interim, stop: a quarter are logins, plus at most one
                // per flow for the sessions cut off by the request budget.
                assert!(c.accepts >= 50 && c.accepts <= 50 + 16, "{c:?}");
                assert!(c.acct_responses <= 3 * c.accepts, "{c:?}");
            }
            _ => assert_eq!(c.accepts, 200),
        }
        assert_eq!(report.exit_code(), 0, "{mode}");
    }
    assert_eq!(r.stats().dropped, 0);
    assert_eq!(r.stats().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_without_message_authenticator_and_wrong_secret() {
    let r = responder("right", None);
    let report = execute_bench(&bench_args(
        &r,
        "right",
        &[
            "--mode",
            "pap",
            "--requests",
            "20",
            "--no-message-authenticator",
            "--expect",
            "accept",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(report.counts.accepts, 20);
    // Replies signed with another secret are bad replies, never accepts.
    let report = execute_bench(&bench_args(
        &r,
        "wrong",
        &[
            "--mode",
            "pap",
            "--requests",
            "5",
            "--timeout",
            "0.2",
            "--expect",
            "accept",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(report.counts.accepts, 0);
    assert_eq!(report.counts.bad_replies, 5);
    assert_eq!(report.counts.timeouts, 5);
    assert_eq!(report.exit_code(), 1);
}

fn replay_args(
    file: &Path,
    r: &Responder,
    secret: &str,
    ports: &str,
    extra: &[&str],
) -> ReplayArgs {
    let auth = r.auth_addr().port().to_string();
    let acct = r.acct_addr().port().to_string();
    let file = file.to_str().unwrap();
    let mut words = vec![
        "replay",
        file,
        "--server",
        "127.0.0.1",
        "--auth-port",
        &auth,
        "--acct-port",
        &acct,
        "--secret",
        secret,
        "--ports",
        ports,
    ];
    if !extra.contains(&"--timeout") {
        words.extend_from_slice(&["--timeout", "2"]);
    }
    words.extend_from_slice(extra);
    ReplayArgs::try_parse_from(words).expect("replay args")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_replay_with_other_secret() {
    let dir = temp_dir("record");
    let file = dir.join("bench.pcap");
    let users = generated_users(10);
    let r1 = responder("first", Some(users.clone()));
    let rec = file.to_str().unwrap();
    let report = execute_bench(&bench_args(
        &r1,
        "first",
        &[
            "--mode",
            "hotspot",
            "--hotspot-auth",
            "pap",
            "--users",
            "10",
            "--requests",
            "40",
            "--interims",
            "1",
            "--concurrency",
            "4",
            "--record",
            rec,
            "--expect",
            "accept",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(report.exit_code(), 0);
    let ports = format!("{},{}", r1.auth_addr().port(), r1.acct_addr().port());
    let ports_list: Vec<u16> = vec![r1.auth_addr().port(), r1.acct_addr().port()];
    let dgrams = pcap::read_udp(&file, &ports_list).unwrap();
    let requests = dgrams
        .iter()
        .filter(|d| ports_list.contains(&d.dst.port()))
        .count();
    let replies = dgrams
        .iter()
        .filter(|d| ports_list.contains(&d.src.port()))
        .count();
    assert_eq!(requests, 40);
    assert_eq!(replies, 40);
    let logins = dgrams.iter().filter(|d| d.data[0] == 1).count();
    assert_eq!(logins, report.counts.accepts as usize);

    let r2 = responder("second", Some(users));
    let (report, summary) = execute_replay(&replay_args(
        &file,
        &r2,
        "second",
        &ports,
        &[
            "--capture-secret",
            "first",
            "--speed",
            "20",
            "--expect",
            "accept",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(summary.requests, 40);
    assert_eq!(summary.capture_secret_mismatch, 0);
    assert_eq!(report.counts.replies, 40, "{:?}", report.counts);
    assert_eq!(report.counts.accepts, logins as u64);
    assert_eq!(report.counts.acct_responses, 40 - logins as u64);
    assert_eq!(report.exit_code(), 0);
    assert_eq!(r2.stats().dropped, 0);

    // Without the capture's secret the passwords come out wrong and the accounting
    // signatures are noticed: the replay reports it.
    let (_, summary) = execute_replay(&replay_args(
        &file,
        &r2,
        "second",
        &ports,
        &["--rate", "2000", "--loop", "2"],
    ))
    .await
    .unwrap();
    assert_eq!(summary.capture_secret_mismatch, 40);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A running capture process, killed on drop.
struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tcpdump(iface: &str, file: &Path, ports: &[u16]) -> Capture {
    let filter = ports
        .iter()
        .map(|p| format!("udp port {p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut child = Command::new("tcpdump")
        .args(["-i", iface, "-U", "--immediate-mode", "-n", "-w"])
        .arg(file)
        .arg(filter)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run tcpdump ({e}): install the Debian package `tcpdump`")
        });
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("tcpdump exited before capturing (capturing needs root)");
        }
        if line.contains("listening on") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    Capture(child)
}

fn stop_tcpdump(mut c: Capture) {
    // SIGTERM lets tcpdump flush; -U already wrote each packet.
    // SAFETY: signalling a child we started, by its pid.
    unsafe { libc::kill(c.0.id() as i32, libc::SIGTERM) };
    let _ = c.0.wait();
}

fn radclient(server: SocketAddr, kind: &str, secret: &str, attrs: &str) {
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", "2", "-q"])
        .arg(server.to_string())
        .args([kind, secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run radclient ({e}): install the Debian package `freeradius-utils`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "radclient {kind} {attrs}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_tcpdump_capture_of_radclient_with_resigning() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test captures on the loopback interface with tcpdump, which needs root (CI runs as root)"
    );
    let dir = temp_dir("tcpdump");
    let users: HashMap<String, String> = [
        ("alice".to_string(), "wonderland".to_string()),
        ("bob".to_string(), "a-longer-password-of-bob".to_string()),
    ]
    .into();
    let r1 = responder("capsecret", Some(users.clone()));
    let ports = [r1.auth_addr().port(), r1.acct_addr().port()];
    let lo = dir.join("lo.pcap");
    let any = dir.join("any.pcap");
    let cap_lo = start_tcpdump("lo", &lo, &ports);
    let cap_any = start_tcpdump("any", &any, &ports);
    radclient(
        r1.auth_addr(),
        "auth",
        "capsecret",
        "User-Name=alice,User-Password=wonderland,Message-Authenticator=0x00\n",
    );
    radclient(
        r1.auth_addr(),
        "auth",
        "capsecret",
        "User-Name=bob,User-Password=a-longer-password-of-bob\n",
    );
    // CHAP without CHAP-Challenge: the authenticator is the challenge.
    radclient(
        r1.auth_addr(),
        "auth",
        "capsecret",
        "User-Name=alice,CHAP-Password=wonderland\n",
    );
    radclient(
        r1.acct_addr(),
        "acct",
        "capsecret",
        "User-Name=alice,Acct-Status-Type=Start,Acct-Session-Id=abc1,NAS-IP-Address=10.0.0.1\n",
    );
    assert_eq!(r1.stats().rejected, 0);
    std::thread::sleep(Duration::from_millis(500));
    stop_tcpdump(cap_lo);
    stop_tcpdump(cap_any);

    // The same capture as pcapng, written by tshark.
    let ng = dir.join("lo.pcapng");
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&lo)
        .args(["-F", "pcapng", "-w"])
        .arg(&ng)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark ({e}): install the Debian package `tshark`"));
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let r2 = responder("newsecret", Some(users));
    let ports = format!("{},{}", ports[0], ports[1]);
    for file in [&lo, &any, &ng] {
        let (report, summary) = execute_replay(&replay_args(
            file,
            &r2,
            "newsecret",
            &ports,
            &[
                "--capture-secret",
                "capsecret",
                "--speed",
                "10",
                "--nas-ip",
                "127.0.0.9",
                "--expect",
                "accept",
            ],
        ))
        .await
        .unwrap();
        assert_eq!(summary.requests, 4, "{}", file.display());
        assert_eq!(summary.chap_keep_authenticator, 1);
        assert_eq!(summary.capture_secret_mismatch, 0);
        assert_eq!(report.counts.accepts, 3, "{:?}", report.counts);
        assert_eq!(report.counts.acct_responses, 1);
        assert_eq!(report.exit_code(), 0);
    }
    assert_eq!(r2.stats().dropped, 0);
    assert_eq!(r2.stats().rejected, 0);

    // Negative control: without the capture secret, the PAP passwords are re-hidden wrongly
    // and the accounting request was signed with another secret.
    let (report, _) = execute_replay(&replay_args(
        &lo,
        &r2,
        "newsecret",
        &ports,
        &["--speed", "10", "--timeout", "0.3"],
    ))
    .await
    .unwrap();
    assert_eq!(report.counts.rejects, 2, "{:?}", report.counts);
    assert_eq!(
        report.counts.accepts, 1,
        "CHAP does not depend on the secret: {:?}",
        report.counts
    );
    assert_eq!(report.counts.acct_responses, 1, "{:?}", report.counts);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run the `hotspot-radius` binary with `args`; (exit code, stdout, stderr).
fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run hotspot-radius");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `bench` flags that point at responder `r` with `secret`.
fn cli_target(r: &Responder, secret: &str) -> Vec<String> {
    [
        "--server",
        "127.0.0.1",
        "--auth-port",
        &r.auth_addr().port().to_string(),
        "--acct-port",
        &r.acct_addr().port().to_string(),
        "--secret",
        secret,
        "--timeout",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every element opened in `doc` is closed, in order (a minimal well-formedness check of
/// the generated markup; attribute values contain no `<` or `>`).
fn tags_balance(doc: &str) -> bool {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else {
            return false;
        };
        let tag = &rest[i + 1..i + j];
        rest = &rest[i + j + 1..];
        if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        if let Some(closing) = name.strip_prefix('/') {
            if stack.pop() != Some(closing) {
                return false;
            }
        } else {
            stack.push(name);
        }
    }
    stack.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_and_replay_write_self_contained_report_files() {
    let r = responder("rep0rt", None);
    let dir = temp_dir("report");
    let html = dir.join("x.html");
    let svg = dir.join("replay.svg");
    let pcap = dir.join("rec.pcap");
    let mut args: Vec<String> = ["bench", "--mode", "hotspot", "--users", "40"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(cli_target(&r, "rep0rt"));
    args.extend(
        [
            "--concurrency",
            "8",
            "--interims",
            "1",
            "--requests",
            "400",
            "--expect",
            "accept",
            "--record",
            pcap.to_str().unwrap(),
            "--report",
            html.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run_cli(&words);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("report written to"), "{stderr}");
    let doc = std::fs::read_to_string(&html).expect("the --report file");
    assert!(doc.starts_with("<!DOCTYPE html>"), "{doc}");
    assert!(tags_balance(&doc), "unbalanced tags:\n{doc}");
    for needle in [
        "<svg",
        "Answers per second, by code",
        "data-series=\"Access-Accept\"",
        "data-series=\"Accounting-Response\"",
        "data-series=\"timeouts\"",
        "data-series=\"p99.9\"",
        "Latency percentiles over the whole run",
        "<td>mode</td><td>hotspot</td>",
        "sent                   400",
    ] {
        assert!(
            doc.contains(needle),
            "{needle} missing from the report:\n{doc}"
        );
    }
    let lower = doc.to_ascii_lowercase();
    assert!(!lower.contains("<script") && !lower.contains("src=") && !lower.contains("href="));

    // replay writes the same kind of report, here as SVG.
    let ports = format!("{},{}", r.auth_addr().port(), r.acct_addr().port());
    let mut args: Vec<String> = vec!["replay".into(), pcap.to_str().unwrap().into()];
    args.extend(cli_target(&r, "rep0rt"));
    args.extend(
        ["--ports", &ports, "--rate", "2000", "--report"]
            .iter()
            .map(|s| s.to_string()),
    );
    args.push(svg.to_str().unwrap().into());
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run_cli(&words);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let doc = std::fs::read_to_string(&svg).expect("the replay --report file");
    assert!(
        doc.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{doc}"
    );
    assert!(tags_balance(&doc), "unbalanced tags:\n{doc}");
    assert!(doc.contains("replay "), "{doc}");
    assert!(doc.contains("data-series=\"Access-Accept\""), "{doc}");

    // An extension that is none of them is refused before running.
    let (code, _, stderr) = run_cli(&["bench", "--requests", "1", "--report", "x.png"]);
    assert_ne!(code, 0);
    assert!(stderr.contains(".svg, .html or .csv"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_of_nearly_only_rejects_warns_and_exits_3_unless_expected() {
    // The responder knows none of bench's default users: every login is rejected.
    let r = responder(
        "rej",
        Some([("someone".to_string(), "x".to_string())].into()),
    );
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["bench".into(), "--mode".into(), "pap".into()];
        args.extend(cli_target(&r, "rej"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&words)
    };
    let (code, stdout, stderr) = run(&["--requests", "200"]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("rejects"), "{stdout}");
    for needle in [
        "WARNING: 200 of the 200 answers (100.0 %) were Access-Rejects",
        "not seeded",
        "user0..user999",
        "generate_series(0, 999)",
        "--expect-rejects",
    ] {
        assert!(stderr.contains(needle), "{needle} missing:\n{stderr}");
    }
    // Expected rejects: no warning, exit 0.
    for extra in [&["--expect-rejects"][..], &["--expect", "reject"][..]] {
        let mut words = vec!["--requests", "200"];
        words.extend_from_slice(extra);
        let (code, _, stderr) = run(&words);
        assert_eq!(code, 0, "{extra:?}: {stderr}");
        assert!(!stderr.contains("WARNING"), "{extra:?}: {stderr}");
    }
    // Too few answers to judge.
    let (code, _, stderr) = run(&["--requests", "50"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

#[test]
fn bench_help_shows_the_responder_mode() {
    let (code, stdout, _) = run_cli(&["bench", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--responder",
        "--report <FILE>",
        "--expect-rejects",
        "--leave-sessions-open",
    ] {
        assert!(
            stdout.contains(flag),
            "{flag} missing from bench --help:\n{stdout}"
        );
    }
}

mod real_server {
    //! `bench --mode hotspot` against the whole server over a fresh PostgreSQL database,
    //! its users created with the documented one-line seed.

    use std::time::Duration;

    use hotspot_radius::app::{self, Running};
    use hotspot_radius::config::Config;
    use radius_load::{BenchArgs, Report, execute_bench};
    use sqlx::PgPool;

    use crate::harness;

    const SECRET: &str = "bench-secret";

    async fn start(url: &str) -> Running {
        let mut c = Config::default();
        c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
        c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
        c.admin.addr = "127.0.0.1:0".parse().unwrap();
        c.database.url = Some(url.to_owned());
        c.database.pool_size = 4;
        c.server.shutdown_timeout_secs = 5;
        c.accounting.journal_dir = harness::fresh_dir("journal");
        app::start(c, None).await.expect("server starts")
    }

    /// Run the `seed_command` line README documents, through a shell, on `url`.
    fn seed_users(url: &str, n: u32) {
        let line = radius_load::bench::seed_command(n);
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .env("DATABASE_URL", url)
            .output()
            .unwrap_or_else(|e| panic!("cannot run sh ({e})"));
        assert!(
            out.status.success(),
            "{line}: {} (psql comes with the Debian package `postgresql-client`)",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn bench(server: &Running, extra: &[&str]) -> Report {
        let auth = server.auth_addr.port().to_string();
        let acct = server.acct_addr.port().to_string();
        let mut words = vec![
            "bench",
            "--mode",
            "hotspot",
            "--auth-port",
            &auth,
            "--acct-port",
            &acct,
            "--secret",
            SECRET,
            "--timeout",
            "3",
            "--interims",
            "1",
        ];
        words.extend_from_slice(extra);
        let report = execute_bench(&BenchArgs::try_parse_from(words).unwrap())
            .await
            .expect("bench");
        let c = report.counts;
        assert_eq!(c.timeouts + c.bad_replies + c.rejects, 0, "{c:?}");
        assert_eq!(c.sessions_close_failed, 0, "{c:?}");
        report
    }

    /// (rows, rows with no stop time) in radacct, once there are `rows` rows (bounded wait:
    /// the server answers accounting before its batch reaches the table).
    async fn radacct_when(pool: &PgPool, rows: i64, open: i64) -> (i64, i64) {
        let mut seen = (0, 0);
        for _ in 0..150 {
            seen = sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE acctstoptime IS NULL) FROM radacct",
            )
            .fetch_one(pool)
            .await
            .expect("radacct");
            if seen == (rows, open) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bench_hotspot_leaves_no_session_open_on_the_server() {
        let (url, pool) = harness::fresh_db().await;
        sqlx::query(
            "INSERT INTO nas (nasname, shortname, type, secret) VALUES ($1, 'b', 'other', $2)",
        )
        .bind("127.0.0.1")
        .bind(SECRET)
        .execute(&pool)
        .await
        .unwrap();
        seed_users(&url, 50);
        seed_users(&url, 50); // the seed line can be run twice
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radcheck")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 50);
        let server = start(&url).await;

        // One session, cut off by --requests after its Start: closed by the final Stop.
        let one = bench(
            &server,
            &[
                "--users",
                "5",
                "--concurrency",
                "1",
                "--sockets",
                "1",
                "--requests",
                "2",
            ],
        )
        .await;
        assert_eq!(one.counts.accepts, 1);
        assert_eq!(one.counts.sessions_closed, 1, "{:?}", one.counts);
        assert!(one.to_table().contains("1 closed with an Accounting Stop"));

        // Many sessions, cut off mid-way by --requests and by --duration.
        let by_count = bench(
            &server,
            &[
                "--users",
                "50",
                "--concurrency",
                "8",
                "--sockets",
                "2",
                "--requests",
                "301",
            ],
        )
        .await;
        let by_time = bench(
            &server,
            &[
                "--users",
                "50",
                "--concurrency",
                "8",
                "--sockets",
                "2",
                "--duration",
                "0.5",
            ],
        )
        .await;
        let sessions = |r: &Report| r.counts.sessions + r.counts.sessions_closed;
        let rows = 1 + sessions(&by_count) + sessions(&by_time);
        let rows = i64::try_from(rows).unwrap();
        assert_eq!(
            radacct_when(&pool, rows, 0).await,
            (rows, 0),
            "a session left open"
        );

        // The negative control: --leave-sessions-open leaves the cut-off session open.
        let left = bench(
            &server,
            &[
                "--users",
                "5",
                "--concurrency",
                "1",
                "--sockets",
                "1",
                "--requests",
                "2",
                "--leave-sessions-open",
            ],
        )
        .await;
        assert_eq!(left.counts.sessions_closed, 0);
        assert_eq!(radacct_when(&pool, rows + 1, 1).await, (rows + 1, 1));
        server.stop().await;
    }
}
