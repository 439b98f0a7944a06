use super::*;

fn session(user: &str, unique_id: &str) -> Session {
    Session {
        tenant: None,
        unique_id: unique_id.into(),
        session_id: format!("sid-{unique_id}"),
        username: user.into(),
        nas_ip: "127.0.0.1".parse().unwrap(),
        client: "127.0.0.1/32".parse().unwrap(),
        nas_port_id: None,
        nas_port: None,
        mac: Some("AA:BB:CC:00:00:01".into()),
        framed_ip: Some("10.5.50.7".parse().unwrap()),
        start: 1_700_000_000,
        last_update: 1_700_000_000,
        interim: None,
        session_time: 0,
        input_octets: 1500,
        output_octets: 2_000_000,
    }
}

fn snapshot(sessions: Vec<Session>, can_disconnect: bool) -> Snapshot {
    Snapshot {
        now: 1_700_000_100,
        uptime_secs: 3661,
        listeners: vec![("auth", "127.0.0.1:1812".parse().unwrap())],
        nases: vec![NasView {
            name: "router<1>".into(),
            network: "127.0.0.1/32".parse().unwrap(),
            source: "config",
            requests: 12,
            rejects: 3,
            last_seen: Some(1_700_000_090),
            rates: (6.0, 1.5, 120),
        }],
        session_store: "memory",
        sessions: Ok(sessions
            .into_iter()
            .map(|s| (s, "router<1>".to_owned()))
            .collect()),
        cache: CacheStats {
            l1_hits: 3,
            l1_misses: 1,
            l2_hits: 0,
            l2_misses: 1,
        },
        l2: true,
        backlog: Backlog {
            queued: 2,
            journal_records: 7,
            journal_bytes: 4096,
        },
        can_disconnect,
    }
}

#[test]
fn escapes_markup_from_routers() {
    assert_eq!(
        escape(r#"<script>alert("x" & 'y')</script>"#),
        "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
    );
    let page = render(
        &snapshot(vec![session("<script>alert(1)</script>", "u\"><b>1")], true),
        Some(&Notice::Failed("<img src=x>".into())),
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("value=\"u&quot;&gt;&lt;b&gt;1\""));
    assert!(page.contains("router&lt;1&gt;"));
}

#[test]
fn shows_every_section() {
    let page = render(&snapshot(vec![session("alice", "a1")], false), None);
    for needle in [
        "id=\"server\"",
        env!("CARGO_PKG_VERSION"),
        "1:01:01",
        "auth 127.0.0.1:1812",
        "id=\"nases\"",
        "<td class=\"n\">12</td>",
        "<td class=\"n\">3</td>",
        "0:00:10 ago",
        "<td class=\"n\">6.0</td>",
        "id=\"sessions\"",
        "alice",
        "sid-a1",
        "2.0 M",
        "75.0 %",
        "0.0 %",
        "<td class=\"n\">7</td>",
        "4.1 kB",
        "http-equiv=\"refresh\"",
    ] {
        assert!(page.contains(needle), "{needle} missing from\n{page}");
    }
}

#[test]
fn buttons_only_with_a_token() {
    let read_only = render(&snapshot(vec![session("alice", "a1")], false), None);
    assert!(!read_only.contains("<form"));
    assert!(!read_only.contains("Disconnect</button>"));
    let page = render(&snapshot(vec![session("alice", "a1")], true), None);
    assert!(page.contains("<form method=\"post\" action=\"/disconnect\">"));
    assert!(page.contains("name=\"token\""));
    assert!(page.contains("name=\"session\" value=\"a1\">Disconnect</button>"));
    // The default button is disabled: Enter in the token field sends nothing.
    let default = page.find("<button").unwrap();
    assert!(page[default..].starts_with("<button type=\"submit\" disabled"));
    // No reload under a half-typed token.
    assert!(!page.contains("http-equiv=\"refresh\""));
}

#[test]
fn caps_the_session_rows() {
    let many = (0..MAX_SESSION_ROWS + 3)
        .map(|i| session("u", &format!("s{i}")))
        .collect();
    let page = render(&snapshot(many, false), None);
    assert_eq!(page.matches("<tr><td>u</td>").count(), MAX_SESSION_ROWS);
    assert!(page.contains("… and 3 more"));
}

#[test]
fn form_fields_are_decoded() {
    let body = b"session=abc%2Fd%3D1&token=s3cr%21t+x&empty=&flag";
    assert_eq!(form_field(body, "session").as_deref(), Some("abc/d=1"));
    assert_eq!(form_field(body, "token").as_deref(), Some("s3cr!t x"));
    assert_eq!(form_field(body, "empty").as_deref(), Some(""));
    assert_eq!(form_field(body, "flag").as_deref(), Some(""));
    assert_eq!(form_field(body, "nope"), None);
    assert_eq!(percent_decode(b"100%+%zz%4"), "100% %zz%4");
}

#[test]
fn rates_are_measured_over_the_last_minute() {
    let net: IpNet = "127.0.0.1/32".parse().unwrap();
    let counts = |n: u64| Counts::from([(net, (n, 0))]);
    let mut w = RateWindow::default();
    assert!(
        w.base(1000, &counts(10)).is_none(),
        "first view: since start"
    );
    assert!(
        w.base(1001, &counts(11)).is_none(),
        "a second later: too short a window"
    );
    let at = |s: Option<Sample>| s.map(|s| (s.at, s.counts[&net].0));
    assert_eq!(
        at(w.base(1010, &counts(20))),
        Some((1000, 10)),
        "only younger samples: the oldest"
    );
    for t in (1020..=1100).step_by(10) {
        w.base(t, &counts(t as u64));
    }
    // The newest sample at least a minute old.
    assert_eq!(at(w.base(1105, &counts(0))), Some((1040, 1040)));
    // Old samples are forgotten.
    assert_eq!(at(w.base(2000, &counts(0))), None);
}
