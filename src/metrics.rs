//! Every metric name the server exports, each described; the Prometheus recorder; and the
//! record helpers every layer uses ([`inc`], [`observe`], [`gauge_add`], [`gauge_set`]).
//!
//! Names are constants so the code, the dashboards and the tests agree. Label values come
//! from fixed sets (packet code names, outcome and reason labels); usernames and IP
//! addresses are never labels. This module is a leaf: any layer may call it.

use std::cell::RefCell;
use std::sync::OnceLock;

use metrics::{
    Counter, Gauge, Histogram, Label, Unit, describe_counter, describe_gauge, describe_histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered or not, by request `code` and `outcome` (accept, reject, response,
/// no_reply, ...).
pub const REQUESTS_TOTAL: &str = "radius_requests_total";
/// Time from receive to send, by request `code`.
pub const REQUEST_DURATION_SECONDS: &str = "radius_request_duration_seconds";
/// Datagrams dropped before or during processing, by `reason`.
pub const DROPPED_TOTAL: &str = "radius_dropped_total";
/// Retransmissions answered from (or held by) the duplicate cache, by `state`
/// (replayed, in_progress).
pub const DUPLICATES_TOTAL: &str = "radius_duplicates_total";
/// Requests being processed right now.
pub const INFLIGHT: &str = "radius_inflight";
/// Access-Requests by authentication `method` and `result` (accept / reject reason).
pub const AUTH_TOTAL: &str = "radius_auth_total";
/// Access-Requests per tenant of the NAS and outcome; only with `[admin]
/// per_tenant_metrics` (labels capped, see `tenants::metric_label`).
pub const TENANT_ACCESS_TOTAL: &str = "radius_tenant_access_total";
/// Requests that got no reply because a backend was unavailable, by `backend`.
pub const BACKEND_UNAVAILABLE_TOTAL: &str = "radius_backend_unavailable_total";
/// Accounting records written, by `status` (start, stop, interim, on, off, other).
pub const ACCOUNTING_WRITTEN_TOTAL: &str = "radius_accounting_written_total";
/// Requests received per NAS entry, by `nas` (its name), exported at scrape time.
pub const NAS_REQUESTS_TOTAL: &str = "radius_nas_requests_total";
/// Access-Rejects sent per NAS entry, by `nas`, exported at scrape time.
pub const NAS_REJECTS_TOTAL: &str = "radius_nas_rejects_total";
/// Unix time of the last packet from each NAS entry, by `nas`, exported at scrape time.
pub const NAS_LAST_PACKET_SECONDS: &str = "radius_nas_last_packet_timestamp_seconds";
/// Clients currently in the NAS table.
pub const CLIENTS: &str = "radius_clients";
/// NAS table reloads, by `source` (config, database).
pub const CLIENT_RELOADS_TOTAL: &str = "radius_client_reloads_total";
/// Profile lookups per cache tier: `tier` = `l1|l2|db|stale` (`stale`: an expired profile
/// served because PostgreSQL is unavailable), `result` = `hit|miss`.
pub const CACHE_LOOKUPS_TOTAL: &str = "radius_cache_lookups_total";
/// Cache invalidations, by `kind` (user, group, flush).
pub const CACHE_INVALIDATIONS_TOTAL: &str = "radius_cache_invalidations_total";
/// Losses of the NOTIFY (LISTEN) connection; each one flushes L1.
pub const LISTENER_RECONNECTS_TOTAL: &str = "radius_store_listener_reconnects_total";
/// 1 while the NOTIFY (LISTEN) connection is up, 0 while it is being re-established.
pub const LISTENER_UP: &str = "radius_store_listener_up";
/// SQL statements sent, by `query`.
pub const DB_QUERIES_TOTAL: &str = "radius_db_queries_total";
/// Failed SQL statements, by `query`.
pub const DB_ERRORS_TOTAL: &str = "radius_db_errors_total";
/// Failed Redis operations, by `op`.
pub const REDIS_ERRORS_TOTAL: &str = "radius_redis_errors_total";
/// 1 while Redis answers, 0 during an outage.
pub const REDIS_UP: &str = "radius_redis_up";
/// L2 values refused because their signature did not verify (planted, or written by an
/// instance with another key).
pub const L2_REFUSED_TOTAL: &str = "radius_cache_l2_refused_total";
/// Open sessions per NAS, by `nas` (NAS-IP), from the session store.
pub const SESSIONS_ONLINE: &str = "radius_sessions_online";
/// Sessions closed by the server, by `reason` (stale, lost_stop, nas_reboot).
pub const SESSIONS_CLOSED_TOTAL: &str = "radius_sessions_closed_total";
/// Failed session-store operations, by `op`.
pub const SESSION_STORE_ERRORS_TOTAL: &str = "radius_session_store_errors_total";
/// Disconnect-Request and CoA-Request sent, by `kind` (disconnect, coa), `trigger`
/// (quota, admin, cli) and `result` (ack, nak, timeout, error).
pub const DYNAUTH_TOTAL: &str = "radius_dynauth_requests_total";
/// Accounting records waiting for a writer.
pub const ACCT_QUEUE_DEPTH: &str = "radius_accounting_queue_depth";
/// Records per committed accounting batch.
pub const ACCT_BATCH_SIZE: &str = "radius_accounting_batch_size";
/// Time to commit one accounting batch, seconds.
pub const ACCT_COMMIT_SECONDS: &str = "radius_accounting_commit_seconds";
/// Accounting records appended to the journal (PostgreSQL unavailable or behind).
pub const ACCT_JOURNALED_TOTAL: &str = "radius_accounting_journaled_total";
/// Records waiting in the journal.
pub const ACCT_JOURNAL_RECORDS: &str = "radius_accounting_journal_records";
/// Bytes waiting in the journal.
pub const ACCT_JOURNAL_BYTES: &str = "radius_accounting_journal_bytes";
/// Journal records written to PostgreSQL.
pub const ACCT_REPLAYED_TOTAL: &str = "radius_accounting_replayed_total";
/// Records PostgreSQL refused for good, parked in `radacct_deadletter`.
pub const ACCT_DEADLETTER_TOTAL: &str = "radius_accounting_deadletter_total";
/// Accounting-Requests not acknowledged because their record could not be made durable,
/// by `reason` (queue_full, journal_full, journal_error).
pub const ACCT_REFUSED_TOTAL: &str = "radius_accounting_refused_total";
/// Accounting-Requests acknowledged without a write, by `reason` (unknown_status).
pub const ACCT_IGNORED_TOTAL: &str = "radius_accounting_ignored_total";
/// Values normalisation repaired, by `kind` (saturated counter, sanitised text).
pub const ACCT_REPAIRED_TOTAL: &str = "radius_accounting_repaired_total";
/// Post-auth (`radpostauth`) rows written.
pub const POSTAUTH_WRITTEN_TOTAL: &str = "radius_postauth_written_total";
/// Post-auth records dropped, by `reason` (queue_full, closed, write_failed).
pub const POSTAUTH_DROPPED_TOTAL: &str = "radius_postauth_dropped_total";
/// RadSec (RFC 6614) connections open now.
pub const RADSEC_CONNECTIONS: &str = "radius_radsec_connections";
/// RadSec connections closed before serving (before the TLS handshake, or after it for a
/// certificate that does not name its NAS entry), by reason.
pub const RADSEC_CONNECTIONS_REFUSED_TOTAL: &str = "radius_radsec_connections_refused_total";
/// RadSec TLS handshakes that failed, by reason.
pub const RADSEC_HANDSHAKE_FAILURES_TOTAL: &str = "radius_radsec_handshake_failures_total";
/// Established RadSec connections that ended, by reason.
pub const RADSEC_CONNECTIONS_CLOSED_TOTAL: &str = "radius_radsec_connections_closed_total";

/// Drop reasons used as `reason` label values (besides `DecodeError::reason()`).
pub mod reason {
    /// Source address is not a known client.
    pub const UNKNOWN_CLIENT: &str = "unknown_client";
    /// Shorter than a header, longer than 4096, or a code we never answer.
    pub const PREFILTER: &str = "prefilter";
    /// Worker limit reached.
    pub const OVERLOAD: &str = "overload";
    /// Required Message-Authenticator missing.
    pub const MISSING_MESSAGE_AUTHENTICATOR: &str = "missing_message_authenticator";
    /// Message-Authenticator did not verify.
    pub const BAD_MESSAGE_AUTHENTICATOR: &str = "bad_message_authenticator";
    /// Accounting request authenticator did not verify.
    pub const BAD_REQUEST_AUTHENTICATOR: &str = "bad_request_authenticator";
    /// A code not accepted on this port.
    pub const WRONG_PORT: &str = "wrong_port";
    /// The user store was unavailable (no reply so the NAS retries).
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
    /// The accounting write failed (no reply so the NAS retries).
    pub const ACCOUNTING_WRITE_FAILED: &str = "accounting_write_failed";
    /// The reply could not be encoded.
    pub const ENCODE_FAILED: &str = "encode_failed";
    /// The request lacked something it must carry (e.g. User-Name).
    pub const MALFORMED_REQUEST: &str = "malformed_request";
    /// Too many slow password hashes (bcrypt, SHA-crypt) already queued.
    pub const CRYPT_BUSY: &str = "crypt_busy";
    /// A slow password hash waited too long for a slot.
    pub const CRYPT_TIMEOUT: &str = "crypt_timeout";
    /// The NAS already has `max_misses_per_nas` user lookups past the in-process cache
    /// waiting (a flood of unknown usernames): this one is not answered.
    pub const MISS_BUDGET: &str = "miss_budget";
    /// Handling the request panicked (a bug; the receive thread carries on).
    pub const INTERNAL_ERROR: &str = "internal_error";
    /// A journal record could not be decoded on replay (skipped).
    pub const JOURNAL_UNREADABLE: &str = "journal_unreadable";
}

/// Latency buckets, seconds: sub-millisecond cache hits up to NAS-timeout territory.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Batch-size buckets, records.
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the global Prometheus recorder (once per process; later calls return the same
/// handle) and describe every metric.
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_DURATION_SECONDS.to_owned()),
            LATENCY_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(ACCT_COMMIT_SECONDS.to_owned()),
                LATENCY_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(ACCT_BATCH_SIZE.to_owned()), BATCH_BUCKETS)
        })
        .map_err(|e| e.to_string())?;
    let handle = match builder.install_recorder() {
        Ok(h) => h,
        // Another recorder is installed (e.g. two servers in one test process): fall back
        // to our stored handle if a racing call set it.
        Err(e) => return HANDLE.get().cloned().ok_or_else(|| e.to_string()),
    };
    let handle = HANDLE.get_or_init(|| handle).clone();
    describe();
    Ok(handle)
}

/// The installed handle, if any.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE.get().cloned()
}

/// Describe every metric (help text and unit).
pub fn describe() {
    describe_counter!(REQUESTS_TOTAL, "RADIUS requests by code and outcome");
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from receiving a request to sending its reply"
    );
    describe_counter!(DROPPED_TOTAL, "Datagrams dropped, by reason");
    describe_gauge!(
        SESSIONS_ONLINE,
        "Open sessions per NAS (NAS-IP), from the session store"
    );
    describe_counter!(
        SESSIONS_CLOSED_TOTAL,
        "Sessions closed by the server, by reason (stale, lost_stop, nas_reboot)"
    );
    describe_counter!(
        SESSION_STORE_ERRORS_TOTAL,
        "Failed session-store operations, by op"
    );
    describe_counter!(
        DYNAUTH_TOTAL,
        "Disconnect-Request and CoA-Request sent, by kind, trigger and result"
    );
    describe_counter!(
        DUPLICATES_TOTAL,
        "Retransmissions answered from the duplicate cache or dropped while in progress"
    );
    describe_gauge!(INFLIGHT, "Requests being processed");
    describe_counter!(AUTH_TOTAL, "Access-Requests by method and result");
    describe_counter!(
        TENANT_ACCESS_TOTAL,
        "Access-Requests by the NAS's tenant and outcome (with [admin] per_tenant_metrics)"
    );
    describe_counter!(
        BACKEND_UNAVAILABLE_TOTAL,
        "Requests left unanswered because a backend was unavailable"
    );
    describe_counter!(ACCOUNTING_WRITTEN_TOTAL, "Accounting records written");
    describe_gauge!(CLIENTS, "Clients in the NAS table");
    describe_counter!(
        NAS_REQUESTS_TOTAL,
        "Requests received per NAS entry (the first 1,000 entries)"
    );
    describe_counter!(
        NAS_REJECTS_TOTAL,
        "Access-Rejects sent per NAS entry (the first 1,000 entries)"
    );
    describe_gauge!(
        NAS_LAST_PACKET_SECONDS,
        "Unix time of the last packet from each NAS entry (the first 1,000 entries)"
    );
    describe_counter!(CLIENT_RELOADS_TOTAL, "NAS table reloads by source");
    describe_counter!(
        CACHE_LOOKUPS_TOTAL,
        "User profile lookups by cache tier (l1, l2, db, stale) and result (hit, miss)"
    );
    describe_counter!(
        CACHE_INVALIDATIONS_TOTAL,
        "Profile cache invalidations by kind (user, group, flush)"
    );
    describe_counter!(
        LISTENER_RECONNECTS_TOTAL,
        "Losses of the NOTIFY connection (each flushes the in-process cache)"
    );
    describe_gauge!(
        LISTENER_UP,
        "1 while the NOTIFY connection (cache invalidation) is up, 0 while it is down"
    );
    describe_counter!(DB_QUERIES_TOTAL, "SQL statements sent, by query");
    describe_counter!(DB_ERRORS_TOTAL, "Failed SQL statements, by query");
    describe_counter!(REDIS_ERRORS_TOTAL, "Failed Redis operations, by operation");
    describe_gauge!(REDIS_UP, "1 while Redis answers, 0 during an outage");
    describe_counter!(
        L2_REFUSED_TOTAL,
        "Redis cache values refused because their signature did not verify"
    );
    describe_counter!(
        POSTAUTH_WRITTEN_TOTAL,
        "Post-auth rows written to radpostauth"
    );
    describe_counter!(
        POSTAUTH_DROPPED_TOTAL,
        "Post-auth records dropped, by reason (queue_full, closed, write_failed)"
    );
    describe_gauge!(ACCT_QUEUE_DEPTH, "Accounting records waiting for a writer");
    describe_histogram!(ACCT_BATCH_SIZE, "Records per committed accounting batch");
    describe_histogram!(
        ACCT_COMMIT_SECONDS,
        Unit::Seconds,
        "Time to commit one accounting batch"
    );
    describe_counter!(
        ACCT_JOURNALED_TOTAL,
        "Accounting records appended to the local journal (PostgreSQL unavailable or behind)"
    );
    describe_gauge!(
        ACCT_JOURNAL_RECORDS,
        "Accounting records waiting in the journal"
    );
    describe_gauge!(
        ACCT_JOURNAL_BYTES,
        Unit::Bytes,
        "Bytes waiting in the accounting journal"
    );
    describe_counter!(
        ACCT_REPLAYED_TOTAL,
        "Journal records written to PostgreSQL after an outage"
    );
    describe_counter!(
        ACCT_DEADLETTER_TOTAL,
        "Accounting records PostgreSQL refused for good, parked in radacct_deadletter"
    );
    describe_counter!(
        ACCT_REFUSED_TOTAL,
        "Accounting-Requests not acknowledged because the record could not be made durable, by reason"
    );
    describe_counter!(
        ACCT_IGNORED_TOTAL,
        "Accounting-Requests acknowledged without a write, by reason"
    );
    describe_counter!(
        ACCT_REPAIRED_TOTAL,
        "Accounting values repaired by normalisation, by kind"
    );
    describe_gauge!(
        RADSEC_CONNECTIONS,
        "RadSec (RADIUS over TLS) connections open"
    );
    describe_counter!(
        RADSEC_CONNECTIONS_REFUSED_TOTAL,
        "RadSec connections closed before serving, by reason (max_connections, unknown_client, certificate_name)"
    );
    describe_counter!(
        RADSEC_HANDSHAKE_FAILURES_TOTAL,
        "RadSec TLS handshakes that failed, by reason (tls: no or untrusted client certificate, protocol error; timeout)"
    );
    describe_counter!(
        RADSEC_CONNECTIONS_CLOSED_TOTAL,
        "Established RadSec connections that ended, by reason (peer, idle, framing, shutdown, unknown_client)"
    );
}

/// Count a dropped datagram.
pub fn dropped(reason: &'static str) {
    inc(DROPPED_TOTAL, &[("reason", reason)], 1);
}

/// Count a finished request.
pub fn request(code: &'static str, outcome: &'static str) {
    inc(REQUESTS_TOTAL, &[("code", code), ("outcome", outcome)], 1);
}

/// Adjust the in-flight gauge.
pub fn inflight(delta: f64) {
    gauge_add(INFLIGHT, delta);
}

// Per-thread handle cache for the packet path. Looking a metric up through the macros
// builds and hashes a key in the global registry on every call; the receive threads call
// the same few (name, labels) combinations millions of times, so they keep the handles.
// Only threads that opt in (the receive threads, started after the recorder is installed)
// cache: a handle taken before a recorder exists would stay a no-op forever.

/// Identity of a call site's metric: pointers and lengths of the `'static` strings.
type SiteKey = [usize; 6];

/// A few dozen call sites at most: a linear scan beats hashing the key.
#[derive(Default)]
struct LocalHandles {
    counters: Vec<(SiteKey, Counter)>,
    histograms: Vec<(SiteKey, Histogram)>,
    gauges: Vec<(SiteKey, Gauge)>,
}

/// The handle for `key`, made by `make` on first use.
fn slot<H>(list: &mut Vec<(SiteKey, H)>, key: SiteKey, make: impl FnOnce() -> H) -> &H {
    let i = match list.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            list.push((key, make()));
            list.len() - 1
        }
    };
    &list[i].1
}

thread_local! {
    static LOCAL: RefCell<Option<LocalHandles>> = const { RefCell::new(None) };
}

/// Let this thread keep metric handles (see [`inc`]). Call it on long-lived packet
/// threads started after [`install`].
pub fn cache_handles_on_this_thread() {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.is_none() {
            *l = Some(LocalHandles::default());
        }
    });
}

fn site(name: &'static str, labels: &[(&'static str, &'static str)]) -> SiteKey {
    let mut k = [name.as_ptr() as usize, name.len(), 0, 0, 0, 0];
    for (i, (key, value)) in labels.iter().take(2).enumerate() {
        k[2 + 2 * i] = key.as_ptr() as usize ^ (key.len() << 48);
        k[3 + 2 * i] = value.as_ptr() as usize ^ (value.len() << 48);
    }
    k
}

fn labels_of(labels: &[(&'static str, &'static str)]) -> Vec<Label> {
    labels
        .iter()
        .map(|&(k, v)| Label::from_static_parts(k, v))
        .collect()
}

/// Increment a counter with up to two static labels, through this thread's handle cache
/// when it has one.
pub fn inc(name: &'static str, labels: &[(&'static str, &'static str)], by: u64) {
    let cached = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = l.as_mut()?;
        let c = slot(&mut l.counters, site(name, labels), || {
            metrics::counter!(name, labels_of(labels))
        });
        c.increment(by);
        Some(())
    });
    if cached.is_none() {
        metrics::counter!(name, labels_of(labels)).increment(by);
    }
}

/// Record a histogram value with up to two static labels (cached like [`inc`]).
pub fn observe(name: &'static str, labels: &[(&'static str, &'static str)], value: f64) {
    let cached = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = l.as_mut()?;
        let h = slot(&mut l.histograms, site(name, labels), || {
            metrics::histogram!(name, labels_of(labels))
        });
        h.record(value);
        Some(())
    });
    if cached.is_none() {
        metrics::histogram!(name, labels_of(labels)).record(value);
    }
}

/// Add to an unlabelled gauge (cached like [`inc`]).
pub fn gauge_add(name: &'static str, delta: f64) {
    let cached = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = l.as_mut()?;
        let g = slot(&mut l.gauges, site(name, &[]), || metrics::gauge!(name));
        g.increment(delta);
        Some(())
    });
    if cached.is_none() {
        metrics::gauge!(name).increment(delta);
    }
}

/// Set a gauge with owned label values (rare: housekeeping, not per packet).
pub fn gauge_set_labels(name: &'static str, labels: &[(&'static str, String)], value: f64) {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.clone()))
        .collect();
    metrics::gauge!(name, labels).set(value);
}

/// Set an unlabelled gauge (rarely called: not cached).
pub fn gauge_set(name: &'static str, value: f64) {
    metrics::gauge!(name).set(value);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    /// Remembers the names `describe_*` was called with.
    #[derive(Default)]
    struct Described(Arc<Mutex<Vec<String>>>);

    impl Described {
        fn push(&self, key: &KeyName, help: &SharedString) {
            assert!(
                !help.is_empty(),
                "{} has an empty description",
                key.as_str()
            );
            self.0.lock().unwrap().push(key.as_str().to_owned());
        }
    }

    impl Recorder for Described {
        fn describe_counter(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
            self.push(&key, &help);
        }
        fn describe_gauge(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
            self.push(&key, &help);
        }
        fn describe_histogram(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
            self.push(&key, &help);
        }
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// Every `radius_*` name declared in this file gets a `# HELP` line: an operator
    /// reading `/metrics` (or a dashboard) should never meet an undocumented series.
    #[test]
    fn every_metric_is_described() {
        let declared: Vec<&str> = include_str!("metrics.rs")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split_once("= \"").map(|(_, v)| v))
            .filter_map(|v| v.strip_suffix("\";"))
            .filter(|v| v.starts_with("radius_"))
            .collect();
        assert!(declared.len() > 30, "found only {declared:?}");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = Described(Arc::clone(&seen));
        metrics::with_local_recorder(&recorder, super::describe);
        let seen = seen.lock().unwrap();
        let missing: Vec<_> = declared
            .iter()
            .filter(|name| !seen.iter().any(|s| s == *name))
            .collect();
        assert!(
            missing.is_empty(),
            "metrics without a description: {missing:?}"
        );
    }
}
