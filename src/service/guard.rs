//! Header checks, made on the request head before any body is read: Host/Origin, Accept,
//! Content-Type, `Mcp-Session-Id` syntax and `MCP-Protocol-Version`.

use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST, ORIGIN};
use http::request::Parts;
use http::HeaderMap;

use super::config::{Allow, Config};
use crate::error::{Rejection, RejectionKind};
use crate::protocol::{ProtocolVersion, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use crate::session::is_visible_ascii;

const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The value of a header the transport reads as one value. Copies with the same value count as
/// one; copies that differ are refused (`Err`): a proxy or client may put either first, so no
/// check may depend on which copy it reads.
pub(crate) fn single_value<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match first {
        Some(first) if values.all(|v| v == first) => Ok(Some(first)),
        Some(_) => Err(()),
        None => Ok(None),
    }
}

/// 400 for a header sent twice with different values.
pub(crate) fn conflicting(name: &str) -> Rejection {
    Rejection::new(
        RejectionKind::ConflictingHeader,
        format!("{name} is sent more than once with different values; send it once"),
    )
}

/// 403 for a `Host` or `Origin` that is not allowed (the DNS-rebinding defence), or that is
/// sent twice with different values.
pub(crate) fn host_and_origin(config: &Config, parts: &Parts) -> Result<(), Rejection> {
    let Ok(host_header) = single_value(&parts.headers, &HOST) else {
        return Err(Rejection::new(
            RejectionKind::ForbiddenHost,
            "Host is sent more than once with different values; send one Host header",
        ));
    };
    // The request target's authority (HTTP/2 `:authority`, or an absolute URI) and the Host
    // header must both be allowed, whichever a proxy looks at.
    for candidate in [
        parts.uri.authority().map(|a| a.as_str().as_bytes()),
        host_header.map(HeaderValue::as_bytes),
    ]
    .into_iter()
    .flatten()
    {
        // A non-UTF-8 Host header is refused as well: it cannot be on any list.
        let host = std::str::from_utf8(candidate).ok();
        if host.is_none_or(|h| !host_allowed(&config.hosts, h)) {
            let shown = host.unwrap_or("(not UTF-8)");
            return Err(Rejection::new(
                RejectionKind::ForbiddenHost,
                format!(
                    "Host '{shown}' is not allowed; add it with McpLayer::allowed_hosts, or call \
                     McpLayer::allow_any_host() if a proxy in front checks it"
                ),
            ));
        }
    }
    let Ok(origin) = single_value(&parts.headers, &ORIGIN) else {
        return Err(Rejection::new(
            RejectionKind::ForbiddenOrigin,
            "Origin is sent more than once with different values; a browser sends one",
        ));
    };
    if let Some(origin) = origin {
        let text = origin.to_str().unwrap_or("");
        if !origin_allowed(&config.origins, text) {
            return Err(Rejection::new(
                RejectionKind::ForbiddenOrigin,
                format!(
                    "Origin '{text}' is not allowed; add it with McpLayer::allowed_origins, or \
                     call McpLayer::allow_any_origin()"
                ),
            ));
        }
    }
    Ok(())
}

/// Splits `host[:port]`, keeping the brackets of an IPv6 literal.
fn split_host(authority: &str) -> (&str, Option<&str>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (host, rest) = authority.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    }
}

fn host_allowed(allow: &Allow, authority: &str) -> bool {
    let (host, port) = split_host(authority);
    match allow {
        Allow::Any => true,
        Allow::Loopback => LOOPBACK.iter().any(|l| host.eq_ignore_ascii_case(l)),
        Allow::List(list) => list.iter().any(|entry| {
            let (eh, ep) = split_host(entry);
            eh.eq_ignore_ascii_case(host) && (ep.is_none() || ep == port)
        }),
    }
}

fn origin_allowed(allow: &Allow, origin: &str) -> bool {
    match allow {
        Allow::Any => true,
        Allow::Loopback => {
            let Some((scheme, rest)) = origin.split_once("://") else {
                return false;
            };
            let (host, _) = split_host(rest.trim_end_matches('/'));
            (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                && LOOPBACK.iter().any(|l| host.eq_ignore_ascii_case(l))
        }
        Allow::List(list) => {
            let origin = origin.trim_end_matches('/');
            list.iter().any(|o| o.eq_ignore_ascii_case(origin))
        }
    }
}

/// What an `Accept` header admits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Accepts {
    pub(crate) json: bool,
    pub(crate) sse: bool,
}

pub(crate) fn accepts(headers: &HeaderMap) -> Accepts {
    let mut out = Accepts::default();
    for value in headers.get_all(ACCEPT) {
        // What MCP clients send on POST, byte for byte: it admits both, and other copies can
        // only add to that (ranges are joined), so it needs no parsing.
        if value.as_bytes() == b"application/json, text/event-stream" {
            return Accepts {
                json: true,
                sse: true,
            };
        }
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or("").trim();
            let refused = params.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            let (kind, sub) = media.split_once('/').unwrap_or((media, ""));
            let any = kind == "*" && sub == "*";
            let json = kind.eq_ignore_ascii_case("application")
                && (sub == "*" || sub.eq_ignore_ascii_case("json"));
            let sse = kind.eq_ignore_ascii_case("text")
                && (sub == "*" || sub.eq_ignore_ascii_case("event-stream"));
            out.json |= any || json;
            out.sse |= any || sse;
        }
    }
    out
}

/// Whether `Content-Type` is JSON; `Err` when it is sent twice with different values.
pub(crate) fn content_type_is_json(headers: &HeaderMap) -> Result<bool, Rejection> {
    let value = single_value(headers, &CONTENT_TYPE).map_err(|()| conflicting("Content-Type"))?;
    Ok(value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json")))
}

/// The `Mcp-Session-Id` value, if any: exactly one, visible ASCII.
pub(crate) fn session_header(parts: &Parts) -> Result<Option<&[u8]>, Rejection> {
    let mut values = parts.headers.get_all(MCP_SESSION_ID).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::new(
            RejectionKind::InvalidSessionId,
            "send exactly one Mcp-Session-Id header",
        ));
    }
    let bytes = first.as_bytes();
    if !is_visible_ascii(bytes) {
        return Err(Rejection::new(
            RejectionKind::InvalidSessionId,
            "Mcp-Session-Id must be visible ASCII (0x21-0x7E) and not empty",
        ));
    }
    Ok(Some(bytes))
}

/// The `sessionId` query parameter of a legacy (2024-11-05) request, if any: exactly one,
/// visible ASCII. Ids are base64url, so they need no percent-decoding.
pub(crate) fn session_query(parts: &Parts) -> Result<Option<&[u8]>, Rejection> {
    let mut found = None;
    for pair in parts.uri.query().unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "sessionId" {
            continue;
        }
        if found.is_some() {
            return Err(Rejection::new(
                RejectionKind::InvalidSessionId,
                "send exactly one sessionId query parameter",
            ));
        }
        found = Some(value.as_bytes());
    }
    match found {
        Some(value) if !is_visible_ascii(value) => Err(Rejection::new(
            RejectionKind::InvalidSessionId,
            "the sessionId query parameter must not be empty; use the URL of the endpoint event \
             unchanged",
        )),
        other => Ok(other),
    }
}

/// The `MCP-Protocol-Version` value, if any; 400 when it is not a supported revision.
pub(crate) fn version_header(
    config: &Config,
    parts: &Parts,
) -> Result<Option<ProtocolVersion>, Rejection> {
    let mut values = parts.headers.get_all(MCP_PROTOCOL_VERSION).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let text = first.to_str().unwrap_or("(not UTF-8)");
    let parsed = text
        .parse::<ProtocolVersion>()
        .ok()
        .filter(|v| config.supports(*v));
    match parsed {
        Some(v) if values.next().is_none() => Ok(Some(v)),
        _ => Err(Rejection::new(
            RejectionKind::UnsupportedProtocolVersion,
            format!(
                "unsupported MCP-Protocol-Version '{text}'; this server supports: {}",
                config.supported_list()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, accept.parse().unwrap());
        h
    }

    #[test]
    fn accept_parsing() {
        let a = accepts(&headers("application/json, text/event-stream"));
        assert!(a.json && a.sse);
        let a = accepts(&headers("*/*"));
        assert!(a.json && a.sse);
        let a = accepts(&headers("application/json;q=0.9, text/event-stream;q=0"));
        assert!(a.json && !a.sse);
        let a = accepts(&headers("text/*"));
        assert!(!a.json && a.sse);
        let a = accepts(&HeaderMap::new());
        assert!(!a.json && !a.sse);
    }

    #[test]
    fn hosts() {
        assert!(host_allowed(&Allow::Loopback, "localhost:3000"));
        assert!(host_allowed(&Allow::Loopback, "127.0.0.1"));
        assert!(host_allowed(&Allow::Loopback, "[::1]:8080"));
        assert!(host_allowed(&Allow::Loopback, "LOCALHOST"));
        assert!(!host_allowed(&Allow::Loopback, "evil.example.com"));
        assert!(!host_allowed(&Allow::Loopback, "localhost.evil.com:3000"));
        let list = Allow::List(vec!["example.com".into(), "api.example.com:8443".into()]);
        assert!(host_allowed(&list, "example.com:1"));
        assert!(host_allowed(&list, "api.example.com:8443"));
        assert!(!host_allowed(&list, "api.example.com:443"));
    }

    #[test]
    fn origins() {
        assert!(origin_allowed(&Allow::Loopback, "http://localhost:3000"));
        assert!(origin_allowed(&Allow::Loopback, "https://127.0.0.1"));
        assert!(!origin_allowed(&Allow::Loopback, "http://evil.example.com"));
        assert!(!origin_allowed(&Allow::Loopback, "null"));
        assert!(!origin_allowed(&Allow::Loopback, "file://localhost"));
        let list = Allow::List(vec!["https://app.example.com".into()]);
        assert!(origin_allowed(&list, "https://APP.example.com/"));
        assert!(!origin_allowed(&list, "http://app.example.com"));
    }
}
