//! Talking back to the NAS: Disconnect-Request and CoA-Request (RFC 5176) for a session in
//! the store, sent on the NAS's CoA port with its shared secret, and the automatic actions:
//! disconnect when an Interim shows the time or data is used up, or when an admin disables,
//! expires or deletes the user; CoA when an admin changes the user's rate limit. Every
//! action is logged and counted (`radius_dynauth_requests_total`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Filter, SessionStore, Sessions};
use crate::client::Timing;
use crate::client::dynauth::{self, DynAuthKind, DynAuthReply, SessionRef};
use crate::clients::Clients;
use crate::metrics::{self as m, DYNAUTH_TOTAL};
use crate::model::Session;
use crate::policy::Profile;
use crate::profiles::{Profiles, UserChange};

/// What caused an action (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An Interim showed the user's time or data used up.
    Quota,
    /// An admin changed the user's rows.
    Admin,
    /// `hotspot-radius disconnect|coa`.
    Cli,
    /// The Disconnect button of the admin status page.
    StatusPage,
}

impl Trigger {
    /// Stable label.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quota => "quota",
            Self::Admin => "admin",
            Self::Cli => "cli",
            Self::StatusPage => "status_page",
        }
    }
}

/// Why an action could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No client entry covers the session's NAS any more.
    #[error("no NAS client entry for {0}")]
    UnknownNas(IpAddr),
    /// The client entry now covering the session's NAS belongs to another tenant than the
    /// session: a request for one tenant's user is never sent to another tenant's router.
    #[error("the NAS client entry for {0} belongs to another tenant than the session")]
    OtherTenant(IpAddr),
    /// Sending failed, or the NAS did not answer.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
}

/// One automatic action, queued for the action task.
#[derive(Debug, Clone)]
pub enum Action {
    /// Disconnect the session.
    Disconnect {
        /// The session.
        session: Session,
        /// What caused it.
        trigger: Trigger,
        /// Why, for the log.
        why: &'static str,
    },
    /// Change the session's authorization (pre-encoded attributes).
    Coa {
        /// The session.
        session: Session,
        /// Attribute TLVs to send.
        attrs: Vec<Vec<u8>>,
        /// What caused it.
        trigger: Trigger,
    },
}

/// How long an automatic action on one session is not repeated, by any instance (each
/// Interim of a session over quota would otherwise send another).
const REPEAT_AFTER: Duration = Duration::from_secs(60);
/// Automatic actions in flight at once.
const PARALLEL: usize = 32;

/// Sends Disconnect/CoA-Requests to the NAS that owns a session.
#[derive(Debug)]
pub struct Dynauth {
    clients: Arc<Clients>,
    timing: Timing,
}

impl Dynauth {
    /// Over the live NAS table.
    pub fn new(clients: Arc<Clients>, timing: Timing) -> Self {
        Self { clients, timing }
    }

    /// Send one request about `session`; the NAS's answer (ACK or NAK with its cause).
    pub async fn send(
        &self,
        kind: DynAuthKind,
        session: &Session,
        attrs: &[Vec<u8>],
        trigger: Trigger,
    ) -> Result<DynAuthReply, ActionError> {
        let result = self.send_inner(kind, session, attrs).await;
        let outcome = match &result {
            Ok(DynAuthReply::Ack) => "ack",
            Ok(DynAuthReply::Nak { .. }) => "nak",
            Err(ActionError::Client(crate::client::ClientError::Timeout { .. })) => "timeout",
            Err(_) => "error",
        };
        m::inc(
            DYNAUTH_TOTAL,
            &[
                ("kind", kind.name()),
                ("trigger", trigger.name()),
                ("result", outcome),
            ],
            1,
        );
        match &result {
            Ok(reply) => tracing::info!(user = %session.username, session = %session.session_id,
                nas = %session.nas_ip, kind = kind.name(), trigger = trigger.name(), ?reply, "dynamic authorization answered"),
            Err(e) => tracing::warn!(user = %session.username, session = %session.session_id,
                nas = %session.nas_ip, kind = kind.name(), trigger = trigger.name(), error = %e, "dynamic authorization failed"),
        }
        result
    }

    async fn send_inner(
        &self,
        kind: DynAuthKind,
        session: &Session,
        attrs: &[Vec<u8>],
    ) -> Result<DynAuthReply, ActionError> {
        // The NAS answers where it sends from: its NAS-IP when the client entry covers it,
        // else the entry's own address.
        let target = if session.client.contains(&session.nas_ip) {
            session.nas_ip
        } else {
            session.client.addr()
        };
        let client = self
            .clients
            .lookup(target)
            .ok_or(ActionError::UnknownNas(target))?;
        if client.tenant() != session.tenant.as_deref() {
            return Err(ActionError::OtherTenant(target));
        }
        let server = SocketAddr::new(target, client.coa_port);
        let reference = SessionRef {
            user_name: session.username.clone(),
            acct_session_id: Some(session.session_id.clone()),
            framed_ip: match session.framed_ip {
                Some(IpAddr::V4(v4)) => Some(v4),
                _ => None,
            },
            nas_ip: Some(session.nas_ip),
        };
        Ok(dynauth::send(
            kind,
            server,
            client.signer(),
            &reference,
            attrs,
            self.timing,
        )
        .await?)
    }
}

/// A queue of automatic actions (cheap to clone; full queue ⇒ dropped and counted).
#[derive(Debug, Clone)]
pub struct ActionQueue {
    tx: mpsc::Sender<Action>,
}

impl ActionQueue {
    /// Queue an action without waiting.
    pub fn push(&self, action: Action) {
        if self.tx.try_send(action).is_err() {
            m::inc(
                DYNAUTH_TOTAL,
                &[
                    ("kind", "any"),
                    ("trigger", "any"),
                    ("result", "queue_full"),
                ],
                1,
            );
        }
    }
}

impl Action {
    /// The claim key: one per session, kind and (for CoA) attributes, so one change is
    /// acted on once across instances, and a later different change is not held back.
    fn claim_key(&self) -> String {
        match self {
            Self::Disconnect { session, .. } => format!("disconnect:{}", session.unique_id),
            Self::Coa { session, attrs, .. } => {
                use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
                let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(attrs);
                format!("coa:{}:{h:016x}", session.unique_id)
            }
        }
    }
}

/// The action task: runs queued actions, a bounded number at once, each only after
/// claiming it in the session store (so every instance may queue it, one sends it). Ends
/// on `cancel`.
pub fn spawn_actions(
    dynauth: Arc<Dynauth>,
    store: Sessions,
    capacity: usize,
    cancel: CancellationToken,
) -> (ActionQueue, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Action>(capacity.max(1));
    let task = tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        loop {
            let action = tokio::select! {
                () = cancel.cancelled() => return,
                a = rx.recv() => match a { Some(a) => a, None => return },
            };
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let dynauth = Arc::clone(&dynauth);
            let store = store.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match store
                    .claim(&action.claim_key(), REPEAT_AFTER.as_secs())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return, // this instance or another already acted
                    Err(e) => {
                        // Better twice than never: a user over quota must be cut off.
                        tracing::debug!(error = %e, "cannot claim an automatic action; sending anyway");
                    }
                }
                match action {
                    Action::Disconnect {
                        session,
                        trigger,
                        why,
                    } => {
                        tracing::info!(user = %session.username, session = %session.session_id, why, "disconnecting");
                        let _ = dynauth
                            .send(DynAuthKind::Disconnect, &session, &[], trigger)
                            .await;
                    }
                    Action::Coa {
                        session,
                        attrs,
                        trigger,
                    } => {
                        let _ = dynauth
                            .send(DynAuthKind::Coa, &session, &attrs, trigger)
                            .await;
                    }
                }
            });
        }
    });
    (ActionQueue { tx }, task)
}

impl Action {
    /// The automatic action for a user whose profile changed from `before` to `after`
    /// (`None`: deleted) at `now`, for one open session; `None` when nothing is to be done.
    pub fn for_change(
        session: &Session,
        before: Option<&Profile>,
        after: Option<&Profile>,
        now: i64,
    ) -> Option<Self> {
        let Some(after) = after else {
            return Some(Self::Disconnect {
                session: session.clone(),
                trigger: Trigger::Admin,
                why: "user deleted",
            });
        };
        let standing = after.standing(now);
        if let Some(denied) = standing.denied {
            return Some(Self::Disconnect {
                session: session.clone(),
                trigger: Trigger::Admin,
                why: denied.name(),
            });
        }
        let new_rate = standing.rate_limit;
        let old_rate = before.and_then(|p| p.standing(now).rate_limit);
        match (new_rate, before) {
            (Some(rate), Some(_)) if old_rate.as_deref() != Some(rate.as_slice()) => {
                Some(Self::Coa {
                    session: session.clone(),
                    attrs: vec![rate],
                    trigger: Trigger::Admin,
                })
            }
            _ => None,
        }
    }
}

/// Watches pushed user changes: for each changed user with open sessions, reloads the
/// profile and queues a Disconnect or CoA per session as [`Action::for_change`] says, or a
/// Disconnect when the changed limits leave nothing (`policy::limits::decide` in `tz`).
pub fn spawn_change_watcher(
    profiles: Profiles,
    store: Sessions,
    actions: ActionQueue,
    mut changes: mpsc::Receiver<UserChange>,
    tz: Tz,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                () = cancel.cancelled() => return,
                c = changes.recv() => match c { Some(c) => c, None => return },
            };
            let tenant = change.tenant.as_deref();
            let user_id = crate::tenants::scoped(tenant, &change.username);
            let filter = Filter {
                user: Some(user_id.clone().into_owned()),
                nas: None,
            };
            let Ok(open) = store.list(&filter).await else {
                continue;
            };
            if open.is_empty() {
                continue;
            }
            let after = match profiles.user_in(tenant, &change.username).await {
                Ok(p) => p,
                Err(e) => {
                    // Unknown now: acting on a guess could cut a paying customer off.
                    tracing::warn!(user = %change.username, error = %e, "user changed but cannot be reloaded; no action");
                    continue;
                }
            };
            let now = chrono::Utc::now().timestamp();
            // A lowered quota (or a new Login-Time, Expire-After) may leave the user with
            // nothing left: cut those sessions off like an exhausted Interim would.
            let exhausted = match after.as_deref() {
                Some(profile) => {
                    let (_, limits) = profile.admission(now);
                    if limits.is_empty() {
                        None
                    } else {
                        match store.user_state(&user_id).await {
                            Ok(state) => {
                                crate::policy::limits::decide(&limits, &state.usage, now, tz).err()
                            }
                            Err(_) => None,
                        }
                    }
                }
                None => None,
            };
            for session in &open {
                let action =
                    Action::for_change(session, change.before.as_deref(), after.as_deref(), now)
                        .or_else(|| {
                            exhausted.map(|why| Action::Disconnect {
                                session: session.clone(),
                                trigger: Trigger::Admin,
                                why: why.name(),
                            })
                        });
                if let Some(action) = action {
                    actions.push(action);
                }
            }
        }
    })
}
