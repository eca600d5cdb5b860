//! The protected resource, its RFC 9728 metadata document and where that is served.

use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value};

/// The well-known path of RFC 9728 Protected Resource Metadata.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The resource URL given to [`OAuthLayer::new`](super::OAuthLayer::new) is not an absolute
/// `http` or `https` URL without a query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidResource(String);

impl fmt::Display for InvalidResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the protected resource must be an absolute http(s) URL without query or fragment, \
             such as \"https://api.example.com/mcp\"; got {:?}",
            self.0
        )
    }
}

impl std::error::Error for InvalidResource {}

/// The protected resource and what its metadata says.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    /// The resource identifier, as given.
    pub(crate) resource: String,
    /// `/.well-known/oauth-protected-resource` + the resource's path (no trailing `/`).
    pub(crate) metadata_path: String,
    /// The absolute URL of `metadata_path`, named in challenges.
    pub(crate) metadata_url: String,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) extra: Map<String, Value>,
}

impl Resource {
    pub(crate) fn parse(resource: &str) -> Result<Self, InvalidResource> {
        let invalid = || InvalidResource(resource.to_owned());
        if resource.contains(['#', '?']) {
            return Err(invalid());
        }
        let uri: http::Uri = resource.parse().map_err(|_| invalid())?;
        let scheme = uri.scheme_str().ok_or_else(invalid)?;
        if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
            return Err(invalid());
        }
        let authority = uri.authority().ok_or_else(invalid)?;
        let path = uri.path().trim_end_matches('/');
        let metadata_path = format!("{WELL_KNOWN}{path}");
        Ok(Self {
            resource: resource.to_owned(),
            metadata_url: format!("{scheme}://{authority}{metadata_path}"),
            metadata_path,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            required_scopes: Vec::new(),
            extra: Map::new(),
        })
    }

    /// The paths the document is served on: the root well-known path, and the path-suffixed
    /// one when the resource has a path.
    pub(crate) fn paths(&self) -> Vec<&str> {
        if self.metadata_path == WELL_KNOWN {
            vec![WELL_KNOWN]
        } else {
            vec![self.metadata_path.as_str(), WELL_KNOWN]
        }
    }

    /// The RFC 9728 document.
    pub(crate) fn document(&self) -> Value {
        let mut doc = self.extra.clone();
        doc.insert("resource".into(), self.resource.clone().into());
        if !self.authorization_servers.is_empty() {
            doc.insert(
                "authorization_servers".into(),
                self.authorization_servers.clone().into(),
            );
        }
        let mut scopes = self.scopes_supported.clone();
        for s in &self.required_scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        if !scopes.is_empty() {
            doc.insert("scopes_supported".into(), scopes.into());
        }
        doc.insert("bearer_methods_supported".into(), vec!["header"].into());
        Value::Object(doc)
    }

    pub(crate) fn document_bytes(&self) -> Bytes {
        Bytes::from(self.document().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths() {
        let r = Resource::parse("https://api.example.com/mcp").unwrap();
        assert_eq!(r.metadata_path, "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(
            r.metadata_url,
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(r.paths().len(), 2);
        let r = Resource::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(r.metadata_path, WELL_KNOWN);
        assert_eq!(
            r.metadata_url,
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
        assert_eq!(r.paths(), [WELL_KNOWN]);
        let r = Resource::parse("https://h.example/a/b/").unwrap();
        assert_eq!(r.metadata_path, "/.well-known/oauth-protected-resource/a/b");
    }

    #[test]
    fn bad_resources() {
        for bad in [
            "/mcp",
            "ftp://x.example/mcp",
            "https://x.example/mcp?a=1",
            "https://x.example/mcp#f",
            "",
        ] {
            assert!(Resource::parse(bad).is_err(), "{bad}");
        }
    }
}
