//! NAS-table reloads under a storm: dozens of `nas` changes (each a NOTIFY) interleaved with
//! SIGHUP-style reloads of the config file. Reloads run one at a time, each reading the
//! newest rows, so the table always converges on the last change: an older snapshot that
//! finishes loading late can never be installed over a newer one. (A race cannot be made
//! to happen on demand; with a reload per notification running concurrently, this test
//! fails whenever two loads finish out of order.)

use std::time::Duration;

use hotspot_radius::app;
use hotspot_radius::config::Config;
use radius_proto::protocol::Code;

use hotspot_radius::metrics::reason;

use crate::harness;
use crate::udp_access::{Method, Nas, code_of};

const CHANGES: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_nas_changes_and_reloads_converges_on_the_last_change() {
    let (url, pool) = harness::fresh_db().await;
    sqlx::raw_sql(
        "INSERT INTO nas (nasname, shortname, type, secret) VALUES ('127.0.0.1', 'r', 'other', 's0');
         INSERT INTO radcheck (username, attribute, op, value)
           VALUES ('alice', 'Cleartext-Password', ':=', 'wonderland');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dir = harness::fresh_dir("nas-reload");
    let file = dir.join("server.toml");
    // The file lists another router, so each SIGHUP-style reload rebuilds the table too.
    std::fs::write(
        &file,
        "[[nas]]\naddress = \"127.0.0.9\"\nsecret = \"file-secret\"\n",
    )
    .unwrap();
    let mut c = Config::default();
    c.server.auth_addr = "127.0.0.1:0".parse().unwrap();
    c.server.acct_addr = "127.0.0.1:0".parse().unwrap();
    c.admin.enabled = false;
    c.database.url = Some(url);
    c.database.pool_size = 4;
    c.accounting.journal_dir = dir.join("journal");
    c.nas = Config::load(&file).unwrap().nas;
    let server = std::sync::Arc::new(app::start(c, Some(file)).await.expect("server starts"));
    let first = Nas::new(server.auth_addr, "s0").await;
    let r = first
        .exchange(&first.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept);

    let reloads = {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(async move {
            for _ in 0..CHANGES {
                server.reload_config();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    for i in 1..=CHANGES {
        sqlx::query("UPDATE nas SET secret = $1 WHERE nasname = '127.0.0.1'")
            .bind(format!("s{i}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    reloads.await.unwrap();

    // The last secret takes effect (bounded wait for the last NOTIFY's reload)…
    let last = Nas::new(server.auth_addr, &format!("s{CHANGES}")).await;
    let mut accepted = false;
    for _ in 0..50 {
        let req = last.access_request("alice", "wonderland", Method::Pap, true);
        if let Some(r) = last.exchange_within(&req, Duration::from_millis(200)).await {
            assert_eq!(code_of(&r), Code::AccessAccept);
            accepted = true;
            break;
        }
    }
    assert!(accepted, "the last change is in force");
    // …and stays: no late reload of an older snapshot replaces it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = last
        .exchange(&last.access_request("alice", "wonderland", Method::Pap, true))
        .await;
    assert_eq!(code_of(&r), Code::AccessAccept, "still the last change");
    let previous = Nas::new(server.auth_addr, &format!("s{}", CHANGES - 1)).await;
    previous
        .expect_dropped(
            &previous.access_request("alice", "wonderland", Method::Pap, true),
            reason::BAD_MESSAGE_AUTHENTICATOR,
        )
        .await;
    match std::sync::Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("server still shared"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
