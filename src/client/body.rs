//! `ClientBody`: the request body the client sends.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;

use crate::BoxError;

/// The body of every request the client sends: empty (`GET`, `DELETE`) or one JSON message.
///
/// The HTTP service you hand the client must accept `http::Request<ClientBody>`. With
/// hyper-util's client that is `Client::builder(..).build::<_, ClientBody>(connector)`.
///
/// # Example
///
/// ```
/// use http_body::Body as _;
/// use mcp_tower::client::ClientBody;
///
/// let body = ClientBody::from(r#"{"jsonrpc":"2.0","method":"ping","id":1}"#);
/// assert_eq!(body.size_hint().exact(), Some(40));
/// assert!(ClientBody::empty().is_end_stream());
/// ```
#[derive(Clone, Default)]
pub struct ClientBody {
    data: Option<Bytes>,
}

impl ClientBody {
    /// A body with no bytes.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }
}

impl From<Bytes> for ClientBody {
    fn from(data: Bytes) -> Self {
        Self {
            data: Some(data).filter(|d| !d.is_empty()),
        }
    }
}

impl From<Vec<u8>> for ClientBody {
    fn from(data: Vec<u8>) -> Self {
        Bytes::from(data).into()
    }
}

impl From<String> for ClientBody {
    fn from(data: String) -> Self {
        Bytes::from(data).into()
    }
}

impl From<&'static str> for ClientBody {
    fn from(data: &'static str) -> Self {
        Bytes::from_static(data.as_bytes()).into()
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl fmt::Debug for ClientBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBody")
            .field("len", &self.data.as_ref().map_or(0, Bytes::len))
            .finish()
    }
}

/// A response body as a boxed stream of byte chunks, whatever its type.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

pub(crate) fn byte_stream<B>(body: B) -> ByteStream
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    use bytes::Buf as _;
    Box::pin(body.into_data_stream().map(|chunk| {
        chunk
            .map(|mut data| data.copy_to_bytes(data.remaining()))
            .map_err(Into::into)
    }))
}

/// Reads a whole body, refusing more than `limit` bytes.
pub(crate) async fn read_to_end(mut body: ByteStream, limit: usize) -> Result<Bytes, BoxError> {
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(format!("response body larger than {limit} bytes").into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn body_yields_its_bytes_once() {
        let body = ClientBody::from("abc");
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abc");
        let empty = ClientBody::from(String::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }

    #[tokio::test]
    async fn read_to_end_enforces_the_limit() {
        let stream = byte_stream(http_body_util::Full::new(Bytes::from_static(b"12345")));
        assert_eq!(&read_to_end(stream, 5).await.unwrap()[..], b"12345");
        let stream = byte_stream(http_body_util::Full::new(Bytes::from_static(b"12345")));
        assert!(read_to_end(stream, 4).await.is_err());
    }
}
