//! Online applications in the JSON API, for apps (the BürgerApp) and back-office systems:
//! a service's form definition (public), the status of one application with reference and
//! access code in the request body (never in the URL), and the case files as staff see them
//! (staff of the case's org unit, admins, admin tokens) or as the applicant sees their own
//! (signed in).

use super::{ApiJson, ProblemDoc, path_id};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kern::Error;
use serde::{Deserialize, Serialize};
use services::cases::{self, CaseLine, CaseView};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/services/{id}/form", get(form))
        .route("/api/v1/applications/status", post(status))
        .route("/api/v1/cases", get(list))
        .route("/api/v1/cases/{id}", get(one))
}

#[derive(OpenApi)]
#[openapi(
    paths(form, status, list, one),
    components(schemas(FormDoc, StatusRequest, ApplicationDoc, EventDoc, DocumentDoc, InvoiceDoc, LabelDoc, CaseLineDoc)),
    tags((name = "applications", description = "Online applications and their case files (eAkte)"))
)]
pub struct CasesApi;

/// The online form of a service: its definition (schema, layout, attachments, fee, workflow),
/// as documented for administrators.
#[derive(Serialize, ToSchema)]
pub struct FormDoc {
    pub service_id: i64,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

/// Reference and access code of an application, as the applicant received them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[schema(example = "A-7KQ2M9XD")]
    pub reference: String,
    pub code: String,
}

/// A text in German with an optional English translation.
#[derive(Serialize, ToSchema)]
pub struct LabelDoc {
    pub de: String,
    pub en: Option<String>,
}

/// One entry of a case's history.
#[derive(Serialize, ToSchema)]
pub struct EventDoc {
    pub at: DateTime<Utc>,
    /// submitted, status, message, reply, document, payment, decision, … (staff also: note, assigned, deadline).
    pub kind: String,
    pub text: String,
    /// Whether the applicant sees it.
    pub public: bool,
}

/// A document of the case file (the content is downloaded through the pages).
#[derive(Serialize, ToSchema)]
pub struct DocumentDoc {
    pub id: i64,
    pub title: String,
    pub version: i64,
    pub media_type: String,
    pub size: i64,
    pub created_at: DateTime<Utc>,
}

/// An invoice of the case.
#[derive(Serialize, ToSchema)]
pub struct InvoiceDoc {
    /// The ISO 11649 remittance reference to give with a bank transfer.
    pub reference: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    /// open, paid.
    pub status: String,
    pub iban: String,
    pub bic: String,
    pub creditor_name: String,
}

/// An application as its applicant sees it, or, for staff, the whole case file.
#[derive(Serialize, ToSchema)]
pub struct ApplicationDoc {
    pub id: i64,
    pub reference: String,
    pub service_id: i64,
    pub service_name: String,
    /// received, in_review, missing_documents, decided, closed.
    pub status: String,
    /// The service's own name of the state, if its workflow gives one.
    pub status_label: Option<LabelDoc>,
    /// approved or rejected, once decided.
    pub decision: Option<String>,
    pub applicant_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Staff only: the processing deadline (`YYYY-MM-DD`).
    pub deadline: Option<String>,
    /// Label and value of every answer, in form order.
    pub answers: Vec<(String, String)>,
    pub history: Vec<EventDoc>,
    pub documents: Vec<DocumentDoc>,
    pub invoices: Vec<InvoiceDoc>,
}

fn application(v: CaseView) -> ApplicationDoc {
    ApplicationDoc {
        id: v.id,
        reference: v.reference,
        service_id: v.service_id,
        service_name: v.service_name,
        status: v.status,
        status_label: v.status_text.map(|t| LabelDoc { de: t.de, en: t.en }),
        decision: v.decision,
        applicant_name: v.applicant_name,
        created_at: v.created_at,
        updated_at: v.updated_at,
        deadline: v.deadline,
        answers: v.answers,
        history: v
            .events
            .into_iter()
            .map(|e| EventDoc {
                at: e.at,
                kind: e.kind,
                text: e.body,
                public: e.public,
            })
            .collect(),
        documents: v
            .documents
            .into_iter()
            .map(|d| DocumentDoc {
                id: d.id,
                title: d.title,
                version: d.version,
                media_type: d.media_type,
                size: d.size,
                created_at: d.created_at,
            })
            .collect(),
        invoices: v
            .invoices
            .into_iter()
            .map(|i| InvoiceDoc {
                reference: i.reference,
                amount_cents: i.amount_cents,
                paid_cents: i.paid_cents,
                status: i.status,
                iban: i.iban,
                bic: i.bic,
                creditor_name: i.creditor_name,
            })
            .collect(),
    }
}

/// A case in the staff inbox.
#[derive(Serialize, ToSchema)]
pub struct CaseLineDoc {
    pub id: i64,
    pub reference: String,
    pub service_name: String,
    pub status: String,
    pub applicant_name: String,
    pub assignee_id: Option<i64>,
    pub deadline: Option<String>,
    /// Filed by staff on the applicant's behalf.
    pub assisted: bool,
    pub created_at: DateTime<Utc>,
}

fn line(c: CaseLine) -> CaseLineDoc {
    CaseLineDoc {
        id: c.id,
        reference: c.reference,
        service_name: c.service_name,
        status: c.status,
        applicant_name: c.applicant_name,
        assignee_id: c.assignee_id,
        deadline: c.deadline,
        assisted: c.assisted,
        created_at: c.created_at,
    }
}

#[utoipa::path(get, path = "/api/v1/services/{id}/form", tag = "applications",
    summary = "The online form of a service (public)",
    params(("id" = i64, Path)),
    responses((status = 200, body = FormDoc), (status = 404, body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
async fn form(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> WebResult<axum::Json<FormDoc>> {
    let id = path_id(&id, "Die Leistung")?;
    let (f, def) = cases::form_of(&state.env, id).await?.ok_or_else(|| {
        WebError(Error::not_found(
            "Für diese Leistung gibt es kein Online-Formular.",
        ))
    })?;
    Ok(axum::Json(FormDoc {
        service_id: id,
        definition: serde_json::to_value(def).map_err(|e| WebError(Error::internal(e)))?,
        updated_at: f.updated_at,
    }))
}

#[utoipa::path(post, path = "/api/v1/applications/status", tag = "applications",
    summary = "The status of one application, with reference and access code (public; wrong codes are throttled)",
    request_body = StatusRequest,
    responses(
        (status = 200, body = ApplicationDoc),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(()))]
async fn status(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(r): ApiJson<StatusRequest>,
) -> WebResult<axum::Json<ApplicationDoc>> {
    let v = cases::view_with_secret(&state.env, &ctx.actor(), &r.reference, &r.code).await?;
    Ok(axum::Json(application(v)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only cases in this state.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cases", tag = "applications",
    summary = "The case inbox: cases of the caller's org units (staff), all cases (admins)",
    params(ListQuery),
    responses(
        (status = 200, body = [CaseLineDoc]),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> WebResult<axum::Json<Vec<CaseLineDoc>>> {
    if let Some(s) = q.status.as_deref()
        && !cases::STATES.contains(&s)
    {
        return Err(WebError(Error::invalid(
            "status",
            format!(
                "Den Bearbeitungsstand „{s}“ gibt es nicht (received, in_review, missing_documents, decided, closed)."
            ),
        )));
    }
    let lines = cases::inbox(&state.env, &ctx.actor(), q.status.as_deref()).await?;
    Ok(axum::Json(lines.into_iter().map(line).collect()))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "applications",
    summary = "One case: the whole file for staff of its org unit and admins, the public parts for its signed-in applicant",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = ApplicationDoc),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<axum::Json<ApplicationDoc>> {
    let id = path_id(&id, "Der Vorgang")?;
    Ok(axum::Json(application(
        cases::view(&state.env, &ctx.actor(), id).await?,
    )))
}
