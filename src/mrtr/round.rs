//! One execution of a handler on a 2026-07-28 request that may ask the client for input: the
//! answers it already has, and the questions it could not get answered.
//!
//! [`RequestContext::request`](crate::RequestContext::request) on such a request looks up its
//! answer here. Without one, it records the question and never finishes; [`Drive`] then ends
//! the call with an `InputRequiredResult` listing every question recorded in that poll (so
//! questions asked concurrently travel together) and a signed `requestState` carrying the
//! answers used so far. The retry runs the handler again from the start, and the same calls
//! now find their answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use serde_json::{json, Map, Value};

use super::state::{self, Binding, Carried, StateConfig};
use crate::jsonrpc::{code, ErrorObject};
use crate::session::pending::required_capability;
use crate::session::ClientRequestError;

/// The methods that may answer with an `InputRequiredResult`.
pub(crate) const ASKING_METHODS: [&str; 3] = ["tools/call", "prompts/get", "resources/read"];

/// The input state of one call.
pub(crate) struct Round {
    config: Arc<StateConfig>,
    binding: Binding,
    /// Answers from the verified state, then from `inputResponses` for keys the state lacks.
    answers: Map<String, Value>,
    handler_state: Option<String>,
    /// The client capabilities this request declared.
    capabilities: Option<Value>,
    asked: Mutex<Asked>,
    waker: AtomicWaker,
}

#[derive(Default)]
struct Asked {
    /// Calls to `ask` so far, for default keys.
    calls: usize,
    /// Unanswered questions, by key.
    questions: Map<String, Value>,
    /// Answers the handler used: carried on to the next round.
    used: Map<String, Value>,
    /// A capability the client did not declare: the call ends with −32021.
    missing: Option<&'static str>,
}

/// How a driven call ended.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    /// The handler finished.
    Done(T),
    /// The handler needs input: this `InputRequiredResult` is the answer.
    InputRequired(Value),
    /// The call ends with this error.
    Failed(ErrorObject),
}

fn invalid(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, message)
}

impl Round {
    /// The round for a request, or `None` when its method cannot ask for input. Refuses (with
    /// −32602) malformed `inputResponses`, a `requestState` that is not a string, and one that
    /// fails verification.
    pub(crate) fn prepare(
        config: &Arc<StateConfig>,
        method: &str,
        params: Option<&Value>,
        capabilities: Option<&Value>,
        principal: Option<&str>,
    ) -> Result<Option<Arc<Self>>, ErrorObject> {
        if !ASKING_METHODS.contains(&method) {
            return Ok(None);
        }
        let field = if method == "resources/read" {
            "uri"
        } else {
            "name"
        };
        let name = params.and_then(|p| p.get(field)).and_then(Value::as_str);
        let binding = Binding::new(method, name, principal);
        let carried = match params.and_then(|p| p.get("requestState")) {
            None => Carried::default(),
            Some(Value::String(token)) => state::open(config, &binding, token)
                .map_err(|e| invalid(e.describe()).with_data(json!({ "field": "requestState" })))?,
            Some(_) => return Err(invalid("params.requestState must be a string")),
        };
        let mut answers = carried.answers;
        match params.and_then(|p| p.get("inputResponses")) {
            None => {}
            Some(Value::Object(responses)) => {
                for (key, answer) in responses {
                    if !answer.is_object() {
                        return Err(invalid(format!(
                            "params.inputResponses[\"{key}\"] must be an object (the result of \
                             the input request with that key)"
                        )));
                    }
                    answers.entry(key.clone()).or_insert_with(|| answer.clone());
                }
            }
            Some(_) => {
                return Err(invalid(
                    "params.inputResponses must be an object mapping input keys to results",
                ))
            }
        }
        Ok(Some(Arc::new(Self {
            config: config.clone(),
            binding,
            answers,
            handler_state: carried.handler_state,
            capabilities: capabilities.cloned(),
            asked: Mutex::new(Asked::default()),
            waker: AtomicWaker::new(),
        })))
    }

    fn asked(&self) -> std::sync::MutexGuard<'_, Asked> {
        self.asked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer under `key`, if the client sent one (this round or an earlier one).
    pub(crate) fn answer(&self, key: &str) -> Option<&Value> {
        self.answers.get(key)
    }

    /// The handler's own `requestState` from the previous round, verified.
    pub(crate) fn handler_state(&self) -> Option<&str> {
        self.handler_state.as_deref()
    }

    /// `ctx.request(method, params)` on this call: the stored answer, or a question recorded
    /// and a future that never finishes (the transport ends the call instead).
    pub(crate) async fn ask(
        &self,
        method: &str,
        params: Option<Value>,
        key: Option<&str>,
    ) -> Result<Value, ClientRequestError> {
        let Some(capability) = required_capability(method) else {
            // `ping` and unknown methods cannot travel as input requests.
            return Err(ClientRequestError::NoSession);
        };
        let declared = self
            .capabilities
            .as_ref()
            .is_some_and(|c| c.get(capability).is_some());
        {
            let mut asked = self.asked();
            let n = asked.calls;
            asked.calls += 1;
            if !declared {
                asked.missing.get_or_insert(capability);
            } else {
                let key = key.map_or_else(|| format!("{capability}_{n}"), str::to_owned);
                if let Some(answer) = self.answers.get(&key) {
                    asked.used.insert(key, answer.clone());
                    return Ok(answer.clone());
                }
                let mut question = json!({ "method": method });
                if let Some(params) = params {
                    question["params"] = params;
                } else if method == "roots/list" {
                    question["params"] = json!({});
                }
                asked.questions.insert(key, question);
            }
        }
        self.waker.wake();
        std::future::pending().await
    }

    /// Turns a handler's own `input_required` result into the one sent: its `requestState`
    /// (if any) is carried, signed, inside the transport's, with the answers used so far.
    pub(crate) fn seal_result(&self, mut result: Value) -> Result<Value, ErrorObject> {
        let handler_state = match result.get_mut("requestState").map(Value::take) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let token = self.sign(handler_state)?;
        result["requestState"] = Value::String(token);
        Ok(result)
    }

    fn sign(&self, handler_state: Option<String>) -> Result<String, ErrorObject> {
        let carried = Carried {
            answers: self.asked().used.clone(),
            handler_state,
        };
        state::seal(&self.config, &self.binding, &carried).ok_or_else(|| {
            ErrorObject::new(
                code::INTERNAL_ERROR,
                format!(
                    "the answers gathered for this request exceed the {}-byte requestState limit",
                    self.config.max_bytes
                ),
            )
        })
    }

    /// What the call ends with now that the handler is stuck, if it is.
    fn stuck(&self) -> Option<Result<Value, ErrorObject>> {
        let (missing, questions) = {
            let asked = self.asked();
            if asked.missing.is_none() && asked.questions.is_empty() {
                // Waiting on something else (a timer, I/O): nothing to do here.
                return None;
            }
            (asked.missing, asked.questions.clone())
        };
        if let Some(capability) = missing {
            return Some(Err(ErrorObject::new(
                code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                format!(
                    "this request needs the client capability `{capability}`, which its \
                     _meta[\"io.modelcontextprotocol/clientCapabilities\"] does not declare"
                ),
            )
            .with_data(json!({ "requiredCapabilities": { capability: {} } }))));
        }
        Some(self.sign(None).map(|state| {
            json!({
                "resultType": "input_required",
                "inputRequests": questions,
                "requestState": state,
            })
        }))
    }
}

/// Drives a handler's future on a call that may ask for input: its answer, or, once it waits
/// for input it does not have, the `InputRequiredResult` (the handler's future is dropped).
pub(crate) struct Drive<F> {
    round: Arc<Round>,
    call: Pin<Box<F>>,
}

impl<F> Drive<F> {
    pub(crate) fn new(round: Arc<Round>, call: F) -> Self {
        Self {
            round,
            call: Box::pin(call),
        }
    }
}

impl<F: Future> Future for Drive<F> {
    type Output = Outcome<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.round.waker.register(cx.waker());
        if let Poll::Ready(out) = self.call.as_mut().poll(cx) {
            return Poll::Ready(Outcome::Done(out));
        }
        match self.round.stuck() {
            None => Poll::Pending,
            Some(Ok(result)) => Poll::Ready(Outcome::InputRequired(result)),
            Some(Err(error)) => Poll::Ready(Outcome::Failed(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(params: &Value, caps: &Value) -> Arc<Round> {
        let config = Arc::new(StateConfig::default());
        Round::prepare(&config, "tools/call", Some(params), Some(caps), None)
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn concurrent_questions_travel_together_and_answers_resolve_them() {
        let caps = json!({ "sampling": {}, "roots": {} });
        let r = round(&json!({ "name": "t" }), &caps);
        let asker = r.clone();
        let call = async move {
            let (a, b) = futures_util::join!(
                asker.ask("sampling/createMessage", Some(json!({})), None),
                asker.ask("roots/list", None, Some("roots")),
            );
            (a.is_ok(), b.is_ok())
        };
        let Outcome::InputRequired(result) = Drive::new(r, call).await else {
            panic!("expected input_required");
        };
        let questions = result["inputRequests"].as_object().unwrap();
        assert_eq!(questions.len(), 2);
        assert_eq!(questions["roots"]["params"], json!({}));
        assert!(questions.contains_key("sampling_0"));

        let answered = json!({
            "name": "t",
            "inputResponses": { "sampling_0": { "role": "assistant" }, "roots": { "roots": [] } },
        });
        let r = round(&answered, &caps);
        let asker = r.clone();
        let call = async move {
            let (a, b) = futures_util::join!(
                asker.ask("sampling/createMessage", Some(json!({})), None),
                asker.ask("roots/list", None, Some("roots")),
            );
            (a.is_ok(), b.is_ok())
        };
        assert!(matches!(
            Drive::new(r, call).await,
            Outcome::Done((true, true))
        ));
    }

    #[tokio::test]
    async fn a_question_asked_from_another_task_still_ends_the_call() {
        let r = round(&json!({ "name": "t" }), &json!({ "roots": {} }));
        let asker = r.clone();
        let call = async move {
            // The handler waits on a task of its own, which asks.
            let task =
                tokio::spawn(async move { asker.ask("roots/list", None, None).await.is_ok() });
            task.await.is_ok()
        };
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), Drive::new(r, call))
            .await
            .expect("the question woke the call");
        let Outcome::InputRequired(result) = outcome else {
            panic!("expected input_required");
        };
        assert_eq!(result["inputRequests"]["roots_0"]["method"], "roots/list");
    }

    #[tokio::test]
    async fn an_undeclared_capability_fails_the_call() {
        let r = round(&json!({ "name": "t" }), &json!({}));
        let asker = r.clone();
        let call = async move { asker.ask("elicitation/create", None, None).await.is_ok() };
        let Outcome::Failed(e) = Drive::new(r, call).await else {
            panic!("expected a failure");
        };
        assert_eq!(e.code, code::MISSING_REQUIRED_CLIENT_CAPABILITY);
    }

    #[test]
    fn malformed_inputs_are_invalid_params() {
        let config = Arc::new(StateConfig::default());
        for params in [
            json!({ "name": "t", "inputResponses": null }),
            json!({ "name": "t", "inputResponses": { "k": 1 } }),
            json!({ "name": "t", "requestState": 7 }),
            json!({ "name": "t", "requestState": "nope" }),
        ] {
            let e = Round::prepare(&config, "tools/call", Some(&params), None, None)
                .err()
                .unwrap();
            assert_eq!(e.code, code::INVALID_PARAMS, "{params}");
        }
        assert!(Round::prepare(&config, "tools/list", None, None, None)
            .unwrap()
            .is_none());
    }
}
