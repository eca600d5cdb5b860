//! Multi-round-trip requests on the 2026-07-28 route: the round is prepared from the request
//! before the handler runs, and the handler's call is driven so that a question without an
//! answer ends it with an `InputRequiredResult`.

use std::future::Future;
use std::sync::Arc;

use http::request::Parts;
use serde_json::Value;

use super::config::Config;
use crate::handler::McpResponse;
use crate::jsonrpc::{code, ErrorObject};
use crate::mrtr::{is_input_required, Drive, Outcome, Round};
use crate::protocol::META_CLIENT_CAPABILITIES;

/// The round for this request (`None` for a method that cannot ask), or the error that refuses
/// its `requestState` or `inputResponses`.
pub(crate) fn prepare(
    config: &Config,
    parts: &Parts,
    method: &str,
    params: Option<&Value>,
) -> Result<Option<Arc<Round>>, ErrorObject> {
    let capabilities = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES));
    let principal = config.principal.as_ref().and_then(|extract| extract(parts));
    Round::prepare(
        &config.mrtr,
        method,
        params,
        capabilities,
        principal.as_deref(),
    )
}

/// The handler's answer, or the `InputRequiredResult` or error its questions end the call with.
/// A handler's own `input_required` result gets its `requestState` signed; on a method that
/// cannot ask, it is refused (−32603), as the specification forbids it there.
pub(crate) async fn run(
    round: Option<Arc<Round>>,
    call: impl Future<Output = McpResponse>,
) -> McpResponse {
    let Some(round) = round else {
        let res = call.await;
        return match res.outcome() {
            Ok(result) if is_input_required(result) => McpResponse::error(ErrorObject::new(
                code::INTERNAL_ERROR,
                "the handler answered input_required on a method that cannot ask for input \
                 (only tools/call, prompts/get and resources/read can)",
            )),
            _ => res,
        };
    };
    match Drive::new(round.clone(), call).await {
        Outcome::Done(res) => match res.into_outcome() {
            Ok(result) if is_input_required(&result) => match round.seal_result(result) {
                Ok(result) => McpResponse::result(result),
                Err(e) => McpResponse::error(e),
            },
            Ok(result) => McpResponse::result(result),
            Err(error) => McpResponse::error(error),
        },
        Outcome::InputRequired(result) => McpResponse::result(result),
        Outcome::Failed(error) => McpResponse::error(error),
    }
}
