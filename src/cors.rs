//! CORS for browser MCP clients (feature `cors`): a ready tower-http `CorsLayer`; see
//! [`McpCors`].

use std::time::Duration;

use http::header::{
    HeaderName, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::Method;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;

use crate::protocol::{LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use crate::service::{origin_allowed, Allow};
use crate::McpLayer;

/// The request headers a browser MCP client sends, allowed on every preflight (the
/// `Mcp-Param-*` headers of [`McpCors::param_headers`] come on top).
pub const CORS_ALLOWED_HEADERS: [HeaderName; 8] = [
    MCP_SESSION_ID,
    MCP_PROTOCOL_VERSION,
    LAST_EVENT_ID,
    MCP_METHOD,
    MCP_NAME,
    AUTHORIZATION,
    CONTENT_TYPE,
    ACCEPT,
];

/// The response headers a browser MCP client reads, exposed on every response: the session id,
/// the protocol version, the OAuth challenge and the back-off hint of 429 and 503.
pub const CORS_EXPOSED_HEADERS: [HeaderName; 4] = [
    MCP_SESSION_ID,
    MCP_PROTOCOL_VERSION,
    WWW_AUTHENTICATE,
    RETRY_AFTER,
];

/// The CORS configuration for an MCP endpoint, so that web pages on other origins can speak
/// MCP to it (feature `cors`); a [`Layer`] itself, or turned into tower-http's [`CorsLayer`]
/// with [`into_layer`](Self::into_layer).
///
/// Made from a layer's own origins by [`McpLayer::cors`], or from a list by [`McpCors::new`]
/// and [`cors`](crate::cors()).
///
/// # One list of origins
///
/// Two things look at a browser request's `Origin`, and they must agree:
///
/// - the **CORS layer** decides whether the browser may *read* the response (and whether a
///   preflight succeeds);
/// - [`McpLayer`]'s **Origin check** (the DNS-rebinding defence the specification requires)
///   decides whether the request is *served* at all: an origin it does not allow gets 403.
///
/// An origin allowed by CORS but not by the layer gets 403 on every request; one allowed by the
/// layer but not by CORS is served, but the page can read nothing. So configure the origins
/// once, on the layer, and derive the CORS layer from it with [`McpLayer::cors`]: both then use
/// the same list *and* the same comparison (ASCII case-insensitive, a trailing `/` ignored; the
/// loopback default of the layer, `http`/`https` on `localhost`, `127.0.0.1` or `[::1]` on any
/// port, is matched the same way):
///
/// ```
/// use mcp_tower::{McpLayer, McpRequest, McpResponse};
/// use tower::ServiceBuilder;
///
/// let mcp = McpLayer::new().allowed_origins(["https://app.example.com"]);
/// let svc = ServiceBuilder::new()
///     .layer(mcp.cors()) // outermost: answers preflights, decorates every response
///     .layer(mcp)
///     .service_fn(|_req: McpRequest| async {
///         Ok::<_, std::convert::Infallible>(McpResponse::empty())
///     });
/// # let _ = svc;
/// ```
///
/// [`cors`](crate::cors()) takes the list itself, for code that builds the two layers apart; pass it the same
/// list as [`McpLayer::allowed_origins`].
///
/// # What it allows
///
/// - methods `GET`, `POST` and `DELETE`; preflights (`OPTIONS`) are answered by the CORS layer
///   itself and never reach the transport;
/// - request headers [`CORS_ALLOWED_HEADERS`] (`Mcp-Session-Id`, `MCP-Protocol-Version`,
///   `Last-Event-ID`, `Mcp-Method`, `Mcp-Name`, `Authorization`, `Content-Type`, `Accept`), plus
///   `Mcp-Param-{Name}` for each name given to [`McpCors::param_headers`];
/// - response headers a client must read, [`CORS_EXPOSED_HEADERS`]: `Mcp-Session-Id`,
///   `MCP-Protocol-Version`, `WWW-Authenticate` (the OAuth challenge) and `Retry-After`.
///
/// The CORS headers go on every response the inner service gives, rejections (4xx, 5xx)
/// included, so a page can read why it was refused. Credentials (cookies) are not allowed: MCP
/// clients authenticate with an `Authorization` header, which needs none.
///
/// Put the CORS layer *outside* an authentication layer: browsers send preflights without
/// credentials.
///
/// # Tools with `Mcp-Param-*` headers
///
/// ```
/// use mcp_tower::McpLayer;
/// use std::time::Duration;
///
/// let mcp = McpLayer::new().allowed_origins(["https://app.example.com"]);
/// // A tool whose `inputSchema` marks `region` with `"x-mcp-header": "Region"`.
/// let cors = mcp.cors().param_headers(["Region"]).max_age(Duration::from_secs(600));
/// # let _ = cors;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct McpCors {
    origins: Allow,
    param_headers: Vec<HeaderName>,
    max_age: Option<Duration>,
}

impl McpCors {
    /// Allows exactly these origins (for example `"https://app.example.com"`), compared as
    /// [`McpLayer::allowed_origins`] compares them.
    pub fn new<I, T>(origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::from_allow(Allow::List(crate::layer::normalize_origins(origins)))
    }

    pub(crate) fn from_allow(origins: Allow) -> Self {
        Self {
            origins,
            param_headers: Vec::new(),
            max_age: None,
        }
    }

    /// Also allows `Mcp-Param-{name}` for each of `names`: the headers a 2026-07-28
    /// `tools/call` mirrors its arguments in (the names a tool's `inputSchema` gives in
    /// `x-mcp-header`). CORS has no wildcard for a header prefix, so each must be named. A
    /// name that cannot be part of a header name is skipped.
    pub fn param_headers<I, T>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        for name in names {
            let full = format!("mcp-param-{}", name.as_ref()).to_ascii_lowercase();
            if let Ok(header) = HeaderName::try_from(full) {
                if !self.param_headers.contains(&header) {
                    self.param_headers.push(header);
                }
            }
        }
        self
    }

    /// How long a browser may cache a preflight answer (`Access-Control-Max-Age`; default:
    /// not sent, which browsers take as 5 seconds).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// tower-http's [`CorsLayer`], configured. Further tower-http settings can be chained on
    /// it; `allow_headers` and `allow_origin` would replace this configuration's.
    pub fn into_layer(self) -> CorsLayer {
        let origin = match self.origins {
            Allow::Any => AllowOrigin::any(),
            allow => AllowOrigin::predicate(move |origin, _| {
                origin
                    .to_str()
                    .is_ok_and(|origin| origin_allowed(&allow, origin))
            }),
        };
        let mut headers = CORS_ALLOWED_HEADERS.to_vec();
        headers.extend(self.param_headers);
        let layer = CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers(headers)
            .expose_headers(CORS_EXPOSED_HEADERS);
        match self.max_age {
            Some(max_age) => layer.max_age(max_age),
            None => layer,
        }
    }
}

impl From<McpCors> for CorsLayer {
    fn from(cors: McpCors) -> Self {
        cors.into_layer()
    }
}

impl<S> Layer<S> for McpCors {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        self.clone().into_layer().layer(inner)
    }
}

/// tower-http's [`CorsLayer`] for an MCP endpoint that browser pages on `origins` may call (for
/// example `["https://app.example.com"]`): the same list must go to
/// [`McpLayer::allowed_origins`], or use [`McpLayer::cors`], which reads it from the layer. See
/// the docs of [`McpCors`] for what it allows.
///
/// ```
/// use mcp_tower::{McpLayer, McpRequest, McpResponse};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// const ORIGINS: [&str; 1] = ["https://app.example.com"];
/// let svc = ServiceBuilder::new()
///     .layer(mcp_tower::cors(ORIGINS))
///     .layer(McpLayer::new().allowed_origins(ORIGINS))
///     .service_fn(|_req: McpRequest| async {
///         Ok::<_, std::convert::Infallible>(McpResponse::empty())
///     });
///
/// let preflight = http::Request::options("/mcp")
///     .header("origin", "https://app.example.com")
///     .header("access-control-request-method", "POST")
///     .header("access-control-request-headers", "content-type, mcp-session-id")
///     .body(String::new())
///     .unwrap();
/// let res = svc.oneshot(preflight).await.unwrap();
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.com");
/// # }
/// ```
pub fn cors<I, T>(origins: I) -> CorsLayer
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    McpCors::new(origins).into_layer()
}

impl McpLayer {
    /// The CORS configuration for this layer's endpoint, allowing exactly the origins this
    /// layer's Origin check allows ([`allowed_origins`](Self::allowed_origins), the loopback
    /// default, or [`allow_any_origin`](Self::allow_any_origin)), so the two cannot drift.
    /// Stack it outside the layer. Feature `cors`; see [`McpCors`].
    ///
    /// ```
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mcp = McpLayer::new().allowed_origins(["https://app.example.com"]);
    /// let svc = ServiceBuilder::new()
    ///     .layer(mcp.cors())
    ///     .layer(mcp)
    ///     .service_fn(|_req: McpRequest| async {
    ///         Ok::<_, std::convert::Infallible>(McpResponse::empty())
    ///     });
    ///
    /// // A page on another origin: refused by the Origin check, and the browser may not even
    /// // read that (no `Access-Control-Allow-Origin`).
    /// let req = http::Request::post("/mcp")
    ///     .header("origin", "https://evil.example")
    ///     .header("accept", "application/json, text/event-stream")
    ///     .header("content-type", "application/json")
    ///     .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_string())
    ///     .unwrap();
    /// let res = svc.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), 403);
    /// assert!(!res.headers().contains_key("access-control-allow-origin"));
    /// # }
    /// ```
    pub fn cors(&self) -> McpCors {
        McpCors::from_allow(self.origins().clone())
    }
}
