//! The requests `bench` sends: MikroTik-shaped Access-Requests (PAP, CHAP, MS-CHAPv2) and
//! accounting sessions, written straight into the engine's per-identifier buffers.
//!
//! Per-request fields (identifier, authenticator, user, password or CHAP/MS-CHAPv2
//! response, session fields, Message-Authenticator) are encoded in place with radius-proto's
//! [`AttributeWriter`] and signed in place with its [`Signer`], so nothing is allocated per
//! request. Every value's size is checked when the run starts, so writing cannot fail.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use radius_proto::auth::{chap, mschapv2};
use radius_proto::protocol::attrs::{self, microsoft};
use radius_proto::protocol::{
    AcctStatus, AttributeWriter, Code, EncodeError, MAX_ATTR_VALUE_LEN, MAX_PASSWORD_LEN, Signer,
};

use super::{BenchArgs, HotspotAuth, Mode, UserOrder};
use crate::engine::{Flow, Generator, Out};
use crate::error::LoadError;
use crate::report::Counts;
use crate::rng::FastRng;

/// An `Invalid` error.
fn invalid(message: String) -> LoadError {
    LoadError::Invalid(message)
}

/// Users to log in as.
#[derive(Debug)]
struct Users {
    names: Vec<String>,
    passwords: Vec<String>,
    nt_hashes: Vec<[u8; 16]>,
}

impl Users {
    fn load(args: &BenchArgs) -> Result<Self, LoadError> {
        let (mut names, mut passwords) = (Vec::new(), Vec::new());
        if let Some(path) = &args.users_file {
            let text = std::fs::read_to_string(path).map_err(LoadError::io(format!(
                "reading users file {}",
                path.display()
            )))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((u, p)) = line.split_once(',') else {
                    return Err(invalid(format!(
                        "{}:{}: expected user,password",
                        path.display(),
                        n + 1
                    )));
                };
                if n == 0 && u.eq_ignore_ascii_case("user") && p.eq_ignore_ascii_case("password") {
                    continue;
                }
                names.push(u.to_owned());
                passwords.push(p.to_owned());
            }
        } else {
            for i in 0..args.users {
                names.push(format!("user{i}"));
                passwords.push(format!("pass{i}"));
            }
        }
        if names.is_empty() {
            return Err(invalid("no users".into()));
        }
        if names.iter().any(|n| n.len() > MAX_ATTR_VALUE_LEN) {
            return Err(invalid(format!(
                "a user name is longer than {MAX_ATTR_VALUE_LEN} bytes"
            )));
        }
        if passwords.iter().any(|p| p.len() > MAX_PASSWORD_LEN) {
            return Err(invalid(format!(
                "a password is longer than {MAX_PASSWORD_LEN} bytes"
            )));
        }
        let nt_hashes = if args.mode == Mode::Mschapv2 {
            passwords
                .iter()
                .map(|p| mschapv2::nt_hash(p.as_bytes()))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            names,
            passwords,
            nt_hashes,
        })
    }
}

/// Fields the same for every request of a run.
#[derive(Debug)]
struct Fixed {
    mode: Mode,
    hotspot_auth: HotspotAuth,
    order: UserOrder,
    interims: u32,
    with_ma: bool,
    nas_ip: [u8; 4],
    nas_identifier: String,
    called: String,
}

/// One generator per socket, sharing the users and the run's fixed fields.
pub(super) fn generators(
    args: &BenchArgs,
    signer: &Signer,
    sockets: usize,
) -> Result<Vec<Box<dyn Generator>>, LoadError> {
    let users = Arc::new(Users::load(args)?);
    for (flag, value) in [
        ("--nas-identifier", &args.nas_identifier),
        ("--called-station-id", &args.called_station_id),
    ] {
        if value.len() > MAX_ATTR_VALUE_LEN {
            return Err(invalid(format!(
                "{flag} is longer than {MAX_ATTR_VALUE_LEN} bytes"
            )));
        }
    }
    let fixed = Arc::new(Fixed {
        mode: args.mode,
        hotspot_auth: args.hotspot_auth,
        order: args.user_order,
        interims: args.interims,
        with_ma: !args.no_message_authenticator,
        nas_ip: args.nas_ip.octets(),
        nas_identifier: args.nas_identifier.clone(),
        called: args.called_station_id.clone(),
    });
    let n_users = users.names.len();
    if args.mode == Mode::Hotspot && args.rate.is_none() {
        let concurrency = args.concurrency.unwrap_or(64).max(1);
        if n_users < concurrency {
            return Err(invalid(format!(
                "--mode hotspot gives each user one session at a time: it needs at least as \
                 many users as --concurrency ({n_users} < {concurrency})"
            )));
        }
    }
    let session_base = FastRng::from_os().next_u64() >> 8;
    Ok((0..sockets)
        .map(|w| {
            // Hotspot: worker w owns users w, w + sockets, ... (as many as its share of the
            // concurrency, or more), each free until its session ends.
            let free_users = if args.mode == Mode::Hotspot {
                (w..n_users).step_by(sockets).map(|i| i as u32).collect()
            } else {
                VecDeque::new()
            };
            Box::new(BenchGen {
                fixed: fixed.clone(),
                users: users.clone(),
                signer: signer.clone(),
                rng: FastRng::from_os(),
                next_user: (w as u64) * (users.names.len() as u64) / sockets as u64,
                next_session: w as u64,
                session_step: sockets as u64,
                session_base,
                free_users,
                sessions: 0,
                open: HashMap::new(),
            }) as Box<dyn Generator>
        })
        .collect())
}

/// One worker's generator.
struct BenchGen {
    fixed: Arc<Fixed>,
    users: Arc<Users>,
    signer: Signer,
    rng: FastRng,
    next_user: u64,
    next_session: u64,
    session_step: u64,
    session_base: u64,
    /// Hotspot mode: this worker's users without a session in progress, in the order
    /// they became free (a user is reused only after its previous session ended).
    free_users: VecDeque<u32>,
    /// Hotspot mode: sessions whose Stop was answered.
    sessions: u64,
    /// Accounting sessions open on the server, by session number: Start written, Stop
    /// not answered (the flow as of its last request, for the Stop that closes it).
    open: HashMap<u64, Flow>,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Acct-Terminate-Cause of a session's own Stop: User-Request (RFC 2866 §5.10).
const TERMINATE_USER_REQUEST: u32 = 1;
/// Acct-Terminate-Cause of the Stops that close the sessions left open when a run ends:
/// NAS-Request (the NAS, here the bench, ended them).
const TERMINATE_NAS_REQUEST: u32 = 10;

impl BenchGen {
    fn pick_user(&mut self) -> u32 {
        let n = self.users.names.len() as u64;
        let i = match self.fixed.order {
            UserOrder::Random => self.rng.below(n),
            UserOrder::Sequential => {
                let i = self.next_user % n;
                self.next_user += 1;
                i
            }
        };
        i as u32
    }

    fn name(&self, flow: &Flow) -> &[u8] {
        let user = usize::try_from(flow.item).unwrap_or(0);
        self.users
            .names
            .get(user)
            .map_or(&b""[..], |s| s.as_bytes())
    }

    /// Message-Authenticator (first, when sent) and the attributes every request of a
    /// session carries.
    fn common(
        &self,
        w: &mut AttributeWriter<'_>,
        flow: &Flow,
        pppoe: bool,
    ) -> Result<(), EncodeError> {
        if self.fixed.with_ma {
            w.add_message_authenticator()?;
        }
        w.add(attrs::USER_NAME, self.name(flow))?;
        w.add(attrs::NAS_IP_ADDRESS, &self.fixed.nas_ip)?;
        let s = self.session_base.wrapping_add(flow.session);
        w.add_u32(attrs::NAS_PORT, s as u32)?;
        if pppoe {
            w.add_u32(attrs::SERVICE_TYPE, 2)?; // Framed-User
            w.add_u32(attrs::FRAMED_PROTOCOL, 1)?; // PPP
            w.add_u32(attrs::NAS_PORT_TYPE, 15)?; // Ethernet
        } else {
            w.add_u32(attrs::SERVICE_TYPE, 1)?; // Login-User
            w.add_u32(attrs::NAS_PORT_TYPE, 19)?; // Wireless-802.11
        }
        w.add(attrs::CALLED_STATION_ID, self.fixed.called.as_bytes())?;
        let mut mac = *b"02:00:00:00:00:00";
        for k in 0..5 {
            let byte = (flow.session >> (8 * (4 - k))) as u8;
            mac[3 + 3 * k] = HEX[usize::from(byte >> 4)];
            mac[4 + 3 * k] = HEX[usize::from(byte & 15)];
        }
        w.add(attrs::CALLING_STATION_ID, &mac)?;
        w.add(attrs::NAS_IDENTIFIER, self.fixed.nas_identifier.as_bytes())?;
        let mut sid = [0u8; 16];
        for (k, c) in sid.iter_mut().enumerate() {
            *c = HEX[((s >> (60 - 4 * k)) & 15) as usize].to_ascii_lowercase();
        }
        w.add(attrs::ACCT_SESSION_ID, &sid)?;
        let ip = [
            10,
            (flow.session >> 16) as u8,
            (flow.session >> 8) as u8,
            (flow.session as u8).max(1),
        ];
        w.add(attrs::FRAMED_IP_ADDRESS, &ip)?;
        Ok(())
    }

    fn write_access(
        &mut self,
        id: u8,
        flow: &Flow,
        method: Mode,
        out: &mut Out<'_>,
    ) -> Result<(), EncodeError> {
        let auth = self.rng.bytes16();
        out.buf[4..20].copy_from_slice(&auth);
        let user = usize::try_from(flow.item).unwrap_or(0);
        let password = self
            .users
            .passwords
            .get(user)
            .map_or(&b""[..], |p| p.as_bytes());
        let mut w = AttributeWriter::new(&mut out.buf[..]);
        self.common(&mut w, flow, method == Mode::Mschapv2)?;
        match method {
            Mode::Chap => {
                let challenge = self.rng.bytes16();
                let ident = self.rng.byte();
                let value = chap::chap_password(ident, password, &challenge);
                w.add(attrs::CHAP_PASSWORD, &value)?;
                w.add(attrs::CHAP_CHALLENGE, &challenge)?;
            }
            Mode::Mschapv2 => {
                let challenge = self.rng.bytes16();
                let response = mschapv2::Response {
                    ident: self.rng.byte(),
                    flags: 0,
                    peer_challenge: self.rng.bytes16(),
                    nt_response: [0; 24],
                };
                let nt = self.users.nt_hashes.get(user).copied().unwrap_or_default();
                let response = mschapv2::Response {
                    nt_response: mschapv2::nt_response(
                        &challenge,
                        &response.peer_challenge,
                        self.name(flow),
                        &nt,
                    ),
                    ..response
                };
                w.add_vendor(
                    microsoft::VENDOR_ID,
                    microsoft::MS_CHAP_CHALLENGE,
                    &challenge,
                )?;
                w.add_vendor(
                    microsoft::VENDOR_ID,
                    microsoft::MS_CHAP2_RESPONSE,
                    &response.encode(),
                )?;
            }
            _ => {
                w.add_user_password(password, &self.signer, &auth)?;
            }
        }
        let len = w.finish(Code::AccessRequest, id);
        self.signer.sign_access_request(&mut out.buf[..len]);
        out.len = len;
        out.dest = 0;
        out.req_auth = auth;
        Ok(())
    }

    fn write_acct(
        &mut self,
        id: u8,
        flow: &Flow,
        status: AcctStatus,
        cause: u32,
        out: &mut Out<'_>,
    ) -> Result<(), EncodeError> {
        let mut w = AttributeWriter::new(&mut out.buf[..]);
        self.common(&mut w, flow, false)?;
        w.add_u32(attrs::ACCT_STATUS_TYPE, status.as_u32())?;
        w.add_u32(attrs::ACCT_AUTHENTIC, 1)?; // RADIUS
        w.add_u32(attrs::ACCT_DELAY_TIME, 0)?;
        if status != AcctStatus::Start {
            let t = flow.step.max(1);
            w.add_u32(attrs::ACCT_SESSION_TIME, t * 60)?;
            w.add_u32(attrs::ACCT_INPUT_OCTETS, t * 250_000)?;
            w.add_u32(attrs::ACCT_OUTPUT_OCTETS, t * 2_000_000)?;
            w.add_u32(attrs::ACCT_INPUT_GIGAWORDS, 0)?;
            w.add_u32(attrs::ACCT_OUTPUT_GIGAWORDS, 0)?;
            w.add_u32(attrs::ACCT_INPUT_PACKETS, t * 400)?;
            w.add_u32(attrs::ACCT_OUTPUT_PACKETS, t * 1600)?;
        }
        if status == AcctStatus::Stop {
            w.add_u32(attrs::ACCT_TERMINATE_CAUSE, cause)?;
        }
        let len = w.finish(Code::AccountingRequest, id);
        out.req_auth = self.signer.sign_computed_request(&mut out.buf[..len]);
        out.len = len;
        out.dest = 1;
        Ok(())
    }

    /// Write accounting step `step` (0 = Start) of a session; false after the Stop.
    fn acct_step(&mut self, id: u8, flow: &mut Flow, step: u32, out: &mut Out<'_>) -> bool {
        let interims = self.fixed.interims;
        let status = match step {
            0 => AcctStatus::Start,
            s if s <= interims => AcctStatus::InterimUpdate,
            s if s == interims + 1 => AcctStatus::Stop,
            _ => return false,
        };
        flow.step = step;
        let written = self
            .write_acct(id, flow, status, TERMINATE_USER_REQUEST, out)
            .is_ok();
        if written {
            // From its Start on, the session is open on the server until its Stop is
            // answered (`advance`).
            self.open.insert(flow.session, *flow);
        }
        written
    }
}

impl Generator for BenchGen {
    fn start(&mut self, id: u8, flow: &mut Flow, out: &mut Out<'_>) -> bool {
        let item = if self.fixed.mode == Mode::Hotspot {
            match self.free_users.pop_front() {
                Some(u) => u,
                None => return false,
            }
        } else {
            self.pick_user()
        };
        *flow = Flow {
            session: self.next_session,
            item,
            step: 0,
            variant: 0,
        };
        self.next_session += self.session_step;
        match self.fixed.mode {
            Mode::Acct => self.acct_step(id, flow, 0, out),
            Mode::Hotspot => {
                let m = match self.fixed.hotspot_auth {
                    HotspotAuth::Chap => Mode::Chap,
                    HotspotAuth::Pap => Mode::Pap,
                };
                flow.variant = 1;
                let written = self.write_access(id, flow, m, out).is_ok();
                if !written {
                    self.free_users.push_back(flow.item);
                }
                written
            }
            m => self.write_access(id, flow, m, out).is_ok(),
        }
    }

    fn advance(&mut self, id: u8, reply: Option<u8>, flow: &mut Flow, out: &mut Out<'_>) -> bool {
        let accounting = self.fixed.mode == Mode::Acct || flow.variant == 2;
        if accounting
            && flow.step == self.fixed.interims + 1
            && reply == Some(Code::AccountingResponse.as_u8())
        {
            self.open.remove(&flow.session);
        }
        match self.fixed.mode {
            Mode::Acct => self.acct_step(id, flow, flow.step + 1, out),
            Mode::Hotspot => {
                let more = if flow.variant == 1 {
                    // Login answered: accounting only when accepted.
                    flow.variant = 2;
                    reply == Some(2) && self.acct_step(id, flow, 0, out)
                } else {
                    if flow.step == self.fixed.interims + 1
                        && reply == Some(Code::AccountingResponse.as_u8())
                    {
                        self.sessions += 1;
                    }
                    self.acct_step(id, flow, flow.step + 1, out)
                };
                if !more {
                    // Session over (Stop answered or timed out, or login refused).
                    self.free_users.push_back(flow.item);
                }
                more
            }
            _ => false,
        }
    }

    fn waiting(&self) -> bool {
        self.fixed.mode == Mode::Hotspot && self.free_users.is_empty()
    }

    fn drains(&self) -> bool {
        matches!(self.fixed.mode, Mode::Hotspot | Mode::Acct)
    }

    fn finish(&self, counts: &mut Counts) {
        counts.sessions += self.sessions;
    }

    fn open_sessions(&self) -> Vec<Flow> {
        let mut open: Vec<Flow> = self.open.values().copied().collect();
        open.sort_unstable_by_key(|f| f.session);
        open
    }

    fn write_stop(&mut self, id: u8, flow: &Flow, out: &mut Out<'_>) -> bool {
        // The Stop follows the last request sent: its counters are the next step's.
        let flow = Flow {
            step: flow.step.saturating_add(1).min(self.fixed.interims + 1),
            ..*flow
        };
        self.write_acct(id, &flow, AcctStatus::Stop, TERMINATE_NAS_REQUEST, out)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use radius_proto::auth::mschapv2;
    use radius_proto::protocol::Packet;

    use super::*;
    use crate::sys::MAX_DATAGRAM;

    /// The first request of one flow of `mode`, decoded checks run by the caller.
    fn first_request(extra: &[&str], check: impl FnOnce(&Packet<'_>, &Signer, [u8; 16])) {
        let mut words = vec!["bench", "--users", "3", "--secret", "s3cret"];
        words.extend_from_slice(extra);
        let args = BenchArgs::try_parse_from(words).unwrap();
        let signer = Signer::new(b"s3cret");
        let mut gens = generators(&args, &signer, 1).unwrap();
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut out = Out {
            buf: &mut buf,
            len: 0,
            dest: 9,
            req_auth: [0; 16],
        };
        let mut flow = Flow::default();
        assert!(gens[0].start(42, &mut flow, &mut out));
        let (len, req_auth) = (out.len, out.req_auth);
        let packet = Packet::decode(&buf[..len]).unwrap();
        assert_eq!(packet.identifier(), 42);
        assert_eq!(packet.authenticator(), &req_auth);
        let user = packet.attr_str(attrs::USER_NAME).unwrap();
        assert_eq!(user, format!("user{}", flow.item));
        check(&packet, &signer, req_auth);
    }

    #[test]
    fn pap_request_carries_a_hidden_password_and_a_valid_message_authenticator() {
        first_request(&["--mode", "pap"], |p, signer, _| {
            assert_eq!(p.code(), Code::AccessRequest);
            assert_eq!(p.verify_message_authenticator(signer, None), Ok(true));
            let user = p.attr_str(attrs::USER_NAME).unwrap();
            let password = p.user_password(signer).unwrap().unwrap();
            assert_eq!(password.as_bytes(), user.replace("user", "pass").as_bytes());
        });
    }

    #[test]
    fn chap_and_mschapv2_responses_verify() {
        first_request(&["--mode", "chap"], |p, _, _| {
            let pass = p
                .attr_str(attrs::USER_NAME)
                .unwrap()
                .replace("user", "pass");
            let challenge = p.attr(attrs::CHAP_CHALLENGE).unwrap();
            let value = p.attr(attrs::CHAP_PASSWORD).unwrap();
            assert!(chap::verify(value, challenge, pass.as_bytes()));
        });
        first_request(
            &["--mode", "mschapv2", "--no-message-authenticator"],
            |p, signer, _| {
                assert!(!p.has_message_authenticator());
                assert_eq!(p.verify_message_authenticator(signer, None), Ok(false));
                let user = p.attr(attrs::USER_NAME).unwrap();
                let pass = String::from_utf8_lossy(user).replace("user", "pass");
                let ms = |t| p.vendor_attr(microsoft::VENDOR_ID, t).unwrap();
                let challenge: [u8; 16] = ms(microsoft::MS_CHAP_CHALLENGE).try_into().unwrap();
                let r = mschapv2::Response::parse(ms(microsoft::MS_CHAP2_RESPONSE)).unwrap();
                let hash = mschapv2::nt_hash(pass.as_bytes());
                assert!(mschapv2::verify(
                    &challenge,
                    &r.peer_challenge,
                    user,
                    &hash,
                    &r.nt_response
                ));
            },
        );
    }

    #[test]
    fn accounting_start_has_a_computed_request_authenticator() {
        first_request(&["--mode", "acct"], |p, signer, req_auth| {
            assert_eq!(p.code(), Code::AccountingRequest);
            assert_eq!(p.acct_status(), Some(AcctStatus::Start));
            p.verify_request_authenticator(signer).unwrap();
            assert_eq!(
                &signer.computed_request_authenticator(p.as_bytes()),
                &req_auth
            );
            assert!(
                p.verify_request_authenticator(&Signer::new(b"other"))
                    .is_err()
            );
        });
    }

    /// One hotspot generator (one socket) and a datagram buffer.
    fn hotspot_gen(users: &str, concurrency: &str) -> (Box<dyn Generator>, Signer) {
        let args = BenchArgs::try_parse_from([
            "bench",
            "--mode",
            "hotspot",
            "--users",
            users,
            "--concurrency",
            concurrency,
            "--interims",
            "3",
            "--secret",
            "s3cret",
        ])
        .unwrap();
        let signer = Signer::new(b"s3cret");
        let hg = generators(&args, &signer, 1).unwrap().pop().unwrap();
        (hg, signer)
    }

    /// What `out` holds, decoded: (code, status, attributes of interest).
    fn decode(buf: &[u8]) -> (Code, Option<AcctStatus>, Vec<Vec<u8>>, [u32; 3]) {
        let p = Packet::decode(buf).unwrap();
        let same = [
            attrs::USER_NAME,
            attrs::ACCT_SESSION_ID,
            attrs::CALLING_STATION_ID,
            attrs::FRAMED_IP_ADDRESS,
            attrs::NAS_PORT,
        ]
        .iter()
        .map(|&t| p.attr(t).unwrap().to_vec())
        .collect();
        let num = |t| {
            p.attr(t)
                .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()))
        };
        let growing = [
            num(attrs::ACCT_SESSION_TIME),
            num(attrs::ACCT_INPUT_OCTETS),
            num(attrs::ACCT_OUTPUT_OCTETS),
        ];
        (p.code(), p.acct_status(), same, growing)
    }

    #[test]
    fn hotspot_session_is_chap_login_start_three_interims_stop_with_consistent_ids() {
        let (mut hg, signer) = hotspot_gen("5", "1");
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut out = Out {
            buf: &mut buf,
            len: 0,
            dest: 9,
            req_auth: [0; 16],
        };
        let mut flow = Flow::default();
        assert!(hg.start(7, &mut flow, &mut out));
        assert_eq!(out.dest, 0);
        let len = out.len;
        let (code, status, ids, _) = decode(&out.buf[..len]);
        assert_eq!((code, status), (Code::AccessRequest, None));
        let login = Packet::decode(&out.buf[..len]).unwrap();
        assert!(login.attr(attrs::CHAP_PASSWORD).is_some());
        assert!(login.attr(attrs::USER_PASSWORD).is_none());
        let mut seen = Vec::new();
        let mut reply = Code::AccessAccept.as_u8();
        while hg.advance(8, Some(reply), &mut flow, &mut out) {
            assert_eq!(out.dest, 1);
            let len = out.len;
            Packet::decode(&out.buf[..len])
                .unwrap()
                .verify_request_authenticator(&signer)
                .unwrap();
            let (code, status, same, growing) = decode(&out.buf[..len]);
            assert_eq!(code, Code::AccountingRequest);
            assert_eq!(same, ids, "the same session identifiers in every request");
            seen.push((status.unwrap(), growing));
            reply = Code::AccountingResponse.as_u8();
        }
        let statuses: Vec<_> = seen.iter().map(|s| s.0).collect();
        use AcctStatus::{InterimUpdate as I, Start, Stop};
        assert_eq!(statuses, [Start, I, I, I, Stop]);
        for w in seen.windows(2) {
            for k in 0..3 {
                assert!(w[1].1[k] > w[0].1[k], "counters grow: {seen:?}");
            }
        }
        let mut counts = Counts::default();
        hg.finish(&mut counts);
        assert_eq!(counts.sessions, 1);
    }

    #[test]
    fn hotspot_users_have_one_session_at_a_time_and_are_reused_after_their_stop() {
        let (mut hg, _) = hotspot_gen("3", "3");
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut out = Out {
            buf: &mut buf,
            len: 0,
            dest: 0,
            req_auth: [0; 16],
        };
        let mut flows = [Flow::default(); 3];
        for f in &mut flows {
            assert!(hg.start(1, f, &mut out));
        }
        let mut users: Vec<_> = flows.iter().map(|f| f.item).collect();
        users.sort_unstable();
        assert_eq!(users, [0, 1, 2]);
        // Every user is in a session: nothing to start, but the run is not over.
        let mut extra = Flow::default();
        assert!(!hg.start(1, &mut extra, &mut out));
        assert!(hg.waiting());
        // A rejected login frees its user at once.
        assert!(!hg.advance(1, Some(Code::AccessReject.as_u8()), &mut flows[1], &mut out));
        assert!(!hg.waiting());
        assert!(hg.start(1, &mut extra, &mut out));
        assert_eq!(extra.item, flows[1].item);
        assert!(!hg.start(1, &mut Flow::default(), &mut out));
        // An accepted one holds its user until the Stop is answered.
        let f = &mut flows[0];
        assert!(hg.advance(1, Some(2), f, &mut out)); // Start
        for _ in 0..4 {
            assert!(hg.advance(1, Some(5), f, &mut out)); // 3 interims, Stop
            assert!(hg.waiting());
        }
        assert!(!hg.advance(1, Some(5), f, &mut out)); // Stop answered
        let mut next = Flow::default();
        assert!(hg.start(1, &mut next, &mut out));
        assert_eq!(next.item, flows[0].item);
        assert!(hg.drains());
    }

    #[test]
    fn sessions_are_open_from_their_start_until_their_stop_is_answered() {
        let (mut hg, signer) = hotspot_gen("5", "2");
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut out = Out {
            buf: &mut buf,
            len: 0,
            dest: 0,
            req_auth: [0; 16],
        };
        let (mut a, mut b) = (Flow::default(), Flow::default());
        assert!(hg.start(1, &mut a, &mut out) && hg.start(2, &mut b, &mut out));
        assert!(hg.open_sessions().is_empty(), "a login opens nothing");
        assert!(hg.advance(1, Some(2), &mut a, &mut out)); // a: Start
        let len = out.len;
        let start_ids = decode(&out.buf[..len]).2;
        assert!(!hg.advance(2, Some(3), &mut b, &mut out)); // b: rejected
        assert!(hg.advance(1, Some(5), &mut a, &mut out)); // a: Interim
        let open = hg.open_sessions();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].session, a.session);

        // The closing Stop: same session, NAS-Request, counters past the last Interim.
        let len = out.len;
        let last_interim = decode(&out.buf[..len]).3;
        assert!(hg.write_stop(9, &open[0], &mut out));
        assert_eq!(out.dest, 1);
        let len = out.len;
        let stop = Packet::decode(&out.buf[..len]).unwrap();
        stop.verify_request_authenticator(&signer).unwrap();
        assert_eq!(stop.identifier(), 9);
        assert_eq!(stop.acct_status(), Some(AcctStatus::Stop));
        assert_eq!(
            stop.attr_u32(attrs::ACCT_TERMINATE_CAUSE).unwrap(),
            Some(TERMINATE_NAS_REQUEST)
        );
        let (_, _, ids, counters) = decode(&out.buf[..len]);
        assert_eq!(ids, start_ids);
        assert!(counters[0] >= last_interim[0]);

        // Its own Stop answered: no longer open.
        for _ in 0..3 {
            assert!(hg.advance(1, Some(5), &mut a, &mut out)); // 2 more interims, Stop
        }
        assert_eq!(hg.open_sessions().len(), 1, "Stop sent, not yet answered");
        assert!(!hg.advance(1, Some(5), &mut a, &mut out));
        assert!(hg.open_sessions().is_empty());
    }

    #[test]
    fn hotspot_needs_as_many_users_as_outstanding_requests() {
        let args =
            BenchArgs::try_parse_from(["bench", "--mode", "hotspot", "--users", "10"]).unwrap();
        let err = generators(&args, &Signer::new(b"s"), 1).err().unwrap();
        assert!(err.to_string().contains("--concurrency"), "{err}");
    }

    #[test]
    fn oversized_values_are_refused_up_front() {
        let long = "x".repeat(254);
        let args = BenchArgs::try_parse_from(["bench", "--nas-identifier", long.as_str()]).unwrap();
        let err = generators(&args, &Signer::new(b"s"), 1).err().unwrap();
        assert!(err.to_string().contains("--nas-identifier"), "{err}");
    }
}
