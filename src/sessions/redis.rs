//! The session store shared by every instance, in Redis. Each accounting update and each
//! close is one Lua script (atomic), so two servers applying records for the same user
//! never lose an increment, and a stale session is closed (and its Stop written) by exactly
//! one of them.
//!
//! Keys (prefix `hr:v2:{sess}:`): `s:<uid>` open session (hash: `j` the session as JSON,
//! `t`/`o` its counters, `u` user, `n` NAS-IP, `c` client, `sp`/`sm` its port/MAC slot);
//! `c:<uid>` a closed session (same counters, expires after a day); `u:<user>` and
//! `n:<nas-ip>` sets of open unique ids; `nases` the NAS-IPs with open sessions;
//! `slot:<p|m>|<client>|<nas>|<port or mac>` the session holding a port or MAC; `due` a
//! sorted set of stale deadlines; `q:<user>` usage (hash `ts to d ds do m ms mo f`); `ready`
//! set once the store was rebuilt from `radacct` (absent: Redis is empty or lost its data);
//! `claim:<key>` an automatic action one instance has taken on (expires). `<user>` is the
//! session's [`Session::user_id`]: the username of a global user, `NUL tenant NUL username`
//! for a tenant's ([`user_keys`] makes both keys of a user).
//! Every key carries the one hash tag `{sess}`, so on a Redis Cluster they all live in one
//! slot: each script is atomic over them, and each script names [`ROUTE_KEY`] as its
//! `KEYS[1]`, which routes it to that slot's primary. The price: the whole session store is
//! on one shard (its throughput is one primary's). On a single server or behind Sentinel
//! the tag changes nothing.

use std::net::IpAddr;
use std::time::Duration;

use radius_proto::protocol::AcctStatus;
use redis::{FromRedisValue, Script};

use super::{
    Applied, CLOSED_TTL, Filter, SessionError, SessionStore, StaleRule, UserState, octets,
    oldest_first, session_of,
};
use crate::model::{AcctRecord, Session, Usage};
use crate::store::redis::{RedisEndpoint, client};
use crate::store::{RedisClient, RedisConnection};

/// Key prefix; the version changes whenever the layout does. The `{sess}` hash tag puts
/// every key of the store in one Redis Cluster slot.
pub const PREFIX: &str = "hr:v2:{sess}:";
/// A key of the store's slot, passed as each script's `KEYS[1]` (and used to route `SCAN`)
/// so a cluster runs it on the primary that holds the store.
pub const ROUTE_KEY: &str = "hr:v2:{sess}:due";

/// Lua shared by the scripts: close one open session and remember it as closed. Every
/// script gets KEYS[1] = [`ROUTE_KEY`] (for cluster routing; the keys it touches are built
/// from the prefix and share that key's slot).
const CLOSE_FN: &str = r"
local P = ARGV[1]
local TTL = tonumber(ARGV[2])
local function close(id)
  local k = P .. 's:' .. id
  local h = redis.call('HMGET', k, 'j', 't', 'o', 'u', 'n', 'sp', 'sm')
  if not h[1] then return nil end
  redis.call('DEL', k)
  redis.call('SREM', P .. 'u:' .. h[4], id)
  redis.call('SREM', P .. 'n:' .. h[5], id)
  if redis.call('SCARD', P .. 'n:' .. h[5]) == 0 then redis.call('SREM', P .. 'nases', h[5]) end
  for _, slot in ipairs({h[6], h[7]}) do
    if slot and slot ~= '' and redis.call('GET', P .. 'slot:' .. slot) == id then
      redis.call('DEL', P .. 'slot:' .. slot)
    end
  end
  redis.call('ZREM', P .. 'due', id)
  local c = P .. 'c:' .. id
  redis.call('HSET', c, 'j', h[1], 't', h[2], 'o', h[3])
  redis.call('EXPIRE', c, TTL)
  return h[1]
end
";

/// ARGV: 1 prefix, 2 closed TTL, 3 unique id.
const CLOSE_BODY: &str = r"
return close(ARGV[3])
";

/// ARGV: 1 prefix, 2 closed TTL, 3 NAS-IP, 4 client. Closes that client's sessions on that
/// NAS (Accounting-On/Off); returns how many.
const RESET_BODY: &str = r"
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', P .. 'n:' .. ARGV[3])) do
  if redis.call('HGET', P .. 's:' .. id, 'c') == ARGV[4] then
    if close(id) then n = n + 1 end
  end
end
return n
";

/// ARGV: 1 prefix, 2 closed TTL, 3 status (start|interim|stop), 4 unique id, 5 user,
/// 6 session JSON, 7 session time, 8 octets, 9 deadline, 10 day, 11 month, 12 start time,
/// 13 NAS-IP, 14 client, 15 port slot or '', 16 MAC slot or ''.
/// Returns { usage, replaced session JSON... }: the usage fields [`USAGE_FIELDS`] joined by
/// spaces (a missing field as ''), one bulk string to parse instead of a field/value list.
const APPLY_BODY: &str = r"
local status, uid, user, json = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local nt, no = tonumber(ARGV[7]), tonumber(ARGV[8])
local skey, ckey, q = P .. 's:' .. uid, P .. 'c:' .. uid, P .. 'q:' .. user
local function fmt(x) return string.format('%.0f', x) end
local held = redis.call('HMGET', skey, 't', 'o')
local open = held[1] ~= false
if not open then
  held = redis.call('HMGET', ckey, 't', 'o')
  if not held[1] then held = nil end
end
local closed = (not open) and held ~= nil
local ht, ho = 0, 0
if held then ht, ho = tonumber(held[1]), tonumber(held[2]) end
local newer = (held == nil) or (nt >= ht and no >= ho)
local dt, dob = 0, 0
if newer then dt, dob = math.max(nt - ht, 0), math.max(no - ho, 0) end
local moved = dt > 0 or dob > 0
local cur = redis.call('HMGET', q, 'd', 'm', 'f')
local cd, cm, first = tonumber(cur[1] or '0'), tonumber(cur[2] or '0'), tonumber(cur[3] or '')
local day, month, st = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
if moved then
  redis.call('HINCRBY', q, 'ts', fmt(dt))
  redis.call('HINCRBY', q, 'to', fmt(dob))
end
local set = {}
if day > cd then
  for _, v in ipairs({'d', ARGV[10], 'ds', fmt(dt), 'do', fmt(dob)}) do table.insert(set, v) end
elseif day == cd and moved then
  redis.call('HINCRBY', q, 'ds', fmt(dt))
  redis.call('HINCRBY', q, 'do', fmt(dob))
end
if month > cm then
  for _, v in ipairs({'m', ARGV[11], 'ms', fmt(dt), 'mo', fmt(dob)}) do table.insert(set, v) end
elseif month == cm and moved then
  redis.call('HINCRBY', q, 'ms', fmt(dt))
  redis.call('HINCRBY', q, 'mo', fmt(dob))
end
if (status == 'start' or first == nil) and (first == nil or st < first) then
  table.insert(set, 'f')
  table.insert(set, ARGV[12])
end
if #set > 0 then redis.call('HSET', q, unpack(set)) end
local replaced = {}
if status == 'stop' then
  if open then close(uid) end
  if newer or redis.call('EXISTS', ckey) == 0 then
    redis.call('HSET', ckey, 'j', json, 't', ARGV[7], 'o', ARGV[8])
  end
  redis.call('EXPIRE', ckey, TTL)
elseif closed then
  if newer then redis.call('HSET', ckey, 'j', json, 't', ARGV[7], 'o', ARGV[8]) end
elseif open and not newer then
  redis.call('ZADD', P .. 'due', 'GT', ARGV[9], uid)
elseif open then
  -- An Interim of a session already indexed: its counters and deadline only.
  redis.call('HSET', skey, 'j', json, 't', ARGV[7], 'o', ARGV[8])
  redis.call('ZADD', P .. 'due', ARGV[9], uid)
else
  for _, slot in ipairs({ARGV[15], ARGV[16]}) do
    if slot ~= '' then
      local other = redis.call('GET', P .. 'slot:' .. slot)
      if other and other ~= uid then
        local j = close(other)
        if j then table.insert(replaced, j) end
      end
    end
  end
  redis.call('HSET', skey, 'j', json, 't', ARGV[7], 'o', ARGV[8], 'u', user, 'n', ARGV[13],
    'c', ARGV[14], 'sp', ARGV[15], 'sm', ARGV[16])
  redis.call('SADD', P .. 'u:' .. user, uid)
  redis.call('SADD', P .. 'n:' .. ARGV[13], uid)
  redis.call('SADD', P .. 'nases', ARGV[13])
  for _, slot in ipairs({ARGV[15], ARGV[16]}) do
    if slot ~= '' then redis.call('SET', P .. 'slot:' .. slot, uid) end
  end
  redis.call('ZADD', P .. 'due', ARGV[9], uid)
end
local u = redis.call('HMGET', q, 'ts', 'to', 'd', 'ds', 'do', 'm', 'ms', 'mo', 'f')
for i = 1, 9 do if not u[i] then u[i] = '' end end
table.insert(replaced, 1, table.concat(u, ' '))
return replaced
";

/// How long a rebuild may hold the rebuild lock.
const LOAD_LOCK_SECS: u64 = 300;

/// The open-session set and usage hash keys of a user, `user` a [`Session::user_id`]
/// (the scripts build the same keys from the `u` field: `P .. 'u:' .. user`).
fn user_keys(user: &str) -> (String, String) {
    (format!("{PREFIX}u:{user}"), format!("{PREFIX}q:{user}"))
}

/// The port and MAC slots of a session (the lost-Stop rule's keys).
fn slot_keys(s: &Session) -> (String, String) {
    let port = s
        .nas_port
        .map(|p| format!("p|{}|{}|{p}", s.client, s.nas_ip))
        .unwrap_or_default();
    let mac = s
        .mac
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!("m|{}|{}|{}", s.client, s.nas_ip, m.to_ascii_lowercase()))
        .unwrap_or_default();
    (port, mac)
}

/// The fields of a usage hash, in the order the scripts and [`usage_from`] use.
const USAGE_FIELDS: [&str; 9] = ["ts", "to", "d", "ds", "do", "m", "ms", "mo", "f"];

/// Usage from the values of [`USAGE_FIELDS`], in that order (missing: `None` or empty,
/// read as zero / no first login, like an unparsable value).
fn usage_from<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Usage {
    let mut u = Usage::default();
    for (k, v) in USAGE_FIELDS.iter().zip(values) {
        let Some(v) = v else { continue };
        let n: u64 = v.parse().unwrap_or(0);
        match *k {
            "ts" => u.total_seconds = n,
            "to" => u.total_octets = n,
            "d" => u.day = u32::try_from(n).unwrap_or(0),
            "ds" => u.day_seconds = n,
            "do" => u.day_octets = n,
            "m" => u.month = u32::try_from(n).unwrap_or(0),
            "ms" => u.month_seconds = n,
            "mo" => u.month_octets = n,
            "f" => u.first_login = v.parse().ok(),
            _ => {}
        }
    }
    u
}

/// The session store in Redis.
#[derive(Clone)]
pub struct RedisSessions {
    conn: RedisConnection,
    timeout: Duration,
    apply: std::sync::Arc<Script>,
    close: std::sync::Arc<Script>,
    reset: std::sync::Arc<Script>,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Creates the store for a plain URL (no certificate files) without connecting
    /// (first use connects). Must run inside tokio.
    pub fn connect_lazy(url: &str, timeout: Duration) -> Result<Self, SessionError> {
        Self::with_client(client(&RedisEndpoint::url(url))?, timeout)
    }

    /// Creates the store over `client` (from [`client`], which the server and the CLI
    /// build from the config) without connecting. Must run inside tokio.
    pub fn with_client(client: RedisClient, timeout: Duration) -> Result<Self, SessionError> {
        let conn = client.connect_lazy(timeout)?;
        let script = |body: &str| std::sync::Arc::new(Script::new(&format!("{CLOSE_FN}{body}")));
        Ok(Self {
            conn,
            timeout,
            apply: script(APPLY_BODY),
            close: script(CLOSE_BODY),
            reset: script(RESET_BODY),
        })
    }

    async fn timed<T>(
        &self,
        f: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(SessionError::Timeout),
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, SessionError> {
        let mut conn = self.conn.clone();
        self.timed(cmd.query_async(&mut conn)).await
    }

    async fn pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, SessionError> {
        let mut conn = self.conn.clone();
        self.timed(pipe.query_async(&mut conn)).await
    }

    fn parse(json: &str) -> Result<Session, SessionError> {
        serde_json::from_str(json).map_err(|e| SessionError::Corrupt(e.to_string()))
    }

    async fn sessions(&self, uids: &[String]) -> Result<Vec<Session>, SessionError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for uid in uids {
            pipe.hget(format!("{PREFIX}s:{uid}"), "j");
        }
        let found: Vec<Option<String>> = self.pipe(&pipe).await?;
        found.iter().flatten().map(|j| Self::parse(j)).collect()
    }
}

impl SessionStore for RedisSessions {
    async fn apply(
        &self,
        record: &AcctRecord,
        periods: (u32, u32),
        deadline: i64,
    ) -> Result<Applied, SessionError> {
        let mut conn = self.conn.clone();
        let status = match record.status {
            AcctStatus::Start => "start",
            AcctStatus::InterimUpdate => "interim",
            AcctStatus::Stop => "stop",
            AcctStatus::AccountingOn | AcctStatus::AccountingOff => {
                let mut inv = self.reset.prepare_invoke();
                inv.key(ROUTE_KEY)
                    .arg(PREFIX)
                    .arg(CLOSED_TTL)
                    .arg(record.nas_ip.to_string())
                    .arg(record.client.to_string());
                let n: usize = self.timed(inv.invoke_async(&mut conn)).await?;
                return Ok(Applied {
                    nas_reset: n,
                    ..Applied::default()
                });
            }
            AcctStatus::Unknown(_) => return Ok(Applied::default()),
        };
        let session = session_of(record);
        let json =
            serde_json::to_string(&session).map_err(|e| SessionError::Corrupt(e.to_string()))?;
        let (port, mac) = slot_keys(&session);
        let mut inv = self.apply.prepare_invoke();
        inv.key(ROUTE_KEY)
            .arg(PREFIX)
            .arg(CLOSED_TTL)
            .arg(status)
            .arg(&session.unique_id)
            .arg(session.user_id().as_ref())
            .arg(json)
            .arg(session.session_time)
            .arg(octets(&session))
            .arg(deadline)
            .arg(periods.0)
            .arg(periods.1)
            .arg(session.start)
            .arg(session.nas_ip.to_string())
            .arg(session.client.to_string())
            .arg(port)
            .arg(mac);
        let reply: Vec<String> = self.timed(inv.invoke_async(&mut conn)).await?;
        let Some((usage, replaced)) = reply.split_first() else {
            return Err(SessionError::Corrupt("empty apply reply".into()));
        };
        Ok(Applied {
            replaced: replaced
                .iter()
                .map(|j| Self::parse(j))
                .collect::<Result<_, _>>()?,
            nas_reset: 0,
            usage: usage_from(usage.split(' ').map(Some)),
        })
    }

    async fn user_state(&self, username: &str) -> Result<UserState, SessionError> {
        let (open_key, usage_key) = user_keys(username);
        let mut pipe = redis::pipe();
        pipe.scard(open_key).hmget(usage_key, &USAGE_FIELDS);
        let (open, usage): (u32, Vec<Option<String>>) = self.pipe(&pipe).await?;
        Ok(UserState {
            open,
            usage: usage_from(usage.iter().map(Option::as_deref)),
        })
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Session>, SessionError> {
        let uids: Vec<String> = if let Some(user) = &filter.user {
            self.query(redis::cmd("SMEMBERS").arg(user_keys(user).0))
                .await?
        } else {
            let nases: Vec<String> = match filter.nas {
                Some(ip) => vec![ip.to_string()],
                None => {
                    self.query(redis::cmd("SMEMBERS").arg(format!("{PREFIX}nases")))
                        .await?
                }
            };
            let mut pipe = redis::pipe();
            for nas in &nases {
                pipe.smembers(format!("{PREFIX}n:{nas}"));
            }
            let sets: Vec<Vec<String>> = if nases.is_empty() {
                Vec::new()
            } else {
                self.pipe(&pipe).await?
            };
            sets.into_iter().flatten().collect()
        };
        let mut out: Vec<Session> = self
            .sessions(&uids)
            .await?
            .into_iter()
            .filter(|s| filter.matches(s))
            .collect();
        oldest_first(&mut out);
        Ok(out)
    }

    async fn due(&self, now: i64, limit: usize) -> Result<Vec<String>, SessionError> {
        self.query(
            redis::cmd("ZRANGEBYSCORE")
                .arg(format!("{PREFIX}due"))
                .arg("-inf")
                .arg(now)
                .arg("LIMIT")
                .arg(0)
                .arg(limit),
        )
        .await
    }

    async fn close(&self, unique_id: &str, _now: i64) -> Result<Option<Session>, SessionError> {
        let mut conn = self.conn.clone();
        let mut inv = self.close.prepare_invoke();
        inv.key(ROUTE_KEY)
            .arg(PREFIX)
            .arg(CLOSED_TTL)
            .arg(unique_id);
        let json: Option<String> = self.timed(inv.invoke_async(&mut conn)).await?;
        json.as_deref().map(Self::parse).transpose()
    }

    async fn online_per_nas(&self) -> Result<Vec<(IpAddr, u64)>, SessionError> {
        let nases: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(format!("{PREFIX}nases")))
            .await?;
        if nases.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for nas in &nases {
            pipe.scard(format!("{PREFIX}n:{nas}"));
        }
        let counts: Vec<u64> = self.pipe(&pipe).await?;
        let mut out: Vec<(IpAddr, u64)> = nases
            .iter()
            .zip(counts)
            .filter_map(|(n, c)| Some((n.parse().ok()?, c)))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn claim(&self, key: &str, ttl_secs: u64) -> Result<bool, SessionError> {
        let got: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(format!("{PREFIX}claim:{key}"))
                    .arg("1")
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl_secs.max(1)),
            )
            .await?;
        Ok(got.is_some())
    }

    async fn is_loaded(&self) -> Result<bool, SessionError> {
        self.query(redis::cmd("EXISTS").arg(format!("{PREFIX}ready")))
            .await
    }

    async fn load(
        &self,
        sessions: Vec<Session>,
        usage: Vec<(String, Usage)>,
        stale: StaleRule,
    ) -> Result<(), SessionError> {
        let lock = format!("{PREFIX}loading");
        let got: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(&lock)
                    .arg("1")
                    .arg("NX")
                    .arg("EX")
                    .arg(LOAD_LOCK_SECS),
            )
            .await?;
        if got.is_none() {
            // Another instance is rebuilding: its result is the same data.
            return Ok(());
        }
        // Drop whatever partial state is left (keys of this layout only).
        let mut cursor: u64 = 0;
        loop {
            // On a cluster, the SCAN runs on the primary of the store's slot.
            let mut conn = self.conn.clone();
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .to_owned();
            let (next, keys): (u64, Vec<String>) =
                self.timed(conn.query_at(ROUTE_KEY, &scan)).await?;
            let keys: Vec<&String> = keys.iter().filter(|k| **k != lock).collect();
            if !keys.is_empty() {
                let _: () = self.query(redis::cmd("UNLINK").arg(keys)).await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for chunk in sessions.chunks(500) {
            let mut pipe = redis::pipe();
            for s in chunk {
                let json =
                    serde_json::to_string(s).map_err(|e| SessionError::Corrupt(e.to_string()))?;
                let (port, mac) = slot_keys(s);
                let uid = &s.unique_id;
                let nas = s.nas_ip.to_string();
                pipe.hset_multiple(
                    format!("{PREFIX}s:{uid}"),
                    &[
                        ("j", json),
                        ("t", s.session_time.to_string()),
                        ("o", octets(s).to_string()),
                        ("u", s.user_id().into_owned()),
                        ("n", nas.clone()),
                        ("c", s.client.to_string()),
                        ("sp", port.clone()),
                        ("sm", mac.clone()),
                    ],
                )
                .ignore()
                .sadd(user_keys(&s.user_id()).0, uid)
                .ignore()
                .sadd(format!("{PREFIX}n:{nas}"), uid)
                .ignore()
                .sadd(format!("{PREFIX}nases"), &nas)
                .ignore()
                .zadd(format!("{PREFIX}due"), uid, stale.deadline(s))
                .ignore();
                for slot in [port, mac] {
                    if !slot.is_empty() {
                        pipe.set(format!("{PREFIX}slot:{slot}"), uid).ignore();
                    }
                }
            }
            let () = self.pipe(&pipe).await?;
        }
        for chunk in usage.chunks(1000) {
            let mut pipe = redis::pipe();
            for (user, u) in chunk {
                let mut fields = vec![
                    ("ts", u.total_seconds.to_string()),
                    ("to", u.total_octets.to_string()),
                    ("d", u.day.to_string()),
                    ("ds", u.day_seconds.to_string()),
                    ("do", u.day_octets.to_string()),
                    ("m", u.month.to_string()),
                    ("ms", u.month_seconds.to_string()),
                    ("mo", u.month_octets.to_string()),
                ];
                if let Some(f) = u.first_login {
                    fields.push(("f", f.to_string()));
                }
                pipe.hset_multiple(user_keys(user).1, &fields).ignore();
            }
            let () = self.pipe(&pipe).await?;
        }
        let mut pipe = redis::pipe();
        pipe.set(format!("{PREFIX}ready"), "1")
            .ignore()
            .del(&lock)
            .ignore();
        let () = self.pipe(&pipe).await?;
        Ok(())
    }
}
