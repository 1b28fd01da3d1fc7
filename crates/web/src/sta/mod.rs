//! The SensorThings API router at `/sta/v1.1`: thin handlers that pass the resource path, the
//! raw query and the body to `sensorthings::service` and write its answer as JSON. Errors use
//! the STA error document `{"code": 400, "type": "error", "message": "..."}`.

use crate::AppState;
use crate::ctx::Ctx;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use kern::Error;
use sensorthings::service::{self, PREFIX, Reply, UpdateMode};

mod mqtt_ws;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mqtt", axum::routing::get(mqtt_ws::upgrade))
        .route(PREFIX, any(handle))
        .route(&format!("{PREFIX}/"), any(handle))
        .route(&format!("{PREFIX}/{{*rest}}"), any(handle))
}

/// The STA error document for a domain error.
pub fn error_response(e: &Error) -> Response {
    if let Error::Internal(msg) = e {
        tracing::error!(error = %msg, "internal error in the SensorThings API");
    }
    let status = crate::error::status_of(e);
    let body = serde_json::json!({
        "code": status.as_u16(),
        "type": "error",
        "message": crate::error::public_message(e),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn reply(r: Reply) -> Response {
    match r {
        Reply::Json {
            status,
            body,
            location,
        } => {
            let mut resp = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
            if let Some(l) = location.and_then(|l| l.parse().ok()) {
                resp.headers_mut().insert(header::LOCATION, l);
            }
            resp
        }
        Reply::JsonText(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Reply::Text(t) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            t,
        )
            .into_response(),
        Reply::Empty(s) => StatusCode::from_u16(s)
            .unwrap_or(StatusCode::NO_CONTENT)
            .into_response(),
    }
}

async fn handle(
    State(state): State<AppState>,
    ctx: Result<Ctx, crate::WebError>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = match ctx {
        Ok(c) => c,
        Err(e) => return error_response(&e.0),
    };
    let env = &state.env;
    let actor = ctx.actor();
    let path = uri.path().strip_prefix(PREFIX).unwrap_or("");
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let query = uri.query().unwrap_or("");
    if method == Method::POST && path.trim_matches('/') == "$batch" {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // `changes` are what the batch committed (for after-commit hooks).
        return match sensorthings::batch::handle(env, &actor, ct, &body).await {
            Ok(b) => {
                state.sta.committed(&b.changes);
                (
                    StatusCode::from_u16(b.status).unwrap_or(StatusCode::OK),
                    [(header::CONTENT_TYPE, b.content_type)],
                    b.body,
                )
                    .into_response()
            }
            Err(e) => error_response(&e),
        };
    }
    let result = if path.trim_matches('/').is_empty() {
        if method == Method::GET {
            let mut body = service::root(env);
            sensorthings::mqtt::advertise(&mut body, &state.sta.endpoints());
            Ok(Reply::Json {
                status: 200,
                body,
                location: None,
            })
        } else {
            Err(Error::invalid("path", "the service root only answers GET"))
        }
    } else {
        match method {
            Method::GET => service::get_text(env, &actor, &path, query).await,
            Method::POST => service::post(env, &actor, &path, &body).await.map(|w| {
                state.sta.committed(&w.changes);
                w.reply
            }),
            Method::PATCH => {
                let json_patch = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json-patch+json"));
                let mode = if json_patch {
                    UpdateMode::JsonPatch
                } else {
                    UpdateMode::Merge
                };
                sensorthings::mqtt::update(env, &state.sta, &actor, &path, &body, mode)
                    .await
                    .map(|w| w.reply)
            }
            Method::PUT => sensorthings::mqtt::update(
                env,
                &state.sta,
                &actor,
                &path,
                &body,
                UpdateMode::Replace,
            )
            .await
            .map(|w| w.reply),
            Method::DELETE => service::delete(env, &actor, &path).await.map(|w| {
                state.sta.committed(&w.changes);
                w.reply
            }),
            _ => Err(Error::invalid(
                "method",
                format!("{method} is not supported"),
            )),
        }
    };
    match result {
        Ok(r) => reply(r),
        Err(e) => error_response(&e),
    }
}
