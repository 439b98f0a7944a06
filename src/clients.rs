//! The NAS table: which source addresses may talk to us, with which shared secret.
//!
//! Built from the config file's `[[nas]]` entries and the `nas` table (IP or CIDR), into an
//! immutable [`ClientTable`] that is swapped whole (via [`Clients`]) when either source
//! changes. A lookup is one `HashMap` probe for exact addresses, then a walk over the CIDR
//! networks from most to least specific. On a tie (same network in both sources) the config
//! file wins. Unknown sources are dropped by the server before any parsing.
//!
//! The `auto` Message-Authenticator latch is per router source address. A latch that trips
//! for the first time is handed to a [`LatchLog`] (a writer task in `app` records it in
//! `nas_ma_latch`); a rebuild given the recorded addresses ([`Clients::rebuild_latched`])
//! pre-latches them, so the latch survives restarts and is shared by every instance.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use ipnet::IpNet;

use crate::config::{MessageAuthenticatorPolicy, NasConfig, parse_network};
use crate::model::NasRow;
use radius_proto::protocol::{Secret, Signer};

/// Where a client definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// A `[[nas]]` entry of the config file.
    Config,
    /// A row of the `nas` table.
    Database,
}

/// Traffic seen from one client entry, for the status page. Two relaxed atomic writes per
/// request (no lock, no allocation); kept across NAS-table rebuilds for an unchanged
/// network, so a reload does not reset them.
#[derive(Debug)]
pub struct NasCounters {
    /// Requests received (any code, after the client lookup).
    requests: AtomicU64,
    /// Access-Rejects sent.
    rejects: AtomicU64,
    /// Unix seconds of the last request (0: none yet).
    last_seen: AtomicI64,
    /// Unix seconds when counting began.
    since: i64,
    /// User lookups past the in-process cache now waiting ([`Client::begin_miss`]).
    misses: AtomicUsize,
}

impl NasCounters {
    fn new() -> Self {
        Self {
            requests: AtomicU64::new(0),
            rejects: AtomicU64::new(0),
            last_seen: AtomicI64::new(0),
            since: unix_now(),
            misses: AtomicUsize::new(0),
        }
    }

    /// A request arrived (now).
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_seen.store(unix_now(), Ordering::Relaxed);
    }

    /// An Access-Reject was sent.
    pub fn reject(&self) {
        self.rejects.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Access-Rejects so far.
    pub fn rejects(&self) -> u64 {
        self.rejects.load(Ordering::Relaxed)
    }

    /// Unix seconds of the last request, if any.
    pub fn last_seen(&self) -> Option<i64> {
        Some(self.last_seen.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    /// Unix seconds when counting began (the entry was first defined).
    pub fn since(&self) -> i64 {
        self.since
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One place of a bounded count (a NAS's waiting misses, the slow-hash queue), given back
/// when dropped.
#[derive(Debug)]
pub struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    /// A place if fewer than `max` are taken, else `None` (and the count is unchanged).
    pub fn take(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        if count.fetch_add(1, Ordering::Relaxed) >= max {
            count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self(count))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One RADIUS client (a NAS, or a network of them sharing a secret).
#[derive(Debug)]
pub struct Client {
    /// The network this entry covers (a host network for a single address).
    pub network: IpNet,
    /// Name for logs, the status page and the per-NAS series (`nas` label) of `/metrics`.
    pub name: String,
    /// The shared secret, prepared for signing and verification (built once per entry).
    signer: Signer,
    /// CoA / Disconnect port on the NAS.
    pub coa_port: u16,
    /// Message-Authenticator policy for Access-Requests.
    pub policy: MessageAuthenticatorPolicy,
    /// Where this definition came from.
    pub source: ClientSource,
    /// The tenant of this NAS (`None`: global): its requests see that tenant's users and
    /// groups, and its sessions and accounting rows are the tenant's. Shared, so the packet
    /// path never copies it.
    pub tenant: Option<Arc<str>>,
    /// `auto` policy: a Message-Authenticator has been seen from this client.
    ma_seen: AtomicBool,
    /// `auto` policy on a network entry: the source addresses that sent one. The latch is
    /// per router, so the first RouterOS 7.15+ router in a range does not make every older
    /// router of that range be dropped.
    ma_seen_from: RwLock<HashSet<IpAddr>>,
    /// Traffic counters (shared with the entry this one replaced, if any).
    counters: Arc<NasCounters>,
    /// Where a first trip of the latch is reported, to be persisted.
    latch_log: Option<Arc<LatchLog>>,
}

impl Client {
    /// A client definition.
    pub fn new(
        network: IpNet,
        name: String,
        secret: Secret,
        coa_port: u16,
        policy: MessageAuthenticatorPolicy,
        source: ClientSource,
    ) -> Self {
        Self {
            network,
            name,
            signer: Signer::new(secret.expose()),
            coa_port,
            policy,
            source,
            tenant: None,
            ma_seen: AtomicBool::new(false),
            ma_seen_from: RwLock::new(HashSet::new()),
            counters: Arc::new(NasCounters::new()),
            latch_log: None,
        }
    }

    /// This entry, of `tenant` (`None`: global).
    #[must_use]
    pub fn with_tenant(mut self, tenant: Option<&str>) -> Self {
        self.tenant = tenant.map(Arc::from);
        self
    }

    /// The tenant of this NAS, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// This entry as a RadSec connection speaks for it (RFC 6614 §2.3): the same name,
    /// network, counters and miss budget, but `secret` (the fixed `radsec`) instead of the
    /// entry's, and no Message-Authenticator required on Access-Requests (TLS protects
    /// them; one is still verified when present).
    pub fn radsec_view(&self, secret: &str) -> Self {
        let mut view = Self::new(
            self.network,
            self.name.clone(),
            Secret::from(secret),
            self.coa_port,
            MessageAuthenticatorPolicy::Off,
            self.source,
        );
        view.counters = Arc::clone(&self.counters);
        view.tenant = self.tenant.clone();
        view
    }

    /// Traffic seen from this entry.
    pub fn counters(&self) -> &NasCounters {
        &self.counters
    }

    /// Takes one of this entry's `max` slots for a user lookup past the in-process cache,
    /// held until the returned guard is dropped; `None` when all are taken (a flood of
    /// unknown usernames from this NAS must not take every worker slot and database
    /// connection from the others). One relaxed atomic add; the slots live in the
    /// counters, so a NAS-table rebuild does not hand out a fresh set while lookups wait.
    pub fn begin_miss(&self, max: usize) -> Option<Slot<'_>> {
        Slot::take(&self.counters.misses, max)
    }

    /// The shared secret as a [`Signer`]: verifies this client's requests and signs our
    /// replies.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Whether the entry covers a single address (a host) rather than a network.
    fn is_host(&self) -> bool {
        self.network.prefix_len() == self.network.max_prefix_len()
    }

    /// Whether an Access-Request from `source` without a Message-Authenticator must be
    /// dropped.
    pub fn requires_message_authenticator(&self, source: IpAddr) -> bool {
        match self.policy {
            MessageAuthenticatorPolicy::Require => true,
            MessageAuthenticatorPolicy::Auto if self.is_host() => {
                self.ma_seen.load(Ordering::Relaxed)
            }
            MessageAuthenticatorPolicy::Auto => self
                .ma_seen_from
                .read()
                .map(|seen| seen.contains(&source.to_canonical()))
                .unwrap_or(true),
            MessageAuthenticatorPolicy::Off => false,
        }
    }

    /// Record that a valid Message-Authenticator arrived from `source` (`auto` policy then
    /// requires it from that router from now on).
    pub fn saw_message_authenticator(&self, source: IpAddr) {
        if self.policy != MessageAuthenticatorPolicy::Auto {
            return;
        }
        if self.is_host() {
            if !self.ma_seen.load(Ordering::Relaxed) {
                self.ma_seen.store(true, Ordering::Relaxed);
                tracing::info!(nas = %self.name, "Message-Authenticator seen; now required (auto policy)");
                self.log_latch(self.network.addr());
            }
            return;
        }
        let source = source.to_canonical();
        let known = self
            .ma_seen_from
            .read()
            .map(|seen| seen.contains(&source))
            .unwrap_or(true);
        if !known
            && let Ok(mut seen) = self.ma_seen_from.write()
            && seen.insert(source)
        {
            tracing::info!(nas = %self.name, %source, "Message-Authenticator seen from this router; now required from it (auto policy)");
            self.log_latch(source);
        }
    }

    fn log_latch(&self, source: IpAddr) {
        if let Some(log) = &self.latch_log {
            log.tripped(source);
        }
    }

    /// Latch the addresses of `latched` this entry covers (`auto` policy only).
    fn pre_latch<'a>(&self, latched: impl Iterator<Item = &'a IpAddr>) {
        if self.policy != MessageAuthenticatorPolicy::Auto {
            return;
        }
        let mine = latched.filter(|a| self.network.contains(*a));
        if self.is_host() {
            if mine.count() > 0 {
                self.ma_seen.store(true, Ordering::Relaxed);
            }
        } else if let Ok(mut seen) = self.ma_seen_from.write() {
            seen.extend(mine.copied());
        }
    }

    fn from_config(nas: &NasConfig) -> Option<Self> {
        let network = nas.network()?;
        Some(
            Self::new(
                network,
                nas.name.clone().unwrap_or_else(|| nas.address.clone()),
                Secret::from(nas.secret.as_str()),
                nas.coa_port,
                nas.require_message_authenticator,
                ClientSource::Config,
            )
            .with_tenant(nas.tenant.as_deref()),
        )
    }

    fn from_row(row: &NasRow) -> Option<Self> {
        let network = parse_network(&row.nasname)?;
        if row.secret.is_empty() {
            return None;
        }
        // Never read a tenant's NAS as a global one (the column's check constraint makes
        // this unreachable for rows written since migration 0007).
        if row
            .tenant
            .as_deref()
            .is_some_and(|t| !crate::tenants::valid_name(t))
        {
            return None;
        }
        let policy = MessageAuthenticatorPolicy::parse(&row.require_message_authenticator)
            .unwrap_or_default();
        let coa_port = u16::try_from(row.coa_port)
            .ok()
            .filter(|p| *p != 0)
            .unwrap_or(3799);
        Some(
            Self::new(
                network,
                row.shortname
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| row.nasname.clone()),
                Secret::from(row.secret.as_str()),
                coa_port,
                policy,
                ClientSource::Database,
            )
            .with_tenant(row.tenant.as_deref()),
        )
    }
}

/// An immutable snapshot of all clients.
#[derive(Debug, Default)]
pub struct ClientTable {
    exact: HashMap<IpAddr, Arc<Client>>,
    /// Non-host networks, most specific first; config before database on equal prefixes.
    networks: Vec<Arc<Client>>,
}

impl ClientTable {
    /// Build from config entries and `nas` rows. Invalid rows are skipped (and logged).
    /// `previous`, when given, carries the `auto` policy state over for unchanged entries.
    pub fn build(config: &[NasConfig], rows: &[NasRow], previous: Option<&Self>) -> Self {
        Self::build_latched(config, rows, previous, &Latching::default())
    }

    /// [`Self::build`] with the latch wiring: first trips go to `latching.log`; when
    /// `latching.recorded` is given it replaces the carried-over latch state (recorded
    /// addresses plus the log's not yet recorded ones), so a removed row unlatches.
    pub fn build_latched(
        config: &[NasConfig],
        rows: &[NasRow],
        previous: Option<&Self>,
        latching: &Latching<'_>,
    ) -> Self {
        let unrecorded = latching.log.map(|l| l.unrecorded()).unwrap_or_default();
        let mut table = Self::default();
        let candidates = config
            .iter()
            .filter_map(Client::from_config)
            .chain(rows.iter().filter_map(|r| {
                let c = Client::from_row(r);
                if c.is_none() {
                    tracing::warn!(nasname = %r.nasname, "nas row skipped: bad address, empty secret or invalid tenant");
                }
                c
            }));
        for mut client in candidates {
            let prev = previous.and_then(|p| p.get_exact_network(&client.network));
            if let Some(prev) = prev {
                client.counters = Arc::clone(&prev.counters);
            }
            client.latch_log = latching.log.cloned();
            if let Some(recorded) = latching.recorded {
                client.pre_latch(recorded.iter().chain(&unrecorded));
            } else if let Some(prev) = prev
                && prev.signer.secret() == client.signer.secret()
            {
                if prev.ma_seen.load(Ordering::Relaxed) {
                    client.ma_seen.store(true, Ordering::Relaxed);
                }
                if let (Ok(old), Ok(mut new)) =
                    (prev.ma_seen_from.read(), client.ma_seen_from.write())
                {
                    new.extend(old.iter().copied());
                }
            }
            table.insert(Arc::new(client));
        }
        // Stable sort keeps insertion order (config first) among equal prefix lengths.
        table
            .networks
            .sort_by_key(|c| std::cmp::Reverse(c.network.prefix_len()));
        table
    }

    fn insert(&mut self, client: Arc<Client>) {
        let net = client.network;
        // First one wins: config entries are inserted before database rows, rows in id
        // order. A second *row* for the same address is an admin mistake that would
        // silently keep the older secret: say so.
        let existing = if net.prefix_len() == net.max_prefix_len() {
            match self.exact.entry(net.addr()) {
                std::collections::hash_map::Entry::Occupied(e) => Some(Arc::clone(e.get())),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(client);
                    return;
                }
            }
        } else if let Some(c) = self.networks.iter().find(|c| c.network == net) {
            Some(Arc::clone(c))
        } else {
            self.networks.push(client);
            return;
        };
        if let Some(kept) = existing
            && kept.source == ClientSource::Database
            && client.source == ClientSource::Database
        {
            tracing::warn!(
                network = %net,
                kept = %kept.name,
                ignored = %client.name,
                "the nas table has more than one row for this address; the oldest is used \
                 (`hotspot-radius nas add` replaces rows instead of adding twins)"
            );
        }
    }

    fn get_exact_network(&self, net: &IpNet) -> Option<&Arc<Client>> {
        if net.prefix_len() == net.max_prefix_len() {
            self.exact.get(&net.addr())
        } else {
            self.networks.iter().find(|c| c.network == *net)
        }
    }

    /// The client for a source address: exact match first, then the most specific network.
    pub fn lookup(&self, addr: IpAddr) -> Option<&Arc<Client>> {
        let addr = addr.to_canonical();
        if let Some(c) = self.exact.get(&addr) {
            return Some(c);
        }
        self.networks.iter().find(|c| c.network.contains(&addr))
    }

    /// Every entry (host entries, then networks).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.exact.values().chain(self.networks.iter())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.exact.len() + self.networks.len()
    }

    /// True when no client is defined.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a [`ClientTable`] build treats the `auto` latch (default: in memory only, carried
/// over from the previous table).
#[derive(Debug, Default, Clone, Copy)]
pub struct Latching<'a> {
    /// Where first trips are reported.
    pub log: Option<&'a Arc<LatchLog>>,
    /// The recorded latched addresses (`nas_ma_latch`), when freshly read.
    pub recorded: Option<&'a HashSet<IpAddr>>,
}

/// Most tripped-but-unrecorded addresses kept; past it a latch stays in memory only.
const MAX_UNRECORDED: usize = 65_536;

/// First trips of the `auto` latch waiting to be recorded. The request path touches it only
/// when a latch trips for the first time (one short lock and a wake-up); a writer task
/// drains it with [`Self::unrecorded`] / [`Self::recorded`]. A set rather than a queue: it
/// is bounded by the number of routers, a retry after a database failure needs no
/// re-queueing, and a rebuild can still see the addresses that are not recorded yet.
#[derive(Debug, Default)]
pub struct LatchLog {
    unrecorded: std::sync::Mutex<HashSet<IpAddr>>,
    wake: tokio::sync::Notify,
}

impl LatchLog {
    /// An empty log.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn tripped(&self, source: IpAddr) {
        let added = match self.unrecorded.lock() {
            Ok(mut set) if set.len() < MAX_UNRECORDED => set.insert(source.to_canonical()),
            _ => false,
        };
        if added {
            self.wake.notify_one();
        } else {
            tracing::warn!(%source, "too many Message-Authenticator latches waiting to be recorded; this one is kept in memory only");
        }
    }

    /// The addresses not recorded yet.
    pub fn unrecorded(&self) -> Vec<IpAddr> {
        self.unrecorded
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// These addresses are recorded now.
    pub fn recorded(&self, addresses: &[IpAddr]) {
        if let Ok(mut set) = self.unrecorded.lock() {
            for a in addresses {
                set.remove(a);
            }
        }
    }

    /// Wait until a latch trips (returns at once if one tripped since the last wait).
    pub async fn tripped_since_last_wait(&self) {
        self.wake.notified().await;
    }
}

/// The current [`ClientTable`], swapped whole when the config or the `nas` table changes.
#[derive(Debug, Default)]
pub struct Clients {
    current: RwLock<Arc<ClientTable>>,
    latch_log: Option<Arc<LatchLog>>,
}

impl Clients {
    /// Start with `table`.
    pub fn new(table: ClientTable) -> Self {
        Self {
            current: RwLock::new(Arc::new(table)),
            latch_log: None,
        }
    }

    /// Report first latch trips of every later rebuilt table to `log`.
    pub fn with_latch_log(mut self, log: Arc<LatchLog>) -> Self {
        self.latch_log = Some(log);
        self
    }

    /// The current snapshot (an `Arc` clone under a read lock held for nanoseconds).
    pub fn snapshot(&self) -> Arc<ClientTable> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The client for a source address.
    pub fn lookup(&self, addr: IpAddr) -> Option<Arc<Client>> {
        self.snapshot().lookup(addr).cloned()
    }

    /// Replace the table.
    pub fn replace(&self, table: ClientTable) {
        let table = Arc::new(table);
        match self.current.write() {
            Ok(mut g) => *g = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    /// Rebuild from new sources, keeping `auto` state of unchanged entries.
    pub fn rebuild(&self, config: &[NasConfig], rows: &[NasRow]) -> usize {
        self.rebuild_latched(config, rows, None)
    }

    /// Rebuild; with `recorded` (the `nas_ma_latch` addresses), the latch state is those
    /// plus the not yet recorded trips instead of the previous table's.
    pub fn rebuild_latched(
        &self,
        config: &[NasConfig],
        rows: &[NasRow],
        recorded: Option<&HashSet<IpAddr>>,
    ) -> usize {
        let previous = self.snapshot();
        let latching = Latching {
            log: self.latch_log.as_ref(),
            recorded,
        };
        let table = ClientTable::build_latched(config, rows, Some(&previous), &latching);
        let n = table.len();
        self.replace(table);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nas(address: &str, secret: &str, name: &str) -> NasConfig {
        NasConfig {
            address: address.into(),
            secret: secret.into(),
            name: Some(name.into()),
            ..NasConfig::default()
        }
    }

    fn row(nasname: &str, secret: &str, name: &str) -> NasRow {
        NasRow {
            tenant: None,
            nasname: nasname.into(),
            shortname: Some(name.into()),
            secret: secret.into(),
            coa_port: 3799,
            require_message_authenticator: "off".into(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn most_specific_wins_and_config_wins_ties() {
        let config = [
            nas("10.0.0.0/8", "a", "wide"),
            nas("10.1.0.0/16", "b", "cfg16"),
        ];
        let rows = [
            row("10.1.0.0/16", "c", "db16"),
            row("10.1.2.0/24", "d", "db24"),
            row("10.1.2.3", "e", "db32"),
            row("bad", "x", "bad"),
        ];
        let t = ClientTable::build(&config, &rows, None);
        assert_eq!(t.lookup(ip("10.1.2.3")).unwrap().name, "db32");
        assert_eq!(t.lookup(ip("10.1.2.4")).unwrap().name, "db24");
        assert_eq!(t.lookup(ip("10.1.3.4")).unwrap().name, "cfg16");
        assert_eq!(t.lookup(ip("10.9.3.4")).unwrap().name, "wide");
        assert!(t.lookup(ip("192.168.0.1")).is_none());
        assert_eq!(t.len(), 4);
        // IPv4-mapped IPv6 sources resolve like IPv4.
        assert_eq!(t.lookup(ip("::ffff:10.1.2.3")).unwrap().name, "db32");
    }

    #[test]
    fn tenants_come_from_both_sources_and_a_bad_one_skips_the_row() {
        let config = [NasConfig {
            tenant: Some("acme".into()),
            ..nas("127.0.0.1", "a", "cfg")
        }];
        let rows = [
            NasRow {
                tenant: Some("bravo".into()),
                ..row("127.0.0.3", "b", "db")
            },
            row("127.0.0.4", "g", "global"),
            NasRow {
                tenant: Some("not valid".into()),
                ..row("127.0.0.5", "x", "bad-tenant")
            },
        ];
        let t = ClientTable::build(&config, &rows, None);
        assert_eq!(t.lookup(ip("127.0.0.1")).unwrap().tenant(), Some("acme"));
        assert_eq!(t.lookup(ip("127.0.0.3")).unwrap().tenant(), Some("bravo"));
        assert_eq!(t.lookup(ip("127.0.0.4")).unwrap().tenant(), None);
        assert!(
            t.lookup(ip("127.0.0.5")).is_none(),
            "never served as global"
        );
    }

    #[test]
    fn exact_tie_config_wins() {
        let t = ClientTable::build(
            &[nas("127.0.0.1", "cfg", "c")],
            &[row("127.0.0.1", "db", "d")],
            None,
        );
        assert_eq!(t.lookup(ip("127.0.0.1")).unwrap().name, "c");
    }

    #[test]
    fn counters_survive_a_rebuild_of_the_same_network() {
        let clients = Clients::new(ClientTable::build(&[nas("127.0.0.1", "s", "c")], &[], None));
        let c = clients.lookup(ip("127.0.0.1")).unwrap();
        assert_eq!(c.counters().last_seen(), None);
        c.counters().request();
        c.counters().request();
        c.counters().reject();
        // A new secret or name keeps the counts; a new address starts afresh.
        clients.rebuild(
            &[nas("127.0.0.1", "s2", "c2"), nas("127.0.0.2", "s", "d")],
            &[],
        );
        let c = clients.lookup(ip("127.0.0.1")).unwrap();
        assert_eq!((c.counters().requests(), c.counters().rejects()), (2, 1));
        assert!(c.counters().last_seen().is_some());
        let d = clients.lookup(ip("127.0.0.2")).unwrap();
        assert_eq!((d.counters().requests(), d.counters().rejects()), (0, 0));
    }

    #[test]
    fn miss_slots_are_bounded_released_and_shared_across_a_rebuild() {
        let clients = Clients::new(ClientTable::build(&[nas("127.0.0.1", "s", "c")], &[], None));
        let c = clients.lookup(ip("127.0.0.1")).unwrap();
        let first = c.begin_miss(2).expect("first slot");
        let second = c.begin_miss(2).expect("second slot");
        assert!(c.begin_miss(2).is_none(), "over the bound");
        // A rebuild keeps the count: the waiting lookups still hold their slots.
        clients.rebuild(&[nas("127.0.0.1", "s", "c")], &[]);
        let rebuilt = clients.lookup(ip("127.0.0.1")).unwrap();
        assert!(
            rebuilt.begin_miss(2).is_none(),
            "still over after a rebuild"
        );
        drop(first);
        let third = rebuilt
            .begin_miss(2)
            .expect("a released slot is free again");
        // Another NAS has its own budget.
        let other = Clients::new(ClientTable::build(&[nas("127.0.0.3", "s", "d")], &[], None));
        assert!(
            other
                .lookup(ip("127.0.0.3"))
                .unwrap()
                .begin_miss(2)
                .is_some()
        );
        drop((second, third));
        let both = (c.begin_miss(2), c.begin_miss(2));
        assert!(both.0.is_some() && both.1.is_some(), "all released");
    }

    #[test]
    fn auto_policy_latches_and_survives_rebuild() {
        let mut n = nas("127.0.0.1", "s", "c");
        n.require_message_authenticator = MessageAuthenticatorPolicy::Auto;
        let clients = Clients::new(ClientTable::build(std::slice::from_ref(&n), &[], None));
        let c = clients.lookup(ip("127.0.0.1")).unwrap();
        assert!(!c.requires_message_authenticator(ip("127.0.0.1")));
        c.saw_message_authenticator(ip("127.0.0.1"));
        assert!(c.requires_message_authenticator(ip("127.0.0.1")));
        clients.rebuild(std::slice::from_ref(&n), &[]);
        assert!(
            clients
                .lookup(ip("127.0.0.1"))
                .unwrap()
                .requires_message_authenticator(ip("127.0.0.1"))
        );
    }

    #[test]
    fn auto_policy_latches_per_router_in_a_network_entry() {
        let mut n = nas("10.8.0.0/16", "s", "c");
        n.require_message_authenticator = MessageAuthenticatorPolicy::Auto;
        let clients = Clients::new(ClientTable::build(std::slice::from_ref(&n), &[], None));
        let c = clients.lookup(ip("10.8.1.1")).unwrap();
        // A RouterOS 7.15+ router sends one: required from it...
        c.saw_message_authenticator(ip("10.8.1.1"));
        assert!(c.requires_message_authenticator(ip("10.8.1.1")));
        // ...but an older router of the same range is not dropped for it.
        assert!(!c.requires_message_authenticator(ip("10.8.2.2")));
        clients.rebuild(std::slice::from_ref(&n), &[]);
        let c = clients.lookup(ip("10.8.1.1")).unwrap();
        assert!(
            c.requires_message_authenticator(ip("10.8.1.1")),
            "survives a rebuild"
        );
        assert!(!c.requires_message_authenticator(ip("10.8.2.2")));
    }

    #[test]
    fn recorded_latches_replace_the_carried_over_state() {
        let mut range = nas("10.8.0.0/16", "s", "range");
        range.require_message_authenticator = MessageAuthenticatorPolicy::Auto;
        let mut host = nas("127.0.0.1", "s", "host");
        host.require_message_authenticator = MessageAuthenticatorPolicy::Auto;
        let config = [range, host];
        let log = LatchLog::new();
        let clients = Clients::new(ClientTable::default()).with_latch_log(Arc::clone(&log));
        let recorded: HashSet<IpAddr> = [ip("10.8.1.1"), ip("127.0.0.1")].into();
        clients.rebuild_latched(&config, &[], Some(&recorded));
        let requires = |a: &str| {
            clients
                .lookup(ip(a))
                .unwrap()
                .requires_message_authenticator(ip(a))
        };
        assert!(requires("10.8.1.1") && requires("127.0.0.1"), "pre-latched");
        assert!(!requires("10.8.2.2"));
        // A first trip goes to the log, once.
        let c = clients.lookup(ip("10.8.2.2")).unwrap();
        c.saw_message_authenticator(ip("10.8.2.2"));
        c.saw_message_authenticator(ip("10.8.2.2"));
        assert_eq!(log.unrecorded(), [ip("10.8.2.2")]);
        // Recorded latches read afresh replace the old state (an unlatch), but a trip not
        // recorded yet holds.
        clients.rebuild_latched(&config, &[], Some(&HashSet::new()));
        assert!(!requires("10.8.1.1") && !requires("127.0.0.1"), "unlatched");
        assert!(requires("10.8.2.2"), "not recorded yet, still latched");
        log.recorded(&[ip("10.8.2.2")]);
        assert!(log.unrecorded().is_empty());
        // Without recorded latches (a SIGHUP), the in-memory state carries over.
        clients.rebuild(&config, &[]);
        assert!(requires("10.8.2.2"));
    }
}
