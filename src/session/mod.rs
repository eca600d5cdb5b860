//! Sessions of the Streamable HTTP session era: the [`Session`] handle handed to handlers and
//! applications, the [`Sessions`] registry, and the seams a shared backend plugs into.
//!
//! A session starts when a client's `initialize` succeeds and ends on `DELETE`, on
//! [`Session::close`], when it is idle for longer than the configured timeout, or when the layer
//! is dropped. Handles are weak: holding a [`Session`] never keeps an ended session alive.
//!
//! # Two kinds of state
//!
//! - The [`SessionRecord`]: plain data every node serving the session needs (identity,
//!   principal, negotiated version, client capabilities and info), written once at
//!   `initialize`. It lives in a [`SessionStore`], which also decides expiry.
//! - The node-local plumbing: open streams and their connections, running handler calls,
//!   requests waiting for the client's answer, queued messages. It lives in this node's
//!   registry, and never leaves the process.
//!
//! On one node the registry is the store as well, and costs nothing more.
//!
//! The files below this one depend on each other in one direction only: `config`, `id`,
//! `record`, `delivery`, `transport`, `stream_map` and `store` first; then `replay`, `pending` and `slots`;
//! `stream`; `live`; `registry` and `reaper`; and `handle` last.

pub(crate) mod config;
pub(crate) mod delivery;
pub(crate) mod handle;
pub(crate) mod id;
mod live;
pub(crate) mod pending;
mod reaper;
mod record;
mod registry;
mod replay;
mod slots;
mod store;
mod stream;
mod stream_map;
pub(crate) mod transport;

pub use pending::RequestOptions;
pub use record::SessionRecord;
pub use replay::{
    EventStore, MemoryEventStore, Replay, SessionEventLog, DEFAULT_REPLAY_AGE,
    DEFAULT_REPLAY_BYTES, DEFAULT_REPLAY_EVENTS,
};
pub use store::{SessionStore, StoreError, StoreFuture};

// At the crate root, their one public path.
pub(crate) use config::{CloseHook, PollingPolicy, SessionConfig};
pub(crate) use delivery::{CloseReason, Delivery};
pub(crate) use handle::{Session, Sessions};
pub(crate) use id::{is_visible_ascii, SessionId};
pub(crate) use live::{InFlight, LiveSession};
pub(crate) use pending::ClientRequestError;
pub(crate) use reaper::start_reaper;
pub(crate) use registry::Registry;
pub(crate) use stream::ResumeError;
