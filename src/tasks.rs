//! The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) for a handler: a small
//! in-memory task store.
//!
//! With the extension a server may answer a `tools/call` with a *task handle* (a
//! `CreateTaskResult`, `resultType: "task"`) instead of the tool's result; the work goes on in
//! the background and the client follows it with three methods:
//!
//! - `tasks/get`: the task's state. While it runs, `working`; while it waits for the client,
//!   `input_required` with the questions in `inputRequests`; at the end `completed` with the
//!   tool's `result` inlined, `failed` with the JSON-RPC `error`, or `cancelled`;
//! - `tasks/update`: answers to some or all of the questions (`inputResponses`, keyed as the
//!   questions were); keys that are not outstanding are ignored;
//! - `tasks/cancel`: stops the work (its future is dropped) and marks it `cancelled`; on a task
//!   that has already ended it changes nothing. Both answer with an empty acknowledgement.
//!
//! The transport needs to know nothing of this: these are ordinary methods for the handler,
//! whose results the layer completes (`resultType: "complete"`, `serverInfo`) like any other.
//! What the transport does check is the extension's routing header: on those three methods
//! `Mcp-Name` must equal `params.taskId` (400 with −32020 otherwise).
//!
//! The rules a handler keeps, and where this module helps:
//!
//! - Advertise the extension: `"extensions": { "io.modelcontextprotocol/tasks": {} }` in the
//!   capabilities of `server/discover` ([`EXTENSION`]).
//! - Create a task only for a request that declared the extension in its own `_meta` client
//!   capabilities ([`declared`]); otherwise answer synchronously, or, for a tool that cannot
//!   run without a task, with −32021 ([`missing_capability`]).
//! - Answer `tasks/get`, `tasks/update` and `tasks/cancel` with [`TaskStore::serve`], which also
//!   refuses them (−32021) to a request that did not declare the extension, and answers an
//!   unknown task id with −32602.
//! - A tool that needs the client's input *before* it decides to create a task asks with
//!   [`RequestContext::request`](crate::RequestContext::request) (multi-round-trip, see
//!   [`mrtr`](crate::mrtr)) and creates the task on the round that has its answers; input
//!   *during* the task is asked with [`TaskContext::request`] and answered by `tasks/update`.
//!
//! The store is in memory: tasks live in this process, for their time to live
//! ([`TaskStore::ttl`], from creation), and at most [`TaskStore::max_tasks`] at once. A
//! deployment with several nodes routes a task's requests by `Mcp-Name` to the node that
//! created it.
//!
//! ```
//! use mcp_tower::tasks::{self, TaskStore};
//! use mcp_tower::{ErrorObject, McpRequest};
//! use serde_json::{json, Value};
//!
//! /// `tools/call` of a slow tool: a task when the client can follow one.
//! async fn call(store: &TaskStore, req: &McpRequest) -> Result<Value, ErrorObject> {
//!     if !tasks::declared(req) {
//!         return Ok(json!({ "content": [{ "type": "text", "text": "done (synchronously)" }] }));
//!     }
//!     store.create(|ctx| async move {
//!         // Ask the client during the task: answered by `tasks/update`.
//!         let answer = ctx
//!             .request("elicitation/create", json!({
//!                 "message": "Proceed?",
//!                 "requestedSchema": { "type": "object", "properties": {} },
//!             }))
//!             .await
//!             .map_err(|e| ErrorObject::new(-32603, e.to_string()))?;
//!         Ok(json!({ "content": [{ "type": "text", "text": format!("{}", answer["action"]) }] }))
//!     })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = TaskStore::new();
//! let meta = json!({
//!     "io.modelcontextprotocol/protocolVersion": "2026-07-28",
//!     "io.modelcontextprotocol/clientCapabilities": { "extensions": { tasks::EXTENSION: {} } },
//! });
//! let req = McpRequest::new(1, "tools/call", Some(json!({ "name": "slow", "_meta": meta })));
//! let created = call(&store, &req).await.unwrap();
//! assert_eq!(created["resultType"], "task");
//! let id = created["taskId"].as_str().unwrap().to_owned();
//!
//! // The client polls, sees the question, answers it, and finds the result inlined.
//! let get = McpRequest::new(2, "tasks/get", Some(json!({ "taskId": id, "_meta": meta })));
//! let state = loop {
//!     let state = store.serve(&get).unwrap().unwrap();
//!     if state["status"] == "input_required" { break state; }
//!     tokio::task::yield_now().await;
//! };
//! let key = state["inputRequests"].as_object().unwrap().keys().next().unwrap().clone();
//! let update = McpRequest::new(3, "tasks/update", Some(json!({
//!     "taskId": id, "inputResponses": { key: { "action": "accept", "content": {} } }, "_meta": meta,
//! })));
//! store.serve(&update).unwrap().unwrap();
//! let done = loop {
//!     let state = store.serve(&get).unwrap().unwrap();
//!     if state["status"] == "completed" { break state; }
//!     tokio::task::yield_now().await;
//! };
//! assert_eq!(done["result"]["content"][0]["text"], "\"accept\"");
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::{AbortHandle, Abortable};
use futures_util::FutureExt;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::handler::McpRequest;
use crate::jsonrpc::{code, ErrorObject};
use crate::protocol::META_CLIENT_CAPABILITIES;
use crate::session::id::random_bytes;
use crate::time::deadline;

/// The extension's identifier, the key under `capabilities.extensions` on both sides.
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// How long a task stays readable after its creation unless set otherwise: one hour.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The polling interval suggested to clients unless set otherwise: half a second.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How many tasks a store holds at once unless set otherwise.
pub const DEFAULT_MAX_TASKS: usize = 10_000;

/// Whether the client declared the tasks extension for this request: in the request's own
/// `_meta` client capabilities (2026-07-28, where nothing carries over from earlier requests),
/// or, for a request without them, in its session's `initialize` capabilities.
///
/// ```
/// use mcp_tower::{tasks, McpRequest};
/// use serde_json::json;
///
/// let with = json!({ "_meta": {
///     "io.modelcontextprotocol/clientCapabilities": { "extensions": { tasks::EXTENSION: {} } },
/// } });
/// assert!(tasks::declared(&McpRequest::new(1, "tools/call", Some(with))));
/// let without = json!({ "_meta": { "io.modelcontextprotocol/clientCapabilities": {} } });
/// assert!(!tasks::declared(&McpRequest::new(1, "tools/call", Some(without))));
/// ```
#[must_use]
pub fn declared(req: &McpRequest) -> bool {
    let from_meta = req
        .params()
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES));
    match from_meta {
        Some(capabilities) => names_extension(capabilities),
        None => req
            .session()
            .and_then(crate::Session::client_capabilities)
            .is_some_and(|capabilities| names_extension(&capabilities)),
    }
}

fn names_extension(capabilities: &Value) -> bool {
    capabilities
        .get("extensions")
        .and_then(|e| e.get(EXTENSION))
        .is_some_and(Value::is_object)
}

/// The error for a request that needs the extension but did not declare it: −32021 (missing
/// required client capability) with `data.requiredCapabilities.extensions` naming it.
///
/// ```
/// let e = mcp_tower::tasks::missing_capability();
/// assert_eq!(e.code, -32021);
/// assert!(e.data.unwrap()["requiredCapabilities"]["extensions"]
///     [mcp_tower::tasks::EXTENSION].is_object());
/// ```
#[must_use]
pub fn missing_capability() -> ErrorObject {
    ErrorObject::new(
        code::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!(
            "this request needs the client capability extensions[\"{EXTENSION}\"]; declare it in \
             _meta[\"{META_CLIENT_CAPABILITIES}\"]"
        ),
    )
    .with_data(json!({ "requiredCapabilities": { "extensions": { EXTENSION: {} } } }))
}

fn invalid_params(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, message)
}

/// The store's settings, copied into each clone.
#[derive(Clone, Copy, Debug)]
struct Settings {
    ttl: Duration,
    poll_interval: Duration,
    max_tasks: usize,
}

/// Tasks by id: their state, the questions they wait on, and the handle that stops their work.
/// Cloning gives another handle to the same tasks.
///
/// See the [module documentation](self) for the protocol and an example.
#[derive(Clone)]
pub struct TaskStore {
    settings: Settings,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for TaskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStore")
            .field("settings", &self.settings)
            .field("tasks", &lock(&self.state).tasks.len())
            .finish()
    }
}

impl Default for TaskStore {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, Entry>,
    /// Task ids in creation order with their expiry: every task has the same time to live, so
    /// the front expires first.
    expiry: VecDeque<(Instant, String)>,
}

struct Entry {
    created_at: String,
    updated_at: String,
    status_message: Option<String>,
    /// How the task ended; `None` while it runs.
    end: Option<End>,
    /// Questions waiting for `tasks/update`, by key.
    inputs: BTreeMap<String, Input>,
    /// Questions asked so far: keys are never reused within a task.
    asked: u64,
    work: AbortHandle,
}

enum End {
    Completed(Value),
    Failed(ErrorObject),
    Cancelled,
}

struct Input {
    /// `{ "method": …, "params": … }`, as listed in `inputRequests`.
    request: Value,
    answer: oneshot::Sender<Value>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Drops the tasks whose time to live has passed, stopping work still running.
    fn sweep(&mut self, now: Instant) {
        while let Some((expires, _)) = self.expiry.front() {
            if *expires > now {
                break;
            }
            if let Some((_, id)) = self.expiry.pop_front() {
                if let Some(entry) = self.tasks.remove(&id) {
                    entry.work.abort();
                }
            }
        }
    }

    fn entry(&mut self, task_id: &str) -> Result<&mut Entry, ErrorObject> {
        self.sweep(Instant::now());
        self.tasks.get_mut(task_id).ok_or_else(|| {
            invalid_params(format!(
                "unknown task id {task_id:?} (never created, or expired)"
            ))
        })
    }
}

impl Entry {
    fn status(&self) -> &'static str {
        match &self.end {
            Some(End::Completed(_)) => "completed",
            Some(End::Failed(_)) => "failed",
            Some(End::Cancelled) => "cancelled",
            None if self.inputs.is_empty() => "working",
            None => "input_required",
        }
    }

    fn touch(&mut self) {
        self.updated_at = timestamp(SystemTime::now());
    }

    /// The `Task` fields; with `detailed`, the status's own field as well (`inputRequests`,
    /// `result` or `error`), as `tasks/get` answers.
    fn view(&self, task_id: &str, settings: &Settings, detailed: bool) -> Map<String, Value> {
        let mut task = Map::new();
        task.insert("taskId".into(), task_id.into());
        task.insert("status".into(), self.status().into());
        if let Some(message) = &self.status_message {
            task.insert("statusMessage".into(), message.as_str().into());
        }
        task.insert("createdAt".into(), self.created_at.as_str().into());
        task.insert("lastUpdatedAt".into(), self.updated_at.as_str().into());
        task.insert("ttlMs".into(), millis(settings.ttl));
        task.insert("pollIntervalMs".into(), millis(settings.poll_interval));
        if detailed {
            match &self.end {
                Some(End::Completed(result)) => {
                    task.insert("result".into(), result.clone());
                }
                Some(End::Failed(error)) => {
                    task.insert("error".into(), json!(error));
                }
                Some(End::Cancelled) => {}
                None if !self.inputs.is_empty() => {
                    let requests: Map<String, Value> = self
                        .inputs
                        .iter()
                        .map(|(key, input)| (key.clone(), input.request.clone()))
                        .collect();
                    task.insert("inputRequests".into(), Value::Object(requests));
                }
                None => {}
            }
        }
        task
    }
}

/// A duration as integer milliseconds, at least 1; `null` for one too long to mean anything
/// but "unlimited".
fn millis(duration: Duration) -> Value {
    match u64::try_from(duration.as_millis()) {
        Ok(ms) if duration < Duration::from_secs(86_400 * 365 * 100) => json!(ms.max(1)),
        _ => Value::Null,
    }
}

impl TaskStore {
    /// An empty store with the default settings ([`DEFAULT_TTL`], [`DEFAULT_POLL_INTERVAL`],
    /// [`DEFAULT_MAX_TASKS`]).
    #[must_use]
    pub fn new() -> Self {
        Self {
            settings: Settings {
                ttl: DEFAULT_TTL,
                poll_interval: DEFAULT_POLL_INTERVAL,
                max_tasks: DEFAULT_MAX_TASKS,
            },
            state: Arc::default(),
        }
    }

    /// How long each task stays readable, counted from its creation (`ttlMs`). When it has
    /// passed, the task is forgotten (its work stopped if it still runs) and its id answers
    /// −32602. `Duration::MAX` keeps tasks for as long as the process runs (`ttlMs: null`).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.settings.ttl = ttl;
        self
    }

    /// The polling interval suggested to clients (`pollIntervalMs`).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// How many tasks the store holds at once, ended ones included until they expire. Creating
    /// one more fails with −32603.
    #[must_use]
    pub fn max_tasks(mut self, max: usize) -> Self {
        self.settings.max_tasks = max;
        self
    }

    /// Creates a task running `work` in the background, and returns its `CreateTaskResult`
    /// (`resultType: "task"`, status `working`). The task is in the store before this returns,
    /// so a `tasks/get` that follows at once finds it.
    ///
    /// `work` gets the task's [`TaskContext`]. What it returns becomes the task's end: `Ok`
    /// with the method's result (for `tools/call` a `CallToolResult`, `isError` included) is
    /// `completed`; `Err` is `failed` with that JSON-RPC error, and so is a panic (−32603); a
    /// failed task's `statusMessage` is the error's message.
    ///
    /// Must be called within a tokio runtime (the work is spawned on it).
    ///
    /// # Errors
    ///
    /// −32603 when the store already holds [`max_tasks`](Self::max_tasks) tasks.
    pub fn create<F, Fut>(&self, work: F) -> Result<Value, ErrorObject>
    where
        F: FnOnce(TaskContext) -> Fut,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        let task_id = new_task_id();
        let (abort, registration) = AbortHandle::new_pair();
        let now = Instant::now();
        let stamp = timestamp(SystemTime::now());
        let mut created = {
            let mut state = lock(&self.state);
            state.sweep(now);
            if state.tasks.len() >= self.settings.max_tasks {
                return Err(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!(
                        "this server holds at most {} tasks; retry later",
                        self.settings.max_tasks
                    ),
                ));
            }
            let expires = deadline(now, self.settings.ttl);
            let entry = Entry {
                created_at: stamp.clone(),
                updated_at: stamp,
                status_message: None,
                end: None,
                inputs: BTreeMap::new(),
                asked: 0,
                work: abort,
            };
            let view = entry.view(&task_id, &self.settings, false);
            state.tasks.insert(task_id.clone(), entry);
            state.expiry.push_back((expires, task_id.clone()));
            view
        };
        let ctx = TaskContext {
            task_id: task_id.clone(),
            state: Arc::downgrade(&self.state),
        };
        let work = AssertUnwindSafe(work(ctx)).catch_unwind();
        let state = Arc::downgrade(&self.state);
        tokio::spawn(async move {
            let Ok(ended) = Abortable::new(work, registration).await else {
                return; // cancelled or expired: the store already says so
            };
            let end = match ended {
                Ok(Ok(result)) => End::Completed(result),
                Ok(Err(error)) => End::Failed(error),
                Err(_panic) => End::Failed(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    "the task's work panicked",
                )),
            };
            if let Some(state) = state.upgrade() {
                let mut state = lock(&state);
                if let Some(entry) = state.tasks.get_mut(&task_id) {
                    if entry.end.is_none() {
                        if let End::Failed(error) = &end {
                            // The diagnostic the specification asks of a failed task.
                            entry.status_message = Some(error.message.clone());
                        }
                        entry.end = Some(end);
                        entry.inputs.clear();
                        entry.touch();
                    }
                }
            }
        });
        created.insert("resultType".into(), "task".into());
        Ok(Value::Object(created))
    }

    /// `tasks/get`: the task's state, with `inputRequests`, `result` or `error` as its status
    /// has them.
    ///
    /// # Errors
    ///
    /// −32602 for an id the store does not hold.
    pub fn get(&self, task_id: &str) -> Result<Value, ErrorObject> {
        let mut state = lock(&self.state);
        let entry = state.entry(task_id)?;
        Ok(Value::Object(entry.view(task_id, &self.settings, true)))
    }

    /// `tasks/update`: hands each answer in `input_responses` to the question waiting under its
    /// key; other keys are ignored. The task stays `input_required` while any question is
    /// left. Returns the empty acknowledgement.
    ///
    /// # Errors
    ///
    /// −32602 for an id the store does not hold, or `input_responses` that is not an object.
    pub fn update(&self, task_id: &str, input_responses: &Value) -> Result<Value, ErrorObject> {
        let Value::Object(responses) = input_responses else {
            return Err(invalid_params(
                "tasks/update needs params.inputResponses: an object of answers by key",
            ));
        };
        let mut state = lock(&self.state);
        let entry = state.entry(task_id)?;
        let mut answered = false;
        for (key, answer) in responses {
            if let Some(input) = entry.inputs.remove(key) {
                let _ = input.answer.send(answer.clone());
                answered = true;
            }
        }
        if answered {
            entry.touch();
        }
        Ok(json!({}))
    }

    /// `tasks/cancel`: stops a running task's work and marks it `cancelled`; a task that has
    /// ended keeps its end. Returns the empty acknowledgement.
    ///
    /// # Errors
    ///
    /// −32602 for an id the store does not hold.
    pub fn cancel(&self, task_id: &str) -> Result<Value, ErrorObject> {
        let mut state = lock(&self.state);
        let entry = state.entry(task_id)?;
        if entry.end.is_none() {
            entry.work.abort();
            entry.end = Some(End::Cancelled);
            entry.inputs.clear();
            entry.touch();
        }
        Ok(json!({}))
    }

    /// Answers `tasks/get`, `tasks/update` and `tasks/cancel`; `None` for any other method
    /// (`tasks/result` and `tasks/list` are not part of the extension: they are unknown
    /// methods). A request that did not [declare](declared) the extension gets −32021, one
    /// without a string `params.taskId` −32602.
    #[must_use]
    pub fn serve(&self, req: &McpRequest) -> Option<Result<Value, ErrorObject>> {
        let method = req.method();
        if !matches!(method, "tasks/get" | "tasks/update" | "tasks/cancel") {
            return None;
        }
        if !declared(req) {
            return Some(Err(missing_capability()));
        }
        let params = req.params();
        let Some(task_id) = params.and_then(|p| p.get("taskId")).and_then(Value::as_str) else {
            return Some(Err(invalid_params(format!(
                "{method} needs params.taskId, a string"
            ))));
        };
        Some(match method {
            "tasks/get" => self.get(task_id),
            "tasks/update" => self.update(
                task_id,
                params
                    .and_then(|p| p.get("inputResponses"))
                    .unwrap_or(&Value::Null),
            ),
            _ => self.cancel(task_id),
        })
    }
}

/// What a task's work holds: its id, and the way to ask the client for input while it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    task_id: String,
    state: Weak<Mutex<State>>,
}

/// The task a [`TaskContext`] belongs to is gone: its store was dropped, or it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskGone;

impl fmt::Display for TaskGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task is gone (expired, or its store was dropped)")
    }
}

impl std::error::Error for TaskGone {}

impl TaskContext {
    /// The task's id.
    #[must_use]
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Asks the client (`elicitation/create`, `sampling/createMessage`, `roots/list`, …) and
    /// waits for the answer. The question is listed in the task's `inputRequests` under a key
    /// of its own (the method's namespace and a counter, such as `elicitation-1`, never reused
    /// within the task), and the task is `input_required` until every question is answered by
    /// `tasks/update`. Questions asked concurrently (for instance with `join!`) are listed
    /// together; the client may answer them one at a time.
    ///
    /// # Errors
    ///
    /// [`TaskGone`] when the task expired or its store was dropped. (A cancelled task's work is
    /// stopped, so it never sees an error.)
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, TaskGone> {
        let answer = {
            let state = self.state.upgrade().ok_or(TaskGone)?;
            let mut state = lock(&state);
            let entry = state
                .tasks
                .get_mut(&self.task_id)
                .filter(|e| e.end.is_none())
                .ok_or(TaskGone)?;
            entry.asked += 1;
            let namespace = method.split('/').next().unwrap_or(method);
            let key = format!("{namespace}-{}", entry.asked);
            let (tx, rx) = oneshot::channel();
            entry.inputs.insert(
                key,
                Input {
                    request: json!({ "method": method, "params": params }),
                    answer: tx,
                },
            );
            entry.touch();
            rx
        };
        answer.await.map_err(|_| TaskGone)
    }

    /// Sets the task's `statusMessage`, shown with its state (progress, what it waits for).
    pub fn set_status_message(&self, message: impl Into<String>) {
        if let Some(state) = self.state.upgrade() {
            if let Some(entry) = lock(&state).tasks.get_mut(&self.task_id) {
                entry.status_message = Some(message.into());
                entry.touch();
            }
        }
    }
}

/// An unguessable task id: 128 random bits as hex.
fn new_task_id() -> String {
    use fmt::Write as _;
    let bytes: [u8; 16] = random_bytes();
    let mut id = String::with_capacity(32);
    for b in bytes {
        let _ = write!(id, "{b:02x}");
    }
    id
}

/// An ISO 8601 UTC timestamp with milliseconds, such as `2026-07-28T09:30:00.000Z`.
fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let at = UNIX_EPOCH + Duration::from_millis(1_785_231_000_123);
        assert_eq!(timestamp(at), "2026-07-28T09:30:00.123Z");
        // A leap day.
        let at = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(at), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn ttl_is_integer_milliseconds_or_null() {
        assert_eq!(millis(Duration::from_secs(2)), json!(2000));
        assert_eq!(millis(Duration::from_micros(10)), json!(1));
        assert_eq!(millis(Duration::MAX), Value::Null);
    }

    fn ok() -> Result<Value, ErrorObject> {
        Ok(json!({ "content": [] }))
    }

    #[tokio::test]
    async fn a_task_is_readable_at_once_and_ends_with_its_work() {
        let store = TaskStore::new();
        let created = store.create(|_| async { ok() }).unwrap();
        assert_eq!(created["resultType"], "task");
        assert_eq!(created["status"], "working");
        assert!(created.get("result").is_none());
        let id = created["taskId"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(store.get(id).unwrap()["taskId"], id);
        tokio::task::yield_now().await;
        let done = store.get(id).unwrap();
        assert_eq!(done["status"], "completed");
        assert_eq!(done["result"], json!({ "content": [] }));
    }

    #[tokio::test]
    async fn errors_and_panics_fail_the_task() {
        let store = TaskStore::new();
        let error = store
            .create(|_| async { Err(ErrorObject::new(-32603, "boom")) })
            .unwrap();
        let panics = store
            .create(|_| async {
                if true {
                    panic!("work panicked");
                }
                ok()
            })
            .unwrap();
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        for created in [error, panics] {
            let state = store.get(created["taskId"].as_str().unwrap()).unwrap();
            assert_eq!(state["status"], "failed");
            assert_eq!(state["error"]["code"], -32603);
            assert_eq!(state["statusMessage"], state["error"]["message"]);
            assert!(state.get("result").is_none());
        }
    }

    #[tokio::test]
    async fn cancel_stops_the_work_and_is_idempotent() {
        let store = TaskStore::new();
        let created = store
            .create(|_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                ok()
            })
            .unwrap();
        let id = created["taskId"].as_str().unwrap();
        assert_eq!(store.cancel(id).unwrap(), json!({}));
        assert_eq!(store.get(id).unwrap()["status"], "cancelled");
        assert_eq!(store.cancel(id).unwrap(), json!({}));
        assert_eq!(store.get(id).unwrap()["status"], "cancelled");
        assert_eq!(store.get("nope").unwrap_err().code, code::INVALID_PARAMS);
        assert_eq!(store.cancel("nope").unwrap_err().code, code::INVALID_PARAMS);
    }

    #[tokio::test]
    async fn questions_wait_for_every_answer_and_keys_are_not_reused() {
        let store = TaskStore::new();
        let created = store
            .create(|ctx| async move {
                let (a, b) = futures_util::join!(
                    ctx.request("elicitation/create", json!({ "n": 1 })),
                    ctx.request("sampling/createMessage", json!({ "n": 2 })),
                );
                let c = ctx.request("elicitation/create", json!({ "n": 3 })).await;
                Ok(json!([a.unwrap(), b.unwrap(), c.unwrap()]))
            })
            .unwrap();
        let id = created["taskId"].as_str().unwrap();
        tokio::task::yield_now().await;
        let state = store.get(id).unwrap();
        assert_eq!(state["status"], "input_required");
        let keys: Vec<&String> = state["inputRequests"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["elicitation-1", "sampling-2"]);
        assert_eq!(
            state["inputRequests"]["sampling-2"],
            json!({ "method": "sampling/createMessage", "params": { "n": 2 } })
        );
        // One answer of two, plus a key that is not outstanding (ignored).
        store
            .update(id, &json!({ "elicitation-1": "a", "other": "x" }))
            .unwrap();
        let state = store.get(id).unwrap();
        assert_eq!(state["status"], "input_required");
        assert_eq!(state["inputRequests"].as_object().unwrap().len(), 1);
        store.update(id, &json!({ "sampling-2": "b" })).unwrap();
        tokio::task::yield_now().await;
        let state = store.get(id).unwrap();
        let keys: Vec<&String> = state["inputRequests"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["elicitation-3"]);
        // An answer to a key already answered changes nothing.
        store
            .update(id, &json!({ "elicitation-1": "again" }))
            .unwrap();
        store.update(id, &json!({ "elicitation-3": "c" })).unwrap();
        tokio::task::yield_now().await;
        let state = store.get(id).unwrap();
        assert_eq!(state["status"], "completed");
        assert_eq!(state["result"], json!(["a", "b", "c"]));
        assert!(state.get("inputRequests").is_none());
        assert_eq!(
            store.update(id, &json!([])).unwrap_err().code,
            code::INVALID_PARAMS
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_expire_after_their_ttl_and_the_store_is_bounded() {
        let store = TaskStore::new()
            .ttl(Duration::from_secs(10))
            .poll_interval(Duration::from_millis(250))
            .max_tasks(2);
        let created = store.create(|_| async { ok() }).unwrap();
        assert_eq!(created["ttlMs"], 10_000);
        assert_eq!(created["pollIntervalMs"], 250);
        let _second = store
            .create(|_| std::future::pending::<Result<Value, ErrorObject>>())
            .unwrap();
        let full = store.create(|_| async { ok() }).unwrap_err();
        assert_eq!(full.code, code::INTERNAL_ERROR);
        let id = created["taskId"].as_str().unwrap();
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(store.get(id).is_ok());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(store.get(id).unwrap_err().code, code::INVALID_PARAMS);
        assert!(store.create(|_| async { ok() }).is_ok());
    }

    #[tokio::test]
    async fn serve_gates_on_the_declared_extension() {
        let store = TaskStore::new();
        let created = store.create(|_| async { ok() }).unwrap();
        let id = created["taskId"].clone();
        let declared = json!({ "extensions": { EXTENSION: {} } });
        let req = |method: &str, caps: &Value, params: Value| {
            let mut params = params;
            params["_meta"] = json!({ META_CLIENT_CAPABILITIES: caps });
            McpRequest::new(1, method, Some(params))
        };
        let none = json!({});
        for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
            let refused = store
                .serve(&req(method, &none, json!({ "taskId": id })))
                .unwrap();
            assert_eq!(refused.unwrap_err(), missing_capability());
            let no_id = store.serve(&req(method, &declared, json!({}))).unwrap();
            assert_eq!(no_id.unwrap_err().code, code::INVALID_PARAMS);
        }
        let got = store
            .serve(&req("tasks/get", &declared, json!({ "taskId": id })))
            .unwrap()
            .unwrap();
        assert_eq!(got["taskId"], id);
        for other in ["tasks/result", "tasks/list", "tools/call"] {
            assert!(store.serve(&req(other, &declared, json!({}))).is_none());
        }
    }
}
