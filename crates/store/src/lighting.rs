//! Storage of the street-lighting module: schedules with calendar overrides, circuits (with
//! their controller), poles, luminaires and maintenance orders. The rules live in
//! `cityops::lighting`; these are plain queries.

use crate::q::{Expr, ExprTrait, Order as Sort, Query, id};
use crate::rows::insert;
use crate::{Db, Tx};
use chrono::{DateTime, Utc};
use kern::{Error, Result};

// ---- schedules ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    /// `sunset` or `civil_dusk`.
    pub on_event: String,
    /// Minutes after (positive) or before (negative) the event.
    pub on_offset_min: i64,
    /// `sunrise` or `civil_dawn`.
    pub off_event: String,
    pub off_offset_min: i64,
    /// Local time `HH:MM` the dimming starts; none without dimming.
    pub dim_start: Option<String>,
    pub dim_end: Option<String>,
    /// Light level while dimmed, in per cent of full power (100 = no dimming).
    pub dim_percent: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_schedule(tx: &mut Tx, s: &Schedule) -> Result<i64> {
    insert(
        tx,
        "lighting_schedules",
        &[
            "name",
            "on_event",
            "on_offset_min",
            "off_event",
            "off_offset_min",
            "dim_start",
            "dim_end",
            "dim_percent",
            "created_at",
        ],
        vec![
            s.name.clone().into(),
            s.on_event.clone().into(),
            s.on_offset_min.into(),
            s.off_event.clone().into(),
            s.off_offset_min.into(),
            s.dim_start.clone().into(),
            s.dim_end.clone().into(),
            s.dim_percent.into(),
            s.created_at.into(),
        ],
    )
    .await
}

pub async fn schedules(db: &Db) -> Result<Vec<Schedule>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_schedules"))
            .order_by(id("name"), Sort::Asc)
            .take(),
    )
    .await
}

pub async fn schedule_by_name(tx: &mut Tx, name: &str) -> Result<Option<Schedule>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_schedules"))
            .and_where(Expr::col(id("name")).eq(name))
            .take(),
    )
    .await
}

// ---- calendar overrides ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Override {
    pub id: i64,
    pub schedule_id: i64,
    /// The calendar day `YYYY-MM-DD` (local) on whose evening the override applies.
    pub day: String,
    pub label: String,
    /// `holiday` or `event`.
    pub kind: String,
    pub dim_start: Option<String>,
    pub dim_end: Option<String>,
    pub dim_percent: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_override(tx: &mut Tx, o: &Override) -> Result<i64> {
    insert(
        tx,
        "lighting_overrides",
        &[
            "schedule_id",
            "day",
            "label",
            "kind",
            "dim_start",
            "dim_end",
            "dim_percent",
            "created_at",
        ],
        vec![
            o.schedule_id.into(),
            o.day.clone().into(),
            o.label.clone().into(),
            o.kind.clone().into(),
            o.dim_start.clone().into(),
            o.dim_end.clone().into(),
            o.dim_percent.into(),
            o.created_at.into(),
        ],
    )
    .await
}

pub async fn overrides(db: &Db) -> Result<Vec<Override>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_overrides"))
            .order_by(id("day"), Sort::Asc)
            .take(),
    )
    .await
}

pub async fn override_on(tx: &mut Tx, schedule_id: i64, day: &str) -> Result<Option<Override>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_overrides"))
            .and_where(Expr::col(id("schedule_id")).eq(schedule_id))
            .and_where(Expr::col(id("day")).eq(day))
            .take(),
    )
    .await
}

pub async fn delete_override(tx: &mut Tx, override_id: i64) -> Result<()> {
    let n = tx
        .execute(
            &Query::delete()
                .from_table(id("lighting_overrides"))
                .and_where(Expr::col(id("id")).eq(override_id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Diese Kalenderausnahme gibt es nicht."))
    } else {
        Ok(())
    }
}

// ---- circuits, poles, luminaires ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Circuit {
    pub id: i64,
    pub name: String,
    pub district_number: Option<i64>,
    /// The switch cabinet (Schaltschrank) feeding the circuit.
    pub cabinet: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Serial number of the circuit's controller.
    pub controller_serial: String,
    /// SensorThings Datastream of the circuit's electrical power (W).
    pub power_datastream_id: Option<i64>,
    /// SensorThings Datastream of the switch state (true = on).
    pub switch_datastream_id: Option<i64>,
    pub schedule_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_circuit(tx: &mut Tx, c: &Circuit) -> Result<i64> {
    insert(
        tx,
        "lighting_circuits",
        &[
            "name",
            "district_number",
            "cabinet",
            "latitude",
            "longitude",
            "controller_serial",
            "power_datastream_id",
            "switch_datastream_id",
            "schedule_id",
            "created_at",
        ],
        vec![
            c.name.clone().into(),
            c.district_number.into(),
            c.cabinet.clone().into(),
            c.latitude.into(),
            c.longitude.into(),
            c.controller_serial.clone().into(),
            c.power_datastream_id.into(),
            c.switch_datastream_id.into(),
            c.schedule_id.into(),
            c.created_at.into(),
        ],
    )
    .await
}

pub async fn circuits(db: &Db) -> Result<Vec<Circuit>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_circuits"))
            .order_by(id("name"), Sort::Asc)
            .take(),
    )
    .await
}

pub async fn circuit_by_name(tx: &mut Tx, name: &str) -> Result<Option<Circuit>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_circuits"))
            .and_where(Expr::col(id("name")).eq(name))
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Pole {
    pub id: i64,
    /// The pole number painted on the pole (Mastnummer), unique in the city.
    pub number: String,
    pub circuit_id: i64,
    pub street: String,
    pub latitude: f64,
    pub longitude: f64,
    pub height_m: Option<f64>,
    /// `YYYY-MM-DD`.
    pub installed_on: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_pole(tx: &mut Tx, p: &Pole) -> Result<i64> {
    insert(
        tx,
        "lighting_poles",
        &[
            "number",
            "circuit_id",
            "street",
            "latitude",
            "longitude",
            "height_m",
            "installed_on",
            "created_at",
        ],
        vec![
            p.number.clone().into(),
            p.circuit_id.into(),
            p.street.clone().into(),
            p.latitude.into(),
            p.longitude.into(),
            p.height_m.into(),
            p.installed_on.clone().into(),
            p.created_at.into(),
        ],
    )
    .await
}

pub async fn poles(db: &Db) -> Result<Vec<Pole>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_poles"))
            .order_by(id("number"), Sort::Asc)
            .take(),
    )
    .await
}

pub async fn pole_by_number(tx: &mut Tx, number: &str) -> Result<Option<Pole>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_poles"))
            .and_where(Expr::col(id("number")).eq(number))
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Luminaire {
    pub id: i64,
    pub pole_id: i64,
    /// `led`, `sodium`, `mercury`, `metal_halide` or `fluorescent`.
    pub lamp_type: String,
    /// Rated power in watts (including the ballast or driver).
    pub wattage: f64,
    pub installed_on: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_luminaire(tx: &mut Tx, l: &Luminaire) -> Result<i64> {
    insert(
        tx,
        "lighting_luminaires",
        &[
            "pole_id",
            "lamp_type",
            "wattage",
            "installed_on",
            "created_at",
        ],
        vec![
            l.pole_id.into(),
            l.lamp_type.clone().into(),
            l.wattage.into(),
            l.installed_on.clone().into(),
            l.created_at.into(),
        ],
    )
    .await
}

pub async fn luminaires(db: &Db) -> Result<Vec<Luminaire>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_luminaires"))
            .order_by(id("id"), Sort::Asc)
            .take(),
    )
    .await
}

// ---- maintenance orders ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MaintenanceOrder {
    pub id: i64,
    pub circuit_id: Option<i64>,
    pub pole_id: Option<i64>,
    /// `telemetry`, `resident` or `staff`.
    pub source: String,
    /// `day_burner`, `dark`, `power_deviation`, `silent`, `resident_report` or `other`.
    pub kind: String,
    pub description: String,
    /// `open`, `assigned`, `in_progress`, `done` or `cancelled`.
    pub state: String,
    pub assignee: String,
    /// Only when a resident asked for feedback; erased when the order is closed.
    pub reporter_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub async fn insert_order(tx: &mut Tx, o: &MaintenanceOrder) -> Result<i64> {
    insert(
        tx,
        "lighting_orders",
        &[
            "circuit_id",
            "pole_id",
            "source",
            "kind",
            "description",
            "state",
            "assignee",
            "reporter_email",
            "created_at",
            "updated_at",
            "closed_at",
        ],
        vec![
            o.circuit_id.into(),
            o.pole_id.into(),
            o.source.clone().into(),
            o.kind.clone().into(),
            o.description.clone().into(),
            o.state.clone().into(),
            o.assignee.clone().into(),
            o.reporter_email.clone().into(),
            o.created_at.into(),
            o.updated_at.into(),
            o.closed_at.into(),
        ],
    )
    .await
}

/// Writes state, assignee, reporter e-mail and the time stamps of order `o.id`.
pub async fn update_order(tx: &mut Tx, o: &MaintenanceOrder) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("lighting_orders"))
                .values([
                    (id("state"), o.state.clone().into()),
                    (id("assignee"), o.assignee.clone().into()),
                    (id("reporter_email"), o.reporter_email.clone().into()),
                    (id("updated_at"), o.updated_at.into()),
                    (id("closed_at"), o.closed_at.into()),
                ])
                .and_where(Expr::col(id("id")).eq(o.id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Diesen Wartungsauftrag gibt es nicht."))
    } else {
        Ok(())
    }
}

pub async fn order(tx: &mut Tx, order_id: i64) -> Result<Option<MaintenanceOrder>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_orders"))
            .and_where(Expr::col(id("id")).eq(order_id))
            .take(),
    )
    .await
}

/// All orders, newest first.
pub async fn orders(db: &Db) -> Result<Vec<MaintenanceOrder>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_orders"))
            .order_by(id("id"), Sort::Desc)
            .take(),
    )
    .await
}

/// Open orders (not done, not cancelled) of a circuit and kind.
pub async fn open_orders_of(
    tx: &mut Tx,
    circuit_id: i64,
    kind: &str,
) -> Result<Vec<MaintenanceOrder>> {
    tx.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("lighting_orders"))
            .and_where(Expr::col(id("circuit_id")).eq(circuit_id))
            .and_where(Expr::col(id("kind")).eq(kind))
            .and_where(Expr::col(id("state")).is_not_in(["done", "cancelled"]))
            .take(),
    )
    .await
}
