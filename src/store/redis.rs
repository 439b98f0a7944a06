//! L2 tier: user rows shared by every instance through Redis.
//!
//! Redis is an accelerator, never a dependency of the answer: any failure (down, slow,
//! refused) is logged once per outage, counted, and the caller falls through to
//! PostgreSQL. While Redis is known to be down, only one probe per second is sent, so an
//! outage costs the packet path nothing.
//!
//! [`client`] (in `redis_conn`) is the one place a Redis client is made (this tier, the
//! session store and the CLI all use it), so the topology (single server, Sentinel,
//! Cluster) and `rediss://` with a private CA or a client certificate work the same
//! everywhere.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;
use super::redis_conn::{RedisClient, RedisConnection};
use crate::metrics::{self as m, L2_REFUSED_TOTAL, REDIS_ERRORS_TOTAL, REDIS_UP};
use crate::model::UserRows;
use crate::outage::Outage;

/// Key prefix; the version changes whenever the cached value format does.
pub const KEY_PREFIX: &str = "hr:v3:user:";
/// The L2 generation: every value carries the generation it was written under, and only
/// values of the current generation are used. INCR is an O(1) flush of every instance's
/// L2, run whenever change notifications may have been missed.
pub const GENERATION_KEY: &str = "hr:v2:generation";

/// How long to skip Redis after a failure before probing again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The Redis key holding `username`'s rows. `username` is a [`crate::tenants::scoped`]
/// key: a global user's is its name (the key is the same as before tenants existed); a
/// tenant's carries the tenant, and the value's signature covers it, so a value copied from
/// one tenant's key to another's is refused.
pub fn user_key(username: &str) -> String {
    format!("{KEY_PREFIX}{username}")
}

/// What L2 holds for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The user's rows.
    Found(UserRows),
    /// The user does not exist (negative entry, shorter TTL).
    NotFound,
}

/// The L2 generation a lookup saw; a value loaded after that lookup is written under it,
/// so a flush that happens between the lookup and the write makes the write useless
/// rather than stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(Option<u64>);

/// HMAC-SHA1 tag length, bytes.
const TAG_LEN: usize = 20;

/// The key L2 values are signed with. Redis is a cache, not an authority: a value is used
/// only if it carries a tag made with this key over the username, the generation and
/// the rows, so an entry planted by anyone who can write to Redis (or copied from one
/// user's key to another's) is refused. The servers sharing an L2 share this key (it
/// lives in PostgreSQL; see `PgStore::l2_signing_key`).
#[derive(Clone)]
pub struct SigningKey(std::sync::Arc<[u8]>);

impl SigningKey {
    /// A key from its bytes.
    pub fn new(key: &[u8]) -> Self {
        Self(key.into())
    }

    /// A random key of this process only (values written with it are readable by no other
    /// instance: safe, just not shared).
    pub fn random() -> Self {
        let key: [u8; 32] = rand::random();
        Self::new(&key)
    }

    fn tag(&self, username: &str, generation: u64, json: &[u8]) -> [u8; TAG_LEN] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        // Length-prefixed fields: no two (username, generation, json) share a message.
        mac.update(
            &u64::try_from(username.len())
                .unwrap_or(u64::MAX)
                .to_be_bytes(),
        );
        mac.update(username.as_bytes());
        mac.update(&generation.to_be_bytes());
        mac.update(json);
        mac.finalize().into_bytes().into()
    }

    /// `<generation>\n<tag>\n<json>`.
    fn seal(&self, username: &str, generation: u64, json: &[u8]) -> Vec<u8> {
        let tag = self.tag(username, generation, json);
        let mut value = Vec::with_capacity(json.len() + 64);
        value.extend_from_slice(generation.to_string().as_bytes());
        value.push(b'\n');
        for b in tag {
            value.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        value.push(b'\n');
        value.extend_from_slice(json);
        value
    }

    /// The (generation, json) of a value whose tag verifies, else `None`.
    fn open<'v>(&self, username: &str, value: &'v [u8]) -> Option<(u64, &'v [u8])> {
        let nl = value.iter().position(|b| *b == b'\n')?;
        let (head, rest) = value.split_at(nl);
        let generation: u64 = std::str::from_utf8(head).ok()?.parse().ok()?;
        let rest = rest.get(1..)?;
        let hex = rest.get(..TAG_LEN * 2)?;
        if rest.get(TAG_LEN * 2) != Some(&b'\n') {
            return None;
        }
        let json = rest.get(TAG_LEN * 2 + 1..)?;
        let mut tag = [0u8; TAG_LEN];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            tag[i] = u8::from_str_radix(text, 16).ok()?;
        }
        let expected = self.tag(username, generation, json);
        // Constant time: the comparison must not tell a forger how close it got.
        let same = subtle::ConstantTimeEq::ct_eq(&tag[..], &expected[..]);
        bool::from(same).then_some((generation, json))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Where Redis is and how to trust it: the URL, and for `rediss://` the PEM files of the
/// CA that signed the server's certificate (default: the system trust store) and of a
/// client certificate and key (mutual TLS).
#[derive(Debug, Clone, Copy)]
pub struct RedisEndpoint<'a> {
    /// `redis://`, `rediss://`, `redis+unix://`, `unix://`, `redis[s]+sentinel://` or
    /// `redis[s]+cluster://` URL (see [`super::Topology`]).
    pub url: &'a str,
    /// CA certificate(s) to verify the server with, instead of the system's.
    pub ca_file: Option<&'a Path>,
    /// Client certificate (chain) presented to the server; needs `key_file`.
    pub cert_file: Option<&'a Path>,
    /// The client certificate's private key.
    pub key_file: Option<&'a Path>,
}

impl<'a> RedisEndpoint<'a> {
    /// Just a URL: no certificate files.
    pub fn url(url: &'a str) -> Self {
        Self {
            url,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

pub use super::redis_conn::client;

/// Timeouts and TTLs of the L2 tier.
#[derive(Debug, Clone, Copy)]
pub struct RedisSettings {
    /// TTL of a found user.
    pub ttl: Duration,
    /// TTL of a "not found" entry.
    pub negative_ttl: Duration,
    /// Bound on each Redis operation (connect + command).
    pub timeout: Duration,
}

/// Outage tracking: warn once per outage, probe at most once per [`RETRY_AFTER`].
#[derive(Debug)]
struct Health {
    base: Instant,
    outage: Outage,
    /// Milliseconds since `base` before which Redis is not tried (while down).
    retry_at_ms: AtomicU64,
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether to try Redis now. While down, lets one caller through per RETRY_AFTER.
    fn should_try(&self) -> bool {
        if !self.outage.is_down() {
            return true;
        }
        let now = self.now_ms();
        let at = self.retry_at_ms.load(Ordering::Acquire);
        now >= at
            && self
                .retry_at_ms
                .compare_exchange(
                    at,
                    now + RETRY_AFTER.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    fn failed(&self, op: &'static str, err: &dyn std::fmt::Display) {
        if self.failed_quietly(op) {
            tracing::warn!(error = %err, op, "Redis unavailable; using PostgreSQL until it recovers");
        }
    }

    /// Records a failure without logging it; `true` when it starts an outage.
    fn failed_quietly(&self, op: &'static str) -> bool {
        m::inc(REDIS_ERRORS_TOTAL, &[("op", op)], 1);
        self.retry_at_ms.store(
            self.now_ms() + RETRY_AFTER.as_millis() as u64,
            Ordering::Release,
        );
        let started = self.outage.failed();
        if started {
            m::gauge_set(REDIS_UP, 0.0);
        }
        started
    }

    fn succeeded(&self) {
        if self.outage.recovered() {
            m::gauge_set(REDIS_UP, 1.0);
            tracing::info!("Redis recovered");
        }
    }
}

/// The L2 cache over one multiplexed, auto-reconnecting connection (any topology).
#[derive(Clone)]
pub struct RedisTier {
    conn: RedisConnection,
    settings: RedisSettings,
    health: std::sync::Arc<Health>,
    /// A flush (generation bump) was asked for and not made yet.
    flush_pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Signs what this tier writes and checks what it reads.
    key: SigningKey,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("settings", &self.settings)
            .field("down", &self.health.outage.is_down())
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// Creates the tier for a plain URL (no certificate files); see
    /// [`RedisTier::with_client`].
    pub fn connect_lazy(url: &str, settings: RedisSettings) -> Result<Self, StoreError> {
        Self::with_client(client(&RedisEndpoint::url(url))?, settings)
    }

    /// Creates the tier over `client` (from [`client`]) without connecting (the
    /// connection is made on first use, so a Redis that is down at start-up only means L2
    /// misses). Must run inside tokio.
    pub fn with_client(client: RedisClient, settings: RedisSettings) -> Result<Self, StoreError> {
        let conn = client.connect_lazy(settings.timeout)?;
        m::gauge_set(REDIS_UP, 1.0);
        Ok(Self {
            conn,
            settings,
            health: std::sync::Arc::new(Health {
                base: Instant::now(),
                outage: Outage::new(),
                retry_at_ms: AtomicU64::new(0),
            }),
            flush_pending: std::sync::Arc::default(),
            key: SigningKey::random(),
        })
    }

    /// Signs and checks values with `key`, the one every instance sharing this Redis uses
    /// (without it, a random key of this process: nothing is shared).
    #[must_use]
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.key = key;
        self
    }

    /// Whether the last Redis operation failed (an outage is in progress).
    pub fn is_down(&self) -> bool {
        self.health.outage.is_down()
    }

    /// Sends a PING (the start-up check). A failure starts an outage without logging it
    /// (the caller says what it means), so the first request does not log it again.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("PING");
        let err =
            match tokio::time::timeout(self.settings.timeout, cmd.query_async::<()>(&mut conn))
                .await
            {
                Ok(Ok(())) => {
                    self.health.succeeded();
                    return Ok(());
                }
                Ok(Err(e)) => StoreError::Redis(e),
                Err(_) => StoreError::RedisTimeout(self.settings.timeout),
            };
        self.health.failed_quietly("ping");
        Err(err)
    }

    /// Runs one command with the overall timeout and outage bookkeeping. `None` on any
    /// failure (already logged/counted) or while Redis is known to be down.
    async fn run<T: redis::FromRedisValue>(&self, op: &'static str, cmd: redis::Cmd) -> Option<T> {
        if !self.health.should_try() {
            return None;
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.settings.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.health.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.health.failed(op, &e);
                None
            }
            Err(_) => {
                self.health.failed(op, &"timed out");
                None
            }
        }
    }

    /// Looks a user up (one round trip: the value and the current generation). The entry
    /// is `None` on a miss, an entry of an older generation, an unreadable entry, Redis
    /// unavailable, or a flush that could not be made yet; the generation is what a later
    /// [`RedisTier::put`] of this user must carry.
    pub async fn get(&self, username: &str) -> (Option<Cached>, Generation) {
        if self.flush_pending.load(Ordering::Acquire) && !self.flush().await {
            return (None, Generation(None));
        }
        let mut cmd = redis::cmd("MGET");
        cmd.arg(user_key(username)).arg(GENERATION_KEY);
        let Some((value, current)) = self.run::<(Option<Vec<u8>>, Option<u64>)>("get", cmd).await
        else {
            return (None, Generation(None));
        };
        let current = current.unwrap_or(0);
        let cached = value
            .as_deref()
            .and_then(|v| {
                let opened = self.key.open(username, v);
                if opened.is_none() {
                    // Unsigned, signed with another key, or for another user: planted,
                    // or written by an instance that does not share this key.
                    m::inc(L2_REFUSED_TOTAL, &[], 1);
                }
                opened
            })
            .and_then(|(g, json)| {
                if g != current {
                    return None;
                }
                match serde_json::from_slice::<Option<UserRows>>(json) {
                    Ok(Some(rows)) => Some(Cached::Found(rows)),
                    Ok(None) => Some(Cached::NotFound),
                    Err(_) => None,
                }
            });
        (cached, Generation(Some(current)))
    }

    /// Stores a user (or a "not found" entry) with its TTL under `generation` (from the
    /// `get` that missed). Failures are only counted.
    pub async fn put(&self, username: &str, rows: Option<&UserRows>, generation: Generation) {
        let Generation(Some(generation)) = generation else {
            return;
        };
        let Ok(json) = serde_json::to_vec(&rows) else {
            return;
        };
        let value = self.key.seal(username, generation, &json);
        let ttl = if rows.is_some() {
            self.settings.ttl
        } else {
            self.settings.negative_ttl
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(user_key(username))
            .arg(value)
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let _: Option<()> = self.run("set", cmd).await;
    }

    /// Deletes these users' entries (one command).
    pub async fn delete(&self, usernames: &[String]) {
        for chunk in usernames.chunks(500) {
            let mut cmd = redis::cmd("DEL");
            for name in chunk {
                cmd.arg(user_key(name));
            }
            let _: Option<i64> = self.run("del", cmd).await;
        }
    }

    /// Invalidates every instance's L2 at once (INCR of the generation). If Redis cannot
    /// be reached, the flush stays pending and L2 is not used until it is made: an entry
    /// from before missed notifications is never served. `true` once made.
    pub async fn flush(&self) -> bool {
        self.flush_pending.store(true, Ordering::Release);
        let mut cmd = redis::cmd("INCR");
        cmd.arg(GENERATION_KEY);
        if self.run::<i64>("flush", cmd).await.is_some() {
            self.flush_pending.store(false, Ordering::Release);
            return true;
        }
        false
    }

    /// Deletes every user entry (bounded SCAN + DEL); used on `flush` notifications. On
    /// a Redis Cluster only the generation is bumped (a `SCAN` sees one node): the old
    /// entries are unusable at once and expire with their TTL.
    pub async fn delete_all(&self) {
        self.flush().await;
        if self.conn.is_cluster() {
            return;
        }
        let mut cursor: u64 = 0;
        // Bounded: at most 10,000 SCAN pages of up to 1,000 keys.
        for _ in 0..10_000 {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(format!("{KEY_PREFIX}*"))
                .arg("COUNT")
                .arg(1000);
            let Some((next, keys)) = self.run::<(u64, Vec<Vec<u8>>)>("scan", cmd).await else {
                return;
            };
            if !keys.is_empty() {
                let mut del = redis::cmd("DEL");
                for k in &keys {
                    del.arg(k.as_slice());
                }
                let _: Option<i64> = self.run("del", del).await;
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}
