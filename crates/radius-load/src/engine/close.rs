//! The engine's end-of-run phase: an Accounting Stop for every session the run left open
//! (`bench --mode acct|hotspot`, unless `--leave-sessions-open`), so that a load test does
//! not leave the server with sessions that count against Simultaneous-Use.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use radius_proto::protocol::Signer;

use super::{Flow, Generator, Out, Slot, answers, flush, occupy, verify_reply};
use crate::report::Counts;
use crate::sys::{self, RawAddr, RecvBatch};

/// The end-of-run phase that closes the sessions a run left open: one Stop each, sent on
/// the worker's socket with the engine's slots, retransmitted every `timeout` until
/// answered or until the phase's time is up. Not part of the measured run: its requests
/// are counted only as `sessions_closed` / `sessions_close_failed`.
pub(super) struct Close<'a> {
    pub(super) fd: i32,
    pub(super) connected: bool,
    pub(super) dests: &'a [RawAddr],
    pub(super) sources: &'a [std::net::Ipv4Addr],
    pub(super) signer: &'a Signer,
    pub(super) timeout: Duration,
}

impl Close<'_> {
    pub(super) fn run(
        &self,
        slots: &mut [Slot],
        generator: &mut dyn Generator,
        open: Vec<Flow>,
        within: Duration,
        counts: &mut Counts,
    ) {
        let deadline = Instant::now() + within;
        let mut todo: VecDeque<Flow> = open.into();
        // The main loop ended with nothing outstanding: every identifier is free.
        let mut free: VecDeque<u8> = (0..=255u8).collect();
        let mut pending: Vec<u8> = Vec::new();
        let mut in_flight: u64 = 0;
        let mut recv = RecvBatch::new();
        let mut ignored = Counts::default();
        loop {
            let now = Instant::now();
            if now >= deadline || (todo.is_empty() && in_flight == 0) {
                break;
            }
            while !todo.is_empty() {
                let Some(id) = free.pop_front() else {
                    break;
                };
                let Some(flow) = todo.pop_front() else {
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
                if !generator.write_stop(id, &flow, &mut out) {
                    counts.sessions_close_failed += 1;
                    free.push_front(id);
                    continue;
                }
                let (len, dest, req_auth) =
                    (out.len, out.dest.min(self.dests.len() - 1), out.req_auth);
                occupy(slot, flow, len, dest, req_auth, now);
                in_flight += 1;
                pending.push(id);
            }
            for (id, slot) in slots.iter_mut().enumerate() {
                if slot.busy && now.duration_since(slot.last_sent) >= self.timeout {
                    slot.last_sent = now;
                    pending.push(id as u8);
                }
            }
            if !pending.is_empty() {
                flush(
                    self.fd,
                    slots,
                    self.dests,
                    self.sources,
                    &mut pending,
                    &mut ignored,
                    self.connected,
                );
            }
            let n = recv.recv(self.fd).unwrap_or_default();
            for i in 0..n {
                let Some((data, from)) = recv.get(i) else {
                    continue;
                };
                let (Some(&code), Some(&id)) = (data.first(), data.get(1)) else {
                    continue;
                };
                let slot = &mut slots[usize::from(id)];
                if slot.busy
                    && self.dests.get(slot.dest).is_some_and(|d| d.same(&from))
                    && answers(slot.req_code, code)
                    && verify_reply(self.signer, data, slot.req_code, &slot.req_auth)
                {
                    slot.busy = false;
                    in_flight -= 1;
                    counts.sessions_closed += 1;
                    free.push_back(id);
                }
            }
            if n == 0 {
                let wait = deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(2));
                let _ = sys::wait_readable(self.fd, wait);
            }
        }
        counts.sessions_close_failed += in_flight + todo.len() as u64;
        for slot in slots.iter_mut() {
            slot.busy = false;
        }
    }
}
