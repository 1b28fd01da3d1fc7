//! Mapping domain errors to HTTP responses.
//!
//! Browsers get an HTML error page in their language with the request id; API clients (paths
//! under `/api/`, or `Accept: application/json`) get RFC 9457 problem details. Standard APIs
//! (SensorThings, Open311, CKAN) map errors to their own formats in their routers.
//! Internal errors are logged with the request id and never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kern::Error;
use serde_json::json;

pub type WebResult<T> = Result<T, WebError>;

/// An error on its way to the client.
#[derive(Debug)]
pub struct WebError(pub Error);

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        WebError(e)
    }
}

pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message a client may see.
pub fn public_message(e: &Error) -> String {
    match e {
        Error::Internal(_) => "Ein interner Fehler ist aufgetreten.".into(),
        other => other.to_string(),
    }
}

/// A problem-details JSON body.
pub fn problem_json(e: &Error, request_id: &str) -> Response {
    let status = status_of(e);
    let mut body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": public_message(e),
        "request_id": request_id,
    });
    if let Error::Invalid(inv) = e {
        body["errors"] = json!(inv.problems);
    }
    let mut resp = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response();
    if let Error::TooManyRequests {
        retry_after_secs, ..
    } = e
        && let Ok(v) = retry_after_secs.to_string().parse()
    {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    resp
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let Error::Internal(msg) = &self.0 {
            tracing::error!(error = %msg, "internal error");
        }
        // The error page renderer (middleware) turns this marker into HTML or JSON depending on
        // the request; it needs the request's language, path and id, which are not known here.
        let status = status_of(&self.0);
        let mut resp = status.into_response();
        resp.extensions_mut()
            .insert(ErrorMarker(std::sync::Arc::new(self.0)));
        resp
    }
}

/// Carried on an error response until the middleware renders it.
#[derive(Clone, Debug)]
pub struct ErrorMarker(pub std::sync::Arc<Error>);
