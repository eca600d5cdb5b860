//! `McpBody`: the one response body type of the transport.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::sse::SseBody;

pin_project! {
    /// The response body of [`McpService`](crate::McpService): empty (202), a JSON document with
    /// an exact length, or an SSE stream of unknown length.
    ///
    /// It never fails (`Error = Infallible`), is `Send + Sync`, and reports honest hints:
    /// a JSON body has an exact [`size_hint`](Body::size_hint), so hyper writes
    /// `Content-Length`; an SSE body is chunked and not at its end until the stream is over.
    pub struct McpBody {
        #[pin]
        kind: Kind,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind {
        Empty,
        Full { data: Option<Bytes> },
        Sse { #[pin] body: SseBody },
    }
}

impl McpBody {
    /// An empty body.
    #[must_use]
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    pub(crate) fn json(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    pub(crate) fn sse(body: SseBody) -> Self {
        Self {
            kind: Kind::Sse { body },
        }
    }

    /// Whether this body is an SSE stream.
    #[must_use]
    pub fn is_sse(&self) -> bool {
        matches!(self.kind, Kind::Sse { .. })
    }
}

impl Default for McpBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl Body for McpBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Empty => Poll::Ready(None),
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Sse { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full { data } => data.is_none(),
            Kind::Sse { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Sse { body } => body.size_hint(),
        }
    }
}

impl fmt::Debug for McpBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("McpBody::Empty"),
            Kind::Full { data } => f
                .debug_struct("McpBody::Json")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Sse { body } => f.debug_tuple("McpBody::Sse").field(body).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn hints_are_honest() {
        let empty = McpBody::empty();
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));

        let mut json = McpBody::json(&b"{}"[..]);
        assert!(!json.is_end_stream());
        assert_eq!(json.size_hint().exact(), Some(2));
        assert_eq!(
            json.frame().await.unwrap().unwrap().into_data().unwrap(),
            "{}"
        );
        assert!(json.is_end_stream());
        assert_eq!(json.size_hint().exact(), Some(0));
        assert!(json.frame().await.is_none());

        let (tx, body) = crate::sse::channel(1);
        let sse = McpBody::sse(body);
        assert!(!sse.is_end_stream());
        assert_eq!(sse.size_hint().exact(), None);
        drop(tx);
        let bytes = sse.collect().await.unwrap().to_bytes();
        assert!(bytes.is_empty());
    }
}
