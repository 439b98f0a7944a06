//! The Redis session store against a real Redis: every rule of `sessions` (see its module
//! docs) exercised by one scenario run on both stores, which must agree step by step; and
//! two store handles (two servers) closing the same stale session only once.

use std::net::IpAddr;

use hotspot_radius::model::{AcctRecord, Usage};
use hotspot_radius::sessions::{
    Applied, Filter, MemorySessions, RedisSessions, SessionStore, StaleRule,
};
use radius_proto::protocol::AcctStatus;

use crate::harness::Redis;

const DAY: (u32, u32) = (20261205, 202612);
const NEXT_DAY: (u32, u32) = (20261206, 202612);

fn rec(status: AcctStatus, uid: &str, user: &str, t: i64, secs: i64, octets: i64) -> AcctRecord {
    AcctRecord {
        tenant: None,
        status,
        event_time: t,
        session_id: format!("sid-{uid}"),
        unique_id: uid.into(),
        username: user.into(),
        realm: None,
        nas_ip: "10.0.0.1".parse().unwrap(),
        client: "10.0.0.0/24".parse().unwrap(),
        nas_identifier: None,
        nas_port_id: Some("bridge".into()),
        nas_port: Some(uid.len() as u32),
        nas_port_type: None,
        session_time: Some(secs),
        input_octets: Some(octets / 3),
        output_octets: Some(octets - octets / 3),
        authentic: None,
        called_station_id: None,
        calling_station_id: Some(format!("aa:bb:cc:00:00:{:02x}", uid.len())),
        terminate_cause: None,
        service_type: None,
        framed_protocol: None,
        framed_ip: Some("10.5.50.9".parse().unwrap()),
        framed_ipv6: None,
        framed_ipv6_prefix: None,
        delegated_ipv6_prefix: None,
        class: None,
        interim_interval: Some(60),
    }
}

/// What a scenario observed after each step, for comparing two stores.
#[derive(Debug, PartialEq)]
struct Step {
    applied: Applied,
    open_alice: u32,
    usage_alice: Usage,
    listed: Vec<String>,
    per_nas: Vec<(IpAddr, u64)>,
}

async fn scenario<S: SessionStore>(s: &S) -> Vec<Step> {
    let five_gib = 5 * (1i64 << 30);
    let mut foreign = rec(AcctStatus::Start, "fff", "carol", 100, 0, 0);
    foreign.client = "10.9.0.0/24".parse().unwrap();
    let steps: Vec<(AcctRecord, (u32, u32), i64)> = vec![
        (rec(AcctStatus::Start, "a1", "alice", 100, 0, 0), DAY, 1000),
        (
            rec(AcctStatus::InterimUpdate, "a1", "alice", 160, 60, 1_000),
            DAY,
            1100,
        ),
        // repeated, then older: nothing more
        (
            rec(AcctStatus::InterimUpdate, "a1", "alice", 160, 60, 1_000),
            DAY,
            1100,
        ),
        (
            rec(AcctStatus::InterimUpdate, "a1", "alice", 130, 30, 500),
            DAY,
            1050,
        ),
        // next local day: day counters restart
        (
            rec(AcctStatus::InterimUpdate, "a1", "alice", 220, 120, five_gib),
            NEXT_DAY,
            1200,
        ),
        (rec(AcctStatus::Start, "bob", "bob", 100, 0, 0), DAY, 1000),
        (foreign, DAY, 1000),
        // same port and MAC as "bob" (uid length 3): a lost Stop
        (rec(AcctStatus::Start, "b22", "bob", 300, 0, 0), DAY, 1300),
        (
            rec(AcctStatus::Stop, "a1", "alice", 400, 300, five_gib + 10),
            NEXT_DAY,
            0,
        ),
        // repeated Stop, then a late Interim of the closed session
        (
            rec(AcctStatus::Stop, "a1", "alice", 400, 300, five_gib + 10),
            NEXT_DAY,
            0,
        ),
        (
            rec(AcctStatus::InterimUpdate, "a1", "alice", 350, 250, 2_000),
            NEXT_DAY,
            1400,
        ),
        (
            rec(AcctStatus::Start, "a2", "alice", 500, 0, 0),
            NEXT_DAY,
            1500,
        ),
        (
            rec(AcctStatus::AccountingOn, "", "", 600, 0, 0),
            NEXT_DAY,
            0,
        ),
    ];
    let mut out = Vec::new();
    for (record, periods, deadline) in steps {
        let applied = s.apply(&record, periods, deadline).await.unwrap();
        let st = s.user_state("alice").await.unwrap();
        let listed = s
            .list(&Filter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.unique_id)
            .collect();
        out.push(Step {
            applied,
            open_alice: st.open,
            usage_alice: st.usage,
            listed,
            per_nas: s.online_per_nas().await.unwrap(),
        });
    }
    out
}

#[tokio::test]
async fn redis_store_follows_the_same_rules_as_the_memory_store() {
    let redis = Redis::start();
    let shared = RedisSessions::connect_lazy(&redis.url(), std::time::Duration::from_secs(5))
        .expect("redis store");
    let memory = MemorySessions::new();
    let expected = scenario(&memory).await;
    let got = scenario(&shared).await;
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(e, g, "step {i} differs between the memory and Redis stores");
    }
    // Spot checks of the rules themselves (the memory store's unit tests cover the rest).
    let five_gib = 5u64 << 30;
    let last = got.last().unwrap();
    assert_eq!(last.usage_alice.total_seconds, 300);
    assert_eq!(last.usage_alice.total_octets, five_gib + 10);
    assert_eq!(last.usage_alice.first_login, Some(100));
    assert_eq!(
        got[7].applied.replaced.len(),
        1,
        "the lost-Stop session was closed"
    );
    assert_eq!(
        got[12].applied.nas_reset, 2,
        "Accounting-On closed b22 and a2"
    );
    assert_eq!(
        last.listed,
        vec!["fff".to_owned()],
        "another client's session stays"
    );
}

#[tokio::test]
async fn two_instances_close_a_stale_session_once_and_rebuild_after_a_flush() {
    let redis = Redis::start();
    let one = RedisSessions::connect_lazy(&redis.url(), std::time::Duration::from_secs(5)).unwrap();
    let two = RedisSessions::connect_lazy(&redis.url(), std::time::Duration::from_secs(5)).unwrap();
    assert!(
        !one.is_loaded().await.unwrap(),
        "an empty Redis asks for a rebuild"
    );
    one.apply(&rec(AcctStatus::Start, "s1", "alice", 100, 0, 0), DAY, 500)
        .await
        .unwrap();
    assert_eq!(two.user_state("alice").await.unwrap().open, 1, "shared");
    assert_eq!(two.due(500, 10).await.unwrap(), vec!["s1".to_owned()]);
    let (a, b) = tokio::join!(one.close("s1", 600), two.close("s1", 600));
    let closed = [a.unwrap(), b.unwrap()];
    assert_eq!(
        closed.iter().filter(|c| c.is_some()).count(),
        1,
        "closed by one only"
    );
    // A rebuild replaces whatever is there and marks the store loaded.
    let kept = hotspot_radius::sessions::session_of(&rec(
        AcctStatus::InterimUpdate,
        "k1",
        "dave",
        900,
        60,
        10,
    ));
    let usage = Usage {
        total_seconds: 77,
        ..Usage::default()
    };
    let rule = StaleRule {
        default_interim: 300,
        grace: 60,
    };
    two.load(vec![kept.clone()], vec![("dave".into(), usage)], rule)
        .await
        .unwrap();
    assert!(one.is_loaded().await.unwrap());
    assert_eq!(one.list(&Filter::default()).await.unwrap(), vec![kept]);
    assert_eq!(
        one.user_state("dave").await.unwrap().usage.total_seconds,
        77
    );
    assert_eq!(one.user_state("alice").await.unwrap(), Default::default());
}
