//! The service catalog in the JSON API: list and search, one service, export (public); create,
//! change, delete (admins, the scope `services:write`, or staff of the service's org unit);
//! import from XZuFi 2.x XML or our JSON (admins or the scope).

use super::{ApiJson, ApiQuery, ProblemDoc, path_id};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use kern::Error;
use serde::{Deserialize, Serialize};
use services::catalog::{self, ServiceInput};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/services", get(list).post(create))
        .route("/api/v1/services/export", get(export))
        .route("/api/v1/services/import", post(import))
        .route("/api/v1/services/{id}", get(one).put(update).delete(remove))
}

#[derive(OpenApi)]
#[openapi(
    paths(list, one, create, update, remove, export, import),
    components(schemas(ServiceDoc, ServiceInputDoc, OrgUnitDoc, ServiceCreated, ImportReportDoc)),
    tags((name = "services", description = "Service catalog (Leistungen with LeiKa keys) of the city hall"))
)]
pub struct ServicesApi;

/// The responsible org unit of a service.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OrgUnitDoc {
    #[schema(example = "buergerdienste")]
    pub key: String,
    pub name: String,
    pub address: String,
    pub email: String,
    pub phone: String,
    pub opening_hours: String,
    /// Accessibility of the building.
    pub accessibility: String,
}

/// A service of the catalog.
#[derive(Serialize, ToSchema)]
pub struct ServiceDoc {
    pub id: i64,
    /// The 14-digit LeiKa key.
    #[schema(example = "99102013001000")]
    pub leika: String,
    #[schema(example = "Personalausweis beantragen")]
    pub name: String,
    pub description: String,
    pub documents: Vec<String>,
    pub fee_text: String,
    /// A fixed fee in cents, when the service has one.
    pub fee_cents: Option<i64>,
    pub legal_basis: Vec<String>,
    pub processing_time: String,
    pub online: bool,
    pub in_person: bool,
    pub keywords: String,
    /// Length of an appointment, minutes.
    pub duration_min: i64,
    pub org_unit: Option<OrgUnitDoc>,
    /// Search relevance, only in search results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

fn doc(s: catalog::Service, score: Option<f64>) -> ServiceDoc {
    ServiceDoc {
        id: s.id,
        leika: s.leika,
        name: s.name,
        description: s.description,
        documents: s.documents,
        fee_text: s.fee_text,
        fee_cents: s.fee_cents,
        legal_basis: s.legal_basis,
        processing_time: s.processing_time,
        online: s.online,
        in_person: s.in_person,
        keywords: s.keywords,
        duration_min: s.duration_min,
        org_unit: s.org_unit.map(|u| OrgUnitDoc {
            key: u.key,
            name: u.name,
            address: u.address,
            email: u.email,
            phone: u.phone,
            opening_hours: u.opening_hours,
            accessibility: u.accessibility,
        }),
        score: score.map(|x| (x * 1000.0).round() / 1000.0),
    }
}

/// A service to create or to store over an existing one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInputDoc {
    pub leika: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub documents: Vec<String>,
    #[serde(default)]
    pub fee_text: String,
    #[serde(default)]
    pub fee_cents: Option<i64>,
    #[serde(default)]
    pub legal_basis: Vec<String>,
    #[serde(default)]
    pub processing_time: String,
    #[serde(default)]
    pub online: bool,
    #[serde(default = "yes")]
    pub in_person: bool,
    /// Key of the responsible org unit.
    #[serde(default)]
    pub org_unit: Option<String>,
    #[serde(default)]
    pub keywords: String,
    #[serde(default)]
    pub duration_min: Option<i64>,
}

fn yes() -> bool {
    true
}

impl From<ServiceInputDoc> for ServiceInput {
    fn from(d: ServiceInputDoc) -> Self {
        ServiceInput {
            leika: d.leika,
            name: d.name,
            description: d.description,
            documents: d.documents,
            fee_text: d.fee_text,
            fee_cents: d.fee_cents,
            legal_basis: d.legal_basis,
            processing_time: d.processing_time,
            online: d.online,
            in_person: d.in_person,
            org_unit: d.org_unit,
            keywords: d.keywords,
            duration_min: d.duration_min,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ServiceCreated {
    pub id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ImportReportDoc {
    pub created: usize,
    pub updated: usize,
    pub org_units_created: usize,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Search words (German; stems, compound parts and small typos match). Without it, every
    /// service by name.
    pub q: Option<String>,
    /// At most this many results (1–200, default 50).
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    summary = "Search the service catalog, or list it (public)",
    params(SearchQuery),
    responses((status = 200, body = [ServiceDoc]), (status = 400, body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> WebResult<axum::Json<Vec<ServiceDoc>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(WebError(Error::invalid(
            "limit",
            "limit muss zwischen 1 und 200 liegen.",
        )));
    }
    let query = q.q.unwrap_or_default();
    if query.trim().is_empty() {
        let all = catalog::list(&state.env).await?;
        return Ok(axum::Json(
            all.into_iter().take(limit).map(|s| doc(s, None)).collect(),
        ));
    }
    let hits = catalog::search(&state.env, &query, limit).await?;
    Ok(axum::Json(
        hits.into_iter()
            .map(|h| doc(h.service, Some(h.score)))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "services",
    summary = "One service with its org unit (public)",
    params(("id" = i64, Path)),
    responses((status = 200, body = ServiceDoc), (status = 404, body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> WebResult<axum::Json<ServiceDoc>> {
    let id = path_id(&id, "Die Leistung")?;
    Ok(axum::Json(doc(catalog::get(&state.env, id).await?, None)))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "services",
    summary = "Add a service (staff of its org unit, admins, scope services:write)",
    request_body = ServiceInputDoc,
    responses(
        (status = 201, body = ServiceCreated),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(d): ApiJson<ServiceInputDoc>,
) -> WebResult<(StatusCode, axum::Json<ServiceCreated>)> {
    let id = catalog::create(&state.env, &ctx.actor(), d.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(ServiceCreated { id })))
}

#[utoipa::path(put, path = "/api/v1/services/{id}", tag = "services",
    summary = "Store a service over the existing one (staff of its org unit, admins, scope services:write)",
    params(("id" = i64, Path)),
    request_body = ServiceInputDoc,
    responses(
        (status = 204),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<ServiceInputDoc>,
) -> WebResult<StatusCode> {
    let id = path_id(&id, "Die Leistung")?;
    catalog::update(&state.env, &ctx.actor(), id, d.into()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/services/{id}", tag = "services",
    summary = "Delete a service (staff of its org unit, admins, scope services:write)",
    params(("id" = i64, Path)),
    responses(
        (status = 204),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<StatusCode> {
    let id = path_id(&id, "Die Leistung")?;
    catalog::delete(&state.env, &ctx.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/services/export", tag = "services",
    summary = "The whole catalog as JSON (format stadtkern-services/1; public)",
    responses((status = 200, content_type = "application/json", body = Object)),
    security(()))]
async fn export(State(state): State<AppState>) -> WebResult<axum::Json<serde_json::Value>> {
    Ok(axum::Json(catalog::export(&state.env).await?))
}

#[utoipa::path(post, path = "/api/v1/services/import", tag = "services",
    summary = "Import services from XZuFi 2.x XML (Content-Type application/xml) or from the JSON export (application/json); all or nothing (admins, scope services:write)",
    request_body(content = String, content_type = "application/xml"),
    responses(
        (status = 200, body = ImportReportDoc),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> WebResult<axum::Json<ImportReportDoc>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let r = match ct.as_str() {
        "application/json" => catalog::import_json(&state.env, &ctx.actor(), &body).await?,
        "application/xml" | "text/xml" => {
            catalog::import_xzufi(&state.env, &ctx.actor(), &body).await?
        }
        _ => {
            return Err(WebError(Error::invalid(
                "content_type",
                "Bitte senden Sie XZuFi als application/xml oder den JSON-Export als application/json.",
            )));
        }
    };
    Ok(axum::Json(ImportReportDoc {
        created: r.created,
        updated: r.updated,
        org_units_created: r.org_units_created,
    }))
}
