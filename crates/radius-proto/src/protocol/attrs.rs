//! Numeric constants for the attributes our code branches on.
//!
//! Everything else is looked up by name in the runtime dictionary. A test in
//! `tests/it/dictionaries.rs` cross-checks every constant here against `dictionaries/`.
//! Acct-Status-Type values are the [`super::AcctStatus`] enum.

/// User-Name (RFC 2865 §5.1).
pub const USER_NAME: u8 = 1;
/// User-Password (RFC 2865 §5.2).
pub const USER_PASSWORD: u8 = 2;
/// CHAP-Password (RFC 2865 §5.3).
pub const CHAP_PASSWORD: u8 = 3;
/// NAS-IP-Address (RFC 2865 §5.4).
pub const NAS_IP_ADDRESS: u8 = 4;
/// NAS-Port (RFC 2865 §5.5).
pub const NAS_PORT: u8 = 5;
/// Service-Type (RFC 2865 §5.6).
pub const SERVICE_TYPE: u8 = 6;
/// Framed-Protocol (RFC 2865 §5.7).
pub const FRAMED_PROTOCOL: u8 = 7;
/// Framed-IP-Address (RFC 2865 §5.8).
pub const FRAMED_IP_ADDRESS: u8 = 8;
/// Framed-IP-Netmask (RFC 2865 §5.9).
pub const FRAMED_IP_NETMASK: u8 = 9;
/// Filter-Id (RFC 2865 §5.11).
pub const FILTER_ID: u8 = 11;
/// Reply-Message (RFC 2865 §5.18).
pub const REPLY_MESSAGE: u8 = 18;
/// State (RFC 2865 §5.24).
pub const STATE: u8 = 24;
/// Class (RFC 2865 §5.25).
pub const CLASS: u8 = 25;
/// Vendor-Specific (RFC 2865 §5.26).
pub const VENDOR_SPECIFIC: u8 = 26;
/// Session-Timeout (RFC 2865 §5.27).
pub const SESSION_TIMEOUT: u8 = 27;
/// Idle-Timeout (RFC 2865 §5.28).
pub const IDLE_TIMEOUT: u8 = 28;
/// Called-Station-Id (RFC 2865 §5.30).
pub const CALLED_STATION_ID: u8 = 30;
/// Calling-Station-Id (RFC 2865 §5.31).
pub const CALLING_STATION_ID: u8 = 31;
/// NAS-Identifier (RFC 2865 §5.32).
pub const NAS_IDENTIFIER: u8 = 32;
/// Proxy-State (RFC 2865 §5.33).
pub const PROXY_STATE: u8 = 33;
/// Acct-Status-Type (RFC 2866 §5.1).
pub const ACCT_STATUS_TYPE: u8 = 40;
/// Acct-Delay-Time (RFC 2866 §5.2).
pub const ACCT_DELAY_TIME: u8 = 41;
/// Acct-Input-Octets (RFC 2866 §5.3).
pub const ACCT_INPUT_OCTETS: u8 = 42;
/// Acct-Output-Octets (RFC 2866 §5.4).
pub const ACCT_OUTPUT_OCTETS: u8 = 43;
/// Acct-Session-Id (RFC 2866 §5.5).
pub const ACCT_SESSION_ID: u8 = 44;
/// Acct-Authentic (RFC 2866 §5.6).
pub const ACCT_AUTHENTIC: u8 = 45;
/// Acct-Session-Time (RFC 2866 §5.7).
pub const ACCT_SESSION_TIME: u8 = 46;
/// Acct-Input-Packets (RFC 2866 §5.8).
pub const ACCT_INPUT_PACKETS: u8 = 47;
/// Acct-Output-Packets (RFC 2866 §5.9).
pub const ACCT_OUTPUT_PACKETS: u8 = 48;
/// Acct-Terminate-Cause (RFC 2866 §5.10).
pub const ACCT_TERMINATE_CAUSE: u8 = 49;
/// Acct-Multi-Session-Id (RFC 2866 §5.11).
pub const ACCT_MULTI_SESSION_ID: u8 = 50;
/// Acct-Input-Gigawords (RFC 2869 §5.1).
pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
/// Acct-Output-Gigawords (RFC 2869 §5.2).
pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
/// Event-Timestamp (RFC 2869 §5.3).
pub const EVENT_TIMESTAMP: u8 = 55;
/// CHAP-Challenge (RFC 2865 §5.40).
pub const CHAP_CHALLENGE: u8 = 60;
/// NAS-Port-Type (RFC 2865 §5.41).
pub const NAS_PORT_TYPE: u8 = 61;
/// Port-Limit (RFC 2865 §5.42).
pub const PORT_LIMIT: u8 = 62;
/// Tunnel-Password (RFC 2868 §3.5).
pub const TUNNEL_PASSWORD: u8 = 69;
/// EAP-Message (RFC 3579 §3.1).
pub const EAP_MESSAGE: u8 = 79;
/// Message-Authenticator (RFC 3579 §3.2, RFC 2869 §5.14).
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
/// Acct-Interim-Interval (RFC 2869 §5.16).
pub const ACCT_INTERIM_INTERVAL: u8 = 85;
/// NAS-Port-Id (RFC 2869 §5.17).
pub const NAS_PORT_ID: u8 = 87;
/// Framed-Pool (RFC 2869 §5.18).
pub const FRAMED_POOL: u8 = 88;
/// NAS-IPv6-Address (RFC 3162 §2.1).
pub const NAS_IPV6_ADDRESS: u8 = 95;
/// Framed-IPv6-Prefix (RFC 3162 §2.3).
pub const FRAMED_IPV6_PREFIX: u8 = 97;
/// Error-Cause (RFC 5176 §3.6).
pub const ERROR_CAUSE: u8 = 101;
/// Delegated-IPv6-Prefix (RFC 4818).
pub const DELEGATED_IPV6_PREFIX: u8 = 123;
/// Framed-IPv6-Address (RFC 6911 §3.1).
pub const FRAMED_IPV6_ADDRESS: u8 = 168;

/// Microsoft vendor attributes (RFC 2548), vendor 311.
pub mod microsoft {
    /// Microsoft's SMI enterprise number.
    pub const VENDOR_ID: u32 = 311;
    /// MS-CHAP-Response (RFC 2548 §2.1.2).
    pub const MS_CHAP_RESPONSE: u8 = 1;
    /// MS-CHAP-Error (RFC 2548 §2.1.5).
    pub const MS_CHAP_ERROR: u8 = 2;
    /// MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4).
    pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
    /// MS-MPPE-Encryption-Types (RFC 2548 §2.4.5).
    pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
    /// MS-CHAP-Domain (RFC 2548 §2.1.4).
    pub const MS_CHAP_DOMAIN: u8 = 10;
    /// MS-CHAP-Challenge (RFC 2548 §2.1.6).
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    /// MS-MPPE-Send-Key (RFC 2548 §2.4.2).
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    /// MS-MPPE-Recv-Key (RFC 2548 §2.4.3).
    pub const MS_MPPE_RECV_KEY: u8 = 17;
    /// MS-CHAP2-Response (RFC 2548 §2.3.2).
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    /// MS-CHAP2-Success (RFC 2548 §2.3.3).
    pub const MS_CHAP2_SUCCESS: u8 = 26;
}

/// MikroTik vendor attributes, vendor 14988.
pub mod mikrotik {
    /// MikroTik's SMI enterprise number.
    pub const VENDOR_ID: u32 = 14988;
    /// Mikrotik-Recv-Limit.
    pub const RECV_LIMIT: u8 = 1;
    /// Mikrotik-Xmit-Limit.
    pub const XMIT_LIMIT: u8 = 2;
    /// Mikrotik-Group.
    pub const GROUP: u8 = 3;
    /// Mikrotik-Rate-Limit.
    pub const RATE_LIMIT: u8 = 8;
    /// Mikrotik-Realm.
    pub const REALM: u8 = 9;
    /// Mikrotik-Host-IP.
    pub const HOST_IP: u8 = 10;
    /// Mikrotik-Recv-Limit-Gigawords.
    pub const RECV_LIMIT_GIGAWORDS: u8 = 14;
    /// Mikrotik-Xmit-Limit-Gigawords.
    pub const XMIT_LIMIT_GIGAWORDS: u8 = 15;
    /// Mikrotik-Total-Limit.
    pub const TOTAL_LIMIT: u8 = 17;
    /// Mikrotik-Total-Limit-Gigawords.
    pub const TOTAL_LIMIT_GIGAWORDS: u8 = 18;
    /// Mikrotik-Address-List.
    pub const ADDRESS_LIST: u8 = 19;
}

/// WISPr vendor attributes, vendor 14122.
pub mod wispr {
    /// WISPr's enterprise number.
    pub const VENDOR_ID: u32 = 14122;
    /// WISPr-Location-ID.
    pub const LOCATION_ID: u8 = 1;
    /// WISPr-Location-Name.
    pub const LOCATION_NAME: u8 = 2;
    /// WISPr-Logoff-URL.
    pub const LOGOFF_URL: u8 = 3;
    /// WISPr-Session-Terminate-Time.
    pub const SESSION_TERMINATE_TIME: u8 = 9;
}
