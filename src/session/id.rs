//! Session ids: slab key + generation + a 128-bit secret, written as 32 URL-safe characters.

use std::fmt;
use std::sync::Arc;

/// Raw bytes of an id: secret (16) + key (4) + generation (4).
const RAW_LEN: usize = 24;
/// Base64url of 24 bytes, no padding.
const TEXT_LEN: usize = 32;
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// An opaque session id, as sent in `Mcp-Session-Id`.
///
/// It is visible ASCII (`A–Z a–z 0–9 - _`), and carries a 128-bit secret drawn from the
/// operating system's random source, so it cannot be guessed. The transport finds a session from
/// its id in O(1) without hashing it, and compares the secret in constant time; a slot reused by a
/// later session never matches an old id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// The id as it travels in the header.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SessionId {
    /// A label for logs and traces that names the session without granting access to it: its
    /// slot and generation (`"17.3"`), never the secret. Labels are unique among the sessions
    /// alive at one time on one node.
    ///
    /// ```
    /// # use mcp_tower::McpLayer;
    /// let layer = McpLayer::new().on_session_closed(|closed| {
    ///     println!("session {} closed: {:?}", closed.id.label(), closed.reason);
    /// });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn label(&self) -> SessionLabel {
        SessionLabel(IdParts::decode(self.0.as_bytes()).map(|parts| (parts.key, parts.generation)))
    }
}

/// The public label of a [`SessionId`] (see [`SessionId::label`]); `?` for an id this crate did
/// not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionLabel(Option<(u32, u32)>);

impl fmt::Display for SessionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((key, generation)) => write!(f, "{key}.{generation}"),
            None => f.write_str("?"),
        }
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ids are bearer-like secrets: keep them out of logs that print Debug output.
        f.write_str("SessionId(..)")
    }
}

/// The decoded parts of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdParts {
    pub(crate) key: u32,
    pub(crate) generation: u32,
    pub(crate) secret: [u8; 16],
}

impl IdParts {
    /// Draws a fresh secret for `key`/`generation`.
    pub(crate) fn generate(key: u32, generation: u32) -> Self {
        Self {
            key,
            generation,
            secret: random_bytes(),
        }
    }

    pub(crate) fn encode(&self) -> SessionId {
        let mut raw = [0u8; RAW_LEN];
        // The secret leads, so ids do not all start alike.
        raw[..16].copy_from_slice(&self.secret);
        raw[16..20].copy_from_slice(&self.key.to_be_bytes());
        raw[20..].copy_from_slice(&self.generation.to_be_bytes());
        let text: [u8; TEXT_LEN] = b64_encode_array(&raw);
        // Base64url: ASCII only.
        SessionId(std::str::from_utf8(&text).unwrap_or_default().into())
    }

    /// Decodes an id from the wire; `None` for anything that is not one of ours.
    pub(crate) fn decode(text: &[u8]) -> Option<Self> {
        let raw: [u8; RAW_LEN] = b64_decode(text)?;
        let mut secret = [0u8; 16];
        secret.copy_from_slice(&raw[..16]);
        Some(Self {
            key: u32::from_be_bytes([raw[16], raw[17], raw[18], raw[19]]),
            generation: u32::from_be_bytes([raw[20], raw[21], raw[22], raw[23]]),
            secret,
        })
    }
}

/// Base64url without padding into a fixed-size buffer: `N` must be a multiple of 3 and `M`
/// be `N / 3 * 4`.
pub(crate) fn b64_encode_array<const N: usize, const M: usize>(raw: &[u8; N]) -> [u8; M] {
    debug_assert!(N % 3 == 0 && M == N / 3 * 4);
    let mut text = [0u8; M];
    for (chunk, out) in raw.chunks_exact(3).zip(text.chunks_exact_mut(4)) {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for (o, shift) in out.iter_mut().zip([18, 12, 6, 0]) {
            *o = ALPHABET[(n >> shift) as usize & 63];
        }
    }
    text
}

/// The inverse of [`b64_encode_array`]: exactly `N` bytes, or `None` for anything else.
pub(crate) fn b64_decode<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if N % 3 != 0 || text.len() != N / 3 * 4 {
        return None;
    }
    let mut raw = [0u8; N];
    // Every request that names a session decodes its id: a table and no branch per character
    // (an invalid character sets the high bit, checked once at the end).
    let mut invalid = 0u8;
    for (quad, out) in text.chunks_exact(4).zip(raw.chunks_exact_mut(3)) {
        let [a, b, c, d] = [quad[0], quad[1], quad[2], quad[3]].map(|ch| SEXTETS[ch as usize]);
        invalid |= a | b | c | d;
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        out[0] = (n >> 16) as u8;
        out[1] = (n >> 8) as u8;
        out[2] = n as u8;
    }
    (invalid & INVALID == 0).then_some(raw)
}

/// Marks a byte that is not in the alphabet.
const INVALID: u8 = 0x80;

/// The value of each byte as a base64url digit, or [`INVALID`].
const SEXTETS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Fills a buffer from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::fill(&mut out).is_err() {
        // Without OS randomness ids would be guessable; refusing to run is safer.
        panic!("the operating system's random source is unavailable; cannot mint unguessable ids");
    }
    out
}

/// Compares two secrets (or tags) without an early exit, so timing reveals nothing about where
/// they differ.
pub(crate) fn secrets_match(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// Whether a header value is acceptable as a session id at all: visible ASCII 0x21–0x7E.
pub(crate) fn is_visible_ascii(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_visible_ascii() {
        let parts = IdParts::generate(7, u32::MAX);
        let id = parts.encode();
        assert_eq!(id.as_str().len(), TEXT_LEN);
        assert!(is_visible_ascii(id.as_str().as_bytes()));
        assert_eq!(IdParts::decode(id.as_str().as_bytes()), Some(parts));
    }

    #[test]
    fn encodes_base64url_and_decodes_it_back() {
        let text: [u8; 8] = b64_encode_array(&[0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83]);
        assert_eq!(&text, b"-_-_ABCD");
        let raw: [u8; 18] = std::array::from_fn(|i| (i * 37) as u8);
        let text: [u8; 24] = b64_encode_array(&raw);
        assert_eq!(b64_decode::<18>(&text), Some(raw));
    }

    #[test]
    fn secrets_differ_between_ids() {
        let a = IdParts::generate(1, 1);
        let b = IdParts::generate(1, 1);
        assert_ne!(a.secret, b.secret);
        assert!(!secrets_match(&a.secret, &b.secret));
        assert!(secrets_match(&a.secret, &a.secret));
    }

    #[test]
    fn secrets_differing_in_bytes_whose_differences_cancel_out_do_not_match() {
        // An accumulator that XORs the byte differences (instead of OR-ing them) would see
        // 0x01 ^ 0x01 = 0 here and call these equal.
        let right = [0u8; 16];
        let mut wrong = right;
        wrong[3] = 0x01;
        wrong[9] = 0x01;
        assert!(!secrets_match(&right, &wrong));
        let mut wrong = right;
        wrong[0] = 0xff;
        wrong[15] = 0xff;
        assert!(!secrets_match(&right, &wrong));
        assert!(!secrets_match(&right, &right[..15]), "lengths differ");
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(IdParts::decode(b""), None);
        assert_eq!(IdParts::decode(&[b'A'; 31]), None);
        assert_eq!(IdParts::decode(&[b'A'; 33]), None);
        assert_eq!(IdParts::decode(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), None);
        assert_eq!(
            IdParts::decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé".as_bytes()),
            None
        );
        assert!(!is_visible_ascii(b"a b"));
        assert!(!is_visible_ascii(b"a\x7f"));
    }

    #[test]
    fn debug_does_not_leak_the_id() {
        let id = IdParts::generate(0, 0).encode();
        assert_eq!(format!("{id:?}"), "SessionId(..)");
    }
}
