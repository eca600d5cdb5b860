//! `requestState` as the transport writes it: the answers gathered so far, bound to the
//! principal, the method and the name or URI of one call, with an expiry, signed with
//! HMAC-SHA256 under a named key.
//!
//! The token is `{key id}.{payload}.{tag}`, each part base64url without padding; the tag covers
//! the first two parts. It is signed, not encrypted: the client can read it (it holds nothing
//! the client did not send, plus what a handler chose to put in it).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::session::id::random_bytes;

type HmacSha256 = Hmac<Sha256>;

/// Default lifetime of a `requestState`: 10 minutes.
///
/// ```
/// assert_eq!(mcp_tower::mrtr::DEFAULT_STATE_TTL.as_secs(), 600);
/// ```
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(600);
/// Default largest `requestState`, in bytes: 64 KiB.
///
/// ```
/// assert_eq!(mcp_tower::mrtr::DEFAULT_MAX_STATE_BYTES, 65_536);
/// ```
pub const DEFAULT_MAX_STATE_BYTES: usize = 64 * 1024;

/// The keys that sign and verify `requestState` (2026-07-28 multi-round-trip requests): the
/// newest signs, all verify, so a key can be rotated without breaking calls in progress.
///
/// Every node that may receive a retry needs the same keys. Without keys configured, the layer
/// makes a random one when it is built ([`RequestStateKeys::random`]): retries must then reach
/// the same process.
///
/// ```
/// use mcp_tower::mrtr::RequestStateKeys;
///
/// // Rotation: "k2" signs from now on, states signed with "k1" are still accepted.
/// let keys = RequestStateKeys::new("k2", b"a secret of at least 32 bytes....".to_vec())
///     .verify_also("k1", b"the previous secret, still valid".to_vec());
/// assert_eq!(keys.signing_key_id(), "k2");
/// let layer = mcp_tower::McpLayer::new().request_state_keys(keys);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct RequestStateKeys {
    /// The first signs; all verify.
    keys: Vec<(String, Arc<[u8]>)>,
}

impl RequestStateKeys {
    /// One key, which signs and verifies. The id travels in each state to pick the key that
    /// verifies it; the secret should hold at least 32 random bytes.
    ///
    /// ```
    /// let keys = mcp_tower::mrtr::RequestStateKeys::new("2026-08", vec![7u8; 32]);
    /// assert_eq!(keys.signing_key_id(), "2026-08");
    /// ```
    pub fn new(id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            keys: vec![(id.into(), secret.into().into())],
        }
    }

    /// Adds an older key that still verifies states but no longer signs. A key whose id is
    /// already present is ignored.
    ///
    /// ```
    /// use mcp_tower::mrtr::RequestStateKeys;
    ///
    /// let keys = RequestStateKeys::new("new", vec![1u8; 32]).verify_also("old", vec![2u8; 32]);
    /// assert_eq!(keys.signing_key_id(), "new", "the first key keeps signing");
    /// ```
    #[must_use]
    pub fn verify_also(mut self, id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        let id = id.into();
        if !self.keys.iter().any(|(k, _)| *k == id) {
            self.keys.push((id, secret.into().into()));
        }
        self
    }

    /// A random 256-bit key that lives as long as the layer: states it signs verify only in this
    /// process.
    ///
    /// ```
    /// let a = mcp_tower::mrtr::RequestStateKeys::random();
    /// assert_eq!(a.signing_key_id(), "local");
    /// ```
    #[must_use]
    pub fn random() -> Self {
        Self::new("local", random_bytes::<32>().to_vec())
    }

    /// The id of the key that signs.
    ///
    /// ```
    /// let keys = mcp_tower::mrtr::RequestStateKeys::new("k", vec![0u8; 32]);
    /// assert_eq!(keys.signing_key_id(), "k");
    /// ```
    #[must_use]
    pub fn signing_key_id(&self) -> &str {
        self.keys.first().map_or("", |(id, _)| id.as_str())
    }

    fn mac(secret: &[u8]) -> Option<HmacSha256> {
        HmacSha256::new_from_slice(secret).ok()
    }
}

impl fmt::Debug for RequestStateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets never appear in logs.
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("RequestStateKeys")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

/// How states are signed and checked: keys, lifetime and size cap.
#[derive(Debug, Clone)]
pub(crate) struct StateConfig {
    pub(crate) keys: RequestStateKeys,
    pub(crate) ttl: Duration,
    pub(crate) max_bytes: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            keys: RequestStateKeys::random(),
            ttl: DEFAULT_STATE_TTL,
            max_bytes: DEFAULT_MAX_STATE_BYTES,
        }
    }
}

/// What a state is bound to: the same call, by the same principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(crate) method: String,
    pub(crate) name: Option<String>,
    /// SHA-256 of the principal, hex (the principal itself is not shown to the client).
    pub(crate) principal: Option<String>,
}

impl Binding {
    pub(crate) fn new(method: &str, name: Option<&str>, principal: Option<&str>) -> Self {
        Self {
            method: method.to_owned(),
            name: name.map(str::to_owned),
            principal: principal.map(|p| hex(&Sha256::digest(p.as_bytes()))),
        }
    }
}

/// What a verified state carries.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Carried {
    /// Answers from earlier rounds, by input key.
    pub(crate) answers: Map<String, Value>,
    /// The handler's own `requestState`, if it set one.
    pub(crate) handler_state: Option<String>,
}

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateError {
    TooLarge,
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    Foreign,
}

impl StateError {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::TooLarge => "requestState is larger than this server accepts",
            Self::Malformed => "requestState is malformed",
            Self::UnknownKey => "requestState is signed with a key this server does not know",
            Self::BadSignature => "requestState failed its integrity check",
            Self::Expired => "requestState has expired; send the request again without it",
            Self::Foreign => {
                "requestState belongs to another request (method, name or principal differ)"
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Signs a state; `None` when it would exceed the size cap or no key can sign.
pub(crate) fn seal(config: &StateConfig, binding: &Binding, carried: &Carried) -> Option<String> {
    let (id, secret) = config.keys.keys.first()?;
    let ttl_ms = u64::try_from(config.ttl.as_millis()).unwrap_or(u64::MAX);
    let payload = json!({
        "v": 1,
        "m": binding.method,
        "n": binding.name,
        "p": binding.principal,
        "e": now_ms().saturating_add(ttl_ms),
        "a": carried.answers,
        "h": carried.handler_state,
    });
    let payload = serde_json::to_vec(&payload).ok()?;
    let mut token = b64_encode(id.as_bytes());
    token.push('.');
    token.push_str(&b64_encode(&payload));
    let mut mac = RequestStateKeys::mac(secret)?;
    mac.update(token.as_bytes());
    let tag = mac.finalize().into_bytes();
    token.push('.');
    token.push_str(&b64_encode(&tag));
    (token.len() <= config.max_bytes).then_some(token)
}

/// Checks a state's size, key, tag, expiry and binding, in that order, and returns what it
/// carries.
pub(crate) fn open(
    config: &StateConfig,
    binding: &Binding,
    token: &str,
) -> Result<Carried, StateError> {
    if token.len() > config.max_bytes {
        return Err(StateError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(id), Some(payload), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StateError::Malformed);
    };
    let id_bytes = b64_decode(id).ok_or(StateError::Malformed)?;
    let tag = b64_decode(tag).ok_or(StateError::Malformed)?;
    let secret = config
        .keys
        .keys
        .iter()
        .find(|(k, _)| k.as_bytes() == id_bytes.as_slice())
        .map(|(_, s)| s)
        .ok_or(StateError::UnknownKey)?;
    let mut mac = RequestStateKeys::mac(secret).ok_or(StateError::UnknownKey)?;
    mac.update(&token.as_bytes()[..id.len() + 1 + payload.len()]);
    mac.verify_slice(&tag)
        .map_err(|_| StateError::BadSignature)?;
    // Authentic from here on: only this server could have written it.
    let payload = b64_decode(payload).ok_or(StateError::Malformed)?;
    let Ok(Value::Object(mut payload)) = serde_json::from_slice::<Value>(&payload) else {
        return Err(StateError::Malformed);
    };
    let expires = payload.get("e").and_then(Value::as_u64).unwrap_or(0);
    if now_ms() >= expires {
        return Err(StateError::Expired);
    }
    let same = payload.get("m").and_then(Value::as_str) == Some(binding.method.as_str())
        && payload.get("n").and_then(Value::as_str) == binding.name.as_deref()
        && payload.get("p").and_then(Value::as_str) == binding.principal.as_deref();
    if !same {
        return Err(StateError::Foreign);
    }
    let answers = match payload.remove("a") {
        Some(Value::Object(answers)) => answers,
        _ => Map::new(),
    };
    let handler_state = match payload.remove("h") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    Ok(Carried {
        answers,
        handler_state,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decodes base64url without padding; `None` on any other character, a impossible length, or
/// non-zero trailing bits (so each value has exactly one encoding).
fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| B64.iter().position(|&b| b == c).map(|p| p as u32);
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        let spare = n & (0x00ff_ffff >> (8 * produced));
        if spare != 0 {
            return None;
        }
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_and_rejects_noise() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(b64_decode(&b64_encode(&data)).unwrap(), data);
        }
        assert_eq!(b64_encode(b"hello"), "aGVsbG8");
        assert!(b64_decode("a").is_none());
        assert!(b64_decode("ab+c").is_none());
        assert!(b64_decode("aGVsbG9").is_none(), "non-zero trailing bits");
    }

    fn config() -> StateConfig {
        StateConfig {
            keys: RequestStateKeys::new("k", b"0123456789abcdef0123456789abcdef".to_vec()),
            ..StateConfig::default()
        }
    }

    #[test]
    fn a_sealed_state_opens_once_bound_the_same_way() {
        let config = config();
        let binding = Binding::new("tools/call", Some("t"), Some("alice"));
        let mut carried = Carried::default();
        carried
            .answers
            .insert("k".into(), json!({ "action": "accept" }));
        let token = seal(&config, &binding, &carried).unwrap();
        assert_eq!(open(&config, &binding, &token).unwrap(), carried);
        let bob = Binding::new("tools/call", Some("t"), Some("bob"));
        assert_eq!(open(&config, &bob, &token), Err(StateError::Foreign));
        let mut flipped = token.clone().into_bytes();
        let at = flipped.len() / 2;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(open(&config, &binding, &flipped).is_err());
        assert_eq!(open(&config, &binding, "x.y"), Err(StateError::Malformed));
    }

    #[test]
    fn oversized_states_are_neither_written_nor_read() {
        let config = StateConfig {
            max_bytes: 64,
            ..config()
        };
        let binding = Binding::new("tools/call", Some("t"), None);
        assert!(seal(&config, &binding, &Carried::default()).is_none());
        assert_eq!(
            open(&config, &binding, &"a".repeat(65)),
            Err(StateError::TooLarge)
        );
    }
}
