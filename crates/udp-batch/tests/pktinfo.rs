//! `send_many_from`: datagrams leave from the loopback source given with each, and replies
//! to those sources reach the wildcard-bound socket.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use udp_batch::{RawAddr, send_many_from};

#[test]
fn send_many_from_sends_from_each_given_loopback_source_and_replies_come_back() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let client = UdpSocket::bind("0.0.0.0:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let to = RawAddr::new(server.local_addr().unwrap());
    let sources = [
        Some(Ipv4Addr::new(127, 1, 0, 1)),
        Some(Ipv4Addr::new(127, 1, 19, 136)),
        None,
    ];
    let pkts: Vec<(&[u8], &RawAddr, Option<Ipv4Addr>)> = sources
        .iter()
        .zip([&b"a"[..], b"b", b"c"])
        .map(|(s, d)| (d, &to, *s))
        .collect();
    assert_eq!(send_many_from(client.as_raw_fd(), &pkts).unwrap(), 3);
    let mut buf = [0u8; 16];
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!(from.port(), client.local_addr().unwrap().port());
        seen.push((buf[..n].to_vec(), from.ip()));
        // The reply goes back to the source the datagram came from.
        server.send_to(&buf[..n], from).unwrap();
    }
    seen.sort();
    assert_eq!(
        seen[0],
        (
            b"a".to_vec(),
            "127.1.0.1".parse::<std::net::IpAddr>().unwrap()
        )
    );
    assert_eq!(
        seen[1],
        (
            b"b".to_vec(),
            "127.1.19.136".parse::<std::net::IpAddr>().unwrap()
        )
    );
    assert_eq!(seen[2].0, b"c".to_vec());
    for _ in 0..3 {
        let (_, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, server.local_addr().unwrap());
    }
}
