//! Data shared by every tier: the rows of a user's profile as stored in the FreeRADIUS
//! schema, NAS rows, and the records we write (accounting, post-auth).

use std::net::IpAddr;

use ipnet::IpNet;
use radius_proto::protocol::AcctStatus;
use serde::{Deserialize, Serialize};

/// One radcheck / radreply / radgroupcheck / radgroupreply row: `attribute op value`.
/// `Debug` redacts the value of any attribute that holds a password or key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadRow {
    /// Attribute name (`Cleartext-Password`, `Mikrotik-Rate-Limit`, ...).
    pub attribute: String,
    /// Operator (`:=`, `==`, `+=`, `=`, `!=`, `>`, `>=`, `<`, `<=`, `=~`, `!~`, ...).
    pub op: String,
    /// Value as text.
    pub value: String,
}

impl RadRow {
    /// Whether the value is a secret (a password, a hash of one, or a key): never shown.
    pub fn is_secret(&self) -> bool {
        let a = self.attribute.to_ascii_lowercase();
        ["password", "secret", "key", "-hash"]
            .iter()
            .any(|needle| a.contains(needle))
    }
}

impl std::fmt::Debug for RadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value: &dyn std::fmt::Debug = if self.is_secret() {
            &"<redacted>"
        } else {
            &self.value
        };
        f.debug_struct("RadRow")
            .field("attribute", &self.attribute)
            .field("op", &self.op)
            .field("value", value)
            .finish()
    }
}

/// A group the user belongs to (radusergroup), with its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRows {
    /// Group name.
    pub name: String,
    /// radusergroup.priority (lower first).
    pub priority: i32,
    /// radgroupcheck rows, in id order.
    pub check: Vec<RadRow>,
    /// radgroupreply rows, in id order.
    pub reply: Vec<RadRow>,
}

/// Everything the database holds about one user, loaded in one round trip. A user with no
/// radcheck, radreply or radusergroup rows does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRows {
    /// User-Name as stored.
    pub username: String,
    /// radcheck rows, in id order.
    pub check: Vec<RadRow>,
    /// radreply rows, in id order.
    pub reply: Vec<RadRow>,
    /// Groups in priority order.
    pub groups: Vec<GroupRows>,
}

/// One `nas` table row (plus our additive columns). `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NasRow {
    /// `nasname`: an IP address or CIDR.
    pub nasname: String,
    /// `shortname`.
    pub shortname: Option<String>,
    /// `secret` (never logged).
    pub secret: String,
    /// `coa_port` (our column; default 3799).
    pub coa_port: i32,
    /// `require_message_authenticator` (our column): `require`, `auto` or `off`.
    pub require_message_authenticator: String,
    /// `tenant` (our column, migration 0007): `None` is global.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl std::fmt::Debug for NasRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NasRow")
            .field("nasname", &self.nasname)
            .field("shortname", &self.shortname)
            .field("secret", &"<redacted>")
            .field("coa_port", &self.coa_port)
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// A NAS row with the columns `nas list` shows besides [`NasRow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NasEntry {
    /// `id`.
    pub id: i32,
    /// `type` (FreeRADIUS: `other`, `mikrotik`, ...).
    pub nas_type: String,
    /// `description`.
    pub description: Option<String>,
    /// The columns the server uses.
    pub nas: NasRow,
}

/// One Accounting-Request, normalised for `radacct` (RFC 2866, RFC 2869 gigawords folded in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcctRecord {
    /// Acct-Status-Type (stored as its number).
    #[serde(with = "status_number")]
    pub status: AcctStatus,
    /// When the event happened: Event-Timestamp, else receive time minus Acct-Delay-Time
    /// (Unix seconds).
    pub event_time: i64,
    /// Acct-Session-Id.
    pub session_id: String,
    /// Unique id: MD5 hex of (User-Name, Acct-Session-Id, NAS-IP-Address, NAS-Identifier,
    /// NAS-Port-Id, NAS-Port), FreeRADIUS-style.
    pub unique_id: String,
    /// User-Name.
    pub username: String,
    /// Realm, if any.
    pub realm: Option<String>,
    /// NAS-IP-Address, else the packet source address.
    pub nas_ip: IpAddr,
    /// The network of the client entry (`[[nas]]` or `nas` row) the packet came from: the
    /// session's owner. Only this client may update or close it (`radacct.nasclient`).
    pub client: IpNet,
    /// NAS-Identifier.
    pub nas_identifier: Option<String>,
    /// NAS-Port-Id, else NAS-Port as text.
    pub nas_port_id: Option<String>,
    /// NAS-Port (MikroTik numbers each session's port; the session store's lost-Stop rule
    /// keys on it). Absent in journals written before it existed.
    #[serde(default)]
    pub nas_port: Option<u32>,
    /// NAS-Port-Type rendered by name (`Wireless-802.11`).
    pub nas_port_type: Option<String>,
    /// Acct-Session-Time (seconds).
    pub session_time: Option<i64>,
    /// Acct-Input-Octets + 2^32 * Acct-Input-Gigawords.
    pub input_octets: Option<i64>,
    /// Acct-Output-Octets + 2^32 * Acct-Output-Gigawords.
    pub output_octets: Option<i64>,
    /// Acct-Authentic rendered by name.
    pub authentic: Option<String>,
    /// Called-Station-Id.
    pub called_station_id: Option<String>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<String>,
    /// Acct-Terminate-Cause rendered by name.
    pub terminate_cause: Option<String>,
    /// Service-Type rendered by name.
    pub service_type: Option<String>,
    /// Framed-Protocol rendered by name.
    pub framed_protocol: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<IpAddr>,
    /// Framed-IPv6-Address.
    pub framed_ipv6: Option<IpAddr>,
    /// Framed-IPv6-Prefix as text.
    pub framed_ipv6_prefix: Option<String>,
    /// Delegated-IPv6-Prefix as text.
    pub delegated_ipv6_prefix: Option<String>,
    /// Class (hex or text, as received).
    pub class: Option<String>,
    /// Acct-Interim-Interval in force (seconds), if known.
    pub interim_interval: Option<i64>,
    /// The tenant of the client entry the packet came from (`radacct.tenant`; `None`:
    /// global). Absent in journals written before tenants existed (read as global).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// One open session, as the session store keeps it (from Start/Interim accounting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// `AcctRecord::unique_id` (radacct.acctuniqueid).
    pub unique_id: String,
    /// Acct-Session-Id (what a Disconnect/CoA-Request names).
    pub session_id: String,
    /// User-Name.
    pub username: String,
    /// NAS-IP-Address, else the packet source.
    pub nas_ip: IpAddr,
    /// The client entry that owns the session (`AcctRecord::client`).
    pub client: IpNet,
    /// NAS-Port-Id (or NAS-Port as text).
    pub nas_port_id: Option<String>,
    /// NAS-Port.
    pub nas_port: Option<u32>,
    /// Calling-Station-Id (the device's MAC on a hotspot).
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<IpAddr>,
    /// Start time (Unix seconds).
    pub start: i64,
    /// Last Start/Interim seen (Unix seconds).
    pub last_update: i64,
    /// Acct-Interim-Interval in force, if known (seconds).
    pub interim: Option<i64>,
    /// Acct-Session-Time at the last update.
    pub session_time: i64,
    /// Input octets at the last update (64-bit, gigawords folded in).
    pub input_octets: i64,
    /// Output octets at the last update.
    pub output_octets: i64,
    /// The tenant of the session's user (`None`: global).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Session {
    /// The session store's name for its user: (tenant, username) as one string
    /// ([`crate::tenants::scoped`]; a global user's is its username).
    pub fn user_id(&self) -> std::borrow::Cow<'_, str> {
        crate::tenants::scoped(self.tenant.as_deref(), &self.username)
    }
}

/// What one user has used, as the session store counts it (open sessions included, from
/// their latest Interim). `day`/`month` name the local period the day and month counters
/// belong to (`YYYYMMDD`, `YYYYMM` in the configured time zone); counters for another period
/// than the current one count as zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Seconds of session time, all time.
    pub total_seconds: u64,
    /// Octets in + out, all time.
    pub total_octets: u64,
    /// The local day `day_*` are for (`YYYYMMDD`).
    pub day: u32,
    /// Seconds on `day`.
    pub day_seconds: u64,
    /// Octets on `day`.
    pub day_octets: u64,
    /// The local month `month_*` are for (`YYYYMM`).
    pub month: u32,
    /// Seconds in `month`.
    pub month_seconds: u64,
    /// Octets in `month`.
    pub month_octets: u64,
    /// First login ever seen (Unix seconds): the start of `Expire-After`.
    pub first_login: Option<i64>,
}

/// One radpostauth row. Never holds a password.
///
/// One is made for every Access-Request on the packet path, so its text (User-Name, the
/// station ids, Class, tenant) is kept back to back in one allocation instead of a `String`
/// per field; [`PostAuthRecord::new`] builds it from borrowed [`PostAuthFields`].
#[derive(Clone, PartialEq, Eq)]
pub struct PostAuthRecord {
    /// User-Name, then each present optional field, back to back.
    text: String,
    /// End of User-Name in `text`.
    username_end: u32,
    /// Where Called-Station-Id, Calling-Station-Id, Class and the tenant are in `text`.
    spans: [Option<(u32, u32)>; 4],
    accepted: bool,
    /// NAS address.
    pub nas_ip: Option<IpAddr>,
    /// Unix seconds.
    pub auth_time: i64,
}

/// A post-auth row's fields, borrowed: what [`PostAuthRecord::new`] copies and
/// [`PostAuthRecord::fields`] gives back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostAuthFields<'a> {
    /// User-Name.
    pub username: &'a str,
    /// Access-Accept (`true`) or Access-Reject.
    pub accepted: bool,
    /// Called-Station-Id.
    pub called_station_id: Option<&'a str>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<&'a str>,
    /// NAS address.
    pub nas_ip: Option<IpAddr>,
    /// Class sent in the reply.
    pub class: Option<&'a str>,
    /// Unix seconds.
    pub auth_time: i64,
    /// The tenant of the NAS (`radpostauth.tenant`; `None`: global).
    pub tenant: Option<&'a str>,
}

/// Indexes of `PostAuthRecord::spans`.
const CALLED: usize = 0;
const CALLING: usize = 1;
const CLASS: usize = 2;
const TENANT: usize = 3;

impl PostAuthRecord {
    /// A record holding a copy of `fields` (one allocation, none when all are empty).
    pub fn new(fields: &PostAuthFields<'_>) -> Self {
        let optional = [
            fields.called_station_id,
            fields.calling_station_id,
            fields.class,
            fields.tenant,
        ];
        let len = fields.username.len() + optional.iter().flatten().map(|s| s.len()).sum::<usize>();
        let mut text = String::with_capacity(len);
        text.push_str(fields.username);
        // Every field comes from one datagram (at most 4096 bytes) or the configuration.
        let end = |text: &String| u32::try_from(text.len()).unwrap_or(u32::MAX);
        let username_end = end(&text);
        let spans = optional.map(|field| {
            field.map(|s| {
                let start = end(&text);
                text.push_str(s);
                (start, end(&text))
            })
        });
        Self {
            text,
            username_end,
            spans,
            accepted: fields.accepted,
            nas_ip: fields.nas_ip,
            auth_time: fields.auth_time,
        }
    }

    /// The fields, borrowed from the record.
    pub fn fields(&self) -> PostAuthFields<'_> {
        PostAuthFields {
            username: self.username(),
            accepted: self.accepted,
            called_station_id: self.span(CALLED),
            calling_station_id: self.span(CALLING),
            nas_ip: self.nas_ip,
            class: self.span(CLASS),
            auth_time: self.auth_time,
            tenant: self.span(TENANT),
        }
    }

    fn span(&self, i: usize) -> Option<&str> {
        let (start, end) = self.spans.get(i).copied().flatten()?;
        self.text.get(start as usize..end as usize)
    }

    /// User-Name.
    pub fn username(&self) -> &str {
        self.text
            .get(..self.username_end as usize)
            .unwrap_or_default()
    }

    /// Whether the reply was an Access-Accept.
    pub fn accepted(&self) -> bool {
        self.accepted
    }

    /// `Access-Accept` or `Access-Reject` (`radpostauth.reply`).
    pub fn reply(&self) -> &'static str {
        if self.accepted {
            "Access-Accept"
        } else {
            "Access-Reject"
        }
    }

    /// Called-Station-Id.
    pub fn called_station_id(&self) -> Option<&str> {
        self.span(CALLED)
    }

    /// Calling-Station-Id.
    pub fn calling_station_id(&self) -> Option<&str> {
        self.span(CALLING)
    }

    /// Class sent in the reply.
    pub fn class(&self) -> Option<&str> {
        self.span(CLASS)
    }

    /// The tenant of the NAS (`None`: global).
    pub fn tenant(&self) -> Option<&str> {
        self.span(TENANT)
    }
}

impl std::fmt::Debug for PostAuthRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fields().fmt(f)
    }
}

/// `AcctStatus` as its RFC 2866 number in serialised records.
mod status_number {
    use radius_proto::protocol::AcctStatus;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(status: &AcctStatus, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(status.as_u32())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AcctStatus, D::Error> {
        u32::deserialize(d).map(AcctStatus::from)
    }
}

#[cfg(test)]
mod tests {
    use super::{AcctRecord, PostAuthFields, PostAuthRecord, RadRow, Session};

    /// A record as the accounting journal held it before tenants existed: read as global;
    /// a global record is written without the field, a tenant's with it.
    #[test]
    fn journal_records_without_a_tenant_read_as_global() {
        let old = r#"{"status":1,"event_time":1700000000,"session_id":"s1","unique_id":"u1",
            "username":"bob","realm":null,"nas_ip":"10.0.0.1","client":"10.0.0.1/32",
            "nas_identifier":null,"nas_port_id":null,"nas_port_type":null,"session_time":null,
            "input_octets":null,"output_octets":null,"authentic":null,"called_station_id":null,
            "calling_station_id":null,"terminate_cause":null,"service_type":null,
            "framed_protocol":null,"framed_ip":null,"framed_ipv6":null,
            "framed_ipv6_prefix":null,"delegated_ipv6_prefix":null,"class":null,
            "interim_interval":null}"#;
        let mut record: AcctRecord = serde_json::from_str(old).expect("an old record reads");
        assert_eq!(record.tenant, None);
        let written = serde_json::to_string(&record).unwrap();
        assert!(!written.contains("tenant"), "{written}");
        record.tenant = Some("acme".into());
        let written = serde_json::to_string(&record).unwrap();
        let back: AcctRecord = serde_json::from_str(&written).unwrap();
        assert_eq!(back.tenant.as_deref(), Some("acme"));
        let session = crate::sessions::session_of(&back);
        assert_eq!(session.user_id(), "\0acme\0bob");
        let global = Session {
            tenant: None,
            ..session
        };
        assert_eq!(global.user_id(), "bob");
    }

    #[test]
    fn debug_never_shows_a_password() {
        for attribute in [
            "Cleartext-Password",
            "NT-Password",
            "Crypt-Password",
            "MS-MPPE-Send-Key",
        ] {
            let row = RadRow {
                attribute: attribute.into(),
                op: ":=".into(),
                value: "hunter2".into(),
            };
            let shown = format!("{row:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains(attribute), "{shown}");
        }
        let rate = RadRow {
            attribute: "Mikrotik-Rate-Limit".into(),
            op: ":=".into(),
            value: "2M/5M".into(),
        };
        assert!(format!("{rate:?}").contains("2M/5M"));
    }

    /// Every field comes back as given, absent and empty fields kept apart.
    #[test]
    fn post_auth_record_keeps_its_fields() {
        let fields = PostAuthFields {
            username: "alice@isp",
            accepted: true,
            called_station_id: Some(""),
            calling_station_id: Some("AA:BB:CC:DD:EE:FF"),
            nas_ip: Some("10.0.0.1".parse().unwrap()),
            class: None,
            auth_time: 1_700_000_000,
            tenant: Some("acme"),
        };
        let record = PostAuthRecord::new(&fields);
        assert_eq!(record.fields(), fields);
        assert_eq!(record.reply(), "Access-Accept");
        assert_eq!(record.username(), "alice@isp");
        assert_eq!(record.called_station_id(), Some(""));
        assert_eq!(record.class(), None);
        assert_eq!(record.tenant(), Some("acme"));
        let reject = PostAuthRecord::new(&PostAuthFields {
            username: "",
            ..PostAuthFields::default()
        });
        assert_eq!(reject.reply(), "Access-Reject");
        assert_eq!(reject.username(), "");
        assert_eq!(reject.calling_station_id(), None);
        assert_eq!(reject.tenant(), None);
    }
}
