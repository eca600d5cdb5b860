//! The OAuth 2.1 resource-server layer (feature `auth`) against a fake issuer: challenges,
//! RFC 9728 metadata, scopes, the principal in the extensions, and sessions bound to it.
#![cfg(feature = "auth")]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use mcp_tower::auth::{AuthError, OAuthLayer, Principal};
use mcp_tower::{code, McpBody, McpLayer, McpRequest, McpResponse, RejectionKind};
use serde_json::{json, Value};
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

use crate::support::*;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const ISSUER: &str = "https://issuer.example.com";

/// A fake authorization server: mints opaque tokens and introspects them.
#[derive(Default)]
struct Issuer {
    tokens: Mutex<HashMap<String, (Principal, Instant)>>,
    next: AtomicU64,
    down: AtomicBool,
    checks: AtomicU64,
}

impl Issuer {
    fn mint(&self, subject: &str, scopes: &[&str], ttl: Duration) -> String {
        let token = format!(
            "tok-{}.{subject}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let principal = Principal::new(subject).with_scopes(scopes.iter().copied());
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), (principal, Instant::now() + ttl));
        token
    }

    async fn introspect(&self, token: &str) -> Result<Principal, AuthError> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await; // a network round trip, in spirit
        if self.down.load(Ordering::Relaxed) {
            return Err(AuthError::unavailable("the issuer did not answer"));
        }
        let found = self.tokens.lock().unwrap().get(token).cloned();
        match found {
            None => Err(AuthError::invalid_token("unknown token")),
            Some((_, expiry)) if expiry <= Instant::now() => {
                Err(AuthError::invalid_token("the token expired"))
            }
            Some((p, _)) if p.subject() == "mallory" => Err(AuthError::insufficient_scope(
                ["mcp:admin"],
                "mallory needs an admin grant",
            )),
            Some((p, _)) => Ok(p),
        }
    }
}

type Svc = BoxCloneSyncService<Request<Body>, Response<McpBody>, Infallible>;

/// A handler that answers `initialize`, and `whoami` with the principal it sees.
async fn handler(req: McpRequest) -> Result<McpResponse, Infallible> {
    Ok(match req.method() {
        "initialize" => McpResponse::result(json!({
            "protocolVersion": req.protocol_version().as_str(),
            "capabilities": {},
            "serverInfo": { "name": "auth-test", "version": "1" },
        })),
        "whoami" => {
            let who = req.extensions().get::<Principal>().map(Principal::subject);
            McpResponse::result(json!({ "subject": who }))
        }
        other => McpResponse::method_not_found(other),
    })
}

fn stack(issuer: &Arc<Issuer>, required: &[&str]) -> Svc {
    let issuer = issuer.clone();
    let auth = OAuthLayer::new(RESOURCE, move |token: &str| {
        let (issuer, token) = (issuer.clone(), token.to_owned());
        async move { issuer.introspect(&token).await }
    })
    .unwrap()
    .authorization_servers([ISSUER])
    .scopes_supported(["mcp:tools", "mcp:admin"])
    .required_scopes(required.iter().copied());
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(auth)
            .layer(McpLayer::new().bind_sessions_to(Principal::subject_of))
            .service_fn(handler),
    )
}

fn with_token(token: &str, mut req: Request<Body>) -> Request<Body> {
    req.headers_mut()
        .insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    req
}

fn challenge(res: &Response<McpBody>) -> String {
    res.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn no_token_gets_a_challenge_naming_the_metadata() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &["mcp:tools"]);
    let res = call(&svc, post(&init_request(V_NEW))).await;
    assert_eq!(
        challenge(&res),
        format!(r#"Bearer resource_metadata="{METADATA_URL}", scope="mcp:tools""#)
    );
    rejection(
        res,
        StatusCode::UNAUTHORIZED,
        RejectionKind::Unauthorized,
        code::TRANSPORT_ERROR,
    )
    .await;
    // Another scheme is no bearer token either.
    let mut req = post(&init_request(V_NEW));
    req.headers_mut()
        .insert(AUTHORIZATION, "Basic dXNlcjpwYXNz".parse().unwrap());
    let res = call(&svc, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&res).contains("error="));
    assert_eq!(issuer.checks.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_bad_or_expired_token_is_an_invalid_token() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &[]);
    let expired = issuer.mint("alice", &[], Duration::ZERO);
    for token in ["forged", expired.as_str()] {
        let res = call(&svc, with_token(token, post(&init_request(V_NEW)))).await;
        let c = challenge(&res);
        assert!(
            c.starts_with(&format!(
                r#"Bearer resource_metadata="{METADATA_URL}", error="invalid_token", error_description=""#
            )),
            "{c}"
        );
        let (_, message) = rejection(
            res,
            StatusCode::UNAUTHORIZED,
            RejectionKind::Unauthorized,
            code::TRANSPORT_ERROR,
        )
        .await;
        assert!(message.contains("not valid"), "{message}");
    }
}

#[tokio::test]
async fn a_token_without_a_required_scope_gets_403_insufficient_scope() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &["mcp:tools"]);
    let token = issuer.mint("bob", &["mcp:read"], Duration::from_secs(60));
    let res = call(&svc, with_token(&token, post(&init_request(V_NEW)))).await;
    let c = challenge(&res);
    assert!(
        c.starts_with(&format!(
            r#"Bearer resource_metadata="{METADATA_URL}", error="insufficient_scope", scope="mcp:tools""#
        )),
        "{c}"
    );
    rejection(
        res,
        StatusCode::FORBIDDEN,
        RejectionKind::InsufficientScope,
        code::TRANSPORT_ERROR,
    )
    .await;

    // The check itself may ask for more: its scopes join the required ones.
    let token = issuer.mint("mallory", &["mcp:tools"], Duration::from_secs(60));
    let res = call(&svc, with_token(&token, post(&init_request(V_NEW)))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        challenge(&res).contains(r#"scope="mcp:tools mcp:admin""#),
        "{}",
        challenge(&res)
    );
}

#[tokio::test]
async fn a_malformed_authorization_header_is_an_invalid_request() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &[]);
    for value in ["Bearer", "Bearer two words", "Bearer \"quoted\""] {
        let mut req = post(&init_request(V_NEW));
        req.headers_mut()
            .insert(AUTHORIZATION, value.parse().unwrap());
        let res = call(&svc, req).await;
        assert!(challenge(&res).contains(r#"error="invalid_request""#));
        rejection(
            res,
            StatusCode::BAD_REQUEST,
            RejectionKind::InvalidAuthorization,
            code::TRANSPORT_ERROR,
        )
        .await;
    }
    let mut req = post(&init_request(V_NEW));
    req.headers_mut()
        .append(AUTHORIZATION, "Bearer a".parse().unwrap());
    req.headers_mut()
        .append(AUTHORIZATION, "Bearer b".parse().unwrap());
    assert_eq!(call(&svc, req).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(issuer.checks.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_503_without_challenge() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &[]);
    let token = issuer.mint("alice", &[], Duration::from_secs(60));
    issuer.down.store(true, Ordering::Relaxed);
    let res = call(&svc, with_token(&token, post(&init_request(V_NEW)))).await;
    assert!(!res.headers().contains_key(WWW_AUTHENTICATE));
    let (headers, _) = rejection(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        RejectionKind::AuthUnavailable,
        code::TRANSPORT_ERROR,
    )
    .await;
    assert!(headers.contains_key(RETRY_AFTER));
}

#[tokio::test]
async fn the_metadata_is_served_on_both_well_known_paths_without_a_token() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &["mcp:tools"]);
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let res = call(&svc, Request::get(path).body(raw("")).unwrap()).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        let doc: Value = serde_json::from_slice(&body_bytes(res).await).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["scopes_supported"], json!(["mcp:tools", "mcp:admin"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
    let res = call(
        &svc,
        Request::post("/.well-known/oauth-protected-resource/mcp")
            .body(raw(""))
            .unwrap(),
    )
    .await;
    rejection(
        res,
        StatusCode::METHOD_NOT_ALLOWED,
        RejectionKind::MethodNotAllowed,
        code::TRANSPORT_ERROR,
    )
    .await;
    assert_eq!(issuer.checks.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn the_handler_sees_the_principal() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &["mcp:tools"]);
    let alice = issuer.mint("alice", &["mcp:tools"], Duration::from_secs(60));
    let res = call(&svc, with_token(&alice, post(&init_request(V_NEW)))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let session = session_id(&res);
    let whoami = request(2, "whoami", json!({}));
    let res = call(&svc, with_token(&alice, post_in(&session, &whoami))).await;
    assert_eq!(json_reply(res).await["result"]["subject"], "alice");
}

#[tokio::test]
async fn a_session_refuses_another_principals_token() {
    let issuer = Arc::new(Issuer::default());
    let svc = stack(&issuer, &[]);
    let alice = issuer.mint("alice", &[], Duration::from_secs(60));
    let bob = issuer.mint("bob", &[], Duration::from_secs(60));
    let res = call(&svc, with_token(&alice, post(&init_request(V_NEW)))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let session = session_id(&res);

    // Bob's valid token on Alice's session: as if the session did not exist.
    let whoami = request(2, "whoami", json!({}));
    let res = call(&svc, with_token(&bob, post_in(&session, &whoami))).await;
    rejection(
        res,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
    // A new token of Alice's (a refresh) still reaches it.
    let alice2 = issuer.mint("alice", &[], Duration::from_secs(60));
    let res = call(&svc, with_token(&alice2, post_in(&session, &whoami))).await;
    assert_eq!(json_reply(res).await["result"]["subject"], "alice");
}

#[tokio::test]
async fn an_async_fn_is_a_token_check() {
    async fn check(token: &str) -> Result<Principal, AuthError> {
        // The future borrows the token: allowed for async functions.
        tokio::task::yield_now().await;
        if token == "good" {
            Ok(Principal::new("fn-user"))
        } else {
            Err(AuthError::invalid_token(format!(
                "{} bytes of nonsense",
                token.len()
            )))
        }
    }
    let svc: Svc = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(OAuthLayer::new("http://127.0.0.1:9/", check).unwrap())
            .layer(McpLayer::new())
            .service_fn(handler),
    );
    let res = call(&svc, with_token("good", post(&init_request(V_NEW)))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = call(&svc, with_token("bad", post(&init_request(V_NEW)))).await;
    assert_eq!(
        challenge(&res),
        r#"Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource", error="invalid_token", error_description="3 bytes of nonsense""#
    );
}

#[cfg(feature = "cors")]
#[tokio::test]
async fn behind_cors_a_preflight_needs_no_token_and_a_401_is_readable() {
    use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ORIGIN};
    const APP: &str = "http://localhost:5173";
    let issuer = Arc::new(Issuer::default());
    let inner = issuer.clone();
    let auth = OAuthLayer::new(RESOURCE, move |token: &str| {
        let (issuer, token) = (inner.clone(), token.to_owned());
        async move { issuer.introspect(&token).await }
    })
    .unwrap();
    let mcp = McpLayer::new();
    let svc: Svc = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(mcp.cors())
            .layer(auth)
            .layer(mcp)
            .service_fn(handler),
    );
    let pre = Request::options("/mcp")
        .header(ORIGIN, APP)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(raw(""))
        .unwrap();
    let res = call(&svc, pre).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);

    let mut req = post(&init_request(V_NEW));
    req.headers_mut().insert(ORIGIN, APP.parse().unwrap());
    let res = call(&svc, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    let exposed = res.headers()[ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    assert!(
        exposed.to_ascii_lowercase().contains("www-authenticate"),
        "{exposed}"
    );
}
