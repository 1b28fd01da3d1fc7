//! Storage of the city-operations module: streets, roadworks permits, their conflicts, area
//! subscriptions. The rules live in the `cityops` crate; these are plain queries.

use crate::q::{Cond, Expr, ExprTrait, Order, Query, id};
use crate::{Db, Tx};
use chrono::{DateTime, Utc};
use kern::{Error, Result};
use sea_query::{OnConflict, SimpleExpr};

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

// ---- streets ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Street {
    pub id: i64,
    pub name: String,
    pub district_number: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_street(
    tx: &mut Tx,
    name: &str,
    district_number: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("cityops_streets"))
                .columns(["name", "district_number", "created_at"].map(id))
                .values_panic([name.into(), district_number.into(), now.into()])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn streets(db: &Db) -> Result<Vec<Street>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_streets"))
            .order_by(id("name"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn street_by_name(tx: &mut Tx, name: &str) -> Result<Option<Street>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_streets"))
            .and_where(Expr::col(id("name")).eq(name))
            .take(),
    )
    .await
}

pub async fn street(tx: &mut Tx, street_id: i64) -> Result<Option<Street>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_streets"))
            .and_where(Expr::col(id("id")).eq(street_id))
            .take(),
    )
    .await
}

/// Deletes a street; refused (conflict) while a roadworks permit names it.
pub async fn delete_street(tx: &mut Tx, street_id: i64) -> Result<()> {
    let n = tx
        .execute(
            &Query::delete()
                .from_table(id("cityops_streets"))
                .and_where(Expr::col(id("id")).eq(street_id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Straße nicht gefunden."))
    } else {
        Ok(())
    }
}

// ---- roadworks ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Roadworks {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub street_id: i64,
    pub street_name: String,
    pub district_number: Option<i64>,
    /// GeoJSON geometry (LineString or Polygon, WGS 84) as text.
    pub geometry: String,
    /// GeoJSON LineString of the detour, as text.
    pub detour: Option<String>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub working_hours: String,
    pub closure: String,
    pub applicant_org: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub status: String,
    pub decision_note: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

const RW_COLUMNS: [&str; 20] = [
    "title",
    "description",
    "street_id",
    "street_name",
    "district_number",
    "geometry",
    "detour",
    "period_start",
    "period_end",
    "working_hours",
    "closure",
    "applicant_org",
    "contact_name",
    "contact_email",
    "contact_phone",
    "status",
    "decision_note",
    "created_at",
    "updated_at",
    "closed_at",
];

fn rw_values(r: &Roadworks) -> [SimpleExpr; 20] {
    [
        r.title.clone().into(),
        r.description.clone().into(),
        r.street_id.into(),
        r.street_name.clone().into(),
        r.district_number.into(),
        r.geometry.clone().into(),
        r.detour.clone().into(),
        r.period_start.into(),
        r.period_end.into(),
        r.working_hours.clone().into(),
        r.closure.clone().into(),
        r.applicant_org.clone().into(),
        r.contact_name.clone().into(),
        r.contact_email.clone().into(),
        r.contact_phone.clone().into(),
        r.status.clone().into(),
        r.decision_note.clone().into(),
        r.created_at.into(),
        r.updated_at.into(),
        r.closed_at.into(),
    ]
}

/// Inserts a permit (its `id` is ignored) and returns the new id.
pub async fn insert_roadworks(tx: &mut Tx, r: &Roadworks) -> Result<i64> {
    let row: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("cityops_roadworks"))
                .columns(RW_COLUMNS.map(id))
                .values_panic(rw_values(r))
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(row.id)
}

/// Writes every column of the permit `r.id` (except `created_at`).
pub async fn update_roadworks(tx: &mut Tx, r: &Roadworks) -> Result<()> {
    let values: Vec<_> = RW_COLUMNS
        .iter()
        .zip(rw_values(r))
        .filter(|(c, _)| **c != "created_at")
        .map(|(c, v)| (id(c), v))
        .collect();
    let n = tx
        .execute(
            &Query::update()
                .table(id("cityops_roadworks"))
                .values(values)
                .and_where(Expr::col(id("id")).eq(r.id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Baustelle nicht gefunden."))
    } else {
        Ok(())
    }
}

pub async fn roadworks(db: &Db, works_id: i64) -> Result<Option<Roadworks>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_roadworks"))
            .and_where(Expr::col(id("id")).eq(works_id))
            .take(),
    )
    .await
}

pub async fn roadworks_tx(tx: &mut Tx, works_id: i64) -> Result<Option<Roadworks>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_roadworks"))
            .and_where(Expr::col(id("id")).eq(works_id))
            .take(),
    )
    .await
}

/// Every permit, optionally only those in the given states, by start.
pub async fn all_roadworks(db: &Db, states: &[&str]) -> Result<Vec<Roadworks>> {
    let mut q = Query::select()
        .column(sea_query::Asterisk)
        .from(id("cityops_roadworks"))
        .order_by(id("period_start"), Order::Asc)
        .order_by(id("id"), Order::Asc)
        .take();
    if !states.is_empty() {
        q.and_where(Expr::col(id("status")).is_in(states.iter().copied()));
    }
    db.fetch_all(&q).await
}

/// Every permit except `except`, inside the transaction (for conflict detection).
pub async fn other_roadworks_tx(tx: &mut Tx, except: i64) -> Result<Vec<Roadworks>> {
    tx.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_roadworks"))
            .and_where(Expr::col(id("id")).ne(except))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

// ---- conflicts ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Conflict {
    pub id: i64,
    pub works_id: i64,
    pub other_id: i64,
    pub kind: String,
    pub detail: String,
    pub detected_at: DateTime<Utc>,
}

/// Replaces every conflict that involves `works_id` (on either side) with `found`
/// (other id, kind, detail), each stored once with `works_id` on the first side.
pub async fn replace_conflicts(
    tx: &mut Tx,
    works_id: i64,
    found: &[(i64, String, String)],
    now: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        &Query::delete()
            .from_table(id("cityops_conflicts"))
            .cond_where(
                Cond::any()
                    .add(Expr::col(id("works_id")).eq(works_id))
                    .add(Expr::col(id("other_id")).eq(works_id)),
            )
            .take(),
    )
    .await?;
    for (other, kind, detail) in found {
        tx.execute(
            &Query::insert()
                .into_table(id("cityops_conflicts"))
                .columns(["works_id", "other_id", "kind", "detail", "detected_at"].map(id))
                .values_panic([
                    works_id.into(),
                    (*other).into(),
                    kind.clone().into(),
                    detail.clone().into(),
                    now.into(),
                ])
                .take(),
        )
        .await?;
    }
    Ok(())
}

/// Every stored conflict.
pub async fn conflicts(db: &Db) -> Result<Vec<Conflict>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_conflicts"))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

/// The conflicts that involve `works_id` on either side.
pub async fn conflicts_of(db: &Db, works_id: i64) -> Result<Vec<Conflict>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_conflicts"))
            .cond_where(
                Cond::any()
                    .add(Expr::col(id("works_id")).eq(works_id))
                    .add(Expr::col(id("other_id")).eq(works_id)),
            )
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

// ---- subscriptions ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Subscription {
    pub id: i64,
    pub email: String,
    /// `district` or `circle`.
    pub area_kind: String,
    pub district_number: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub radius_m: Option<f64>,
    #[serde(skip)]
    pub salt: String,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_subscription(
    tx: &mut Tx,
    email: &str,
    area_kind: &str,
    district_number: Option<i64>,
    circle: Option<(f64, f64, f64)>,
    salt: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("cityops_subscriptions"))
                .columns(
                    [
                        "email",
                        "area_kind",
                        "district_number",
                        "latitude",
                        "longitude",
                        "radius_m",
                        "salt",
                        "token_hash",
                        "created_at",
                    ]
                    .map(id),
                )
                .values_panic([
                    email.into(),
                    area_kind.into(),
                    district_number.into(),
                    circle.map(|c| c.0).into(),
                    circle.map(|c| c.1).into(),
                    circle.map(|c| c.2).into(),
                    salt.into(),
                    token_hash.into(),
                    now.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn subscription_by_token_hash(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<Subscription>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_subscriptions"))
            .and_where(Expr::col(id("token_hash")).eq(token_hash))
            .take(),
    )
    .await
}

pub async fn confirm_subscription(tx: &mut Tx, sub_id: i64, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        &Query::update()
            .table(id("cityops_subscriptions"))
            .value(id("confirmed_at"), now)
            .and_where(Expr::col(id("id")).eq(sub_id))
            .take(),
    )
    .await
    .map(|_| ())
}

pub async fn delete_subscription(tx: &mut Tx, sub_id: i64) -> Result<()> {
    tx.execute(
        &Query::delete()
            .from_table(id("cityops_subscriptions"))
            .and_where(Expr::col(id("id")).eq(sub_id))
            .take(),
    )
    .await
    .map(|_| ())
}

pub async fn confirmed_subscriptions(tx: &mut Tx) -> Result<Vec<Subscription>> {
    tx.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_subscriptions"))
            .and_where(Expr::col(id("confirmed_at")).is_not_null())
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn subscriptions(db: &Db) -> Result<Vec<Subscription>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_subscriptions"))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

/// Records that `sub_id` was told about `works_id`; false when it already was.
pub async fn record_notice(
    tx: &mut Tx,
    sub_id: i64,
    works_id: i64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = tx
        .execute(
            &Query::insert()
                .into_table(id("cityops_notices"))
                .columns(["subscription_id", "works_id", "sent_at"].map(id))
                .values_panic([sub_id.into(), works_id.into(), now.into()])
                .on_conflict(
                    OnConflict::columns([id("subscription_id"), id("works_id")])
                        .do_nothing()
                        .to_owned(),
                )
                .take(),
        )
        .await?;
    Ok(n > 0)
}

// ---- parking ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Parking {
    pub id: i64,
    pub name: String,
    /// `car_park` or `on_street`.
    pub kind: String,
    pub district_number: Option<i64>,
    pub latitude: f64,
    pub longitude: f64,
    pub capacity: i64,
    pub tariffs: String,
    pub opening_hours: String,
    /// A SensorThings Datastream whose results are the occupied spaces.
    pub datastream_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_parking(tx: &mut Tx, p: &Parking) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("cityops_parking"))
                .columns(
                    [
                        "name",
                        "kind",
                        "district_number",
                        "latitude",
                        "longitude",
                        "capacity",
                        "tariffs",
                        "opening_hours",
                        "datastream_id",
                        "created_at",
                    ]
                    .map(id),
                )
                .values_panic([
                    p.name.clone().into(),
                    p.kind.clone().into(),
                    p.district_number.into(),
                    p.latitude.into(),
                    p.longitude.into(),
                    p.capacity.into(),
                    p.tariffs.clone().into(),
                    p.opening_hours.clone().into(),
                    p.datastream_id.into(),
                    p.created_at.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn parking_by_name(tx: &mut Tx, name: &str) -> Result<Option<Parking>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_parking"))
            .and_where(Expr::col(id("name")).eq(name))
            .take(),
    )
    .await
}

pub async fn parkings(db: &Db) -> Result<Vec<Parking>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_parking"))
            .order_by(id("name"), Order::Asc)
            .take(),
    )
    .await
}

// ---- traffic ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CountingStation {
    pub id: i64,
    pub name: String,
    pub district_number: Option<i64>,
    /// The road segment the station measures.
    pub segment: String,
    pub free_flow_kmh: f64,
    /// Vehicles per hour and direction at which the segment is saturated.
    pub capacity_veh_h: f64,
    pub speed_datastream_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct StationStream {
    pub id: i64,
    pub station_id: i64,
    /// `car`, `bicycle` or `pedestrian`.
    pub mode: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub datastream_id: i64,
}

pub async fn insert_station(
    tx: &mut Tx,
    s: &CountingStation,
    streams: &[(String, String, i64)],
) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("cityops_counting_stations"))
                .columns(
                    [
                        "name",
                        "district_number",
                        "segment",
                        "free_flow_kmh",
                        "capacity_veh_h",
                        "speed_datastream_id",
                        "created_at",
                    ]
                    .map(id),
                )
                .values_panic([
                    s.name.clone().into(),
                    s.district_number.into(),
                    s.segment.clone().into(),
                    s.free_flow_kmh.into(),
                    s.capacity_veh_h.into(),
                    s.speed_datastream_id.into(),
                    s.created_at.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    for (mode, direction, ds) in streams {
        tx.execute(
            &Query::insert()
                .into_table(id("cityops_station_streams"))
                .columns(["station_id", "mode", "direction", "datastream_id"].map(id))
                .values_panic([
                    r.id.into(),
                    mode.clone().into(),
                    direction.clone().into(),
                    (*ds).into(),
                ])
                .take(),
        )
        .await?;
    }
    Ok(r.id)
}

pub async fn stations(db: &Db) -> Result<Vec<CountingStation>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_counting_stations"))
            .order_by(id("name"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn station_streams(db: &Db) -> Result<Vec<StationStream>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("cityops_station_streams"))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}
