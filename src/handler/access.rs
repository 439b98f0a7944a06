//! Access-Request: Message-Authenticator policy, user lookup, authorization, credential
//! check, and the Accept/Reject reply.
//!
//! Error mapping, in one place: unknown user, denied or wrong credentials ⇒ Access-Reject;
//! user store unavailable ⇒ no reply (the NAS retries; never a false reject); bad or
//! missing-but-required Message-Authenticator ⇒ silent drop.

use std::net::{IpAddr, SocketAddr};

use radius_proto::auth::{self, Method, ReplyAttr, Verdict};
use radius_proto::protocol::{Code, Packet, PacketBuilder, attrs};

use super::{
    AcctSink, Context, MaRule, Outcome, Reply, UserSource, check_message_authenticator, unix_now,
};
use crate::clients::Client;
use crate::metrics::{self as m, AUTH_TOTAL, BACKEND_UNAVAILABLE_TOTAL, reason};
use crate::model::PostAuthRecord;
use crate::outage::Outage;
use crate::policy::Authorization;

/// User lookups, for the log (one line when failures start, one when they end).
static LOOKUPS: Outage = Outage::new();

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
    let found = ctx.users.user(username).await;
    if found.is_ok() && LOOKUPS.recovered() {
        tracing::info!("user lookups succeed again");
    }
    let profile = match found {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::debug!(nas = %client.name, user = username, "unknown user");
            post_auth(ctx, packet, source, username, Code::AccessReject);
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
            post_auth(ctx, packet, source, username, Code::AccessReject);
            return reject(ctx, packet, Vec::new(), method, why.name());
        }
        Authorization::Proceed {
            credential,
            accept_without_password,
            reply,
            session_timeout,
            ..
        } => {
            let verdict = if accept_without_password {
                Verdict::Accept(Vec::new())
            } else if let Some(credential) = credential {
                check_credentials(packet, client, credential).await
            } else {
                Verdict::Reject(auth::RejectReason::Malformed, Vec::new())
            };
            match verdict {
                Verdict::Accept(extra) => {
                    post_auth(ctx, packet, source, username, Code::AccessAccept);
                    return accept(packet, &reply, &extra, session_timeout, method);
                }
                Verdict::Reject(why, extra) => (why, extra),
            }
        }
    };
    let (why, extra) = verdict;
    tracing::debug!(nas = %client.name, user = username, reason = why.name(), "rejected");
    post_auth(ctx, packet, source, username, Code::AccessReject);
    reject(ctx, packet, extra, method, why.name())
}

/// Slow password hashes (bcrypt, SHA-crypt) checked at once; more wait for a slot.
const CRYPT_SLOTS: usize = 4;
static CRYPT_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CRYPT_SLOTS);

/// Run the credential check. Crypt-Password hashes cost milliseconds (bcrypt cost 10 is
/// ~100 ms), so they run on the blocking pool, a bounded number at a time, instead of
/// stalling the async workers that answer every other NAS.
async fn check_credentials(
    packet: &Packet<'_>,
    client: &Client,
    credential: &auth::Credential,
) -> Verdict {
    let auth::Credential::Crypt(_) = credential else {
        let salt: [u8; 4] = rand::random();
        return auth::check(packet, client.signer(), credential, salt);
    };
    if Method::detect(packet) != Method::Pap {
        return Verdict::Reject(auth::RejectReason::MethodUnsupported, Vec::new());
    }
    let password = match auth::pap::password(packet, client.signer()) {
        Ok(p) => p,
        Err(why) => return Verdict::Reject(why, Vec::new()),
    };
    let Ok(_permit) = CRYPT_PERMITS.acquire().await else {
        return Verdict::Reject(auth::RejectReason::Malformed, Vec::new());
    };
    let credential = credential.clone();
    tokio::task::spawn_blocking(move || auth::pap::check(&password, &credential))
        .await
        .unwrap_or(Verdict::Reject(
            auth::RejectReason::BadCredentials,
            Vec::new(),
        ))
}

fn accept(
    packet: &Packet<'_>,
    reply: &[&[u8]],
    extra: &[ReplyAttr],
    session_timeout: Option<u32>,
    method: Method,
) -> Outcome {
    let mut b = PacketBuilder::reply(packet, Code::AccessAccept);
    let built = (|| {
        for tlv in reply {
            b.add_raw(tlv)?;
        }
        add_reply_attrs(&mut b, extra)?;
        if let Some(t) = session_timeout {
            b.add_u32(attrs::SESSION_TIMEOUT, t)?;
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
    packet: &Packet<'_>,
    source: SocketAddr,
    username: &str,
    code: Code,
) {
    let nas_ip = packet
        .attr(attrs::NAS_IP_ADDRESS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(IpAddr::from)
        .unwrap_or_else(|| source.ip().to_canonical());
    let record = PostAuthRecord {
        username: username.to_owned(),
        reply: code.name().to_owned(),
        called_station_id: packet.attr_str(attrs::CALLED_STATION_ID).map(str::to_owned),
        calling_station_id: packet
            .attr_str(attrs::CALLING_STATION_ID)
            .map(str::to_owned),
        nas_ip: Some(nas_ip),
        class: None,
        auth_time: unix_now(),
    };
    // A full queue drops the record (the backend counts it); never block the reply.
    let _ = ctx.sink.post_auth(record);
}
