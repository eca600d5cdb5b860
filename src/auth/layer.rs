//! `OAuthLayer` and the service it builds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::challenge::{credentials, scope_list, Challenge, Credentials};
use super::metadata::{InvalidResource, Resource};
use super::principal::{AuthError, AuthErrorKind, TokenCheck};
use crate::body::McpBody;
use crate::error::{Rejection, RejectionKind};

/// A [`Layer`] making its service an OAuth 2.1 resource server: bearer tokens checked by your
/// [`TokenCheck`], challenges, and the RFC 9728 metadata document. See the [module
/// docs](super) for what each request gets.
///
/// The metadata document holds `resource`, `authorization_servers`, `scopes_supported` (with
/// the required scopes), `bearer_methods_supported: ["header"]` and any
/// [`metadata_field`](Self::metadata_field).
#[must_use]
pub struct OAuthLayer<C> {
    check: Arc<C>,
    resource: Arc<Resource>,
}

impl<C: TokenCheck> OAuthLayer<C> {
    /// The layer for the protected resource `resource`, the absolute URL clients reach the MCP
    /// endpoint at (for example `"https://api.example.com/mcp"`), checking tokens with
    /// `check`. `Err` when `resource` is not an absolute `http` or `https` URL without a query
    /// or fragment.
    pub fn new(resource: &str, check: C) -> Result<Self, InvalidResource> {
        Ok(Self {
            check: Arc::new(check),
            resource: Arc::new(Resource::parse(resource)?),
        })
    }
}

impl<C> OAuthLayer<C> {
    fn resource(mut self, f: impl FnOnce(&mut Resource)) -> Self {
        f(Arc::make_mut(&mut self.resource));
        self
    }

    /// The authorization servers that issue tokens for this resource (`authorization_servers`
    /// in the metadata; default none).
    pub fn authorization_servers<I, T>(self, issuers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let list = issuers.into_iter().map(Into::into).collect();
        self.resource(|r| r.authorization_servers = list)
    }

    /// The scopes this resource knows (`scopes_supported` in the metadata; the required scopes
    /// are listed there too).
    pub fn scopes_supported<I, T>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let list = scopes.into_iter().map(Into::into).collect();
        self.resource(|r| r.scopes_supported = list)
    }

    /// Scopes every request's token must grant ([`Principal::scopes`](super::principal::Principal::scopes)); a token without one of
    /// them gets 403 `insufficient_scope`. They are also named in the `scope` of every 401
    /// challenge, so clients ask for them (default none).
    pub fn required_scopes<I, T>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let list = scopes.into_iter().map(Into::into).collect();
        self.resource(|r| r.required_scopes = list)
    }

    /// Another member of the metadata document (for example `resource_name`,
    /// `resource_documentation`, `jwks_uri`). `resource`, `scopes_supported`,
    /// `authorization_servers` and `bearer_methods_supported` are the layer's own.
    ///
    /// ```
    /// use mcp_tower::auth::{AuthError, OAuthLayer, Principal};
    ///
    /// async fn check(_: &str) -> Result<Principal, AuthError> {
    ///     Err(AuthError::invalid_token("no"))
    /// }
    /// let layer = OAuthLayer::new("https://api.example.com/mcp", check)
    ///     .unwrap()
    ///     .metadata_field("resource_name", "Example MCP server");
    /// assert_eq!(layer.metadata()["resource_name"], "Example MCP server");
    /// assert_eq!(layer.metadata()["bearer_methods_supported"][0], "header");
    /// ```
    pub fn metadata_field(
        self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        let (name, value) = (name.into(), value.into());
        self.resource(|r| {
            r.extra.insert(name, value);
        })
    }

    /// The RFC 9728 metadata document this layer serves.
    #[must_use]
    pub fn metadata(&self) -> serde_json::Value {
        self.resource.document()
    }

    /// The paths the metadata document is served on: the path-suffixed one first
    /// (`/.well-known/oauth-protected-resource/mcp` for `https://api.example.com/mcp`), then
    /// `/.well-known/oauth-protected-resource`; just the latter for a resource without path.
    #[must_use]
    pub fn metadata_paths(&self) -> Vec<&str> {
        self.resource.paths()
    }

    /// The absolute URL of the metadata document, named in every challenge
    /// (`resource_metadata`).
    #[must_use]
    pub fn metadata_url(&self) -> &str {
        &self.resource.metadata_url
    }
}

impl<C> Clone for OAuthLayer<C> {
    fn clone(&self) -> Self {
        Self {
            check: self.check.clone(),
            resource: self.resource.clone(),
        }
    }
}

impl<C> fmt::Debug for OAuthLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthLayer")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl<S, C> Layer<S> for OAuthLayer<C> {
    type Service = OAuthService<S, C>;

    fn layer(&self, inner: S) -> OAuthService<S, C> {
        OAuthService {
            inner,
            check: self.check.clone(),
            document: self.resource.document_bytes(),
            resource: self.resource.clone(),
        }
    }
}

/// The service [`OAuthLayer`] builds around an MCP service (one answering with [`McpBody`],
/// such as [`McpService`](crate::McpService)).
pub struct OAuthService<S, C> {
    inner: S,
    check: Arc<C>,
    resource: Arc<Resource>,
    document: Bytes,
}

impl<S: Clone, C> Clone for OAuthService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            check: self.check.clone(),
            resource: self.resource.clone(),
            document: self.document.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for OAuthService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthService")
            .field("inner", &self.inner)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, C, B> Service<Request<B>> for OAuthService<S, C>
where
    S: Service<Request<B>, Response = Response<McpBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    C: TokenCheck,
    B: Send + 'static,
{
    type Response = Response<McpBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<McpBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(res) = self.metadata_response(&req) {
            return Box::pin(std::future::ready(Ok(res)));
        }
        // Browsers send CORS preflights without credentials; the transport answers any other
        // OPTIONS with 405.
        if req.method() == Method::OPTIONS {
            return Box::pin(self.inner.call(req));
        }
        let token = match credentials(req.headers()) {
            Credentials::Bearer(token) => token.to_owned(),
            Credentials::Missing => {
                let res = self.challenge(None, None, &[]).respond(
                    RejectionKind::Unauthorized,
                    "this MCP server requires a bearer token: see the WWW-Authenticate header \
                     for where to get one"
                        .to_owned(),
                );
                return Box::pin(std::future::ready(Ok(res)));
            }
            Credentials::Malformed(why) => {
                let res = self
                    .challenge(Some("invalid_request"), Some(why), &[])
                    .respond(RejectionKind::InvalidAuthorization, why.to_owned());
                return Box::pin(std::future::ready(Ok(res)));
            }
        };
        // Call the clone that was driven ready; keep a fresh one for the next call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let this = self.detached();
        Box::pin(async move {
            let principal = match this.check.check(&token).await {
                Ok(principal) => principal,
                Err(e) => return Ok(this.refused(&e)),
            };
            let missing: Vec<String> = this
                .resource
                .required_scopes
                .iter()
                .filter(|s| !principal.has_scope(s))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let e = AuthError::insufficient_scope(
                    missing.iter().cloned(),
                    format!(
                        "this MCP server requires the scope(s) {}",
                        missing.join(" ")
                    ),
                );
                return Ok(this.refused(&e));
            }
            req.extensions_mut().insert(principal);
            inner.call(req).await
        })
    }
}

/// What the response future needs of the service (not the inner service).
struct Detached<C> {
    check: Arc<C>,
    resource: Arc<Resource>,
}

impl<S, C> OAuthService<S, C> {
    fn detached(&self) -> Detached<C> {
        Detached {
            check: self.check.clone(),
            resource: self.resource.clone(),
        }
    }

    fn challenge<'a>(
        &'a self,
        error: Option<&'static str>,
        description: Option<&'a str>,
        extra_scopes: &[String],
    ) -> Challenge<'a> {
        challenge(&self.resource, error, description, extra_scopes)
    }

    /// The metadata document, for a request to one of its paths.
    fn metadata_response<B>(&self, req: &Request<B>) -> Option<Response<McpBody>> {
        let path = req.uri().path();
        if !self.resource.paths().contains(&path) {
            return None;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Some(
                Rejection::method_not_allowed(
                    "GET, HEAD",
                    "the protected resource metadata is read with GET",
                )
                .into_response(),
            );
        }
        let mut res = Response::new(McpBody::json(self.document.clone()));
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Some(res)
    }
}

impl<C> Detached<C> {
    /// The answer to a token the check (or the scope check) refused.
    fn refused(&self, e: &AuthError) -> Response<McpBody> {
        match e.kind() {
            AuthErrorKind::InvalidToken => challenge(
                &self.resource,
                Some("invalid_token"),
                Some(e.description()),
                &[],
            )
            .respond(
                RejectionKind::Unauthorized,
                format!("the bearer token is not valid: {}", e.description()),
            ),
            AuthErrorKind::InsufficientScope => challenge(
                &self.resource,
                Some("insufficient_scope"),
                Some(e.description()),
                e.scopes(),
            )
            .respond(
                RejectionKind::InsufficientScope,
                format!("the bearer token lacks a scope: {}", e.description()),
            ),
            AuthErrorKind::Unavailable => Rejection::new(
                RejectionKind::AuthUnavailable,
                format!("the bearer token could not be checked: {}", e.description()),
            )
            .into_response(),
        }
    }
}

/// A challenge naming the metadata and the required scopes plus `extra_scopes`.
fn challenge<'a>(
    resource: &'a Resource,
    error: Option<&'static str>,
    description: Option<&'a str>,
    extra_scopes: &[String],
) -> Challenge<'a> {
    let mut scopes = resource.required_scopes.clone();
    for s in extra_scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    Challenge {
        metadata_url: &resource.metadata_url,
        error,
        description,
        scope: scope_list(&scopes),
    }
}
