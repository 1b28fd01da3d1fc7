//! Storage of the citizen-services module: the service catalog, offices with their services,
//! closed days, appointments with their slot claims, and walk-in tickets. The rules live in
//! the `services` crate; these are plain queries.

use crate::q::{Expr, ExprTrait, Func, Order, Query, id};
use crate::rows::{Num, insert};
use crate::{Db, Tx};
use chrono::{DateTime, Utc};
use kern::{Error, Result};
use sea_query::SimpleExpr;
use sqlx::types::Json;

fn strings(v: &[String]) -> SimpleExpr {
    serde_json::Value::from(v.to_vec()).into()
}

// ---- catalog ----

/// A service (Leistung) of the catalog.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Service {
    pub id: i64,
    /// The 14-digit LeiKa key.
    pub leika: String,
    pub name: String,
    pub description: String,
    pub documents: Json<Vec<String>>,
    pub fee_text: String,
    pub fee_cents: Option<i64>,
    pub legal_basis: Json<Vec<String>>,
    pub processing_time: String,
    pub online: bool,
    pub in_person: bool,
    pub org_unit_id: Option<i64>,
    /// Further words residents search for (synonyms), space separated.
    pub keywords: String,
    /// Default length of an appointment for this service, in minutes.
    pub duration_min: i64,
    /// The search index terms of this service (see `services::search`), a JSON document.
    pub search_terms: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SERVICE_COLS: [&str; 16] = [
    "leika",
    "name",
    "description",
    "documents",
    "fee_text",
    "fee_cents",
    "legal_basis",
    "processing_time",
    "online",
    "in_person",
    "org_unit_id",
    "keywords",
    "duration_min",
    "search_terms",
    "created_at",
    "updated_at",
];

fn service_values(s: &Service) -> Vec<SimpleExpr> {
    vec![
        s.leika.clone().into(),
        s.name.clone().into(),
        s.description.clone().into(),
        strings(&s.documents.0),
        s.fee_text.clone().into(),
        s.fee_cents.into(),
        strings(&s.legal_basis.0),
        s.processing_time.clone().into(),
        s.online.into(),
        s.in_person.into(),
        s.org_unit_id.into(),
        s.keywords.clone().into(),
        s.duration_min.into(),
        s.search_terms.clone().into(),
        s.created_at.into(),
        s.updated_at.into(),
    ]
}

pub async fn insert_service(tx: &mut Tx, s: &Service) -> Result<i64> {
    insert(tx, "svc_services", &SERVICE_COLS, service_values(s)).await
}

/// Overwrites every field but `id` and `created_at`.
pub async fn update_service(tx: &mut Tx, s: &Service) -> Result<()> {
    let pairs: Vec<_> = SERVICE_COLS
        .iter()
        .zip(service_values(s))
        .filter(|(c, _)| **c != "created_at")
        .map(|(c, v)| (id(c), v))
        .collect();
    let n = tx
        .execute(
            &Query::update()
                .table(id("svc_services"))
                .values(pairs)
                .and_where(Expr::col(id("id")).eq(s.id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Diese Leistung gibt es nicht."))
    } else {
        Ok(())
    }
}

pub async fn delete_service(tx: &mut Tx, service_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_services"))
            .and_where(Expr::col(id("id")).eq(service_id))
            .take(),
    )
    .await
}

pub async fn services(db: &Db) -> Result<Vec<Service>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_services"))
            .order_by(id("name"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn service(db: &Db, service_id: i64) -> Result<Option<Service>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_services"))
            .and_where(Expr::col(id("id")).eq(service_id))
            .take(),
    )
    .await
}

pub async fn service_by_leika(tx: &mut Tx, leika: &str) -> Result<Option<Service>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_services"))
            .and_where(Expr::col(id("leika")).eq(leika))
            .take(),
    )
    .await
}

// ---- offices ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Office {
    pub id: i64,
    pub org_unit_id: i64,
    pub name: String,
    pub address: String,
    /// Number of counters serving at the same time (the capacity of a time slot).
    pub counters: i64,
    /// Length of the booking grid in minutes.
    pub slot_min: i64,
    /// Weekly opening hours: `[{"weekday": 1, "open": "08:00", "close": "12:00"}, ...]`,
    /// weekday 1 = Monday, local time of the city.
    pub opening: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_office(tx: &mut Tx, o: &Office) -> Result<i64> {
    insert(
        tx,
        "svc_offices",
        &[
            "org_unit_id",
            "name",
            "address",
            "counters",
            "slot_min",
            "opening",
            "created_at",
        ],
        vec![
            o.org_unit_id.into(),
            o.name.clone().into(),
            o.address.clone().into(),
            o.counters.into(),
            o.slot_min.into(),
            o.opening.0.clone().into(),
            o.created_at.into(),
        ],
    )
    .await
}

pub async fn update_office(tx: &mut Tx, o: &Office) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("svc_offices"))
                .values([
                    (id("name"), o.name.clone().into()),
                    (id("address"), o.address.clone().into()),
                    (id("counters"), o.counters.into()),
                    (id("slot_min"), o.slot_min.into()),
                    (id("opening"), o.opening.0.clone().into()),
                ])
                .and_where(Expr::col(id("id")).eq(o.id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Diesen Standort gibt es nicht."))
    } else {
        Ok(())
    }
}

pub async fn offices(db: &Db) -> Result<Vec<Office>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_offices"))
            .order_by(id("name"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn office(db: &Db, office_id: i64) -> Result<Option<Office>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_offices"))
            .and_where(Expr::col(id("id")).eq(office_id))
            .take(),
    )
    .await
}

pub async fn office_by_name(tx: &mut Tx, name: &str) -> Result<Option<Office>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_offices"))
            .and_where(Expr::col(id("name")).eq(name))
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfficeService {
    pub id: i64,
    pub office_id: i64,
    pub service_id: i64,
    pub duration_min: i64,
}

/// Offers a service at an office (or changes its duration there).
pub async fn set_office_service(
    tx: &mut Tx,
    office_id: i64,
    service_id: i64,
    duration_min: i64,
) -> Result<()> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_office_services"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("service_id")).eq(service_id))
            .take(),
    )
    .await?;
    insert(
        tx,
        "svc_office_services",
        &["office_id", "service_id", "duration_min"],
        vec![office_id.into(), service_id.into(), duration_min.into()],
    )
    .await?;
    Ok(())
}

pub async fn remove_office_service(tx: &mut Tx, office_id: i64, service_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_office_services"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("service_id")).eq(service_id))
            .take(),
    )
    .await
}

pub async fn office_services(db: &Db) -> Result<Vec<OfficeService>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_office_services"))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClosedDay {
    pub id: i64,
    pub office_id: i64,
    /// `YYYY-MM-DD`, local date.
    pub day: String,
    pub reason: String,
}

pub async fn insert_closed_day(
    tx: &mut Tx,
    office_id: i64,
    day: &str,
    reason: &str,
) -> Result<i64> {
    insert(
        tx,
        "svc_closed_days",
        &["office_id", "day", "reason"],
        vec![office_id.into(), day.into(), reason.into()],
    )
    .await
}

pub async fn delete_closed_day(tx: &mut Tx, office_id: i64, day_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_closed_days"))
            .and_where(Expr::col(id("id")).eq(day_id))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .take(),
    )
    .await
}

pub async fn closed_days(db: &Db, office_id: i64) -> Result<Vec<ClosedDay>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_closed_days"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .order_by(id("day"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn closed_days_tx(tx: &mut Tx, office_id: i64) -> Result<Vec<ClosedDay>> {
    tx.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_closed_days"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .take(),
    )
    .await
}

// ---- appointments ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Appointment {
    pub id: i64,
    /// Public reference, printed on the confirmation (`T-…`).
    pub reference: String,
    pub office_id: i64,
    pub service_id: i64,
    pub counter: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Local date of `starts_at`, `YYYY-MM-DD`.
    pub day: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    /// Hash of the code that lets the holder move or cancel the appointment.
    pub code_hash: String,
    /// `booked`, `cancelled`, `arrived`, `called`, `served`, `no_show`.
    pub state: String,
    pub user_id: Option<i64>,
    /// The staff member who booked on a resident's behalf.
    pub booked_by: Option<i64>,
    pub reminded: bool,
    pub arrived_at: Option<DateTime<Utc>>,
    pub called_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_appointment(tx: &mut Tx, a: &Appointment) -> Result<i64> {
    insert(
        tx,
        "svc_appointments",
        &[
            "reference",
            "office_id",
            "service_id",
            "counter",
            "starts_at",
            "ends_at",
            "day",
            "name",
            "email",
            "phone",
            "code_hash",
            "state",
            "user_id",
            "booked_by",
            "reminded",
            "created_at",
        ],
        vec![
            a.reference.clone().into(),
            a.office_id.into(),
            a.service_id.into(),
            a.counter.into(),
            a.starts_at.into(),
            a.ends_at.into(),
            a.day.clone().into(),
            a.name.clone().into(),
            a.email.clone().into(),
            a.phone.clone().into(),
            a.code_hash.clone().into(),
            a.state.clone().into(),
            a.user_id.into(),
            a.booked_by.into(),
            a.reminded.into(),
            a.created_at.into(),
        ],
    )
    .await
}

/// Writes the changeable fields of an appointment.
pub async fn update_appointment(tx: &mut Tx, a: &Appointment) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("svc_appointments"))
                .values([
                    (id("counter"), a.counter.into()),
                    (id("starts_at"), a.starts_at.into()),
                    (id("ends_at"), a.ends_at.into()),
                    (id("day"), a.day.clone().into()),
                    (id("service_id"), a.service_id.into()),
                    (id("name"), a.name.clone().into()),
                    (id("email"), a.email.clone().into()),
                    (id("phone"), a.phone.clone().into()),
                    (id("state"), a.state.clone().into()),
                    (id("reminded"), a.reminded.into()),
                    (id("arrived_at"), a.arrived_at.into()),
                    (id("called_at"), a.called_at.into()),
                    (id("served_at"), a.served_at.into()),
                ])
                .and_where(Expr::col(id("id")).eq(a.id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Diesen Termin gibt es nicht."))
    } else {
        Ok(())
    }
}

pub async fn appointment_by_reference(tx: &mut Tx, reference: &str) -> Result<Option<Appointment>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_appointments"))
            .and_where(Expr::col(id("reference")).eq(reference))
            .take(),
    )
    .await
}

pub async fn appointment(tx: &mut Tx, appointment_id: i64) -> Result<Option<Appointment>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_appointments"))
            .and_where(Expr::col(id("id")).eq(appointment_id))
            .take(),
    )
    .await
}

/// Appointments of an office on a local day, by start.
pub async fn appointments_of_day(db: &Db, office_id: i64, day: &str) -> Result<Vec<Appointment>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_appointments"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("day")).eq(day))
            .order_by(id("starts_at"), Order::Asc)
            .order_by(id("counter"), Order::Asc)
            .take(),
    )
    .await
}

/// Appointments of an office between two local days (inclusive), for statistics.
pub async fn appointments_between(
    db: &Db,
    office_id: i64,
    from_day: &str,
    to_day: &str,
) -> Result<Vec<Appointment>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_appointments"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("day")).gte(from_day))
            .and_where(Expr::col(id("day")).lte(to_day))
            .take(),
    )
    .await
}

/// A resident's own appointments, newest first.
pub async fn appointments_of_user(db: &Db, user_id: i64) -> Result<Vec<Appointment>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_appointments"))
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .order_by(id("starts_at"), Order::Desc)
            .take(),
    )
    .await
}

/// Booked appointments starting in `[from, to)` whose reminder has not been sent.
pub async fn appointments_to_remind(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Appointment>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_appointments"))
            .and_where(Expr::col(id("state")).eq("booked"))
            .and_where(Expr::col(id("reminded")).eq(false))
            .and_where(Expr::col(id("starts_at")).gte(from))
            .and_where(Expr::col(id("starts_at")).lt(to))
            .take(),
    )
    .await
}

/// Marks an appointment as reminded; false when another run did it first.
pub async fn mark_reminded(tx: &mut Tx, appointment_id: i64) -> Result<bool> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("svc_appointments"))
                .value(id("reminded"), true)
                .and_where(Expr::col(id("id")).eq(appointment_id))
                .and_where(Expr::col(id("reminded")).eq(false))
                .take(),
        )
        .await?;
    Ok(n == 1)
}

/// Claims `units` (starts of grid units) on `counter`; a unit already claimed fails the whole
/// statement with a unique violation (`Error::Conflict`).
pub async fn claim_units(
    tx: &mut Tx,
    appointment_id: i64,
    office_id: i64,
    counter: i64,
    units: &[DateTime<Utc>],
) -> Result<()> {
    let mut q = Query::insert()
        .into_table(id("svc_slot_claims"))
        .columns(["appointment_id", "office_id", "counter", "unit_start"].map(id))
        .to_owned();
    for u in units {
        q.values_panic([
            appointment_id.into(),
            office_id.into(),
            counter.into(),
            (*u).into(),
        ]);
    }
    tx.execute(&q).await?;
    Ok(())
}

pub async fn release_units(tx: &mut Tx, appointment_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_slot_claims"))
            .and_where(Expr::col(id("appointment_id")).eq(appointment_id))
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub counter: i64,
    pub unit_start: DateTime<Utc>,
}

/// Claimed units of an office in `[from, to)`.
pub async fn claims(
    tx: &mut Tx,
    office_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Claim>> {
    tx.fetch_all(
        &Query::select()
            .columns([id("counter"), id("unit_start")])
            .from(id("svc_slot_claims"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("unit_start")).gte(from))
            .and_where(Expr::col(id("unit_start")).lt(to))
            .take(),
    )
    .await
}

// ---- walk-in tickets ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ticket {
    pub id: i64,
    pub office_id: i64,
    pub service_id: Option<i64>,
    pub day: String,
    /// Running number per office and day.
    pub number: i64,
    /// `waiting`, `called`, `served`, `no_show`.
    pub state: String,
    pub counter: Option<i64>,
    pub issued_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
}

/// Draws the next number of an office's day and stores the ticket. Runs inside the caller's
/// transaction, which holds the office lock.
pub async fn insert_ticket(tx: &mut Tx, t: &Ticket) -> Result<Ticket> {
    let n: Num = tx
        .fetch_one(
            &Query::select()
                .expr_as(Func::max(Expr::col(id("number"))), id("n"))
                .from(id("svc_tickets"))
                .and_where(Expr::col(id("office_id")).eq(t.office_id))
                .and_where(Expr::col(id("day")).eq(t.day.clone()))
                .take(),
        )
        .await?;
    let mut t = t.clone();
    t.number = n.n.unwrap_or(0) + 1;
    t.id = insert(
        tx,
        "svc_tickets",
        &[
            "office_id",
            "service_id",
            "day",
            "number",
            "state",
            "counter",
            "issued_by",
            "created_at",
        ],
        vec![
            t.office_id.into(),
            t.service_id.into(),
            t.day.clone().into(),
            t.number.into(),
            t.state.clone().into(),
            t.counter.into(),
            t.issued_by.into(),
            t.created_at.into(),
        ],
    )
    .await?;
    Ok(t)
}

pub async fn update_ticket(tx: &mut Tx, t: &Ticket) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("svc_tickets"))
                .values([
                    (id("state"), t.state.clone().into()),
                    (id("counter"), t.counter.into()),
                    (id("called_at"), t.called_at.into()),
                    (id("served_at"), t.served_at.into()),
                ])
                .and_where(Expr::col(id("id")).eq(t.id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Diese Wartenummer gibt es nicht."))
    } else {
        Ok(())
    }
}

pub async fn ticket(tx: &mut Tx, ticket_id: i64) -> Result<Option<Ticket>> {
    tx.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_tickets"))
            .and_where(Expr::col(id("id")).eq(ticket_id))
            .take(),
    )
    .await
}

pub async fn tickets_of_day(db: &Db, office_id: i64, day: &str) -> Result<Vec<Ticket>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_tickets"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("day")).eq(day))
            .order_by(id("number"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn tickets_between(
    db: &Db,
    office_id: i64,
    from_day: &str,
    to_day: &str,
) -> Result<Vec<Ticket>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("svc_tickets"))
            .and_where(Expr::col(id("office_id")).eq(office_id))
            .and_where(Expr::col(id("day")).gte(from_day))
            .and_where(Expr::col(id("day")).lte(to_day))
            .take(),
    )
    .await
}
