//! `Mcp-Param-{Name}` (2026-07-28, SEP-2243): a tool's `inputSchema` may mark a top-level
//! property with `"x-mcp-header": "Name"`; a client calling the tool then mirrors that
//! argument into the header `Mcp-Param-Name`, so that intermediaries can route on it. The
//! server checks that header and body agree, since something upstream may have acted on the
//! header: a header missing while the argument is present, present while the argument is
//! absent, malformed, or unequal is 400 with −32020.
//!
//! Only properties directly under `properties` count, of type string, integer, number or
//! boolean; other annotations are not enforced. Integers and numbers compare numerically
//! (`42` and `42.0` agree), booleans as `true`/`false`, strings exactly (after the
//! `=?base64?…?=` form is decoded). That decoding lives here, and `modern` uses it for
//! `Mcp-Name` too.

use http::HeaderMap;
use serde_json::Value;

use crate::error::{Rejection, RejectionKind};

/// Checks every `x-mcp-header` argument of `schema` against the request's headers.
pub(crate) fn check(
    headers: &HeaderMap,
    tool: &str,
    schema: &Value,
    arguments: Option<&Value>,
) -> Result<(), Rejection> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, property) in properties {
        let Some(suffix) = property.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let header_name = format!("mcp-param-{suffix}");
        // A suffix that cannot be a header name is an invalid annotation: not enforced.
        let Ok(header_name) = http::HeaderName::from_bytes(header_name.as_bytes()) else {
            continue;
        };
        let kind = property.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "string" | "integer" | "number" | "boolean") {
            continue;
        }
        let argument = arguments.and_then(|a| a.get(name)).filter(|v| !v.is_null());
        let mut values = headers.get_all(&header_name).iter();
        let header = values.next();
        if values.next().is_some() {
            return Err(mismatch(format!(
                "send exactly one Mcp-Param-{suffix} header"
            )));
        }
        match (argument, header) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(mismatch(format!(
                    "the Mcp-Param-{suffix} header is required: {tool} marks argument '{name}' \
                     with x-mcp-header, and the body carries it"
                )))
            }
            (None, Some(_)) => {
                return Err(mismatch(format!(
                    "the Mcp-Param-{suffix} header names argument '{name}' of {tool}, which the \
                     body does not carry"
                )))
            }
            (Some(argument), Some(header)) => {
                let text = header.to_str().map_err(|_| {
                    mismatch(format!(
                        "the Mcp-Param-{suffix} header holds characters outside visible ASCII; \
                         encode the value as =?base64?...?="
                    ))
                })?;
                let value = decode_header_value(text.trim()).ok_or_else(|| {
                    mismatch(format!(
                        "the Mcp-Param-{suffix} header holds a malformed =?base64?...?= value"
                    ))
                })?;
                if !agrees(&value, argument) {
                    return Err(mismatch(format!(
                        "the Mcp-Param-{suffix} header ({value}) differs from argument '{name}' \
                         of {tool} ({argument})"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A header value, decoded from the `=?base64?…?=` form when it has both the prefix and the
/// suffix (otherwise it is literal); `None` when that form is malformed or not UTF-8.
pub(crate) fn decode_header_value(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(encoded) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(std::borrow::Cow::Borrowed(value));
    };
    let bytes = base64_decode(encoded.as_bytes())?;
    String::from_utf8(bytes).ok().map(std::borrow::Cow::Owned)
}

/// Standard base64 (RFC 4648 §4) with its padding required.
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        Some(u32::from(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    if input.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.chunks_exact(4);
    let last = quads.len().saturating_sub(1);
    for (i, quad) in quads.enumerate() {
        let pad = quad.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && i != last) {
            return None;
        }
        let mut n = 0u32;
        for &b in &quad[..4 - pad] {
            n = (n << 6) | sextet(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
        // Bits left over by the padding must be zero (canonical encoding).
        let spare = match pad {
            1 => n & 0xFF,
            2 => n & 0xFFFF,
            _ => 0,
        };
        if spare != 0 {
            return None;
        }
    }
    Some(out)
}

fn mismatch(message: String) -> Rejection {
    Rejection::new(RejectionKind::HeaderMismatch, message)
}

/// Whether a header's (decoded) text says the same as the argument.
fn agrees(text: &str, argument: &Value) -> bool {
    match argument {
        Value::String(s) => s == text,
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        Value::Number(n) => match (text.parse::<f64>(), n.as_f64()) {
            (Ok(header), Some(body)) => header == body,
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn schema() -> Value {
        json!({ "type": "object", "properties": {
            "region": { "type": "string", "x-mcp-header": "Region" },
            "count": { "type": "integer", "x-mcp-header": "Count" },
            "dry": { "type": "boolean", "x-mcp-header": "Dry" },
            "nested": { "type": "object", "x-mcp-header": "Nested" },
            "plain": { "type": "string" },
        } })
    }

    fn ok(pairs: &[(&str, &str)], args: &Value) -> bool {
        check(&headers(pairs), "t", &schema(), Some(args)).is_ok()
    }

    #[test]
    fn base64_sentinel() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?aMOpbGxv?=").as_deref(),
            Some("héllo")
        );
        assert_eq!(decode_header_value("=?base64?YQ==?=").as_deref(), Some("a"));
        assert_eq!(
            decode_header_value("=?base64?YWI=?=").as_deref(),
            Some("ab")
        );
        // Only the prefix, or only the suffix: literal.
        assert_eq!(
            decode_header_value("=?base64?YQ==").as_deref(),
            Some("=?base64?YQ==")
        );
        for bad in [
            "=?base64?YQ?=",
            "=?base64?Y!==?=",
            "=?base64?YR==?=",
            "=?base64?Y===?=",
            "=?base64?YQ==YQ==?=",
            "=?base64?/w==?=",
        ] {
            assert_eq!(decode_header_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_must_mirror_marked_arguments() {
        assert!(ok(&[], &json!({ "plain": "x", "nested": {} })));
        assert!(ok(
            &[("mcp-param-region", "eu")],
            &json!({ "region": "eu" })
        ));
        assert!(ok(
            &[("MCP-PARAM-REGION", " eu ")],
            &json!({ "region": "eu" })
        ));
        assert!(ok(
            &[("mcp-param-region", "=?base64?SGVsbG8=?=")],
            &json!({ "region": "Hello" })
        ));
        assert!(ok(
            &[("mcp-param-region", "=?base64?SGVsbG8=")],
            &json!({ "region": "=?base64?SGVsbG8=" })
        ));
        assert!(ok(&[("mcp-param-count", "42.0")], &json!({ "count": 42 })));
        assert!(ok(&[("mcp-param-dry", "true")], &json!({ "dry": true })));
        assert!(ok(&[], &json!({ "region": null })));
        for (pairs, args) in [
            (vec![], json!({ "region": "eu" })),
            (vec![("mcp-param-region", "us")], json!({ "region": "eu" })),
            (vec![("mcp-param-region", "eu")], json!({})),
            (
                vec![("mcp-param-region", "=?base64?SGVsbG8?=")],
                json!({ "region": "Hello" }),
            ),
            (
                vec![("mcp-param-region", "=?base64?SGVs!!!bG8=?=")],
                json!({ "region": "Hello" }),
            ),
            (vec![("mcp-param-count", "41")], json!({ "count": 42 })),
            (vec![("mcp-param-count", "many")], json!({ "count": 42 })),
            (vec![("mcp-param-dry", "TRUE")], json!({ "dry": true })),
            (
                vec![("mcp-param-region", "eu"), ("mcp-param-region", "eu")],
                json!({ "region": "eu" }),
            ),
        ] {
            let err = check(&headers(&pairs), "t", &schema(), Some(&args)).unwrap_err();
            assert_eq!(
                err.kind(),
                RejectionKind::HeaderMismatch,
                "{pairs:?} {args}"
            );
        }
    }
}
