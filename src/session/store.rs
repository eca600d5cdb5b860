//! [`SessionStore`]: where session records live and expire, behind a trait a shared backend
//! (Redis) can implement, with a future type that costs nothing when the answer is at hand.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::id::SessionId;
use super::record::SessionRecord;

/// The shared home of session records: which sessions exist, and when they expire.
///
/// The transport asks it to **create** a record when `initialize` succeeds, **load** one for an
/// id it has not seen on this node, **touch** a session on every request (refresh its expiry
/// and prove it still exists), and **delete** it on `DELETE` or close. Everything only one
/// process can hold (connections, running calls, requests waiting for the client) stays in the
/// node-local registry; a cluster backend forwards operations on that state to the node that
/// holds it.
///
/// The default store is the node's own registry: the record sits in the same slab slot as the
/// session's plumbing, every answer is [`StoreFuture::ready`], and nothing is boxed or awaited
/// on the hot path. A networked store returns [`StoreFuture::boxed`] futures, each bounded by
/// its own timeout; the transport then answers 503 when the store fails.
///
/// # Example
///
/// A store that answers at once from a map (a toy: a real one shares its data between nodes).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
///
/// use mcp_tower::session::{SessionRecord, SessionStore, StoreError, StoreFuture};
/// use mcp_tower::SessionId;
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<String, SessionRecord>>);
///
/// impl SessionStore for MapStore {
///     fn create(&self, record: &SessionRecord) -> StoreFuture<()> {
///         self.0.lock().unwrap().insert(record.id.to_string(), record.clone());
///         StoreFuture::ready(Ok(()))
///     }
///     fn load(&self, id: &str) -> StoreFuture<Option<SessionRecord>> {
///         StoreFuture::ready(Ok(self.0.lock().unwrap().get(id).cloned()))
///     }
///     fn touch(&self, id: &SessionId) -> StoreFuture<bool> {
///         StoreFuture::ready(Ok(self.0.lock().unwrap().contains_key(id.as_str())))
///     }
///     fn delete(&self, id: &SessionId) -> StoreFuture<bool> {
///         StoreFuture::ready(Ok(self.0.lock().unwrap().remove(id.as_str()).is_some()))
///     }
/// }
///
/// let store = MapStore::default();
/// # let _ = StoreError::new("unused");
/// assert!(matches!(store.load("nope").now(), Some(Ok(None))));
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// Stores the record of a session whose `initialize` just succeeded. Only after this has
    /// succeeded does the client learn the session's id. A store that waits returns a future
    /// that owns what it sends (it serializes the record before returning).
    fn create(&self, record: &SessionRecord) -> StoreFuture<()>;
    /// The record of session `id` (as the client sent it), if it exists and `id`'s secret
    /// matches; `None` for anything else, which the client sees as 404.
    fn load(&self, id: &str) -> StoreFuture<Option<SessionRecord>>;
    /// Refreshes the session's expiry; false when it no longer exists (expired or deleted).
    fn touch(&self, id: &SessionId) -> StoreFuture<bool>;
    /// Removes the session; false when it did not exist.
    fn delete(&self, id: &SessionId) -> StoreFuture<bool>;
}

/// Why a [`SessionStore`] could not answer (unreachable, timed out, refused). The client gets
/// 503 with a JSON-RPC body that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with a message a person can act on (it reaches the client's 503).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the session store failed: {}", self.message)
    }
}

impl std::error::Error for StoreError {}

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The answer of a [`SessionStore`] operation: at hand already (no allocation), or a boxed
/// future for stores that must wait on the network.
#[must_use = "a store operation does nothing until its answer is taken"]
pub struct StoreFuture<T> {
    kind: Kind<T>,
}

enum Kind<T> {
    Ready(Option<Result<T, StoreError>>),
    Boxed(Boxed<T>),
}

impl<T> StoreFuture<T> {
    /// An answer at hand.
    pub fn ready(answer: Result<T, StoreError>) -> Self {
        Self {
            kind: Kind::Ready(Some(answer)),
        }
    }

    /// An answer that must be waited for. The future owns what it needs (a store keeps a
    /// cheap handle to its connection and clones it in), so the transport can wait on it
    /// after the request's head is gone.
    pub fn boxed(fut: impl Future<Output = Result<T, StoreError>> + Send + 'static) -> Self {
        Self {
            kind: Kind::Boxed(Box::pin(fut)),
        }
    }

    /// The answer, if it is at hand without waiting; `None` for a boxed future (which is
    /// dropped: call this only where waiting is not possible).
    pub fn now(self) -> Option<Result<T, StoreError>> {
        match self.kind {
            Kind::Ready(answer) => answer,
            Kind::Boxed(_) => None,
        }
    }

    /// The answer if it is at hand, else the future to wait on.
    pub(crate) fn into_ready(self) -> Result<Result<T, StoreError>, Self> {
        match self.kind {
            Kind::Ready(Some(answer)) => Ok(answer),
            kind => Err(Self { kind }),
        }
    }
}

// Nothing inside is ever pinned in place: the answer is moved out, the future is boxed.
impl<T> Unpin for StoreFuture<T> {}

impl<T> Future for StoreFuture<T> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Ready(answer) => Poll::Ready(
                answer
                    .take()
                    .unwrap_or_else(|| Err(StoreError::new("polled after completion"))),
            ),
            Kind::Boxed(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Ready(_) => f.write_str("StoreFuture::Ready"),
            Kind::Boxed(_) => f.write_str("StoreFuture::Boxed"),
        }
    }
}
