//! The store's rules on the in-process store (the Redis store runs the same cases in
//! `tests/it/sessions.rs` against a real Redis).

use radius_proto::protocol::AcctStatus;

use super::*;
use crate::model::AcctRecord;

const DAY: (u32, u32) = (20261205, 202612);
const NEXT_DAY: (u32, u32) = (20261206, 202612);
const NEXT_MONTH: (u32, u32) = (20270101, 202701);

fn rec(status: AcctStatus, uid: &str, t: i64, secs: i64, octets: i64) -> AcctRecord {
    AcctRecord {
        tenant: None,
        status,
        event_time: t,
        session_id: format!("sid-{uid}"),
        unique_id: uid.into(),
        username: "alice".into(),
        realm: None,
        nas_ip: "10.0.0.1".parse().unwrap(),
        client: "10.0.0.0/24".parse().unwrap(),
        nas_identifier: None,
        nas_port_id: Some("bridge".into()),
        nas_port: Some(uid.len() as u32 * 7),
        nas_port_type: None,
        session_time: Some(secs),
        input_octets: Some(octets / 2),
        output_octets: Some(octets - octets / 2),
        authentic: None,
        called_station_id: None,
        calling_station_id: Some(format!("AA:BB:CC:00:00:{:02X}", uid.len())),
        terminate_cause: None,
        service_type: None,
        framed_protocol: None,
        framed_ip: Some("10.5.50.2".parse().unwrap()),
        framed_ipv6: None,
        framed_ipv6_prefix: None,
        delegated_ipv6_prefix: None,
        class: None,
        interim_interval: None,
    }
}

async fn state(s: &MemorySessions) -> UserState {
    s.user_state("alice").await.unwrap()
}

#[tokio::test]
async fn start_interim_stop_counts_differences_once() {
    let s = MemorySessions::new();
    s.apply(&rec(AcctStatus::Start, "u1", 1000, 0, 0), DAY, 2000)
        .await
        .unwrap();
    assert_eq!(state(&s).await.open, 1);
    let a = s
        .apply(
            &rec(AcctStatus::InterimUpdate, "u1", 1300, 300, 5_000),
            DAY,
            2300,
        )
        .await
        .unwrap();
    assert_eq!((a.usage.total_seconds, a.usage.total_octets), (300, 5_000));
    // The same Interim again (retransmission, journal replay): nothing more.
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 1300, 300, 5_000),
        DAY,
        2300,
    )
    .await
    .unwrap();
    // An older Interim arriving late: nothing, counters do not move back.
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 1200, 200, 3_000),
        DAY,
        2200,
    )
    .await
    .unwrap();
    let stop = rec(AcctStatus::Stop, "u1", 1600, 600, 9_000);
    let a = s.apply(&stop, DAY, 0).await.unwrap();
    assert_eq!((a.usage.total_seconds, a.usage.total_octets), (600, 9_000));
    assert_eq!((a.usage.day_seconds, a.usage.month_octets), (600, 9_000));
    assert_eq!(a.usage.first_login, Some(1000));
    // A repeated Stop is not counted twice, and does not reopen anything.
    s.apply(&stop, DAY, 0).await.unwrap();
    let st = state(&s).await;
    assert_eq!(st.open, 0);
    assert_eq!(st.usage.total_seconds, 600);
    // A late Interim for the closed session does not reopen it.
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 1500, 500, 8_000),
        DAY,
        2500,
    )
    .await
    .unwrap();
    assert_eq!(state(&s).await.open, 0);
}

#[tokio::test]
async fn counters_above_4_gib_are_exact() {
    let s = MemorySessions::new();
    let big = 6 * (1i64 << 30) + 7;
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 100, 60, big),
        DAY,
        1000,
    )
    .await
    .unwrap();
    assert_eq!(state(&s).await.usage.total_octets, big as u64);
}

#[tokio::test]
async fn day_and_month_counters_restart_with_the_period() {
    let s = MemorySessions::new();
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 100, 100, 1_000),
        DAY,
        1000,
    )
    .await
    .unwrap();
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 200, 150, 1_500),
        NEXT_DAY,
        1000,
    )
    .await
    .unwrap();
    let u = state(&s).await.usage;
    assert_eq!((u.day, u.day_seconds, u.day_octets), (NEXT_DAY.0, 50, 500));
    assert_eq!((u.month_seconds, u.total_seconds), (150, 150));
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u1", 300, 200, 2_000),
        NEXT_MONTH,
        1000,
    )
    .await
    .unwrap();
    let u = state(&s).await.usage;
    assert_eq!(
        (u.month, u.month_seconds, u.day_seconds),
        (NEXT_MONTH.1, 50, 50)
    );
    // A late record for an earlier day only adds to the totals.
    s.apply(
        &rec(AcctStatus::InterimUpdate, "u2", 300, 10, 10),
        DAY,
        1000,
    )
    .await
    .unwrap();
    let u = state(&s).await.usage;
    assert_eq!(
        (u.total_seconds, u.day_seconds, u.month_seconds),
        (210, 50, 50)
    );
}

#[tokio::test]
async fn a_start_on_a_taken_port_or_mac_closes_the_old_session() {
    let s = MemorySessions::new();
    s.apply(&rec(AcctStatus::Start, "old", 100, 0, 0), DAY, 1000)
        .await
        .unwrap();
    // Same MAC (same uid length → same MAC in `rec`), another session id.
    let a = s
        .apply(&rec(AcctStatus::Start, "new", 200, 0, 0), DAY, 1000)
        .await
        .unwrap();
    assert_eq!(a.replaced.len(), 1);
    assert_eq!(a.replaced[0].unique_id, "old");
    let open = s.list(&Filter::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].unique_id, "new");
    // A different client entry on the same NAS-IP never closes it.
    let mut other = rec(AcctStatus::Start, "zzz", 300, 0, 0);
    other.client = "10.9.0.0/24".parse().unwrap();
    let a = s.apply(&other, DAY, 1000).await.unwrap();
    assert!(a.replaced.is_empty());
    assert_eq!(state(&s).await.open, 2);
}

#[tokio::test]
async fn accounting_on_closes_only_that_clients_sessions_on_that_nas() {
    let s = MemorySessions::new();
    s.apply(&rec(AcctStatus::Start, "a", 100, 0, 0), DAY, 1000)
        .await
        .unwrap();
    s.apply(&rec(AcctStatus::Start, "bb", 100, 0, 0), DAY, 1000)
        .await
        .unwrap();
    let mut foreign = rec(AcctStatus::Start, "ccc", 100, 0, 0);
    foreign.client = "10.9.0.0/24".parse().unwrap();
    s.apply(&foreign, DAY, 1000).await.unwrap();
    let on = rec(AcctStatus::AccountingOn, "", 500, 0, 0);
    let a = s.apply(&on, DAY, 0).await.unwrap();
    assert_eq!(a.nas_reset, 2);
    let left = s.list(&Filter::default()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].unique_id, "ccc");
    assert_eq!(
        s.online_per_nas().await.unwrap(),
        vec![("10.0.0.1".parse().unwrap(), 1)]
    );
}

#[tokio::test]
async fn stale_sessions_fall_due_and_close_once() {
    let s = MemorySessions::new();
    s.apply(&rec(AcctStatus::Start, "a", 100, 0, 0), DAY, 1000)
        .await
        .unwrap();
    s.apply(&rec(AcctStatus::Start, "bb", 100, 0, 0), DAY, 5000)
        .await
        .unwrap();
    assert!(s.due(999, 10).await.unwrap().is_empty());
    assert_eq!(s.due(1000, 10).await.unwrap(), vec!["a".to_owned()]);
    // An Interim pushes the deadline.
    s.apply(&rec(AcctStatus::InterimUpdate, "a", 900, 800, 0), DAY, 3000)
        .await
        .unwrap();
    assert!(s.due(1000, 10).await.unwrap().is_empty());
    assert!(s.close("a", 3001).await.unwrap().is_some());
    assert!(
        s.close("a", 3001).await.unwrap().is_none(),
        "closed once only"
    );
    assert_eq!(state(&s).await.open, 1);
}

#[tokio::test]
async fn load_replaces_everything() {
    let s = MemorySessions::new();
    assert!(!s.is_loaded().await.unwrap());
    s.apply(&rec(AcctStatus::Start, "gone", 100, 0, 0), DAY, 1000)
        .await
        .unwrap();
    let kept = session_of(&rec(AcctStatus::InterimUpdate, "kept", 500, 400, 10));
    let usage = Usage {
        total_seconds: 9,
        ..Usage::default()
    };
    let rule = StaleRule {
        default_interim: 300,
        grace: 60,
    };
    s.load(vec![kept.clone()], vec![("alice".into(), usage)], rule)
        .await
        .unwrap();
    assert!(s.is_loaded().await.unwrap());
    assert_eq!(
        s.list(&Filter::default()).await.unwrap(),
        vec![kept.clone()]
    );
    assert_eq!(state(&s).await.usage.total_seconds, 9);
    assert_eq!(s.due(500 + 660, 10).await.unwrap(), vec!["kept".to_owned()]);
}

#[test]
fn stale_deadline_uses_the_sessions_interval_or_the_default() {
    let rule = StaleRule {
        default_interim: 300,
        grace: 60,
    };
    let mut s = session_of(&rec(AcctStatus::Start, "a", 1000, 0, 0));
    assert_eq!(rule.deadline(&s), 1000 + 600 + 60);
    s.interim = Some(60);
    assert_eq!(rule.deadline(&s), 1000 + 120 + 60);
    // No interval asked for and none known: the NAS may never send one; never stale.
    let none = StaleRule {
        default_interim: 0,
        grace: 60,
    };
    s.interim = None;
    assert_eq!(none.deadline(&s), i64::MAX);
}
