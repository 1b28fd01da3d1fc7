//! The city's structure: districts as GeoJSON and org units (public information).

use super::ProblemDoc;
use crate::AppState;
use crate::error::WebResult;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/districts", get(districts))
        .route("/api/v1/org-units", get(org_units))
}

/// A GeoJSON FeatureCollection (RFC 7946) of the city's districts, in WGS 84.
#[derive(Serialize, ToSchema)]
pub struct DistrictCollection {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    #[schema(example = "FeatureCollection")]
    pub kind: String,
    pub features: Vec<DistrictFeature>,
}

/// One district as a GeoJSON Feature.
#[derive(Serialize, ToSchema)]
pub struct DistrictFeature {
    /// Always `Feature`.
    #[serde(rename = "type")]
    #[schema(example = "Feature")]
    pub kind: String,
    /// The district's official number.
    pub id: i64,
    pub properties: DistrictProperties,
    /// A GeoJSON Polygon or MultiPolygon.
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct DistrictProperties {
    pub number: i64,
    #[schema(example = "Innenstadt-West")]
    pub name: String,
    pub population: i64,
}

/// An organisational unit of the administration (an office such as the Tiefbauamt).
#[derive(Serialize, ToSchema)]
pub struct OrgUnit {
    pub id: i64,
    #[schema(example = "tiefbauamt")]
    pub key: String,
    #[schema(example = "Tiefbauamt")]
    pub name: String,
    pub parent_id: Option<i64>,
    pub address: String,
    pub email: String,
    pub phone: String,
    pub opening_hours: String,
    /// How accessible the office is in person (step-free access, lifts, ...).
    pub accessibility: String,
}

#[utoipa::path(
    get, path = "/api/v1/districts", tag = "city",
    summary = "Districts as GeoJSON",
    responses(
        (status = 200, description = "The districts, by number", body = DistrictCollection, content_type = "application/geo+json"),
        (status = 500, description = "Server error", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(())
)]
pub(super) async fn districts(State(state): State<AppState>) -> WebResult<Response> {
    let features = platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| DistrictFeature {
            kind: "Feature".into(),
            id: d.number,
            properties: DistrictProperties {
                number: d.number,
                name: d.name,
                population: d.population,
            },
            geometry: d.geometry.0,
        })
        .collect();
    let body = DistrictCollection {
        kind: "FeatureCollection".into(),
        features,
    };
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        axum::Json(body),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/org-units", tag = "city",
    summary = "Organisational units",
    responses(
        (status = 200, description = "All org units, by name", body = Vec<OrgUnit>),
        (status = 500, description = "Server error", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(())
)]
pub(super) async fn org_units(
    State(state): State<AppState>,
) -> WebResult<axum::Json<Vec<OrgUnit>>> {
    let units = platform::city::org_units(&state.env)
        .await?
        .into_iter()
        .map(|o| OrgUnit {
            id: o.id,
            key: o.key,
            name: o.name,
            parent_id: o.parent_id,
            address: o.address,
            email: o.email,
            phone: o.phone,
            opening_hours: o.opening_hours,
            accessibility: o.accessibility,
        })
        .collect();
    Ok(axum::Json(units))
}
