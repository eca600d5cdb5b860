//! [`ProtocolVersion`]: the MCP revisions this crate speaks, and what each one changes in the
//! transport.

use std::fmt;
use std::str::FromStr;

/// A revision of the Model Context Protocol.
///
/// Ordered by date, so `v >= ProtocolVersion::V2025_11_25` reads as "this revision or later".
///
/// ```
/// use mcp_tower::ProtocolVersion;
///
/// let v: ProtocolVersion = "2025-06-18".parse().unwrap();
/// assert_eq!(v, ProtocolVersion::V2025_06_18);
/// assert_eq!(v.as_str(), "2025-06-18");
/// assert!(!v.allows_batches());
/// assert!("2099-01-01".parse::<ProtocolVersion>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// 2024-11-05: the HTTP+SSE era. Clients may still negotiate it over Streamable HTTP.
    V2024_11_05,
    /// 2025-03-26: Streamable HTTP with sessions; the only revision with JSON-RPC batches.
    V2025_03_26,
    /// 2025-06-18: single messages only; `MCP-Protocol-Version` required after initialize.
    V2025_06_18,
    /// 2025-11-25: adds priming events and server-side polling (SEP-1699).
    V2025_11_25,
    /// 2026-07-28: the stateless era. No sessions and no `initialize`: every request names its
    /// version in `MCP-Protocol-Version` and `_meta`, and is served on its own. `initialize`
    /// never negotiates it.
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every revision this crate can speak, oldest first.
    pub const ALL: &'static [Self] = &[
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];

    /// The newest revision this crate speaks.
    pub const LATEST: Self = Self::V2026_07_28;

    /// The newest revision with sessions: what `initialize` offers and settles on at most.
    ///
    /// ```
    /// use mcp_tower::ProtocolVersion;
    ///
    /// assert!(!ProtocolVersion::LATEST_SESSION.is_stateless());
    /// assert!(ProtocolVersion::LATEST_SESSION < ProtocolVersion::LATEST);
    /// ```
    pub const LATEST_SESSION: Self = Self::V2025_11_25;

    /// The revision a request without `MCP-Protocol-Version` (and without a session that
    /// negotiated one) is taken to speak, as the specification asks.
    pub const ASSUMED: Self = Self::V2025_03_26;

    /// The revision's date string, as it appears on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether a POST body may be a JSON-RPC batch (an array): only in 2025-03-26.
    #[must_use]
    pub const fn allows_batches(self) -> bool {
        matches!(self, Self::V2025_03_26)
    }

    /// Whether SSE streams start with a priming event (an id and empty data), which older
    /// clients may choke on: 2025-11-25 and later.
    #[must_use]
    pub fn primes_streams(self) -> bool {
        self >= Self::V2025_11_25 && !self.is_stateless()
    }

    /// Whether the revision is of the stateless era (2026-07-28 and later): each request is
    /// served on its own, with no session, no `initialize`, no GET stream and no resumption.
    ///
    /// ```
    /// use mcp_tower::ProtocolVersion;
    ///
    /// assert!(ProtocolVersion::V2026_07_28.is_stateless());
    /// assert!(!ProtocolVersion::V2025_11_25.is_stateless());
    /// ```
    #[must_use]
    pub fn is_stateless(self) -> bool {
        self >= Self::V2026_07_28
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownVersion(()))
    }
}

/// A protocol version string this crate does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVersion(());

impl fmt::Display for UnknownVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown mcp protocol version")
    }
}

impl std::error::Error for UnknownVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        for v in ProtocolVersion::ALL {
            assert_eq!(v.as_str().parse::<ProtocolVersion>().unwrap(), *v);
        }
        assert!(ProtocolVersion::V2025_03_26 < ProtocolVersion::V2025_11_25);
        assert!(ProtocolVersion::V2025_11_25.primes_streams());
        assert!(!ProtocolVersion::V2025_06_18.primes_streams());
        assert!(!ProtocolVersion::V2026_07_28.primes_streams());
        assert!(ProtocolVersion::V2026_07_28.is_stateless());
        assert!(ProtocolVersion::ALL
            .iter()
            .all(|v| v.is_stateless() == (*v >= ProtocolVersion::V2026_07_28)));
        assert!("".parse::<ProtocolVersion>().is_err());
        assert!("2025-06-18 ".parse::<ProtocolVersion>().is_err());
    }
}
