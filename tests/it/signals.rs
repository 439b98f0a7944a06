//! The server process and real signals (not a function call standing in for them):
//! SIGHUP re-reads the config file's `[[nas]]` list; SIGTERM lets the requests in flight
//! finish (a delayed Access-Reject is still sent), writes their post-auth rows, and exits 0.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use radius_proto::protocol::Code;

use crate::harness::{self, KillOnDrop};
use crate::udp_access::{Method, Nas, code_of};

fn write_config(file: &Path, auth_port: u16, database_url: &str, journal: &Path, secret: &str) {
    std::fs::write(
        file,
        format!(
            "[server]\nauth_addr = \"127.0.0.1:{auth_port}\"\nacct_addr = \"127.0.0.1:0\"\n\
             reject_delay_ms = 2000\n\
             [admin]\nenabled = false\n\
             [database]\nurl = \"{database_url}\"\npool_size = 4\n\
             [accounting]\njournal_dir = \"{}\"\n\
             [postauth]\nlog = \"all\"\n\
             [[nas]]\naddress = \"127.0.0.1\"\nsecret = \"{secret}\"\n",
            journal.display()
        ),
    )
    .unwrap();
}

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) with a pid we spawned and still own (not yet waited for).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Polls `nas` with Access-Requests for alice until one is accepted (bounded).
async fn until_accepted(nas: &Nas, what: &str, log: &Path) {
    for _ in 0..75 {
        let req = nas.access_request("alice", "wonderland", Method::Pap, true);
        if let Some(r) = nas.exchange_within(&req, Duration::from_millis(200)).await {
            assert_eq!(code_of(&r), Code::AccessAccept, "{what}");
            return;
        }
    }
    panic!(
        "{what}: no Access-Accept; server log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_nas_list_and_sigterm_drains_in_flight_requests() {
    let (url, pool) = harness::fresh_db().await;
    sqlx::query(
        "INSERT INTO radcheck (username, attribute, op, value) \
         VALUES ('alice', 'Cleartext-Password', ':=', 'wonderland')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dir = harness::fresh_dir("signals");
    let file = dir.join("server.toml");
    let journal = dir.join("journal");
    let log = dir.join("server.log");
    let auth_port = harness::free_udp_port();
    let auth = SocketAddr::from(([127, 0, 0, 1], auth_port));
    write_config(&file, auth_port, &url, &journal, "first-secret");
    let child = Command::new(env!("CARGO_BIN_EXE_hotspot-radius"))
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start hotspot-radius");
    let mut server = KillOnDrop(child);
    let first = Nas::new(auth, "first-secret").await;
    until_accepted(&first, "the router in the config file", &log).await;

    // SIGHUP: the file now gives the router another secret.
    write_config(&file, auth_port, &url, &journal, "second-secret");
    signal(&server.0, libc::SIGHUP);
    let second = Nas::new(auth, "second-secret").await;
    until_accepted(&second, "the new secret after SIGHUP", &log).await;

    // SIGTERM while an Access-Reject waits out its 2 s reject delay.
    let in_flight = tokio::spawn(async move {
        let req = second.access_request("alice", "wrong", Method::Pap, true);
        second.exchange_within(&req, Duration::from_secs(10)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&server.0, libc::SIGTERM);
    let reply = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(code_of(&reply), Code::AccessReject);
    let status = tokio::task::spawn_blocking(move || {
        let status = server.0.wait();
        (status, server)
    })
    .await
    .unwrap()
    .0
    .unwrap();
    assert!(
        status.success(),
        "exit {status:?}; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Its post-auth row was written before the process ended.
    let rejects: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM radpostauth WHERE username = 'alice' AND reply = 'Access-Reject'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rejects, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
