//! Tenants: one database holding the routers, users and packages of many customers.
//!
//! A request's tenant is the tenant of the NAS entry it came from (`[[nas]] tenant`, the
//! `nas.tenant` column); `None` is global (plain FreeRADIUS behaviour). Users and groups
//! are resolved within the tenant, falling back to global rows (the rule is in
//! `migrations/0007_tenants.sql` and the README), and everything keyed by a user (the
//! profile caches, the session store, quotas, Disconnect/CoA) is keyed by the pair
//! (tenant, username). This module holds the name rule and the one encoding of that pair
//! as a single string (the profile caches' key).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Longest tenant name.
pub const MAX_NAME: usize = 64;

/// Whether `name` is a valid tenant name: 1 to 64 of `A-Z a-z 0-9 . _ -` (the check
/// constraint of migration 0007). Tenant names go into cache keys, notification payloads,
/// session-store keys and metric labels, so none may hold `:`, NUL or spaces.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The error text for an invalid tenant name.
pub const NAME_RULE: &str = "a tenant name is 1 to 64 letters, digits, `.`, `_` or `-`";

/// `(tenant, username)` as one string, injectively: a global username is itself unless it
/// starts with NUL (then `"\0\0"` is put before it); a tenant's is
/// `"\0" + tenant + "\0" + username`. The untenanted case borrows (no allocation on the
/// packet path of a server without tenants).
pub fn scoped<'a>(tenant: Option<&str>, username: &'a str) -> Cow<'a, str> {
    match tenant {
        None if username.starts_with('\0') => Cow::Owned(format!("\0\0{username}")),
        None => Cow::Borrowed(username),
        Some(t) => Cow::Owned(format!("\0{t}\0{username}")),
    }
}

/// The inverse of [`scoped`]: `(tenant, username)`.
pub fn split(key: &str) -> (Option<&str>, &str) {
    let Some(rest) = key.strip_prefix('\0') else {
        return (None, key);
    };
    if let Some(global) = rest.strip_prefix('\0') {
        return (None, global);
    }
    match rest.split_once('\0') {
        Some((tenant, user)) => (Some(tenant), user),
        // Not made by `scoped`: read it as a global name.
        None => (None, key),
    }
}

/// `tenant` label of requests from NASes without a tenant (never a tenant name: those
/// hold no parentheses).
pub const GLOBAL_LABEL: &str = "(global)";
/// `tenant` label shared by the tenants past the cap.
pub const OTHER_LABEL: &str = "(other)";

/// Per-tenant series are counted (`[admin] per_tenant_metrics`).
static PER_TENANT: AtomicBool = AtomicBool::new(false);
/// Most tenants with their own label.
static CAP: AtomicUsize = AtomicUsize::new(100);
/// The tenants that have their own label (the first `CAP` seen).
static LABELLED: RwLock<Option<HashSet<Arc<str>>>> = RwLock::new(None);

/// Turns the per-tenant breakdown of `/metrics` on (at server start, when configured), with
/// at most `cap` tenant labels. The metrics recorder is process-wide, so is this setting;
/// `false` leaves it as it is (a process runs one server; tests run several).
pub fn configure_metrics(enabled: bool, cap: usize) {
    if enabled {
        CAP.store(cap.max(1), Ordering::Relaxed);
        PER_TENANT.store(true, Ordering::Relaxed);
    }
}

/// The `tenant` label for `tenant`: its name while fewer than the cap have one, else
/// [`OTHER_LABEL`]; [`GLOBAL_LABEL`] without a tenant. The label set stays bounded.
pub fn metric_label(tenant: Option<&str>) -> Cow<'_, str> {
    let Some(t) = tenant else {
        return Cow::Borrowed(GLOBAL_LABEL);
    };
    let known = LABELLED
        .read()
        .is_ok_and(|set| set.as_ref().is_some_and(|s| s.contains(t)));
    if known {
        return Cow::Borrowed(t);
    }
    let Ok(mut set) = LABELLED.write() else {
        return Cow::Borrowed(OTHER_LABEL);
    };
    let set = set.get_or_insert_with(HashSet::new);
    if set.contains(t) || set.len() < CAP.load(Ordering::Relaxed) {
        set.insert(Arc::from(t));
        Cow::Borrowed(t)
    } else {
        Cow::Borrowed(OTHER_LABEL)
    }
}

/// Counts one Access-Request of a NAS of `tenant` with its `outcome` (`accept`, `reject`,
/// `dropped`...) when the per-tenant breakdown is on; nothing (one relaxed load) when off.
pub fn count_access(tenant: Option<&str>, outcome: &'static str) {
    if !PER_TENANT.load(Ordering::Relaxed) {
        return;
    }
    let label = metric_label(tenant).into_owned();
    metrics::counter!(crate::metrics::TENANT_ACCESS_TOTAL, "tenant" => label, "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("acme"));
        assert!(valid_name("isp-2.east_1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a:b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a\0b"));
        assert!(!valid_name(&"x".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn scoped_keys_are_distinct_and_reversible() {
        let cases: [(Option<&str>, &str); 6] = [
            (None, "bob"),
            (None, "\0acme\0bob"),
            (None, "\0\0x"),
            (Some("acme"), "bob"),
            (Some("acme"), "\0bob"),
            (Some("acm"), "e\0bob"),
        ];
        let keys: Vec<String> = cases
            .iter()
            .map(|(t, u)| scoped(*t, u).into_owned())
            .collect();
        for (i, (t, u)) in cases.iter().enumerate() {
            assert_eq!(split(&keys[i]), (*t, *u), "{:?}", keys[i]);
            for j in 0..i {
                assert_ne!(keys[i], keys[j]);
            }
        }
        assert!(matches!(scoped(None, "bob"), Cow::Borrowed(_)));
    }

    #[test]
    fn metric_labels_are_capped() {
        CAP.store(2, Ordering::Relaxed);
        assert_eq!(metric_label(None), GLOBAL_LABEL);
        assert_eq!(metric_label(Some("t-one")), "t-one");
        assert_eq!(metric_label(Some("t-two")), "t-two");
        assert_eq!(metric_label(Some("t-three")), OTHER_LABEL);
        assert_eq!(metric_label(Some("t-one")), "t-one");
        assert!(!valid_name(GLOBAL_LABEL) && !valid_name(OTHER_LABEL));
    }
}
