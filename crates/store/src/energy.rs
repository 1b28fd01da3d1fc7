//! Storage of the building-energy module: municipal buildings and their meters. The rules live
//! in `cityops::energy`; these are plain queries.

use crate::q::{Expr, ExprTrait, Order, Query, id};
use crate::{Db, Tx};
use chrono::{DateTime, Utc};
use kern::Result;

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Building {
    pub id: i64,
    pub name: String,
    pub district_number: Option<i64>,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Heated net floor area (m²).
    pub floor_area_m2: f64,
    /// `school`, `administration`, `daycare`, `pool`, `sports`, `culture`, `fire_station` or `other`.
    pub use_type: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_building(tx: &mut Tx, b: &Building) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("energy_buildings"))
                .columns(
                    [
                        "name",
                        "district_number",
                        "address",
                        "latitude",
                        "longitude",
                        "floor_area_m2",
                        "use_type",
                        "created_at",
                    ]
                    .map(id),
                )
                .values_panic([
                    b.name.clone().into(),
                    b.district_number.into(),
                    b.address.clone().into(),
                    b.latitude.into(),
                    b.longitude.into(),
                    b.floor_area_m2.into(),
                    b.use_type.clone().into(),
                    b.created_at.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn building_by_name(tx: &mut Tx, name: &str) -> Result<Option<Building>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("energy_buildings"))
            .and_where(Expr::col(id("name")).eq(name))
            .take(),
    )
    .await
}

pub async fn buildings(db: &Db) -> Result<Vec<Building>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("energy_buildings"))
            .order_by(id("name"), Order::Asc)
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Meter {
    pub id: i64,
    pub building_id: i64,
    pub name: String,
    /// `electricity`, `heat`, `gas`, `water` or `pv` (production).
    pub medium: String,
    /// SensorThings Datastream whose results are the consumption (production) per interval,
    /// in kWh (water: m³).
    pub datastream_id: Option<i64>,
    /// Electricity only: load (kW) the building can shift on request of the utility.
    pub flexible_kw: Option<f64>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_meter(tx: &mut Tx, m: &Meter) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("energy_meters"))
                .columns(
                    [
                        "building_id",
                        "name",
                        "medium",
                        "datastream_id",
                        "flexible_kw",
                        "created_at",
                    ]
                    .map(id),
                )
                .values_panic([
                    m.building_id.into(),
                    m.name.clone().into(),
                    m.medium.clone().into(),
                    m.datastream_id.into(),
                    m.flexible_kw.into(),
                    m.created_at.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn meters(db: &Db) -> Result<Vec<Meter>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("energy_meters"))
            .order_by(id("building_id"), Order::Asc)
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}
