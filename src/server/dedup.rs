//! Duplicate detection (RFC 5080 §2.2.2): answer a retransmission with the byte-identical
//! reply we already sent, without processing the request again.
//!
//! Key: (source address, code, identifier, request authenticator). A new request that reuses
//! an identifier has a different authenticator, so it is a different key and is processed.
//! While the first copy is still being processed, retransmissions are dropped. A request
//! that ended without a reply (database down, bad signature) is forgotten, so the NAS's
//! retransmission is processed afresh. Entries live for a short TTL; the table is bounded
//! (oldest entries go first) and sharded to keep lock sections short.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

use foldhash::fast::RandomState;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// Identity of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// Source address and port.
    pub source: SocketAddr,
    /// Packet code.
    pub code: u8,
    /// Identifier.
    pub identifier: u8,
    /// Request authenticator.
    pub authenticator: [u8; 16],
}

impl Key {
    /// The key of a datagram (at least 20 bytes; `None` otherwise).
    pub fn of(source: SocketAddr, datagram: &[u8]) -> Option<Self> {
        let code = *datagram.first()?;
        let identifier = *datagram.get(1)?;
        let authenticator: [u8; 16] = datagram.get(4..20)?.try_into().ok()?;
        Some(Self {
            source,
            code,
            identifier,
            authenticator,
        })
    }
}

#[derive(Debug)]
enum State {
    InProgress,
    Done(Arc<[u8]>),
}

#[derive(Debug)]
struct Entry {
    state: State,
    expires: Instant,
    /// Generation, so a stale queue item does not evict a newer entry with the same key.
    generation: u64,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Key, Entry, RandomState>,
    order: VecDeque<(Key, u64)>,
    next_generation: u64,
}

/// What to do with an arriving request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First sighting: process it, then call [`DedupCache::complete`] (or drop the guard).
    New,
    /// Already being processed: drop this copy.
    InProgress,
    /// Already answered: resend these bytes.
    Replay(Arc<[u8]>),
}

/// The retransmission cache.
#[derive(Debug)]
pub struct DedupCache {
    shards: Box<[Mutex<Shard>]>,
    /// Picks the shard. Randomly seeded; keys come only from known clients.
    hasher: RandomState,
    ttl: Duration,
    per_shard: usize,
}

impl DedupCache {
    /// A cache keeping replies for `ttl`, holding at most about `capacity` requests.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        Self {
            shards,
            hasher: RandomState::default(),
            ttl,
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        let idx = (self.hasher.hash_one(key) as usize) % self.shards.len();
        let m = &self.shards[idx];
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Look a request up at time `now`; a new one is marked in progress.
    pub fn begin(&self, key: Key, now: Instant) -> Begin {
        let mut shard = self.shard(&key);
        shard.expire(now, self.per_shard);
        if let Some(entry) = shard.map.get(&key)
            && entry.expires > now
        {
            return match &entry.state {
                State::InProgress => Begin::InProgress,
                State::Done(bytes) => Begin::Replay(Arc::clone(bytes)),
            };
        }
        let generation = shard.next_generation;
        shard.next_generation += 1;
        // In-progress entries get a long deadline: they end by `complete`, not by time. The
        // bound only protects against a lost completion.
        let expires = now + self.ttl.max(Duration::from_secs(30));
        shard.map.insert(
            key,
            Entry {
                state: State::InProgress,
                expires,
                generation,
            },
        );
        shard.order.push_back((key, generation));
        Begin::New
    }

    /// Finish a request: remember the reply for retransmissions, or forget the request when
    /// there is no reply (so a retransmission is processed again).
    pub fn complete(&self, key: &Key, reply: Option<Arc<[u8]>>, now: Instant) {
        let mut shard = self.shard(key);
        match reply {
            Some(bytes) => {
                let generation = shard.next_generation;
                shard.next_generation += 1;
                shard.map.insert(
                    *key,
                    Entry {
                        state: State::Done(bytes),
                        expires: now + self.ttl,
                        generation,
                    },
                );
                shard.order.push_back((*key, generation));
            }
            None => {
                shard.map.remove(key);
            }
        }
    }

    /// Requests remembered (in progress or answered, not yet evicted).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shard {
    /// Drop expired entries from the front of the queue, and the oldest ones beyond
    /// `capacity`. Queue items whose generation no longer matches are stale and skipped.
    fn expire(&mut self, now: Instant, capacity: usize) {
        // Over capacity, an in-progress request is never evicted (its retransmission would
        // then be processed a second time): it goes to the back of the queue instead. The
        // in-flight limit bounds how many there can be; `rotations` bounds this loop.
        let mut rotations = self.order.len();
        while let Some(&(key, generation)) = self.order.front() {
            let current = self.map.get(&key).map(|e| {
                (
                    e.generation,
                    e.expires,
                    matches!(e.state, State::InProgress),
                )
            });
            match current {
                Some((g, expires, in_progress)) if g == generation => {
                    if expires <= now {
                        self.map.remove(&key);
                        self.order.pop_front();
                    } else if self.map.len() >= capacity && in_progress && rotations > 0 {
                        rotations -= 1;
                        self.order.pop_front();
                        self.order.push_back((key, generation));
                    } else if self.map.len() >= capacity && !in_progress {
                        self.map.remove(&key);
                        self.order.pop_front();
                    } else {
                        break;
                    }
                }
                // Superseded or removed: the queue item is stale.
                _ => {
                    self.order.pop_front();
                }
            }
        }
        // The queue can hold stale items for live keys; keep it bounded too.
        if self.order.len() > capacity.saturating_mul(4) {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_progress_request_is_never_evicted_for_room() {
        let c = DedupCache::new(Duration::from_secs(5), 1);
        let t = Instant::now();
        let first = key(1, 1);
        assert_eq!(c.begin(first, t), Begin::New);
        // A flood of other (answered) requests fills every shard many times over.
        for id in 0..=255u8 {
            for auth in 2..10u8 {
                let k = key(id, auth);
                if c.begin(k, t) == Begin::New {
                    c.complete(&k, Some(Arc::from(&b"reply"[..])), t);
                }
            }
        }
        // The first one is still being processed: its retransmission must not start again.
        assert_eq!(c.begin(first, t), Begin::InProgress);
    }

    fn key(id: u8, auth: u8) -> Key {
        Key {
            source: "127.0.0.1:5000".parse().unwrap(),
            code: 1,
            identifier: id,
            authenticator: [auth; 16],
        }
    }

    #[test]
    fn retransmission_replays_and_new_authenticator_is_new() {
        let c = DedupCache::new(Duration::from_secs(5), 100);
        let t = Instant::now();
        assert_eq!(c.begin(key(1, 1), t), Begin::New);
        assert_eq!(c.begin(key(1, 1), t), Begin::InProgress);
        let reply: Arc<[u8]> = Arc::from(&b"reply"[..]);
        c.complete(&key(1, 1), Some(reply.clone()), t);
        assert_eq!(c.begin(key(1, 1), t), Begin::Replay(reply));
        assert_eq!(
            c.begin(key(1, 2), t),
            Begin::New,
            "same id, new authenticator"
        );
        // Expired.
        assert_eq!(c.begin(key(1, 1), t + Duration::from_secs(6)), Begin::New);
    }

    #[test]
    fn no_reply_is_forgotten() {
        let c = DedupCache::new(Duration::from_secs(5), 100);
        let t = Instant::now();
        assert_eq!(c.begin(key(7, 7), t), Begin::New);
        c.complete(&key(7, 7), None, t);
        assert_eq!(c.begin(key(7, 7), t), Begin::New);
    }

    #[test]
    fn bounded() {
        let c = DedupCache::new(Duration::from_secs(5), 64);
        let t = Instant::now();
        for i in 0..=255u8 {
            for a in 0..8u8 {
                let k = key(i, a);
                assert_eq!(c.begin(k, t), Begin::New);
                c.complete(&k, Some(Arc::from(&[i][..])), t);
            }
        }
        assert!(c.len() <= 64 + SHARDS, "len {}", c.len());
    }
}
