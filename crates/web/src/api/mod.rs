//! The platform's own JSON API under `/api/v1/` and its OpenAPI description at
//! `/api/openapi.json`.
//!
//! Machine clients authenticate with `Authorization: Bearer TOKEN`; a browser session counts
//! only for GET (see [`crate::ctx::bearer`]), so these paths need no CSRF token. Admin endpoints
//! need the scope `admin` (or a signed-in admin for reads): the platform functions check it.
//! Errors are RFC 9457 problem documents (the error middleware renders them for `/api/`);
//! validation errors list the offending fields under `errors`.
//!
//! Each module describes its endpoints in its own `#[derive(OpenApi)]` type and adds that
//! type's `openapi` function to [`PARTS`]; [`openapi`] merges them into one document.

mod audit;
mod cases;
mod city;
mod cityops;
mod energy;
mod feedback;
mod identity;
mod lighting;
mod services;

use crate::error::WebError;
use crate::{AppState, WebResult};
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kern::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApiBuilder};

/// The API descriptions of all modules, merged by [`openapi`]. A module with its own endpoints
/// appends `<ItsApi as utoipa::OpenApi>::openapi` here.
pub const PARTS: &[fn() -> openapi::OpenApi] = &[
    FoundationApi::openapi,
    cityops::CityopsApi::openapi,
    lighting::LightingApi::openapi,
    energy::EnergyApi::openapi,
    services::ServicesApi::openapi,
    cases::CasesApi::openapi,
];

/// The name of the bearer security scheme every protected operation refers to.
pub const BEARER: &str = "bearer";

/// The routes of the JSON API and of its description.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .merge(identity::router())
        .merge(city::router())
        .merge(audit::router())
        .merge(feedback::router())
        .merge(cityops::router())
        .merge(lighting::router())
        .merge(energy::router())
        .merge(services::router())
        .merge(cases::router())
}

/// The whole OpenAPI 3.1 document: the common frame plus every part in [`PARTS`].
pub fn openapi() -> openapi::OpenApi {
    openapi_with(PARTS.iter().map(|part| part()))
}

/// The common frame (title, version, licence, the bearer scheme) merged with the given parts.
pub fn openapi_with(parts: impl IntoIterator<Item = openapi::OpenApi>) -> openapi::OpenApi {
    let info = InfoBuilder::new()
        .title("Stadtkern API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The JSON API of the Stadtkern digital-city platform. Authenticate with \
             `Authorization: Bearer TOKEN` (tokens are created by an administrator); a browser \
             session is accepted for GET requests. Errors are RFC 9457 problem documents.",
        ))
        .license(Some(
            LicenseBuilder::new()
                .name("EUPL-1.2")
                .identifier(Some("EUPL-1.2"))
                .build(),
        ))
        .build();
    let components = ComponentsBuilder::new()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token, shown once when it is created."))
                    .build(),
            ),
        )
        .build();
    let mut doc = OpenApiBuilder::new()
        .info(info)
        .components(Some(components))
        .build();
    for part in parts {
        doc.merge(part);
    }
    doc
}

async fn openapi_json() -> Response {
    axum::Json(openapi()).into_response()
}

/// The API of the foundation: identity, accounts, tokens, audit, city structure, feedback.
#[derive(OpenApi)]
#[openapi(
    paths(
        identity::me,
        identity::list_users,
        identity::create_user,
        identity::get_user,
        identity::list_tokens,
        identity::create_token,
        identity::revoke_token,
        city::districts,
        city::org_units,
        audit::list,
        audit::verify,
        feedback::submit,
    ),
    components(schemas(ProblemDoc, FieldProblem)),
    tags(
        (name = "identity", description = "Who is calling, accounts and API tokens"),
        (name = "city", description = "The city's structure: districts and organisational units"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "feedback", description = "Reports about accessibility barriers (BITV NRW)"),
    )
)]
pub struct FoundationApi;

/// An RFC 9457 problem document.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: String,
    #[schema(example = "Bad Request")]
    pub title: String,
    #[schema(example = 400)]
    pub status: u16,
    pub detail: String,
    /// Quote this when asking for help: it finds the request in the server's logs.
    pub request_id: String,
    /// For validation errors: each problem and the field it concerns.
    pub errors: Option<Vec<FieldProblem>>,
}

/// One validation problem.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pub field: Option<String>,
    pub message: String,
}

/// A JSON request body whose errors become problem documents (400 with the reason) instead of
/// axum's plain-text rejections.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(WebError(Error::invalid("body", rejection.body_text()))),
        }
    }
}

/// Query parameters whose errors become problem documents.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(WebError(Error::invalid("query", rejection.body_text()))),
        }
    }
}

/// Ids in paths: anything that is not a number names nothing.
pub fn path_id(raw: &str, what: &str) -> WebResult<i64> {
    raw.parse::<i64>()
        .map_err(|_| WebError(Error::not_found(format!("{what} {raw} gibt es nicht."))))
}
