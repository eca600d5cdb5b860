//! What a token check returns: the [`Principal`], or an [`AuthError`]; and the [`TokenCheck`]
//! trait every suitable async function implements.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Who a bearer token belongs to, as the token check found: put in the request extensions by
/// [`OAuthLayer`](super::OAuthLayer) for the handler and for
/// [`McpLayer::bind_sessions_to`](crate::McpLayer::bind_sessions_to).
///
/// ```
/// use mcp_tower::auth::Principal;
/// use serde_json::json;
///
/// let who = Principal::new("user-42")
///     .with_scopes(["mcp:tools", "mcp:resources"])
///     .with_claims(json!({ "tenant": "acme" }));
/// assert!(who.has_scope("mcp:tools"));
/// assert_eq!(who.claims()["tenant"], "acme");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    subject: String,
    scopes: Vec<String>,
    claims: Option<Arc<serde_json::Value>>,
}

impl Principal {
    /// The principal with this subject (a user or client id), no scopes and no claims.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            scopes: Vec::new(),
            claims: None,
        }
    }

    /// The scopes the token grants.
    #[must_use]
    pub fn with_scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Anything else the check learned (the token's claims, a tenant), for the handler.
    #[must_use]
    pub fn with_claims(mut self, claims: serde_json::Value) -> Self {
        self.claims = Some(Arc::new(claims));
        self
    }

    /// The subject.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The scopes the token grants.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The claims given to [`with_claims`](Self::with_claims), or `null`.
    #[must_use]
    pub fn claims(&self) -> &serde_json::Value {
        static NULL: serde_json::Value = serde_json::Value::Null;
        self.claims.as_deref().unwrap_or(&NULL)
    }

    /// The subject of the [`Principal`] in a request's extensions: the function to give
    /// [`McpLayer::bind_sessions_to`](crate::McpLayer::bind_sessions_to), so that a session
    /// belongs to the user whose token opened it.
    ///
    /// ```
    /// use mcp_tower::{auth::Principal, McpLayer};
    ///
    /// let layer = McpLayer::new().bind_sessions_to(Principal::subject_of);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn subject_of(head: &http::request::Parts) -> Option<String> {
        head.extensions.get::<Self>().map(|p| p.subject.clone())
    }
}

/// Why the token check refused a token; see the constructors for the answer each gets.
///
/// ```
/// use mcp_tower::auth::{AuthError, AuthErrorKind};
///
/// let e = AuthError::insufficient_scope(["mcp:admin"], "admin tools need mcp:admin");
/// assert_eq!(e.kind(), AuthErrorKind::InsufficientScope);
/// assert_eq!(e.scopes(), ["mcp:admin"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: AuthErrorKind,
    description: Cow<'static, str>,
    scopes: Vec<String>,
}

/// The kinds of [`AuthError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// Expired, revoked, malformed, for another resource, or unknown: 401,
    /// `error="invalid_token"`.
    InvalidToken,
    /// Valid, but without a scope the request needs: 403, `error="insufficient_scope"`.
    InsufficientScope,
    /// The check could not decide (the authorization server is down): 503.
    Unavailable,
}

impl AuthError {
    /// The token is not valid here (expired, revoked, issued for another resource, unknown):
    /// 401 with `error="invalid_token"` and `description` as `error_description`. The client
    /// should get a new token.
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: AuthErrorKind::InvalidToken,
            description: description.into(),
            scopes: Vec::new(),
        }
    }

    /// The token is valid but lacks `scopes`: 403 with `error="insufficient_scope"` and
    /// `scope` naming them (and the layer's required scopes), so the client can ask for more.
    pub fn insufficient_scope<I, T>(scopes: I, description: impl Into<Cow<'static, str>>) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self {
            kind: AuthErrorKind::InsufficientScope,
            description: description.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The check could not decide (the introspection endpoint did not answer): 503 with
    /// `Retry-After`, and no challenge, so the client does not throw a good token away.
    pub fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: AuthErrorKind::Unavailable,
            description: description.into(),
            scopes: Vec::new(),
        }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The description (sent as `error_description`, and in the JSON-RPC error message).
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The scopes an [`insufficient_scope`](Self::insufficient_scope) error names.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            AuthErrorKind::InvalidToken => "invalid token",
            AuthErrorKind::InsufficientScope => "insufficient scope",
            AuthErrorKind::Unavailable => "token check unavailable",
        };
        write!(f, "{kind}: {}", self.description)
    }
}

impl std::error::Error for AuthError {}

/// The future a [`TokenCheck`] returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send + 'a>>;

/// A bearer-token check: what [`OAuthLayer`](super::OAuthLayer) calls with each request's token.
///
/// Implemented for every `async fn(&str) -> Result<Principal, AuthError>` (and every
/// `Fn(&str) -> F` whose future `F` is `Send`), so a plain async function is a check:
///
/// ```
/// use mcp_tower::auth::{AuthError, OAuthLayer, Principal};
///
/// async fn check(token: &str) -> Result<Principal, AuthError> {
///     if token == "let-me-in" {
///         Ok(Principal::new("me"))
///     } else {
///         Err(AuthError::invalid_token("no"))
///     }
/// }
/// let layer = OAuthLayer::new("https://mcp.example.com/", check).unwrap();
///
/// // A closure that owns what it needs; its future must not borrow the token.
/// let issuer = std::sync::Arc::new(String::from("https://auth.example.com"));
/// let layer = OAuthLayer::new("https://mcp.example.com/", move |token: &str| {
///     let (issuer, token) = (issuer.clone(), token.to_owned());
///     async move {
///         let _ = (issuer, token); // introspect `token` at `issuer`…
///         Err::<Principal, _>(AuthError::unavailable("not written yet"))
///     }
/// })
/// .unwrap();
/// # let _ = layer;
/// ```
pub trait TokenCheck: Send + Sync + 'static {
    /// Checks `token` (the bearer token, without the `Bearer ` prefix).
    fn check<'a>(&'a self, token: &'a str) -> CheckFuture<'a>;
}

/// A function usable as a [`TokenCheck`], for every lifetime of its argument: implemented for
/// every `Fn(&'a str) -> F` with `F: Future + Send + 'a`. Not to be implemented by hand.
pub trait CheckFn<'a>: Send + Sync + 'static {
    /// The future the function returns.
    type Future: Future<Output = Result<Principal, AuthError>> + Send + 'a;
    /// Calls the function.
    fn call(&self, token: &'a str) -> Self::Future;
}

impl<'a, F, Fut> CheckFn<'a> for F
where
    F: Fn(&'a str) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, AuthError>> + Send + 'a,
{
    type Future = Fut;

    fn call(&self, token: &'a str) -> Fut {
        self(token)
    }
}

impl<F> TokenCheck for F
where
    F: for<'a> CheckFn<'a>,
{
    fn check<'a>(&'a self, token: &'a str) -> CheckFuture<'a> {
        Box::pin(CheckFn::call(self, token))
    }
}
