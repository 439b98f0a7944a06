//! The session store of a single server: maps under one mutex (never held across an
//! await; every operation is a few map updates).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use ipnet::IpNet;
use radius_proto::protocol::AcctStatus;

use super::{
    Applied, CLOSED_TTL, Filter, SessionError, SessionStore, StaleRule, UserState, add_usage,
    delta, is_newer, oldest_first, session_of,
};
use crate::model::{AcctRecord, Session, Usage};

/// Where a Start can collide with a session whose Stop was lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Port(IpNet, IpAddr, u32),
    Mac(IpNet, IpAddr, String),
}

fn slots(s: &Session) -> impl Iterator<Item = Slot> + '_ {
    let port = s.nas_port.map(|p| Slot::Port(s.client, s.nas_ip, p));
    let mac = s
        .mac
        .as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| Slot::Mac(s.client, s.nas_ip, m.to_ascii_lowercase()));
    port.into_iter().chain(mac)
}

#[derive(Debug, Default)]
struct State {
    loaded: bool,
    open: HashMap<String, (Session, i64)>,
    /// Open unique ids per [`Session::user_id`] (tenant, username).
    by_user: HashMap<String, HashSet<String>>,
    by_nas: HashMap<IpAddr, HashSet<String>>,
    slots: HashMap<Slot, String>,
    /// (deadline, unique id) of every open session.
    due: BTreeSet<(i64, String)>,
    /// Recently closed sessions: (session, closed at).
    closed: HashMap<String, (Session, i64)>,
    /// Claims (`SessionStore::claim`) and when they lapse.
    claims: HashMap<String, std::time::Instant>,
    /// Usage per [`Session::user_id`].
    usage: HashMap<String, Usage>,
}

impl State {
    fn insert(&mut self, session: Session, deadline: i64) {
        let uid = session.unique_id.clone();
        self.remove(&uid);
        for slot in slots(&session) {
            self.slots.insert(slot, uid.clone());
        }
        self.by_user
            .entry(session.user_id().into_owned())
            .or_default()
            .insert(uid.clone());
        self.by_nas
            .entry(session.nas_ip)
            .or_default()
            .insert(uid.clone());
        self.due.insert((deadline, uid.clone()));
        self.open.insert(uid, (session, deadline));
    }

    fn remove(&mut self, uid: &str) -> Option<Session> {
        let (session, deadline) = self.open.remove(uid)?;
        for slot in slots(&session) {
            if self.slots.get(&slot).is_some_and(|u| u == uid) {
                self.slots.remove(&slot);
            }
        }
        let user = session.user_id();
        if let Some(set) = self.by_user.get_mut(user.as_ref()) {
            set.remove(uid);
            if set.is_empty() {
                self.by_user.remove(user.as_ref());
            }
        }
        if let Some(set) = self.by_nas.get_mut(&session.nas_ip) {
            set.remove(uid);
            if set.is_empty() {
                self.by_nas.remove(&session.nas_ip);
            }
        }
        self.due.remove(&(deadline, uid.to_owned()));
        Some(session)
    }

    fn close(&mut self, uid: &str, now: i64) -> Option<Session> {
        let session = self.remove(uid)?;
        self.closed.insert(uid.to_owned(), (session.clone(), now));
        Some(session)
    }

    fn forget_closed_before(&mut self, cutoff: i64) {
        self.closed.retain(|_, (_, at)| *at >= cutoff);
    }
}

/// The in-process session store.
#[derive(Debug, Default)]
pub struct MemorySessions {
    state: Mutex<State>,
}

impl MemorySessions {
    /// An empty store (not loaded: the server rebuilds it from `radacct` at start-up).
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves maps that are still consistent enough to
        // serve (every update is a handful of inserts); keep going rather than fail logins.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply_now(&self, record: &AcctRecord, periods: (u32, u32), deadline: i64) -> Applied {
        let mut st = self.state();
        let mut applied = Applied::default();
        match record.status {
            AcctStatus::AccountingOn | AcctStatus::AccountingOff => {
                let uids: Vec<String> = st
                    .by_nas
                    .get(&record.nas_ip)
                    .map(|set| set.iter().cloned().collect())
                    .unwrap_or_default();
                for uid in uids {
                    let owned = st
                        .open
                        .get(&uid)
                        .is_some_and(|(s, _)| s.client == record.client);
                    if owned && st.close(&uid, record.event_time).is_some() {
                        applied.nas_reset += 1;
                    }
                }
                return applied;
            }
            AcctStatus::Start | AcctStatus::InterimUpdate | AcctStatus::Stop => {}
            AcctStatus::Unknown(_) => return applied,
        }
        let new = session_of(record);
        let uid = new.unique_id.clone();
        let held_open = st.open.get(&uid).map(|(s, _)| s.clone());
        let held_closed = st.closed.get(&uid).map(|(s, _)| s.clone());
        let held = held_open.as_ref().or(held_closed.as_ref());
        let newer = held.is_none_or(|h| is_newer(h, &new));
        let (seconds, octets) = if newer { delta(held, &new) } else { (0, 0) };
        // Sessions and usage are per (tenant, username).
        let username = new.user_id().into_owned();
        {
            let usage = st.usage.entry(username.clone()).or_default();
            add_usage(usage, periods, seconds, octets);
            if record.status == AcctStatus::Start || usage.first_login.is_none() {
                usage.first_login = Some(usage.first_login.map_or(new.start, |f| f.min(new.start)));
            }
        }
        match record.status {
            AcctStatus::Stop => {
                if held_open.is_some() {
                    st.close(&uid, record.event_time);
                }
                if let Some(entry) = st.closed.get_mut(&uid) {
                    if newer {
                        entry.0 = new;
                    }
                } else {
                    st.closed.insert(uid, (new, record.event_time));
                }
            }
            _ if held_closed.is_some() && held_open.is_none() => {
                // Already closed (Stop seen, or closed as stale/replaced): a late Start or
                // Interim only counts its usage; it does not bring the session back.
                if newer && let Some(entry) = st.closed.get_mut(&uid) {
                    entry.0 = new;
                }
            }
            _ => {
                if held_open.is_none() {
                    // A new session: whatever else holds its port or MAC lost its Stop.
                    let taken: Vec<String> = slots(&new)
                        .filter_map(|slot| st.slots.get(&slot).cloned())
                        .filter(|other| *other != uid)
                        .collect();
                    for other in taken {
                        if let Some(s) = st.close(&other, record.event_time) {
                            applied.replaced.push(s);
                        }
                    }
                }
                match held_open {
                    Some(held) if !newer => {
                        // An old Interim: keep the session as it is; the deadline can only
                        // move later.
                        let old = st.open.get(&uid).map_or(deadline, |(_, d)| *d);
                        st.insert(held, old.max(deadline));
                    }
                    // Newer counters: the record's view replaces the held one (as in
                    // the Redis store).
                    _ => st.insert(new, deadline),
                }
            }
        }
        applied.usage = st.usage.get(&username).copied().unwrap_or_default();
        applied
    }
}

impl SessionStore for MemorySessions {
    async fn apply(
        &self,
        record: &AcctRecord,
        periods: (u32, u32),
        deadline: i64,
    ) -> Result<Applied, SessionError> {
        Ok(self.apply_now(record, periods, deadline))
    }

    async fn user_state(&self, username: &str) -> Result<UserState, SessionError> {
        let st = self.state();
        Ok(UserState {
            open: st
                .by_user
                .get(username)
                .map_or(0, |s| u32::try_from(s.len()).unwrap_or(u32::MAX)),
            usage: st.usage.get(username).copied().unwrap_or_default(),
        })
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Session>, SessionError> {
        let st = self.state();
        let mut out: Vec<Session> = st
            .open
            .values()
            .map(|(s, _)| s)
            .filter(|s| filter.matches(s))
            .cloned()
            .collect();
        oldest_first(&mut out);
        Ok(out)
    }

    async fn due(&self, now: i64, limit: usize) -> Result<Vec<String>, SessionError> {
        let mut st = self.state();
        st.forget_closed_before(now.saturating_sub(CLOSED_TTL));
        Ok(st
            .due
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .take(limit)
            .map(|(_, uid)| uid.clone())
            .collect())
    }

    async fn close(&self, unique_id: &str, now: i64) -> Result<Option<Session>, SessionError> {
        Ok(self.state().close(unique_id, now))
    }

    async fn online_per_nas(&self) -> Result<Vec<(IpAddr, u64)>, SessionError> {
        let st = self.state();
        let mut out: Vec<(IpAddr, u64)> = st
            .by_nas
            .iter()
            .map(|(ip, set)| (*ip, set.len() as u64))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn is_loaded(&self) -> Result<bool, SessionError> {
        Ok(self.state().loaded)
    }

    async fn claim(&self, key: &str, ttl_secs: u64) -> Result<bool, SessionError> {
        let now = std::time::Instant::now();
        let mut st = self.state();
        st.claims.retain(|_, until| *until > now);
        if st.claims.contains_key(key) {
            return Ok(false);
        }
        st.claims.insert(
            key.to_owned(),
            now + std::time::Duration::from_secs(ttl_secs),
        );
        Ok(true)
    }

    async fn load(
        &self,
        sessions: Vec<Session>,
        usage: Vec<(String, Usage)>,
        stale: StaleRule,
    ) -> Result<(), SessionError> {
        let mut st = self.state();
        *st = State::default();
        for s in sessions {
            let deadline = stale.deadline(&s);
            st.insert(s, deadline);
        }
        st.usage = usage.into_iter().collect();
        st.loaded = true;
        Ok(())
    }
}
