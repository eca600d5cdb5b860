//! The server the official MCP conformance suite (`@modelcontextprotocol/conformance`) expects:
//! the "everything server" surface, written as one `McpLayer` handler.
//!
//! ```text
//! cargo run --example conformance -- --port 3001   # or PORT=3001; --port 0 picks a free port
//! npx @modelcontextprotocol/conformance server --url http://127.0.0.1:3001/mcp --suite all
//! ```
//!
//! It is also the largest example of a handler for this crate:
//!
//! - one async function per MCP method, dispatched on [`McpRequest::method`], with typed params
//!   ([`McpRequest::parse_params`]) and typed results (`serde::Serialize` structs);
//! - messages related to a request — logs, progress — sent through its [`RequestContext`] while
//!   it runs (the transport turns the reply into an SSE stream for them);
//! - requests to the client — sampling, elicitation — sent with [`RequestContext::request`] on
//!   the call's own stream, the handler awaiting the client's answer;
//! - SEP-1699 polling: [`RequestContext::close_sse_stream`] drops the connection mid-call, and
//!   the client resumes the stream with `Last-Event-ID` (`test_reconnection`);
//! - per-session state (the log level, resource subscriptions) kept in the [`Session`];
//! - messages unrelated to any request (resource updates) sent from a background task through
//!   the [`Sessions`] registry;
//! - the 2026-07-28 stateless era on the same endpoint: `server/discover`, per-request client
//!   capabilities (−32021 when one is missing), the caching fields `ttlMs`/`cacheScope`, and
//!   `serverInfo`/`resultType` stamped by the layer ([`McpLayer::server_info`]);
//! - the tasks extension (`io.modelcontextprotocol/tasks`): tools that answer with a task handle
//!   and go on in the background, `tasks/get`, `tasks/update` and `tasks/cancel` answered by a
//!   [`TaskStore`], input asked during a task, and a tool that asks first (multi-round-trip)
//!   and then creates its task.
//!
//! Names are exact: the suite calls `test_simple_text`, reads `test://static-text`, gets
//! `test_simple_prompt`, and so on. `.ci/external.sh` runs the suite against this server.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use mcp_tower::tasks::{self, TaskStore};
use mcp_tower::{code, ErrorObject};
use mcp_tower::{
    BoxError, Change, ClientRequestError, LogLevel, McpLayer, McpRequest, McpResponse,
    ProtocolVersion, Publisher, RequestContext, Session, Sessions,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let port = common::serve::port_from_args(3001)?;
    // The 2026-07-28 `Mcp-Param-*` headers are checked against the tools' schemas.
    let schemas = tools::schemas();
    let layer = McpLayer::new()
        .server_info(server_info())
        .tool_schemas(move |tool| schemas.get(tool).cloned());
    let sessions = layer.sessions();
    let _ = PUBLISHER.set(layer.publisher());
    tokio::spawn(resources::announce_updates(sessions.clone()));
    let mcp = ServiceBuilder::new().layer(layer).service_fn(handle);
    common::serve::serve(mcp, sessions, port).await
}

/// What a method handler returns: a result, or a JSON-RPC error.
type Outcome = Result<Value, ErrorObject>;

/// The handler: one message in, its answer out.
async fn handle(req: McpRequest) -> Result<McpResponse, Infallible> {
    let outcome = match req.method() {
        "initialize" => Ok(initialize(&req)),
        "server/discover" => Ok(discover()),
        "tasks/get" | "tasks/update" | "tasks/cancel" => task_tools::TASKS
            .serve(&req)
            .expect("TaskStore::serve answers the three tasks methods"),
        "ping" => Ok(json!({})),
        "logging/setLevel" => set_log_level(&req),
        "tools/list" => Ok(json!({ "tools": tools::list(req.protocol_version()) })),
        "tools/call" => tools::call(&req).await,
        "resources/list" => Ok(json!({ "resources": resources::list() })),
        "resources/templates/list" => Ok(json!({ "resourceTemplates": resources::templates() })),
        "resources/read" => resources::read(&req),
        "resources/subscribe" => resources::subscribe(&req, true),
        "resources/unsubscribe" => resources::subscribe(&req, false),
        "prompts/list" => Ok(json!({ "prompts": prompts::list() })),
        "prompts/get" => prompts::get(&req).await,
        "completion/complete" => complete(&req),
        // Notifications (`notifications/initialized`, `notifications/cancelled`, …) need no
        // answer: the transport discards it.
        _ if req.is_notification() => Ok(json!({})),
        other => return Ok(McpResponse::method_not_found(other)),
    };
    let outcome = outcome.map(|result| cacheable(&req, result));
    Ok(outcome.map_or_else(McpResponse::error, McpResponse::result))
}

/// Announces list changes to both eras (`test_trigger_tool_change`, `test_trigger_prompt_change`).
static PUBLISHER: OnceLock<Publisher> = OnceLock::new();

/// Publishes `change`, if the server is up.
fn publish(change: &Change) {
    if let Some(publisher) = PUBLISHER.get() {
        let _ = publisher.publish(change);
    }
}

/// This server's `Implementation`: in `initialize` results, and stamped by the layer on every
/// 2026-07-28 result.
fn server_info() -> Value {
    json!({ "name": "mcp-tower-conformance", "version": env!("CARGO_PKG_VERSION") })
}

/// What this server offers, in `initialize` and `server/discover` alike.
fn capabilities() -> Value {
    json!({
        "tools": { "listChanged": true },
        "resources": { "subscribe": true },
        "prompts": { "listChanged": true },
        "logging": {},
        "completions": {},
    })
}

/// `server/discover` (2026-07-28): the versions served, the capabilities (with the tasks
/// extension, which this server offers to 2026-07-28 requests), and how long the answer may be
/// cached. `serverInfo` and `resultType` are stamped by the layer.
fn discover() -> Value {
    let versions: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
    let mut capabilities = capabilities();
    capabilities["extensions"] = json!({ tasks::EXTENSION: {} });
    json!({
        "supportedVersions": versions,
        "capabilities": capabilities,
        "instructions": "The MCP conformance suite's everything-server surface.",
    })
}

/// 2026-07-28 caching hints on the results that carry them (lists, reads, discovery): nothing
/// here depends on who asks, so any cache may keep them for a minute.
fn cacheable(req: &McpRequest, mut result: Value) -> Value {
    let cacheable = matches!(
        req.method(),
        "server/discover"
            | "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
    );
    if cacheable && req.protocol_version().is_stateless() {
        if let Value::Object(map) = &mut result {
            map.entry("ttlMs").or_insert(json!(60_000));
            map.entry("cacheScope").or_insert(json!("public"));
        }
    }
    result
}

/// The client capabilities a 2026-07-28 request declares in its `_meta`, or that its session
/// negotiated.
fn declares(req: &McpRequest, capability: &str) -> bool {
    if let Some(meta) = req.params().and_then(|p| p.get("_meta")) {
        if let Some(caps) = meta.get(mcp_tower::protocol::META_CLIENT_CAPABILITIES) {
            return caps.get(capability).is_some();
        }
    }
    req.session()
        .and_then(|s| s.client_capabilities())
        .is_some_and(|caps| caps.get(capability).is_some())
}

/// `initialize`: the transport has negotiated the protocol version already; echo it and say
/// what this server offers.
fn initialize(req: &McpRequest) -> Value {
    json!({
        "protocolVersion": req.protocol_version().as_str(),
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": "The MCP conformance suite's everything-server surface.",
    })
}

/// An "invalid params" (−32602) error.
fn invalid_params(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, message)
}

// ---------------------------------------------------------------------------------------------
// Logging: the level is per session.

/// The least severe level the client wants to see, as set by `logging/setLevel`. Sessions that
/// never set one get every message.
#[derive(Clone, Copy)]
struct MinLogLevel(LogLevel);

#[derive(Deserialize)]
struct SetLevelParams {
    level: String,
}

/// `logging/setLevel`: remembers the level in the session.
fn set_log_level(req: &McpRequest) -> Outcome {
    let params: SetLevelParams = req.parse_params()?;
    let level = LogLevel::parse(&params.level)
        .ok_or_else(|| invalid_params(format!("unknown log level {:?}", params.level)))?;
    if let Some(session) = req.session() {
        session.insert(MinLogLevel(level));
    }
    Ok(json!({}))
}

/// Sends a log message related to the current request, if the session's level lets it through.
fn log(ctx: &RequestContext, level: LogLevel, message: &str) {
    let min = ctx
        .session()
        .and_then(Session::get::<MinLogLevel>)
        .map_or(LogLevel::Debug, |MinLogLevel(level)| level);
    if level >= min {
        ctx.log(level, Some("conformance"), json!(message));
    }
}

// ---------------------------------------------------------------------------------------------
// Content: what tools return and prompts hold.

/// A 1×1 PNG.
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
/// One millisecond of silence: a 16-bit mono 8 kHz WAV.
const WAV_BASE64: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// One content block (`TextContent`, `ImageContent`, `AudioContent`, `EmbeddedResource`).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Content {
    Text {
        text: String,
    },
    #[serde(rename_all = "camelCase")]
    Image {
        data: String,
        mime_type: String,
    },
    #[serde(rename_all = "camelCase")]
    Audio {
        data: String,
        mime_type: String,
    },
    Resource {
        resource: ResourceContents,
    },
}

impl Content {
    fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    fn png() -> Self {
        Self::Image {
            data: PNG_BASE64.into(),
            mime_type: "image/png".into(),
        }
    }

    fn wav() -> Self {
        Self::Audio {
            data: WAV_BASE64.into(),
            mime_type: "audio/wav".into(),
        }
    }

    fn resource(uri: &str, mime_type: &str, text: &str) -> Self {
        Self::Resource {
            resource: ResourceContents::text(uri, mime_type, text),
        }
    }
}

/// The contents of a resource: text or base64 `blob`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceContents {
    uri: String,
    mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
}

impl ResourceContents {
    fn text(uri: &str, mime_type: &str, text: &str) -> Self {
        Self {
            uri: uri.into(),
            mime_type: mime_type.into(),
            text: Some(text.into()),
            blob: None,
        }
    }

    fn blob(uri: &str, mime_type: &str, base64: &str) -> Self {
        Self {
            uri: uri.into(),
            mime_type: mime_type.into(),
            text: None,
            blob: Some(base64.into()),
        }
    }
}

/// Serializes a result type. Result types are plain data, so this cannot fail.
fn to_value(value: impl Serialize) -> Value {
    serde_json::to_value(value).expect("result types serialize")
}

// ---------------------------------------------------------------------------------------------
// Tools.

mod tools {
    use super::*;

    /// `tools/list`: every tool with a JSON Schema for its arguments; the 2026-07-28 fixtures
    /// only for requests of that era.
    pub(super) fn list(version: ProtocolVersion) -> Value {
        let no_args = json!({ "type": "object", "properties": {} });
        let mut tools = json!([
            tool("test_simple_text", "Returns a simple text.", &no_args),
            tool("test_image_content", "Returns a PNG image.", &no_args),
            tool("test_audio_content", "Returns a WAV clip.", &no_args),
            tool(
                "test_embedded_resource",
                "Returns an embedded text resource.",
                &no_args
            ),
            tool(
                "test_multiple_content_types",
                "Returns text, an image and an embedded resource.",
                &no_args,
            ),
            tool(
                "test_tool_with_logging",
                "Sends three log messages while it runs.",
                &no_args,
            ),
            tool(
                "test_tool_with_progress",
                "Reports progress 0, 50 and 100 of 100 while it runs.",
                &no_args,
            ),
            tool(
                "test_error_handling",
                "Always fails, as a tool error.",
                &no_args
            ),
            tool(
                "json_schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features.",
                &json_schema_2020_12(),
            ),
        ]);
        if version.is_stateless() {
            let modern = [
                tool(
                    "test_missing_capability",
                    "Needs the client's sampling capability: -32021 without it.",
                    &no_args,
                ),
                tool(
                    "test_streaming_elicitation",
                    "Reports progress on its stream, then answers.",
                    &no_args,
                ),
                tool(
                    "test_logging_tool",
                    "Logs three messages at info, then answers.",
                    &no_args,
                ),
                tool(
                    "test_trigger_tool_change",
                    "Announces a tools/list change to every listener.",
                    &no_args,
                ),
                tool(
                    "test_trigger_prompt_change",
                    "Announces a prompts/list change to every listener.",
                    &no_args,
                ),
                tool(
                    "test_header_param",
                    "Echoes its region, which the client mirrors in Mcp-Param-Region.",
                    &json!({
                        "type": "object",
                        "properties": {
                            "region": { "type": "string", "x-mcp-header": "Region" },
                        },
                        "required": ["region"],
                    }),
                ),
            ];
            if let Value::Array(list) = &mut tools {
                list.extend(modern);
                list.extend(
                    super::mrtr::TOOLS.map(|(name, description)| tool(name, description, &no_args)),
                );
                list.extend(
                    super::task_tools::list()
                        .into_iter()
                        .map(|(name, description, schema)| tool(name, description, &schema)),
                );
            }
        }
        tools
    }

    /// Every tool's `inputSchema` by name, for the layer's `Mcp-Param-*` checks.
    pub(super) fn schemas() -> HashMap<String, Arc<Value>> {
        let mut out = HashMap::new();
        if let Value::Array(tools) = list(ProtocolVersion::LATEST) {
            for mut tool in tools {
                if let (Some(name), Some(schema)) = (
                    tool["name"].as_str().map(String::from),
                    tool.get_mut("inputSchema"),
                ) {
                    out.insert(name, Arc::new(schema.take()));
                }
            }
        }
        out
    }

    fn tool(name: &str, description: &str, input_schema: &Value) -> Value {
        json!({ "name": name, "description": description, "inputSchema": input_schema })
    }

    /// An input schema that uses the 2020-12 vocabulary (`$schema`, `$defs` with an
    /// `$anchor`, composition, conditionals): clients must receive it unchanged.
    fn json_schema_2020_12() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": {
                        "street": { "type": "string" },
                        "city": { "type": "string" },
                    },
                },
            },
            "properties": {
                "name": { "type": "string" },
                "address": { "$ref": "#/$defs/address" },
                "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                "phone": { "type": "string" },
                "email": { "type": "string" },
            },
            "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
            "if": {
                "properties": { "contactMethod": { "const": "phone" } },
                "required": ["contactMethod"],
            },
            "then": { "required": ["phone"] },
            "else": { "required": ["email"] },
            "additionalProperties": false,
        })
    }

    #[derive(Deserialize)]
    struct CallToolParams {
        name: String,
        #[serde(default)]
        arguments: Option<Value>,
    }

    /// A `CallToolResult`.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct CallToolResult {
        content: Vec<Content>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    }

    impl CallToolResult {
        fn new(content: Vec<Content>) -> Self {
            Self {
                content,
                is_error: false,
            }
        }

        fn text(text: impl Into<String>) -> Self {
            Self::new(vec![Content::text(text)])
        }
    }

    /// A failed tool run. It is reported as a result with `isError: true` (not as a JSON-RPC
    /// error), so that the model sees what went wrong.
    struct ToolError(String);

    impl From<ToolError> for CallToolResult {
        fn from(ToolError(message): ToolError) -> Self {
            Self {
                content: vec![Content::text(message)],
                is_error: true,
            }
        }
    }

    type ToolOutcome = Result<CallToolResult, ToolError>;

    /// Reads a tool's arguments into `T` (missing arguments read as `{}`).
    #[derive(Deserialize)]
    struct RegionArgs {
        region: String,
    }

    fn arguments<T: DeserializeOwned>(arguments: Option<Value>) -> Result<T, ToolError> {
        serde_json::from_value(arguments.unwrap_or_else(|| json!({})))
            .map_err(|e| ToolError(format!("invalid arguments: {e}")))
    }

    /// `tools/call`: runs the named tool. An unknown tool is a protocol error; a failing tool is
    /// a result with `isError`.
    pub(super) async fn call(req: &McpRequest) -> Outcome {
        let CallToolParams { name, arguments } = req.parse_params()?;
        let ctx = req.context();
        let outcome = match name.as_str() {
            "test_simple_text" => Ok(CallToolResult::text(
                "This is a simple text response for testing.",
            )),
            "test_image_content" => Ok(CallToolResult::new(vec![Content::png()])),
            "test_audio_content" => Ok(CallToolResult::new(vec![Content::wav()])),
            "test_embedded_resource" => Ok(CallToolResult::new(vec![Content::resource(
                "test://embedded-resource",
                "text/plain",
                "This is an embedded resource content.",
            )])),
            "test_multiple_content_types" => Ok(multiple_content_types()),
            "test_tool_with_logging" | "test_logging_tool" => Ok(with_logging(ctx).await),
            "test_missing_capability" => {
                if !declares(req, "sampling") {
                    return Err(ErrorObject::new(
                        code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                        "test_missing_capability needs the client's sampling capability",
                    )
                    .with_data(json!({ "requiredCapabilities": { "sampling": {} } })));
                }
                Ok(CallToolResult::text("the client declared sampling"))
            }
            "test_streaming_elicitation" => Ok(with_progress(ctx).await),
            "test_trigger_tool_change" => {
                publish(&Change::ToolsListChanged);
                Ok(CallToolResult::text("tools/list change announced"))
            }
            "test_trigger_prompt_change" => {
                publish(&Change::PromptsListChanged);
                Ok(CallToolResult::text("prompts/list change announced"))
            }
            "test_header_param" => self::arguments(arguments)
                .map(|RegionArgs { region }| CallToolResult::text(format!("region: {region}"))),
            "test_tool_with_progress" => Ok(with_progress(ctx).await),
            "test_error_handling" => Err(ToolError(
                "This tool intentionally returns an error for testing".into(),
            )),
            "test_sampling" => sampling(ctx, arguments).await,
            "test_elicitation" => elicitation(ctx, arguments).await,
            "test_elicitation_sep1034_defaults" => {
                elicit(ctx, "Please review your details.", defaults_schema()).await
            }
            "test_elicitation_sep1330_enums" => {
                elicit(ctx, "Please pick some options.", enums_schema()).await
            }
            "test_reconnection" => Ok(reconnection(ctx).await),
            "json_schema_2020_12_tool" => json_schema_tool(arguments),
            other if other.starts_with("test_input_required_result_") => {
                return super::mrtr::call(req, other).await
            }
            other if super::task_tools::serves(other) => {
                return super::task_tools::call(req, other, arguments).await
            }
            _ => return Err(invalid_params(format!("unknown tool: {name}"))),
        };
        Ok(to_value(outcome.unwrap_or_else(CallToolResult::from)))
    }

    fn multiple_content_types() -> CallToolResult {
        CallToolResult::new(vec![
            Content::text("Multiple content types test:"),
            Content::png(),
            Content::resource(
                "test://mixed-content-resource",
                "application/json",
                r#"{"test":"data","value":123}"#,
            ),
        ])
    }

    /// Sends three log messages, 50 ms apart, on the call's own stream, then answers.
    async fn with_logging(ctx: &RequestContext) -> CallToolResult {
        log(ctx, LogLevel::Info, "Tool execution started");
        tokio::time::sleep(Duration::from_millis(50)).await;
        log(ctx, LogLevel::Info, "Tool processing data");
        tokio::time::sleep(Duration::from_millis(50)).await;
        log(ctx, LogLevel::Info, "Tool execution completed");
        CallToolResult::text("Tool with logging executed successfully")
    }

    /// Reports progress 0, 50 and 100 (of 100), 50 ms apart. `ctx.progress` does nothing when
    /// the client sent no progress token.
    async fn with_progress(ctx: &RequestContext) -> CallToolResult {
        for step in [0.0, 50.0, 100.0] {
            if step > 0.0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ctx.progress(step, Some(100.0), None);
        }
        CallToolResult::text("Tool with progress executed successfully")
    }

    impl From<ClientRequestError> for ToolError {
        fn from(error: ClientRequestError) -> Self {
            Self(format!("the request to the client failed: {error}"))
        }
    }

    #[derive(Deserialize)]
    struct SamplingArgs {
        prompt: String,
    }

    /// The part of a `CreateMessageResult` this tool reads.
    #[derive(Deserialize)]
    struct CreateMessageResult {
        content: Value,
    }

    /// Asks the client's model, through a `sampling/createMessage` request sent on this call's
    /// stream, and waits for the answer. The transport refuses (and nothing is sent) if the
    /// client did not declare the `sampling` capability.
    async fn sampling(ctx: &RequestContext, args: Option<Value>) -> ToolOutcome {
        let SamplingArgs { prompt } = arguments(args)?;
        let params = json!({
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": 100,
        });
        let answer = ctx.request("sampling/createMessage", Some(params)).await?;
        let CreateMessageResult { content } =
            serde_json::from_value(answer).map_err(|e| ToolError(format!("bad answer: {e}")))?;
        let text = content["text"].as_str().unwrap_or("(no text)");
        Ok(CallToolResult::text(format!("LLM response: {text}")))
    }

    #[derive(Deserialize)]
    struct ElicitationArgs {
        message: String,
    }

    async fn elicitation(ctx: &RequestContext, args: Option<Value>) -> ToolOutcome {
        let ElicitationArgs { message } = arguments(args)?;
        let schema = json!({
            "type": "object",
            "properties": {
                "username": { "type": "string", "description": "Your username" },
                "email": { "type": "string", "format": "email", "description": "Your email" },
            },
            "required": ["username", "email"],
        });
        elicit(ctx, &message, schema).await
    }

    /// An `ElicitResult`: what the user did, and what they entered when they accepted.
    #[derive(Deserialize)]
    struct ElicitResult {
        action: String,
        #[serde(default)]
        content: Option<Value>,
    }

    /// Asks the user to fill in a form (an `elicitation/create` request on this call's stream)
    /// and reports what came back.
    async fn elicit(ctx: &RequestContext, message: &str, schema: Value) -> ToolOutcome {
        let params = json!({ "message": message, "requestedSchema": schema });
        let answer = ctx.request("elicitation/create", Some(params)).await?;
        let ElicitResult { action, content } =
            serde_json::from_value(answer).map_err(|e| ToolError(format!("bad answer: {e}")))?;
        let content = content.unwrap_or(Value::Null);
        Ok(CallToolResult::text(format!(
            "Elicitation completed: action={action}, content={content}"
        )))
    }

    /// A form whose every field has a default (SEP-1034).
    fn defaults_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "default": "John Doe" },
                "age": { "type": "integer", "default": 30 },
                "score": { "type": "number", "default": 95.5 },
                "status": {
                    "type": "string",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": { "type": "boolean", "default": true },
            },
        })
    }

    /// A form with each kind of enum: single or multiple choice, with or without titles, and
    /// the deprecated `enumNames` (SEP-1330).
    fn enums_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
                "titledSingle": {
                    "type": "string",
                    "oneOf": [
                        { "const": "value1", "title": "First Option" },
                        { "const": "value2", "title": "Second Option" },
                        { "const": "value3", "title": "Third Option" },
                    ],
                },
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "items": { "type": "string", "enum": ["option1", "option2", "option3"] },
                },
                "titledMulti": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" },
                        ],
                    },
                },
            },
        })
    }

    /// Closes the client's connection to this call's stream before answering (SEP-1699
    /// polling). The stream goes on: the client waits for the `retry:` hint, reconnects with
    /// `GET` + `Last-Event-ID`, and receives the answer there.
    async fn reconnection(ctx: &RequestContext) -> CallToolResult {
        // Turns the reply into an SSE stream if it is not one yet, and closes the connection
        // right after the priming event.
        let closed = ctx.close_sse_stream();
        // Answer while the client is away: the answer waits in the stream's replay log.
        tokio::time::sleep(Duration::from_millis(100)).await;
        CallToolResult::text(if closed {
            "Reconnection test completed: the answer came after a reconnect"
        } else {
            "Reconnection test completed: the reply was not a resumable stream"
        })
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ContactArgs {
        name: Option<String>,
        contact_method: Option<String>,
    }

    /// Accepts what its 2020-12 schema describes and says what it got.
    fn json_schema_tool(args: Option<Value>) -> ToolOutcome {
        let ContactArgs {
            name,
            contact_method,
        } = arguments(args)?;
        Ok(CallToolResult::text(format!(
            "name: {}, contact method: {}",
            name.as_deref().unwrap_or("(none)"),
            contact_method.as_deref().unwrap_or("(none)"),
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Resources.

mod resources {
    use super::*;

    pub(super) const STATIC_TEXT: &str = "test://static-text";
    pub(super) const STATIC_BINARY: &str = "test://static-binary";
    pub(super) const WATCHED: &str = "test://watched-resource";
    const TEMPLATE: &str = "test://template/{id}/data";

    /// `resources/list`.
    pub(super) fn list() -> Value {
        json!([
            {
                "uri": STATIC_TEXT,
                "name": "static-text",
                "description": "A static text resource.",
                "mimeType": "text/plain",
            },
            {
                "uri": STATIC_BINARY,
                "name": "static-binary",
                "description": "A static PNG image.",
                "mimeType": "image/png",
            },
            {
                "uri": WATCHED,
                "name": "watched-resource",
                "description": "A resource that subscribers hear about every 3 seconds.",
                "mimeType": "text/plain",
            },
        ])
    }

    /// `resources/templates/list`.
    pub(super) fn templates() -> Value {
        json!([{
            "uriTemplate": TEMPLATE,
            "name": "template-data",
            "description": "Data for any id.",
            "mimeType": "application/json",
        }])
    }

    #[derive(Deserialize)]
    struct UriParams {
        uri: String,
    }

    /// `resources/read`.
    pub(super) fn read(req: &McpRequest) -> Outcome {
        let UriParams { uri } = req.parse_params()?;
        let contents = match uri.as_str() {
            STATIC_TEXT => ResourceContents::text(
                &uri,
                "text/plain",
                "This is the content of the static text resource.",
            ),
            STATIC_BINARY => ResourceContents::blob(&uri, "image/png", PNG_BASE64),
            WATCHED => ResourceContents::text(&uri, "text/plain", "Watched resource content."),
            _ => match template_id(&uri) {
                Some(id) => {
                    let data = json!({ "id": id, "data": format!("Data for ID: {id}") });
                    ResourceContents::text(&uri, "application/json", &data.to_string())
                }
                None => {
                    // 2026-07-28 replaced -32002 with invalid params.
                    let code = if req.protocol_version().is_stateless() {
                        code::INVALID_PARAMS
                    } else {
                        RESOURCE_NOT_FOUND
                    };
                    return Err(ErrorObject::new(code, format!("Resource not found: {uri}"))
                        .with_data(json!({ "uri": uri })));
                }
            },
        };
        Ok(json!({ "contents": [contents] }))
    }

    /// The error code MCP uses for an unknown resource.
    const RESOURCE_NOT_FOUND: i64 = -32002;

    /// The `{id}` of a URI matching `test://template/{id}/data`.
    fn template_id(uri: &str) -> Option<&str> {
        let id = uri
            .strip_prefix("test://template/")?
            .strip_suffix("/data")?;
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }

    /// The resource URIs a session subscribed to.
    #[derive(Clone, Default)]
    struct Subscriptions(BTreeSet<String>);

    /// `resources/subscribe` (`on`) and `resources/unsubscribe`.
    pub(super) fn subscribe(req: &McpRequest, on: bool) -> Outcome {
        let UriParams { uri } = req.parse_params()?;
        let session = req
            .session()
            .ok_or_else(|| invalid_params("subscriptions need a session"))?;
        session.update(|Subscriptions(uris)| {
            if on {
                uris.insert(uri);
            } else {
                uris.remove(&uri);
            }
        });
        Ok(json!({}))
    }

    /// Every 3 seconds, tells each session subscribed to the watched resource that it changed.
    /// The notification is unrelated to any request: it goes to the session's GET stream, or
    /// waits in the session's queue until the client opens one.
    pub(super) async fn announce_updates(sessions: Sessions) {
        let mut tick = tokio::time::interval(Duration::from_secs(3));
        loop {
            tick.tick().await;
            for session in sessions.list() {
                let subscribed = session
                    .get::<Subscriptions>()
                    .is_some_and(|Subscriptions(uris)| uris.contains(WATCHED));
                if subscribed {
                    session.notify(
                        "notifications/resources/updated",
                        Some(json!({ "uri": WATCHED })),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prompts.

mod prompts {
    use super::*;

    /// `prompts/list`.
    pub(super) fn list() -> Value {
        json!([
            {
                "name": "test_simple_prompt",
                "description": "A prompt without arguments.",
            },
            {
                "name": "test_prompt_with_arguments",
                "description": "A prompt with two required arguments.",
                "arguments": [
                    { "name": "arg1", "description": "First argument", "required": true },
                    { "name": "arg2", "description": "Second argument", "required": true },
                ],
            },
            {
                "name": "test_prompt_with_embedded_resource",
                "description": "A prompt that embeds a resource.",
                "arguments": [
                    { "name": "resourceUri", "description": "URI to embed", "required": true },
                ],
            },
            {
                "name": "test_prompt_with_image",
                "description": "A prompt with an image.",
            },
            {
                "name": "test_input_required_result_prompt",
                "description": "Asks the user for context (elicitation) before it renders.",
            },
        ])
    }

    #[derive(Deserialize)]
    struct GetPromptParams {
        name: String,
        #[serde(default)]
        arguments: Option<Value>,
    }

    #[derive(Deserialize)]
    struct TwoArgs {
        arg1: String,
        arg2: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct EmbedArgs {
        resource_uri: String,
    }

    /// A `PromptMessage` from the user.
    #[derive(Serialize)]
    struct Message {
        role: &'static str,
        content: Content,
    }

    fn user(content: Content) -> Message {
        Message {
            role: "user",
            content,
        }
    }

    /// Reads prompt arguments into `T`; a missing required argument is an invalid-params error.
    fn arguments<T: DeserializeOwned>(arguments: Option<Value>) -> Result<T, ErrorObject> {
        serde_json::from_value(arguments.unwrap_or_else(|| json!({})))
            .map_err(|e| invalid_params(format!("invalid prompt arguments: {e}")))
    }

    /// `prompts/get`.
    pub(super) async fn get(req: &McpRequest) -> Outcome {
        let GetPromptParams {
            name,
            arguments: args,
        } = req.parse_params()?;
        let messages = match name.as_str() {
            "test_simple_prompt" => {
                vec![user(Content::text("This is a simple prompt for testing."))]
            }
            "test_prompt_with_arguments" => {
                let TwoArgs { arg1, arg2 } = arguments(args)?;
                vec![user(Content::text(format!(
                    "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
                )))]
            }
            "test_prompt_with_embedded_resource" => {
                let EmbedArgs { resource_uri } = arguments(args)?;
                vec![
                    user(Content::resource(
                        &resource_uri,
                        "text/plain",
                        "Embedded resource content for testing.",
                    )),
                    user(Content::text("Please process the embedded resource above.")),
                ]
            }
            "test_prompt_with_image" => vec![
                user(Content::png()),
                user(Content::text("Please analyze the image above.")),
            ],
            "test_input_required_result_prompt" => {
                let context = super::mrtr::prompt_context(req.context()).await?;
                vec![user(Content::text(format!(
                    "Write with this context in mind: {context}"
                )))]
            }
            _ => return Err(invalid_params(format!("unknown prompt: {name}"))),
        };
        Ok(json!({ "messages": messages }))
    }
}

// ---------------------------------------------------------------------------------------------
// Multi-round-trip requests (2026-07-28).

/// The `input-required-result-*` fixtures. Each asks with `ctx.request_as` exactly as a
/// session-era tool would; on a 2026-07-28 request the layer turns a question without an
/// answer into an `InputRequiredResult` and the retry's `inputResponses` into answers.
mod mrtr {
    use super::*;

    /// The fixture tools, listed for 2026-07-28 requests.
    pub(super) const TOOLS: [(&str, &str); 8] = [
        (
            "test_input_required_result_elicitation",
            "Asks the user's name (elicitation).",
        ),
        (
            "test_input_required_result_sampling",
            "Asks the model a question (sampling).",
        ),
        (
            "test_input_required_result_list_roots",
            "Asks for the client's roots.",
        ),
        (
            "test_input_required_result_request_state",
            "Asks for a confirmation; checks the state.",
        ),
        (
            "test_input_required_result_multiple_inputs",
            "Asks three questions at once.",
        ),
        (
            "test_input_required_result_multi_round",
            "Asks two questions, one round each.",
        ),
        (
            "test_input_required_result_tampered_state",
            "Asks for a confirmation; signed state.",
        ),
        (
            "test_input_required_result_capabilities",
            "Asks only what the client can answer.",
        ),
    ];

    fn text(
        result: Result<Value, ClientRequestError>,
        pointer: &str,
    ) -> Result<String, ErrorObject> {
        let answer = result.map_err(|e| {
            ErrorObject::new(
                code::INTERNAL_ERROR,
                format!("the client's answer is missing: {e}"),
            )
        })?;
        Ok(answer
            .pointer(pointer)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default())
    }

    fn form(message: &str, field: &str, kind: &str) -> Value {
        json!({
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { field: { "type": kind } },
                "required": [field],
            },
        })
    }

    fn question(text: &str, max_tokens: u32) -> Value {
        json!({
            "messages": [{ "role": "user", "content": { "type": "text", "text": text } }],
            "maxTokens": max_tokens,
        })
    }

    fn done(text: String) -> Outcome {
        Ok(json!({ "content": [to_value(Content::text(text))] }))
    }

    pub(super) async fn call(req: &McpRequest, name: &str) -> Outcome {
        let ctx = req.context();
        match name {
            "test_input_required_result_elicitation" => {
                let answer = ctx
                    .request_as(
                        "user_name",
                        "elicitation/create",
                        Some(form("What is your name?", "name", "string")),
                    )
                    .await;
                done(format!("Hello, {}!", text(answer, "/content/name")?))
            }
            "test_input_required_result_sampling" => {
                let answer = ctx
                    .request_as(
                        "capital_question",
                        "sampling/createMessage",
                        Some(question("What is the capital of France?", 100)),
                    )
                    .await;
                done(format!(
                    "The model said: {}",
                    text(answer, "/content/text")?
                ))
            }
            "test_input_required_result_list_roots" => {
                let answer = ctx
                    .request_as("client_roots", "roots/list", Some(json!({})))
                    .await;
                done(format!("Roots: {}", text(answer, "/roots")?))
            }
            "test_input_required_result_request_state"
            | "test_input_required_result_tampered_state" => {
                let answer = ctx
                    .request_as(
                        "confirm",
                        "elicitation/create",
                        Some(form("Please confirm", "ok", "boolean")),
                    )
                    .await;
                // The answer arrived with a requestState the layer verified.
                done(format!(
                    "state-ok: confirmed={}",
                    text(answer, "/content/ok")?
                ))
            }
            "test_input_required_result_multiple_inputs" => {
                let (name, greeting, roots) = futures_util::join!(
                    ctx.request_as(
                        "user_name",
                        "elicitation/create",
                        Some(form("What is your name?", "name", "string"))
                    ),
                    ctx.request_as(
                        "greeting",
                        "sampling/createMessage",
                        Some(question("Generate a greeting", 50))
                    ),
                    ctx.request_as("client_roots", "roots/list", Some(json!({}))),
                );
                done(format!(
                    "name={}, greeting={}, roots={}",
                    text(name, "/content/name")?,
                    text(greeting, "/content/text")?,
                    text(roots, "/roots")?
                ))
            }
            "test_input_required_result_multi_round" => {
                let name = ctx
                    .request_as(
                        "step1",
                        "elicitation/create",
                        Some(form("Step 1: What is your name?", "name", "string")),
                    )
                    .await;
                let name = text(name, "/content/name")?;
                let color = ctx
                    .request_as(
                        "step2",
                        "elicitation/create",
                        Some(form(
                            "Step 2: What is your favorite color?",
                            "color",
                            "string",
                        )),
                    )
                    .await;
                done(format!("{name} likes {}", text(color, "/content/color")?))
            }
            _ => {
                // test_input_required_result_capabilities: ask only what the client declared.
                let mut answers = Vec::new();
                if declares(req, "sampling") {
                    let a = ctx
                        .request("sampling/createMessage", Some(question("Say hi", 20)))
                        .await;
                    answers.push(text(a, "/content/text")?);
                }
                if declares(req, "elicitation") {
                    let a = ctx
                        .request(
                            "elicitation/create",
                            Some(form("Your name?", "name", "string")),
                        )
                        .await;
                    answers.push(text(a, "/content/name")?);
                }
                done(format!("answers: {}", answers.join(", ")))
            }
        }
    }

    /// `test_input_required_result_prompt`: the context the user wants, asked by elicitation.
    pub(super) async fn prompt_context(ctx: &RequestContext) -> Result<String, ErrorObject> {
        let answer = ctx
            .request_as(
                "user_context",
                "elicitation/create",
                Some(form(
                    "What context should the prompt use?",
                    "context",
                    "string",
                )),
            )
            .await;
        text(answer, "/content/context")
    }
}

// ---------------------------------------------------------------------------------------------
// The tasks extension (2026-07-28).

/// The `tasks-*` fixtures: a tool that never makes a task (`greet`), one that makes a task
/// when the request declared the extension and runs inline otherwise (`slow_compute`), and
/// tools that only run as tasks, answering −32021 to a request that did not declare it.
mod task_tools {
    use super::*;

    /// Every task of this server.
    pub(super) static TASKS: LazyLock<TaskStore> = LazyLock::new(TaskStore::new);

    /// The fixtures, listed for 2026-07-28 requests: name, description, input schema.
    pub(super) fn list() -> Vec<(&'static str, &'static str, Value)> {
        let no_args = json!({ "type": "object", "properties": {} });
        let string = |field: &str| {
            json!({
                "type": "object",
                "properties": { field: { "type": "string" } },
                "required": [field],
            })
        };
        vec![
            (
                "greet",
                "Greets by name, at once (never a task).",
                string("name"),
            ),
            (
                "slow_compute",
                "Sleeps `seconds`, then answers: a task when the client supports tasks.",
                json!({
                    "type": "object",
                    "properties": {
                        "seconds": { "type": "number", "minimum": 0 },
                        "label": { "type": "string" },
                    },
                }),
            ),
            (
                "failing_job",
                "Fails as a tool (isError) after a second; runs only as a task.",
                no_args.clone(),
            ),
            (
                "protocol_error_job",
                "Fails with a JSON-RPC error; runs only as a task.",
                no_args.clone(),
            ),
            (
                "confirm_delete",
                "Asks the user to confirm during the task, then deletes (pretends to).",
                string("filename"),
            ),
            (
                "multi_input",
                "Asks two questions at once during the task.",
                no_args.clone(),
            ),
            (
                "test_tool_with_task",
                "Asks the user's name (multi-round-trip), then greets from a task.",
                no_args,
            ),
        ]
    }

    /// Whether `name` is one of these fixtures.
    pub(super) fn serves(name: &str) -> bool {
        list().iter().any(|(tool, _, _)| *tool == name)
    }

    fn text(text: String) -> Value {
        json!({ "content": [to_value(Content::text(text))] })
    }

    /// The work of a task could not ask the client: the task fails with −32603.
    fn gone(e: tasks::TaskGone) -> ErrorObject {
        ErrorObject::new(code::INTERNAL_ERROR, e.to_string())
    }

    fn confirmation(message: &str) -> Value {
        json!({
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { "confirm": { "type": "boolean" } },
                "required": ["confirm"],
            },
        })
    }

    /// Whether an elicitation answer accepted with `confirm: true`.
    fn confirmed(answer: &Value) -> bool {
        answer["action"] == "accept" && answer["content"]["confirm"] == true
    }

    #[derive(Deserialize)]
    struct NameArgs {
        name: String,
    }

    #[derive(Deserialize)]
    struct FileArgs {
        filename: String,
    }

    #[derive(Deserialize)]
    struct SlowArgs {
        #[serde(default)]
        seconds: f64,
        #[serde(default)]
        label: String,
    }

    fn arguments<T: DeserializeOwned>(arguments: Option<Value>) -> Result<T, ErrorObject> {
        serde_json::from_value(arguments.unwrap_or_else(|| json!({})))
            .map_err(|e| invalid_params(format!("invalid arguments: {e}")))
    }

    /// A task for a tool that runs only as one: −32021 when the request did not declare the
    /// extension.
    fn required<F, Fut>(req: &McpRequest, work: F) -> Outcome
    where
        F: FnOnce(tasks::TaskContext) -> Fut,
        Fut: std::future::Future<Output = Outcome> + Send + 'static,
    {
        if !tasks::declared(req) {
            return Err(tasks::missing_capability());
        }
        TASKS.create(work)
    }

    pub(super) async fn call(req: &McpRequest, name: &str, args: Option<Value>) -> Outcome {
        match name {
            "greet" => {
                let NameArgs { name } = arguments(args)?;
                Ok(text(format!("Hello, {name}!")))
            }
            "slow_compute" => {
                let SlowArgs { seconds, label } = arguments(args)?;
                let seconds = if seconds.is_finite() {
                    seconds.clamp(0.0, 3600.0)
                } else {
                    0.0
                };
                let work = async move {
                    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                    Ok(text(format!("{label}: computed in {seconds} s")))
                };
                // Nothing to wait for, or a client that cannot follow a task: answer inline.
                if seconds == 0.0 || !tasks::declared(req) {
                    return work.await;
                }
                TASKS.create(|_| work)
            }
            "failing_job" => required(req, |_| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(json!({
                    "content": [to_value(Content::text("failing_job failed, as it always does"))],
                    "isError": true,
                }))
            }),
            "protocol_error_job" => required(req, |_| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    "protocol_error_job failed inside the server",
                ))
            }),
            "confirm_delete" => {
                let FileArgs { filename } = arguments(args)?;
                required(req, |ctx| async move {
                    ctx.set_status_message(format!(
                        "waiting for a confirmation to delete {filename}"
                    ));
                    let question = confirmation(&format!("Delete {filename}?"));
                    let answer = ctx
                        .request("elicitation/create", question)
                        .await
                        .map_err(gone)?;
                    ctx.set_status_message("answered");
                    Ok(text(if confirmed(&answer) {
                        format!("Deleted {filename}")
                    } else {
                        format!("Kept {filename}")
                    }))
                })
            }
            "multi_input" => required(req, |ctx| async move {
                let name_form = json!({
                    "message": "What is your name?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": { "name": { "type": "string" } },
                        "required": ["name"],
                    },
                });
                let (name, go) = futures_util::join!(
                    ctx.request("elicitation/create", name_form),
                    ctx.request("elicitation/create", confirmation("Go ahead?")),
                );
                let (name, go) = (name.map_err(gone)?, go.map_err(gone)?);
                Ok(text(format!(
                    "name: {}, go ahead: {}",
                    name["content"]["name"].as_str().unwrap_or("(none)"),
                    confirmed(&go)
                )))
            }),
            _ => {
                // test_tool_with_task: the question comes first, by multi-round-trip, on the
                // call itself; the round that has its answer creates the task.
                if !tasks::declared(req) {
                    return Err(tasks::missing_capability());
                }
                let form = json!({
                    "message": "What is your name?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": { "name": { "type": "string" } },
                        "required": ["name"],
                    },
                });
                let answer = req
                    .context()
                    .request_as("user_name", "elicitation/create", Some(form))
                    .await
                    .map_err(|e| ErrorObject::new(code::INTERNAL_ERROR, e.to_string()))?;
                let name = answer["content"]["name"]
                    .as_str()
                    .unwrap_or("stranger")
                    .to_owned();
                TASKS.create(|_| async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(text(format!("Hello, {name}! (answered by a task)")))
                })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Completion.

#[derive(Deserialize)]
struct CompleteParams {
    #[serde(rename = "ref")]
    reference: CompleteRef,
    argument: CompleteArgument,
}

#[derive(Deserialize)]
struct CompleteRef {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct CompleteArgument {
    name: String,
    value: String,
}

/// `completion/complete`: suggestions for `arg1` of `test_prompt_with_arguments`, none for
/// anything else.
fn complete(req: &McpRequest) -> Outcome {
    const ARG1_VALUES: [&str; 4] = ["paris", "park", "party", "test"];
    let CompleteParams {
        reference,
        argument,
    } = req.parse_params()?;
    let known = reference.kind == "ref/prompt"
        && reference.name.as_deref() == Some("test_prompt_with_arguments")
        && argument.name == "arg1";
    let values: Vec<&str> = if known {
        ARG1_VALUES
            .into_iter()
            .filter(|v| v.starts_with(&argument.value))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json!({
        "completion": { "values": values, "total": values.len(), "hasMore": false },
    }))
}
