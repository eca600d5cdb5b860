//! `ResponseFuture`: a response decided from the head, or a route that must wait.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::McpBody;
use crate::error::Rejection;
use crate::telemetry::RequestSpan;

type Pipeline = Pin<Box<dyn Future<Output = Response<McpBody>> + Send>>;

pin_project! {
    /// The response future of [`McpService`](crate::McpService).
    ///
    /// A response decided from the request's head alone (a rejection, a GET stream, a
    /// DELETE) is ready at once, without allocating; a route that must wait (a POST reads its
    /// body; a shared session store may answer later) runs as one boxed future.
    pub struct ResponseFuture {
        #[pin]
        kind: Kind,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind {
        Ready { res: Option<Response<McpBody>> },
        Pipeline { fut: Pipeline, span: RequestSpan },
    }
}

impl ResponseFuture {
    pub(crate) fn ready(res: Response<McpBody>) -> Self {
        Self {
            kind: Kind::Ready { res: Some(res) },
        }
    }

    /// A route that must wait, polled inside its request's span.
    pub(crate) fn pipeline(
        fut: impl Future<Output = Response<McpBody>> + Send + 'static,
        span: RequestSpan,
    ) -> Self {
        Self {
            kind: Kind::Pipeline {
                fut: Box::pin(fut),
                span,
            },
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<McpBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ready { res } => Poll::Ready(Ok(res
                .take()
                .expect("ResponseFuture polled after completion"))),
            KindProj::Pipeline { fut, span } => {
                let polled = span.in_scope(|| fut.as_mut().poll(cx));
                if let Poll::Ready(res) = &polled {
                    finish(span, res);
                }
                polled.map(Ok)
            }
        }
    }
}

/// Records on the request's span how it was answered.
#[inline]
pub(crate) fn finish(span: &RequestSpan, res: &Response<McpBody>) {
    if span.is_recording() {
        let rejection = res.extensions().get::<Rejection>().map(|r| r.kind().name());
        span.finish(res.status(), rejection);
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
