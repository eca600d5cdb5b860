//! OAuth 2.1 resource-server helpers (feature `auth`, on by default): what MCP authorization
//! asks of a server, around your own token check.
//!
//! MCP servers reachable from elsewhere act as OAuth 2.1 *resource servers*: a client sends
//! `Authorization: Bearer <token>` on every request; a request without a good token gets 401
//! with a `WWW-Authenticate` challenge naming the server's *Protected Resource Metadata*
//! (RFC 9728), which tells the client which authorization server to get a token from.
//! [`OAuthLayer`] does all of that; you bring the token check, any async function from the
//! token to a [`Principal`] (JWT validation, introspection, a database lookup):
//!
//! - no token: 401, `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` (the scope
//!   when [`required_scopes`](OAuthLayer::required_scopes) are set);
//! - a token the check refuses ([`AuthError::invalid_token`]): 401 with
//!   `error="invalid_token"`;
//! - a good token without a required scope, or one the check refuses with
//!   [`AuthError::insufficient_scope`]: 403 with `error="insufficient_scope"` and the scope;
//! - a malformed `Authorization` header: 400 with `error="invalid_request"`;
//! - a check that cannot decide ([`AuthError::unavailable`]): 503 with `Retry-After`.
//!
//! Every rejection also carries a JSON-RPC error body (`"id": null`) and a
//! [`Rejection`](crate::Rejection) in its extensions, like the transport's own. GET on
//! `/.well-known/oauth-protected-resource` and on its path-suffixed form (for a resource
//! `https://api.example.com/mcp`, `/.well-known/oauth-protected-resource/mcp`) answers the
//! metadata document, without a token. A token that passes puts its [`Principal`] in the
//! request extensions, where the handler ([`McpRequest::extensions`](crate::McpRequest::extensions))
//! and [`McpLayer::bind_sessions_to`](crate::McpLayer::bind_sessions_to) find it: bind sessions
//! to [`Principal::subject_of`] and a session opened with one user's token refuses (404) every
//! other user's.
//!
//! ```
//! use mcp_tower::auth::{AuthError, OAuthLayer, Principal};
//! use mcp_tower::{McpLayer, McpRequest, McpResponse};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! // Your token check: validate a JWT, ask the authorization server, look it up…
//! async fn check(token: &str) -> Result<Principal, AuthError> {
//!     match token {
//!         "alice-token" => Ok(Principal::new("alice").with_scopes(["mcp"])),
//!         _ => Err(AuthError::invalid_token("unknown token")),
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let auth = OAuthLayer::new("https://api.example.com/mcp", check)
//!     .unwrap()
//!     .authorization_servers(["https://auth.example.com"])
//!     .required_scopes(["mcp"]);
//! let svc = ServiceBuilder::new()
//!     .layer(auth)
//!     .layer(McpLayer::new().allow_any_host().bind_sessions_to(Principal::subject_of))
//!     .service_fn(|_req: McpRequest| async {
//!         Ok::<_, std::convert::Infallible>(McpResponse::empty())
//!     });
//!
//! let req = http::Request::post("/mcp").body(String::new()).unwrap();
//! let res = svc.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 401);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp""#
//! );
//!
//! let req = http::Request::get("/.well-known/oauth-protected-resource/mcp")
//!     .body(String::new())
//!     .unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```
//!
//! Stack order, outermost first: CORS ([`McpLayer::cors`](crate::McpLayer::cors), whose
//! preflights carry no token), then [`OAuthLayer`], then [`McpLayer`](crate::McpLayer). The
//! layer lets `OPTIONS` requests through unchecked for that reason. When a router sends only the
//! MCP path to this service, route the two metadata paths
//! ([`OAuthLayer::metadata_paths`]) to it as well, or serve [`OAuthLayer::metadata`] yourself.

mod challenge;
mod layer;
mod metadata;
mod principal;

pub use layer::{OAuthLayer, OAuthService};
pub use metadata::InvalidResource;
pub use principal::{AuthError, AuthErrorKind, CheckFn, CheckFuture, Principal, TokenCheck};
