//! `AcctStatus`: the Acct-Status-Type value space (RFC 2866 §5.1, RFC 2869 §5.1).

use std::fmt;

/// Acct-Status-Type (attribute 40): what an Accounting-Request reports. Open code space:
/// anything we do not branch on is `Unknown(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcctStatus {
    /// 1, Start: a session began (RFC 2866 §5.1).
    Start,
    /// 2, Stop: a session ended, with its final counters (RFC 2866 §5.1).
    Stop,
    /// 3, Interim-Update: counters of a running session (RFC 2869 §5.1).
    InterimUpdate,
    /// 7, Accounting-On: the NAS (re)started; its earlier sessions are over (RFC 2866 §5.1).
    AccountingOn,
    /// 8, Accounting-Off: the NAS is going down; its sessions are over (RFC 2866 §5.1).
    AccountingOff,
    /// Any other value (e.g. 9..=14 for tunnels, RFC 2867 §4.1; 15 Failed, RFC 2866 errata).
    Unknown(u32),
}

impl AcctStatus {
    /// Every named value, for tables and tests.
    pub const KNOWN: [Self; 5] = [
        Self::Start,
        Self::Stop,
        Self::InterimUpdate,
        Self::AccountingOn,
        Self::AccountingOff,
    ];

    /// The wire value.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::Start => 1,
            Self::Stop => 2,
            Self::InterimUpdate => 3,
            Self::AccountingOn => 7,
            Self::AccountingOff => 8,
            Self::Unknown(n) => n,
        }
    }

    /// A stable, low-cardinality name for metric labels: `start`, `stop`, `interim`, `on`,
    /// `off`, or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::InterimUpdate => "interim",
            Self::AccountingOn => "on",
            Self::AccountingOff => "off",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl From<u32> for AcctStatus {
    fn from(n: u32) -> Self {
        match n {
            1 => Self::Start,
            2 => Self::Stop,
            3 => Self::InterimUpdate,
            7 => Self::AccountingOn,
            8 => Self::AccountingOff,
            n => Self::Unknown(n),
        }
    }
}

impl From<AcctStatus> for u32 {
    fn from(s: AcctStatus) -> Self {
        s.as_u32()
    }
}

/// The dictionary VALUE name (`Start`, `Interim-Update`, `Accounting-On`, ...), or
/// `Unknown(n)`.
impl fmt::Display for AcctStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start => f.write_str("Start"),
            Self::Stop => f.write_str("Stop"),
            Self::InterimUpdate => f.write_str("Interim-Update"),
            Self::AccountingOn => f.write_str("Accounting-On"),
            Self::AccountingOff => f.write_str("Accounting-Off"),
            Self::Unknown(n) => write!(f, "Unknown({n})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_labels() {
        for s in AcctStatus::KNOWN {
            assert_eq!(AcctStatus::from(s.as_u32()), s);
            assert_eq!(u32::from(s), s.as_u32());
            assert_ne!(s.name(), "unknown");
        }
        assert_eq!(AcctStatus::from(3), AcctStatus::InterimUpdate);
        assert_eq!(AcctStatus::from(15), AcctStatus::Unknown(15));
        assert_eq!(AcctStatus::Unknown(15).as_u32(), 15);
        assert_eq!(AcctStatus::Unknown(15).name(), "unknown");
        assert_eq!(AcctStatus::InterimUpdate.to_string(), "Interim-Update");
    }
}
