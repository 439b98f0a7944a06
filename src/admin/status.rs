//! The operator's status page on the admin port: one server-rendered HTML page, no script.
//!
//! `GET /` (or `/status`) shows the server (version, uptime, listeners), every NAS client
//! entry with its last packet and its request and reject counts and rates, the sessions
//! online (from the running server's session store, at most [`MAX_SESSION_ROWS`] rows),
//! the profile cache's hit ratios and the accounting backlog. Every value is HTML-escaped:
//! usernames, session ids and NAS names come from routers and databases.
//!
//! With `[admin] token` set, each session has a Disconnect button: the form posts the
//! session's unique id and the token typed into the page to `POST /disconnect`, which
//! compares the token in constant time, sends an RFC 5176 Disconnect-Request to the
//! session's NAS (as `hotspot-radius disconnect` does) and shows the answer (ACK, NAK or
//! no reply). Without a token the page is read-only and the POST is refused (403), as is
//! a wrong token; nothing is sent then.
//!
//! Data is gathered into a [`Snapshot`] and rendered by a pure function, so the markup
//! and its escaping are tested without a server.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipnet::IpNet;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::accounting::{Backlog, Batcher};
use crate::client::dynauth::{DynAuthKind, DynAuthReply};
use crate::clients::{ClientSource, Clients};
use crate::model::Session;
use crate::profiles::{CacheStats, Profiles};
use crate::sessions::actions::{ActionError, Dynauth, Trigger};
use crate::sessions::{Filter, SessionStore, Sessions};

/// Session rows shown at most; the page says how many more are online.
pub const MAX_SESSION_ROWS: usize = 500;
/// Seconds between automatic reloads of the read-only page. A page with Disconnect buttons
/// does not reload itself (a half-typed token would be lost).
const REFRESH_SECS: u32 = 15;
/// The window of the request and reject rates.
const RATE_WINDOW: i64 = 60;
/// The shortest window a rate is measured over (also the least time between samples).
const MIN_RATE_WINDOW: i64 = 5;
/// Counter samples kept for the rates (one per page view at most every few seconds).
const MAX_SAMPLES: usize = 64;

/// What the status page reads, and what its Disconnect button sends through.
#[derive(Debug)]
pub struct Sources {
    /// Bound listeners, by name (`auth`, `acct`, `radsec`, `admin`).
    pub listeners: Vec<(&'static str, SocketAddr)>,
    /// The live NAS table (with its traffic counters).
    pub clients: Arc<Clients>,
    /// The running server's session store.
    pub sessions: Sessions,
    /// The profile cache (hit and miss counters).
    pub profiles: Profiles,
    /// The accounting sink (backlog).
    pub accounting: Batcher,
    /// Sends Disconnect-Requests.
    pub dynauth: Dynauth,
    /// `[admin] token` (None: read-only page).
    pub token: Option<String>,
}

/// The status page (see the module doc).
pub struct StatusPage {
    sources: Sources,
    started: Instant,
    /// SHA-1 of the token: compared in constant time whatever the typed token's length.
    token_digest: Option<[u8; 20]>,
    samples: Mutex<RateWindow>,
}

impl std::fmt::Debug for StatusPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusPage")
            .field("listeners", &self.sources.listeners)
            .field("read_only", &self.token_digest.is_none())
            .finish_non_exhaustive()
    }
}

/// (requests, rejects) per client entry.
type Counts = HashMap<IpNet, (u64, u64)>;

/// Per-entry counters at one moment, for the rates.
#[derive(Debug, Clone)]
struct Sample {
    at: i64,
    counts: Counts,
}

/// Recent counter samples (taken as the page is viewed), for rates over the last minute.
#[derive(Debug, Default)]
struct RateWindow {
    samples: VecDeque<Sample>,
}

impl RateWindow {
    /// Record `counts` at `now` (at most one sample every [`MIN_RATE_WINDOW`] seconds) and
    /// return the sample to measure rates from: the newest one at least [`RATE_WINDOW`]
    /// old, else the oldest if at least [`MIN_RATE_WINDOW`] old (None: rates are then
    /// since each entry's start).
    fn base(&mut self, now: i64, counts: &Counts) -> Option<Sample> {
        let samples = &mut self.samples;
        while samples
            .front()
            .is_some_and(|s| now - s.at > 5 * RATE_WINDOW)
        {
            samples.pop_front();
        }
        let base = samples
            .iter()
            .rev()
            .find(|s| now - s.at >= RATE_WINDOW)
            .or_else(|| samples.front())
            .filter(|s| now - s.at >= MIN_RATE_WINDOW)
            .cloned();
        if samples.back().is_none_or(|s| now - s.at >= MIN_RATE_WINDOW) {
            if samples.len() >= MAX_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(Sample {
                at: now,
                counts: counts.clone(),
            });
        }
        base
    }
}

/// One NAS client entry as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct NasView {
    /// Its name.
    pub name: String,
    /// Its address or network.
    pub network: IpNet,
    /// `config` or `database`.
    pub source: &'static str,
    /// Requests so far.
    pub requests: u64,
    /// Access-Rejects so far.
    pub rejects: u64,
    /// Unix seconds of its last request.
    pub last_seen: Option<i64>,
    /// Requests and rejects per minute, and the window (seconds) they were measured over.
    pub rates: (f64, f64, i64),
}

/// Everything the page shows, gathered at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Unix seconds now.
    pub now: i64,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Bound listeners.
    pub listeners: Vec<(&'static str, SocketAddr)>,
    /// NAS client entries, by name.
    pub nases: Vec<NasView>,
    /// `memory` or `redis`.
    pub session_store: &'static str,
    /// Open sessions with their NAS's name, oldest first; `Err` when the store failed.
    pub sessions: Result<Vec<(Session, String)>, String>,
    /// Profile cache hits and misses.
    pub cache: CacheStats,
    /// Whether a Redis tier is configured.
    pub l2: bool,
    /// Accounting records not yet in PostgreSQL.
    pub backlog: Backlog,
    /// Whether Disconnect buttons are shown (a token is configured).
    pub can_disconnect: bool,
}

/// A line at the top of the page: what a Disconnect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// It worked (the NAS acknowledged).
    Done(String),
    /// It did not.
    Failed(String),
}

impl StatusPage {
    /// A page over `sources`; uptime counts from now.
    pub fn new(sources: Sources) -> Self {
        let token_digest = sources
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| Sha1::digest(t.as_bytes()).into());
        Self {
            sources,
            started: Instant::now(),
            token_digest,
            samples: Mutex::new(RateWindow::default()),
        }
    }

    /// Gather what the page shows.
    pub async fn snapshot(&self) -> Snapshot {
        let now = chrono::Utc::now().timestamp();
        let s = &self.sources;
        let table = s.clients.snapshot();
        let counts: Counts = table
            .iter()
            .map(|c| (c.network, (c.counters().requests(), c.counters().rejects())))
            .collect();
        let base = self
            .samples
            .lock()
            .ok()
            .and_then(|mut w| w.base(now, &counts));
        let mut nases: Vec<NasView> = table
            .iter()
            .map(|c| {
                let k = c.counters();
                let (requests, rejects) = (k.requests(), k.rejects());
                let (at, (r0, j0)) = base
                    .as_ref()
                    .and_then(|b| b.counts.get(&c.network).map(|v| (b.at, *v)))
                    .unwrap_or((k.since(), (0, 0)));
                let window = (now - at).max(1);
                let per_minute = |n: u64| n as f64 * 60.0 / window as f64;
                NasView {
                    name: c.name.clone(),
                    network: c.network,
                    source: match c.source {
                        ClientSource::Config => "config",
                        ClientSource::Database => "database",
                    },
                    requests,
                    rejects,
                    last_seen: k.last_seen(),
                    rates: (
                        per_minute(requests.saturating_sub(r0)),
                        per_minute(rejects.saturating_sub(j0)),
                        window,
                    ),
                }
            })
            .collect();
        nases.sort_by(|a, b| (&a.name, a.network).cmp(&(&b.name, b.network)));
        let sessions = s
            .sessions
            .list(&Filter::default())
            .await
            .map(|list| {
                list.into_iter()
                    .map(|session| {
                        let nas = table
                            .lookup(session.nas_ip)
                            .map_or_else(|| session.nas_ip.to_string(), |c| c.name.clone());
                        (session, nas)
                    })
                    .collect()
            })
            .map_err(|e| e.to_string());
        Snapshot {
            now,
            uptime_secs: self.started.elapsed().as_secs(),
            listeners: s.listeners.clone(),
            nases,
            session_store: s.sessions.kind(),
            sessions,
            cache: s.profiles.cache_stats(),
            l2: s.profiles.has_l2(),
            backlog: s.accounting.backlog(),
            can_disconnect: self.token_digest.is_some(),
        }
    }

    /// The page, with `notice` on top.
    pub async fn render(&self, notice: Option<&Notice>) -> String {
        render(&self.snapshot().await, notice)
    }

    /// `POST /disconnect` with a form body (`session`, `token`): the status line and page.
    pub async fn disconnect(&self, body: &[u8]) -> (&'static str, String) {
        let Some(expected) = &self.token_digest else {
            return forbidden(
                "This status page is read-only: set [admin] token to enable Disconnect.",
            );
        };
        let given: [u8; 20] = Sha1::digest(form_field(body, "token").unwrap_or_default()).into();
        if !bool::from(expected[..].ct_eq(&given[..])) {
            tracing::warn!("status page: Disconnect refused (wrong or missing admin token)");
            return forbidden("Wrong or missing admin token: nothing was sent.");
        }
        let id = form_field(body, "session").unwrap_or_default();
        let session = match self.sources.sessions.list(&Filter::default()).await {
            Ok(list) => list.into_iter().find(|s| s.unique_id == id),
            Err(e) => {
                let notice = Notice::Failed(format!("Session store unavailable: {e}"));
                return ("503 Service Unavailable", self.render(Some(&notice)).await);
            }
        };
        let Some(session) = session else {
            let notice = Notice::Failed(format!("No session {id} is online."));
            return ("404 Not Found", self.render(Some(&notice)).await);
        };
        let what = format!(
            "Disconnect {} (session {} on {})",
            session.username, session.session_id, session.nas_ip
        );
        let sent = self
            .sources
            .dynauth
            .send(DynAuthKind::Disconnect, &session, &[], Trigger::StatusPage)
            .await;
        let notice = match sent {
            Ok(DynAuthReply::Ack) => Notice::Done(format!("{what}: ACK")),
            Ok(DynAuthReply::Nak {
                error_cause: Some(cause),
            }) => Notice::Failed(format!("{what}: NAK ({cause})")),
            Ok(DynAuthReply::Nak { error_cause: None }) => Notice::Failed(format!("{what}: NAK")),
            Err(ActionError::Client(crate::client::ClientError::Timeout { .. })) => {
                Notice::Failed(format!("{what}: timeout (no reply from the NAS)"))
            }
            Err(e) => Notice::Failed(format!("{what}: {e}")),
        };
        ("200 OK", self.render(Some(&notice)).await)
    }
}

/// The 403 page.
fn forbidden(why: &str) -> (&'static str, String) {
    let mut out = String::new();
    page_head(&mut out, None);
    let _ = write!(
        out,
        "<h1>403 Forbidden</h1>\n<p id=\"notice\" class=\"failed\">{}</p>\n\
         <p><a href=\"/\">Back to the status page</a></p>\n</body>\n</html>\n",
        escape(why)
    );
    ("403 Forbidden", out)
}

/// One value of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (pair.get(..i)?, pair.get(i + 1..)?),
            None => (pair, &[][..]),
        };
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// `+` → space, `%XX` → that byte; a malformed escape is kept as text.
fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let escaped = (b == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, escaped) {
            (_, Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text made safe for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
td.n{text-align:right;white-space:nowrap}th{background:#f0f0f0}\
.done{color:#070}.failed{color:#b00}.muted{color:#777}";

fn page_head(out: &mut String, refresh: Option<u32>) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    if let Some(secs) = refresh {
        let _ = writeln!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{secs}; url=/\">"
        );
    }
    let _ = write!(
        out,
        "<title>hotspot-radius status</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
}

/// The whole page for `snap`, with `notice` on top.
pub fn render(snap: &Snapshot, notice: Option<&Notice>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    page_head(
        &mut out,
        (!snap.can_disconnect && notice.is_none()).then_some(REFRESH_SECS),
    );
    out.push_str("<h1>hotspot-radius status</h1>\n");
    match notice {
        Some(Notice::Done(text)) => {
            let _ = writeln!(out, "<p id=\"notice\" class=\"done\">{}</p>", escape(text));
        }
        Some(Notice::Failed(text)) => {
            let _ = writeln!(
                out,
                "<p id=\"notice\" class=\"failed\">{}</p>",
                escape(text)
            );
        }
        None => {}
    }
    server_section(&mut out, snap);
    nas_section(&mut out, snap);
    sessions_section(&mut out, snap);
    cache_section(&mut out, snap);
    accounting_section(&mut out, snap);
    out.push_str("<p class=\"muted\"><a href=\"/\">Reload</a> · <a href=\"/metrics\">/metrics</a>");
    if !snap.can_disconnect {
        let _ = write!(
            out,
            " · read-only (no [admin] token), reloads every {REFRESH_SECS} s"
        );
    }
    out.push_str("</p>\n</body>\n</html>\n");
    out
}

fn server_section(out: &mut String, snap: &Snapshot) {
    let listeners: Vec<String> = snap
        .listeners
        .iter()
        .map(|(name, addr)| format!("{name} {addr}"))
        .collect();
    let _ = write!(
        out,
        "<h2>Server</h2>\n<table id=\"server\">\n\
         <tr><th>Version</th><td>{}</td></tr>\n\
         <tr><th>Uptime</th><td>{}</td></tr>\n\
         <tr><th>Now</th><td>{}</td></tr>\n\
         <tr><th>Listeners</th><td>{}</td></tr>\n</table>\n",
        escape(env!("CARGO_PKG_VERSION")),
        duration(i64::try_from(snap.uptime_secs).unwrap_or(i64::MAX)),
        timestamp(snap.now),
        escape(&listeners.join(", ")),
    );
}

fn nas_section(out: &mut String, snap: &Snapshot) {
    let _ = writeln!(out, "<h2>NASes ({})</h2>", snap.nases.len());
    if snap.nases.is_empty() {
        out.push_str("<p>No NAS client is defined: every request is dropped.</p>\n");
        return;
    }
    out.push_str(
        "<table id=\"nases\">\n<tr><th>Name</th><th>Address</th><th>From</th>\
         <th>Last packet</th><th>Requests</th><th>Rejects</th>\
         <th>Requests/min</th><th>Rejects/min</th><th>Rate over</th></tr>\n",
    );
    for n in &snap.nases {
        let last = n.last_seen.map_or_else(
            || "never".to_owned(),
            |t| format!("{} ago ({})", duration(snap.now - t), timestamp(t)),
        );
        let (requests_rate, rejects_rate, window) = n.rates;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{requests_rate:.1}</td>\
             <td class=\"n\">{rejects_rate:.1}</td><td>{}</td></tr>",
            escape(&n.name),
            escape(&n.network.to_string()),
            n.source,
            escape(&last),
            n.requests,
            n.rejects,
            duration(window),
        );
    }
    out.push_str("</table>\n");
}

fn sessions_section(out: &mut String, snap: &Snapshot) {
    let sessions = match &snap.sessions {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(
                out,
                "<h2>Sessions online</h2>\n<p class=\"failed\">The session store ({}) did not answer: {}</p>",
                snap.session_store,
                escape(e)
            );
            return;
        }
    };
    let _ = writeln!(
        out,
        "<h2>Sessions online ({})</h2>\n<p class=\"muted\">From the {} session store.</p>",
        sessions.len(),
        snap.session_store
    );
    if sessions.is_empty() {
        out.push_str("<p>Nobody is online.</p>\n");
        return;
    }
    if snap.can_disconnect {
        // The first submit button is the form's default: disabled, so Enter in the token
        // field disconnects nobody.
        out.push_str(
            "<form method=\"post\" action=\"/disconnect\">\n\
             <button type=\"submit\" disabled hidden aria-hidden=\"true\"></button>\n\
             <p><label>Admin token <input type=\"password\" id=\"token\" name=\"token\" \
             autocomplete=\"off\" required></label></p>\n",
        );
    }
    out.push_str(
        "<table id=\"sessions\">\n<tr><th>User</th><th>MAC</th><th>IP</th><th>NAS</th>\
         <th>Started</th><th>Duration</th><th>In</th><th>Out</th><th>Session</th>",
    );
    out.push_str(if snap.can_disconnect {
        "<th></th></tr>\n"
    } else {
        "</tr>\n"
    });
    for (s, nas) in sessions.iter().take(MAX_SESSION_ROWS) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>",
            escape(&s.username),
            escape(s.mac.as_deref().unwrap_or("-")),
            s.framed_ip.map_or_else(|| "-".into(), |i| i.to_string()),
            escape(nas),
            timestamp(s.start),
            duration(snap.now - s.start),
            bytes(s.input_octets),
            bytes(s.output_octets),
            escape(&s.session_id),
        );
        if snap.can_disconnect {
            let _ = write!(
                out,
                "<td><button type=\"submit\" name=\"session\" value=\"{}\">Disconnect</button></td>",
                escape(&s.unique_id)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if snap.can_disconnect {
        out.push_str("</form>\n");
    }
    if sessions.len() > MAX_SESSION_ROWS {
        let _ = writeln!(
            out,
            "<p id=\"more\">… and {} more (the oldest {MAX_SESSION_ROWS} are shown; \
             <code>hotspot-radius sessions</code> lists all).</p>",
            sessions.len() - MAX_SESSION_ROWS
        );
    }
}

/// `hits / (hits + misses)` as a percentage, or a dash before any lookup.
fn ratio(hits: u64, misses: u64) -> String {
    let total = hits.saturating_add(misses);
    if total == 0 {
        return "-".into();
    }
    format!("{:.1} %", hits as f64 * 100.0 / total as f64)
}

fn cache_section(out: &mut String, snap: &Snapshot) {
    let c = &snap.cache;
    let _ = write!(
        out,
        "<h2>Profile cache</h2>\n<table id=\"cache\">\n\
         <tr><th>Tier</th><th>Hits</th><th>Misses</th><th>Hit ratio</th></tr>\n\
         <tr><td>L1 (in process)</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
        c.l1_hits,
        c.l1_misses,
        ratio(c.l1_hits, c.l1_misses)
    );
    if snap.l2 {
        let _ = writeln!(
            out,
            "<tr><td>L2 (Redis)</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            c.l2_hits,
            c.l2_misses,
            ratio(c.l2_hits, c.l2_misses)
        );
    } else {
        out.push_str("<tr><td>L2 (Redis)</td><td colspan=\"3\">not configured</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn accounting_section(out: &mut String, snap: &Snapshot) {
    let b = &snap.backlog;
    let _ = write!(
        out,
        "<h2>Accounting backlog</h2>\n<table id=\"accounting\">\n\
         <tr><th>Queued for PostgreSQL</th><td class=\"n\">{}</td></tr>\n\
         <tr><th>Journal records awaiting replay</th><td class=\"n\">{}</td></tr>\n\
         <tr><th>Journal size</th><td class=\"n\">{}B</td></tr>\n</table>\n",
        b.queued,
        b.journal_records,
        bytes(i64::try_from(b.journal_bytes).unwrap_or(i64::MAX)),
    );
}

fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        s if s >= 86_400 => format!(
            "{}d {:02}:{:02}:{:02}",
            s / 86_400,
            s / 3600 % 24,
            s / 60 % 60,
            s % 60
        ),
        s => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    }
}

fn timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} G", n / 1e9),
        n if n >= 1e6 => format!("{:.1} M", n / 1e6),
        n if n >= 1e3 => format!("{:.1} k", n / 1e3),
        n => format!("{n} "),
    }
}

#[cfg(test)]
mod tests;
