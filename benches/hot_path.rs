//! The per-packet path of an Access-Request answered from the profile cache, as the UDP
//! receive threads run it: decode → `handler::dispatch` (polled once with a no-op waker: a
//! cached user must complete synchronously, asserted) → sign the reply → the reply copied
//! into the `Arc<[u8]>` the send path takes, and the request metrics (what
//! `server::respond` does; it is crate-private, so the few lines are repeated here).
//!
//! The pieces are the server's own: the moka L1 of [`Profiles`] (primed without a
//! database), the real post-auth queue ([`PostAuthWriter::submit`] into its bounded
//! channel, drained by a thread that drops the records where the server's batch task would
//! write them), the Prometheus recorder with the receive threads' per-thread metric handles,
//! and a NAS entry (policy `auto`) with a secret; requests carry a Message-Authenticator
//! (RouterOS 7 sends one).
//! No session rules (`[sessions]` off), no tenant.
//!
//! A counting global allocator counts allocations made on the bench thread (the packet
//! path; the drain thread's frees and the runtime's threads are not counted), printed per
//! request for each variant before criterion measures time. The Access-Reject variant is
//! timed without its reject delay (the server sends it later from a timer).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hotspot_radius::accounting::{AcctError, AcctSink, PostAuthWriter};
use hotspot_radius::clients::{Client, ClientTable, Clients};
use hotspot_radius::config::{MessageAuthenticatorPolicy, NasConfig, PostAuthLog};
use hotspot_radius::handler::{self, Context, Outcome, Port};
use hotspot_radius::metrics as m;
use hotspot_radius::model::{AcctRecord, PostAuthRecord, RadRow, UserRows};
use hotspot_radius::policy::Profile;
use hotspot_radius::profiles::{ProfileOptions, Profiles};
use hotspot_radius::store::{PgStore, PoolSettings};
use radius_proto::auth::{chap, mschapv2};
use radius_proto::dictionary::Dictionary;
use radius_proto::protocol::attrs::{self, microsoft as ms, mikrotik};
use radius_proto::protocol::{Code, Packet, PacketBuilder, ReplyVector, Signer};

// ---------------------------------------------------------------------------------------
// Counting allocator (this thread only)

struct Counting;

thread_local! {
    /// (allocations, bytes) made by this thread while counting is on.
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    static ON: Cell<bool> = const { Cell::new(false) };
}

fn note(bytes: usize) {
    // `try_with`: allocations during thread teardown are not counted.
    let _ = ON.try_with(|on| {
        if on.get() {
            let _ = COUNTS.try_with(|c| {
                let (n, b) = c.get();
                c.set((n + 1, b + bytes as u64));
            });
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the counting touches only
// const-initialised thread-locals (no allocation, no re-entry).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations and bytes per call of `f`, over `n` calls on this thread.
fn allocations_per_call(n: u64, mut f: impl FnMut()) -> (f64, f64) {
    COUNTS.with(|c| c.set((0, 0)));
    ON.with(|on| on.set(true));
    for _ in 0..n {
        f();
    }
    ON.with(|on| on.set(false));
    let (count, bytes) = COUNTS.with(Cell::get);
    (count as f64 / n as f64, bytes as f64 / n as f64)
}

// ---------------------------------------------------------------------------------------
// The server's pieces

const SECRET: &str = "bench-secret-123";
const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

/// The post-auth side of the server's accounting writer: the real queue.
struct PostAuthOnly(PostAuthWriter);

impl AcctSink for PostAuthOnly {
    async fn write_accounting(&self, _record: AcctRecord) -> Result<(), AcctError> {
        unreachable!("the bench sends no Accounting-Request")
    }

    fn post_auth(&self, record: PostAuthRecord) -> bool {
        self.0.submit(record)
    }

    fn keeps_post_auth(&self, accepted: bool) -> bool {
        self.0.keeps(accepted)
    }
}

fn row(attribute: &str, op: &str, value: &str) -> RadRow {
    RadRow {
        attribute: attribute.into(),
        op: op.into(),
        value: value.into(),
    }
}

struct Bench {
    ctx: Context<Profiles, PostAuthOnly>,
    client: Arc<Client>,
    source: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

fn setup() -> Bench {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _enter = runtime.enter();
    m::install().expect("metrics recorder");
    // As the receive threads do.
    m::cache_handles_on_this_thread();
    let dict = Arc::new(Dictionary::builtin());
    // Never connected: every user below is answered from L1.
    let pg = PgStore::connect_lazy(
        "postgres://bench@127.0.0.1:9/bench",
        PoolSettings::default(),
    )
    .expect("lazy pool");
    let profiles = Profiles::new(pg, None, &ProfileOptions::default(), Arc::clone(&dict));
    let rows = UserRows {
        username: USER.into(),
        check: vec![row("Cleartext-Password", ":=", PASSWORD)],
        reply: vec![
            row("Mikrotik-Rate-Limit", "=", "2M/5M"),
            row("Session-Timeout", "=", "3600"),
            row("Acct-Interim-Interval", "=", "300"),
        ],
        groups: vec![],
    };
    let profile = Arc::new(Profile::compile(&rows, &dict));
    runtime.block_on(profiles.insert_cached(None, USER, Some(profile)));

    let (writer, mut rx) = PostAuthWriter::channel(
        PostAuthLog::All,
        hotspot_radius::accounting::postauth::QUEUE_CAPACITY,
    );
    std::thread::spawn(move || while rx.blocking_recv().is_some() {});

    let nas = NasConfig {
        address: "192.0.2.1".into(),
        secret: SECRET.into(),
        name: Some("hotspot-1".into()),
        // The default (`auto`): required once one was seen, as from RouterOS 7.
        require_message_authenticator: MessageAuthenticatorPolicy::Auto,
        ..NasConfig::default()
    };
    let clients = Clients::new(ClientTable::build(&[nas], &[], None));
    let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 38201);
    let client = clients.lookup(source.ip()).expect("NAS entry");
    drop(_enter);
    Bench {
        ctx: Context {
            users: profiles,
            sink: PostAuthOnly(writer),
            dictionary: dict,
            reject_delay: Duration::from_secs(1),
            sessions: None,
            max_misses_per_nas: 64,
        },
        client,
        source,
        _runtime: runtime,
    }
}

#[derive(Clone, Copy)]
enum Method {
    Pap,
    Chap,
    MsChapV2,
}

/// A MikroTik hotspot Access-Request as RouterOS 7 sends it (Message-Authenticator first).
fn access_request(method: Method, password: &str) -> Vec<u8> {
    let signer = Signer::new(SECRET.as_bytes());
    let authenticator: [u8; 16] = *b"0123456789abcdef";
    let mut b = PacketBuilder::new(Code::AccessRequest, 42).with_message_authenticator();
    b.add_u32(attrs::SERVICE_TYPE, 1).unwrap();
    b.add(attrs::USER_NAME, USER.as_bytes()).unwrap();
    b.add(attrs::CALLING_STATION_ID, b"AA:BB:CC:DD:EE:FF")
        .unwrap();
    b.add(attrs::CALLED_STATION_ID, b"hotspot1").unwrap();
    b.add_u32(attrs::NAS_PORT_TYPE, 19).unwrap();
    b.add_u32(attrs::NAS_PORT, 2_149_580_822).unwrap();
    b.add(attrs::NAS_PORT_ID, b"bridge-hotspot").unwrap();
    b.add(attrs::FRAMED_IP_ADDRESS, &[10, 5, 50, 2]).unwrap();
    b.add_vendor(mikrotik::VENDOR_ID, mikrotik::HOST_IP, &[10, 5, 50, 2])
        .unwrap();
    b.add(attrs::NAS_IDENTIFIER, b"hotspot-router").unwrap();
    b.add(attrs::NAS_IP_ADDRESS, &[192, 0, 2, 1]).unwrap();
    match method {
        Method::Pap => {
            b.add_user_password(password.as_bytes(), &signer, &authenticator)
                .unwrap();
        }
        Method::Chap => {
            let challenge = *b"fedcba9876543210";
            b.add(attrs::CHAP_CHALLENGE, &challenge).unwrap();
            b.add(
                attrs::CHAP_PASSWORD,
                &chap::chap_password(7, password.as_bytes(), &challenge),
            )
            .unwrap();
        }
        Method::MsChapV2 => {
            let auth_challenge = *b"authchallenge-16";
            let peer = *b"peer-challenge16";
            let resp = mschapv2::client_response(
                3,
                &auth_challenge,
                &peer,
                USER.as_bytes(),
                password.as_bytes(),
            );
            b.add_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &auth_challenge)
                .unwrap();
            b.add_vendor(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &resp)
                .unwrap();
        }
    }
    b.sign_access_request(&authenticator, &signer).unwrap()
}

/// One request through the path; the reply as the send path holds it.
fn serve(bench: &Bench, datagram: &[u8]) -> (Arc<[u8]>, Duration) {
    let started = Instant::now();
    let packet = Packet::decode(datagram).expect("decodes");
    let code = packet.code().name();
    let dispatch = pin!(handler::dispatch(
        &bench.ctx,
        &bench.client,
        Port::Auth,
        bench.source,
        &packet,
    ));
    let mut cx = std::task::Context::from_waker(Waker::noop());
    let Poll::Ready(outcome) = dispatch.poll(&mut cx) else {
        panic!("a cached user's request did not complete in its first poll");
    };
    let reply = match outcome {
        Outcome::Reply(reply) => reply,
        Outcome::Drop(why) => panic!("request dropped: {why}"),
    };
    let signed = reply
        .builder
        .sign_response(
            packet.authenticator(),
            ReplyVector::for_request(packet.code()),
            bench.client.signer(),
        )
        .expect("signs");
    let bytes: Arc<[u8]> = Arc::from(signed);
    if reply.outcome == "reject" {
        bench.client.counters().reject();
    }
    m::request(code, reply.outcome);
    m::observe(
        m::REQUEST_DURATION_SECONDS,
        &[("code", code)],
        started.elapsed().as_secs_f64(),
    );
    (bytes, reply.delay)
}

fn hot_path(c: &mut Criterion) {
    let bench = setup();
    let variants = [
        (
            "PAP accept",
            access_request(Method::Pap, PASSWORD),
            Code::AccessAccept,
        ),
        (
            "CHAP accept",
            access_request(Method::Chap, PASSWORD),
            Code::AccessAccept,
        ),
        (
            "MS-CHAPv2 accept",
            access_request(Method::MsChapV2, PASSWORD),
            Code::AccessAccept,
        ),
        (
            "PAP reject (wrong password)",
            access_request(Method::Pap, "not-the-password"),
            Code::AccessReject,
        ),
    ];
    let mut group = c.benchmark_group("hot_path");
    for (name, datagram, want) in &variants {
        // The answer is the one expected, and the path is warm (metric handles made, the
        // post-auth queue's blocks allocated) before counting.
        for _ in 0..1_000 {
            let (reply, _) = serve(&bench, datagram);
            assert_eq!(Packet::decode(&reply).expect("reply decodes").code(), *want);
        }
        let (allocs, bytes) = allocations_per_call(10_000, || {
            black_box(serve(&bench, black_box(datagram)));
        });
        println!("hot_path/{name}: {allocs:.2} allocations, {bytes:.0} bytes per request");
        group.bench_function(*name, |b| b.iter(|| serve(&bench, black_box(datagram))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short: the machine is shared (see the README for how the table was taken).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = hot_path
}
criterion_main!(benches);
