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
//! `=?base64?…?=` form is decoded).

use http::HeaderMap;
use serde_json::Value;

use super::modern::decode_header_value;
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
