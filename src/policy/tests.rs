//! Profile compile + authorize tests, with real request packets and the builtin dictionary.

use std::sync::OnceLock;

use super::*;
use crate::model::{GroupRows, RadRow};
use radius_proto::protocol::{Code, PacketBuilder, Secret, Signer, attrs};

const NOW: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z
const MIKROTIK: u32 = 14988;

fn dict() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(Dictionary::builtin)
}

fn row(attribute: &str, op: &str, value: &str) -> RadRow {
    RadRow {
        attribute: attribute.into(),
        op: op.into(),
        value: value.into(),
    }
}

fn rows(v: &[(&str, &str, &str)]) -> Vec<RadRow> {
    v.iter().map(|(a, o, x)| row(a, o, x)).collect()
}

fn group(
    name: &str,
    priority: i32,
    check: &[(&str, &str, &str)],
    reply: &[(&str, &str, &str)],
) -> GroupRows {
    GroupRows {
        name: name.into(),
        priority,
        check: rows(check),
        reply: rows(reply),
    }
}

fn user(
    check: &[(&str, &str, &str)],
    reply: &[(&str, &str, &str)],
    groups: Vec<GroupRows>,
) -> Profile {
    let rows = UserRows {
        username: "alice".into(),
        check: rows(check),
        reply: rows(reply),
        groups,
    };
    Profile::compile(&rows, dict())
}

/// An Access-Request datagram with these standard and vendor attributes.
fn request(std: &[(u8, &[u8])], vendor: &[(u32, u8, &[u8])]) -> Vec<u8> {
    let mut b = PacketBuilder::new(Code::AccessRequest, 7);
    b.add(attrs::USER_NAME, b"alice").unwrap();
    for (typ, value) in std {
        b.add(*typ, value).unwrap();
    }
    for (v, typ, value) in vendor {
        b.add_vendor(*v, *typ, value).unwrap();
    }
    b.sign_access_request(&[9; 16], &Signer::new(b"secret"))
        .unwrap()
}

fn plain() -> Vec<u8> {
    request(&[], &[])
}

fn mac(m: &str) -> Vec<u8> {
    request(&[(attrs::CALLING_STATION_ID, m.as_bytes())], &[])
}

fn authorize<'p>(profile: &'p Profile, datagram: &[u8], now: i64) -> Authorization<'p> {
    let packet = Packet::decode(datagram).unwrap();
    profile.authorize(&packet, now)
}

/// The Proceed fields, or a panic naming the deny reason.
struct Proceeded<'p> {
    credential: Option<&'p Credential>,
    accept: bool,
    reply: ReplyItems<'p>,
    session_timeout: Option<u32>,
}

fn proceed<'p>(profile: &'p Profile, datagram: &[u8], now: i64) -> Proceeded<'p> {
    match authorize(profile, datagram, now) {
        Authorization::Proceed {
            credential,
            accept_without_password,
            reply,
            session_timeout,
            ..
        } => Proceeded {
            credential,
            accept: accept_without_password,
            reply,
            session_timeout,
        },
        Authorization::Deny(r) => panic!("denied: {r:?}; problems {:?}", profile.problems()),
    }
}

fn deny(profile: &Profile, datagram: &[u8], now: i64) -> DenyReason {
    match authorize(profile, datagram, now) {
        Authorization::Deny(r) => r,
        Authorization::Proceed { reply, .. } => panic!("proceeded with reply {reply:?}"),
    }
}

fn cleartext(p: &str) -> Credential {
    Credential::Cleartext(Secret::from(p))
}

fn class(v: &str) -> Vec<u8> {
    let mut t = vec![attrs::CLASS, (v.len() + 2) as u8];
    t.extend_from_slice(v.as_bytes());
    t
}

fn rate_limit(v: &str) -> Vec<u8> {
    let mut t = vec![
        26,
        (v.len() + 8) as u8,
        0,
        0,
        0x3a,
        0x8c,
        8,
        (v.len() + 2) as u8,
    ];
    t.extend_from_slice(v.as_bytes());
    t
}

#[test]
fn profile_is_shareable() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Profile>();
    send_sync::<std::sync::Arc<Profile>>();
}

#[test]
fn reply_keys_and_merging() {
    let rate = rate_limit("2M/5");
    let class_a = class("a");
    let class_b = class("b");
    assert_eq!(reply_key(&rate), (MIKROTIK, 8));
    assert_eq!(reply_key(&class_a), (0, 25));
    let mut reply = ReplyItems::default();
    merge_reply(&mut reply, Merge::IfAbsent, &class_a);
    merge_reply(&mut reply, Merge::IfAbsent, &class_b);
    assert_eq!(reply, [&class_a[..]]);
    merge_reply(&mut reply, Merge::Append, &class_b);
    merge_reply(&mut reply, Merge::Append, &rate);
    assert_eq!(reply, [&class_a[..], &class_b[..], &rate[..]]);
    merge_reply(&mut reply, Merge::Replace, &class_b);
    assert_eq!(reply, [&rate[..], &class_b[..]]);
}

/// Past the inline capacity the items move to the heap, in order, and merging still works
/// (replace removes from both sides of the move).
#[test]
fn reply_items_beyond_the_inline_ones() {
    let classes: Vec<Vec<u8>> = (0..20).map(|i| class(&format!("c{i}"))).collect();
    let rate = rate_limit("1M/2M");
    let mut reply = ReplyItems::default();
    merge_reply(&mut reply, Merge::Append, &rate);
    for c in &classes {
        merge_reply(&mut reply, Merge::Append, c);
    }
    assert_eq!(reply.len(), 21);
    assert_eq!(reply[0], &rate[..]);
    assert!(reply[1..].iter().zip(&classes).all(|(r, c)| *r == &c[..]));
    merge_reply(&mut reply, Merge::Replace, &classes[3]);
    assert_eq!(*reply, [&rate[..], &classes[3][..]]);
    let mut presized = ReplyItems::with_capacity(20);
    for c in &classes {
        presized.push(c);
    }
    presized.retain(|t| t != &classes[0][..]);
    assert_eq!(presized.len(), 19);
    assert_eq!(presized.first().copied(), Some(&classes[1][..]));
}

#[test]
fn password_from_radcheck() {
    let p = user(&[("Cleartext-Password", ":=", "s3cret")], &[], vec![]);
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let r = proceed(&p, &plain(), NOW);
    assert_eq!(r.credential, Some(&cleartext("s3cret")));
    assert!(!r.accept);
    assert!(r.reply.is_empty());
    assert_eq!(r.session_timeout, None);

    let p = user(
        &[("NT-Password", ":=", "0x8846F7EAEE8FB117AD06BDD830B7586C")],
        &[],
        vec![],
    );
    let want = Credential::NtHash([
        0x88, 0x46, 0xf7, 0xea, 0xee, 0x8f, 0xb1, 0x17, 0xad, 0x06, 0xbd, 0xd8, 0x30, 0xb7, 0x58,
        0x6c,
    ]);
    assert_eq!(proceed(&p, &plain(), NOW).credential, Some(&want));

    let hash = "$6$salt$abcdef";
    let p = user(&[("Crypt-Password", ":=", hash)], &[], vec![]);
    let want = Credential::Crypt(Secret::from(hash));
    assert_eq!(proceed(&p, &plain(), NOW).credential, Some(&want));

    // Quoted values lose their quotes; blanks inside a password are kept.
    let p = user(
        &[("Cleartext-Password", ":=", "\" pass word \"")],
        &[],
        vec![],
    );
    assert_eq!(
        proceed(&p, &plain(), NOW).credential,
        Some(&cleartext(" pass word "))
    );
}

#[test]
fn double_equals_on_password_is_the_credential() {
    for name in ["Cleartext-Password", "User-Password"] {
        let p = user(&[(name, "==", "pw")], &[], vec![]);
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        assert_eq!(
            proceed(&p, &plain(), NOW).credential,
            Some(&cleartext("pw"))
        );
    }
}

#[test]
fn cleartext_preferred_over_hashes() {
    let p = user(
        &[
            ("Crypt-Password", ":=", "$1$x$y"),
            ("NT-Password", ":=", "8846F7EAEE8FB117AD06BDD830B7586C"),
            ("Cleartext-Password", ":=", "pw"),
        ],
        &[],
        vec![],
    );
    assert_eq!(
        proceed(&p, &plain(), NOW).credential,
        Some(&cleartext("pw"))
    );
}

#[test]
fn group_reply_attributes_are_encoded() {
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[],
        vec![group(
            "10M",
            1,
            &[],
            &[
                ("Mikrotik-Rate-Limit", ":=", "2M/5M"),
                ("Session-Timeout", ":=", "3600"),
                ("Acct-Interim-Interval", ":=", "300"),
                ("Framed-IP-Address", "=", "10.5.0.9"),
            ],
        )],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let r = proceed(&p, &plain(), NOW);
    let interim: &[u8] = &[attrs::ACCT_INTERIM_INTERVAL, 6, 0, 0, 1, 44];
    let framed: &[u8] = &[attrs::FRAMED_IP_ADDRESS, 6, 10, 5, 0, 9];
    assert_eq!(r.reply, [&rate_limit("2M/5M")[..], interim, framed]);
    assert_eq!(r.session_timeout, Some(3600));
    assert!(r.reply.iter().all(|t| t[0] != attrs::SESSION_TIMEOUT));
}

#[test]
fn groups_in_priority_order_stop_without_fall_through() {
    let groups = |first_fall: &str, second_op: &str| {
        vec![
            group(
                "a",
                1,
                &[],
                &[("Class", ":=", "a"), ("Fall-Through", "=", first_fall)],
            ),
            group("b", 2, &[], &[("Class", second_op, "b")]),
        ]
    };
    let pw = [("Cleartext-Password", ":=", "pw")];
    // No fall-through: only the first group.
    let p = user(&pw, &[], groups("No", ":="));
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("a")[..]]);
    // Fall-Through = Yes: the second group is processed too; `:=` replaces.
    let p = user(&pw, &[], groups("Yes", ":="));
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("b")[..]]);
    // `=` does not replace, `+=` adds.
    let p = user(&pw, &[], groups("Yes", "="));
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("a")[..]]);
    let p = user(&pw, &[], groups("yes", "+="));
    assert_eq!(
        proceed(&p, &plain(), NOW).reply,
        [&class("a")[..], &class("b")[..]]
    );
    // A missing Fall-Through stops too.
    let p = user(
        &pw,
        &[],
        vec![
            group("a", 1, &[], &[("Class", ":=", "a")]),
            group("b", 2, &[], &[("Class", "+=", "b")]),
        ],
    );
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("a")[..]]);
}

#[test]
fn group_whose_check_fails_is_passed_over() {
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[],
        vec![
            group(
                "site1",
                1,
                &[("NAS-Identifier", "==", "site1")],
                &[("Class", ":=", "site1")],
            ),
            group("default", 2, &[], &[("Class", ":=", "default")]),
        ],
    );
    let at_site1 = request(&[(attrs::NAS_IDENTIFIER, b"site1")], &[]);
    let at_site2 = request(&[(attrs::NAS_IDENTIFIER, b"site2")], &[]);
    assert_eq!(proceed(&p, &at_site1, NOW).reply, [&class("site1")[..]]);
    assert_eq!(proceed(&p, &at_site2, NOW).reply, [&class("default")[..]]);
}

#[test]
fn user_fall_through_no_skips_groups() {
    let groups = vec![group("g", 1, &[], &[("Class", ":=", "g")])];
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[("Reply-Message", ":=", "hi"), ("Fall-Through", ":=", "No")],
        groups.clone(),
    );
    let r = proceed(&p, &plain(), NOW);
    assert_eq!(r.reply, [&[attrs::REPLY_MESSAGE, 4, b'h', b'i'][..]]);
    // Fall-Through = Yes (or absent) in radreply: groups are read.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[("Fall-Through", ":=", "Yes")],
        groups,
    );
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("g")[..]]);
}

#[test]
fn user_and_group_merge_operators() {
    // Reply: group `:=` replaces the user's item, group `=` does not.
    let with = |op: &str| {
        user(
            &[("Cleartext-Password", ":=", "pw")],
            &[("Class", "=", "user")],
            vec![group("g", 1, &[], &[("Class", op, "group")])],
        )
    };
    let p = with(":=");
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("group")[..]]);
    let p = with("=");
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("user")[..]]);
    let p = with("+=");
    assert_eq!(
        proceed(&p, &plain(), NOW).reply,
        [&class("user")[..], &class("group")[..]]
    );
    // Session-Timeout follows the same operators.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[("Session-Timeout", ":=", "100")],
        vec![group("g", 1, &[], &[("Session-Timeout", "=", "200")])],
    );
    assert_eq!(proceed(&p, &plain(), NOW).session_timeout, Some(100));

    // Control: user's `:=` beats a group's `=`; a group's `:=` wins (FreeRADIUS order).
    let with = |op: &str| {
        user(
            &[
                ("Cleartext-Password", ":=", "user"),
                ("Simultaneous-Use", ":=", "2"),
            ],
            &[],
            vec![group(
                "g",
                1,
                &[
                    ("Simultaneous-Use", op, "1"),
                    ("Cleartext-Password", op, "group"),
                ],
                &[],
            )],
        )
    };
    let p = with("=");
    assert_eq!(p.simultaneous_use(), Some(2));
    assert_eq!(
        proceed(&p, &plain(), NOW).credential,
        Some(&cleartext("user"))
    );
    let p = with(":=");
    assert_eq!(p.simultaneous_use(), Some(1));
    assert_eq!(
        proceed(&p, &plain(), NOW).credential,
        Some(&cleartext("group"))
    );
}

#[test]
fn mac_binding() {
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Calling-Station-Id", "==", "AA:BB:CC:DD:EE:FF"),
        ],
        &[("Class", ":=", "bound")],
        vec![group(
            "plan",
            1,
            &[],
            &[("Mikrotik-Rate-Limit", ":=", "1M/1M")],
        )],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let r = proceed(&p, &mac("AA:BB:CC:DD:EE:FF"), NOW);
    assert_eq!(r.credential, Some(&cleartext("pw")));
    assert_eq!(r.reply, [&class("bound")[..], &rate_limit("1M/1M")[..]]);
    // Another device, a differently-cased MAC (exact comparison) or no MAC at all.
    for other in [mac("11:22:33:44:55:66"), mac("aa:bb:cc:dd:ee:ff"), plain()] {
        assert_eq!(deny(&p, &other, NOW), DenyReason::CheckItemsFailed);
    }
    // The bound MAC as the second of two Calling-Station-Id instances still matches.
    let two = request(
        &[
            (attrs::CALLING_STATION_ID, b"11:22:33:44:55:66"),
            (attrs::CALLING_STATION_ID, b"AA:BB:CC:DD:EE:FF"),
        ],
        &[],
    );
    assert!(matches!(
        authorize(&p, &two, NOW),
        Authorization::Proceed { .. }
    ));
}

#[test]
fn per_site_and_numeric_comparisons() {
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("NAS-Identifier", "==", "site1"),
            ("NAS-IP-Address", "==", "10.0.0.1"),
            ("NAS-Port-Type", "==", "Wireless-802.11"),
        ],
        &[],
        vec![],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let req = |id: &[u8], ip: [u8; 4], port_type: u32| {
        request(
            &[
                (attrs::NAS_IDENTIFIER, id),
                (attrs::NAS_IP_ADDRESS, &ip),
                (attrs::NAS_PORT_TYPE, &port_type.to_be_bytes()),
            ],
            &[],
        )
    };
    assert!(matches!(
        authorize(&p, &req(b"site1", [10, 0, 0, 1], 19), NOW),
        Authorization::Proceed { .. }
    ));
    for bad in [
        req(b"site2", [10, 0, 0, 1], 19),
        req(b"site1", [10, 0, 0, 2], 19),
        req(b"site1", [10, 0, 0, 1], 15),
    ] {
        assert_eq!(deny(&p, &bad, NOW), DenyReason::CheckItemsFailed);
    }

    // Ordering operators compare the request's value with the row's.
    let port = |n: u32| request(&[(attrs::NAS_PORT, &n.to_be_bytes())], &[]);
    let cases = [
        (">", 5, 6, 5),
        (">=", 5, 5, 4),
        ("<", 5, 4, 5),
        ("<=", 5, 5, 6),
        ("!=", 5, 4, 5),
    ];
    for (op, value, pass, fail) in cases {
        let p = user(
            &[
                ("Cleartext-Password", ":=", "pw"),
                ("NAS-Port", op, &value.to_string()),
            ],
            &[],
            vec![],
        );
        assert!(p.problems().is_empty(), "{op}: {:?}", p.problems());
        assert!(
            matches!(
                authorize(&p, &port(pass), NOW),
                Authorization::Proceed { .. }
            ),
            "{op} {value} with {pass}"
        );
        assert_eq!(
            deny(&p, &port(fail), NOW),
            DenyReason::CheckItemsFailed,
            "{op} {fail}"
        );
    }
}

#[test]
fn absent_attribute_rules() {
    let with = |op: &str, value: &str| {
        user(
            &[
                ("Cleartext-Password", ":=", "pw"),
                ("NAS-Identifier", op, value),
            ],
            &[],
            vec![],
        )
    };
    let present = request(&[(attrs::NAS_IDENTIFIER, b"x")], &[]);
    let absent = plain();
    let ok = |p: &Profile, d: &[u8]| matches!(authorize(p, d, NOW), Authorization::Proceed { .. });
    // (op, value, passes when present "x", passes when absent)
    let table = [
        ("==", "x", true, false),
        ("!=", "y", true, true),
        ("!=", "x", false, true),
        ("=*", "", true, false),
        ("!*", "", false, true),
        ("=~", "^x$", true, false),
        ("!~", "^y", true, true),
        ("!~", "^x", false, true),
        ("=", "x", true, false),
    ];
    for (op, value, when_present, when_absent) in table {
        let p = with(op, value);
        assert!(p.problems().is_empty(), "{op}: {:?}", p.problems());
        assert_eq!(ok(&p, &present), when_present, "{op} {value} present");
        assert_eq!(ok(&p, &absent), when_absent, "{op} {value} absent");
    }
}

#[test]
fn vendor_attribute_comparison() {
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Mikrotik-Realm", "==", "hotel"),
        ],
        &[],
        vec![],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let hotel = request(&[], &[(MIKROTIK, 9, b"hotel")]);
    let other = request(&[], &[(MIKROTIK, 9, b"cafe"), (311, 9, b"hotel")]);
    assert!(matches!(
        authorize(&p, &hotel, NOW),
        Authorization::Proceed { .. }
    ));
    assert_eq!(deny(&p, &other, NOW), DenyReason::CheckItemsFailed);
}

#[test]
fn auth_type_accept_and_reject() {
    let p = user(
        &[("Auth-Type", ":=", "Accept")],
        &[("Class", ":=", "mac")],
        vec![],
    );
    let r = proceed(&p, &plain(), NOW);
    assert!(r.accept);
    assert_eq!(r.credential, None);
    assert_eq!(r.reply, [&class("mac")[..]]);

    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Auth-Type", ":=", "Reject"),
        ],
        &[],
        vec![],
    );
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::AuthTypeReject);
    // A group can disable every member.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[],
        vec![group("disabled", 1, &[("Auth-Type", ":=", "Reject")], &[])],
    );
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::AuthTypeReject);
    // No password and no Auth-Type Accept.
    let p = user(&[("Simultaneous-Use", ":=", "1")], &[], vec![]);
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::NoCredential);
}

#[test]
fn expiration() {
    let with = |date: &str, timeout: Option<&str>| {
        let reply: Vec<(&str, &str, &str)> = timeout
            .map(|t| vec![("Session-Timeout", ":=", t)])
            .unwrap_or_default();
        user(
            &[
                ("Cleartext-Password", ":=", "pw"),
                ("Expiration", ":=", date),
            ],
            &reply,
            vec![],
        )
    };
    // Past, and exactly now.
    for date in ["Dec 31 2026 23:59:59", "January 1 2027"] {
        assert_eq!(
            deny(&with(date, None), &plain(), NOW),
            DenyReason::Expired,
            "{date}"
        );
    }
    // Future: Session-Timeout capped by the time left, or set to it.
    let p = with("01 Jan 2027 01:00", Some("7200"));
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    assert_eq!(proceed(&p, &plain(), NOW).session_timeout, Some(3600));
    let p = with("2027-01-01T01:00:00Z", Some("600"));
    assert_eq!(proceed(&p, &plain(), NOW).session_timeout, Some(600));
    let p = with("2027-01-02 00:00:00", None);
    assert_eq!(proceed(&p, &plain(), NOW).session_timeout, Some(86_400));
    // Far future: capped at u32::MAX seconds.
    let p = with("9999999999999", None);
    assert_eq!(proceed(&p, &plain(), NOW).session_timeout, Some(u32::MAX));
    // Unreadable: reported and treated as expired.
    let p = with("next tuesday", None);
    assert_eq!(p.problems().len(), 1);
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::Expired);
    // Expiration set by a group applies too.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[],
        vec![group(
            "trial",
            1,
            &[("Expiration", ":=", "Jan 01 2026")],
            &[],
        )],
    );
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::Expired);
}

#[test]
fn regex_checks() {
    let with = |op: &str, re: &str| {
        user(
            &[
                ("Cleartext-Password", ":=", "pw"),
                ("Calling-Station-Id", op, re),
            ],
            &[],
            vec![],
        )
    };
    let ok = |p: &Profile, d: &[u8]| matches!(authorize(p, d, NOW), Authorization::Proceed { .. });
    let p = with("=~", "^AA:BB:");
    assert!(ok(&p, &mac("AA:BB:CC:DD:EE:FF")));
    assert!(!ok(&p, &mac("aa:bb:cc:dd:ee:ff")));
    let p = with("=~", "(?i)^aa:bb:");
    assert!(ok(&p, &mac("AA:BB:CC:DD:EE:FF")));
    let p = with("!~", "^AA:BB:");
    assert!(!ok(&p, &mac("AA:BB:CC:DD:EE:FF")));
    assert!(ok(&p, &mac("11:BB:CC:DD:EE:FF")));
    // Regex on an address renders it dotted.
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("NAS-IP-Address", "=~", r"^10\.0\."),
        ],
        &[],
        vec![],
    );
    assert!(ok(
        &p,
        &request(&[(attrs::NAS_IP_ADDRESS, &[10, 0, 3, 4])], &[])
    ));
    assert!(!ok(
        &p,
        &request(&[(attrs::NAS_IP_ADDRESS, &[10, 1, 3, 4])], &[])
    ));
    // Invalid regex: reported, and the check list never matches (fails closed).
    let p = with("=~", "(unclosed");
    assert_eq!(p.problems().len(), 1, "{:?}", p.problems());
    assert!(p.problems()[0].contains("Calling-Station-Id"));
    assert_eq!(deny(&p, &mac("(unclosed"), NOW), DenyReason::BrokenRow);
    // A pattern that would compile to far more than 64 KiB is refused, and fails closed.
    let p = with("=~", "a{20000}");
    assert_eq!(p.problems().len(), 1, "{:?}", p.problems());
    assert!(p.problems()[0].contains("size limit"), "{:?}", p.problems());
    assert_eq!(deny(&p, &mac("a"), NOW), DenyReason::BrokenRow);
}

#[test]
fn only_groups_with_password_in_group_check() {
    let p = user(
        &[],
        &[("Class", ":=", "ignored")],
        vec![group(
            "voucher",
            1,
            &[
                ("Cleartext-Password", ":=", "shared"),
                ("Simultaneous-Use", ":=", "1"),
            ],
            &[("Mikrotik-Rate-Limit", ":=", "512k/1M")],
        )],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let r = proceed(&p, &plain(), NOW);
    assert_eq!(r.credential, Some(&cleartext("shared")));
    // radreply without radcheck rows is ignored, as in FreeRADIUS.
    assert_eq!(r.reply, [&rate_limit("512k/1M")[..]]);
    assert_eq!(p.simultaneous_use(), Some(1));
}

#[test]
fn failed_user_check_with_matching_group_reports_check_failure() {
    // The user's MAC binding fails: their password is not merged; the group matches but
    // has no password, so the reason given is the failed check.
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Calling-Station-Id", "==", "AA:BB:CC:DD:EE:FF"),
        ],
        &[],
        vec![group("plan", 1, &[], &[("Class", ":=", "plan")])],
    );
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::CheckItemsFailed);
    // Nothing at all: no level.
    assert_eq!(
        deny(&Profile::default(), &plain(), NOW),
        DenyReason::CheckItemsFailed
    );
    let p = user(&[], &[("Class", ":=", "x")], vec![]);
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::CheckItemsFailed);
}

#[test]
fn server_side_controls_are_exposed() {
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Simultaneous-Use", ":=", " 3 "),
            ("Max-Daily-Session", ":=", "3600"),
            ("Expire-After", "=", "86400"),
        ],
        &[],
        vec![group("g", 1, &[("Max-Daily-Session", ":=", "7200")], &[])],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    assert_eq!(p.simultaneous_use(), Some(3));
    let limits = p.limits();
    assert_eq!(limits.max_daily_session, Some(7200));
    assert_eq!(limits.expire_after, Some(86400));
    assert_eq!(limits.max_all_session, None);
    // Typed limits are no longer offered as text.
    assert_eq!(p.control("max-daily-session"), None);
    assert_eq!(p.control("Cleartext-Password"), None);
}

#[test]
fn bad_rows_are_reported_and_skipped() {
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("No-Such-Attribute", ":=", "1"),
            ("Simultaneous-Use", ":=", "many"),
            ("Framed-IP-Address", ":=", "10.0.0.1"),
        ],
        &[
            ("Class", ":=", "kept"),
            ("No-Such-Reply", ":=", "x"),
            ("Session-Timeout", ":=", "forever"),
            ("Acct-Interim-Interval", ":=", "often"),
            ("Tunnel-Password", ":=", "tunnelsecret"),
            ("Class", "==", "cmp"),
            ("Class", "=>", "bad-op"),
            ("Simultaneous-Use", ":=", "1"),
            ("Fall-Through", ":=", "perhaps"),
            ("Reply-Message", ":=", "\"%{User-Name}\""),
        ],
        vec![],
    );
    assert_eq!(p.problems().len(), 12, "{:#?}", p.problems());
    assert!(
        p.problems()
            .iter()
            .any(|m| m.contains("Tunnel-Password") && m.contains("known limitation"))
    );
    assert!(p.problems().iter().all(|m| m.starts_with("rad")));
    let r = proceed(&p, &plain(), NOW);
    assert_eq!(r.credential, Some(&cleartext("pw")));
    assert_eq!(r.reply, [&class("kept")[..]]);
    assert_eq!(r.session_timeout, None);
    assert_eq!(p.simultaneous_use(), None);
}

#[test]
fn unusable_comparisons_fail_closed() {
    for (attribute, op, value) in [
        ("No-Such-Attribute", "==", "1"),
        ("Calling-Station-Id", "=>", "x"),
        ("NAS-IP-Address", "==", "not-an-ip"),
        ("NAS-Port", "<", "many"),
        ("Max-Daily-Session", ">", "5"),
        ("Tunnel-Type", "==", "PPTP"),
        ("Calling-Station-Id", "==", "\"%{User-Name}\""),
        ("Expiration", "=~", "2027"),
    ] {
        let p = user(
            &[("Cleartext-Password", ":=", "pw"), (attribute, op, value)],
            &[],
            vec![],
        );
        assert_eq!(p.problems().len(), 1, "{attribute}: {:?}", p.problems());
        assert_eq!(
            deny(&p, &plain(), NOW),
            DenyReason::BrokenRow,
            "{attribute} {op}"
        );
    }
}

#[test]
fn unknown_auth_type_and_broken_groups_fail_the_request() {
    // An Auth-Type we cannot run (a typo, EAP, "Deny") rejects, at user and group level.
    for value in ["Deny", "EAP", "Rejct"] {
        let p = user(
            &[
                ("Cleartext-Password", ":=", "pw"),
                ("Auth-Type", ":=", value),
            ],
            &[],
            vec![],
        );
        assert_eq!(deny(&p, &plain(), NOW), DenyReason::BrokenRow, "{value}");
        let p = user(
            &[("Cleartext-Password", ":=", "pw")],
            &[],
            vec![group("blocked", 1, &[("Auth-Type", ":=", value)], &[])],
        );
        assert_eq!(
            deny(&p, &plain(), NOW),
            DenyReason::BrokenRow,
            "group {value}"
        );
    }
    // A deny group whose comparison cannot be compiled is not skipped in favour of the
    // next, permissive group.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[],
        vec![
            group(
                "deny-night",
                1,
                &[
                    ("Calling-Station-Id", "=~", "(unclosed"),
                    ("Auth-Type", ":=", "Reject"),
                ],
                &[],
            ),
            group("everyone", 2, &[], &[("Class", ":=", "open")]),
        ],
    );
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::BrokenRow);
    // A broken group the walk never reaches (an earlier group matched without
    // Fall-Through) changes nothing.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[],
        vec![
            group("first", 1, &[], &[("Class", ":=", "first")]),
            group("unreached", 2, &[("NAS-Port", "<", "many")], &[]),
        ],
    );
    assert_eq!(proceed(&p, &plain(), NOW).reply, [&class("first")[..]]);
}

#[test]
fn crypt_hashes_too_costly_to_check_fail_closed() {
    let p = user(
        &[("Crypt-Password", ":=", "$6$rounds=999999999$salt$abc")],
        &[],
        vec![],
    );
    assert_eq!(p.problems().len(), 1, "{:?}", p.problems());
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::BrokenRow);
    let p = user(
        &[(
            "Crypt-Password",
            ":=",
            "$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
        )],
        &[],
        vec![],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    assert!(proceed(&p, &plain(), NOW).credential.is_some());
}

#[test]
fn secrets_never_leak() {
    let secret = "hunter2-secret";
    let p = user(
        &[
            ("NT-Password", ":=", secret),
            ("Cleartext-Password", "=~", secret),
            ("SSHA-Password", ":=", secret),
            ("Cleartext-Password", ":=", secret),
        ],
        &[
            ("Tunnel-Password", ":=", secret),
            ("Cleartext-Password", ":=", secret),
            ("MS-CHAP-Challenge", ":=", secret),
        ],
        vec![],
    );
    assert!(p.problems().len() >= 5, "{:?}", p.problems());
    for m in p.problems() {
        assert!(!m.contains("hunter2"), "{m}");
    }
    assert!(!format!("{p:?}").contains("hunter2"));
}

#[test]
fn never_panics_on_odd_rows() {
    let attributes = [
        "",
        " ",
        "Class",
        "Cleartext-Password",
        "NT-Password",
        "Expiration",
        "Auth-Type",
        "Fall-Through",
        "Session-Timeout",
        "NAS-Port",
        "Framed-IPv6-Prefix",
        "Tunnel-Type:1",
        "Mikrotik-Rate-Limit",
        "Vendor-Specific",
        "Simultaneous-Use",
        "Event-Timestamp",
        "ñ",
        "Message-Authenticator",
        "EAP-Message",
    ];
    let ops = [
        "", "=", ":=", "+=", "==", "!=", ">", ">=", "<", "<=", "=~", "!~", "=*", "!*", "-=", "~",
    ];
    let values = [
        "",
        " ",
        "\"",
        "''",
        "0",
        "-1",
        "4294967296",
        "99999999999999999999999",
        "10.0.0.1",
        "::1/200",
        "(",
        "\"%{x}\"",
        "`x`",
        "Yes",
        "\u{0}",
        "ñandú",
        "Jan 1 2027",
    ];
    let req = request(
        &[
            (attrs::NAS_PORT, &[0, 0, 0, 1]),
            (attrs::CLASS, b"x"),
            (attrs::EVENT_TIMESTAMP, &[1, 2]),
            (attrs::FRAMED_IPV6_PREFIX, &[0, 64, 0x20, 1]),
        ],
        &[(MIKROTIK, 8, b"\xff")],
    );
    for a in attributes {
        for o in ops {
            for v in values {
                let p = user(
                    &[(a, o, v)],
                    &[(a, o, v)],
                    vec![group("g", 0, &[(a, o, v)], &[(a, o, v)])],
                );
                let _ = authorize(&p, &req, NOW);
                let _ = authorize(&p, &req, i64::MIN);
                let _ = authorize(&p, &req, i64::MAX);
            }
        }
    }
}

#[test]
fn with_credential_constructor() {
    let rate = rate_limit("1M/2M");
    let p = Profile::with_credential(cleartext("pw"), &[&rate, &class("c")], Some(60));
    assert!(p.problems().is_empty());
    let r = proceed(&p, &plain(), NOW);
    assert_eq!(r.credential, Some(&cleartext("pw")));
    assert_eq!(r.reply, [&rate[..], &class("c")[..]]);
    assert_eq!(r.session_timeout, Some(60));
    assert_eq!(p.simultaneous_use(), None);
}

/// The merged limits and Simultaneous-Use of a Proceed, or a panic naming the deny reason.
fn limits_of<'p>(profile: &'p Profile, datagram: &[u8]) -> (Limits<'p>, Option<u32>) {
    match authorize(profile, datagram, NOW) {
        Authorization::Proceed {
            limits,
            simultaneous_use,
            ..
        } => (limits, simultaneous_use),
        Authorization::Deny(r) => panic!("denied: {r:?}; problems {:?}", profile.problems()),
    }
}

#[test]
fn no_limits_means_empty_limits() {
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[("Class", ":=", "x")],
        vec![group("g", 1, &[("Simultaneous-Use", ":=", "1")], &[])],
    );
    let (limits, simultaneous_use) = limits_of(&p, &plain());
    assert!(limits.is_empty());
    assert_eq!(limits, Limits::default());
    assert_eq!(simultaneous_use, Some(1));
    assert!(p.limits().is_empty());
    let p = Profile::with_credential(cleartext("pw"), &[], Some(60));
    assert!(limits_of(&p, &plain()).0.is_empty());
}

#[test]
fn limits_compile_to_typed_values() {
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Max-All-Session", ":=", "360000"),
            ("max-daily-session", ":=", " 3600 "),
            ("Max-Monthly-Session", "==", "72000"),
            ("Expire-After", "=", "2592000"),
            ("Max-Total-Octets", ":=", "10737418240"),
            ("Max-Daily-Octets", "+=", "\"1073741824\""),
            ("Max-Monthly-Octets", ":=", "18446744073709551615"),
            ("Login-Time", ":=", "Wk0800-1700,Sa"),
        ],
        &[],
        vec![],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let (limits, _) = limits_of(&p, &plain());
    assert_eq!(limits.max_all_session, Some(360_000));
    assert_eq!(limits.max_daily_session, Some(3600));
    assert_eq!(limits.max_monthly_session, Some(72_000));
    assert_eq!(limits.expire_after, Some(2_592_000));
    assert_eq!(limits.max_total_octets, Some(10 << 30));
    assert_eq!(limits.max_daily_octets, Some(1 << 30));
    assert_eq!(limits.max_monthly_octets, Some(u64::MAX));
    assert_eq!(
        limits.login_time.map(limits::LoginTime::as_str),
        Some("Wk0800-1700,Sa")
    );
    assert!(limits.needs_usage());
    assert_eq!(p.limits(), limits);
}

#[test]
fn limits_merge_per_request_like_single_valued_items() {
    let nas_port_1 = request(&[(attrs::NAS_PORT, &[0, 0, 0, 1])], &[]);
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Max-Daily-Session", ":=", "3600"),
            ("Max-Daily-Octets", "=", "1000"),
            ("Simultaneous-Use", ":=", "1"),
        ],
        &[("Fall-Through", ":=", "Yes")],
        vec![
            group(
                "port-1",
                1,
                &[
                    ("NAS-Port", "==", "1"),
                    ("Max-Daily-Session", ":=", "7200"),
                    ("Max-Daily-Octets", "=", "2000"),
                    ("Login-Time", "=", "Wk"),
                    ("Simultaneous-Use", ":=", "5"),
                ],
                &[("Fall-Through", ":=", "Yes")],
            ),
            group(
                "everyone",
                2,
                &[("Login-Time", "=", "Any"), ("Max-All-Session", "+=", "9")],
                &[],
            ),
        ],
    );
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    // Port 1: the group's `:=` replaces, its `=` does not; the first Login-Time stays.
    let (limits, simultaneous_use) = limits_of(&p, &nas_port_1);
    assert_eq!(limits.max_daily_session, Some(7200));
    assert_eq!(limits.max_daily_octets, Some(1000));
    assert_eq!(limits.login_time.map(limits::LoginTime::as_str), Some("Wk"));
    assert_eq!(limits.max_all_session, Some(9));
    assert_eq!(simultaneous_use, Some(5));
    // Elsewhere the port-1 group does not match.
    let (limits, simultaneous_use) = limits_of(&p, &plain());
    assert_eq!(limits.max_daily_session, Some(3600));
    assert_eq!(
        limits.login_time.map(limits::LoginTime::as_str),
        Some("Any")
    );
    assert_eq!(simultaneous_use, Some(1));
}

#[test]
fn unreadable_limits_fail_closed() {
    let bad: &[(&str, &str)] = &[
        ("Max-All-Session", "lots"),
        ("Max-Daily-Session", "-1"),
        ("Max-Monthly-Session", "1.5"),
        ("Expire-After", ""),
        ("Max-Total-Octets", "18446744073709551616"),
        ("Max-Daily-Octets", "1G"),
        ("Max-Monthly-Octets", "0x10"),
        ("Login-Time", "Wk0800-0800"),
        ("Login-Time", "Weekdays"),
        ("Login-Time", ""),
        ("Login-Time", "Wk0800-1700,"),
    ];
    for (attribute, value) in bad {
        let p = user(
            &[("Cleartext-Password", ":=", "pw"), (attribute, ":=", value)],
            &[],
            vec![],
        );
        assert_eq!(p.problems().len(), 1, "{attribute}: {:?}", p.problems());
        assert_eq!(
            deny(&p, &plain(), NOW),
            DenyReason::BrokenRow,
            "{attribute} := {value:?}"
        );
        // In a group the walk reaches, too.
        let p = user(
            &[("Cleartext-Password", ":=", "pw")],
            &[],
            vec![group("g", 1, &[(attribute, "=", value)], &[])],
        );
        assert_eq!(
            deny(&p, &plain(), NOW),
            DenyReason::BrokenRow,
            "group {attribute} = {value:?}"
        );
    }
    // Comparison operators on a limit are not understood either.
    let p = user(
        &[
            ("Cleartext-Password", ":=", "pw"),
            ("Login-Time", "=~", "Wk"),
        ],
        &[],
        vec![],
    );
    assert_eq!(deny(&p, &plain(), NOW), DenyReason::BrokenRow);
    // A limit in a reply list is never sent and changes nothing.
    let p = user(
        &[("Cleartext-Password", ":=", "pw")],
        &[("Max-Daily-Session", ":=", "lots")],
        vec![],
    );
    assert_eq!(p.problems().len(), 1);
    assert!(limits_of(&p, &plain()).0.is_empty());
}
