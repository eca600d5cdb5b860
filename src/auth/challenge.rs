//! Reading the bearer token (RFC 6750 §2.1) and writing `WWW-Authenticate` challenges (§3).

use http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, Response};

use crate::body::McpBody;
use crate::error::{Rejection, RejectionKind};

/// What a request's `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No header, or another scheme than `Bearer`: the request has no token for us.
    Missing,
    /// A syntactically valid bearer token.
    Bearer(&'a str),
    /// A repeated header, or a `Bearer` header without a valid token.
    Malformed(&'static str),
}

pub(crate) fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credentials::Missing;
    };
    if values.next().is_some() {
        return Credentials::Malformed("send one Authorization header");
    }
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed("the Authorization header is not ASCII");
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::Missing;
    }
    let token = rest.trim_matches(' ');
    if is_token68(token) {
        Credentials::Bearer(token)
    } else {
        Credentials::Malformed("the bearer token is empty or not a token68 (RFC 6750 §2.1)")
    }
}

/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// `text` as the inside of a quoted-string that RFC 6750 allows for `error_description`
/// (%x20-21 / %x23-5B / %x5D-7E): quotes and backslashes become `'`, other bytes are dropped.
fn quotable(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '"' | '\\' => Some('\''),
            ' '..='~' => Some(c),
            _ => None,
        })
        .collect()
}

/// Scope tokens (%x21 / %x23-5B / %x5D-7E), space-separated; other bytes are dropped.
pub(crate) fn scope_list(scopes: &[String]) -> String {
    let tokens: Vec<String> = scopes
        .iter()
        .map(|s| {
            s.chars()
                .filter(|c| matches!(c, '!'..='~') && *c != '"' && *c != '\\')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    tokens.join(" ")
}

/// A `WWW-Authenticate: Bearer …` challenge.
pub(crate) struct Challenge<'a> {
    pub(crate) metadata_url: &'a str,
    pub(crate) error: Option<&'static str>,
    pub(crate) description: Option<&'a str>,
    pub(crate) scope: String,
}

impl Challenge<'_> {
    fn header(&self) -> HeaderValue {
        let mut value = format!(
            "Bearer resource_metadata=\"{}\"",
            quotable(self.metadata_url)
        );
        if let Some(error) = self.error {
            value.push_str(&format!(", error=\"{error}\""));
        }
        if !self.scope.is_empty() {
            value.push_str(&format!(", scope=\"{}\"", self.scope));
        }
        if let Some(description) = self.description.filter(|d| !d.is_empty()) {
            value.push_str(&format!(
                ", error_description=\"{}\"",
                quotable(description)
            ));
        }
        // Every part is visible ASCII or space, so this cannot fail; fall back to the bare
        // scheme rather than panic.
        HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("Bearer"))
    }

    /// The rejection response with this challenge.
    pub(crate) fn respond(&self, kind: RejectionKind, message: String) -> Response<McpBody> {
        let mut res = Rejection::new(kind, message).into_response();
        res.headers_mut().insert(WWW_AUTHENTICATE, self.header());
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(credentials(&with(&[])), Credentials::Missing);
        assert_eq!(credentials(&with(&["Basic YTpi"])), Credentials::Missing);
        assert_eq!(
            credentials(&with(&["Bearer abc.DEF-_~+/=="])),
            Credentials::Bearer("abc.DEF-_~+/==")
        );
        assert_eq!(
            credentials(&with(&["bearer tok"])),
            Credentials::Bearer("tok")
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer ==",
            "Bearer a\"b",
        ] {
            assert!(
                matches!(credentials(&with(&[bad])), Credentials::Malformed(_)),
                "{bad}"
            );
        }
        assert!(matches!(
            credentials(&with(&["Bearer a", "Bearer b"])),
            Credentials::Malformed(_)
        ));
    }

    #[test]
    fn challenges_are_valid_headers() {
        let c = Challenge {
            metadata_url: "https://x.example/.well-known/oauth-protected-resource",
            error: Some("invalid_token"),
            description: Some("bad \"token\" \\ é\n"),
            scope: scope_list(&["a".into(), "b\"c".into(), "".into()]),
        };
        assert_eq!(
            c.header(),
            "Bearer resource_metadata=\"https://x.example/.well-known/oauth-protected-resource\", \
             error=\"invalid_token\", scope=\"a bc\", error_description=\"bad 'token' ' \""
        );
    }
}
