//! Reporting an accessibility barrier (public; limited per client address by the middleware).

use super::{ApiJson, ProblemDoc};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/feedback", post(submit))
}

/// A report about a barrier.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// The page or address concerned (optional).
    #[serde(default)]
    pub page: String,
    /// What the barrier is: 10 to 5000 characters.
    #[schema(example = "Die Karte der Baustellen lässt sich nicht mit der Tastatur bedienen.")]
    pub message: String,
    /// An e-mail address for questions (optional).
    #[serde(default)]
    pub contact: String,
}

/// The stored report.
#[derive(Serialize, ToSchema)]
pub struct FeedbackReceipt {
    pub id: i64,
    #[schema(example = "open")]
    pub status: String,
}

#[utoipa::path(
    post, path = "/api/v1/feedback", tag = "feedback",
    summary = "Report an accessibility barrier",
    request_body = NewFeedback,
    responses(
        (status = 201, description = "Stored", body = FeedbackReceipt),
        (status = 400, description = "Invalid input; `errors` lists the fields", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many reports from this address; see `Retry-After`", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(())
)]
pub(super) async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(body): ApiJson<NewFeedback>,
) -> WebResult<(StatusCode, axum::Json<FeedbackReceipt>)> {
    let id = platform::feedback::submit(
        &state.env,
        &ctx.actor(),
        platform::feedback::NewFeedback {
            page: body.page,
            message: body.message,
            contact: body.contact,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(FeedbackReceipt {
            id,
            status: "open".into(),
        }),
    ))
}
