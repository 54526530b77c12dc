//! Long-running operations, both ARM patterns: the `Azure-AsyncOperation` status document (managed
//! cluster PUT) and 202 + `Location` (DELETE, triggerEvaluation). An operation is a record in the
//! state; the work runs in a spawned task that settles the resource and the record together, under
//! one lock, so a poll never sees a finished operation with an unfinished resource.

use std::future::Future;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::request::{ArmRequest, json};
use crate::state::{Operation, OperationError, OperationStatus, SimState};

/// Seconds clients are told to wait between polls: short, so scenarios stay fast, but not zero,
/// which some pollers read as "no hint" and replace with their 30 s default.
pub const RETRY_AFTER_SECS: u64 = 1;

/// How an operation ended: a final body (or none, for 204), or the error of its status document.
pub type Outcome = Result<Option<Value>, OperationError>;

/// Records a new `InProgress` operation in `subscription` and returns its id.
pub fn start(state: &mut SimState, subscription: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let op = Operation {
        id: id.clone(),
        subscription: subscription.to_ascii_lowercase(),
        status: OperationStatus::InProgress,
        start_time: Utc::now(),
        end_time: None,
        error: None,
        result: None,
    };
    state.operations.insert(id.clone(), op);
    id
}

/// Marks an operation finished.
pub fn finish(state: &mut SimState, id: &str, outcome: Outcome) {
    if let Some(op) = state.operations.get_mut(id) {
        op.end_time = Some(Utc::now());
        match outcome {
            Ok(result) => {
                op.status = OperationStatus::Succeeded;
                op.result = result;
            }
            Err(error) => {
                op.status = OperationStatus::Failed;
                op.error = Some(error);
            }
        }
    }
}

/// Runs `work` in the background, then lets `settle` update the state from its result and finishes
/// the operation with what `settle` returns, all under one lock.
pub fn spawn<T, W, S>(app: &SharedApp, op_id: String, work: W, settle: S)
where
    T: Send + 'static,
    W: Future<Output = T> + Send + 'static,
    S: FnOnce(&mut SimState, T) -> Outcome + Send + 'static,
{
    let app = app.clone();
    tokio::spawn(async move {
        let result = work.await;
        app.store.write(|state| {
            let outcome = settle(state, result);
            finish(state, &op_id, outcome);
        });
    });
}

/// The `Azure-AsyncOperation` URL of an operation.
pub fn status_url(req: &ArmRequest, namespace: &str, location: &str, id: &str) -> String {
    req.url(&format!("/subscriptions/{}/providers/{namespace}/locations/{location}/operations/{id}", req.segs[1]))
}

/// The `Location` URL of an operation.
pub fn result_url(req: &ArmRequest, namespace: &str, location: &str, id: &str) -> String {
    req.url(&format!("/subscriptions/{}/providers/{namespace}/locations/{location}/operationresults/{id}", req.segs[1]))
}

/// Adds a header whose value we built ourselves (always valid ASCII).
pub fn with_header(mut response: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}

/// Adds `Retry-After: RETRY_AFTER_SECS`: every response that leaves an operation running carries it
/// (the PUT's 201/200, each 202, each `InProgress` status document).
pub fn retry_after(response: Response) -> Response {
    with_header(response, header::RETRY_AFTER, &RETRY_AFTER_SECS.to_string())
}

/// 202 Accepted with `Location` and `Retry-After` (pattern B), plus `Azure-AsyncOperation` when given.
pub fn accepted(location: &str, async_operation: Option<&str>) -> Response {
    let mut response = retry_after(with_header(StatusCode::ACCEPTED.into_response(), header::LOCATION, location));
    if let Some(url) = async_operation {
        response = with_header(response, header::HeaderName::from_static("azure-asyncoperation"), url);
    }
    response
}

fn find(app: &SharedApp, req: &ArmRequest) -> ArmResult<Operation> {
    req.only(Method::GET)?;
    let (sub, id) = (&req.segs[1], &req.segs[7]);
    app.store
        .read(|state| state.operations.get(id.as_str()).filter(|op| op.subscription.eq_ignore_ascii_case(sub)).cloned())
        .ok_or_else(|| ArmError::not_found("OperationNotFound", format!("The operation '{id}' could not be found.")))
}

/// `GET …/locations/{l}/operations/{id}`: the status document, with `Retry-After` while it runs.
pub fn status(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let op = find(app, req)?;
    let mut body = json!({"id": req.path_id(), "name": op.id, "status": op.status, "startTime": op.start_time});
    if let Some(end) = op.end_time {
        body["endTime"] = json!(end);
    }
    if let Some(error) = op.error {
        body["error"] = json!(error);
    }
    let running = op.status == OperationStatus::InProgress;
    let response = json(StatusCode::OK, body);
    // Pollers read the delay from every response: without it on a running operation, the CLI
    // waits its 30 s default before the next poll.
    Ok(if running { retry_after(response) } else { response })
}

/// `GET …/locations/{l}/operationresults/{id}`: 202 while running, then the result (200/204), or
/// the error (409) if the operation failed.
pub fn result(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let op = find(app, req)?;
    match (op.status, op.result, op.error) {
        (OperationStatus::InProgress, _, _) => Ok(accepted(&req.url(&req.path_id()), None)),
        (_, _, Some(error)) => Ok(json(StatusCode::CONFLICT, json!({ "error": error }))),
        (_, Some(result), None) => Ok(json(StatusCode::OK, result)),
        (_, None, None) => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
