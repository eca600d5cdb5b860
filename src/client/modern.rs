//! The 2026-07-28 (stateless) era on the client side: what every request carries (`_meta` and
//! the `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers), the
//! answers to an `InputRequiredResult`, and which answers to a `server/discover` probe mean a
//! session-era server.

use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use serde_json::{Map, Value};

use super::config::Config;
use super::error::{ClientError, ErrorKind};
use crate::jsonrpc::code;
use crate::protocol::{
    ProtocolVersion, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES,
    META_PROTOCOL_VERSION,
};

/// `_meta` key: the client's `Implementation` (name and version).
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// For each tool the client has seen listed, its arguments marked `x-mcp-header`: (argument,
/// header name).
pub(super) type ParamHeaders = HashMap<String, Vec<(String, HeaderName)>>;

/// `params` with the era's `_meta` entries set (the version, the capabilities and
/// `clientInfo`); other `_meta` entries (a `progressToken`, ...) are kept.
pub(super) fn with_meta(config: &Config, version: ProtocolVersion, params: Option<Value>) -> Value {
    let mut params = match params {
        Some(Value::Object(map)) => map,
        // Not an object: the server answers −32602; sent as an object, so `_meta` fits.
        Some(_) | None => Map::new(),
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert(META_PROTOCOL_VERSION.into(), version.as_str().into());
        meta.insert(META_CLIENT_CAPABILITIES.into(), config.capabilities.clone());
        meta.insert(META_CLIENT_INFO.into(), config.client_info.clone());
    }
    Value::Object(params)
}

/// The headers of a 2026-07-28 POST: the version, the method, the name for `tools/call`,
/// `prompts/get` and `resources/read`, and the `Mcp-Param-*` mirrors of a tool's marked
/// arguments.
pub(super) fn headers(
    version: ProtocolVersion,
    method: &str,
    params: &Value,
    param_headers: &ParamHeaders,
) -> Result<HeaderMap, ClientError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        MCP_PROTOCOL_VERSION,
        HeaderValue::from_static(version.as_str()),
    );
    headers.insert(MCP_METHOD, header_value(method)?);
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return Ok(headers),
    };
    let Some(name) = params.get(field).and_then(Value::as_str) else {
        return Ok(headers);
    };
    headers.insert(MCP_NAME, header_value(name)?);
    if method != "tools/call" {
        return Ok(headers);
    }
    let arguments = params.get("arguments");
    for (argument, header) in param_headers.get(name).into_iter().flatten() {
        let text = match arguments.and_then(|a| a.get(argument)) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            // Only scalars are mirrored; the server does not check the others.
            Some(_) => continue,
        };
        headers.insert(header.clone(), header_value(&text)?);
    }
    Ok(headers)
}

/// A header value: the text itself when it is visible ASCII (spaces inside allowed) with no
/// space at either end, else the `=?base64?…?=` form.
pub(super) fn header_value(text: &str) -> Result<HeaderValue, ClientError> {
    let visible = text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let padded = text.starts_with(' ') || text.ends_with(' ');
    // A literal value shaped like the sentinel would be decoded by the server: encode it.
    let sentinel = text.starts_with("=?base64?") && text.ends_with("?=");
    let plain = visible && !padded && !sentinel;
    let encoded;
    let value = if plain {
        text
    } else {
        encoded = format!("=?base64?{}?=", base64(text.as_bytes()));
        &encoded
    };
    HeaderValue::from_str(value)
        .map_err(|e| ClientError::new(ErrorKind::InvalidRequest).with_source(e))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Records the `x-mcp-header` arguments of every tool in a `tools/list` result.
pub(super) fn learn_tools(result: &Value, into: &mut ParamHeaders) {
    let Some(tools) = result.get("tools").and_then(Value::as_array) else {
        return;
    };
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let properties = tool
            .get("inputSchema")
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object);
        let marked: Vec<(String, HeaderName)> = properties
            .into_iter()
            .flatten()
            .filter_map(|(argument, schema)| {
                let suffix = schema.get("x-mcp-header")?.as_str()?;
                let header = HeaderName::from_bytes(format!("mcp-param-{suffix}").as_bytes());
                Some((argument.clone(), header.ok()?))
            })
            .collect();
        if marked.is_empty() {
            into.remove(name);
        } else {
            into.insert(name.to_owned(), marked);
        }
    }
}

/// Whether the answer to a `server/discover` probe says "a session-era server": 400, 404 or
/// 405 (whatever the body, as the specification's era detection reads an unknown body as
/// legacy), a JSON-RPC error in a 200 (−32601 from a server that routes by body), or a
/// successful answer that lists no version of the era this client speaks.
pub(super) fn is_legacy_answer(error: &ClientError) -> bool {
    match error.kind() {
        ErrorKind::Status => matches!(
            error.status(),
            Some(StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
        ),
        ErrorKind::Rpc | ErrorKind::UnsupportedVersion => true,
        _ => false,
    }
}

/// Whether an error refuses the era itself (−32022, unsupported protocol version).
pub(super) fn is_unsupported_version(error: &ClientError) -> bool {
    error
        .rpc_error()
        .is_some_and(|e| e.code == code::UNSUPPORTED_PROTOCOL_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64("héllo".as_bytes()), "aMOpbGxv");
    }

    #[test]
    fn header_values_are_plain_unless_they_cannot_be() {
        assert_eq!(header_value("get weather").unwrap(), "get weather");
        assert_eq!(header_value("é").unwrap(), "=?base64?w6k=?=");
        assert_eq!(header_value(" x").unwrap(), "=?base64?IHg=?=");
        assert_eq!(
            header_value("=?base64?x?=").unwrap(),
            "=?base64?PT9iYXNlNjQ/eD89?="
        );
    }

    #[test]
    fn marked_arguments_become_param_headers() {
        let mut known = ParamHeaders::new();
        let list = json!({ "tools": [{
            "name": "deploy",
            "inputSchema": { "type": "object", "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" },
                "count": { "type": "integer", "x-mcp-header": "Count" },
                "note": { "type": "string" },
            } },
        }] });
        learn_tools(&list, &mut known);
        let params = json!({
            "name": "deploy",
            "arguments": { "region": "eu-west", "count": 3, "note": "n" },
        });
        let h = headers(ProtocolVersion::V2026_07_28, "tools/call", &params, &known).unwrap();
        assert_eq!(h["mcp-param-region"], "eu-west");
        assert_eq!(h["mcp-param-count"], "3");
        assert_eq!(h[MCP_NAME], "deploy");
        assert_eq!(h[MCP_METHOD], "tools/call");
        assert_eq!(h[MCP_PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(h.len(), 5);
    }
}
