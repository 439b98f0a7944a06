//! The operator's status page on the admin port, end to end: the whole server over real
//! PostgreSQL (and Redis), a router logging in and starting sessions over UDP, a
//! [`FakeNas`] answering Disconnect-Requests, and the page read by a plain HTTP client and
//! driven in a real headless browser (Debian `chromium` through `chromedriver`, over the
//! W3C WebDriver protocol spoken here with a tokio `TcpStream` and `serde_json`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_radius::app::{self, Running};
use hotspot_radius::config::{Config, NasConfig};
use radius_proto::protocol::{AcctStatus, Code, Packet};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fake_nas::{Behaviour, FakeNas};
use crate::harness::{self, Redis};
use crate::udp_access::{Method, Nas, code_of};

const SECRET: &str = "status-secret";
const TOKEN: &str = "open sesame & more";
/// Bound on waiting for something that must happen (a page showing a session, a
/// browser starting).
const WAIT: Duration = Duration::from_secs(60);
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn config(
    database_url: &str,
    redis_url: Option<String>,
    coa_port: u16,
    token: Option<&str>,
) -> Config {
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.server.reject_delay_ms = 0;
    c.server.shutdown_timeout_secs = 5;
    c.admin.enabled = true;
    c.admin.addr = "127.0.0.1:0".parse().unwrap();
    c.admin.token = token.map(str::to_owned);
    c.database.url = Some(database_url.to_owned());
    c.database.pool_size = 4;
    c.redis.url = redis_url;
    c.accounting.journal_dir = harness::fresh_dir("journal");
    c.sessions.dynauth_timeout_ms = 1000;
    c.sessions.dynauth_attempts = 2;
    c.nas = vec![NasConfig {
        address: "127.0.0.1".into(),
        secret: SECRET.into(),
        name: Some("hotspot-router".into()),
        coa_port,
        ..NasConfig::default()
    }];
    c
}

async fn start(config: Config) -> (Running, SocketAddr) {
    let running = app::start(config, None).await.expect("server starts");
    let admin = running.admin_addr.expect("admin port bound");
    (running, admin)
}

async fn user(pool: &PgPool, name: &str, password: &str) {
    sqlx::query(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ($1, 'Cleartext-Password', ':=', $2)",
    )
    .bind(name)
    .bind(password)
    .execute(pool)
    .await
    .expect("insert user");
}

/// A PAP login from the router; the reply code.
async fn login(server: &Running, user: &str, password: &str) -> Code {
    let nas = Nas::new(server.auth_addr, SECRET).await;
    let reply = nas
        .exchange(&nas.access_request(user, password, Method::Pap, true))
        .await;
    code_of(&reply)
}

/// An Accounting Start from the router; it must be acknowledged.
async fn acct_start(server: &Running, user: &str, session: &str) {
    let nas = Nas::new(server.acct_addr, SECRET).await;
    let reply = nas
        .exchange(&nas.accounting_request(user, session, AcctStatus::Start.as_u32(), (0, 0, 0)))
        .await;
    assert_eq!(
        Packet::decode(&reply).unwrap().code(),
        Code::AccountingResponse
    );
}

// ---------------------------------------------------------------------------------------
// A plain HTTP/1.1 client (one request per connection, as both servers here want)

/// Send one request; the status code and the body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        stream.write_all(body).await.expect("write body");
        read_response(&mut stream).await
    };
    let raw = tokio::time::timeout(WAIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} on {addr}: no response within {WAIT:?}"));
    parse_response(&raw)
}

/// Read one response: up to the end of its `Content-Length` body, or to EOF without one
/// (chromedriver keeps the connection open whatever `Connection: close` says).
async fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .filter_map(|l| l.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| raw.len() >= end + 4 + n) {
                return raw;
            }
        }
        let n = stream.read(&mut chunk).await.expect("read response");
        if n == 0 {
            return raw;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
}

fn parse_response(raw: &[u8]) -> (u16, String) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut body = raw[end + 4..].to_vec();
    if let Some(n) = head
        .to_ascii_lowercase()
        .lines()
        .filter_map(|l| l.strip_prefix("content-length:"))
        .find_map(|v| v.trim().parse::<usize>().ok())
    {
        body.truncate(n);
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

async fn get_page(admin: SocketAddr) -> String {
    let (status, body) = http(admin, "GET", "/", "text/plain", b"").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Poll the page until it contains `needle` (bounded by [`WAIT`]).
async fn page_showing(admin: SocketAddr, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let page = get_page(admin).await;
        if page.contains(needle) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "the status page did not show {needle:?} within {WAIT:?}:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn form(session: &str, token: Option<&str>) -> Vec<u8> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut body = format!("session={}", enc(session));
    if let Some(t) = token {
        body.push_str(&format!("&token={}", enc(t)));
    }
    body.into_bytes()
}

async fn post_disconnect(admin: SocketAddr, body: &[u8]) -> (u16, String) {
    http(
        admin,
        "POST",
        "/disconnect",
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

/// The `value` of the first Disconnect button on `page` (a session's unique id).
fn first_button_value(page: &str) -> String {
    let marker = "name=\"session\" value=\"";
    let start = page.find(marker).expect("a Disconnect button") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------
// Plain HTTP: escaping, the token, the body bound

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_escapes_router_text_and_refuses_disconnect_without_the_token() {
    let (url, _pool) = harness::fresh_db().await;
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    // The token from a file this time (`[admin] token_file`, trailing newline and all).
    let mut c = config(&url, None, nas.addr().port(), None);
    let token_file = harness::fresh_dir("admin-token").join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    c.admin.token_file = Some(token_file.clone());
    let (server, admin) = start(c).await;
    let _ = std::fs::remove_dir_all(token_file.parent().unwrap());

    let evil = "<script>alert(1)</script>";
    acct_start(&server, evil, "evil-1").await;
    let page = page_showing(admin, "evil-1").await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script"), "unescaped markup:\n{page}");
    assert!(page.contains("hotspot-router"), "{page}");
    let session = first_button_value(&page);

    // No token, a wrong one, an over-long body: refused, and nothing reaches the NAS.
    let (status, body) = post_disconnect(admin, &form(&session, None)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("nothing was sent"), "{body}");
    let (status, _) = post_disconnect(admin, &form(&session, Some("open sesame"))).await;
    assert_eq!(status, 403);
    let mut big = form(&session, Some(TOKEN));
    big.extend(std::iter::repeat_n(b'x', 8000));
    let (status, _) = post_disconnect(admin, &big).await;
    assert_eq!(status, 413);
    // The right token for a session that is not online: 404, nothing sent.
    let (status, body) = post_disconnect(admin, &form("no-such-session", Some(TOKEN))).await;
    assert_eq!(status, 404, "{body}");
    // (A Disconnect is sent before the answer, so none can still be on its way.)
    assert!(nas.requests().is_empty(), "{:?}", nas.requests());

    // The right token: the NAS gets the Disconnect-Request, the page shows its ACK.
    let (status, body) = post_disconnect(admin, &form(&session, Some(TOKEN))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ACK"), "{body}");
    let got = nas.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].code, Code::DisconnectRequest);
    assert_eq!(got[0].user_name.as_deref(), Some(evil));
    assert_eq!(got[0].acct_session_id.as_deref(), Some("evil-1"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_page_has_no_buttons_and_refuses_posts() {
    let (url, _pool) = harness::fresh_db().await;
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    let (server, admin) = start(config(&url, None, nas.addr().port(), Some(""))).await;
    acct_start(&server, "carol", "carol-1").await;
    let page = page_showing(admin, "carol-1").await;
    assert!(!page.contains("<form"), "{page}");
    assert!(!page.contains("Disconnect</button>"), "{page}");
    assert!(page.contains("read-only"), "{page}");
    let (status, body) = post_disconnect(admin, b"session=x&token=").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("read-only"), "{body}");
    assert!(nas.requests().is_empty());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// A real browser

/// `chromedriver` on a free loopback port, killed (with the browsers it started) on drop.
struct Chromedriver {
    child: Child,
    addr: SocketAddr,
    profile: PathBuf,
}

/// Every descendant of process `pid` (from `/proc/*/task/*/children`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in text.split_whitespace().filter_map(|c| c.parse().ok()) {
                if out.len() < 1000 && !out.contains(&child) {
                    out.push(child);
                    todo.push(child);
                }
            }
        }
    }
    out
}

impl Chromedriver {
    fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} not found: install Debian packages chromium and chromium-driver \
                 (scripts/install-deps.sh) — the status page is tested in a real browser \
                 (missing: {package})"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            profile: harness::fresh_dir("chromium"),
        }
    }

    /// One WebDriver command; the response's `value`, or a panic with the error.
    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) =
            http(self.addr, method, path, "application/json", body.as_bytes()).await;
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert_eq!(status, 200, "WebDriver {method} {path} failed: {value}");
        value["value"].clone()
    }

    /// Wait until chromedriver answers, then open a headless chromium session.
    async fn session(&self) -> Browser<'_> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(self.addr)).await
            {
                let _ = s.shutdown().await;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let value = self.command("POST", "/session", Some(caps)).await;
        let id = value["sessionId"].as_str().expect("sessionId").to_owned();
        Browser { driver: self, id }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The browsers first (they are chromedriver's children), then chromedriver.
        for pid in descendants(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One browser session.
struct Browser<'a> {
    driver: &'a Chromedriver,
    id: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser<'_> {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        self.driver.command(method, &path, body).await
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Element ids matching a CSS selector (possibly none).
    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .cmd(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_array()
            .expect("element list")
            .iter()
            .map(|e| e[ELEMENT].as_str().expect("element id").to_owned())
            .collect()
    }

    /// The one element matching `css`.
    async fn find(&self, css: &str) -> String {
        let all = self.find_all(css).await;
        assert_eq!(all.len(), 1, "{css}: {} elements", all.len());
        all[0].clone()
    }

    async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        let v = self.cmd("GET", &format!("/element/{el}/text"), None).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await;
    }

    /// Wait until the page's `#notice` exists (the answer to a form post).
    async fn notice(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if !self.find_all("#notice").await.is_empty() {
                return self.text("#notice").await;
            }
            assert!(Instant::now() < deadline, "no #notice within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn quit(self) {
        let path = format!("/session/{}", self.id);
        self.driver.command("DELETE", &path, None).await;
    }
}

/// The numbers in the `#nases` row of `name`: (requests, rejects).
async fn nas_counts(browser: &Browser<'_>, name: &str) -> (u64, u64) {
    let table = browser.text("#nases").await;
    let row = table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no NAS row {name} in {table}"));
    // Name, address, source, "… ago (date time UTC)", requests, rejects, rates…
    let after = row.split(" UTC)").nth(1).expect("a last-packet time");
    let mut numbers = after.split_whitespace().map(|n| n.parse::<u64>());
    let requests = numbers.next().expect("requests").expect("a count");
    let rejects = numbers.next().expect("rejects").expect("a count");
    (requests, rejects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sees_nases_and_sessions_and_disconnects_with_the_token() {
    let driver = Chromedriver::start();
    let (url, pool) = harness::fresh_db().await;
    let redis = Redis::start();
    let nas = FakeNas::start(SECRET.as_bytes(), Behaviour::Ack);
    user(&pool, "alice", "pw").await;
    let (server, admin) = start(config(
        &url,
        Some(redis.url()),
        nas.addr().port(),
        Some(TOKEN),
    ))
    .await;
    // A second, read-only instance sharing the Redis session store.
    let (viewer, viewer_admin) =
        start(config(&url, Some(redis.url()), nas.addr().port(), None)).await;

    assert_eq!(login(&server, "alice", "pw").await, Code::AccessAccept);
    assert_eq!(login(&server, "alice", "wrong").await, Code::AccessReject);
    acct_start(&server, "alice", "alice-1").await;
    page_showing(admin, "alice-1").await;
    page_showing(viewer_admin, "alice-1").await;

    let browser = driver.session().await;

    // Read-only: the session is listed, there is nothing to press.
    browser.goto(&format!("http://{viewer_admin}/")).await;
    assert!(browser.text("#sessions").await.contains("alice"));
    assert!(browser.find_all("button[name=session]").await.is_empty());
    assert!(browser.find_all("#token").await.is_empty());

    // With a token: the NAS with its counters, the session with its button.
    browser.goto(&format!("http://{admin}/")).await;
    let (requests, rejects) = nas_counts(&browser, "hotspot-router").await;
    assert!(requests >= 3, "requests {requests}");
    assert_eq!(rejects, 1);
    let sessions = browser.text("#sessions").await;
    assert!(
        sessions.contains("alice") && sessions.contains("alice-1"),
        "{sessions}"
    );

    // A wrong token: 403, nothing sent.
    browser.type_into("#token", "guess").await;
    browser.click("#sessions button[name=session]").await;
    let refused = browser.notice().await;
    assert!(
        refused.contains("Wrong or missing admin token"),
        "{refused}"
    );
    assert!(nas.requests().is_empty(), "{:?}", nas.requests());

    // The token: the fake NAS receives the Disconnect-Request, the page shows its ACK.
    browser.goto(&format!("http://{admin}/")).await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#sessions button[name=session]").await;
    let done = browser.notice().await;
    assert!(done.contains("ACK") && done.contains("alice"), "{done}");
    let got = nas.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].code, Code::DisconnectRequest);
    assert_eq!(got[0].user_name.as_deref(), Some("alice"));
    assert_eq!(got[0].acct_session_id.as_deref(), Some("alice-1"));
    assert!(nas.failures().is_empty(), "{:?}", nas.failures());

    browser.quit().await;
    server.stop().await;
    viewer.stop().await;
}
