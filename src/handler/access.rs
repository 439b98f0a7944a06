//! Access-Request: Message-Authenticator policy, user lookup, authorization, credential
//! check, and the Accept/Reject reply.
//!
//! Error mapping, in one place: unknown user, denied or wrong credentials ⇒ Access-Reject;
//! user store unavailable ⇒ no reply (the NAS retries; never a false reject); bad or
//! missing-but-required Message-Authenticator ⇒ silent drop; an uncached user while this
//! NAS already has `max_misses_per_nas` lookups waiting ⇒ no reply (`miss_budget`).

use std::net::{IpAddr, SocketAddr};

use radius_proto::auth::{self, Method, ReplyAttr, Verdict};
use radius_proto::protocol::{Code, Packet, PacketBuilder, attrs};

use super::{
    AcctSink, Context, MaRule, Outcome, Reply, UserSource, check_message_authenticator, unix_now,
};
use crate::clients::{Client, Slot};
use crate::metrics::{
    self as m, AUTH_TOTAL, BACKEND_UNAVAILABLE_TOTAL, SESSION_STORE_ERRORS_TOTAL, reason,
};
use crate::model::Usage;
use crate::model::{PostAuthFields, PostAuthRecord};
use crate::outage::Outage;
use crate::policy::limits::{Grant, LimitReason, Limits, decide};
use crate::policy::{Authorization, reply_key};
use crate::sessions::{Filter, SessionRules, SessionStore};

/// User lookups, for the log (one line when failures start, one when they end).
static LOOKUPS: Outage = Outage::new();
/// Session-store reads at login, likewise.
static SESSION_READS: Outage = Outage::new();

/// Process one Access-Request.
pub async fn handle<U: UserSource, A: AcctSink>(
    ctx: &Context<U, A>,
    client: &Client,
    source: SocketAddr,
    packet: &Packet<'_>,
) -> Outcome {
    if let Err(why) = check_message_authenticator(client, source.ip(), packet, MaRule::NasPolicy) {
        return Outcome::Drop(why);
    }
    let method = Method::detect(packet);
    let Some(username) = packet.attr_str(attrs::USER_NAME).filter(|u| !u.is_empty()) else {
        tracing::debug!(nas = %client.name, "Access-Request without User-Name");
        return reject(ctx, packet, Vec::new(), method, "no_user_name");
    };
    // Users are looked up within the NAS's tenant (`None`: global, the plain schema).
    let tenant = client.tenant();
    let found = match ctx.users.cached_in(tenant, username).await {
        Some(hit) => Ok(hit),
        None => {
            // Past the cache: one of this NAS's bounded miss slots, held for the lookup. A
            // flood of unknown names from one NAS is dropped here (it retransmits), so it
            // cannot take every worker slot and connection from the other NASes' logins.
            let Some(_miss) = client.begin_miss(ctx.max_misses_per_nas) else {
                return Outcome::Drop(reason::MISS_BUDGET);
            };
            // Boxed: the store's lookup future (PostgreSQL, Redis) is large, and a cached
            // answer should not carry (and copy) its space in every request's future.
            Box::pin(ctx.users.user_in(tenant, username)).await
        }
    };
    if found.is_ok() && LOOKUPS.recovered() {
        tracing::info!("user lookups succeed again");
    }
    let profile = match found {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::debug!(nas = %client.name, user = username, "unknown user");
            post_auth(ctx, client, packet, source, username, Code::AccessReject);
            return reject(ctx, packet, Vec::new(), method, "unknown_user");
        }
        Err(e) => {
            if LOOKUPS.failed() {
                tracing::warn!(error = %e, "user lookups failing; not answering uncached users until they succeed");
            }
            m::inc(BACKEND_UNAVAILABLE_TOTAL, &[("backend", e.backend())], 1);
            return Outcome::Drop(reason::STORE_UNAVAILABLE);
        }
    };
    let verdict = match profile.authorize(packet, unix_now()) {
        Authorization::Deny(why) => {
            tracing::debug!(nas = %client.name, user = username, reason = why.name(), "denied");
            post_auth(ctx, client, packet, source, username, Code::AccessReject);
            return reject(ctx, packet, Vec::new(), method, why.name());
        }
        Authorization::Proceed {
            credential,
            accept_without_password,
            reply,
            session_timeout,
            limits,
            simultaneous_use,
        } => {
            let verdict = if accept_without_password {
                Verdict::Accept(Vec::new())
            } else if let Some(credential) = credential {
                match credential {
                    auth::Credential::Crypt(_) => {
                        match Box::pin(check_slow_hash(packet, client, method, credential)).await {
                            Ok(v) => v,
                            // Too many slow hashes queued, or this one waited too long: no
                            // answer (the NAS retries), never a false Access-Reject.
                            Err(why) => return Outcome::Drop(why),
                        }
                    }
                    _ => {
                        // Only MS-CHAPv2 uses the salt (its MPPE keys).
                        let salt = if method == Method::MsChapV2 {
                            rand::random()
                        } else {
                            [0; 4]
                        };
                        auth::check_method(method, packet, client.signer(), credential, salt)
                    }
                }
            } else {
                Verdict::Reject(auth::RejectReason::Malformed, Vec::new())
            };
            match verdict {
                Verdict::Accept(extra) => {
                    let grant = match &ctx.sessions {
                        Some(rules) => {
                            let checked = if simultaneous_use.is_none() && !limits.needs_usage() {
                                // Nothing here needs the store (at most a Login-Time
                                // window: the clock decides).
                                decide(&limits, &Usage::default(), unix_now(), rules.tz)
                                    .map_err(refusal)
                            } else {
                                let user_id = crate::tenants::scoped(tenant, username);
                                Box::pin(session_check(
                                    rules,
                                    packet,
                                    &user_id,
                                    simultaneous_use,
                                    &limits,
                                ))
                                .await
                            };
                            match checked {
                                Ok(grant) => grant,
                                Err(refusal) => {
                                    tracing::debug!(nas = %client.name, user = username, reason = refusal.label, "refused by session rules");
                                    post_auth(
                                        ctx,
                                        client,
                                        packet,
                                        source,
                                        username,
                                        Code::AccessReject,
                                    );
                                    return reject_with_message(
                                        ctx,
                                        packet,
                                        method,
                                        refusal.label,
                                        refusal.message,
                                    );
                                }
                            }
                        }
                        None => Grant::default(),
                    };
                    post_auth(ctx, client, packet, source, username, Code::AccessAccept);
                    let terms = Terms {
                        session_timeout: min_opt(
                            min_opt(session_timeout, grant.session_timeout),
                            ctx.sessions.as_ref().and_then(|r| r.max_session_timeout),
                        ),
                        data_left: grant.data_left,
                        interim: ctx.sessions.as_ref().map_or(0, |r| r.interim_interval),
                    };
                    return accept(packet, &reply, &extra, &terms, method);
                }
                Verdict::Reject(why, extra) => (why, extra),
            }
        }
    };
    let (why, extra) = verdict;
    tracing::debug!(nas = %client.name, user = username, reason = why.name(), "rejected");
    post_auth(ctx, client, packet, source, username, Code::AccessReject);
    reject(ctx, packet, extra, method, why.name())
}

/// Slow password hashes (bcrypt, SHA-crypt) checked at once; more wait for a slot.
const CRYPT_SLOTS: usize = 4;
static CRYPT_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CRYPT_SLOTS);
/// Most slow-hash checks waiting for a slot; beyond it the request is dropped (counted as
/// `crypt_busy`): a burst of bcrypt logins must not hold every worker slot.
const CRYPT_QUEUE_MAX: usize = 64;
static CRYPT_WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Longest a slow-hash check waits for a slot: past it the NAS has retransmitted or given
/// up (RouterOS waits 1100 ms per try), so the answer would be useless (`crypt_timeout`).
const CRYPT_WAIT: std::time::Duration = std::time::Duration::from_millis(2_000);

/// Check a Crypt-Password. These hashes cost milliseconds (bcrypt cost 10 is ~100 ms), so
/// they run on the blocking pool, a bounded number at a time, with a bounded queue and a
/// bounded wait, instead of stalling the async workers that answer every other NAS. `Err`
/// is a drop reason: the request gets no answer (the NAS retries). Every other credential
/// is checked inline ([`auth::check`]).
async fn check_slow_hash(
    packet: &Packet<'_>,
    client: &Client,
    method: Method,
    credential: &auth::Credential,
) -> Result<Verdict, &'static str> {
    if method != Method::Pap {
        return Ok(Verdict::Reject(
            auth::RejectReason::MethodUnsupported,
            Vec::new(),
        ));
    }
    let password = match auth::pap::password(packet, client.signer()) {
        Ok(p) => p,
        Err(why) => return Ok(Verdict::Reject(why, Vec::new())),
    };
    let Some(queued) = Slot::take(&CRYPT_WAITING, CRYPT_QUEUE_MAX) else {
        return Err(reason::CRYPT_BUSY);
    };
    let permit = match tokio::time::timeout(CRYPT_WAIT, CRYPT_PERMITS.acquire()).await {
        Ok(Ok(p)) => p,
        Ok(Err(_)) | Err(_) => return Err(reason::CRYPT_TIMEOUT),
    };
    drop(queued);
    let credential = credential.clone();
    let verdict = tokio::task::spawn_blocking(move || auth::pap::check(&password, &credential))
        .await
        .unwrap_or(Verdict::Reject(
            auth::RejectReason::BadCredentials,
            Vec::new(),
        ));
    drop(permit);
    Ok(verdict)
}

/// Why the session rules refused a login.
struct Refusal {
    /// `radius_auth_total{result}` label.
    label: &'static str,
    /// Reply-Message for the user.
    message: &'static str,
}

/// The smaller of two optional bounds.
fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Simultaneous-Use and the quotas, from the session store (no SQL). A store that cannot
/// answer lets the login through (counted, logged once): an outage must never turn into
/// a false Access-Reject. `username` is the session store's user id (tenant, username;
/// see `Session::user_id`).
async fn session_check(
    rules: &SessionRules,
    packet: &Packet<'_>,
    username: &str,
    simultaneous_use: Option<u32>,
    limits: &Limits<'_>,
) -> Result<Grant, Refusal> {
    let state = match rules.store.user_state(username).await {
        Ok(s) => {
            if SESSION_READS.recovered() {
                tracing::info!("session store answers again");
            }
            s
        }
        Err(e) => {
            m::inc(SESSION_STORE_ERRORS_TOTAL, &[("op", "login")], 1);
            if SESSION_READS.failed() {
                tracing::warn!(error = %e, "session store unavailable; logins are not held to Simultaneous-Use or quotas until it answers");
            }
            return Ok(Grant::default());
        }
    };
    if let Some(max) = simultaneous_use
        && state.open >= max
        && still_over(rules, packet, username, max).await
    {
        return Err(Refusal {
            label: "simultaneous_use",
            message: "You are already logged in on as many devices as your plan allows",
        });
    }
    decide(limits, &state.usage, unix_now(), rules.tz).map_err(refusal)
}

fn refusal(why: LimitReason) -> Refusal {
    Refusal {
        label: why.name(),
        message: why.message(),
    }
}

/// Over the Simultaneous-Use limit once a session from this same device on this same NAS is
/// discounted: that one lost its Stop (the device is logging in again), and counting it
/// would lock the customer out until it goes stale.
async fn still_over(rules: &SessionRules, packet: &Packet<'_>, username: &str, max: u32) -> bool {
    let Some(mac) = packet
        .attr_str(attrs::CALLING_STATION_ID)
        .filter(|m| !m.is_empty())
    else {
        return true;
    };
    let filter = Filter {
        user: Some(username.to_owned()),
        nas: None,
    };
    let Ok(open) = rules.store.list(&filter).await else {
        return true;
    };
    let nas_ip = packet
        .attr(attrs::NAS_IP_ADDRESS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(IpAddr::from);
    let others = open
        .iter()
        .filter(|s| {
            let same_device = s
                .mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
                && nas_ip.is_none_or(|ip| ip == s.nas_ip);
            !same_device
        })
        .count();
    u32::try_from(others).unwrap_or(u32::MAX) >= max
}

/// What an Access-Accept grants beyond the reply items.
struct Terms {
    session_timeout: Option<u32>,
    /// Octets left (sent as Mikrotik-Total-Limit + Gigawords, replacing any reply item).
    data_left: Option<u64>,
    /// Acct-Interim-Interval to add when the reply has none (0: none).
    interim: u32,
}

fn is_total_limit(tlv: &[u8]) -> bool {
    let v = attrs::mikrotik::VENDOR_ID;
    let key = reply_key(tlv);
    key == (v, attrs::mikrotik::TOTAL_LIMIT) || key == (v, attrs::mikrotik::TOTAL_LIMIT_GIGAWORDS)
}

fn accept(
    packet: &Packet<'_>,
    reply: &[&[u8]],
    extra: &[ReplyAttr],
    terms: &Terms,
    method: Method,
) -> Outcome {
    let mut b = PacketBuilder::reply(packet, Code::AccessAccept);
    let built = (|| {
        let mut has_interim = false;
        for tlv in reply {
            if terms.data_left.is_some() && is_total_limit(tlv) {
                continue;
            }
            has_interim |= reply_key(tlv) == (0, attrs::ACCT_INTERIM_INTERVAL);
            b.add_raw(tlv)?;
        }
        add_reply_attrs(&mut b, extra)?;
        if let Some(t) = terms.session_timeout {
            b.add_u32(attrs::SESSION_TIMEOUT, t)?;
        }
        if let Some(left) = terms.data_left {
            let (low, high) = crate::policy::limits::mikrotik_total_limit(left);
            let v = attrs::mikrotik::VENDOR_ID;
            b.add_vendor(v, attrs::mikrotik::TOTAL_LIMIT, &low.to_be_bytes())?;
            if high > 0 {
                b.add_vendor(
                    v,
                    attrs::mikrotik::TOTAL_LIMIT_GIGAWORDS,
                    &high.to_be_bytes(),
                )?;
            }
        }
        if terms.interim > 0 && !has_interim {
            b.add_u32(attrs::ACCT_INTERIM_INTERVAL, terms.interim)?;
        }
        Ok::<_, radius_proto::protocol::EncodeError>(())
    })();
    if let Err(e) = built {
        tracing::warn!(error = %e, "Access-Accept does not fit; not answering");
        return Outcome::Drop(reason::ENCODE_FAILED);
    }
    m::inc(
        AUTH_TOTAL,
        &[("method", method.name()), ("result", "accept")],
        1,
    );
    Outcome::reply(b, "accept")
}

fn reject<U, A>(
    ctx: &Context<U, A>,
    packet: &Packet<'_>,
    extra: Vec<ReplyAttr>,
    method: Method,
    why: &'static str,
) -> Outcome {
    m::inc(AUTH_TOTAL, &[("method", method.name()), ("result", why)], 1);
    let mut b = PacketBuilder::reply(packet, Code::AccessReject);
    if let Err(e) = add_reply_attrs(&mut b, &extra) {
        tracing::debug!(error = %e, "reject attributes dropped");
        b = PacketBuilder::reply(packet, Code::AccessReject);
    }
    Outcome::Reply(Reply {
        builder: b,
        delay: ctx.reject_delay,
        outcome: "reject",
    })
}

/// An Access-Reject with a Reply-Message saying why (session rules: the user can act on
/// it, unlike a password failure).
fn reject_with_message<U, A>(
    ctx: &Context<U, A>,
    packet: &Packet<'_>,
    method: Method,
    why: &'static str,
    message: &str,
) -> Outcome {
    let extra = vec![ReplyAttr {
        vendor: 0,
        typ: attrs::REPLY_MESSAGE,
        value: message.as_bytes().to_vec(),
    }];
    reject(ctx, packet, extra, method, why)
}

fn add_reply_attrs(
    b: &mut PacketBuilder,
    extra: &[ReplyAttr],
) -> Result<(), radius_proto::protocol::EncodeError> {
    for a in extra {
        if a.vendor == 0 {
            b.add(a.typ, &a.value)?;
        } else {
            b.add_vendor(a.vendor, a.typ, &a.value)?;
        }
    }
    Ok(())
}

fn post_auth<U, A: AcctSink>(
    ctx: &Context<U, A>,
    client: &Client,
    packet: &Packet<'_>,
    source: SocketAddr,
    username: &str,
    code: Code,
) {
    let accepted = code == Code::AccessAccept;
    // `[postauth] log` may not keep it: then nothing is built.
    if !ctx.sink.keeps_post_auth(accepted) {
        return;
    }
    let nas_ip = packet
        .attr(attrs::NAS_IP_ADDRESS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(IpAddr::from)
        .unwrap_or_else(|| source.ip().to_canonical());
    let record = PostAuthRecord::new(&PostAuthFields {
        username,
        accepted,
        called_station_id: packet.attr_str(attrs::CALLED_STATION_ID),
        calling_station_id: packet.attr_str(attrs::CALLING_STATION_ID),
        nas_ip: Some(nas_ip),
        class: None,
        auth_time: unix_now(),
        tenant: client.tenant(),
    });
    // A full queue drops the record (the backend counts it); never block the reply.
    let _ = ctx.sink.post_auth(record);
}
