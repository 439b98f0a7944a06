//! The load engine shared by `bench` and `replay`: one thread per UDP socket, each with
//! its own 256-identifier space, a fixed table of in-flight requests indexed by
//! identifier, batched sends and receives, retransmission on timeout, verification of
//! every reply, and a latency histogram.
//!
//! What to send comes from a [`Generator`] (synthetic sessions for `bench`, captured
//! packets for `replay`); when to send from a [`Pacing`]. Nothing is allocated per request:
//! each identifier owns a datagram buffer, and counters are plain integers published to
//! atomics for the progress line.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use radius_proto::protocol::{Code, DecodeError, ReplyVector, Signer};

use crate::report::Counts;
use crate::sys::{self, MAX_DATAGRAM, RawAddr, RecvBatch};
use crate::timeline::Timeline;

mod close;
use close::Close;

/// One request a generator has written.
pub(crate) struct Out<'a> {
    /// The datagram buffer; the generator writes the signed packet at its start.
    pub(crate) buf: &'a mut [u8; MAX_DATAGRAM],
    /// Length written.
    pub(crate) len: usize,
    /// Index into the engine's destination list (0 auth, 1 acct, 2 CoA).
    pub(crate) dest: usize,
    /// The Request Authenticator as sent (replies are verified against it).
    pub(crate) req_auth: [u8; 16],
}

/// Per-flow state a generator keeps between the requests of one flow (a session).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flow {
    /// Session number (unique per run).
    pub(crate) session: u64,
    /// User index, or captured-packet index for replay.
    pub(crate) item: u32,
    /// Step within the flow.
    pub(crate) step: u32,
    /// Generator-specific flag (e.g. which auth method a hotspot session uses).
    pub(crate) variant: u8,
}

/// The source of requests for one worker.
pub(crate) trait Generator: Send {
    /// Start a new flow and write its first request with identifier `id`. `false` when the
    /// source has nothing more to send.
    fn start(&mut self, id: u8, flow: &mut Flow, out: &mut Out<'_>) -> bool;

    /// The previous request of `flow` was answered with `reply` (a code), or timed out
    /// (`None`). Write the next request with identifier `id`, or return `false` when the
    /// flow is over.
    fn advance(&mut self, id: u8, reply: Option<u8>, flow: &mut Flow, out: &mut Out<'_>) -> bool;

    /// With [`Pacing::Timestamps`]: offset from the start at which the next flow starts;
    /// `None` when exhausted.
    fn next_offset(&self) -> Option<Duration> {
        None
    }

    /// `start` returned `false` only for now: every item is in use by a flow in progress
    /// (a hotspot user with a session open); a flow ending frees one. Not exhausted.
    fn waiting(&self) -> bool {
        false
    }

    /// At the end of a closed-loop run, finish the flows in progress (no new ones) instead
    /// of abandoning them: a hotspot session left without its Stop would stay open on the
    /// server and refuse the user's next login under Simultaneous-Use.
    fn drains(&self) -> bool {
        false
    }

    /// Add the generator's own counts (completed sessions) to the worker's.
    fn finish(&self, _counts: &mut Counts) {}

    /// Sessions still open on the server at the end of the run: their Start went out and
    /// their Stop was not answered (cut off by the run's end, or the Stop timed out).
    fn open_sessions(&self) -> Vec<Flow> {
        Vec::new()
    }

    /// Write an Accounting Stop with identifier `id` that closes `flow` (one of
    /// [`open_sessions`](Self::open_sessions)); `false` if it cannot be written.
    fn write_stop(&mut self, _id: u8, _flow: &Flow, _out: &mut Out<'_>) -> bool {
        false
    }
}

/// When new requests go out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pacing {
    /// Closed loop: keep this many requests outstanding on this worker.
    Closed(usize),
    /// Open loop: this many requests a second from this worker.
    Rate(f64),
    /// Open loop, at the generator's own offsets (replay at capture pacing).
    Timestamps,
}

/// One captured datagram for `--record`.
#[derive(Debug)]
pub(crate) struct Record {
    /// When it was sent or received.
    pub(crate) time: SystemTime,
    /// Source address.
    pub(crate) src: SocketAddr,
    /// Destination address.
    pub(crate) dst: SocketAddr,
    /// The RADIUS datagram.
    pub(crate) data: Vec<u8>,
}

/// Live numbers one worker publishes for the progress line.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) sent: AtomicU64,
    pub(crate) replies: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) outstanding: AtomicU64,
}

/// State shared by all workers of a run.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Requests that may still be started (`i64::MAX` when unbounded by count).
    pub(crate) budget: AtomicI64,
    /// Set to stop starting requests (Ctrl-C, or the run's end).
    pub(crate) stop: AtomicBool,
    /// Per-worker live numbers.
    pub(crate) live: Vec<Live>,
}

/// Settings for one worker.
pub(crate) struct WorkerConfig {
    pub(crate) index: usize,
    pub(crate) dests: Vec<SocketAddr>,
    pub(crate) signer: Signer,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) deadline: Option<Instant>,
    pub(crate) pacing: Pacing,
    /// When every request goes to `dests[i]`: connect the socket to it (cheaper sends).
    /// Ignored with `sources`.
    pub(crate) single_dest: Option<usize>,
    /// IPv4 source addresses to send from, one per simulated NAS (empty: the socket's
    /// own). A flow always leaves from `sources[user index % len]`, so a user is always
    /// seen at the same router and a session's requests share its source.
    pub(crate) sources: Arc<[Ipv4Addr]>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) record: Option<std::sync::mpsc::SyncSender<Record>>,
    /// When the run started (second 0 of the timeline, shared by every worker).
    pub(crate) started: Instant,
    /// At the end, send a Stop for every session the generator still has open, spending
    /// at most this long on it; `None` leaves them open.
    pub(crate) close_within: Option<Duration>,
}

/// What a worker returns.
pub(crate) struct WorkerResult {
    pub(crate) counts: Counts,
    pub(crate) latency: Histogram<u64>,
    pub(crate) timeline: Timeline,
    /// When the measured run ended on this worker (before closing sessions).
    pub(crate) ended: Instant,
}

/// A new latency histogram in microseconds, 1 µs .. 1 h, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| unreachable!("constant, valid histogram bounds"))
}

/// Merge worker results.
pub(crate) fn merge(
    results: Vec<WorkerResult>,
    started: Instant,
) -> (Counts, Histogram<u64>, Timeline) {
    let mut counts = Counts::default();
    let mut hist = new_histogram();
    let mut timeline = Timeline::new(started);
    for r in results {
        counts.add(&r.counts);
        // Same bounds: cannot fail.
        let _ = hist.add(&r.latency);
        timeline.merge(&r.timeline);
    }
    (counts, hist, timeline)
}

struct Slot {
    busy: bool,
    req_code: u8,
    dest: usize,
    len: usize,
    tries: u32,
    req_auth: [u8; 16],
    first_sent: Instant,
    last_sent: Instant,
    flow: Flow,
    buf: Box<[u8; MAX_DATAGRAM]>,
}

/// Does reply code `reply` answer request code `req`?
fn answers(req: u8, reply: u8) -> bool {
    match req {
        1 => matches!(reply, 2 | 3 | 11),
        4 => reply == 5,
        12 => matches!(reply, 2 | 5),
        40 => matches!(reply, 41 | 42),
        43 => matches!(reply, 44 | 45),
        _ => false,
    }
}

/// Does `reply` verify against the request (code `req_code`, authenticator `req_auth`) it
/// answers? Layout, Response Authenticator, and the Message-Authenticator when present,
/// over the vector FreeRADIUS uses ([`ReplyVector::for_request`]). Servers differ on an
/// Accounting-Response's Message-Authenticator (RFC 2866 defines none), so there the
/// other vector is accepted too.
fn verify_reply(signer: &Signer, reply: &[u8], req_code: u8, req_auth: &[u8; 16]) -> bool {
    let vector = ReplyVector::for_request(Code::from_u8(req_code));
    match signer.verify_reply(reply, req_auth, vector) {
        Ok(_) => true,
        Err(DecodeError::BadMessageAuthenticator)
            if reply.first() == Some(&Code::AccountingResponse.as_u8()) =>
        {
            let other = match vector {
                ReplyVector::Request => ReplyVector::Zero,
                ReplyVector::Zero => ReplyVector::Request,
            };
            signer.verify_reply(reply, req_auth, other).is_ok()
        }
        Err(_) => false,
    }
}

/// Bind a socket for the destinations' address family.
pub(crate) fn bind_client_socket(dests: &[SocketAddr]) -> std::io::Result<UdpSocket> {
    let v6 = dests.first().is_some_and(SocketAddr::is_ipv6);
    let bind: SocketAddr = if v6 { "[::]:0" } else { "0.0.0.0:0" }
        .parse()
        .unwrap_or_else(|_| unreachable!("constant address"));
    let sock = socket2::Socket::new(
        if v6 {
            socket2::Domain::IPV6
        } else {
            socket2::Domain::IPV4
        },
        socket2::Type::DGRAM,
        None,
    )?;
    // Larger buffers absorb bursts; the kernel caps them silently.
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.bind(&bind.into())?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Run one worker to completion (blocking; call on its own thread).
pub(crate) fn run_worker(
    cfg: WorkerConfig,
    mut generator: Box<dyn Generator>,
) -> std::io::Result<WorkerResult> {
    let sock = bind_client_socket(&cfg.dests)?;
    // A connected socket only receives from, and sends from, one address pair: sources
    // need it unconnected.
    let single_dest = cfg.single_dest.filter(|_| cfg.sources.is_empty());
    let connected = match single_dest.and_then(|i| cfg.dests.get(i)) {
        Some(d) => {
            sock.connect(d)?;
            true
        }
        None => false,
    };
    let local = sock.local_addr()?;
    let fd = sock.as_raw_fd();
    let dests: Vec<RawAddr> = cfg.dests.iter().map(|a| RawAddr::new(*a)).collect();
    let mut slots: Vec<Slot> = (0..256)
        .map(|_| Slot {
            busy: false,
            req_code: 0,
            dest: 0,
            len: 0,
            tries: 0,
            req_auth: [0; 16],
            first_sent: Instant::now(),
            last_sent: Instant::now(),
            flow: Flow::default(),
            buf: Box::new([0u8; MAX_DATAGRAM]),
        })
        .collect();
    let mut free: VecDeque<u8> = (0..=255u8).collect();
    let mut ready: VecDeque<(Flow, Option<u8>)> = VecDeque::with_capacity(512);
    let mut pending: Vec<u8> = Vec::with_capacity(512);
    let mut recv = RecvBatch::new();
    let mut counts = Counts::default();
    let mut hist = new_histogram();
    let mut timeline = Timeline::new(cfg.started);
    let live = cfg.shared.live.get(cfg.index);
    let start = Instant::now();
    let mut started_new: u64 = 0;
    let mut outstanding: usize = 0;
    let mut exhausted = false;
    let mut last_scan = start;
    let mut drain = generator.drains() && matches!(cfg.pacing, Pacing::Closed(_));

    loop {
        let now = Instant::now();
        let stopping = exhausted
            || cfg.shared.stop.load(Ordering::Relaxed)
            || cfg.deadline.is_some_and(|d| now >= d);

        // 1. Start requests the pacing allows.
        if !stopping {
            let mut allowed = match cfg.pacing {
                Pacing::Closed(w) => w.saturating_sub(outstanding) as u64,
                Pacing::Rate(r) => {
                    let due = (now.duration_since(start).as_secs_f64() * r) as u64;
                    due.saturating_sub(started_new)
                }
                Pacing::Timestamps => u64::MAX,
            };
            while allowed > 0 {
                if matches!(cfg.pacing, Pacing::Timestamps) && ready.is_empty() {
                    match generator.next_offset() {
                        Some(off) if start + off <= now => {}
                        Some(_) => break,
                        None => {
                            exhausted = outstanding == 0;
                            break;
                        }
                    }
                }
                let Some(id) = free.pop_front() else {
                    if let Pacing::Rate(_) = cfg.pacing {
                        counts.skipped += allowed;
                        started_new += allowed;
                    }
                    break;
                };
                if cfg.shared.budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                    free.push_front(id);
                    exhausted = true;
                    // `--requests N` means N requests: flows in progress are not finished
                    // past the count (draining is for runs bounded by time).
                    drain = false;
                    break;
                }
                let slot = &mut slots[usize::from(id)];
                let mut out = Out {
                    buf: &mut slot.buf,
                    len: 0,
                    dest: 0,
                    req_auth: [0; 16],
                };
                let mut written = false;
                let mut flow = Flow::default();
                if let Some((mut f, reply)) = ready.pop_front()
                    && generator.advance(id, reply, &mut f, &mut out)
                {
                    flow = f;
                    written = true;
                }
                if !written {
                    written = generator.start(id, &mut flow, &mut out);
                }
                if !written {
                    free.push_front(id);
                    if generator.waiting() {
                        if let Pacing::Rate(_) = cfg.pacing {
                            counts.skipped += allowed;
                            started_new += allowed;
                        }
                    } else {
                        exhausted = ready.is_empty();
                    }
                    break;
                }
                let (len, dest, req_auth) = (out.len, out.dest.min(dests.len() - 1), out.req_auth);
                occupy(slot, flow, len, dest, req_auth, now);
                outstanding += 1;
                started_new += 1;
                counts.sent += 1;
                timeline.at(now).sent += 1;
                pending.push(id);
                allowed -= 1;
            }
        } else if drain {
            // Finish the flows in progress; start none.
            while !ready.is_empty() {
                let Some(id) = free.pop_front() else {
                    break;
                };
                let Some((mut f, reply)) = ready.pop_front() else {
                    free.push_front(id);
                    break;
                };
                let slot = &mut slots[usize::from(id)];
                let mut out = Out {
                    buf: &mut slot.buf,
                    len: 0,
                    dest: 0,
                    req_auth: [0; 16],
                };
                if !generator.advance(id, reply, &mut f, &mut out) {
                    free.push_front(id);
                    continue;
                }
                let (len, dest, req_auth) = (out.len, out.dest.min(dests.len() - 1), out.req_auth);
                occupy(slot, f, len, dest, req_auth, now);
                outstanding += 1;
                counts.sent += 1;
                timeline.at(now).sent += 1;
                pending.push(id);
            }
        }

        // 2. Send what is pending.
        if !pending.is_empty() {
            flush(
                fd,
                &slots,
                &dests,
                &cfg.sources,
                &mut pending,
                &mut counts,
                connected,
            );
            if let Some(tx) = &cfg.record {
                // `pending` was drained by flush; recording copies from the slots sent
                // this round, tracked by their send time.
                record_sent(tx, &slots, &cfg.dests, &cfg.sources, local, now);
            }
        }

        // 3. Receive and match replies.
        let n = recv.recv(fd).unwrap_or_default();
        let rnow = Instant::now();
        for i in 0..n {
            let Some((data, from)) = recv.get(i) else {
                continue;
            };
            if let (Some(tx), Some(src)) = (&cfg.record, from.to_socket_addr()) {
                // The reply went to the source its request left from.
                let dst = data
                    .get(1)
                    .and_then(|&id| source_of(&cfg.sources, &slots[usize::from(id)].flow))
                    .map_or(local, |ip| SocketAddr::new(ip.into(), local.port()));
                let _ = tx.try_send(Record {
                    time: SystemTime::now(),
                    src,
                    dst,
                    data: data.to_vec(),
                });
            }
            let (Some(&code), Some(&id)) = (data.first(), data.get(1)) else {
                counts.bad_replies += 1;
                timeline.at(rnow).bad += 1;
                continue;
            };
            let slot = &mut slots[usize::from(id)];
            if !slot.busy || !dests.get(slot.dest).is_some_and(|d| d.same(&from)) {
                counts.unmatched += 1;
                continue;
            }
            if !answers(slot.req_code, code)
                || !verify_reply(&cfg.signer, data, slot.req_code, &slot.req_auth)
            {
                counts.bad_replies += 1;
                timeline.at(rnow).bad += 1;
                continue;
            }
            let us = rnow.duration_since(slot.first_sent).as_micros() as u64;
            let _ = hist.record(us.max(1));
            timeline.reply(rnow, code, us);
            counts.replies += 1;
            match code {
                2 => counts.accepts += 1,
                3 => counts.rejects += 1,
                11 => counts.challenges += 1,
                5 => counts.acct_responses += 1,
                41 | 44 => counts.coa_acks += 1,
                _ => counts.coa_naks += 1,
            }
            slot.busy = false;
            outstanding -= 1;
            free.push_back(id);
            ready.push_back((slot.flow, Some(code)));
        }

        // 4. Timeouts and retransmissions (scanned at most every millisecond).
        if rnow.duration_since(last_scan) >= Duration::from_millis(1) {
            last_scan = rnow;
            for id in 0..=255u8 {
                let slot = &mut slots[usize::from(id)];
                if slot.busy && rnow.duration_since(slot.last_sent) >= cfg.timeout {
                    if slot.tries < cfg.retries {
                        slot.tries += 1;
                        slot.last_sent = rnow;
                        counts.retransmits += 1;
                        pending.push(id);
                    } else {
                        slot.busy = false;
                        outstanding -= 1;
                        counts.timeouts += 1;
                        timeline.at(rnow).timeouts += 1;
                        free.push_back(id);
                        ready.push_back((slot.flow, None));
                    }
                }
            }
            if !pending.is_empty() {
                flush(
                    fd,
                    &slots,
                    &dests,
                    &cfg.sources,
                    &mut pending,
                    &mut counts,
                    connected,
                );
            }
        }

        if let Some(l) = live {
            l.sent.store(counts.sent, Ordering::Relaxed);
            l.replies.store(counts.replies, Ordering::Relaxed);
            l.errors.store(counts.errors(), Ordering::Relaxed);
            l.outstanding.store(outstanding as u64, Ordering::Relaxed);
        }

        let stopping = stopping
            || exhausted
            || cfg.shared.stop.load(Ordering::Relaxed)
            || cfg.deadline.is_some_and(|d| rnow >= d);
        if stopping && outstanding == 0 && (!drain || ready.is_empty()) {
            break;
        }
        if stopping && !drain && matches!(cfg.pacing, Pacing::Closed(_)) {
            // Flows waiting for their next step are abandoned at the end.
            ready.clear();
        }

        // 5. Nothing received: sleep until a reply, the next send, or the next scan.
        if n == 0 {
            let mut wait = Duration::from_millis(2);
            if stopping && drain && !ready.is_empty() && !free.is_empty() {
                wait = Duration::ZERO;
            }
            if !stopping {
                match cfg.pacing {
                    Pacing::Rate(r) => {
                        let next = (started_new + 1) as f64 / r;
                        let at = start + Duration::from_secs_f64(next);
                        wait = wait.min(at.saturating_duration_since(rnow));
                    }
                    Pacing::Timestamps => {
                        if let Some(off) = generator.next_offset() {
                            wait = wait.min((start + off).saturating_duration_since(rnow));
                        }
                    }
                    Pacing::Closed(w) => {
                        if outstanding < w
                            && !free.is_empty()
                            && (!ready.is_empty() || !generator.waiting())
                        {
                            wait = Duration::ZERO;
                        }
                    }
                }
            }
            if !wait.is_zero() {
                let _ = sys::wait_readable(fd, wait);
            }
        }
    }
    generator.finish(&mut counts);
    let ended = Instant::now();
    if let Some(within) = cfg.close_within {
        let open = generator.open_sessions();
        if !open.is_empty() {
            let close = Close {
                fd,
                connected,
                dests: &dests,
                sources: &cfg.sources,
                signer: &cfg.signer,
                timeout: cfg.timeout,
            };
            close.run(&mut slots, generator.as_mut(), open, within, &mut counts);
        }
    }
    Ok(WorkerResult {
        counts,
        latency: hist,
        timeline,
        ended,
    })
}

/// Mark `slot` in flight with a request just written for `flow`.
fn occupy(slot: &mut Slot, flow: Flow, len: usize, dest: usize, req_auth: [u8; 16], now: Instant) {
    slot.busy = true;
    slot.len = len;
    slot.dest = dest;
    slot.req_auth = req_auth;
    slot.req_code = slot.buf[0];
    slot.tries = 0;
    slot.flow = flow;
    slot.first_sent = now;
    slot.last_sent = now;
}

fn flush(
    fd: i32,
    slots: &[Slot],
    dests: &[RawAddr],
    sources: &[Ipv4Addr],
    pending: &mut Vec<u8>,
    counts: &mut Counts,
    connected: bool,
) {
    if !sources.is_empty() {
        flush_from(fd, slots, dests, sources, pending, counts);
        return;
    }
    let mut batch: [(&[u8], &RawAddr); sys::BATCH] = [(&[], &dests[0]); sys::BATCH];
    let mut i = 0;
    while i < pending.len() {
        let chunk = &pending[i..pending.len().min(i + sys::BATCH)];
        for (k, &id) in chunk.iter().enumerate() {
            let s = &slots[usize::from(id)];
            batch[k] = (&s.buf[..s.len], &dests[s.dest]);
        }
        match sys::send_many(fd, &batch[..chunk.len()], connected) {
            Ok(sent) if sent == chunk.len() => {}
            Ok(sent) => counts.send_errors += (chunk.len() - sent) as u64,
            Err(_) => counts.send_errors += chunk.len() as u64,
        }
        i += chunk.len();
    }
    pending.clear();
}

/// The source address a flow's requests leave from: one per user, so a user always logs
/// in at the same (simulated) router.
pub(crate) fn source_of(sources: &[Ipv4Addr], flow: &Flow) -> Option<Ipv4Addr> {
    match sources.len() {
        0 => None,
        n => Some(sources[flow.item as usize % n]),
    }
}

/// [`flush`] with a source address per request (`--source-addrs`).
fn flush_from(
    fd: i32,
    slots: &[Slot],
    dests: &[RawAddr],
    sources: &[Ipv4Addr],
    pending: &mut Vec<u8>,
    counts: &mut Counts,
) {
    let mut batch: [(&[u8], &RawAddr, Option<Ipv4Addr>); sys::BATCH] =
        [(&[], &dests[0], None); sys::BATCH];
    let mut i = 0;
    while i < pending.len() {
        let chunk = &pending[i..pending.len().min(i + sys::BATCH)];
        for (k, &id) in chunk.iter().enumerate() {
            let s = &slots[usize::from(id)];
            batch[k] = (&s.buf[..s.len], &dests[s.dest], source_of(sources, &s.flow));
        }
        match sys::send_many_from(fd, &batch[..chunk.len()]) {
            Ok(sent) if sent == chunk.len() => {}
            Ok(sent) => counts.send_errors += (chunk.len() - sent) as u64,
            Err(_) => counts.send_errors += chunk.len() as u64,
        }
        i += chunk.len();
    }
    pending.clear();
}

fn record_sent(
    tx: &std::sync::mpsc::SyncSender<Record>,
    slots: &[Slot],
    dests: &[SocketAddr],
    sources: &[Ipv4Addr],
    local: SocketAddr,
    now: Instant,
) {
    for s in slots.iter().filter(|s| s.busy && s.last_sent == now) {
        let src = source_of(sources, &s.flow)
            .map_or(local, |ip| SocketAddr::new(ip.into(), local.port()));
        let _ = tx.send(Record {
            time: SystemTime::now(),
            src,
            dst: dests.get(s.dest).copied().unwrap_or(local),
            data: s.buf[..s.len].to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use radius_proto::protocol::{Packet, PacketBuilder};

    use super::*;

    fn reply(code: Code, vector: ReplyVector, signer: &Signer) -> Vec<u8> {
        PacketBuilder::new(code, 9)
            .with_message_authenticator()
            .sign_response(&[3; 16], vector, signer)
            .unwrap()
    }

    #[test]
    fn signed_reply_verifies_and_tampering_is_caught() {
        let s = Signer::new(b"secret");
        let pkt = reply(Code::AccessAccept, ReplyVector::Request, &s);
        assert!(verify_reply(&s, &pkt, 1, &[3; 16]));
        assert!(!verify_reply(&s, &pkt, 1, &[4; 16]));
        assert!(!verify_reply(&Signer::new(b"other"), &pkt, 1, &[3; 16]));
        let mut bad = pkt.clone();
        bad[25] ^= 1;
        assert!(!verify_reply(&s, &bad, 1, &[3; 16]));
        assert!(!verify_reply(&s, &pkt[..30], 1, &[3; 16]));
        assert!(Packet::decode(&pkt).is_ok());
    }

    #[test]
    fn accounting_response_accepts_either_vector_other_replies_one() {
        let s = Signer::new(b"secret");
        for vector in [ReplyVector::Zero, ReplyVector::Request] {
            let pkt = reply(Code::AccountingResponse, vector, &s);
            assert!(verify_reply(&s, &pkt, 4, &[3; 16]), "{vector:?}");
            assert!(verify_reply(&s, &pkt, 12, &[3; 16]), "{vector:?}");
        }
        let zero = reply(Code::AccessAccept, ReplyVector::Zero, &s);
        assert!(!verify_reply(&s, &zero, 1, &[3; 16]));
    }

    #[test]
    fn answers_pairs_requests_with_their_replies() {
        assert!(answers(1, 2) && answers(1, 3) && answers(1, 11));
        assert!(answers(4, 5) && !answers(4, 2));
        assert!(answers(12, 2) && answers(12, 5));
        assert!(answers(40, 41) && answers(43, 45) && !answers(43, 41));
    }
}
